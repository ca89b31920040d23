"""nbgrader end to end, headless: generate, three submissions, autograde, feedback, read the gradebook.

Submissions: the reference modules (with a harmless warning in the graded code), the untouched release, and a
partly correct one whose student also edited a locked test cell to fake a pass, deleted another, and placed a
faked copy of a third before the original.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

A = "a1_intro_nn"
MODULES = ("mlp.py", "mlp_torch.py", "mnist_mlp.py", "svm.py")


def nbgrader(course, *args):
    env = {**os.environ, "KIT_BUDGET": "small", "MPLBACKEND": "Agg",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=1200)
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
    mlp.write_text(mlp.read_text().replace(
        "def forward(params, X):", "def forward(params, X):\n    import warnings\n"
        "    warnings.warn('an ordinary library warning', UserWarning)", 1))


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


@pytest.mark.train
def test_nbgrader_end_to_end(tmp_path):
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / A, course / "solutions" / A,
                    ignore=shutil.ignore_patterns("__pycache__", "runs"))
    nbgrader(course, "generate_assignment", A)
    released = nbformat.read(course / "release" / A / f"{A}.ipynb", as_version=4)
    assert "BEGIN HIDDEN TESTS" not in nbformat.writes(released)

    submit(course, "reference", ROOT / "solutions" / A, reference_with_warning)
    submit(course, "untouched", ROOT / "assignments" / A)
    submit(course, "partial", ROOT / "solutions" / A, partial_and_tampered)
    nbgrader(course, "autograde", A)
    nbgrader(course, "generate_feedback", A)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission(A, s).code_score for s in ("reference", "untouched", "partial")}
        max_score = gb.find_assignment(A).max_code_score
        graded_ids = {g.name: g.auto_score for g in gb.find_submission(A, "partial").notebooks[0].grades
                      if g.auto_score is not None}
    print(f"auto-graded points out of {max_score:g}: {scores}")
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
