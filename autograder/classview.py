"""A class as a whole, from the results store (grades.sqlite): LMS exports and one static page of what to re-teach.

    python -m autograder export GRADES_DIR --format csv|canvas|moodle [--out FILE]
    python -m autograder report GRADES_DIR [--out FILE]      (grade-many also writes GRADES_DIR/report.html)

Both read the store alone (autograder/store.py), never the per-student reports.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import statistics
from collections import Counter
from pathlib import Path

from .report import _fmt, clean_text, csv_cell
from .store import FILE, Store

FORMATS = ("csv", "canvas", "moodle")


def table(store: Store) -> tuple[list[str], dict[str, dict[str, tuple[float, float]]]]:
    """(assignments, {student: {assignment: (points, max points)}}) from the store."""
    per, assignments = {}, []
    for row in store.rows():
        if row["assignment"] not in assignments:
            assignments.append(row["assignment"])
        got, out_of = per.setdefault(row["student"], {}).get(row["assignment"], (0.0, 0.0))
        per[row["student"]][row["assignment"]] = (got + row["points"], out_of + row["max_points"])
    return assignments, per


def export(store: Store, fmt: str) -> str:
    """The class's points as an LMS imports them (student names as gradebook cells: report.csv_cell). csv: the
    gradebook grade-many writes: student, each assignment, total, max_score. canvas: Canvas's
    gradebook import (the student's folder name as the SIS Login ID, a "Points Possible" row). moodle: Moodle's
    CSV grade import (the folder name as the Username to map, one column per assignment)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    assignments, per = table(store)
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    most = {a: max((per[s].get(a, (0, 0))[1] for s in per), default=0) for a in assignments}
    if fmt == "csv":
        w.writerow(["student", *assignments, "total", "max_score"])
        for s in sorted(per):
            got = [per[s].get(a, (0.0, 0.0))[0] for a in assignments]
            w.writerow([csv_cell(s), *(_fmt(x) for x in got), _fmt(sum(got)), _fmt(sum(most.values()))])
    elif fmt == "canvas":
        w.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *assignments])
        w.writerow(["Points Possible", "", "", "", "", *(_fmt(most[a]) for a in assignments)])
        for s in sorted(per):
            name = csv_cell(s)  # a folder name is never read as a formula
            w.writerow([name, "", "", name, "", *(_fmt(per[s].get(a, (0.0, 0.0))[0]) for a in assignments)])
    else:
        w.writerow(["Username", *assignments])
        for s in sorted(per):
            w.writerow([csv_cell(s), *(_fmt(per[s].get(a, (0.0, 0.0))[0]) for a in assignments)])
    return text.getvalue()


def _histogram(values, out_of, title) -> str:
    """A PNG of the score distribution, as a data URL (the page is one self-contained file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 2.6))
    ax.hist(values, bins=min(20, max(5, int(out_of) + 1)), range=(0, max(out_of, 1e-9)), color="#4c72b0")
    ax.set_xlabel("points")
    ax.set_ylabel("submissions")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def checks_to_reteach(rows) -> list[dict]:
    """Per check: how many passed, and the most frequent first line of the failures' messages (the hint), most
    failed first."""
    by = {}
    for r in rows:
        by.setdefault((r["assignment"], r["check_name"]), []).append(r)
    out = []
    for (assignment, name), rs in by.items():
        failed = [r for r in rs if r["status"] != "passed"]
        hints = Counter(clean_text(r["message"]).splitlines()[0][:200] for r in failed if r["message"].strip())
        hint, count = hints.most_common(1)[0] if hints else ("", 0)
        out.append(
            dict(
                check=f"{assignment}/{name}",
                hidden=bool(rs[0]["hidden"]),
                passed=len(rs) - len(failed),
                graded=len(rs),
                hint=hint,
                hint_count=count,
            )
        )
    return sorted(out, key=lambda c: (c["passed"] / c["graded"], c["check"]))


def page(store: Store) -> str:
    """report.html: per assignment the score distribution and the median seconds of a submission; per check the
    pass rate, most failed first, with its most frequent hint."""
    rows = store.rows()
    assignments, per = table(store)
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Class report</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:2px 8px;"
        "text-align:left;vertical-align:top}th{border-bottom:1px solid #999}</style>",
        f"<h1>Class report</h1><p>{len(per)} submissions, from {html.escape(FILE)}.</p>",
    ]
    for a in assignments:
        scores = [per[s][a][0] for s in sorted(per) if a in per[s]]
        out_of = max(per[s][a][1] for s in per if a in per[s])
        seconds, peaks = {}, {}
        for r in rows:
            if r["assignment"] == a:
                seconds[r["student"]] = seconds.get(r["student"], 0.0) + r["seconds"]
                if r["peak_memory_mb"] is not None:
                    peaks[r["student"]] = max(peaks.get(r["student"], 0.0), r["peak_memory_mb"])
        median_s = statistics.median(seconds.values()) if seconds else 0.0
        memory = (
            f"its largest peak of memory {statistics.median(peaks.values()):.0f} MB (median; what a check's "
            "processes added to the sandbox's own)"
            if peaks
            else "no memory measured"
        )
        parts += [
            f"<h2>{html.escape(a)}</h2>",
            f"<p>median {_fmt(statistics.median(scores))} / {_fmt(out_of)} points; a submission's checks took "
            f"{median_s:.1f} s (median); {memory}.</p>",
            f"<img alt='score distribution of {html.escape(a)}' src='{_histogram(scores, out_of, a)}'>",
        ]
    parts.append("<h2>What to re-teach: checks by pass rate</h2><table><tr><th>check</th><th>passed</th>"
                 "<th>most frequent hint</th></tr>")  # fmt: skip
    for c in checks_to_reteach(rows):
        name = c["check"] + (" (hidden)" if c["hidden"] else "")
        hint = f"{html.escape(c['hint'])} ({c['hint_count']}×)" if c["hint"] else ""
        parts.append(f"<tr><td>{html.escape(name)}</td><td>{c['passed']} / {c['graded']}</td><td>{hint}</td></tr>")
    parts.append("</table>")
    return "\n".join(parts) + "\n"


def open_store(folder: Path) -> Store:
    path = Path(folder) / FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: grade the class first (python -m autograder grade-many ...)")
    return Store(path)
