"""Executed reference notebooks for the people who grade written answers, and the time each cell takes.

    python -m autograder.tools.reference_notebooks [a1 a2 ...] [--budget full|small] [--out dist/reference-notebooks]

Runs each instructor notebook (solutions/<assignment>/<assignment>.ipynb, answer keys included) top to bottom in
a temporary copy of its folder, so the figures the answers talk about are there to read, and writes:

- <out>/<assignment>.ipynb: the executed notebook (outputs, figures, answer keys);
- <out>/timings-<budget>.json: seconds per code cell, per part (the notebook's "## " headings) and in all, with
  the machine they were measured on. `--record docs/data` also keeps a copy there, which the docs are made from.

Not part of `make test` (the full budget takes tens of minutes on 2 CPU cores); `make reference-notebooks`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..runner import ASSIGNMENTS, resolve_assignment
from .docs import machine

ROOT = Path(__file__).resolve().parents[2]


def _seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return None
    parse = dt.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def _code_lines(source: str) -> list[str]:
    """A code cell's lines without the blank and comment-only ones."""
    return [ln.rstrip() for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def code_digest(source: str) -> str:
    """What a code cell runs, as a short hash: blank and comment-only lines left out, since rewording a comment does
    not change a cell's time, while any change to its code makes its recorded time stale."""
    return hashlib.sha256("\n".join(_code_lines(source)).encode()).hexdigest()[:12]


def stale_cells(recorded: list[dict], nb) -> list[str]:
    """How a notebook's code cells differ from the cells a timing record measured: [] when they are the same code
    in the same parts, in the same order."""
    now = cell_timings(nb)
    if len(now) != len(recorded):
        return [f"{len(recorded)} code cells recorded, {len(now)} in the notebook"]
    return [
        f"cell {new['cell']} ({new['part']}: {new['first_line']!r})"
        for old, new in zip(recorded, now)
        if (old.get("part"), old.get("digest")) != (new["part"], new["digest"])
    ]


def cell_timings(nb) -> list[dict]:
    """One row per code cell: index, nbgrader id, the part it belongs to (last '## ' heading above it), its first
    line, the digest of its code, seconds."""
    rows, part = [], "(before the first part)"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    part = line[3:].strip()
        elif cell.cell_type == "code":
            first = next(iter(_code_lines(cell.source)), "")
            rows.append(
                {
                    "cell": index,
                    "id": cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"),
                    "part": part,
                    "first_line": first[:80],
                    "digest": code_digest(cell.source),
                    "seconds": _seconds(cell),
                }
            )
    return rows


def _summary(assignment, budget, nb, started, error) -> dict:
    cells = cell_timings(nb)
    parts: dict[str, float] = {}
    for row in cells:
        parts[row["part"]] = parts.get(row["part"], 0.0) + (row["seconds"] or 0.0)
    return {
        "assignment": assignment,
        "budget": budget,
        "error": error,
        "seconds": round(time.perf_counter() - started, 1),
        "parts": {k: round(v, 1) for k, v in parts.items()},
        "cells": cells,
    }


def run_notebook(assignment: str, budget: str, out: Path, timeout: int, partial=None) -> dict:
    """Execute one instructor notebook in a temporary copy of its folder; write it to out; return its timings.
    `partial(summary)` is called after each cell, with the timings so far (a long run stopped midway keeps them)."""
    import nbformat
    from nbclient import NotebookClient

    source = ROOT / "solutions" / assignment
    notebook = source / f"{assignment}.ipynb"
    env_before = dict(os.environ)
    os.environ.update({"KIT_BUDGET": budget, "MPLBACKEND": "Agg"})
    os.environ.setdefault("DATA_DIR", str(ROOT / "data"))
    started = time.perf_counter()
    error = None
    try:
        with tempfile.TemporaryDirectory(prefix=f"reference-{assignment}-") as tmp:
            work = Path(tmp) / assignment
            shutil.copytree(source, work, ignore=shutil.ignore_patterns("__pycache__", "runs"))
            nb = nbformat.read(notebook, as_version=4)
            client = NotebookClient(
                nb,
                timeout=timeout,
                kernel_name="python3",
                record_timing=True,
                resources={"metadata": {"path": str(work)}},
            )
            if partial is not None:
                client.on_cell_executed = lambda **_: partial(_summary(assignment, budget, nb, started, "stopped"))
            try:
                client.execute()
            except Exception as err:  # noqa: BLE001 - the notebook is kept with its error, the run reports it
                error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / f"{assignment}.ipynb")
    return _summary(assignment, budget, nb, started, error)


def main(argv=None) -> int:

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*", help="a1 a2 ... (default: all)")
    parser.add_argument("--budget", choices=("full", "small"), default="full")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "reference-notebooks")
    parser.add_argument("--record", type=Path, help="also merge the timings into <folder>/notebook-timings.json")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one cell may take")
    args = parser.parse_args(argv)
    results_path = args.out / f"timings-{args.budget}.json"
    record = {"machine": machine(), "budget": args.budget, "date": dt.date.today().isoformat(), "notebooks": {}}
    if results_path.exists():
        old = json.loads(results_path.read_text())
        if old.get("machine") == record["machine"]:
            record["notebooks"] = old.get("notebooks", {})
    failed = False

    def save(result):
        record["notebooks"][result["assignment"]] = result
        args.out.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(record, indent=1) + "\n")
        if args.record:
            args.record.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(results_path, args.record / f"notebook-timings-{args.budget}.json")

    for assignment in [resolve_assignment(a) for a in args.assignments] or list(ASSIGNMENTS):
        print(f"{assignment}: executing ({args.budget} budget) ...", flush=True)
        result = run_notebook(assignment, args.budget, args.out, args.timeout, partial=save)
        save(result)
        failed |= result["error"] is not None
        print(
            f"{assignment}: {result['seconds']:.0f} s" + (f", ERROR {result['error']}" if result["error"] else ""),
            flush=True,
        )
    print(f"executed notebooks and {results_path.name} in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
