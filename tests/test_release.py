"""assignments/ is exactly what `make release` produces from solutions/, and holds no solution."""

import filecmp
from pathlib import Path

import pytest

from autograder.platforms.release import build, clear_module, course_config

ROOT = Path(__file__).resolve().parent.parent


def _diff(a: Path, b: Path, rel=""):
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__", ".ipynb_checkpoints", "runs", "data"])
    out = [f"only in release: {rel}{n}" for n in cmp.left_only] + [
        f"only in assignments/: {rel}{n}" for n in cmp.right_only
    ]
    out += [f"differs: {rel}{n}" for n in cmp.diff_files if (a / n).read_bytes() != (b / n).read_bytes()]
    for sub in cmp.common_dirs:
        out += _diff(a / sub, b / sub, f"{rel}{sub}/")
    return out


@pytest.mark.quick
@pytest.mark.heavy
def test_assignments_match_fresh_release(tmp_path, assignments):
    build(tmp_path)
    problems = []
    for aid in assignments:
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
    src = 'def f(x):\n    """doc"""\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n'
    out = clear_module(src, course_config())
    assert out == 'def f(x):\n    """doc"""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n'
    assert clear_module("x = 1\n", course_config()) == "x = 1\n"


@pytest.mark.quick
def test_notebook_points_agree_with_the_checks(graded_assignment):
    """nbgrader and the CLI give the same points: every check is in exactly one graded test cell of its notebook
    (a hidden one inside a hidden-tests region), and a cell is worth the sum of its checks; a check marked
    in_notebook=False is in none."""
    import nbformat

    from autograder.platforms.nbgrader_plugins import check_calls
    from autograder.runner import load_checks

    checks = {c.id: c for c in load_checks(graded_assignment)}
    nb = nbformat.read(ROOT / "solutions" / graded_assignment / f"{graded_assignment}.ipynb", as_version=4)
    seen = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        calls = check_calls(cell.source) if cell.cell_type == "code" else []
        if not calls:
            continue
        assert meta.get("grade"), f"{meta.get('grade_id', cell.source[:40])}: runs checks but is not graded"
        for check_id, quiet in calls:
            assert check_id in checks, f"{meta['grade_id']} runs {check_id}, which does not exist"
            hidden_region = "### BEGIN HIDDEN TESTS" in cell.source.split(check_id)[0]
            assert checks[check_id].hidden == hidden_region == quiet, (
                f"{check_id}: hidden checks (and only they) go in a hidden-tests region, with quiet=True"
            )
        assert len({quiet for _, quiet in calls}) == 1, (
            f"{meta['grade_id']} mixes hidden and public checks: nbgrader scores a cell all or nothing, so failing "
            "the hidden one would cost the public ones' points too"
        )
        seen += [c for c, _ in calls]
        assert meta["points"] == sum(checks[c].points for c, _ in calls), (
            f"{meta['grade_id']} is worth {meta['points']} points, its checks {sum(checks[c].points for c, _ in calls)}"
        )
    assert len(seen) == len(set(seen)), "a check is in two test cells"
    expected = {i for i, c in checks.items() if c.in_notebook}
    assert set(seen) == expected, (
        f"in no notebook cell: {sorted(expected - set(seen))}; in a cell but marked "
        f"in_notebook=False: {sorted(set(seen) - expected)}"
    )
