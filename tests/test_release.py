"""assignments/ is exactly what `make release` produces from solutions/, and holds no solution."""
import filecmp
from pathlib import Path

import pytest

from autograder.release import build, clear_module, course_config
from conftest import ASSIGNMENTS, ROOT


def _diff(a: Path, b: Path, rel=""):
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__", ".ipynb_checkpoints", "runs", "data"])
    out = [f"only in release: {rel}{n}" for n in cmp.left_only] + [f"only in assignments/: {rel}{n}" for n in cmp.right_only]
    out += [f"differs: {rel}{n}" for n in cmp.diff_files if (a / n).read_bytes() != (b / n).read_bytes()]
    for sub in cmp.common_dirs:
        out += _diff(a / sub, b / sub, f"{rel}{sub}/")
    return out


@pytest.mark.quick
def test_assignments_match_fresh_release(tmp_path):
    build(tmp_path)
    problems = []
    for aid in ASSIGNMENTS:
        problems += _diff(tmp_path / aid, ROOT / "assignments" / aid, f"{aid}/")
    assert not problems, "assignments/ is stale, run `make release`:\n" + "\n".join(problems)


@pytest.mark.quick
def test_release_contains_no_solution():
    for path in (ROOT / "assignments").rglob("*"):
        if path.suffix in (".py", ".ipynb"):
            text = path.read_text()
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, path


@pytest.mark.quick
def test_clear_module_uses_nbgrader_stub():
    src = "def f(x):\n    \"\"\"doc\"\"\"\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
    out = clear_module(src, course_config())
    assert out == "def f(x):\n    \"\"\"doc\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    assert clear_module("x = 1\n", course_config()) == "x = 1\n"
