"""python -m autograder.platforms.handin a1: zip what a student hands in for one assignment, with its score and what to fix.

The zip holds the assignment folder's modules and notebooks (no data, runs or caches), under the folder's own
name, which is the layout every grading path accepts (nbgrader, Gradescope, PrairieLearn, `grade --submission`).

Before saying where to upload it, the hand-in grades the modules with the public checks (the quick tier unless
--tier says otherwise) and prints the score, then warns about what would cost points: a notebook never run (no
outputs, no execution counts), written answers that still say "YOUR ANSWER HERE", public checks that fail.
Warnings never stop the hand-in: the zip is written all the same.

Where to upload: KIT_HANDIN_URL when set, else the address the course configured (pyproject.toml's
[tool.dlvision] handin-url; `make student-kit` copies it into the kit as autograder/handin.json), else the
course's own way. The address may hold {assignment} (a1_intro_nn) and {short} (a1).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import zipfile
from pathlib import Path

from ..api import TIERS
from ..assignments import get
from ..report import totals
from ..runner import grade, load_checks

HANDED_IN = ("*.py", "*.ipynb")
ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Path("autograder") / "handin.json"  # in the student kit, written by write_settings
UNANSWERED = "YOUR ANSWER HERE"


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


# ---------------------------------------------------------------- what the notebooks still lack
def _text(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _question(cells, i: int) -> str:
    """The label of the question answer cell i answers: the last **Qn.** of the markdown above it, else its
    nbgrader id, else its position."""
    for cell in reversed(cells[:i]):
        if cell.get("cell_type") == "markdown" and UNANSWERED not in _text(cell):
            found = re.findall(r"\*\*(Q\d+[a-z]?)\b", _text(cell))
            if found:
                return found[-1]
    return cells[i].get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i + 1}"


def notebook_warnings(path: Path) -> list[str]:
    """What a notebook still lacks before it is handed in: runs of its code cells, written answers."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError) as err:
        return [f"{path.name} cannot be read ({err}): open it in Jupyter and save it again"]
    warnings = []
    code = [c for c in cells if c.get("cell_type") == "code" and _text(c).strip()]
    ran = [c for c in code if c.get("execution_count") is not None or c.get("outputs")]
    if code and not ran:
        warnings.append(
            f"{path.name} was never run (no outputs): run all its cells (Run > Run All Cells) and save it, "
            "so its figures and results are handed in"
        )
    answers = [
        _question(cells, i)
        for i, c in enumerate(cells)
        if c.get("cell_type") in ("markdown", "raw") and UNANSWERED in _text(c)
    ]
    if answers:
        warnings.append(f'{path.name}: {len(answers)} written answer(s) still say "{UNANSWERED}": {", ".join(answers)}')
    return warnings


# ---------------------------------------------------------------- the score
def public_score(workspace: Path, assignment: str, tier: str) -> tuple[list, int]:
    """(the public checks' results at `tier`, the points of the public trainings that the quick tier leaves out)."""

    results = [r for r in grade(workspace, [assignment], tier=tier) if not r.hidden]
    later = (
        sum(c.points for c in load_checks(assignment) if c.tier == "train" and not c.hidden) if tier == "quick" else 0
    )
    return results, later


def score_lines(results, later: float, tier: str, short: str) -> tuple[list[str], list[str]]:
    """(lines that report the score, the warning about failing checks if any)."""

    got, out_of = totals(results)
    passed = sum(r.status == "passed" for r in results)
    lines = [f"Score, public checks ({tier} tier): {got:g} / {out_of:g} points ({passed} of {len(results)} pass)"]
    if later:
        lines.append(f"  not counted here: the trainings' {later:g} points (`make grade A={short}` runs them)")
    failing = [r.name for r in results if r.status != "passed"]
    warning = []
    if failing:
        warning.append(
            f"{len(failing)} public check(s) do not pass: {', '.join(failing)} (`make check A={short}` says why)"
        )
    return lines, warning


# ---------------------------------------------------------------- where to upload
def dlvision_settings(pyproject: Path = ROOT / "pyproject.toml", required: bool = False) -> dict:
    """pyproject.toml's [tool.dlvision] ({} without the file or the table). Python 3.10 reads it with tomli, in the
    instructor's requirements: required=True (the instructor's release) fails without it, so that a configured
    address is never silently dropped; otherwise (the student kit, which reads autograder/handin.json first) it
    gives {}."""
    if not Path(pyproject).is_file():
        return {}
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            if required:
                raise
            return {}
    with open(pyproject, "rb") as f:
        return tomllib.load(f).get("tool", {}).get("dlvision", {})


def configured_address(root: Path = ROOT) -> str:
    """Where students upload: KIT_HANDIN_URL, the kit's autograder/handin.json, or [tool.dlvision] handin-url."""
    if os.environ.get("KIT_HANDIN_URL"):
        return os.environ["KIT_HANDIN_URL"]
    settings = root / SETTINGS
    if settings.is_file():
        return json.loads(settings.read_text()).get("handin-url", "")
    return dlvision_settings(root / "pyproject.toml").get("handin-url", "")


def write_settings(kit: Path) -> Path:
    """The student kit's autograder/handin.json: the hand-in address the course configured ("" when none)."""
    target = Path(kit) / SETTINGS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"handin-url": configured_address()}) + "\n")
    return target


def upload_lines(target: Path, address: str, assignment: str, short: str) -> list[str]:
    if address:
        return [f"Upload {target} at {address.format(assignment=assignment, short=short)}"]
    return [
        f"Hand in {target} the way your course says: upload it (Gradescope, PrairieLearn, your course's site),",
        "or on GitHub Classroom commit and push your files instead.",
    ]


# ---------------------------------------------------------------- from a running notebook (Colab)
def live_notebook() -> dict | None:
    """The notebook open in Colab as the student edited it (Colab keeps it in the browser and Drive, not in the
    runtime's assignment folder, which holds the kit's untouched copy); None outside Colab."""
    if "google.colab" not in sys.modules:
        return None
    from google.colab import _message  # Colab's own channel to the page; the only way to its current contents

    reply = _message.blocking_request("get_ipynb", request="", timeout_sec=60)
    return reply.get("ipynb") if isinstance(reply, dict) else None


def here(assignment: str | None = None) -> Path:
    """Hand in from a notebook cell (`from autograder.platforms.handin import here; here()`): on Colab, the notebook as the
    student edited it replaces the kit's copy in the assignment folder first, and the zip is offered as a
    download. The assignment is the current folder's (the set-up cell moved there) unless named."""
    folder = Path.cwd()
    name = assignment or folder.name
    notebook = live_notebook()
    if notebook is not None:
        entry = get(name)
        folder = Path.cwd() if Path.cwd().name == entry.folder else ROOT / "assignments" / entry.folder
        (folder / f"{entry.folder}.ipynb").write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")
        name = entry.folder
    main([name, "--workspace", str(folder.parent), "--out", str(folder.parent.parent / "handin")])
    target = folder.parent.parent / "handin" / f"{folder.name}.zip"
    if notebook is not None:
        from google.colab import files

        files.download(str(target))
    return target


# ---------------------------------------------------------------- the command
def main(argv=None) -> int:

    parser = argparse.ArgumentParser(prog="python -m autograder.platforms.handin", description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment", help="a1, a2, ... or the folder name")
    parser.add_argument("--workspace", default="assignments", help="the folder holding your assignments")
    parser.add_argument("--out", default="handin", help="the folder the zip goes to (default: handin)")
    parser.add_argument("--tier", default="quick", choices=TIERS, help="the checks that give the score (quick)")
    parser.add_argument("--no-grade", action="store_true", help="zip and check the notebooks, without the score")
    args = parser.parse_args(argv)
    try:
        entry = get(args.assignment)
        target = build(entry.folder, Path(args.workspace), Path(args.out))
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
    lines = [f"{target}: {len(names)} files ({', '.join(Path(n).name for n in names)})"]
    warnings = []
    for notebook in sorted((Path(args.workspace) / entry.folder).glob("*.ipynb")):
        warnings += notebook_warnings(notebook)
    if not args.no_grade:
        print(f"grading {entry.folder} with the public checks ({args.tier} tier) ...", file=sys.stderr, flush=True)
        try:
            results, later = public_score(Path(args.workspace), entry.folder, args.tier)
            score, failing = score_lines(results, later, args.tier, entry.short)
            lines += score
            warnings += failing
        except Exception as err:  # the kit failed, not the student: the hand-in goes on
            warnings.append(f"the public checks could not run ({type(err).__name__}: {err}); the zip is written")
    if warnings:
        lines += ["", "Before you hand in:"] + [f"  ! {w}" for w in warnings]
        lines.append("  (warnings only: the zip is written; fix what you can and run the hand-in again)")
    lines += [""] + upload_lines(target, configured_address(), entry.folder, entry.short)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
