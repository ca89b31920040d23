"""Per-cell times of executed reference notebooks (autograder.tools.reference_notebooks), without running one."""

import nbformat
import pytest

from autograder.tools.docs import machine
from autograder.tools.reference_notebooks import cell_timings


def _cell(kind, source, start=None, end=None):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if start:
        cell.metadata["execution"] = {"iopub.execute_input": start, "shell.execute_reply": end}
    return cell


@pytest.mark.quick
def test_cell_timings_by_part():
    nb = nbformat.v4.new_notebook(
        cells=[
            _cell("code", "import kit", "2026-11-30T05:00:00.000000Z", "2026-11-30T05:00:01.500000Z"),
            _cell("markdown", "text\n## Part 1 — Sizes\nmore"),
            _cell("code", "# a comment\nx = 1", "2026-11-30T05:00:02Z", "2026-11-30T05:01:02.250000Z"),
            _cell("code", "y = 2"),
        ]
    )
    rows = cell_timings(nb)
    assert [r["part"] for r in rows] == ["(before the first part)", "Part 1 — Sizes", "Part 1 — Sizes"]
    assert [r["cell"] for r in rows] == [0, 2, 3]
    assert rows[0]["seconds"] == pytest.approx(1.5)
    assert rows[1]["seconds"] == pytest.approx(60.25) and rows[1]["first_line"] == "x = 1"
    assert rows[2]["seconds"] is None


@pytest.mark.quick
def test_machine_names_cores_and_torch():
    text = machine()
    assert "-core " in text and "torch " in text
