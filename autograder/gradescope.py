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

from .assignments import datasets_for, resolve as resolve_assignment
from .student_kit import grader_requirements

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("autograder", "data_scripts", "kit")
FILES = ("requirements.txt", "constraints.txt", "pyproject.toml")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image.
set -euo pipefail
cd "${AUTOGRADER_ROOT:-/autograder}/source"
# A CPU build of PyTorch: Gradescope's graders have no GPU, and the default wheel brings about 4.6 GB of CUDA
# libraries (nvidia-*, triton). KIT_TORCH_INDEX="" keeps the default wheel.
TORCH_INDEX="${KIT_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
if [ -n "$TORCH_INDEX" ]; then
  ${KIT_PYTHON:-python3} -m pip install torch torchvision --index-url "$TORCH_INDEX" -c constraints.txt
fi
${KIT_PYTHON:-python3} -m pip install -r requirements.txt -c constraints.txt
${KIT_PYTHON:-python3} -m pip install --no-deps -e .
__FETCH__# the raw files hold the test labels: root's (the judge's) only; the sandbox reads the label-free data/public
mkdir -p data && chmod -R go-rwx data && chmod 711 data
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it must always leave a results.json.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
ASSIGNMENT="__ASSIGNMENT__"
RESULTS="$ROOT/results/results.json"
failed() {  # written without Python: the grader could not run at all
  printf '{"score": 0, "output": "%s; please tell your instructor", "tests": []}\\n' "$1" > "$RESULTS"
}
work=$(mktemp -d)
mkdir -p "$ROOT/results" "$work/$ASSIGNMENT"
if [ -d "$ROOT/submission/$ASSIGNMENT" ]; then
  cp -r "$ROOT/submission/$ASSIGNMENT/." "$work/$ASSIGNMENT/"
else
  found=$(find "$ROOT/submission" -type d -name "$ASSIGNMENT" | head -n 1)
  if [ -n "$found" ]; then cp -r "$found/." "$work/$ASSIGNMENT/"; else cp -r "$ROOT/submission/." "$work/$ASSIGNMENT/"; fi
fi
cd "$ROOT/source" || { failed "the autograder is missing from $ROOT/source"; exit 0; }
# the submission runs as an unprivileged user: the checks, hidden ones included, are the judge's alone
chmod -R go-rwx autograder/checks 2> /dev/null
KIT_NO_PROGRESS=1 ${KIT_PYTHON:-python3} -m autograder grade --submission "$work" --assignment "$ASSIGNMENT" \\
  --tier "${KIT_TIER:-train}" --format gradescope --output "$RESULTS" --quiet __LEADERBOARD__
status=$?
if [ ! -s "$RESULTS" ]; then
  failed "the autograder failed (exit $status)"
fi
exit 0
"""


def build(assignment: str, out: Path, leaderboard: bool = False) -> Path:
    assignment = resolve_assignment(assignment)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        datasets = datasets_for(assignment)  # the assignment's, from the registry; also fetched on demand
        fetch = f"${{KIT_PYTHON:-python3}} -m data_scripts fetch {' '.join(datasets)} || true\n" if datasets else ""
        for name, text in (
            ("setup.sh", SETUP_SH.replace("__FETCH__", fetch)),
            (
                "run_autograder",
                RUN_AUTOGRADER.replace("__ASSIGNMENT__", assignment).replace(
                    "__LEADERBOARD__", "--leaderboard" if leaderboard else ""
                ),
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
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope", description=__doc__)
    parser.add_argument("assignment", help="a1, a2, ... or the folder name")
    parser.add_argument("--out", help="zip path (default: dist/gradescope-<assignment>.zip)")
    parser.add_argument(
        "--leaderboard", action="store_true", help="results carry a leaderboard: each training's test accuracy and time"
    )
    args = parser.parse_args(argv)
    try:
        full = resolve_assignment(args.assignment)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = build(full, Path(args.out or ROOT / "dist" / f"gradescope-{full}.zip"), leaderboard=args.leaderboard)
    print(f"Gradescope bundle for {full}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
