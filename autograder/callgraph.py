"""Which of the student's own functions a function of theirs calls: read from the source (parsed, never run), so
that a failed check can name a helper whose own check failed (runner.blame_helpers).

Only calls the source states are followed: a name defined at the top of the same file (a function, or a class and
its methods), `self.<method>` inside a class, and a name imported from another file of the submission (`from mlp
import softmax`). Anything dynamic is left out: the graph may miss a helper, never invent one.
"""

from __future__ import annotations

import ast
import stat
from functools import lru_cache
from pathlib import Path


MAX_BYTES = 1 << 20  # a student's source file is far smaller


@lru_cache(maxsize=64)
def _parsed(path: str, mtime: float):
    try:
        return ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return None


def definitions(folder: Path, module: str) -> dict:
    """{name: the top-level function or class node} of folder/<module>.py, and {name: "module.name"} of the names it
    imports from the submission's other files."""
    path = Path(folder) / f"{module}.py"
    try:
        info = path.lstat()  # a link (to /dev/zero, to a secret) or a huge file is never read
        regular = stat.S_ISREG(info.st_mode) and info.st_size <= MAX_BYTES
        tree = _parsed(str(path), info.st_mtime) if regular else None
    except OSError:
        tree = None
    if tree is None:
        return {}, {}
    defined = {
        node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    imported = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            other = node.module.split(".")[-1]
            if (Path(folder) / f"{other}.py").is_file():
                for alias in node.names:
                    imported[alias.asname or alias.name] = f"{other}.{alias.name}"
    return defined, imported


def direct_callees(folder: Path, target: str) -> list[str]:
    """The student's functions and classes ("module.name") that `target` calls by name in its own body."""
    module, _, name = target.partition(".")
    defined, imported = definitions(folder, module)
    node = defined.get(name)
    if node is None:
        return []
    methods = (
        {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if isinstance(node, ast.ClassDef)
        else set()
    )
    found = []
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if isinstance(func, ast.Name):
            called = func.id
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            called = func.attr if func.attr not in methods else None  # its own methods are part of it
        else:
            called = None
        if called is None or called == name:
            continue
        if called in defined:
            found.append(f"{module}.{called}")
        elif called in imported:
            found.append(imported[called])
    return list(dict.fromkeys(found))


def callees(folder: Path, target: str) -> list[str]:
    """Every student function and class `target` reaches through its calls, nearest first (not itself)."""
    seen, queue = [target], [target]
    while queue:
        for helper in direct_callees(folder, queue.pop(0)):
            if helper not in seen:
                seen.append(helper)
                queue.append(helper)
    return seen[1:]
