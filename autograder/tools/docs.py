"""make docs: the figures and counts the docs show, written from the code and from stored measurements.

    python -m autograder.tools.docs              write docs/measurements.md and every generated block
    python -m autograder.tools.docs --check      exit 1 when a file differs from what would be written (tests/test_docs.py)
    python -m autograder.tools.docs record FILE --kind bench|grading-cost|determinism [--command CMD] [--note TEXT]
                                           keep a measurement's JSON in docs/data/, with the machine it ran on

Counts (checks per assignment and tier, points, hidden checks, mutants) come from the code: the assignment
registry (autograder/assignments.py), the checks' `@check` declarations and autograder/tools/mutants.py. Measured
figures come from the JSON files in docs/data/, each naming its machine and the command that measured it:
`make bench` (`python -m autograder.tools.bench`), `python -m autograder.tools.bench --grading-cost`,
`python -m autograder determinism --json FILE` and `python -m autograder.tools.reference_notebooks --record docs/data`;
runs measured before the kit kept JSON were transcribed once from the course pages into reference-runs records.

docs/measurements.md is written whole. Other pages hold generated blocks between

    <!-- generated: NAME -->
    ...
    <!-- end generated -->

markers (NAME one of BLOCKS); everything outside the markers is left as written. Edit this module, not the
blocks: the next `make docs` would overwrite them, and tests/test_docs.py fails until it has run.

A figure inside a sentence is generated the same way, between inline markers:

    the check asks for <!-- figure: threshold a2.full_vanilla jpeg-q75 -->66 %<!-- end figure --> on the JPEG copy

(the words after `figure:` name it: see FIGURES). Both kinds of markers work in the markdown cells of the
instructor notebooks (solutions/*/*.ipynb) as in the pages, so a notebook's figures come from kit/recipes.py and
docs/data/ too; `make release` then carries them to assignments/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

from autograder.tools.bench import describe_decision, speed_decision
from kit.recipes import RECIPES, recipe

from ..api import TIERS
from ..assignments import REGISTRY
from ..platforms.student_kit import hidden_check_names
from ..runner import load_checks
from . import mutants
from .mutants import MUTANTS

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "data"
PAGE = ROOT / "docs" / "measurements.md"
CLASS = 300  # submissions: what the grading cost means for a class
# The cost a class of CLASS asks of one submission (issue "grade a class"): every assignment's train tier in at most
# TRAIN_S seconds and TRAIN_MB of peak memory on 2 cores, the quick tier at QUICK_PER_HOUR submissions an hour with
# --jobs 2
TARGETS = {"train_s": 60, "train_mb": 1536, "quick_per_hour": 1500, "quick_jobs": 2}
KINDS = ("bench", "grading-cost", "determinism", "notebook-timings", "protocol", "reference-runs")
# a marker is a line of its own (the same words quoted inside a line are text)
MARKER = re.compile(r"^(<!-- generated: ([A-Za-z0-9_-]+) -->\n)(.*?)^(<!-- end generated -->)$", re.S | re.M)
OPENING = re.compile(r"^<!-- generated: ([A-Za-z0-9_-]+) -->$", re.M)
HEADER = (
    "<!-- Written by `python -m autograder.tools.docs` (`make docs`) from the code and docs/data/*.json: "
    "do not edit by hand. -->"
)


class DocsError(Exception):
    """A page's markers or a measurement file cannot be used; the message says which and why."""


# ---------------------------------------------------------------- where a figure was measured
def machine() -> str:
    """'2-core AMD EPYC, no GPU, torch 2.14.1': the machine a measurement ran on, as the docs name it."""
    cpu = platform.processor() or platform.machine()
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    text = f"{os.cpu_count()}-core {cpu}" + (" with AVX512-BF16" if " avx512_bf16" in flags else "")
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        return f"{text}, {gpu}, torch {torch.__version__.split('+')[0]}"
    except ImportError:
        return text


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def envelope(kind: str, results, command: str, notes=(), source: str = "") -> dict:
    """A measurement as docs/data keeps it: what was measured, where, by which command, at which commit."""
    if kind not in KINDS:
        raise DocsError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    return {
        "kind": kind,
        "machine": machine(),
        "command": command,
        "date": dt.date.today().isoformat(),
        "commit": _commit(),
        "source": source,
        "notes": list(notes),
        "results": results,
    }


# ---------------------------------------------------------------- counts, from the code
def counts() -> list[dict]:
    """Per assignment: checks and points per tier, hidden checks, notebook points, mutants."""

    rows = []
    for entry in REGISTRY:
        checks = load_checks(entry.folder)
        rows.append(
            {
                "entry": entry,
                "tiers": {
                    t: (sum(c.tier == t for c in checks), sum(c.points for c in checks if c.tier == t)) for t in TIERS
                },
                "checks": len(checks),
                "points": sum(c.points for c in checks),
                "hidden": sum(c.hidden for c in checks),
                "notebook_points": sum(c.points for c in checks if c.in_notebook),
                "mutants": sum(m.assignment == entry.folder for m in MUTANTS),
            }
        )
    return rows


def _n(count: int, points: float) -> str:
    return f"{count} ({points:g})" if count else "–"


def render_counts(rows, base: Path) -> str:

    lines = [
        "| assignment | "
        + " | ".join(f"{t}: checks (points)" for t in TIERS)
        + " | all checks (points) | hidden checks | points in notebook test cells | mutants |",
        "|---|" + "---|" * (len(TIERS) + 4),
    ]
    total = {k: 0 for k in ("checks", "points", "hidden", "notebook_points", "mutants")}
    per_tier = {t: [0, 0.0] for t in TIERS}
    for r in rows:
        lines.append(
            f"| `{r['entry'].folder}` | "
            + " | ".join(_n(*r["tiers"][t]) for t in TIERS)
            + f" | {_n(r['checks'], r['points'])} | {r['hidden']} | {r['notebook_points']:g}"
            f" | {r['mutants']} |"
        )
        for k in total:
            total[k] += r[k]
        for t in TIERS:
            per_tier[t][0] += r["tiers"][t][0]
            per_tier[t][1] += r["tiers"][t][1]
    lines.append(
        f"| all {len(rows)} | "
        + " | ".join(_n(*per_tier[t]) for t in TIERS)
        + f" | {_n(total['checks'], total['points'])} | {total['hidden']} | {total['notebook_points']:g}"
        f" | {total['mutants']} |"
    )
    lines += [
        "",
        "Counted from the code by `python -m autograder.tools.docs`: the checks' `@check(points, tier, "
        "hidden, in_notebook)` functions in `autograder/checks/<assignment>.py` and the mutants of "
        "`autograder/tools/mutants.py`. A tier includes the ones before it when grading (`--tier train` grades "
        "quick + train). Hidden checks count in every grade but are not shipped to students; notebook test "
        "cells carry the points of every check except those declared `in_notebook=False` (long trainings "
        "graded by the CLI and the platforms only).",
    ]
    return "\n".join(lines)


def render_mutants(rows, base: Path) -> str:
    parts = [f"{r['entry'].short} {r['mutants']}" for r in rows]
    return (
        f"{sum(r['mutants'] for r in rows)} mutants ({', '.join(parts)}; counted from `autograder/tools/mutants.py`), "
        "each killed by the check it names with its hint, or `make mutants` exits 1 and `tests/test_mutants.py` "
        "fails."
    )


def render_instructor_only_mutants(rows, base: Path) -> str:
    """The mutants of autograder/tools/mutants.py that only hidden checks name: the student kit's grader (public checks
    only) cannot catch them; every other mutant fails its checks in both faces (tests/test_faces.py)."""

    hidden = hidden_check_names()
    only = [m for m in mutants.MUTANTS if m.checks and all(c in hidden.get(m.assignment, ()) for c in m.checks)]
    total = len(mutants.MUTANTS)
    if not only:
        return f"None: each of the {total} mutants fails a public check in both faces."
    names = ", ".join(f"`{m.id}` ({', '.join(m.checks)})" for m in only)
    return f"{len(only)} of the {total} mutants, caught by hidden checks only: {names}."


def render_assignments(rows, base: Path) -> str:
    lines = []
    for r in rows:
        e = r["entry"]
        link = os.path.relpath(ROOT / e.doc, base)
        quick, quick_points = r["tiers"]["quick"]
        lines.append(
            f"- [Assignment {e.short[1:]} — {e.title} (`{e.folder}`)]({link}): {r['checks']} checks "
            f"({r['points']:g} points), {quick} of them quick ({quick_points:g} points)"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- measurements, from docs/data
def load_measurements(folder: Path = DATA) -> list[dict]:
    """Every measurement file of `folder`, each with "file" (its name) and "kind"; newest first within a kind."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except ValueError as err:
            raise DocsError(f"{path}: not JSON ({err})") from None
        if not isinstance(record, dict):
            raise DocsError(f"{path}: expected an object with kind, machine, command and results")
        record = dict(record, file=path.name)
        if "kind" not in record and path.name.startswith("notebook-timings"):
            record["kind"] = "notebook-timings"  # written by python -m autograder.tools.reference_notebooks --record
        missing = [k for k in ("kind", "machine") if not record.get(k)]
        if missing or record["kind"] not in KINDS:
            raise DocsError(
                f"{path}: needs {' and '.join(missing) or 'a known kind'} (kinds: {', '.join(KINDS)}); "
                "keep measurements with `python -m autograder.tools.docs record`"
            )
        found.append(record)
    found.sort(key=lambda r: (KINDS.index(r["kind"]), _negate(r.get("date", "")), r["file"]))
    return found


def _negate(date: str) -> tuple:
    return tuple(-ord(c) for c in date)


def _pct(x, digits: int = 2) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f} %"


def _threshold(x) -> str:
    return "–" if x is None else f"{100 * x:.4g} %"


def _sig(x, unit: str = "") -> str:
    return "–" if x is None else f"{x:.3g}{unit}"


def _about(record: dict, base: Path, settings: str = "") -> str:
    """The lines under a measurement's heading: machine, command, date, commit, source, notes."""
    bits = [
        f"Machine: **{record['machine']}**" + (f" ({settings})" if settings else ""),
        f"command: `{record['command']}`" if record.get("command") else "",
    ]
    when = " at ".join(x for x in (_day(record), f"`{record['commit']}`" if record.get("commit") else "") if x)
    bits.append(f"measured {when}".replace(" at `", ", commit `") if when else "")
    link = os.path.relpath(DATA / record["file"], base)
    text = "; ".join(b for b in bits if b) + f" ([{record['file']}]({link}))."
    if record.get("source"):
        text += f" {record['source'].rstrip('.')}."
    notes = record.get("notes") or []
    return text + "".join(f"\n- {n}" for n in notes)


def _day(record: dict) -> str:
    """The date part of "date" (which may carry a time, to order measurements of one day)."""
    return str(record.get("date", ""))[:10]


def _heading(record: dict, what: str) -> str:
    return f"### {what} — {record['machine']}, {_day(record) or 'date not recorded'}"


def render_bench(record: dict, base: Path) -> str:
    out = []
    for result in record["results"]:
        device = result.get("device", "cpu")
        run = "full" if result.get("full") else "short"
        settings = ", ".join(
            x
            for x in (
                f"{result['threads']} threads" if result.get("threads") else "",
                f"CNN in {result['precision']}" if result.get("precision") else "",
            )
            if x
        )
        out.append(_heading(record, f"`make bench{' FULL=1' if result.get('full') else ''}` ({run} runs, {device})"))
        out += ["", _about(record, base, settings)]
        out += [
            "",
            "| model | recipe | epochs | s / epoch | images / s | test acc. | target | time to target |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for m in result.get("models", []):
            if m.get("time_to_target_s") is not None:
                reached = _sig(m["time_to_target_s"], " s")
            else:
                reached = m.get("unreached", "not reached")
            images = "–" if m.get("images_per_s") is None else f"{m['images_per_s']:,.0f}"
            out.append(
                f"| {m['model']} | {m.get('recipe', '')} | {m.get('epochs', '–')} | "
                f"{_sig(m.get('s_per_epoch'))} | {images} | {_pct(m.get('test_acc'))} | "
                f"{_threshold(m.get('target'))} | {reached} |"
            )
        steps = result.get("cnn_step") or {}
        lines = []
        for precision, c in steps.items():
            parts = []
            if c.get("flops") is not None:
                parts.append(f"{c['flops'] / 1e9:.2f} GFLOP")
            if c.get("seconds") is not None:
                parts.append(f"{c['seconds'] * 1e3:.0f} ms")
            if c.get("flop_per_s") is not None:
                parts.append(f"{c['flop_per_s'] / 1e9:.0f} GFLOP/s")
            if c.get("fraction_of_matmul") is not None:
                parts.append(
                    f"{100 * c['fraction_of_matmul']:.0f} % of the measured dense {precision} matmul rate"
                    + (f" ({c['matmul_flop_per_s'] / 1e9:.0f} GFLOP/s)" if c.get("matmul_flop_per_s") else "")
                )
            lines.append(f"{precision}: " + ", ".join(parts))
        if lines:
            out += ["", "Course CNN training step, batch 128 — " + "; ".join(lines) + "."]
        if result.get("quick_tier_s") is not None:
            out += [
                "",
                f"Quick tier of every assignment (`python -m autograder grade --tier quick`): "
                f"{result['quick_tier_s']:.1f} s.",
            ]

        decision = speed_decision(result)
        if decision.get("precision"):
            out += ["", f"Speed switches left to `auto` chose {describe_decision(decision)}."]
        sandbox = result.get("sandbox")
        if sandbox:
            out += [
                "",
                f"Sandbox ({sandbox['level']}): start {sandbox['start_s']:.2f} s per submission; per check "
                f"{sandbox['check_median_s'] * 1e3:.0f} ms median, {sandbox['check_max_s'] * 1e3:.0f} ms max "
                f"over {sandbox['checks']} round trips.",
            ]
        if result.get("grading_cost"):
            out += ["", _cost_table(result["grading_cost"])]
        out.append("")
    return "\n".join(out).rstrip("\n")


def _cost_table(rows) -> str:
    lines = ["| assignment | tier | seconds | peak memory | reference scored |", "|---|---|---|---|---|"]
    sums: dict[str, float] = {}
    for r in rows:
        tier = "quick + train" if r["tier"] == "train" else r["tier"]
        lines.append(
            f"| `{r['assignment']}` | {tier} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} MB | {r.get('points', '')} |"
        )
        sums[tier] = sums.get(tier, 0.0) + r["seconds"]
    every = ", ".join(f"{tier} {s:.0f} s" for tier, s in sums.items())
    class_ = " and ".join(f"{CLASS * s / 3600:.1f} h" for s in sums.values())
    lines += [
        "",
        f"One submission of every assignment above, the rows added up: {every}; a class of {CLASS} "
        f"submissions: {class_} of this machine, one submission after another.",
    ]
    trained = [r for r in rows if r["tier"] == "train"]
    if trained:
        seconds, peak = sum(r["seconds"] for r in trained), max(r["peak_mb"] for r in trained)
        met = seconds <= TARGETS["train_s"] and peak <= TARGETS["train_mb"]
        lines += [""]
        lines.append(
            f"Target: the train tier of every assignment in at most {TARGETS['train_s']} s and "
            f"{TARGETS['train_mb']:,} MB: {seconds:.0f} s and at most {peak:,.0f} MB, "
            + ("met." if met else "**not met**.")
        )
    return "\n".join(lines)


def _throughput_table(rows) -> str:
    first = rows[0]
    lines = [
        f"`grade-many` on {first['submissions']} copies of the reference, {first['tier']} tier of every assignment, "
        "after one untimed grading:",
        "",
        "| --jobs | seconds | submissions per hour |",
        "|---|---|---|",
    ]
    lines += [
        f"| {r['jobs']} | {r['seconds']:.0f} | {r['per_hour']:.0f}{'' if r.get('status', 0) == 0 else ' (failed)'} |"
        for r in rows
    ]
    at = [r for r in rows if r["jobs"] == TARGETS["quick_jobs"] and r["tier"] == "quick"]
    if at:
        rate = at[0]["per_hour"]
        lines += [
            "",
            f"Target: {TARGETS['quick_per_hour']:,} submissions an hour at the quick tier with --jobs "
            f"{TARGETS['quick_jobs']}: {rate:,.0f}, "
            + ("met." if rate >= TARGETS["quick_per_hour"] else "**not met**."),
        ]
    return "\n".join(lines)


def render_grading_cost(record: dict, base: Path, heading: bool = True, part: str = "both") -> str:
    """A grading-cost record: one submission per assignment and tier (`grading_cost`) and grade-many's rate
    (`grading_throughput`), or only `part` of them ("cost", "throughput")."""
    costs = any(r.get("grading_cost") for r in record["results"])
    what = "Grading one submission" if costs else "Grading a class (`grade-many`)"
    out = [_heading(record, what), ""] if heading else []
    out.append(_about(record, base))
    for result in record["results"]:
        if result.get("grading_cost") and part in ("both", "cost"):
            out += ["", _cost_table(result["grading_cost"])]
        if result.get("grading_throughput") and part in ("both", "throughput"):
            out += ["", _throughput_table(result["grading_throughput"])]
    return "\n".join(out)


def _latest_with(records, kind: str, key: str) -> dict:
    """The newest record of `kind` whose results hold `key`."""
    for record in records:
        if record["kind"] == kind and any(isinstance(r, dict) and r.get(key) for r in record["results"]):
            return record
    raise DocsError(f"no {kind} measurement with {key} in docs/data/")


def render_determinism(record: dict, base: Path) -> str:
    results = record["results"]
    what = f"{results.get('runs', '?')} seeds"
    graded = sorted({c["check"].split("_", 1)[0] for c in results["checks"]})
    out = [
        _heading(record, f"{', '.join(graded)}, {what}"),
        "",
        _about(record, base),
        "",
        "| passed | min | median | max | threshold | check | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in results["checks"]:
        note = c.get("note", "")
        if c.get("values"):  # written since determinism kept each seed's figures
            seeds = ", ".join(_pct(v) for v in c["values"])
            seconds = " / ".join(f"{x:,.0f}" for x in c.get("seconds", []))
            note = "; ".join(x for x in (note, f"per seed: {seeds}" + (f" ({seconds} s)" if seconds else "")) if x)
        out.append(
            f"| {c['passed']} / {c['runs']} | {_pct(c.get('min'))} | {_pct(c.get('median'))} | "
            f"{_pct(c.get('max'))} | {_threshold(c.get('threshold'))} | `{c['check']}` | {note} |"
        )
    flaky = sum(c["passed"] < c["runs"] for c in results["checks"])
    out += ["", f"{flaky} flaky check(s) over {what}."]
    return "\n".join(out)


def render_notebook_timings(record: dict, base: Path) -> str:
    budget = record.get("budget", "full")
    command = f"python -m autograder.tools.reference_notebooks --budget {budget}"
    out = [
        _heading(record, f"Instructor notebooks, executed top to bottom ({budget} budget)"),
        "",
        _about({**record, "command": record.get("command", command)}, base),
        "",
        "| notebook | seconds | longest part | error |",
        "|---|---|---|---|",
    ]
    notebooks = sorted(record.get("notebooks", {}).items())
    for name, nb in notebooks:
        parts = nb.get("parts") or {}
        longest = max(parts.items(), key=lambda kv: kv[1]) if parts else None
        error = nb.get("error") or ""
        if error == "stopped":
            error = f"stopped after {sum(1 for c in nb.get('cells', []) if c.get('seconds') is not None)} code cells"
        out.append(
            f"| `{name}` | {nb.get('seconds', 0):.0f} | "
            + (f"{longest[0]} ({longest[1]:.0f} s)" if longest else "–")
            + f" | {error} |"
        )
    for name, nb in notebooks:
        out += [
            "",
            f"`{name}`, seconds per part: "
            + "; ".join(f"{part} {sec:.0f}" for part, sec in (nb.get("parts") or {}).items())
            + ".",
        ]
        long = [c for c in nb.get("cells", []) if (c.get("seconds") or 0) >= LONG_CELL_S]
        if long:
            out.append(
                f"Cells of {LONG_CELL_S} s or more: "
                + "; ".join(
                    f"cell {c['cell']} `{c['first_line'].replace('|', '/')}` {c['seconds']:.0f} s" for c in long
                )
                + "."
            )
    return "\n".join(out)


LONG_CELL_S = 30  # cells listed one by one on the measurements page


def protocol_rows(record: dict) -> list[dict]:
    """Per variant of a protocol record (python -m autograder.tools.protocols): the seeds' best validation and last
    training accuracies and wall seconds, and the change of the best validation accuracy from the variant before,
    seed by seed."""
    runs = record["results"]["runs"]
    seeds = sorted({r["seed"] for r in runs})
    by = {(r["variant"], r["seed"]): r for r in runs}
    rows, before = [], None
    for variant in record["results"]["variants"]:
        mine = [by[(variant, s)] for s in seeds if (variant, s) in by]
        if not mine:
            break
        row = {
            "variant": variant,
            "seeds": len(mine),
            "val": [r["best_val_acc"] for r in mine],
            "train": [r["train_acc"] for r in mine],
            "seconds": [r["wall_seconds"] for r in mine],
        }
        if before is not None:
            pairs = [(by[(variant, s)], by[(before, s)]) for s in seeds if (variant, s) in by and (before, s) in by]
            row["change"] = [a["best_val_acc"] - b["best_val_acc"] for a, b in pairs]
        rows.append(row)
        before = variant
    return rows


def _span(values, scale: float = 100, digits: int = 1, unit: str = " %") -> str:
    lo, hi = min(values), max(values)
    return f"{scale * lo:.{digits}f}{unit}" if lo == hi else f"{scale * lo:.{digits}f}–{scale * hi:.{digits}f}{unit}"


def _signed_points(change: list) -> str:
    """'+1.5 to +3.2 points': the spread of a change in accuracy over the seeds, signed."""
    lo, hi = (f"{100 * x:+.1f}".replace("-", "−") for x in (min(change), max(change)))
    return f"{lo if lo == hi else f'{lo} to {hi}'} points"


def render_protocol_table(record: dict) -> str:
    """The table of a protocol record: one row per variant, the spread over the seeds."""
    out = [
        "| variant | best validation accuracy | change from the row above (seeds where it rose) | "
        "training accuracy, last epoch | seconds |",
        "|---|---|---|---|---|",
    ]
    for row in protocol_rows(record):
        change = row.get("change")
        moved = f"{_signed_points(change)} ({sum(c > 0 for c in change)} of {len(change)})" if change else "–"
        out.append(
            f"| {row['variant']} | {_span(row['val'])} | {moved} | {_span(row['train'])} | "
            f"{_span(row['seconds'], scale=1, digits=0, unit=' s')} |"
        )
    return "\n".join(out)


def render_protocol(record: dict, base: Path) -> str:
    results = record["results"]
    settings = ", ".join(f"{k} {v}" for k, v in results["settings"].items())
    seeds = sorted({r["seed"] for r in results["runs"]})
    return "\n".join(
        [
            _heading(record, f"{results['recipe']}: the stacked ablation over {len(seeds)} seeds"),
            "",
            _about(record, base, settings),
            "",
            render_protocol_table(record),
        ]
    )


def render_reference_runs(record: dict, base: Path, heading: bool = True) -> str:
    """A reference-runs record: runs measured before the kit kept their JSON, transcribed once from the page that
    typed them (its machine, command, date and the page's commit in the record), as one table."""
    results = record["results"]
    out = [_heading(record, results["title"]), ""] if heading else []
    out += [
        _about(record, base),
        "",
        "| " + " | ".join(results["columns"]) + " |",
        "|" + "---|" * len(results["columns"]),
    ]
    for row in results["rows"]:
        if len(row) != len(results["columns"]):
            raise DocsError(f"{record['file']}: row {row} has not {len(results['columns'])} cells")
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def _named_record(records, kind: str, key: str, value: str, how: str = "") -> dict:
    """The newest record of `kind` whose results[key] is `value` (a protocol's recipe, a reference-runs' name)."""
    found = _newest(records, kind, lambda r: r if r["results"].get(key) == value else None)
    if found is None:
        raise DocsError(f"no {kind} record of {value} in docs/data{how}")
    return found


RENDER = {
    "bench": render_bench,
    "grading-cost": render_grading_cost,
    "determinism": render_determinism,
    "notebook-timings": render_notebook_timings,
    "protocol": render_protocol,
    "reference-runs": render_reference_runs,
}
SECTIONS = {
    "bench": (
        "Speed",
        "`make bench` (`python -m autograder.tools.bench`): seconds per epoch, images per second, test accuracy and time to each model's "
        "target; the course CNN's training step against the machine's own matmul rate. What the figures "
        "mean: [speed.md](speed.md).",
    ),
    "grading-cost": (
        "Cost of grading",
        "`python -m autograder.tools.bench --grading-cost`: the reference modules graded by `python -m autograder grade --submission solutions "
        "--assignment A --tier T`, alone, each row a fresh grader process; memory as the peak of the "
        "summed PSS of the grader's process tree (judge, sandbox, check). `python -m autograder.tools.bench "
        "--grading-throughput`: `grade-many`'s submissions per hour at several `--jobs`. What it means for each "
        "platform: [platforms.md](platforms.md).",
    ),
    "determinism": (
        "Flaky thresholds",
        "`python -m autograder determinism`: the reference graded once per seed offset (`KIT_SEED_OFFSET=k` shifts every seed of the kit's "
        "trainings); each train-tier check's pass count and the accuracy it measured (its worst "
        "training when it has several).",
    ),
    "protocol": (
        "Short protocols",
        "`python -m autograder.tools.protocols RECIPE`: a notebook's short training protocol, measured over seeds "
        "with the reference solutions, to show which effects a laptop's budget can show (the ranges are over the "
        "seeds).",
    ),
    "reference-runs": (
        "Reference runs transcribed from the course pages",
        "Runs of the reference measured before the kit kept their output as JSON: their figures were typed in the "
        "course pages, and were transcribed once, as the pages gave them, into docs/data (each record names the page "
        "and commit it came from); the pages now show them from here (`<!-- generated: runs-NAME -->`).",
    ),
    "notebook-timings": (
        "Instructor notebooks",
        "`make reference-notebooks`: each instructor notebook executed top to bottom, answer keys included.",
    ),
}


def render_page(rows, records, base: Path = PAGE.parent) -> str:
    out = [
        HEADER,
        "",
        "# Measured figures, and what the grader holds",
        "",
        "Every figure on this page names the machine it was measured on and the command that measured it; "
        "the counts come from the code. The page is written by `make docs` (`python -m autograder.tools.docs`) "
        "from the JSON files in [data/](data/); how to add a measurement: "
        "[maintainers.md](maintainers.md#regenerating-the-docs).",
        "",
        "## What the grader holds (from the code)",
        "",
        render_counts(rows, base),
        "",
        render_mutants(rows, base),
    ]
    for kind in KINDS:
        mine = [r for r in records if r["kind"] == kind]
        if not mine:
            continue
        title, intro = SECTIONS[kind]
        out += ["", f"## {title}", "", intro]
        for record in mine:
            out += ["", RENDER[kind](record, base)]
    return "\n".join(out).rstrip("\n") + "\n"


def _setting(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {v}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"  # 10,000 images, as the pages write counts
    return f"{value:g}" if isinstance(value, float) else str(value)


def _measured(check_ids, records, base: Path) -> str:
    """The newest determinism record of each check: min-max of the accuracy over its seeds, with a link."""
    link = os.path.relpath(PAGE, base)
    found = []
    for record in records:
        if record["kind"] != "determinism":
            continue
        for row in record["results"].get("checks", []):
            if row["check"] in check_ids and row["check"] not in {f[0] for f in found} and row.get("min") is not None:
                spread = _pct(row["min"]) if row["min"] == row["max"] else f"{_pct(row['min'])}–{_pct(row['max'])}"
                where = record["results"].get("data_source")
                who = f"{row['check'].split('/')[-1]}: " if len(check_ids) > 1 else ""
                found.append(
                    (
                        row["check"],
                        f"{who}{spread} over {row['runs']} seed{'s' * (row['runs'] > 1)}"
                        f"{f' ({where})' if where else ''}, [{_day(record)}]({link})",
                    )
                )
    return "; ".join(text for _, text in sorted(found)) or "not yet measured"


def render_recipes(rows, records, base: Path) -> str:
    """Every named recipe of kit/recipes.py: its settings, its threshold by data source, its target, the
    checks that grade it and what they measured (the newest determinism record in docs/data/)."""

    graded = {}
    for r in rows:
        for c in load_checks(r["entry"].folder):
            if c.recipe:
                graded.setdefault(c.recipe, []).append(c)
    lines = [
        "| recipe | trains | settings | threshold | target (a student's report) | graded by | measured |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, found in RECIPES.items():
        checks = graded.get(name, [])
        settings = ", ".join(f"{k} {_setting(v)}" for k, v in found.settings.items()) or "–"
        threshold = (
            ", ".join(
                _threshold(v) if source == "any" else f"{_threshold(v)} ({source})"
                for source, v in found.threshold.items()
            )
            or "–"
        )
        target = _threshold(found.target) if found.target is not None else "–"
        by = ", ".join(f"`{c.id}` ({c.tier})" for c in checks) or "autograder.tools.bench only"
        measured = _measured({c.id for c in checks}, records, base) if checks else "–"
        lines.append(f"| `{name}` | {found.what} | {settings} | {threshold} | {target} | {by} | {measured} |")
    lines += [
        "",
        "Written by `make docs` from `kit/recipes.py` (each recipe's settings, threshold by data source and "
        "target, one line each; the targets are figures of one student's report of the course, not the course's, "
        "and `make bench` times the models to them), the checks that name it (`@check(..., recipe=NAME)`) and the "
        "newest `python -m autograder determinism --json` record of each check in `docs/data/`. Data "
        "sources: `original` is CIFAR-10 as torchvision downloads it, `jpeg-q75` the offline mirror's JPEG "
        "export; `data_scripts.cifar10_source()` tells which one a machine has.",
    ]
    return "\n".join(lines)


def render_gradescope_points(rows, base: Path) -> str:
    """The total to type as a Gradescope assignment's points: every check up to the tier run_autograder grades,
    hidden checks included (Gradescope adds up the tests of results.json)."""
    lines = ["| assignment | quick tier (`--tier quick`) | train tier (the default) |", "|---|---|---|"]
    for r in rows:
        quick = r["tiers"]["quick"][1]
        lines.append(f"| `{r['entry'].folder}` | {quick:g} | {quick + r['tiers']['train'][1]:g} |")
    return "\n".join(lines)


def notebook_points(folder: str) -> dict:
    """The points of the reference notebook of `folder` as nbgrader counts them: auto-graded test cells (those with
    a hidden-tests region apart), manually graded answers."""
    nb = json.loads((ROOT / "solutions" / folder / f"{folder}.ipynb").read_text())
    points = {"auto": 0.0, "hidden": 0.0, "manual": 0.0}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        kind = (
            "manual"
            if meta.get("solution")
            else "hidden"
            if "BEGIN HIDDEN TESTS" in "".join(cell["source"])
            else "auto"
        )
        points[kind] += float(meta.get("points", 0))
    return points


def render_nbgrader_points(rows, base: Path) -> str:
    """Per assignment, what `nbgrader export`'s grades.csv counts: the test cells' points (the hidden tests' among
    them) and the written answers' (graded by hand in formgrader)."""
    lines = [
        "| assignment | auto-graded test cells | of which hidden tests | written answers (graded by hand) | total |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        pts = notebook_points(r["entry"].folder)
        auto = pts["auto"] + pts["hidden"]
        lines.append(
            f"| `{r['entry'].folder}` | {auto:g} | {pts['hidden']:g} | {pts['manual']:g} | {auto + pts['manual']:g} |"
        )
    return "\n".join(lines)


def _protocol(recipe_name: str, records) -> dict:
    return _named_record(records, "protocol", "recipe", recipe_name, " (python -m autograder.tools.protocols)")


def render_protocol_block(recipe_name: str, records, base: Path) -> str:
    record = _protocol(recipe_name, records)
    return "\n".join([_about(record, base), "", render_protocol_table(record)])


BLOCKS = {
    "a2-laptop-ablation": lambda rows, records, base: render_protocol_block("a2.laptop", records, base),
    "recipes": render_recipes,
    "nbgrader-points": lambda rows, records, base: render_nbgrader_points(rows, base),
    "instructor-only-mutants": lambda rows, records, base: render_instructor_only_mutants(rows, base),
    "gradescope-points": lambda rows, records, base: render_gradescope_points(rows, base),
    "counts": lambda rows, records, base: render_counts(rows, base),
    "mutants": lambda rows, records, base: render_mutants(rows, base),
    "assignments": lambda rows, records, base: render_assignments(rows, base),
    "grading-cost": lambda rows, records, base: render_grading_cost(
        _latest_with(records, "grading-cost", "grading_cost"), base, heading=False, part="cost"
    ),
    "grading-throughput": lambda rows, records, base: render_grading_cost(
        _latest_with(records, "grading-cost", "grading_throughput"), base, heading=False, part="throughput"
    ),
}

RUNS = "runs-"  # `<!-- generated: runs-NAME -->`: the reference-runs record of docs/data named NAME


def fill_blocks(text: str, rows, records, base: Path, name: str = "") -> str:
    """`text` with every generated block written anew."""
    opened = OPENING.findall(text)
    matches = list(MARKER.finditer(text))
    if len(opened) != len(matches):
        raise DocsError(f"{name}: a `<!-- generated: NAME -->` marker has no `<!-- end generated -->`")
    for m in matches:
        if m.group(2) not in BLOCKS and not m.group(2).startswith(RUNS):
            raise DocsError(f"{name}: unknown generated block {m.group(2)!r}; known: {', '.join(BLOCKS)}, {RUNS}NAME")

    def fill(m):
        block = m.group(2)
        if block.startswith(RUNS):  # a reference-runs record of docs/data, by its name
            body = render_reference_runs(
                _named_record(records, "reference-runs", "name", block[len(RUNS) :]), base, heading=False
            )
        else:
            body = BLOCKS[block](rows, records, base)
        return f"{m.group(1)}{body}\n{m.group(4)}"

    return fill_figures(MARKER.sub(fill, text), records, name)


def pages_with_blocks() -> list[Path]:
    candidates = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [
        p for p in candidates if p != PAGE and (OPENING.search(p.read_text()) or FIGURE_OPENING.search(p.read_text()))
    ]


def render_all(data: Path = DATA) -> dict[Path, str]:
    """Every file `make docs` writes, with its new text."""
    rows, records = counts(), load_measurements(data)
    out = {PAGE: render_page(rows, records)}
    for path in pages_with_blocks():
        out[path] = fill_blocks(path.read_text(), rows, records, path.parent, str(path.relative_to(ROOT)))
    for path in notebooks_with_figures():
        out[path] = fill_notebook(
            path.read_text(), rows, records, path.parent, f"solutions/{path.relative_to(NOTEBOOKS)}"
        )
    return out


def stale(data: Path = DATA) -> list[Path]:
    """The files whose text differs from what `make docs` would write now."""
    return [p for p, text in render_all(data).items() if not p.is_file() or p.read_text() != text]


# ---------------------------------------------------------------- figures inside a sentence
# a figure's markers quoted in `code` are text (as the docs that explain them quote them)
FIGURE = re.compile(r"(?<!`)<!-- figure: ([^<>]+?) -->(.*?)<!-- end figure -->", re.S)
FIGURE_OPENING = re.compile(r"(?<!`)<!-- figure: ")
NOTEBOOKS = ROOT / "solutions"


def _recipe(name: str):
    try:
        return recipe(name)
    except KeyError as err:
        raise DocsError(str(err).strip("'\"")) from None


def _newest(records, kind: str, found):
    """The first (newest) record of `kind` for which found(record) is not None, and that value."""
    for record in records:
        if record["kind"] == kind:
            value = found(record)
            if value is not None:
                return value
    return None


def _measured_plain(check_id: str, records, passed: bool = False) -> str | None:
    """'98.16 %–98.35 % over 20 seeds' (the accuracies) or, `passed`, '20 of 20 seeds'."""

    def found(record):
        for row in record["results"].get("checks", []):
            if row["check"] == check_id and passed:
                return f"{row['passed']} of {row['runs']} seed{'s' * (row['runs'] > 1)}"
            if row["check"] == check_id and row.get("min") is not None:
                spread = _pct(row["min"]) if row["min"] == row["max"] else f"{_pct(row['min'])}–{_pct(row['max'])}"
                return f"{spread} over {row['runs']} seed{'s' * (row['runs'] > 1)}"
        return None

    return _newest(records, "determinism", found)


def _bench(model: str, field: str, records) -> str | None:
    def found(record):
        for result in record["results"]:
            for m in result.get("models", []):
                if m["model"] == model and m.get(field) is not None:
                    value = m[field]
                    return _pct(value) if field == "test_acc" else _duration(value)
        return None

    return _newest(records, "bench", found)


def _duration(seconds: float) -> str:
    """How a time reads in prose: '40 s', 'about 3 min'."""
    return f"{seconds:.0f} s" if seconds < 90 else f"about {seconds / 60:.0f} min"


def _part_time(assignment: str, part: str | None, records) -> str | None:
    """How long the instructor notebook's part (a heading's start: "Part 3"; None: the whole notebook) took, full
    budget, and where."""

    def found(record):
        if record.get("budget", "full") != "full":
            return None
        notebook = record.get("notebooks", {}).get(assignment) or {}
        parts = notebook.get("parts") or {}
        if part is None:
            hits = [notebook["seconds"]] if notebook.get("seconds") is not None else []
        elif part.startswith("cell "):  # one cell, by its nbgrader id: "cell bonus_zca"
            hits = [c["seconds"] for c in notebook.get("cells", []) if c.get("id") == part[5:] and c.get("seconds")]
        else:
            hits = [s for name, s in parts.items() if name == part or name.startswith(part + " ")]
        where = record["machine"].split(",")[0]  # '2-core AMD EPYC': what a student compares with
        return f"{_duration(sum(hits))} on a {where}" if hits else None

    return _newest(records, "notebook-timings", found)


def _protocol_time(recipe_name: str, records) -> str:
    """How long one seed's whole protocol took (the median seed: a seed that shared the cores is an outlier), and
    where."""
    record = _protocol(recipe_name, records)
    per_seed: dict = {}
    for run in record["results"]["runs"]:
        per_seed[run["seed"]] = per_seed.get(run["seed"], 0.0) + run["wall_seconds"]
    return f"{_duration(statistics.median(per_seed.values()))} on a {record['machine'].split(',')[0]}"


def _protocol_variant(recipe_name: str, field: str, variant: str, records) -> str:
    """A variant's row of a protocol, over its seeds: "val" / "train" accuracies "55.0–58.3 %", or "change" from
    the variant before "+3.3 to +6.7 points, in 3 of 3 seeds"."""
    rows = {row["variant"]: row for row in protocol_rows(_protocol(recipe_name, records))}
    if variant not in rows or field not in ("val", "train", "change") or not rows[variant].get(field):
        raise KeyError(f"protocol {recipe_name}: no {field} for variant {variant!r} (variants: {', '.join(rows)})")
    values = rows[variant][field]
    if field != "change":
        return f"{_span(values)} over {len(values)} seed{'s' * (len(values) > 1)}"
    return f"{_signed_points(values)}, in {sum(v > 0 for v in values)} of {len(values)} seeds"


def figure(name: str, records) -> str:
    """The text of the inline figure `name` (its words, separated by spaces):

    threshold RECIPE [SOURCE]   the accuracy the recipe's check asks for (kit/recipes.py)       "66 %"
    target RECIPE               the target kit/recipes.py gives the recipe                      "85 %"
    setting RECIPE KEY          one of the recipe's trainer settings                            "15"
    measured CHECK              the newest determinism record of a check (docs/data)            "67.71 %–69.14 % over 3 seeds"
    passed CHECK                the same record's pass count                                    "20 of 20 seeds"
    bench "MODEL" FIELD         the newest bench record of a model: test_acc, s_per_epoch, time_to_target_s
                                                                                                "98.61 %", "29 s"
    time ASSIGNMENT ["PART"]    the full-budget time of a notebook, of its part ("Part 3") or of one cell by its
                                nbgrader id ("cell ablation"), notebook-timings-full.json
                                                                                                "about 6 min on a 2-core AMD EPYC"
    protocol RECIPE time        a protocol's training time for one seed (the median seed), from its newest record
                                                                                                "about 8 min on a 2-core AMD EPYC"
    protocol RECIPE FIELD "VARIANT"   a variant's best validation ("val") or last training ("train") accuracy over
                                the seeds, or its "change" from the variant before      "+3.3 to +6.7 points, in 3 of 3 seeds"
    """
    import shlex

    kind, *args = shlex.split(name)
    try:
        if kind == "threshold" and len(args) in (1, 2):
            return _threshold(_recipe(args[0]).threshold_for(*args[1:]))
        if kind == "target" and len(args) == 1 and _recipe(args[0]).target is not None:
            return _threshold(_recipe(args[0]).target)
        if kind == "setting" and len(args) == 2:
            return _setting(_recipe(args[0]).settings[args[1]])
        value = None
        if kind in ("measured", "passed") and len(args) == 1:
            value = _measured_plain(args[0], records, passed=kind == "passed")
        elif kind == "bench" and len(args) == 2:
            value = _bench(args[0], args[1], records)
        elif kind == "protocol" and len(args) == 2 and args[1] == "time":
            value = _protocol_time(args[0], records)
        elif kind == "protocol" and len(args) == 3:
            value = _protocol_variant(args[0], args[1], args[2], records)
        elif kind == "time" and len(args) in (1, 2):
            value = _part_time(args[0], (args[1:] or [None])[0], records)
        if value is not None:
            return value
    except KeyError as err:
        raise DocsError(f"figure {name!r}: {err}") from None
    raise DocsError(f"figure {name!r}: no such figure (kit/recipes.py, docs/data); see autograder.tools.docs.figure")


def fill_figures(text: str, records, name: str = "") -> str:
    """`text` with every inline figure written anew."""
    if len(FIGURE_OPENING.findall(text)) != len(FIGURE.findall(text)):
        raise DocsError(f"{name}: a `<!-- figure: NAME -->` marker has no `<!-- end figure -->`")
    try:
        return FIGURE.sub(
            lambda m: f"<!-- figure: {m.group(1)} -->{figure(m.group(1), records)}<!-- end figure -->", text
        )
    except DocsError as err:
        raise DocsError(f"{name}: {err}") from None


def notebooks_with_figures() -> list[Path]:
    """The instructor notebooks whose markdown cells hold generated blocks or figures."""
    found = []
    for path in sorted(NOTEBOOKS.glob("*/*.ipynb")):
        text = path.read_text()
        if "<!-- generated: " in text or "<!-- figure: " in text:
            found.append(path)
    return found


def fill_notebook(text: str, rows, records, base: Path, name: str = "") -> str:
    """A notebook's JSON with the blocks and figures of its markdown cells written anew (code cells as they are)."""
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = fill_blocks(cell.source, rows, records, base, f"{name}, cell {i}")
    return nbformat.writes(nb) + "\n"


# a measured figure typed in a notebook's text: a number with a percent sign or a unit of time (a range counts once)
TYPED = re.compile(
    r"(?<![\w.,])\d+(?:[.,]\d+)*(?:\s*[-–]\s*\d+(?:[.,]\d+)*)?\s*(?:%|(?:s|seconds?|min|minutes?|h|hours?)\b)"
)
# numbers of that shape that are not measurements, each with why (keep this list short)
NOT_MEASURED = {
    "about 10 %": "chance with ten balanced classes (a2's initial accuracy): 1/10, not a measurement",
    "≈ log 10, 10 %": "the same chance level, as a2.md's coverage table states the course's question 17",
    "allows 1 % more": "a4's check tolerance over L-BFGS's optimum, set in autograder/checks/a4_gaussian_fit.py",
}
COURSE = ROOT / "docs" / "course"
# the one table column of the course pages that types times on purpose: each page's "Parts" table gives a student's
# hours per part under "estimate", written for planning and labelled "not measured" above the table
ESTIMATE = "estimate"


def _typed(text: str) -> list[str]:
    """The figures TYPED in `text`, other than NOT_MEASURED."""
    for allowed in NOT_MEASURED:
        text = text.replace(allowed, "")
    return [m.group(0) for m in TYPED.finditer(text)]


def typed_figures(path: Path) -> list[str]:
    """'cell 12: 98.61 %': the figures typed in a notebook's markdown cells and code comments, outside generated
    blocks and figures and other than NOT_MEASURED; tests/test_docs.py asks for none."""
    import nbformat

    found = []
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        text = cell.source
        if cell.cell_type == "code":
            text = "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
        elif cell.cell_type != "markdown":
            continue
        found += [f"cell {i}: {figure}" for figure in _typed(FIGURE.sub("", MARKER.sub("", text)))]
    return found


def _blank(m: re.Match) -> str:
    return "\n" * m.group(0).count("\n")  # keeps the page's line numbers


def typed_in_page(path: Path) -> list[str]:
    """'line 308: 80.98 %': the figures typed in a page's text, outside generated blocks and figures, the ESTIMATE
    column of its tables and NOT_MEASURED. tests/test_docs.py asks for none in the course pages."""
    text = FIGURE.sub(_blank, MARKER.sub(_blank, path.read_text()))
    found, column, in_table = [], None, False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("|"):
            cells = line.split("|")
            if not in_table:  # a table's header row names its columns
                names = [c.strip() for c in cells]
                column = names.index(ESTIMATE) if ESTIMATE in names else None
            elif column is not None and len(cells) > column:
                line = "|".join(cells[:column] + cells[column + 1 :])
        in_table = line.startswith("|")
        found += [f"line {number}: {figure}" for figure in _typed(line)]
    return found


def record_main(argv) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.tools.docs record",
        description="keep a measurement's JSON in docs/data/, naming this machine",
    )
    parser.add_argument("file", type=Path, help="what the command wrote (runs/bench/bench.json, ...)")
    parser.add_argument("--kind", choices=KINDS[:3], required=True)
    parser.add_argument("--command", help="the command that wrote it (default: the kind's usual command)")
    parser.add_argument("--note", action="append", default=[], help="a line of context; repeatable")
    parser.add_argument("--name", help="file name in docs/data/ (default: <kind>-<date>.json)")
    args = parser.parse_args(argv)
    raw = json.loads(args.file.read_text())
    if isinstance(raw, dict) and raw.get("kind") == args.kind and raw.get("machine"):
        kept = {**raw, "notes": [*raw.get("notes", []), *args.note]}  # already says where it was measured
    else:
        default = {
            "bench": "python -m autograder.tools.bench",
            "grading-cost": "python -m autograder.tools.bench --grading-cost",
        }
        kept = envelope(
            args.kind,
            raw,
            args.command or default.get(args.kind, ""),
            args.note,
            f"Recorded from {args.file} on the machine that measured it",
        )
    target = DATA / (args.name or f"{args.kind}-{kept['date']}.json")
    DATA.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(kept, indent=1) + "\n")
    print(f"kept {target}; now run `make docs`")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["record"]:
        return record_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m autograder.tools.docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is out of date")
    args = parser.parse_args(argv)
    try:
        new = render_all()
    except DocsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    changed = [p for p, text in new.items() if not p.is_file() or p.read_text() != text]
    if args.check:
        for p in changed:
            print(f"out of date: {p.relative_to(ROOT)}")
        if changed:
            print("run `make docs` (python -m autograder.tools.docs) and commit the result", file=sys.stderr)
        return 1 if changed else 0
    for p in changed:
        p.write_text(new[p])
        print(f"wrote {p.relative_to(ROOT)}")
    print(f"{len(changed)} file(s) written, {len(new) - len(changed)} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
