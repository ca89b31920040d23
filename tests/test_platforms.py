"""The PrairieLearn question and the GitHub Classroom template repository, against fake platform trees and the
platforms' documented layouts and schemas (quick tier only)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

A1 = "a1_intro_nn"
A1_MODULES = ("mlp.py", "mlp_torch.py", "mnist_mlp.py", "svm.py")
REFERENCE = ROOT / "solutions" / A1

# PrairieLearn's results.json as its external-grading docs describe it: `score` in [0, 1] when gradable;
# `gradable: false` with `format_errors` (a string or a list of strings) when not; tests rendered by
# <pl-external-grader-results> with name, description, points, max_points, message, output.
PL_RESULTS_SCHEMA = {
    "type": "object",
    "required": ["gradable", "message", "output", "tests"],
    "properties": {
        "gradable": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "message": {"type": "string"},
        "output": {"type": "string"},
        "format_errors": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "description", "points", "max_points", "message", "output"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "description": {"type": "string"},
                    "points": {"type": "number", "minimum": 0},
                    "max_points": {"type": "number", "minimum": 0},
                    "message": {"type": "string"},
                    "output": {"type": "string"},
                },
            },
        },
    },
    "if": {"properties": {"gradable": {"const": False}}},
    "then": {"required": ["format_errors"]},
    "else": {"required": ["score"]},
}


def validate_pl(results):
    import jsonschema

    jsonschema.validate(results, PL_RESULTS_SCHEMA)
    assert len(json.dumps(results)) < 1024 * 1024  # PrairieLearn's limit on results.json
    for t in results["tests"]:
        assert t["points"] <= t["max_points"]


# ---------------------------------------------------------------- PrairieLearn
@pytest.fixture(scope="module")
def pl_question(tmp_path_factory):
    from autograder.platforms.prairielearn import build

    return build("a1", tmp_path_factory.mktemp("pl") / "question")


@pytest.mark.quick
def test_prairielearn_question_layout(pl_question):
    from autograder.platforms.prairielearn import MAX_TIMEOUT, build

    info = json.loads((pl_question / "info.json").read_text())
    assert info["uuid"] == json.loads((build("a1", pl_question.parent / "again") / "info.json").read_text())["uuid"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", info["uuid"])
    assert info["type"] == "v3" and info["gradingMethod"] == "External" and info["singleVariant"] is True
    assert info["title"] and info["topic"] and isinstance(info["tags"], list)
    ext = info["externalGradingOptions"]
    assert "enabled" not in ext  # deprecated in PrairieLearn's schema: gradingMethod External is what counts
    assert ext["enableNetworking"] is False and ext["image"] == "prairielearn/grader-python"
    assert ext["timeout"] == MAX_TIMEOUT == 600 and ext["environment"]["KIT_TIER"] == "quick"
    assert ext["entrypoint"].startswith("/grade/tests/")
    entry = pl_question / "tests" / ext["entrypoint"][len("/grade/tests/") :]
    assert entry.is_file() and os.access(entry, os.X_OK)
    html = (pl_question / "question.html").read_text()
    upload = re.search(r'<pl-file-upload file-names="([^"]+)"', html)
    assert upload and sorted(n.strip() for n in upload.group(1).split(",")) == sorted(A1_MODULES)
    assert "<pl-submission-panel>" in html and "<pl-external-grader-results>" in html
    # the grader with every check (PrairieLearn grades authoritatively), never the solutions
    tests = pl_question / "tests"
    assert "backward_batch_mean" in (tests / "autograder" / "checks" / f"{A1}.py").read_text()
    assert (tests / "kit").is_dir() and (tests / "data_scripts").is_dir() and (tests / "requirements.txt").is_file()
    assert not any("solutions" in p.parts for p in pl_question.rglob("*"))
    assert "nbgrader" not in (tests / "requirements.txt").read_text()
    dockerfile = (pl_question / "image" / "Dockerfile").read_text()
    assert "--platform linux/amd64" in dockerfile and "grading_data public mnist" in dockerfile
    assert sorted(p.name for p in (tests / "labels").iterdir()) == ["mnist.npz"]
    html_text = re.sub(r"<[^>]+>", "", html)
    assert "uses an attempt" in html_text and "syntax error" in html_text
    with pytest.raises(ValueError, match="600"):
        build("a1", pl_question.parent / "too-long", timeout=900)


@pytest.fixture(scope="module")
def image_data(tmp_path_factory):
    """The grading image's DATA_DIR: the label-free public data alone, as the image's Dockerfile leaves it."""
    from data_scripts.grading_data import export_public_to

    folder = tmp_path_factory.mktemp("image-data")
    export_public_to("mnist", folder / "public")
    return folder


def image_env(image_data, **extra):
    """The grading container's environment: the image's DATA_DIR, no mirror to fetch raw files from."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_MIRROR", "KIT_TEST_LABELS")}
    return {**env, "DATA_DIR": str(image_data), **extra}


def run_pl(question, tmp_path, files, image_data):
    """PrairieLearn's /grade tree in tmp_path: tests/ from the question, the upload in student/; runs the
    entrypoint in the image's environment and returns results.json."""
    grade = tmp_path / "grade"
    shutil.copytree(question / "tests", grade / "tests")
    (grade / "student").mkdir()
    for name, text in files.items():
        (grade / "student" / name).write_text(text)
    env = image_env(image_data, GRADE_ROOT=str(grade), KIT_PYTHON=sys.executable, KIT_TIER="quick")
    proc = subprocess.run(
        ["bash", str(grade / "tests" / "run.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    for private in ("autograder/checks", "labels"):  # the judge's alone
        assert (grade / "tests" / private).stat().st_mode & 0o077 == 0, private
    assert sorted(p.name for p in image_data.iterdir()) == ["public"]  # nothing fetched or written beside it
    results = json.loads((grade / "results" / "results.json").read_text())
    validate_pl(results)
    return results


@pytest.mark.quick
def test_prairielearn_reference_scores_1(pl_question, tmp_path, image_data):
    results = run_pl(pl_question, tmp_path, {n: (REFERENCE / n).read_text() for n in A1_MODULES}, image_data)
    assert results["gradable"] is True and results["score"] == 1.0, results["message"]
    assert all(t["points"] == t["max_points"] > 0 for t in results["tests"])
    assert any(t["name"].startswith("hidden check") for t in results["tests"])  # graded, but not named
    assert "backward_batch_mean" not in json.dumps(results)
    assert results["output"].startswith("Isolation:")
    assert any(t["description"] for t in results["tests"])


@pytest.mark.quick
def test_prairielearn_stubs_score_0(pl_question, tmp_path, image_data):
    stubs = ROOT / "assignments" / A1
    results = run_pl(pl_question, tmp_path, {n: (stubs / n).read_text() for n in A1_MODULES}, image_data)
    assert results["gradable"] is True and results["score"] == 0
    assert any("not implemented yet" in t["message"] for t in results["tests"])


@pytest.mark.quick
@pytest.mark.parametrize(
    "files, words",
    [
        ({"mlp.py": "def init_params(:\n"}, "syntax error"),
        ({}, "not found"),
    ],
)
def test_prairielearn_not_gradable(pl_question, tmp_path, files, words, image_data):
    results = run_pl(pl_question, tmp_path, files, image_data)
    assert results["gradable"] is False and results["score"] == 0
    assert any(words in e for e in results["format_errors"]) and words in results["message"]


@pytest.mark.quick
def test_prairielearn_syntax_error_is_graded(pl_question, tmp_path, image_data):
    """What the question's text says: PrairieLearn requires every file of the upload, so a syntax error in one
    module comes with the others, which are graded: the upload is gradable and uses an attempt."""
    files = {n: (REFERENCE / n).read_text() for n in A1_MODULES}
    files["mlp.py"] = "def init_params(:\n"
    results = run_pl(pl_question, tmp_path, files, image_data)
    assert results["gradable"] is True and 0 < results["score"] < 1, results["message"]
    assert any("syntax error" in t["message"] for t in results["tests"])


def dockerfile_sources(dockerfile: str) -> list[str]:
    """The sources of every COPY and ADD of a Dockerfile (its last argument is the destination)."""
    sources = []
    for line in re.findall(r"^(?:COPY|ADD)\s+(.*)$", dockerfile.replace("\\\n", " "), re.M | re.I):
        args = [a for a in line.split() if not a.startswith("--")]
        sources += args[:-1]
    return sources


@pytest.mark.quick
def test_prairielearn_image_holds_no_checks_or_labels(pl_question):
    """The grading image is public (PrairieLearn pulls it from a public registry): its build context and what its
    Dockerfile copies hold no check code (hidden or public) and no test labels; the labels travel in tests/."""
    from autograder.runner import load_checks

    context = pl_question / "image"
    dockerfile = (context / "Dockerfile").read_text()
    sources = dockerfile_sources(dockerfile)
    assert sources
    for source in sources:  # all inside the context: never the question's tests/
        assert (context / source).resolve().is_relative_to(context.resolve()) and (context / source).exists(), source
    checks = load_checks(A1)
    assert any(c.hidden for c in checks), "a1 has hidden checks: this test must see them left out"
    names = [c.name for c in checks if "_" in c.name]  # the distinctive ones (not "forward", "sgd")
    for path in context.rglob("*"):
        assert "autograder" not in path.parts and "labels" not in path.name, path
        assert path.suffix not in (".npz", ".npy", ".gz", ".pt", ".tar"), path
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "@check(" not in text and "import autograder" not in text and "from autograder" not in text, path
            assert not [n for n in names if n in text], path
    # the raw files hold the test labels: the step that fetches them removes them, so no layer keeps them
    (fetch,) = [line for line in dockerfile.splitlines() if "grading_data public" in line]
    assert fetch.startswith("RUN ") and fetch.rstrip().endswith("rm -rf /tmp/kit-build")
    assert "DATA_DIR=/tmp/kit-build/" in fetch and "--expect mnist=" in fetch
    # the labels file holds the test labels alone, and is small enough to travel with every grading job
    import numpy as np

    labels = pl_question / "tests" / "labels" / "mnist.npz"
    with np.load(labels) as z:
        assert sorted(z.files) == ["images_sha256", "source", "ytest"] and z["ytest"].shape == (10000,)
    assert labels.stat().st_size < 64 * 1024


@pytest.mark.quick
def test_prairielearn_public_files_hold_no_solution_code(pl_question):
    """What students or the public can pull (the question's page and settings, the image's build context) holds
    no line of the reference's solution regions, no nbgrader marker and no hidden check's name; the private tests/
    holds the checks, hidden ones included (tests/test_student_kit.py's scan)."""
    from test_student_kit import what_a_student_should_not_see

    from autograder.platforms.student_kit import hidden_check_names

    public = pl_public_files(pl_question)
    assert {"info.json", "question.html", "image/Dockerfile"} <= {name for name, _ in public}
    found = what_a_student_should_not_see(public, hidden_check_names([A1])[A1])
    assert not found, "\n".join(found)


def pl_public_files(question: Path) -> list[tuple[str, str]]:
    """(name, text) of the question's files a student or the public can read: all but tests/, the question's
    private folder that reaches the container at grading time only."""
    from test_student_kit import files_of

    return [(name, text) for name, text in files_of(question) if not name.startswith("tests/")]


@pytest.mark.quick
def test_prairielearn_image_build_refuses_other_test_images(pl_question, tmp_path):
    """The image's build stops when its test images are not those the question's labels were made from (the
    Dockerfile's --expect), rather than leave an image whose predictions would be scored against other labels."""
    from data_scripts.datasets import DataError
    from data_scripts.grading_data import export_public_to

    dockerfile = (pl_question / "image" / "Dockerfile").read_text()
    expected = re.search(r"--expect mnist=([0-9a-f]{64})", dockerfile).group(1)
    assert export_public_to("mnist", tmp_path / "ok", expect=expected).is_file()
    with pytest.raises(DataError, match="differ from those the question's test labels were made from"):
        export_public_to("mnist", tmp_path / "other", expect="0" * 64)
    assert not (tmp_path / "other").exists()


def grade_in_image(question, tmp_path, image_data, labels, check):
    """The judge as run.sh starts it, in the image's environment, with the test labels from `labels`."""
    grade = tmp_path / "grade"
    shutil.copytree(question / "tests", grade / "tests")
    report = tmp_path / "report.json"
    env = image_env(image_data, KIT_TEST_LABELS=str(labels), KIT_NO_PROGRESS="1")
    cmd = [sys.executable, "-m", "autograder", "grade", "--submission", str(ROOT / "solutions"), "--assignment", A1]
    cmd += ["--check", check, "--format", "json", "--output", str(report), "--quiet"]
    proc = subprocess.run(cmd, cwd=grade / "tests", env=env, capture_output=True, text=True, timeout=600)
    assert report.is_file(), proc.stdout + proc.stderr
    return json.loads(report.read_text())["tests"][0]


@pytest.mark.train
@pytest.mark.heavy
def test_prairielearn_training_labels_come_from_tests(pl_question, tmp_path, image_data):
    """A training check scored in the grading image: the image holds the public data only, the labels come from
    the question's tests/labels; without them, or with labels of other images, the check says so."""
    passed = grade_in_image(
        pl_question, tmp_path / "ok", image_data, pl_question / "tests" / "labels", "train_mnist_mlp"
    )
    assert passed["kit_status"] == "passed", passed["message"]
    missing = grade_in_image(pl_question, tmp_path / "none", image_data, tmp_path / "no-labels", "train_mnist_mlp")
    assert missing["kit_status"] != "passed" and "test labels of mnist are not in" in missing["message"]
    other = tmp_path / "other-labels"
    shutil.copytree(pl_question / "tests" / "labels", other)
    import numpy as np

    with np.load(other / "mnist.npz") as z:
        np.savez(other / "mnist.npz", ytest=z["ytest"], images_sha256=np.array("0" * 64), source=z["source"])
    wrong = grade_in_image(pl_question, tmp_path / "wrong", image_data, other, "train_mnist_mlp")
    assert wrong["kit_status"] != "passed" and "belong to other mnist test images" in wrong["message"]


@pytest.mark.quick
@pytest.mark.parametrize(
    "script, words",
    [
        ("exit 1", "no torch"),  # an image without the kit's dependencies
        ('[ "$2" = "import torch" ] && exit 0; exit 3', "the autograder failed (exit 3)"),  # the grader crashed
    ],
)
def test_prairielearn_grader_failure_still_writes_results(pl_question, tmp_path, script, words):
    broken = tmp_path / "python"
    broken.write_text(f"#!/bin/sh\n{script}\n")
    broken.chmod(0o755)
    grade = tmp_path / "grade"
    shutil.copytree(pl_question / "tests", grade / "tests")
    (grade / "student").mkdir()
    env = {**os.environ, "GRADE_ROOT": str(grade), "KIT_PYTHON": str(broken)}
    proc = subprocess.run(
        ["bash", str(grade / "tests" / "run.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    results = json.loads((grade / "results" / "results.json").read_text())
    validate_pl(results)
    assert results["gradable"] is False and words in results["message"]


@pytest.mark.quick
def test_prairielearn_format_rules():
    from autograder.report import CheckResult, to_prairielearn

    def res(name, status, message="", score=0.0, max_score=1.0, hidden=False):
        return CheckResult(A1, name, "quick", score, max_score, status, message, "", 0.1, hidden=hidden)

    mixed = to_prairielearn(
        [
            res("a", "error", "mlp.py has a syntax error at line 3: invalid syntax"),
            res("b", "failed", "wrong", hidden=True),
            res("c", "passed", score=2, max_score=2),
        ]
    )
    validate_pl(mixed)
    assert mixed["gradable"] is True and mixed["score"] == pytest.approx(2 / 4)
    assert [t["name"] for t in mixed["tests"]] == ["a", "hidden check 1", "c"]
    assert mixed["tests"][1]["message"] == "not passed" and "wrong" not in json.dumps(mixed)
    zero = to_prairielearn([res("a", "passed", max_score=0)])
    assert zero["score"] == 0 and zero["gradable"] is True
    assert to_prairielearn([])["gradable"] is False


# ---------------------------------------------------------------- GitHub Classroom
@pytest.fixture(scope="module")
def classroom_repo(tmp_path_factory):
    from autograder.platforms.classroom import build

    return build("a1", tmp_path_factory.mktemp("classroom") / "template")


def load_workflow(repo):
    import yaml

    return yaml.safe_load((repo / ".github" / "workflows" / "classroom.yml").read_text())


@pytest.mark.quick
def test_classroom_workflow(classroom_repo):
    from autograder.runner import load_checks

    flow = load_workflow(classroom_repo)
    assert flow["name"] == "Autograding Tests"  # the reporter requires this name and this single job
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"push", "workflow_dispatch"}
    assert flow["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    assert list(flow["jobs"]) == ["run-autograding-tests"]
    job = flow["jobs"]["run-autograding-tests"]
    assert job["if"] == "github.actor != 'github-classroom[bot]'"
    steps = job["steps"]
    install = "\n".join(s.get("run", "") for s in steps)
    assert "--index-url https://download.pytorch.org/whl/cpu" in install and "--no-deps -e ." in install
    graders = [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader@")]
    public = [c for c in load_checks(A1) if not c.hidden and c.tier in ("quick", "train")]
    assert [s["with"]["test-name"] for s in graders] == [c.name for c in public]
    for step, chk in zip(graders, public):
        assert step["with"]["max-score"] == chk.points and isinstance(step["with"]["max-score"], int)
        # the command grader passes PATH and HOME only: the kit's settings are in the command
        assert step["with"]["command"] == f"env KIT_NO_PROGRESS=1 python -m autograder.platforms.classroom run {chk.id}"
        assert 1 <= int(step["with"]["timeout"]) <= 360
    # the data: cached between runs, fetched by a step of its own (a failed download is the run's error, not a 0)
    names = [s["name"] for s in steps]
    cache = steps[names.index("Cache the data sets")]
    assert cache["uses"].startswith("actions/cache@") and cache["with"]["path"] == "data"
    assert steps[names.index("Fetch the data sets")]["run"] == "python -m data_scripts fetch mnist"
    assert names.index("Fetch the data sets") < names.index(graders[0]["name"])
    reporter = steps[-1]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    ids = [s["id"] for s in graders]
    assert reporter["with"]["runners"].split(",") == ids
    assert reporter["env"] == {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids}
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", i) for i in ids)


@pytest.mark.quick
def test_classroom_refuses_fractional_points(monkeypatch):
    from autograder.platforms import classroom
    from autograder.api import Check

    half = Check(A1, "half", 0.5, "quick", 30.0, lambda sub: None)
    monkeypatch.setattr(classroom, "public_checks", lambda assignment: [half])
    with pytest.raises(ValueError, match="whole numbers"):
        classroom.workflow(A1)


@pytest.mark.quick
def test_classroom_repo_is_the_student_kit_without_hidden_checks(classroom_repo):
    from autograder.platforms.student_kit import hidden_check_names

    hidden = hidden_check_names([A1])[A1]
    assert hidden, "a1 has hidden checks: this test must see them left out"
    for path in classroom_repo.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [h for h in hidden if h in text], path
    assert not (classroom_repo / "solutions").exists()
    assert sorted(p.name for p in (classroom_repo / "assignments").iterdir()) == [A1]
    assert (classroom_repo / "autograder" / "platforms" / "classroom.py").is_file()
    readme = (classroom_repo / "README.md").read_text()
    assert "feedback, not your grade" in readme


@pytest.mark.quick
def test_classroom_repo_holds_no_solution_code(classroom_repo):
    """The template repository students get (the student kit of one assignment and its workflow) passes the student
    kit's scan: no line of the reference's solution regions, no nbgrader marker (tests/test_student_kit.py)."""
    from test_student_kit import files_of, what_a_student_should_not_see

    found = what_a_student_should_not_see(files_of(classroom_repo))
    assert not found, "\n".join(found)


@pytest.mark.quick
def test_the_public_scans_find_a_planted_solution_line(pl_question, classroom_repo, tmp_path):
    """The two scans above can fail: a line of a solution region planted in a copy of the Classroom template's check
    module and of the PrairieLearn image's Dockerfile is found; planted in the question's private tests/, it is
    not (that folder never reaches a student)."""
    from test_student_kit import ALLOWED, _solution_lines, files_of, what_a_student_should_not_see

    line = sorted(_solution_lines() - set(ALLOWED))[0]

    def planted(folder: Path, *where: str) -> Path:
        copy = tmp_path / folder.name
        shutil.copytree(folder, copy)
        for rel in where:
            with open(copy / rel, "a") as f:
                f.write(f"\n# {line}\n")
        return copy

    repo = planted(classroom_repo, f"autograder/checks/{A1}.py")
    assert what_a_student_should_not_see(files_of(repo)) == [f"solution code in autograder/checks/{A1}.py: {[line]}"]
    question = planted(pl_question, "image/Dockerfile", "tests/run.sh")
    assert what_a_student_should_not_see(pl_public_files(question)) == [f"solution code in image/Dockerfile: {[line]}"]


@pytest.mark.quick
def test_classroom_per_check_command(classroom_repo, tmp_path):
    repo = tmp_path / "student-repo"
    shutil.copytree(classroom_repo, repo)
    step = next(s for s in load_workflow(repo)["jobs"]["run-autograding-tests"]["steps"] if s.get("id") == "forward")
    command = step["with"]["command"]
    # as the command grader runs it: a shell, PATH and HOME only (our venv's python first on the PATH)
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(tmp_path)}

    def run():
        return subprocess.run(command, shell=True, env=env, cwd=repo, capture_output=True, text=True, timeout=300)

    proc = run()
    assert proc.returncode == 1 and "not implemented yet" in proc.stdout, proc.stdout + proc.stderr
    for name in A1_MODULES:
        shutil.copy(REFERENCE / name, repo / "assignments" / A1 / name)
    proc = run()
    assert proc.returncode == 0 and "TOTAL: 2 / 2" in proc.stdout, proc.stdout + proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.platforms.classroom", "run", f"{A1}/no_such_check"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no check named" in proc.stderr
