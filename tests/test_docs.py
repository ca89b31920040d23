"""The generated docs (autograder/tools/docs.py): what is checked in is what `make docs` writes now, counts follow the
code, and every measured figure names its machine and command."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.tools import docs
from autograder.api import REGISTRY

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.quick
def test_checked_in_docs_are_what_make_docs_writes():
    stale = [str(p.relative_to(ROOT)) for p in docs.stale()]
    assert not stale, (
        f"out of date: {', '.join(stale)}. Counts come from the checks and autograder/tools/mutants.py, "
        "figures from docs/data/*.json: run `make docs` (python -m autograder.tools.docs) and commit the "
        "result"
    )


@pytest.mark.quick
def test_every_measurement_names_its_machine_and_command():
    records = docs.load_measurements()
    assert {r["kind"] for r in records} >= {"bench", "grading-cost", "determinism"}
    for r in records:
        assert r["machine"].strip(), r["file"]
        if r["kind"] != "notebook-timings":  # that kind's command follows from its budget
            assert r["command"].startswith(("python -m", "make ")), r["file"]
    page = docs.render_page(docs.counts(), records)
    sections = page.split("\n### ")[1:]
    assert len(sections) == len(records) + sum(len(r["results"]) - 1 for r in records if r["kind"] == "bench")
    for section in sections:
        heading = section.splitlines()[0]
        assert "Machine: **" in section and any(r["machine"] in heading for r in records), heading


def _a1_points() -> float:
    rows = {r["entry"].folder: r for r in docs.counts()}
    return rows["a1_intro_nn"]["points"]


@pytest.mark.quick
def test_counts_follow_the_checks():
    """A check's points changed in code change the generated tables, with nothing typed by hand."""
    before_points = _a1_points()
    before = docs.render_counts(docs.counts(), ROOT / "docs")
    checks = REGISTRY["a1_intro_nn"]
    original = checks[0]
    checks[0] = dataclasses.replace(original, points=original.points + 5)
    try:
        assert _a1_points() == before_points + 5
        after = docs.render_counts(docs.counts(), ROOT / "docs")
    finally:
        checks[0] = original
    assert after != before and f"({before_points + 5:g})" in after


@pytest.mark.quick
def test_blocks_are_filled_between_markers_and_nowhere_else():
    rows, records = docs.counts(), docs.load_measurements()
    text = (
        "intro `<!-- generated: counts -->` quoted inside a line is text\n"
        "<!-- generated: mutants -->\nwhatever was here\n<!-- end generated -->\nhand-written tail\n"
    )
    out = docs.fill_blocks(text, rows, records, ROOT / "docs", "x.md")
    assert out.startswith("intro `<!-- generated: counts -->` quoted") and out.endswith("hand-written tail\n")
    assert "whatever was here" not in out and "mutants (a1 " in out
    assert docs.fill_blocks(out, rows, records, ROOT / "docs", "x.md") == out
    with pytest.raises(docs.DocsError, match="unknown generated block 'nope'"):
        docs.fill_blocks("<!-- generated: nope -->\n<!-- end generated -->\n", rows, records, ROOT, "x.md")
    with pytest.raises(docs.DocsError, match="has no `<!-- end generated -->`"):
        docs.fill_blocks("<!-- generated: counts -->\ntext\n", rows, records, ROOT, "x.md")


@pytest.mark.quick
def test_links_are_relative_to_the_page():
    rows = docs.counts()
    assert "](docs/course/a1.md)" in docs.render_assignments(rows, ROOT)
    assert "](course/a1.md)" in docs.render_assignments(rows, ROOT / "docs")


@pytest.mark.quick
def test_record_keeps_a_run_with_this_machine(tmp_path, monkeypatch):
    raw = [
        {
            "cpu": "x86_64",
            "cores": 2,
            "grading_cost": [
                {
                    "assignment": "a4_gaussian_fit",
                    "tier": "quick",
                    "seconds": 4.5,
                    "peak_mb": 800.0,
                    "points": "16 / 16",
                    "status": 0,
                }
            ],
        }
    ]
    src = tmp_path / "grading_cost.json"
    src.write_text(json.dumps(raw))
    data = tmp_path / "data"
    monkeypatch.setattr(docs, "DATA", data)
    assert docs.main(["record", str(src), "--kind", "grading-cost", "--note", "a test", "--name", "gc.json"]) == 0
    kept = json.loads((data / "gc.json").read_text())
    assert kept["kind"] == "grading-cost" and kept["machine"] == docs.machine() and kept["results"] == raw
    assert kept["command"] == "python -m autograder.tools.bench --grading-cost" and kept["notes"] == ["a test"]
    # notebook timings as `python -m autograder.tools.reference_notebooks --record` writes them
    (data / "notebook-timings-small.json").write_text(
        json.dumps(
            {
                "machine": "test machine",
                "budget": "small",
                "date": "2026-12-01",
                "notebooks": {"a4_gaussian_fit": {"seconds": 12.3, "error": None, "parts": {"Part 1": 10.0}}},
            }
        )
    )
    page = docs.render_page(docs.counts(), docs.load_measurements(data))
    assert f"Machine: **{docs.machine()}**" in page and "| `a4_gaussian_fit` | quick | 4.5 | 800 MB | 16 / 16 |" in page
    assert "Machine: **test machine**" in page and "| `a4_gaussian_fit` | 12 | Part 1 (10 s) |" in page
    (data / "bad.json").write_text(json.dumps({"kind": "bench", "results": []}))
    with pytest.raises(docs.DocsError, match="bad.json: needs machine"):
        docs.load_measurements(data)


@pytest.mark.quick
def test_determinism_writes_json_that_docs_can_keep(tmp_path):
    out = tmp_path / "determinism.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "determinism",
            "--runs",
            "1",
            "--assignment",
            "a4",
            "--tier",
            "quick",
            "--time-scale",
            "3",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads(out.read_text())
    assert record["kind"] == "determinism" and record["machine"] == docs.machine()
    assert record["command"] == "python -m autograder determinism --runs 1 --assignment a4 --tier quick"
    checks = record["results"]["checks"]
    assert checks and all(c["passed"] == c["runs"] == 1 for c in checks)
    assert all(c["check"].startswith("a4_gaussian_fit/") for c in checks)


@pytest.mark.quick
def test_grade_many_throughput_is_rendered_from_its_record(tmp_path):
    """autograder.tools.bench --grading-throughput's rows: the measurements page and the `grading-throughput` block show the
    newest record that has them, and the `grading-cost` block keeps to the record with per-submission costs."""
    rows = [
        {"tier": "quick", "jobs": j, "submissions": 4, "seconds": s, "per_hour": 14400 / s, "status": 0}
        for j, s in ((1, 60.0), (2, 30.0))
    ]
    record = docs.envelope(
        "grading-cost", [{"cpu": "x86_64", "grading_throughput": rows}], "python -m autograder.tools.bench"
    )
    (tmp_path / "throughput.json").write_text(json.dumps(record))
    records = docs.load_measurements(tmp_path)
    block = docs.BLOCKS["grading-throughput"](docs.counts(), records, ROOT / "docs")
    assert "| 1 | 60 | 240 |" in block and "| 2 | 30 | 480 |" in block
    assert "Grading a class" in docs.render_page(docs.counts(), records)
    with pytest.raises(docs.DocsError, match="with grading_cost"):
        docs.BLOCKS["grading-cost"](docs.counts(), records, ROOT / "docs")
    assert "with --jobs 2: 480, **not met**" in block  # the class's target, against the measured rate
    fast = [dict(r, per_hour=docs.TARGETS["quick_per_hour"]) for r in rows]
    assert "met." in docs._throughput_table(fast) and "not met" not in docs._throughput_table(fast)


@pytest.mark.quick
def test_the_cost_of_one_submission_is_held_to_the_class_target():
    def row(seconds, peak_mb):
        return {"assignment": "a1_intro_nn", "tier": "train", "seconds": seconds, "peak_mb": peak_mb}

    target_s, target_mb = docs.TARGETS["train_s"], docs.TARGETS["train_mb"]
    assert docs._cost_table([row(target_s, target_mb)]).endswith("met.")
    assert docs._cost_table([row(target_s + 1, target_mb)]).endswith("**not met**.")
    assert docs._cost_table([row(target_s, target_mb + 1)]).endswith("**not met**.")


def _notebook(cells) -> str:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(c) for c in cells])
    return nbformat.writes(nb) + "\n"


@pytest.mark.quick
def test_the_notebooks_figures_come_from_recipes_and_docs_data(tmp_path, monkeypatch):
    """A notebook's inline figure is written from kit/recipes.py or docs/data like a page's; a stale one makes
    `make docs --check` (and test_checked_in_docs_are_what_make_docs_writes) fail."""
    from kit import recipes

    rows, records = docs.counts(), docs.load_measurements()
    cell = "at least <!-- figure: threshold a2.full_vanilla jpeg-q75 -->12 %<!-- end figure --> on the JPEG copy"
    fresh = docs.fill_notebook(_notebook([cell]), rows, records, ROOT, "x.ipynb")
    assert "-->66 %<!-- end figure --> on the JPEG copy" in fresh
    assert docs.fill_notebook(fresh, rows, records, ROOT, "x.ipynb") == fresh
    quoted = _notebook(["a marker quoted as code, `<!-- figure: NAME -->` … `<!-- end figure -->`, is text"])
    assert docs.fill_notebook(quoted, rows, records, ROOT, "x.ipynb") == quoted
    vanilla = recipes.RECIPES["a2.full_vanilla"]
    monkeypatch.setitem(recipes.RECIPES, "a2.full_vanilla", dataclasses.replace(vanilla, threshold={"jpeg-q75": 0.655}))
    assert "-->65.5 %<!-- end figure -->" in docs.fill_notebook(fresh, rows, records, ROOT, "x.ipynb")
    monkeypatch.setitem(recipes.RECIPES, "a2.full_vanilla", vanilla)
    # a stale copy of an instructor notebook is out of date
    for path in docs.notebooks_with_figures():
        copy = tmp_path / path.parent.name / path.name
        copy.parent.mkdir()
        copy.write_text(path.read_text().replace("-->66 %<!-- end figure -->", "-->68 %<!-- end figure -->"))
    monkeypatch.setattr(docs, "NOTEBOOKS", tmp_path)
    stale = docs.stale()
    assert stale == [tmp_path / "a2_cnn" / "a2_cnn.ipynb"], stale
    for text, error in (
        ("<!-- figure: threshold nope.nope -->1 %<!-- end figure -->", "no recipe 'nope.nope'"),
        ("<!-- figure: bench nobody test_acc -->1 %<!-- end figure -->", "no such figure"),
        ("<!-- figure: target a2.full_vanilla -->1 %", "has no `<!-- end figure -->`"),
    ):
        with pytest.raises(docs.DocsError, match=error):
            docs.fill_notebook(_notebook([text]), rows, records, ROOT, "x.ipynb")


@pytest.mark.quick
def test_no_measured_figure_is_typed_in_a_notebook(tmp_path):
    """Percentages and times in the instructor notebooks' text (keys included) are generated figures: typed, they
    go stale the day a recipe or a measurement changes."""
    typed = {p.name: docs.typed_figures(p) for p in sorted(docs.NOTEBOOKS.glob("*/*.ipynb"))}
    assert typed and not any(typed.values()), (
        f"typed figures: {typed}; write them as <!-- figure: NAME -->…<!-- end figure --> (autograder.tools.docs.figure) "
        "or in words"
    )
    sample = tmp_path / "x.ipynb"
    sample.write_text(
        _notebook(
            [
                "reaches 98.61 % in 3 min, 20-27 s per epoch",
                "the check asks <!-- figure: target a3.fast -->98 %<!-- end figure -->; chance is about 10 %",
            ]
        )
    )
    assert docs.typed_figures(sample) == ["cell 0: 98.61 %", "cell 0: 3 min", "cell 0: 20-27 s"]


@pytest.mark.quick
def test_no_measured_figure_is_typed_in_a_course_page(tmp_path):
    """The course pages (docs/course/*.md) show measured figures the way the notebooks do: from docs/data or
    kit/recipes.py through `make docs`; only the planning estimates of each "Parts" table and NOT_MEASURED are typed."""
    pages = sorted(docs.COURSE.glob("*.md"))
    typed = {p.name: docs.typed_in_page(p) for p in pages}
    assert pages and not any(typed.values()), (
        f"typed figures: { {k: v for k, v in typed.items() if v} }; write them as <!-- figure: NAME -->…"
        "<!-- end figure --> or a generated block (autograder.tools.docs: a reference-runs record in docs/data "
        "for runs that have no other record), or in words"
    )
    sample = tmp_path / "x.md"
    sample.write_text(
        "## Parts\n"
        "| part | written | estimate |\n|---|---|---|\n| 1 | 2 | 2 h 30 |\n| 2 — 45 min of training | 1 | 1 h |\n"
        "\n"
        "The reference reaches 83.63 % in 1,248 s; chance is about 10 %, "
        "<!-- figure: target a3.fast -->98 %<!-- end figure --> the target.\n"
        "<!-- generated: counts -->\n| 98 % | 3 min |\n<!-- end generated -->\n"
        "| run | time |\n|---|---|\n| vanilla | 355 s |\n"
        "## Another section\ntyped 12 s\n"
    )
    assert docs.typed_in_page(sample) == [
        "line 5: 45 min",
        "line 7: 83.63 %",
        "line 7: 1,248 s",
        "line 13: 355 s",
        "line 15: 12 s",
    ]
