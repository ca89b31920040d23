"""The one way the kit loads a student's modules: from the folder asked for, every time.

`load_student_modules("solutions/a1_intro_nn", ["mlp", "mlp_torch"])` executes solutions/a1_intro_nn/mlp.py and
mlp_torch.py afresh and returns {"mlp": module, "mlp_torch": module}, even when modules of those names were
imported before from another folder (assignments/a1_intro_nn, say): comparing two folders in one process compares
them, not the first one twice. The student's modules import each other by their plain names (`from attention
import MultiHeadsSelfAttention` in vit.py) and get the file of the same folder.

A missing file, or one that does not import (a syntax error, an exception at import), is a KitError naming the
file and the line, without the kit's traceback.

The grader's sandbox (autograder/sandbox/server.py) has a loader of its own, for the sandbox process, whose errors are
reported to the judge as the submission's.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import sysconfig
import traceback
from pathlib import Path
from types import ModuleType
from typing import Iterable

from .errors import KitError


def load_student_modules(folder, names: Iterable[str]) -> dict[str, ModuleType]:
    """{name: module} for each `name`.py of `folder`, executed from that file now (see the module's doc)."""
    folder = Path(folder).expanduser().resolve()
    names = list(names)
    files = " and ".join(", ".join(f"{n}.py" for n in names).rsplit(", ", 1))
    if not folder.is_dir():
        raise KitError(f"{folder}: no such folder (--folder should name the folder holding {files})")
    for name in names:
        if not name.isidentifier():
            raise KitError(f"{name!r} is not a module name")
        if not (folder / f"{name}.py").is_file():
            raise KitError(f"{folder / f'{name}.py'} not found: the folder should hold {files}")
    _forget_modules_of(folder)
    path = str(folder)
    while path in sys.path:
        sys.path.remove(path)
    sys.path.insert(0, path)  # the student's modules import each other by name: this folder's come first
    importlib.invalidate_caches()
    return {name: _execute(folder, name) for name in names}


def load_student_module(folder, name: str) -> ModuleType:
    """One module: load_student_modules(folder, [name])[name]."""
    return load_student_modules(folder, [name])[name]


def _forget_modules_of(folder: Path) -> None:
    """Drop from sys.modules every plain module named like a .py file of `folder` (whichever folder it came from,
    this one included: it is executed again, as the file is now), so that the student's imports of each other
    find this folder's files. Packages and modules of Python or of installed libraries are kept."""
    for file in folder.glob("*.py"):
        module = sys.modules.get(file.stem)
        if module is not None and not _is_library(module):
            del sys.modules[file.stem]


def _library_paths() -> list[Path]:
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return [Path(p).resolve() for p in paths if p]


def _is_library(module: ModuleType) -> bool:
    file = getattr(module, "__file__", None)
    if file is None or hasattr(module, "__path__"):  # built in, namespace or package: never a student's file
        return True
    file = Path(file).resolve()
    return any(file.is_relative_to(p) for p in _library_paths())


def _execute(folder: Path, name: str) -> ModuleType:
    path = folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        sys.modules.pop(name, None)
        where = f"{err.filename or path}, line {err.lineno}"
        raise KitError(f"{where}: syntax error ({err.msg}); {path.name} cannot be imported") from None
    except (Exception, SystemExit) as err:  # a student's sys.exit() at import is their error too, not an exit
        sys.modules.pop(name, None)
        raise KitError(
            f"{_student_line(err, folder, path)}: importing {path.name} raised {type(err).__name__}: {err}"
        ) from None
    return module


def _student_line(err: BaseException, folder: Path, path: Path) -> str:
    """'<file>, line <n>' of the deepest frame of `err` in a file of `folder` (where the student's code failed)."""
    found = f"{path}"
    for frame in traceback.extract_tb(err.__traceback__):
        try:
            if Path(frame.filename).resolve().parent == folder:
                found = f"{frame.filename}, line {frame.lineno}"
        except (OSError, ValueError):
            continue
    return found
