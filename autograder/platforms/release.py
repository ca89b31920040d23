"""make release: derive the student workspace assignments/ from the instructor source solutions/.

Notebooks go through nbgrader's own `generate_assignment`; the .py modules it copies are then cleared with
nbgrader's own ClearSolutions preprocessor, so modules and notebooks follow exactly the same rules.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from traitlets.config import Config, PyFileConfigLoader

from ..assignments import ASSIGNMENTS, datasets_for
from .handin import dlvision_settings

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "solutions"
BEGIN = "### BEGIN SOLUTION"


def course_config() -> Config:
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def assignment_ids() -> list[str]:
    """Every assignment, from the registry (autograder/assignments.py)."""

    return list(ASSIGNMENTS)


def clear_module(text: str, config: Config) -> str:
    """A .py module with its solution regions replaced by nbgrader's stub (nbgrader's own code does it)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    if BEGIN not in text:
        return text
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    )
    cell = nbformat.v4.new_code_cell(text)
    cell.metadata["nbgrader"] = {
        "solution": True,
        "grade": False,
        "locked": False,
        "grade_id": "module",
        "schema_version": 3,
    }
    nb.cells.append(cell)
    for pre in (ClearSolutions(config=config), ClearHiddenTests(config=config)):
        nb, _ = pre.preprocess(nb, {})
    return nb.cells[0].source


SETUP_TAG = "kit-setup"


def student_kit_source() -> str:
    """Where released notebooks fetch the student kit from when it is not installed: KIT_STUDENT_KIT_URL, else
    pyproject.toml's [tool.dlvision] student-kit-url (a URL of student-kit.zip, or a path); "" when unset."""

    if os.environ.get("KIT_STUDENT_KIT_URL"):
        return os.environ["KIT_STUDENT_KIT_URL"]
    return dlvision_settings(ROOT / "pyproject.toml", required=True).get("student-kit-url", "")


def setup_cell_source(assignment: str) -> str:

    template = (ROOT / "autograder" / "templates" / "setup_cell.py").read_text()
    return (
        template.replace("__KIT_SOURCE__", student_kit_source())
        .replace("__ASSIGNMENT__", assignment)
        .replace("__DATASETS__", repr(datasets_for(assignment)))
        .rstrip("\n")
    )


def add_setup_cell(notebook: Path, assignment: str) -> None:
    """Put the set-up cell right after the notebook's title (replacing one from an earlier release)."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells = [c for c in nb.cells if SETUP_TAG not in c.metadata.get("tags", [])]
    cell = nbformat.v4.new_code_cell(setup_cell_source(assignment), metadata={"tags": [SETUP_TAG]})
    if nb.nbformat_minor >= 5:
        cell["id"] = SETUP_TAG  # stable: the release is reproducible
    else:
        cell.pop("id", None)
    nb.cells.insert(1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0, cell)
    nbformat.write(nb, notebook)


def build(out_dir: Path, assignments: list[str] | None = None, course: bool = False) -> None:
    """Write the student release of every assignment (or of `assignments`) to out_dir/<assignment>/.

    course=True also keeps nbgrader's own products in the course root: release/<assignment>/ (with the
    modules cleared too, ready for `nbgrader release_assignment`) and the assignments in gradebook.db, which
    `nbgrader autograde` needs. Otherwise both go to a temporary folder.
    """
    config = course_config()
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        release_dir = ROOT / "release" if course else Path(tmp) / "release"
        db_url = f"sqlite:///{ROOT / 'gradebook.db'}" if course else f"sqlite:///{tmp}/gradebook.db"
        for aid in assignments or assignment_ids():
            cmd = [
                sys.executable,
                "-m",
                "nbgrader",
                "generate_assignment",
                aid,
                "--force",
                "--log-level=WARN",
                f"--CourseDirectory.release_directory={release_dir}",
                f"--CourseDirectory.db_url={db_url}",
            ]
            # nbgrader's gradebook runs `alembic` from PATH: the venv's bin must be there even when not activated
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise SystemExit(f"nbgrader generate_assignment {aid} failed:\n{proc.stdout}{proc.stderr}")
            released = release_dir / aid
            for py in sorted(released.rglob("*.py")):
                py.write_text(clear_module(py.read_text(), config))
            for notebook in sorted(released.glob("*.ipynb")):
                add_setup_cell(notebook, aid)
            target = out_dir / aid
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(released, target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.platforms.release", description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "assignments"), help="where to write (default: assignments/)")
    parser.add_argument(
        "assignments", nargs="*", help="assignment folders (default: all in the registry, autograder/assignments.py)"
    )
    args = parser.parse_args(argv)
    build(Path(args.out), args.assignments or None, course=True)
    print(f"released {', '.join(args.assignments or assignment_ids())} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
