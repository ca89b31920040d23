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


def run_grader(*args, timeout=1800):
    """Run the real CLI in a child process; returns CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def grade_json(submission, assignment, tier, tmp_path, *extra):
    out = tmp_path / f"{assignment}-{tier}.json"
    proc = run_grader("grade", "--submission", submission, "--assignment", assignment, "--tier", tier,
                      "--format", "json", "--output", out, "--quiet", *extra)
    assert proc.returncode == 0, f"grader exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(out.read_text())


def failures(report):
    return "\n".join(f"{t['name']}: {t['kit_status']}: {t['message']}" for t in report["tests"]
                     if t["score"] < t["max_score"])


@pytest.fixture
def root():
    return ROOT
