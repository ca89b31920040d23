"""python -m autograder.handin a1: zip what a student hands in for one assignment.

The zip holds the assignment folder's modules and notebooks (no data, runs or caches), under the folder's own
name, which is the layout every grading path accepts (nbgrader, Gradescope, PrairieLearn, `grade --submission`).
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

HANDED_IN = ("*.py", "*.ipynb")


def build(assignment: str, workspace: Path = Path("assignments"), out_dir: Path = Path("handin")) -> Path:
    folder = workspace / assignment
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}/ not found: run this from the kit's top folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{assignment}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for pattern in HANDED_IN:
            for path in sorted(folder.glob(pattern)):
                zf.write(path, f"{assignment}/{path.name}")
    return target


def main(argv=None) -> int:
    from .runner import resolve_assignment

    parser = argparse.ArgumentParser(prog="python -m autograder.handin", description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="a1, a2, ... or the folder name")
    parser.add_argument("--workspace", default="assignments", help="the folder holding your assignments")
    args = parser.parse_args(argv)
    try:
        target = build(resolve_assignment(args.assignment), Path(args.workspace))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
    print(f"{target}: {len(names)} files ({', '.join(Path(n).name for n in names)}); hand in this zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
