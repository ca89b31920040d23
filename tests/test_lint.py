"""The kit's code passes ruff's default rules (pyflakes: unused or undefined names; statement errors). The
stubs and references in solutions/ are left out: their imports are there for the students."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.quick
def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "autograder", "kit",
                           "data_scripts", "tests"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
