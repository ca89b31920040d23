"""make prairielearn A=a1: an externally graded PrairieLearn question for one assignment.

dist/prairielearn-<assignment>/ is a question folder to copy under a course's questions/: info.json (graded
externally, no network, PrairieLearn's 600 s cap), question.html (upload the assignment's modules, show the
grader's results), image/ and tests/.

image/ is the build context of the grading image, which PrairieLearn pulls from a public registry: anyone can pull
it, so it holds what any student may see. Its Dockerfile installs PrairieLearn's Python grader, a CPU build of
torch and the kit's dependencies, and the label-free public data the trainings read (the container has no
network); it copies nothing but image/ (the dependency lists and data_scripts/), so no check and no test label is
in the image. tests/ is private (PrairieLearn mounts it at /grade/tests at grading time; students never see it):
the entrypoint run.sh, the instructor's grader with ALL the checks, hidden ones included (PrairieLearn grades
authoritatively), and labels/<dataset>.npz, the test labels alone (data_scripts/grading_data.py), which the judge
pairs with the image's public test images. Never solutions/.

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

from data_scripts.datasets import DataError
from data_scripts.grading_data import export_test_labels

from ..api import TIERS
from ..assignments import BY_FOLDER, datasets_for
from ..assignments import resolve as resolve_assignment
from .gradescope import FILES, PACKAGES
from .student_kit import grader_requirements

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_IMAGE = "prairielearn/grader-python"
MAX_TIMEOUT = 600  # PrairieLearn's cap on externalGradingOptions.timeout, in seconds
ENTRYPOINT = "/grade/tests/run.sh"
IMAGE_DATA = "/opt/kit-data"  # DATA_DIR in the image: public/<dataset>.npz only
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
  not_graded "the grading image has no torch: build it from the question's image/ folder and set externalGradingOptions.image (please tell your instructor)"
  exit 0
fi
cd "$ROOT/tests" || { not_graded "the grader is missing from /grade/tests (please tell your instructor)"; exit 0; }
# the test labels come with the question (the public image has none); info.json's environment may point
# KIT_TEST_LABELS at a copy in serverFilesCourse instead
export KIT_TEST_LABELS="${KIT_TEST_LABELS:-$ROOT/tests/labels}"
# the submission runs as an unprivileged user (or in bubblewrap): the checks, hidden ones included, and the test
# labels are the judge's alone (the kit helpers the sandbox imports stay readable)
chmod -R go-rwx autograder/checks "$KIT_TEST_LABELS" 2> /dev/null
KIT_NO_PROGRESS=1 "$PY" -m autograder grade --submission "$work" --assignment "$ASSIGNMENT" \\
  --tier "${KIT_TIER:-quick}" --format prairielearn --output "$RESULTS" --quiet
status=$?
if [ ! -s "$RESULTS" ]; then
  not_graded "the autograder failed (exit $status); please tell your instructor"
fi
rm -rf "$work"
exit 0
"""

DOCKERFILE = """# The grading image of this question. PrairieLearn pulls it from a public registry, so anyone can: it holds
# PrairieLearn's Python grader, a CPU build of torch (the default wheel brings gigabytes of CUDA libraries), the
# kit's dependencies and the label-free public data the trainings read (the grading container has no network).
# No checks and no test labels: they reach the container at grading time from the question's tests/.
# Build it from this folder for PrairieLearn's machines, push it, name it in info.json, then sync it on the
# course's Sync page (Docker images):
#   docker build --platform linux/amd64 -t <you>/dlvision-__ASSIGNMENT__ .
#   docker push <you>/dlvision-__ASSIGNMENT__
FROM prairielearn/grader-python
COPY requirements.txt constraints.txt /opt/kit/
RUN uv pip install --python "$(command -v python3)" torch torchvision -c /opt/kit/constraints.txt \\
      --index-url https://download.pytorch.org/whl/cpu \\
 && uv pip install --python "$(command -v python3)" -r /opt/kit/requirements.txt -c /opt/kit/constraints.txt
COPY data_scripts/ /tmp/kit-build/data_scripts/
# the raw files (they hold the test labels) are fetched into a scratch folder that this same step removes, so no
# layer keeps them; the test images must be those the question's labels were made from (--expect)
RUN __PUBLIC__
ENV DATA_DIR=__IMAGE_DATA__
"""

QUESTION_HTML = """<pl-question-panel>
  <p>
    Upload the modules of <strong>__ASSIGNMENT__</strong> that you completed in
    <code>assignments/__ASSIGNMENT__/</code>: __FILE_LIST__.
  </p>
  <p>
    The course's autograder runs its checks (__TIER__ tier) on your code, each in a sandbox, and shows what each
    check found. Every upload is graded and uses an attempt, even when a module has a syntax error or fails
    when imported: that module's checks score 0 and say why, so run <code>make check</code> on your modules
    before you upload them. Only an upload of which no code could be loaded at all, or one the grader itself
    failed on, is reported as not gradable and leaves your attempts as they were.
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
    fingerprints = {name: _export_labels(name, tests / "labels") for name in datasets}
    _write_image(assignment, out / "image", fingerprints)
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


def _export_labels(dataset: str, folder: Path) -> str:
    """Write the test labels of `dataset` into the question's private tests/; returns the fingerprint of the test
    images they label, which the image's build checks its own copy against."""
    import numpy as np

    with np.load(export_test_labels(dataset, folder)) as z:
        return str(z["images_sha256"])


def public_data_step(fingerprints: dict[str, str]) -> str:
    """The Dockerfile's RUN line that leaves the label-free public data of each data set in the image."""
    if not fingerprints:
        return f"mkdir -p {IMAGE_DATA}/public"
    expect = " ".join(f"--expect {name}={sha}" for name, sha in fingerprints.items())
    return (
        "cd /tmp/kit-build && KIT_NO_PROGRESS=1 DATA_DIR=/tmp/kit-build/data python3 -m data_scripts.grading_data "
        f"public {' '.join(fingerprints)} --out {IMAGE_DATA}/public {expect} && cd / && rm -rf /tmp/kit-build"
    )


def _write_image(assignment: str, folder: Path, fingerprints: dict[str, str]) -> None:
    """image/: the Dockerfile and the only files it copies: the dependency lists and the data layer (public code:
    the student kit has it too)."""
    (folder / "data_scripts").mkdir(parents=True)
    (folder / "Dockerfile").write_text(
        DOCKERFILE.replace("__ASSIGNMENT__", assignment)
        .replace("__PUBLIC__", public_data_step(fingerprints))
        .replace("__IMAGE_DATA__", IMAGE_DATA)
    )
    (folder / "requirements.txt").write_text(grader_requirements())
    shutil.copy2(ROOT / "constraints.txt", folder / "constraints.txt")
    for path in sorted((ROOT / "data_scripts").glob("*.py")):
        shutil.copy2(path, folder / "data_scripts" / path.name)


def main(argv=None) -> int:

    parser = argparse.ArgumentParser(
        prog="python -m autograder.platforms.prairielearn", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("assignment", help="a1, a2, ... or the folder name")
    parser.add_argument("--out", help="question folder (default: dist/prairielearn-<assignment>)")
    parser.add_argument(
        "--image",
        default=DEFAULT_IMAGE,
        help=f"grading image (default: {DEFAULT_IMAGE}, which has "
        "no torch: build the question's image/ folder and name that image here)",
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
    except (ValueError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"PrairieLearn question for {full}: {out} (copy it under your course's questions/; grading image: "
        f"{args.image}, built from {out / 'image'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
