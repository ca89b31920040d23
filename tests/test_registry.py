"""The assignment registry (autograder/assignments.py) lists exactly the assignments the folders hold, each once,
and everything that lists assignments reads it."""

import ast
from pathlib import Path

import pytest

from autograder import assignments, runner
from autograder.assignments import ASSIGNMENTS, REGISTRY, get, resolve

ROOT = Path(__file__).resolve().parent.parent


def _folders(parent: Path) -> set[str]:
    return {p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}


@pytest.mark.quick
def test_registry_matches_the_folders_and_the_check_modules():
    listed = set(ASSIGNMENTS)
    assert len(listed) == len(ASSIGNMENTS), "an assignment is listed twice in autograder/assignments.py"
    assert _folders(ROOT / "solutions") == listed, (
        "solutions/ and autograder/assignments.py disagree: add (or remove) the assignment's registry entry"
    )
    assert _folders(ROOT / "assignments") == listed, "assignments/ and the registry disagree: run `make release`"
    checks = {p.stem for p in (ROOT / "autograder" / "checks").glob("*.py") if not p.name.startswith("_")}
    assert checks == listed, "autograder/checks/<assignment>.py and the registry disagree"


@pytest.mark.quick
@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.short)
def test_each_entry_names_what_exists(entry):
    from data_scripts import DATASETS

    assert entry.folder.startswith(entry.short + "_"), "the short name is the folder's prefix (a1 -> a1_intro_nn)"
    assert entry.title and entry.notebooks
    notebooks = {p.name for p in (ROOT / "solutions" / entry.folder).glob("*.ipynb")}
    assert set(entry.notebooks) == notebooks, f"{entry.folder}: the registry's notebooks are not the folder's"
    assert set(entry.datasets) <= set(DATASETS), f"{entry.folder}: unknown data set (data_scripts knows {DATASETS})"
    assert (ROOT / entry.check_module.replace(".", "/")).with_suffix(".py").is_file()
    kit = ROOT / entry.kit_module.replace(".", "/")
    assert kit.with_suffix(".py").is_file() or (kit / "__init__.py").is_file()
    assert (ROOT / entry.doc).is_file()


@pytest.mark.quick
def test_short_names_resolve_and_unknown_names_are_refused():
    assert len({e.short for e in REGISTRY}) == len(REGISTRY)
    for entry in REGISTRY:
        assert resolve(entry.short) == resolve(entry.folder) == entry.folder
        assert get(entry.short) is entry
    with pytest.raises(ValueError, match="unknown assignment 'a9'; known: a1_intro_nn"):
        resolve("a9")
    # the old names keep working for code that imported them from the runner
    assert runner.ASSIGNMENTS is ASSIGNMENTS and runner.resolve_assignment("a2") == "a2_cnn"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


@pytest.mark.quick
def test_imports_stay_one_way():
    """The registry imports nothing of the kit (the student kit's grader ships it); the data layer knows data
    sets, not assignments, and never imports the grader."""
    assert _imports(Path(assignments.__file__)) <= {"__future__", "dataclasses"}
    for path in (ROOT / "data_scripts").glob("*.py"):
        assert not any(m.startswith("autograder") for m in _imports(path)), f"{path.name} imports the grader"
    import data_scripts.datasets

    assert not hasattr(data_scripts.datasets, "ASSIGNMENT_DATASETS"), "the registry says which data sets, once"


@pytest.mark.quick
def test_nothing_else_lists_the_assignments():
    """No module of the grader, the data layer or the kit spells the list of assignments out again."""
    names = set(ASSIGNMENTS)
    for package in ("autograder", "data_scripts", "kit"):
        for path in sorted((ROOT / package).glob("*.py")):
            if path.name == "assignments.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                    items = node.keys if isinstance(node, ast.Dict) else node.elts
                    found = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
                    assert len(found) < 2, f"{package}/{path.name}:{node.lineno} lists assignments {sorted(found)}"
