"""grade-many with its results store (issue 32): a class graded once survives a kill, and a rerun grades only what
changed. On a4's quick tier, whose checks take seconds."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
A = "a4_gaussian_fit"


def make_class(folder: Path, students: dict) -> Path:
    """folder/<student>/a4_gaussian_fit/: the reference ("ref") or the untouched stubs ("stubs")."""
    for student, what in students.items():
        source = ROOT / ("solutions" if what == "ref" else "assignments") / A
        shutil.copytree(source, folder / student / A, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    return folder


def grade_many(folder: Path, out: Path, *more, wait=True):
    cmd = [sys.executable, "-m", "autograder", "grade-many", str(folder), "--assignment", "a4", "--tier", "quick"]
    cmd += ["--output-dir", str(out), *more]
    if not wait:
        return subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def points() -> str:
    from autograder.runner import select

    return f"{sum(c.points for c in select(A, 'quick')):g}"


def stored(out: Path) -> dict:
    """{student: {check: graded_at}} read from the store."""
    db = sqlite3.connect(f"file:{out / 'grades.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT student, check_name, graded_at, status FROM results").fetchall()
    finally:
        db.close()
    found = {}
    for student, check, when, status in rows:
        found.setdefault(student, {})[check] = (when, status)
    return found


@pytest.mark.quick
def test_a_rerun_grades_only_what_changed(tmp_path):
    from autograder.runner import select

    checks = {c.name for c in select(A, "quick")}
    folder, out = make_class(tmp_path / "class", {"alice": "ref", "bob": "ref"}), tmp_path / "grades"
    grade_many(folder, out)
    first = stored(out)
    assert set(first) == {"alice", "bob"} and all(set(v) == checks for v in first.values())
    assert "What to re-teach" in (out / "report.html").read_text()  # the class view, next to the store
    full = points()
    assert (out / "gradebook.csv").read_text().splitlines()[1:] == [
        f"alice,{full},{full},{full}",
        f"bob,{full},{full},{full}",
    ]

    time.sleep(1.1)  # graded_at has whole seconds: a regraded row must show a later time
    again = grade_many(folder, out)
    assert "graded 0 of 2 submissions" in again.stdout and stored(out) == first

    shutil.copy(ROOT / "assignments" / A / "gaussian_fit.py", folder / "bob" / A)  # bob's files changed
    changed = grade_many(folder, out)
    now = stored(out)
    assert "graded 1 of 2 submissions" in changed.stdout
    assert now["alice"] == first["alice"] and all(now["bob"][c] != first["bob"][c] for c in checks)
    assert (out / "gradebook.csv").read_text().splitlines()[1:] == [f"alice,{full},{full},{full}", f"bob,0,0,{full}"]

    time.sleep(1.1)
    grade_many(folder, out, "--regrade", "loss")
    later = stored(out)
    for student in ("alice", "bob"):
        assert later[student]["loss"][0] > now[student]["loss"][0]
        assert all(later[student][c] == now[student][c] for c in checks - {"loss"})


@pytest.mark.quick
def test_a_grader_killed_mid_class_leaves_the_store_whole_and_the_rerun_goes_on(tmp_path):
    folder = make_class(tmp_path / "class", {"s1": "ref", "s2": "stubs", "s3": "ref", "s4": "stubs"})
    out = tmp_path / "grades"
    proc = grade_many(folder, out, wait=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill -9 once the first student is in the store
        try:
            if (out / "grades.sqlite").exists() and stored(out):
                break
        except sqlite3.OperationalError:  # the file is there, its table not yet
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the grader and everything it started, at once
    proc.wait(timeout=60)
    db = sqlite3.connect(out / "grades.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    from autograder.runner import select

    checks = {c.name for c in select(A, "quick")}
    kept = stored(out)
    assert kept and len(kept) < 4, kept
    assert all(set(v) == checks for v in kept.values()), "a student stored half-graded"
    assert (out / "gradebook.csv").is_file()  # written after each student, not only at the end

    rerun = grade_many(folder, out)
    assert f"graded {4 - len(kept)} of 4 submissions" in rerun.stdout, rerun.stdout
    final = stored(out)
    assert all(final[s] == kept[s] for s in kept)
    full = points()
    assert (out / "gradebook.csv").read_text().splitlines()[1:] == [
        f"s1,{full},{full},{full}",
        f"s2,0,0,{full}",
        f"s3,{full},{full},{full}",
        f"s4,0,0,{full}",
    ]


@pytest.mark.quick
def test_the_class_view_and_the_exports_read_the_store(tmp_path):
    """From a store alone: the LMS exports (Canvas's points-possible row, Moodle's username column), and the class
    page with the most failed check first and its most frequent hint; a folder without a store is refused."""
    from autograder.classview import checks_to_reteach, export, page
    from autograder.report import CheckResult
    from autograder.store import Store

    def result(name, passed, message=""):
        return CheckResult(A, name, "quick", 2.0 if passed else 0.0, 2.0, "passed" if passed else "failed", message,
                           "", 1.5)  # fmt: skip

    store = Store(tmp_path / "grades" / "grades.sqlite")
    hint = "dmu differs from the expected value; the sign of dg/dmu?"
    store.put("ann", [result("forward", True), result("backward", False, hint)], {A: "h1"}, {})
    store.put("ben", [result("forward", True), result("backward", False, hint + "\nmore")], {A: "h2"}, {})
    store.put("cy", [result("forward", False, "not implemented yet"), result("backward", True)], {A: "h3"}, {})
    assert export(store, "csv").splitlines() == [f"student,{A},total,max_score", "ann,2,2,4", "ben,2,2,4", "cy,2,2,4"]
    canvas = export(store, "canvas").splitlines()
    assert canvas[0].startswith("Student,ID,SIS User ID,SIS Login ID,Section,") and canvas[1].endswith(",4")
    assert canvas[2] == "ann,,,ann,,2"
    assert export(store, "moodle").splitlines()[:2] == [f"Username,{A}", "ann,2"]
    store.put("=cmd|' /C calc'!A0", [result("forward", True)], {A: "h4"}, {})  # a folder name read as a formula
    assert all("'=cmd" in export(store, fmt) and "\n=cmd" not in export(store, fmt) for fmt in ("csv", "moodle"))
    store.db.execute("DELETE FROM results WHERE student LIKE '=%'")
    store.db.commit()
    first, second = checks_to_reteach(store.rows())
    assert (first["check"], first["passed"], first["graded"]) == (f"{A}/backward", 1, 3)
    assert (first["hint"], first["hint_count"]) == (hint, 2) and second["check"] == f"{A}/forward"
    text = page(store)
    assert "data:image/png;base64," in text and text.index(f"{A}/backward") < text.index(f"{A}/forward")
    store.close()
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "export", str(tmp_path / "nothing")], cwd=ROOT, capture_output=True,
        text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "grade the class first" in proc.stderr and "Traceback" not in proc.stderr
