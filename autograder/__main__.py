"""python -m autograder grade --submission DIR [--assignment a1] [--tier quick|train|full] [--format ...]"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .api import TIERS
from .report import render, totals
from .runner import ASSIGNMENTS, grade, resolve_assignment

FORMATS = ("table", "json", "gradescope", "junit")


def _parser():
    parser = argparse.ArgumentParser(prog="python -m autograder", description="Grade a submission folder.")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade one submission folder with the assignments' layout")
    g.add_argument("--submission", default="assignments", help="folder holding a1_intro_nn/ ... (default: assignments)")
    g.add_argument("--assignment", action="append", help="a1, a2, ... or the full folder name; repeatable (default: all)")
    g.add_argument("--tier", default="train", choices=TIERS, help="quick < train < full; each includes the ones before")
    g.add_argument("--format", default="table", choices=FORMATS)
    g.add_argument("--output", help="write the report to this file (default: standard output)")
    g.add_argument("--jobs", type=int, default=1, help="checks run at once (default 1)")
    g.add_argument("--time-scale", type=float, default=1.0, help="multiply every check's time limit (slow machines)")
    g.add_argument("--quiet", action="store_true", help="no per-check progress lines on stderr")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    submission = Path(args.submission)
    if not submission.is_dir():
        print(f"error: submission folder {submission} does not exist", file=sys.stderr)
        return 2
    try:
        assignments = [resolve_assignment(a) for a in args.assignment] if args.assignment else list(ASSIGNMENTS)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    def progress(res):
        if not args.quiet:
            print(f"  [{res.status:^15}] {res.assignment}/{res.name} ({res.duration:.1f}s)", file=sys.stderr, flush=True)

    results = grade(submission, assignments, tier=args.tier, jobs=args.jobs, progress=progress,
                    timeout_scale=args.time_scale)
    text = render(results, args.format, str(submission))
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        got, out_of = totals(results)
        print(f"{got:g} / {out_of:g} points; report written to {out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("KIT_NO_PROGRESS", "1")
    sys.exit(main())
