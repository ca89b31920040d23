import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
GRADED = [a for a in ASSIGNMENTS if (ROOT / "autograder" / "checks" / f"{a}.py").is_file()]

os.environ.setdefault("KIT_NO_PROGRESS", "1")
# pytest-xdist runs several tests at once: each test's children (graders, notebook kernels, nbgrader) get their
# share of the cores, inherited through OMP_NUM_THREADS, instead of every one of them using them all.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))


def run_grader(*args, timeout=1800):
    """Run the real CLI in a child process; returns CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def grade_json(submission, assignment, tier, tmp_path, *extra):
    out = tmp_path / f"{assignment}-{tier}.json"
    # time limits catch endless loops; a test run sharing the cores with other tests gets twice as long
    scale = () if "--time-scale" in extra else ("--time-scale", "2")
    proc = run_grader("grade", "--submission", submission, "--assignment", assignment, "--tier", tier,
                      "--format", "json", "--output", out, "--quiet", *scale, *extra)
    assert proc.returncode == 0, f"grader exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(out.read_text())


def failures(report):
    return "\n".join(f"{t['name']}: {t['kit_status']}: {t['message']}" for t in report["tests"]
                     if t["score"] < t["max_score"])


@pytest.fixture
def root():
    return ROOT
