"""make prairielearn A=a1: an externally graded PrairieLearn question for one assignment.

dist/prairielearn-<assignment>/ is a question folder to copy under a course's questions/: info.json (external
grading enabled, no network, PrairieLearn's 600 s cap), question.html (upload the assignment's modules, show the
grader's results), a Dockerfile for the grading image (PrairieLearn's Python grader plus a CPU build of torch and
the data sets the checks need: the container has no network) and tests/, which PrairieLearn mounts at
/grade/tests: the entrypoint run.sh and the instructor's grader with ALL the checks, hidden ones included
(PrairieLearn grades authoritatively; the student never sees /grade/tests), but never solutions/.

run.sh lays the uploaded files (/grade/student) out as <work>/<assignment>/, grades them (tier: KIT_TIER, default
quick, the tier that fits the 600 s cap) and writes /grade/results/results.json, always: `gradable: false` with a
message when the submission cannot be imported or the grader itself could not run. GRADE_ROOT and KIT_PYTHON
override /grade and the interpreter, which is how the kit's tests run it against a fake tree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import uuid
from pathlib import Path

from .assignments import BY_FOLDER, datasets_for, resolve as resolve_assignment
from .gradescope import FILES, PACKAGES
from .student_kit import grader_requirements

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_IMAGE = "prairielearn/grader-python"
MAX_TIMEOUT = 600  # PrairieLearn's cap on externalGradingOptions.timeout, in seconds
ENTRYPOINT = "/grade/tests/run.sh"
UUID_NAMESPACE = uuid.UUID("6f1c1d43-5a37-4c1e-9d1e-6b1f3e7a0c52")  # this kit's: uuid5(it, assignment)

RUN_SH = """#!/usr/bin/env bash
# PrairieLearn runs this for every submission; it must always leave /grade/results/results.json.
set -uo pipefail
ROOT="${GRADE_ROOT:-/grade}"
ASSIGNMENT="__ASSIGNMENT__"
PY="${KIT_PYTHON:-python3}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"
not_graded() {  # written without Python: the grader could not run at all (no attempt is used up)
  printf '{"gradable": false, "score": 0, "message": "%s", "output": "", "format_errors": ["%s"], "tests": []}\\n' "$1" "$1" \\
    > "$RESULTS"
}
work=$(mktemp -d)
mkdir -p "$work/$ASSIGNMENT"
if [ -d "$ROOT/student/$ASSIGNMENT" ]; then
  cp -r "$ROOT/student/$ASSIGNMENT/." "$work/$ASSIGNMENT/"
elif [ -d "$ROOT/student" ]; then
  found=$(find "$ROOT/student" -type d -name "$ASSIGNMENT" | head -n 1)
  if [ -n "$found" ]; then cp -r "$found/." "$work/$ASSIGNMENT/"; else cp -r "$ROOT/student/." "$work/$ASSIGNMENT/"; fi
fi
if ! "$PY" -c "import torch" > /dev/null 2>&1; then
  not_graded "the grading image has no torch: build it from the question's Dockerfile and set externalGradingOptions.image (please tell your instructor)"
  exit 0
fi
cd "$ROOT/tests" || { not_graded "the grader is missing from /grade/tests (please tell your instructor)"; exit 0; }
# the submission runs as an unprivileged user (or in bubblewrap): the checks, hidden ones included, are the
# judge's alone (the kit helpers the sandbox imports stay readable)
chmod -R go-rwx autograder/checks 2> /dev/null
KIT_NO_PROGRESS=1 "$PY" -m autograder grade --submission "$work" --assignment "$ASSIGNMENT" \\
  --tier "${KIT_TIER:-quick}" --format prairielearn --output "$RESULTS" --quiet
status=$?
if [ ! -s "$RESULTS" ]; then
  not_graded "the autograder failed (exit $status); please tell your instructor"
fi
rm -rf "$work"
exit 0
"""

DOCKERFILE = """# The grading image of this question: PrairieLearn's Python grader, a CPU build of torch (the default wheel
# brings gigabytes of CUDA libraries), the kit's dependencies and the data sets the checks train on (the grading
# container has no network). Build and push it, then name it in info.json's externalGradingOptions.image:
#   docker build -t <you>/dlvision-__ASSIGNMENT__ . && docker push <you>/dlvision-__ASSIGNMENT__
FROM prairielearn/grader-python
COPY tests/requirements.txt tests/constraints.txt /opt/kit/
RUN uv pip install --python "$(command -v python3)" torch torchvision -c /opt/kit/constraints.txt \\
      --index-url https://download.pytorch.org/whl/cpu \\
 && uv pip install --python "$(command -v python3)" -r /opt/kit/requirements.txt -c /opt/kit/constraints.txt
ENV DATA_DIR=/opt/kit-data
COPY tests/ /opt/kit/src/
# the raw files hold the test labels: root's (the judge's) only; the judge exports the label-free copy the
# sandbox reads to /opt/kit-data/public
RUN cd /opt/kit/src && __FETCH__ chmod -R go-rwx /opt/kit-data && chmod 711 /opt/kit-data
"""

QUESTION_HTML = """<pl-question-panel>
  <p>
    Upload the modules of <strong>__ASSIGNMENT__</strong> that you completed in
    <code>assignments/__ASSIGNMENT__/</code>: __FILE_LIST__.
  </p>
  <p>
    The course's autograder runs its checks (__TIER__ tier) on your code, each in a sandbox, and shows what each
    check found. A submission that cannot be imported (a missing file, a syntax error) is reported as not
    gradable and does not use up an attempt.
  </p>
  <pl-file-upload file-names="__FILE_NAMES__"></pl-file-upload>
</pl-question-panel>

<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""


def module_files(assignment: str) -> list[str]:
    """The .py files of the released assignment: what a student uploads."""
    return sorted(p.name for p in (ROOT / "assignments" / assignment).glob("*.py") if not p.name.startswith("_"))


def info(
    assignment: str,
    image: str = DEFAULT_IMAGE,
    timeout: int = MAX_TIMEOUT,
    tier: str = "quick",
    topic: str = "Deep learning for vision",
) -> dict:
    return {
        "uuid": str(uuid.uuid5(UUID_NAMESPACE, assignment)),
        "title": f"{assignment}: upload your modules",
        "topic": topic,
        "tags": [BY_FOLDER[assignment].short if assignment in BY_FOLDER else assignment, "autograded", tier],
        "type": "v3",
        "gradingMethod": "External",
        "singleVariant": True,
        "externalGradingOptions": {
            "enabled": True,
            "image": image,
            "entrypoint": ENTRYPOINT,
            "timeout": int(timeout),
            "enableNetworking": False,
            "environment": {"KIT_TIER": tier},
        },
    }


def build(
    assignment: str, out: Path, image: str = DEFAULT_IMAGE, timeout: int = MAX_TIMEOUT, tier: str = "quick"
) -> Path:
    """Write the question folder `out` (replacing it)."""
    assignment = resolve_assignment(assignment)
    if not 1 <= timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be between 1 and {MAX_TIMEOUT} s (PrairieLearn's cap), got {timeout}")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    tests = out / "tests"
    tests.mkdir(parents=True)
    (out / "info.json").write_text(json.dumps(info(assignment, image, timeout, tier), indent=2) + "\n")
    files = module_files(assignment)
    (out / "question.html").write_text(
        QUESTION_HTML.replace("__ASSIGNMENT__", assignment)
        .replace("__TIER__", tier)
        .replace("__FILE_LIST__", ", ".join(f"<code>{f}</code>" for f in files))
        .replace("__FILE_NAMES__", ", ".join(files))
    )
    datasets = datasets_for(assignment)  # every tier's: KIT_TIER can change without rebuilding the image
    fetch = f"python3 -m data_scripts fetch {' '.join(datasets)} &&" if datasets else "mkdir -p /opt/kit-data &&"
    (out / "Dockerfile").write_text(DOCKERFILE.replace("__ASSIGNMENT__", assignment).replace("__FETCH__", fetch))
    run = tests / "run.sh"
    run.write_text(RUN_SH.replace("__ASSIGNMENT__", assignment))
    run.chmod(0o755)
    for name in FILES:
        shutil.copy2(ROOT / name, tests / name)
    (tests / "requirements.txt").write_text(grader_requirements())
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            target = tests / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return out


def main(argv=None) -> int:
    from .api import TIERS

    parser = argparse.ArgumentParser(prog="python -m autograder.prairielearn", description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="a1, a2, ... or the folder name")
    parser.add_argument("--out", help="question folder (default: dist/prairielearn-<assignment>)")
    parser.add_argument(
        "--image",
        default=DEFAULT_IMAGE,
        help=f"grading image (default: {DEFAULT_IMAGE}, which has "
        "no torch: build the question's Dockerfile and name that image here)",
    )
    parser.add_argument(
        "--timeout", type=int, default=MAX_TIMEOUT, help=f"seconds per grading job, at most {MAX_TIMEOUT} (default)"
    )
    parser.add_argument(
        "--tier",
        default="quick",
        choices=TIERS,
        help="checks graded (default: quick, which fits the 600 s cap; train needs minutes)",
    )
    args = parser.parse_args(argv)
    try:
        full = resolve_assignment(args.assignment)
        out = build(full, Path(args.out or ROOT / "dist" / f"prairielearn-{full}"), args.image, args.timeout, args.tier)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"PrairieLearn question for {full}: {out} (copy it under your course's questions/; grading image: {args.image})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
