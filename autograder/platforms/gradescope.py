"""make gradescope A=a1: a Gradescope autograder bundle (zip with setup.sh and run_autograder).

On Gradescope the zip is unpacked in /autograder/source; setup.sh installs the kit's dependencies once per image;
run_autograder grades /autograder/submission (either the assignment folder itself, a parent holding it, or the
bare .py files) and writes /autograder/results/results.json. AUTOGRADER_ROOT and KIT_PYTHON override the
/autograder root and the interpreter, which is how the kit's tests run the entry point against a fake tree.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from ..assignments import datasets_for, resolve as resolve_assignment
from ..runner import select
from .student_kit import grader_requirements

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("autograder", "data_scripts", "kit")
FILES = ("requirements.txt", "constraints.txt", "pyproject.toml")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
cd "$ROOT/source"
# The kit's own venv (run_autograder uses it): Ubuntu 24.04's Python refuses a system-wide pip install (PEP 668),
# and 22.04's may lack the venv module until python3-venv is installed. KIT_PYTHON names another interpreter.
PY="${KIT_PYTHON:-}"
if [ -z "$PY" ]; then
  if ! python3 -m venv "$ROOT/venv"; then
    apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv "$ROOT/venv"
  fi
  PY="$ROOT/venv/bin/python"
  "$PY" -m pip install -q --upgrade pip
fi
# A CPU build of PyTorch: Gradescope's graders have no GPU, and the default wheel brings about 4.6 GB of CUDA
# libraries (nvidia-*, triton). KIT_TORCH_INDEX="" keeps the default wheel.
TORCH_INDEX="${KIT_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
if [ -n "$TORCH_INDEX" ]; then
  "$PY" -m pip install torch torchvision --index-url "$TORCH_INDEX" -c constraints.txt
fi
"$PY" -m pip install -r requirements.txt -c constraints.txt
"$PY" -m pip install --no-deps -e .
__FETCH__# the raw files hold the test labels: root's (the judge's) only; the sandbox reads the label-free data/public
mkdir -p data && chmod -R go-rwx data && chmod 711 data
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. It leaves a results.json when the submission was graded; when the
# kit itself failed (its data, its interpreter, a crash), it leaves none and exits 1: Gradescope then shows the
# run as the autograder's failure, which the student may resubmit, never as a score of 0 for their code.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
ASSIGNMENT="__ASSIGNMENT__"
RESULTS="$ROOT/results/results.json"
PY="${KIT_PYTHON:-$ROOT/venv/bin/python}"
[ -x "$PY" ] || PY=python3
failed() {  # the staff read this output; the student sees Gradescope's "autograder failed", not a score
  echo "grader error: $1. This is not the student's score: fix the autograder, then regrade (or resubmit)."
  if [ -f "$RESULTS" ]; then mv "$RESULTS" "$ROOT/results/grader-error.json"; fi
  exit 1
}
work=$(mktemp -d)
mkdir -p "$ROOT/results" "$work/$ASSIGNMENT"
if [ -d "$ROOT/submission/$ASSIGNMENT" ]; then
  cp -r "$ROOT/submission/$ASSIGNMENT/." "$work/$ASSIGNMENT/"
else
  found=$(find "$ROOT/submission" -type d -name "$ASSIGNMENT" | head -n 1)
  if [ -n "$found" ]; then cp -r "$found/." "$work/$ASSIGNMENT/"; else cp -r "$ROOT/submission/." "$work/$ASSIGNMENT/"; fi
fi
cd "$ROOT/source" || failed "the autograder is missing from $ROOT/source"
# the submission runs as an unprivileged user: the checks, hidden ones included, are the judge's alone
chmod -R go-rwx autograder/checks 2> /dev/null
KIT_NO_PROGRESS=1 "$PY" -m autograder grade --submission "$work" --assignment "$ASSIGNMENT" \\
  --tier "${KIT_TIER:-__TIER__}" --time-scale "${KIT_TIME_SCALE:-__TIME_SCALE__}" --format gradescope \\
  --output "$RESULTS" --quiet __LEADERBOARD__
status=$?
if [ ! -s "$RESULTS" ]; then
  failed "the grader wrote no report (exit $status)"
fi
GRADER_ERROR='[t for t in json.load(open(sys.argv[1]))["tests"] if t.get("extra_data", {}).get("kind") == "grader_error"]'
if "$PY" -c "import json, sys; sys.exit(bool(${GRADER_ERROR}))" "$RESULTS"; then
  exit 0
fi
failed "$("$PY" -c "import json, sys; t = ${GRADER_ERROR}[0]; print(t['name'] + ': ' + t['output'])" "$RESULTS")"
"""


# The checks' time limits were set on 2 cores (docs/maintainers.md): a container with a smaller CPU share gets
# limits scaled by 2 / its share, from the one --cpus setting.
LIMITS_CORES = 2
GRADESCOPE_CPUS = 0.5  # the CPU share of Gradescope's default autograder container


def time_scale(cpus: float) -> float:
    if cpus <= 0:
        raise ValueError("--cpus must be a positive CPU share, for example 0.5 or 2")
    return max(1.0, LIMITS_CORES / cpus)


def build(
    assignment: str, out: Path, leaderboard: bool = False, cpus: float = GRADESCOPE_CPUS, tier: str = "train"
) -> Path:
    assignment = resolve_assignment(assignment)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        datasets = datasets_for(assignment)  # the assignment's, from the registry; also fetched on demand
        fetch = '"$PY" -m data_scripts fetch ' + " ".join(datasets) + " || true\n" if datasets else ""
        for name, text in (
            ("setup.sh", SETUP_SH.replace("__FETCH__", fetch)),
            (
                "run_autograder",
                RUN_AUTOGRADER.replace("__ASSIGNMENT__", assignment)
                .replace("__LEADERBOARD__", "--leaderboard" if leaderboard else "")
                .replace("__TIER__", tier)
                .replace("__TIME_SCALE__", f"{time_scale(cpus):g}"),
            ),
        ):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, text)
        for name in FILES:
            if name == "requirements.txt":  # the image needs the grader, not nbgrader or pytest
                zf.writestr(name, grader_requirements())
            else:
                zf.write(ROOT / name, name)
        for package in PACKAGES:
            for path in sorted((ROOT / package).rglob("*.py")):
                zf.write(path, str(path.relative_to(ROOT)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.platforms.gradescope", description=__doc__)
    parser.add_argument("assignment", help="a1, a2, ... or the folder name")
    parser.add_argument("--out", help="zip path (default: dist/gradescope-<assignment>.zip)")
    parser.add_argument(
        "--leaderboard", action="store_true", help="results carry a leaderboard: each training's test accuracy and time"
    )
    parser.add_argument(
        "--cpus",
        type=float,
        default=GRADESCOPE_CPUS,
        help=f"the CPU share of the assignment's container (default {GRADESCOPE_CPUS:g}, Gradescope's default); "
        f"the checks' time limits scale by {LIMITS_CORES} / CPUS",
    )
    parser.add_argument("--tier", choices=("quick", "train"), default="train", help="the tier graded (default train)")
    args = parser.parse_args(argv)
    try:
        full = resolve_assignment(args.assignment)
        scale = time_scale(args.cpus)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or ROOT / "dist" / f"gradescope-{full}.zip")
    path = build(full, out, leaderboard=args.leaderboard, cpus=args.cpus, tier=args.tier)
    points = sum(c.points for c in select(full, args.tier))
    print(
        f"Gradescope bundle for {full}: {path}; set the assignment's points to {points:g} ({args.tier} tier, hidden "
        f"checks included); time limits x{scale:g} for {args.cpus:g} CPU"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
