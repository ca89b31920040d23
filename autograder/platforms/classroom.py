"""make classroom A=a1: a GitHub Classroom template repository for one assignment.

dist/classroom-<assignment>/ is the student kit for that assignment alone (autograder/platforms/student_kit.py: released
stubs and notebook, kit helpers, data layer, the grader with the PUBLIC checks only) plus
.github/workflows/classroom.yml, which runs each public check of the quick and train tiers as its own step of
GitHub's autograding actions (classroom-resources/autograding-command-grader, with the check's points as its
max-score) and reports them with classroom-resources/autograding-grading-reporter.

These checks run in the student's own repository, where the student can edit the workflow and the grader:
they are feedback, not an authoritative grade. Grade the collected repositories with the full grader
(`python -m autograder grade-many`), hidden checks included.

`python -m autograder.platforms.classroom run a1_intro_nn/init_params [--submission assignments]` is the per-check
command of the workflow: it grades that one check, prints the report table and exits 0 only if it passed.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
from pathlib import Path

from ..assignments import datasets_for
from ..assignments import get as assignment_entry
from ..assignments import resolve as resolve_assignment
from ..report import render_table
from ..runner import grade, load_checks

ROOT = Path(__file__).resolve().parents[2]
PYTHON_VERSION = "3.12"
WORKFLOW_TIERS = ("quick", "train")  # the full tier needs a GPU or hours: not on a free runner

README_SECTION = """
## Feedback on GitHub (GitHub Classroom)
Each push runs the public checks of `__ASSIGNMENT__` on GitHub (the Actions tab, workflow "Autograding
Tests"): one step per check, worth that check's points, then a summary table. It is the same as
`make check A=__SHORT__` followed by the trainings of `make grade A=__SHORT__`, on GitHub's machines. The first
run installs PyTorch (a few minutes); the trainings download their data set.

**This is feedback, not your grade.** The checks run in your own repository, with the public checks only; your
instructor grades the code you pushed with the full grader, hidden checks included. Do not edit
`.github/workflows/` or `autograder/`: changing them changes nothing in your grade.
"""


def public_checks(assignment: str):
    """The assignment's visible checks of the workflow's tiers, in the order the grader runs them."""

    return [c for c in load_checks(assignment) if not c.hidden and c.tier in WORKFLOW_TIERS]


def step_id(name: str) -> str:
    """A step id (letters, digits, '_', '-'); the reporter reads the env variable <ID upper-cased>_RESULTS."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


# The command grader hands each step PATH and HOME only: a setting the checks need travels in the command itself.
CHECK_ENV = "env KIT_NO_PROGRESS=1"  # env: with or without a shell


def whole_points(chk) -> int:
    """A step's max-score: the command grader takes whole numbers only, so a fractional check is refused here."""
    if chk.points != int(chk.points):
        raise ValueError(
            f"{chk.id} is worth {chk.points:g} points: GitHub Classroom's command grader takes whole numbers only"
        )
    return int(chk.points)


def _install_steps(datasets) -> list[dict]:
    steps = [
        {"name": "Checkout code", "uses": "actions/checkout@v4"},
        {
            "name": "Set up Python",
            "uses": "actions/setup-python@v5",
            "with": {"python-version": PYTHON_VERSION, "cache": "pip", "cache-dependency-path": "requirements.txt"},
        },
        {
            "name": "Install the kit (CPU build of PyTorch)",
            "run": "python -m pip install torch torchvision -c constraints.txt "
            "--index-url https://download.pytorch.org/whl/cpu\n"
            "python -m pip install -r requirements.txt -c constraints.txt\n"
            "python -m pip install --no-deps -e .\n",
        },
    ]
    if datasets:  # kept between runs; a failed download stops the run here, as an error, before any check's points
        steps += [
            {
                "name": "Cache the data sets",
                "uses": "actions/cache@v4",
                "with": {"path": "data", "key": "data-" + "-".join(datasets)},
            },
            {"name": "Fetch the data sets", "run": "python -m data_scripts fetch " + " ".join(datasets)},
        ]
    return steps


def workflow(assignment: str) -> str:
    """.github/workflows/classroom.yml: one autograding step per public check, then the reporter.

    The reporter requires the workflow name "Autograding Tests" and the single job "run-autograding-tests"."""
    import yaml

    checks = public_checks(assignment)
    datasets = datasets_for(assignment) if any(c.tier != "quick" for c in checks) else []
    steps, ids = _install_steps(datasets), []
    for chk in checks:
        sid = step_id(chk.name)
        ids.append(sid)
        plural = "" if chk.points == 1 else "s"
        steps.append(
            {
                "name": f"{chk.name} ({chk.points:g} point{plural}, {chk.tier})",
                "id": sid,
                "uses": "classroom-resources/autograding-command-grader@v1",
                "with": {
                    "test-name": chk.name,
                    "command": f"{CHECK_ENV} python -m autograder.platforms.classroom run {chk.id}",
                    "timeout": math.ceil(chk.timeout / 60) + 2,  # the sandbox's start and the judge's imports on top
                    "max-score": whole_points(chk),
                },
            }
        )
    steps.append(
        {
            "name": "Autograding Reporter",
            "uses": "classroom-resources/autograding-grading-reporter@v1",
            "env": {f"{sid.upper()}_RESULTS": f"${{{{steps.{sid}.outputs.result}}}}" for sid in ids},
            "with": {"runners": ",".join(ids)},
        }
    )
    flow = {
        "name": "Autograding Tests",
        "on": {"push": None, "workflow_dispatch": None},
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {
            "run-autograding-tests": {
                "runs-on": "ubuntu-latest",
                "if": "github.actor != 'github-classroom[bot]'",
                "steps": steps,
            }
        },
    }
    header = (
        f"# Written by `make classroom`: the public checks of {assignment}, one step each, as feedback.\n"
        "# They run in the student's repository, which the student can edit: not an authoritative grade.\n"
    )

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value):  # a multi-line script as a literal block, as one writes it by hand
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    return header + yaml.dump(flow, Dumper=Dumper, sort_keys=False, width=1000)


def build(assignment: str, out: Path) -> Path:
    """Write the template repository `out` (replacing it)."""
    from .student_kit import build as student_kit  # here: the repository runs this file without the kit builder

    assignment = resolve_assignment(assignment)
    out = Path(out)
    student_kit(out, [assignment], make_zip=False)
    shutil.copy2(Path(__file__), out / "autograder" / "platforms" / "classroom.py")  # the workflow's per-check command
    flows = out / ".github" / "workflows"
    flows.mkdir(parents=True, exist_ok=True)
    (flows / "classroom.yml").write_text(workflow(assignment))
    readme = out / "README.md"
    section = README_SECTION.replace("__ASSIGNMENT__", assignment).replace(
        "__SHORT__", assignment_entry(assignment).short
    )
    readme.write_text(readme.read_text().rstrip("\n") + "\n" + section)
    return out


def run_main(argv) -> int:
    """One check, graded as the workflow's step: exit 0 only when it passed."""

    parser = argparse.ArgumentParser(
        prog="python -m autograder.platforms.classroom run", description="grade one check; exit 0 only if it passed"
    )
    parser.add_argument("check", help="assignment/check, for example a1_intro_nn/init_params")
    parser.add_argument("--submission", default="assignments", help="folder holding the assignment's folder")
    args = parser.parse_args(argv)
    assignment, _, name = args.check.partition("/")
    try:
        assignment = resolve_assignment(assignment)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    chk = next((c for c in load_checks(assignment) if c.name == name), None)
    if chk is None:
        print(f"error: no check named {args.check}", file=sys.stderr)
        return 2
    submission = Path(args.submission)
    if not submission.is_dir():
        print(f"error: submission folder {submission} does not exist", file=sys.stderr)
        return 2
    results = grade(submission, [assignment], tier=chk.tier, only=[chk.id])
    print(render_table(results, str(submission)))
    return 0 if results and all(r.status == "passed" for r in results) else 1


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        return run_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m autograder.platforms.classroom",
        description=__doc__.split("\n\n")[0],
        epilog="python -m autograder.platforms.classroom run ASSIGNMENT/CHECK: grade one check",
    )
    parser.add_argument("assignment", help="a1, a2, ... or the folder name")
    parser.add_argument("--out", help="folder to write (default: dist/classroom-<assignment>)")
    args = parser.parse_args(argv)
    try:
        full = resolve_assignment(args.assignment)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = build(full, Path(args.out or ROOT / "dist" / f"classroom-{full}"))
    print(
        f"GitHub Classroom template repository for {full}: {out} ({len(public_checks(full))} public checks in "
        f".github/workflows/classroom.yml); push it to GitHub and mark it a template repository"
    )
    return 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("KIT_NO_PROGRESS", "1")
    sys.exit(main())
