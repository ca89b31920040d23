"""python -m autograder grade --submission DIR [--assignment a1] [--tier quick|train|full] [--format ...]"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from data_scripts import cifar10_source

from .api import TIERS
from .assignments import ASSIGNMENTS
from .assignments import resolve as resolve_assignment
from .classview import FORMATS as EXPORTS
from .classview import export, open_store, page
from .engine import EngineError
from .report import csv_cell, render, totals
from .runner import grade, grade_many, grader_error, select
from .sandbox.client import LEVELS
from .store import FILE, Store


def write_atomically(path: Path, text: str) -> None:
    """Only the judge writes reports, and a reader never sees half of one. A target that exists and is not a
    regular file (/dev/null, a pipe) is written in place: replacing it would put a file where the device was."""
    import stat
    import tempfile

    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        with open(path, "w") as f:
            f.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


FORMATS = ("table", "json", "gradescope", "junit", "prairielearn")


CHECK_HELP = (
    "grade only this check (its name, or assignment/name); repeatable. The tier must include it: "
    "--tier full for a full-tier check"
)


def resolve_checks(names, assignments, tier) -> list[str]:
    """The check ids (``a2_cnn/train_cifar_small``) that `names` designate among the assignments' checks up to
    `tier`; a name matches a check's own name or ``<assignment>/<name>``, the assignment short or in full."""

    known = [c.id for a in assignments for c in select(a, tier)]
    ids = []
    for name in names:
        folder, _, check = name.rpartition("/")
        if folder:
            try:
                folder = resolve_assignment(folder)
            except ValueError as err:
                raise ValueError(f"--check {name}: {err}") from None
        found = [i for i in known if i.rsplit("/", 1)[1] == check and (not folder or i.startswith(folder + "/"))]
        if not found:
            raise ValueError(
                f"--check {name}: no such check at the {tier} tier of {', '.join(assignments)} "
                "(python -m autograder grade --format table lists them; a full-tier check needs --tier full)"
            )
        ids += [i for i in found if i not in ids]
    return ids


def _parser():
    parser = argparse.ArgumentParser(prog="python -m autograder", description="Grade a submission folder.")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade one submission folder with the assignments' layout")
    g.add_argument("--submission", default="assignments", help="folder holding a1_intro_nn/ ... (default: assignments)")
    g.add_argument(
        "--assignment", action="append", help="a1, a2, ... or the full folder name; repeatable (default: all)"
    )
    g.add_argument("--tier", default="train", choices=TIERS, help="quick < train < full; each includes the ones before")
    g.add_argument("--format", default="table", choices=FORMATS)
    g.add_argument("--output", help="write the report to this file (default: standard output)")
    g.add_argument("--jobs", type=int, default=1, help="checks run at once (default 1)")
    g.add_argument("--time-scale", type=float, default=1.0, help="multiply every check's time limit (slow machines)")
    g.add_argument("--quiet", action="store_true", help="no per-check progress lines on stderr")
    g.add_argument("--check", action="append", metavar="NAME", help=CHECK_HELP)
    g.add_argument(
        "--sandbox",
        choices=("auto", *LEVELS),
        default=None,
        help="isolation of the student's code (default: the best available, or KIT_SANDBOX)",
    )
    g.add_argument(
        "--leaderboard",
        action="store_true",
        help="gradescope format: add each training's test accuracy and time to the leaderboard",
    )
    m = sub.add_parser("grade-many", help="grade every submission folder inside DIR; CSV gradebook + reports")
    m.add_argument("folder", metavar="DIR", help="one sub-folder per student, each with the assignments' layout")
    m.add_argument("--assignment", action="append", help="a1, a2, ...; repeatable (default: all)")
    m.add_argument("--tier", default="train", choices=TIERS)
    m.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    m.add_argument(
        "--output-dir",
        default="grades",
        help="grades.sqlite (the results store), gradebook.csv and <student>.json go here (default: grades)",
    )
    m.add_argument(
        "--regrade",
        action="append",
        default=[],
        metavar="CHECK",
        help="grade this check again for everyone (its name or assignment/name); repeatable. Otherwise a rerun "
        "grades only the submissions and checks that changed since they were stored",
    )
    m.add_argument("--format", default="json", choices=[f for f in FORMATS if f != "table"], help="per-student report")
    m.add_argument("--time-scale", type=float, default=1.0)
    m.add_argument("--sandbox", choices=("auto", *LEVELS), default=None, help="isolation of the student's code")
    m.add_argument(
        "--executor",
        default="local",
        choices=("local", "dask"),
        help="local: a process pool of this machine (the default); dask: dask.distributed, a local cluster of --jobs "
        "workers or the one at --scheduler (the instructor's install: docs/instructors.md)",
    )
    m.add_argument("--scheduler", metavar="tcp://HOST:8786", help="--executor dask: the running cluster to grade on")
    m.add_argument(
        "--gpu",
        action="store_true",
        help="--executor dask: each submission on a worker started with --resources GPU=1 (docs/platforms.md)",
    )
    e = sub.add_parser("export", help="the class's points from GRADES_DIR/grades.sqlite, as an LMS imports them")
    e.add_argument("grades", metavar="GRADES_DIR", help="grade-many's --output-dir")
    e.add_argument("--format", default="csv", choices=EXPORTS, help="csv, canvas (gradebook import) or moodle")
    e.add_argument("--out", help="write here (default: standard output)")
    r = sub.add_parser("report", help="the class view: GRADES_DIR/report.html from grades.sqlite")
    r.add_argument("grades", metavar="GRADES_DIR", help="grade-many's --output-dir")
    r.add_argument("--out", help="write here (default: GRADES_DIR/report.html)")
    d = sub.add_parser(
        "determinism", help="grade the reference K times with different training seeds; report flaky checks"
    )
    d.add_argument("--runs", type=int, default=20)
    d.add_argument("--assignment", action="append")
    d.add_argument("--tier", default="train", choices=TIERS)
    d.add_argument("--submission", default="solutions")
    d.add_argument("--time-scale", type=float, default=1.0, help="multiply every check's time limit")
    d.add_argument("--check", action="append", metavar="NAME", help=CHECK_HELP)
    d.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seed offsets first-seed ... first-seed+runs-1 (to split a long study into several commands)",
    )
    d.add_argument(
        "--json",
        metavar="FILE",
        help="also write the table as JSON, naming this machine (keep it in "
        "docs/data/ and run `make docs`: docs/measurements.md shows it)",
    )
    return parser


def _write_determinism(args, done, runs, passes, values, thresholds, seconds, data_source=None) -> None:
    """determinism's table as JSON (with each seed's accuracy and seconds), naming this machine."""
    import json
    import statistics

    from .tools.docs import envelope

    rows = []
    for name in runs:
        row = {"check": name, "passed": passes[name], "runs": runs[name]}
        if values.get(name):
            v = values[name]
            row.update(min=min(v), median=statistics.median(v), max=max(v), threshold=thresholds[name], values=v)
        row["seconds"] = [round(x, 1) for x in seconds[name]]
        rows.append(row)
    command = " ".join(
        [
            f"python -m autograder determinism --runs {args.runs}",
            *(f"--assignment {a}" for a in args.assignment or ()),
            *(f"--check {c}" for c in getattr(args, "check", None) or ()),
            *([f"--tier {args.tier}"] if args.tier != "train" else []),
            *([f"--submission {args.submission}"] if args.submission != "solutions" else []),
            *([f"--first-seed {args.first_seed}"] if args.first_seed else []),
        ]
    )
    results = {"runs": done, "first_seed": args.first_seed, "tier": args.tier, "checks": rows}
    if done < args.runs:
        results["planned_runs"] = args.runs
    if data_source:
        results["data_source"] = data_source
    write_atomically(Path(args.json), json.dumps(envelope("determinism", results, command), indent=1) + "\n")


def determinism_main(args, assignments) -> int:
    """Each run sets KIT_SEED_OFFSET=k, which shifts every seed of the kit's trainings; the accuracies that threshold
    checks measure (api.expect_accuracy records them: each test's `metrics` in the JSON report) are collected, so the
    report shows each threshold's margin."""
    import collections
    import json
    import statistics
    import subprocess
    import tempfile

    passes, runs, values, thresholds = collections.Counter(), collections.Counter(), collections.defaultdict(list), {}
    seconds = collections.defaultdict(list)
    data_source = None  # read once: a2's thresholds depend on the CIFAR-10 copy
    if args.json and any(a.startswith("a2_") for a in assignments):
        data_source = cifar10_source()
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.first_seed, args.first_seed + args.runs):
            out = Path(tmp) / f"run{k}.json"
            cmd = [
                sys.executable,
                "-m",
                "autograder",
                "grade",
                "--submission",
                args.submission,
                "--tier",
                args.tier,
                "--format",
                "json",
                "--output",
                str(out),
                "--quiet",
                "--time-scale",
                str(args.time_scale),
            ]
            for a in assignments:
                cmd += ["--assignment", a]
            for c in getattr(args, "check", None) or ():
                cmd += ["--check", c]
            proc = subprocess.run(cmd, env={**os.environ, "KIT_SEED_OFFSET": str(k)}, capture_output=True, text=True)
            if not out.is_file():
                print(
                    f"error: the run with KIT_SEED_OFFSET={k} wrote no report: {proc.stderr.strip()[-500:]}",
                    file=sys.stderr,
                )
                return 3
            for t in json.loads(out.read_text())["tests"]:
                if t["tier"] == args.tier or args.tier == "quick":
                    name = t["name"]
                    runs[name] += 1
                    passes[name] += t["score"] == t["max_score"]
                    seconds[name].append(t.get("duration", 0.0))
                    found = [m for m in t.get("metrics", []) if m["name"] == "accuracy"]
                    if found:  # a check with several trainings counts its worst one
                        values[name].append(min(m["value"] for m in found))
                        thresholds[name] = found[0]["threshold"]
            done = k + 1 - args.first_seed
            if args.json:  # after every run: a study stopped half-way keeps the seeds it finished
                _write_determinism(args, done, runs, passes, values, thresholds, seconds, data_source)
            print(f"  run {done}/{args.runs} done (KIT_SEED_OFFSET={k})", file=sys.stderr, flush=True)
    flaky = [n for n in runs if passes[n] < runs[n]]
    print(f"{'passed':>7}  {'min':>7} {'median':>7} {'max':>7} {'thresh.':>7}  check")
    for name in runs:
        v = values.get(name)
        stats = (
            f"{min(v):7.2%} {statistics.median(v):7.2%} {max(v):7.2%} {thresholds[name]:7.1%}"
            if v
            else f"{'':7} {'':7} {'':7} {'':7}"
        )
        print(f"{passes[name]:>3}/{runs[name]:<3}  {stats}  {name}{'   <- FLAKY' if name in flaky else ''}")
    print(f"{len(flaky)} flaky check(s) over {args.runs} seeds")
    return 1 if flaky else 0


def grade_many_main(args, assignments) -> int:

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"error: folder {folder} does not exist", file=sys.stderr)
        return 2
    if args.executor != "dask" and (args.scheduler or args.gpu):
        print("error: --scheduler and --gpu go with --executor dask", file=sys.stderr)
        return 2
    if args.gpu and not args.scheduler:  # a local cluster's workers offer no GPU resource: the tasks would wait forever
        print("error: --gpu needs --scheduler: a cluster whose workers offer --resources GPU=1", file=sys.stderr)
        return 2
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".xml" if args.format == "junit" else ".json"
    start = time.monotonic()
    store = Store(out / FILE)
    fresh = []

    def progress(student, results, graded):
        if graded:
            fresh.append(student)
        got, out_of = totals(results)
        write_atomically(out / f"{student}{suffix}", render(results, args.format, student) + "\n")
        write_atomically(out / "gradebook.csv", export(store, "csv"))  # from the store: a stopped run keeps one
        again = "" if graded else " (unchanged since it was stored)"
        print(f"  {csv_cell(student)}: {got:g} / {out_of:g}{again}", file=sys.stderr, flush=True)

    try:
        graded = grade_many(
            folder,
            assignments,
            tier=args.tier,
            jobs=args.jobs,
            progress=progress,
            store=store,
            regrade=args.regrade,
            executor=args.executor,
            scheduler=args.scheduler,
            resources={"GPU": 1} if args.gpu else None,
            timeout_scale=args.time_scale,
            level=args.sandbox,
        )
        write_atomically(out / "gradebook.csv", export(store, "csv"))
        write_atomically(out / "report.html", page(store))
    except EngineError as err:  # what was graded before stays in the store: a rerun continues from there
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        store.close()
    engine = f"--executor dask at {args.scheduler}" if args.scheduler else f"--executor {args.executor}"
    print(
        f"graded {len(fresh)} of {len(graded)} submissions in {time.monotonic() - start:.1f} s "
        f"(--jobs {args.jobs}, {engine}; "
        f"the others unchanged since {out / FILE} stored them); gradebook: {out / 'gradebook.csv'}"
    )
    return 0


def class_main(args) -> int:
    """export and report: what the results store holds, for an LMS or for the course staff."""

    try:
        store = open_store(Path(args.grades))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        if args.command == "export":
            text = export(store, args.format)
            if not args.out:
                sys.stdout.write(text)
                return 0
            target = Path(args.out)
        else:
            text, target = page(store), Path(args.out or Path(args.grades) / "report.html")
    finally:
        store.close()
    write_atomically(target, text)
    print(f"wrote {target}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("export", "report"):
        return class_main(args)
    try:
        assignments = [resolve_assignment(a) for a in args.assignment] if args.assignment else list(ASSIGNMENTS)
        only = resolve_checks(args.check, assignments, args.tier) if getattr(args, "check", None) else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "grade-many":
        return grade_many_main(args, assignments)
    if args.command == "determinism":
        return determinism_main(args, assignments)
    submission = Path(args.submission)
    if not submission.is_dir():
        print(f"error: submission folder {submission} does not exist", file=sys.stderr)
        return 2

    def progress(res):
        if not args.quiet:
            print(
                f"  [{res.status:^15}] {res.assignment}/{res.name} ({res.duration:.1f}s)", file=sys.stderr, flush=True
            )

    start = time.monotonic()
    try:
        results = grade(
            submission,
            assignments,
            tier=args.tier,
            jobs=args.jobs,
            progress=progress,
            timeout_scale=args.time_scale,
            level=args.sandbox,
            only=only,
        )
        status = 0
    except Exception as err:  # the grader failed, not the submission: the report says so rather than not existing
        results = [grader_error(a, f"{type(err).__name__}: {err}") for a in assignments]
        status = 3
    text = render(
        results, args.format, str(submission), leaderboard=args.leaderboard, wall_time=time.monotonic() - start
    )
    if args.output:
        out = Path(args.output)
        write_atomically(out, text + "\n")
        got, out_of = totals(results)
        print(f"{got:g} / {out_of:g} points; report written to {out}")
    else:
        print(text)
    if status:
        print("error: grading failed part-way (see the report); exit status 3", file=sys.stderr)
    return status


if __name__ == "__main__":
    os.environ.setdefault("KIT_NO_PROGRESS", "1")
    sys.exit(main())
