"""A notebook cell at `nbgrader autograde` time: the student's code, run before the judge grades.

The preprocessors before JudgeGrades, as nbgrader_config.py lists them, run a small hostile notebook in a folder
laid out like a course (solutions/, gradebook.db, autograded/<student>/<assignment>/): its cells copy the reference
over the student's modules, read the kit's solutions and checks, write the gradebook, and leave a process
behind. The kernel must see a throw-away copy of its submission and nothing of the course, the judge must grade
the modules as submitted, and nothing the cell started may outlive it. tests/test_nbgrader.py plays the same
attacks under the real `nbgrader autograde`.
"""

import copy
import hashlib
import os
import signal
import time
from pathlib import Path

import nbformat
import pytest
from test_attacks import survivors
from nbgrader.preprocessors import Execute

from autograder.platforms import nbgrader_kernel
from autograder.platforms.nbgrader_plugins import SNAPSHOT, JudgeGrades

ROOT = Path(__file__).resolve().parent.parent
A = "a1_intro_nn"
TOKEN = "kit-hostile-cell-process"

needs_bwrap = pytest.mark.skipif(not nbgrader_kernel.sandbox_available(), reason="bubblewrap does not work here")

HOSTILE_CELL = """
import os, shutil, subprocess, sys
from pathlib import Path
course, kit = Path({course!r}), Path({kit!r})
for module in (course / "solutions" / "{a}").glob("*.py"):  # the reference over the student's modules
    shutil.copy(module, module.name)
print("reference visible:", (kit / "solutions" / "{a}" / "mlp.py").exists())
print("checks visible:", (kit / "autograder" / "checks" / "{a}.py").exists())
with open(course / "gradebook.db", "a") as gradebook:
    gradebook.write("every point")
# a process of its own session, forked twice, sleeping on
subprocess.Popen([sys.executable, "-c", "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(300)",
                  {token!r}], start_new_session=True)
"""
TEST_CELL = f'from autograder.runner import run_check\nrun_check("{A}/forward")'


def autograde_config():
    """nbgrader_config.py as nbgrader loads it, and its autograde preprocessors up to JudgeGrades (excluded)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    listed = list(config.Autograde.autograde_preprocessors)
    return config, listed[: listed.index(JudgeGrades)]


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def notebook(*sources, graded=()):
    cells = []
    for i, source in enumerate(sources):
        meta = {"nbgrader": {"grade": True, "solution": False, "grade_id": f"t{i}", "points": 1}} if i in graded else {}
        cells.append(nbformat.v4.new_code_cell(source, metadata=meta))
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernelspec})


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The hostile notebook run by the configured preprocessors before JudgeGrades, in a course-like folder."""
    course = tmp_path_factory.mktemp("course")
    (course / "solutions" / A).mkdir(parents=True)
    for name in ("mlp.py", "svm.py"):
        (course / "solutions" / A / name).write_text((ROOT / "solutions" / A / name).read_text())
    (course / "gradebook.db").write_text("the grades")
    folder = course / "autograded" / "student" / A
    folder.mkdir(parents=True)
    for name in ("mlp.py", "svm.py"):
        (folder / name).write_text((ROOT / "assignments" / A / name).read_text())
    before = {"course": digest(course)}
    config, preprocessors = autograde_config()
    cell = HOSTILE_CELL.format(course=str(course), kit=str(ROOT), a=A, token=TOKEN)
    nb, resources = notebook(cell, TEST_CELL, graded=(1,)), {"metadata": {"path": str(folder)}}
    try:
        for cls in preprocessors:
            nb, resources = cls(config=config).preprocess(nb, resources)
        yield {"course": course, "folder": folder, "before": before, "nb": nb, "resources": resources, "config": config}
    finally:
        for pid in survivors(TOKEN):  # only where the kernel was not sandboxed
            os.kill(pid, signal.SIGKILL)


def outputs(cell) -> str:
    return "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)


@needs_bwrap
@pytest.mark.quick
def test_a_cell_cannot_read_the_reference_nor_the_checks(executed):
    printed = outputs(executed["nb"].cells[0])
    assert "reference visible: False" in printed and "checks visible: False" in printed, printed


@needs_bwrap
@pytest.mark.quick
def test_a_cell_changes_nothing_outside_a_throw_away_copy(executed):
    """Not the course's solutions or gradebook, not even the submission folder it runs in."""
    assert digest(executed["course"]) == executed["before"]["course"]


@needs_bwrap
@pytest.mark.quick
def test_the_judge_grades_the_modules_as_submitted(executed, monkeypatch):
    from autograder.report import CheckResult

    graded = {}

    def judge(self, folder, ids):
        graded.update(folder=folder, mlp=(folder / "mlp.py").read_text())
        return {i: CheckResult(*i.split("/", 1), "quick", 1.0, 1.0, "passed", "", "", 0.1) for i in ids}

    monkeypatch.setattr(JudgeGrades, "judge", judge)
    snapshot = executed["resources"].get(SNAPSHOT)
    JudgeGrades(config=executed["config"]).preprocess(copy.deepcopy(executed["nb"]), dict(executed["resources"]))
    assert graded["mlp"] == (ROOT / "assignments" / A / "mlp.py").read_text()  # the stub, not the reference
    assert graded["folder"] == Path(snapshot).resolve() and not Path(snapshot).exists()  # graded, then removed


@needs_bwrap
@pytest.mark.quick
def test_no_process_started_by_a_cell_outlives_the_kernel(executed):
    deadline = time.monotonic() + 5
    while survivors(TOKEN) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert survivors(TOKEN) == []


@needs_bwrap
@pytest.mark.quick
def test_run_check_in_the_sandboxed_kernel_says_the_judge_grades_the_cell(executed):
    cell = executed["nb"].cells[1]
    assert [o.output_type for o in cell.outputs] == ["stream"], cell.outputs  # no traceback
    assert outputs(cell) == f"{A}/forward: graded by the judge at autograde time\n"


@pytest.mark.quick
def test_run_check_names_no_hidden_test_in_the_sandboxed_kernel(monkeypatch, capsys):
    from autograder.runner import run_check

    monkeypatch.setenv(nbgrader_kernel.KERNEL_FLAG, "1")
    run_check(f"{A}/backward_batch_mean", quiet=True)
    assert capsys.readouterr().out == "this hidden test: graded by the judge at autograde time\n"


@pytest.mark.quick
def test_autograde_refuses_without_bubblewrap_unless_the_instructor_allows_it(monkeypatch, tmp_path):
    monkeypatch.setattr(nbgrader_kernel, "sandbox_available", lambda: False)
    config, preprocessors = autograde_config()
    [execute] = [cls for cls in preprocessors if issubclass(cls, Execute)]
    resources = {"metadata": {"path": str(tmp_path)}}
    with pytest.raises(nbgrader_kernel.SandboxUnavailable, match="bubblewrap.*allow_unsandboxed"):
        execute(config=config).preprocess(notebook("print('ran')"), resources)

    config.SandboxedExecute.allow_unsandboxed = True
    nb, _ = execute(config=config).preprocess(notebook("print('ran')"), resources)
    assert outputs(nb.cells[0]) == "ran\n"
