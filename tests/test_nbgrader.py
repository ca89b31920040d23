"""nbgrader end to end, headless: generate, five submissions, autograde, feedback, read the gradebook.

Submissions: the reference modules (with a harmless warning in the graded code), the untouched release, a
partly correct one whose student also edited a locked test cell to fake a pass, deleted another, and placed a
faked copy of a third before the original, and two whose notebook replaces `run_check` with a no-op in a cell
near the top: one with the untouched stubs (the judge must give 0), one with the reference modules (full points).
Where bubblewrap works, three hostile ones with the stubs, whose cell runs before the judge grades: one rewrites
the grader's checks in the course folder (it is graded first: the stubs graded after it must still get 0), one
copies solutions/ over its own modules, one leaves a process that edits gradebook.db once autograde is over.
The course folder holds a copy of the kit (autograder/, kit/, data_scripts/), as an instructor's checkout does.
nbgrader runs once for the module (the `course` fixture): autograde takes minutes.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_attacks import survivors

from autograder.platforms.nbgrader_kernel import sandbox_available
from autograder.platforms.nbgrader_plugins import JudgeGrades, check_calls
from data_scripts.datasets import data_dir

# heavy as a whole: its tests share a module-scoped fixture, so they move to the front together
pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parent.parent

A = "a1_intro_nn"
MODULES = ("mlp.py", "mlp_torch.py", "mnist_mlp.py", "svm.py")


def nbgrader(course, *args):
    env = {
        **os.environ,
        "KIT_BUDGET": "small",
        "MPLBACKEND": "Agg",
        "DATA_DIR": str(data_dir()),  # the course's copy of the kit reads this checkout's data
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args, "--force"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def submit(course, student, modules_from, edit=None):
    folder = course / "submitted" / student / A
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "assignments" / A / f"{A}.ipynb", folder)
    for name in MODULES:
        shutil.copy(modules_from / name, folder)
    if edit:
        edit(folder)


def reference_with_warning(folder):
    mlp = folder / "mlp.py"
    mlp.write_text(
        mlp.read_text().replace(
            "def forward(params, X):",
            "def forward(params, X):\n    import warnings\n"
            "    warnings.warn('an ordinary library warning', UserWarning)",
            1,
        )
    )


def partial_and_tampered(folder):
    # backward left as the stub, the rest correct
    src = (ROOT / "solutions" / A / "mlp.py").read_text()
    stub = (ROOT / "assignments" / A / "mlp.py").read_text()
    start_s, start_t = src.index("def backward"), stub.index("def backward")
    end_s, end_t = src.index("def sgd"), stub.index("def sgd")
    (folder / "mlp.py").write_text(src[:start_s] + stub[start_t:end_t] + src[end_s:])
    path = folder / f"{A}.ipynb"
    nb = nbformat.read(path, as_version=4)
    kept = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "test_backward":
            cell.source = "print('passed')"  # a faked test: nbgrader must restore the locked cell
        if gid == "test_sgd":
            continue  # a deleted test cell
        if gid == "test_train_circles_manual":  # a copied test cell, the copy faked and placed first
            fake = nbformat.from_dict(cell)
            fake.source = "print('passed')"
            kept.append(fake)
        kept.append(cell)
    nb.cells = kept
    nbformat.write(nb, path)


def patch_run_check(folder):
    """A cell near the top that turns every test cell into a no-op in the student's kernel."""
    path = folder / f"{A}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell("import autograder.runner as r\nr.run_check = lambda *a, **k: None"))
    nbformat.write(nb, path)


# ---------------------------------------------------------------- cells that attack the course before the judge
HOSTILE = sandbox_available()  # without bubblewrap autograde refuses, unless told to run the notebooks unsandboxed
HOSTILE_STUDENTS = ("hostile_a_rewrites_checks", "hostile_b_copies_solutions", "hostile_c_leaves_a_process")
TOKEN = "kit-hostile-lingerer"  # in the lingering process's command line
LINGER_S = 5  # how long the fixture waits after autograde for the lingering process to act
GUARDED = ("solutions", "autograder", "kit", "data_scripts", "release", "submitted", "nbgrader_config.py")
EVERY_CHECK_PASSES = """
import autograder.api as _api
for _check in _api.REGISTRY.get("a1_intro_nn", []):
    object.__setattr__(_check, "func", lambda sub: None)
"""
# waits for nbgrader (the kernel's parent) to end, gives its own grade cells full points, then sleeps on
LINGERER = """
import os, sqlite3, sys, time
gradebook, watched, student = sys.argv[1], int(sys.argv[2]), sys.argv[3]
while os.path.exists(f"/proc/{watched}"):
    time.sleep(0.5)
time.sleep(1)
db = sqlite3.connect(gradebook)
db.execute(
    "UPDATE grade SET manual_score = (SELECT max_score FROM grade_cells WHERE grade_cells.id = grade.cell_id) "
    "WHERE notebook_id IN (SELECT n.id FROM submitted_notebook n JOIN submitted_assignment s "
    "ON n.assignment_id = s.id WHERE s.student_id = ?)",
    (student,),
)
db.commit()
time.sleep(300)
"""


def hostile_cell(source):
    """An edit adding `source` as a cell near the top of the notebook."""

    def edit(folder):
        path = folder / f"{A}.ipynb"
        nb = nbformat.read(path, as_version=4)
        nb.cells.insert(1, nbformat.v4.new_code_cell(source))
        nbformat.write(nb, path)

    return edit


def hostile_cells(course) -> dict:
    checks, solutions = course / "autograder" / "checks" / f"{A}.py", course / "solutions" / A
    gradebook = course / "gradebook.db"
    return {
        "hostile_a_rewrites_checks": hostile_cell(
            f"from pathlib import Path\nchecks = Path({str(checks)!r})\n"
            f"checks.write_text(checks.read_text() + {EVERY_CHECK_PASSES!r})"
        ),
        "hostile_b_copies_solutions": hostile_cell(
            f"import shutil\nfrom pathlib import Path\nfor module in Path({str(solutions)!r}).glob('*.py'):\n"
            "    shutil.copy(module, module.name)"
        ),
        "hostile_c_leaves_a_process": hostile_cell(
            f"import os, subprocess, sys\nsubprocess.Popen([sys.executable, '-c', {LINGERER!r}, {str(gradebook)!r}, "
            f"str(os.getppid()), 'hostile_c_leaves_a_process', {TOKEN!r}], start_new_session=True, "
            "stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)"
        ),
    }


def digest(course, parts=GUARDED) -> dict[str, str]:
    files = []
    for part in parts:
        path = course / part
        files += [path] if path.is_file() else [p for p in sorted(path.rglob("*")) if p.is_file()]
    return {
        str(p.relative_to(course)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
        if "__pycache__" not in p.parts
    }


STUDENTS = ("reference", "untouched", "partial", "patched_stubs", *(HOSTILE_STUDENTS if HOSTILE else ()))
AFTERMATH = {}  # what the course fixture saw around autograde: the guarded files, the gradebook, processes left


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """generate, the submissions, autograde, feedback: once for the module. The reference also replaces
    run_check in its kernel (the judge must still give it every point), which saves a notebook run."""
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(
        ROOT / "solutions" / A, course / "solutions" / A, ignore=shutil.ignore_patterns("__pycache__", "runs")
    )
    for part in ("autograder", "kit", "data_scripts"):  # nbgrader, run in the course folder, imports these copies
        shutil.copytree(ROOT / part, course / part, ignore=shutil.ignore_patterns("__pycache__"))
    nbgrader(course, "generate_assignment", A)

    submit(
        course,
        "reference",
        ROOT / "solutions" / A,
        lambda folder: (reference_with_warning(folder), patch_run_check(folder)),
    )
    submit(course, "untouched", ROOT / "assignments" / A)
    submit(course, "partial", ROOT / "solutions" / A, partial_and_tampered)
    submit(course, "patched_stubs", ROOT / "assignments" / A, patch_run_check)
    if HOSTILE:
        for student, edit in hostile_cells(course).items():
            submit(course, student, ROOT / "assignments" / A, edit)
    guarded = digest(course)
    nbgrader(course, "autograde", A, "--JudgeGrades.timeout_scale=2")  # time limits of a shared, busy machine
    gradebook = digest(course, ["gradebook.db"])
    time.sleep(LINGER_S if HOSTILE else 0)
    AFTERMATH.update(
        guarded=(guarded, digest(course)),
        gradebook=(gradebook, digest(course, ["gradebook.db"])),
        lingering=survivors(TOKEN),
    )
    for pid in AFTERMATH["lingering"]:  # only where the notebook's kernel was not sandboxed
        os.kill(pid, signal.SIGKILL)
    nbgrader(course, "generate_feedback", A)
    return course


@pytest.fixture(scope="module")
def scores(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission(A, s).code_score for s in STUDENTS}
        max_score = gb.find_assignment(A).max_code_score
    print(f"auto-graded points out of {max_score:g}: {scores}")
    return scores, max_score


@pytest.mark.train
def test_nbgrader_end_to_end(course, scores):
    released = nbformat.read(course / "release" / A / f"{A}.ipynb", as_version=4)
    assert "BEGIN HIDDEN TESTS" not in nbformat.writes(released)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        graded_ids = {
            g.name: g.auto_score
            for g in gb.find_submission(A, "partial").notebooks[0].grades
            if g.auto_score is not None
        }
    scores, max_score = scores
    assert max_score > 0
    assert scores["reference"] == max_score, scores
    assert scores["untouched"] == 0, scores
    assert 0 < scores["partial"] < max_score, scores
    assert graded_ids["test_backward"] == 0, "the faked test cell was not restored"
    assert graded_ids.get("test_sgd", 0) == 0, "a deleted test cell earned points"
    assert graded_ids["test_train_circles_manual"] == 0, "a copied, faked test cell earned points"
    for student in scores:
        html = (course / "feedback" / student / A / f"{A}.html").read_text()
        assert "a1_intro_nn/backward" in html
        assert "backward_batch_mean" not in html and "HIDDEN TESTS" not in html, f"hidden test revealed to {student}"
    partial = (course / "feedback" / "partial" / A / f"{A}.html").read_text()
    assert "not implemented yet" in partial  # the student learns what failed


@pytest.mark.train
def test_replacing_run_check_in_the_kernel_earns_nothing(course, scores):
    """The points come from the judge on the submitted modules, not from what ran in the student's kernel."""
    scores, max_score = scores
    assert scores["patched_stubs"] == 0, scores
    feedback = (course / "feedback" / "patched_stubs" / A / f"{A}.html").read_text()
    assert "not implemented yet" in feedback  # the judge's verdict, not the kernel's silence


@pytest.mark.train
def test_the_judge_gives_full_points_to_correct_modules_whatever_the_kernel_did(course, scores):
    scores, max_score = scores
    assert scores["reference"] == max_score, scores
    notebook = nbformat.read(course / "autograded" / "reference" / A / f"{A}.ipynb", as_version=4)
    lines = [o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any("a1_intro_nn/backward: passed (" in text for text in lines)


needs_bwrap = pytest.mark.skipif(not HOSTILE, reason="bubblewrap does not work here: autograde refuses to run")


@needs_bwrap
@pytest.mark.train
def test_notebook_cells_change_nothing_outside_their_submission(course, scores):
    """Not the checks, the kit, solutions/, the release, the other submissions."""
    before, after = AFTERMATH["guarded"]
    assert before and [p for p in sorted(before.keys() | after.keys()) if before.get(p) != after.get(p)] == []


@needs_bwrap
@pytest.mark.train
def test_rewriting_the_checks_in_the_course_folder_earns_nobody_anything(course, scores):
    scores, _ = scores
    # the first submission graded, and the stubs graded after it
    assert scores["hostile_a_rewrites_checks"] == 0 and scores["untouched"] == 0, scores


@needs_bwrap
@pytest.mark.train
def test_copying_the_reference_over_the_modules_earns_nothing(course, scores):
    graded = course / "autograded" / "hostile_b_copies_solutions" / A
    for name in MODULES:  # the cell wrote into a throw-away copy
        assert (graded / name).read_text() == (ROOT / "assignments" / A / name).read_text(), name
    scores, _ = scores
    assert scores["hostile_b_copies_solutions"] == 0, scores


@needs_bwrap
@pytest.mark.train
def test_a_process_left_by_a_cell_dies_with_its_kernel(course, scores):
    scores, _ = scores
    assert AFTERMATH["lingering"] == [], "a process started by a notebook cell outlived autograde"
    before, after = AFTERMATH["gradebook"]
    assert before == after, "gradebook.db changed after autograde"
    assert scores["hostile_c_leaves_a_process"] == 0, scores


@pytest.mark.quick
def test_judge_grades_reads_the_cells_and_survives_a_crash(monkeypatch):
    src = (
        'from autograder.runner import run_check as rc\n%time x = 1\nrc("a1_intro_nn/sgd")\n'
        'run_check(f"a1_intro_nn/{x}")\nrun_check("a1_intro_nn/backward_batch_mean", quiet=True)\n'
        'runner.run_check("a1_intro_nn/forward", ".", flag)'
    )
    assert check_calls(src) == [
        ("a1_intro_nn/sgd", False),
        ("a1_intro_nn/backward_batch_mean", True),
        ("a1_intro_nn/forward", True),
    ]
    assert check_calls("run_check(") == []

    from autograder.report import CheckResult

    def result(name, status, message, points):
        score = points if status == "passed" else 0.0
        return CheckResult("a1_intro_nn", name, "quick", score, points, status, message, "", 0.1)

    calls = [("a1_intro_nn/backward", False), ("a1_intro_nn/backward_batch_mean", True)]
    passed = {
        "a1_intro_nn/backward": result("backward", "passed", "", 4.0),
        "a1_intro_nn/backward_batch_mean": result("backward_batch_mean", "passed", "", 1.0),
    }
    [out] = JudgeGrades.outputs(calls, passed)
    assert out.output_type == "stream" and out.text == "a1_intro_nn/backward: passed (4 points)\n"
    hidden_failed = {
        **passed,
        "a1_intro_nn/backward_batch_mean": result("backward_batch_mean", "failed", "off by a factor 32", 1.0),
    }
    out = JudgeGrades.outputs(calls, hidden_failed)
    assert out[-1].output_type == "error" and out[-1].evalue == "a hidden test failed: off by a factor 32"

    import autograder.runner

    def crash(*args, **kwargs):
        raise RuntimeError("the judge fell over on a1_intro_nn/backward_batch_mean")

    monkeypatch.setattr(autograder.runner, "grade", crash)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "\n".join(f'run_check("{i}", quiet={q})' for i, q in calls),
                metadata={"nbgrader": {"grade": True, "solution": False}},
            ),
            nbformat.v4.new_code_cell(
                "print(1)",
                metadata={"nbgrader": {"grade": True, "solution": False}},
                outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")],
            ),
        ]
    )
    nb, _ = JudgeGrades().preprocess(nb, {"metadata": {"path": str(ROOT / "assignments" / A)}})
    [error] = nb.cells[0].outputs
    assert error.output_type == "error" and error.evalue.startswith("grader error: RuntimeError")
    assert "backward_batch_mean" not in error.evalue  # a hidden check stays hidden
    assert nb.cells[1].outputs[0].text == "1\n"  # no run_check: the kernel's outputs stay


def without_force(cwd, *args):
    """An nbgrader exchange command run in `cwd` without --force (fetch, submit and fetch feedback in the
    student's own folder; collect and release_feedback, which take no --force, in the course's)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.train
def test_the_exchange_round_trip_with_nbgraders_own_commands(tmp_path):
    """The walk-through with an exchange, every step nbgrader's own command, on a4 (its notebook runs fastest):
    generate_assignment (not `make release`), release_assignment, fetch_assignment and submit as the student,
    collect, autograde, generate_feedback, release_feedback, fetch_feedback. The student receives the stubs, never
    the reference modules (nbgrader copies .py files as they are; nbgrader_config.py clears them); the untouched
    submission scores 0; the feedback reaches the student's folder with the judge's verdicts."""
    a = "a4_gaussian_fit"
    course, home, exchange = tmp_path / "course", tmp_path / "alice", tmp_path / "exchange"
    (course / "solutions").mkdir(parents=True)
    home.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / a, course / "solutions" / a, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("autograder", "kit", "data_scripts"):
        shutil.copytree(ROOT / part, course / part, ignore=shutil.ignore_patterns("__pycache__"))
    where = [f"--Exchange.root={exchange}", "--CourseDirectory.course_id=dl-vision"]
    nbgrader(course, "generate_assignment", a)
    nbgrader(course, "release_assignment", a, *where)
    without_force(home, "fetch_assignment", a, *where)
    for module in (ROOT / "assignments" / a).glob("*.py"):
        fetched = (home / a / module.name).read_text()
        assert "BEGIN SOLUTION" not in fetched and fetched == module.read_text(), f"{module.name} is not the stub"
    without_force(home, "submit", a, "--student=alice", *where)
    without_force(course, "collect", a, *where)
    nbgrader(course, "autograde", a, "--student=alice", "--JudgeGrades.timeout_scale=2")
    nbgrader(course, "generate_feedback", a, "--student=alice")
    without_force(course, "release_feedback", a, "--student=alice", *where)
    without_force(home, "fetch_feedback", a, "--student=alice", *where)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission(a, "alice")
        assert submission.code_score == 0 and gb.find_assignment(a).max_code_score > 0
    [feedback] = (home / a / "feedback").glob(f"*/{a}.html")
    text = feedback.read_text()
    assert "not implemented yet" in text and "Score: 0.0 / " in text
