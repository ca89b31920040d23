"""Per-cell times of executed reference notebooks (autograder.tools.reference_notebooks), without running one."""

import json
import re
from pathlib import Path

import nbformat
import pytest

from autograder.runner import ASSIGNMENTS
from autograder.tools.docs import machine
from autograder.tools.reference_notebooks import cell_timings, stale_cells

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "solutions"


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


@pytest.mark.quick
def test_a_changed_code_cell_makes_the_record_stale():
    nb = nbformat.v4.new_notebook(cells=[_cell("markdown", "## Part 1 — Sizes"), _cell("code", "# why\nx = 1")])
    recorded = cell_timings(nb)
    nb.cells[1].source = "# a comment reworded\n\nx = 1"
    assert stale_cells(recorded, nb) == []
    nb.cells[1].source = "x = 2"
    assert stale_cells(recorded, nb) == ["cell 1 (Part 1 — Sizes: 'x = 2')"]
    nb.cells.append(_cell("code", "y = 2"))
    assert stale_cells(recorded, nb) == ["1 code cells recorded, 2 in the notebook"]


@pytest.mark.quick
def test_the_timing_record_measured_todays_notebooks():
    record = json.loads((ROOT / "docs" / "data" / "notebook-timings-full.json").read_text())
    assert set(record["notebooks"]) == set(ASSIGNMENTS), "every notebook has its full-budget times"
    stale = {
        assignment: stale_cells(entry["cells"], nbformat.read(NOTEBOOKS / assignment / f"{assignment}.ipynb", 4))
        for assignment, entry in record["notebooks"].items()
    }
    stale = {a: cells for a, cells in stale.items() if cells}
    assert not stale, (
        f"docs/data/notebook-timings-full.json no longer measures these cells: {stale}; re-run "
        "python -m autograder.tools.reference_notebooks ASSIGNMENT --budget full --record docs/data, then make docs"
    )


@pytest.mark.quick
def test_every_part_states_its_measured_time():
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(NOTEBOOKS / assignment / f"{assignment}.ipynb", 4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for part in sorted({r["part"] for r in cell_timings(nb)} - {"(before the first part)"}):
            number = re.match(r"Part \d+", part).group(0)
            assert f'<!-- figure: time {assignment} "{number}" -->' in text, f"{assignment} {part}: no measured time"


@pytest.mark.quick
def test_a_cell_time_is_read_by_its_nbgrader_id():
    from autograder.tools import docs

    cell = _cell("code", "x = 1", "2026-11-30T05:00:00Z", "2026-11-30T05:02:00Z")
    cell.metadata["nbgrader"] = {"grade_id": "ablation"}
    rows = cell_timings(nbformat.v4.new_notebook(cells=[_cell("markdown", "## Part 4 — Improvements"), cell]))
    record = {
        "kind": "notebook-timings",
        "budget": "full",
        "machine": "2-core Test CPU, torch 2.14.1",
        "notebooks": {"a2_cnn": {"seconds": 120, "parts": {"Part 4 — Improvements": 120}, "cells": rows}},
    }
    assert rows[0]["id"] == "ablation"
    assert docs.figure('time a2_cnn "cell ablation"', [record]) == "about 2 min on a 2-core Test CPU"
    with pytest.raises(docs.DocsError):
        docs.figure('time a2_cnn "cell nothing"', [record])
