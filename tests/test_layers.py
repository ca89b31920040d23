"""The kit's layers, as a test: who may import whom (issue 31).

Read from the source (every `import`, at the top of a file or inside a function): the student-facing helpers
(`kit/`) never import the grader; the renderers of results (`autograder/report.py`) never import the runner or the
sandbox; the grading core never imports a platform packager or a maintainers' tool; and no two modules of the
grader import each other, however indirectly."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("autograder", "kit", "data_scripts")

# the grader's modules by audience (docs/maintainers.md draws the map): its sub-packages say whom they serve
PLATFORMS = "autograder.platforms"
TOOLS = "autograder.tools"
DRIVERS = "autograder.sandbox.drivers"  # run in the sandbox, next to the student's code


def under(package: str):
    return lambda name: name == package or name.startswith(package + ".")


RENDERERS = {"autograder.report"}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "templates" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, known: dict, nodes=None) -> set[str]:
    """The project's modules `name` imports, anywhere in its file (or in `nodes` of it)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in nodes if nodes is not None else ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets = [module] + [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def arrows(graph, sources, targets) -> list[str]:
    return sorted(f"{a} -> {b}" for a in graph if sources(a) for b in graph[a] if targets(b))


@pytest.mark.quick
def test_the_student_helpers_never_import_the_grader(graph):
    found = arrows(graph, under("kit"), under("autograder"))
    assert not found, found


@pytest.mark.quick
def test_the_drivers_import_the_kit_and_nothing_else_of_the_grader(graph):
    """What the sandbox runs sees the kit and its fellow drivers, never the judge's code (the sandbox does not hold it)."""
    found = arrows(graph, under(DRIVERS), lambda b: under("autograder")(b) and not under(DRIVERS)(b))
    assert not found, found


@pytest.mark.quick
def test_the_renderers_never_import_the_runner_or_the_sandbox(graph):
    core = {"autograder.runner", "autograder.sandbox.client", "autograder.sandbox.server"}
    found = arrows(graph, lambda a: a in RENDERERS, lambda b: b in core)
    assert not found, found


@pytest.mark.quick
def test_the_core_never_imports_a_platform_or_a_tool(graph):
    def core(name):  # (the command line, autograder.__main__, also serves the maintainers: determinism)
        return (
            under("autograder")(name)
            and not under(PLATFORMS)(name)
            and not under(TOOLS)(name)
            and (name != "autograder.__main__")
        )

    found = arrows(graph, core, lambda b: under(PLATFORMS)(b) or under(TOOLS)(b))
    assert not found, found
    found = arrows(graph, under(PLATFORMS), under(TOOLS))
    assert not found, found


@pytest.mark.quick
def test_no_folder_holds_more_than_twelve_modules():
    """A folder a newcomer opens lists what it serves at a glance; past a dozen modules it wants sub-packages."""
    crowded = {}
    for package in PACKAGES:
        for folder in [ROOT / package, *(p for p in (ROOT / package).rglob("*") if p.is_dir())]:
            count = len([p for p in folder.glob("*.py") if p.name not in ("__init__.py", "__main__.py")])
            if count > 12:
                crowded[str(folder.relative_to(ROOT))] = count
    assert not crowded, crowded


# Project imports sit at the top of their module, so that a reader sees what a module needs; inside a function only
# where the imported module stands for a heavy third party or is absent where the importer runs.
def lazy_reason(importer: str, target: str) -> str | None:
    if target == "kit.plots":
        return "kit.plots imports matplotlib"
    if importer == "autograder.platforms.nbgrader_plugins":
        return "nbgrader_config.py imports it: nbgrader starts without torch"
    if importer == "autograder.platforms.classroom" and target == "autograder.platforms.student_kit":
        return "a Classroom repository runs classroom.py without the kit builder"
    if importer == "autograder.__main__" and (under(TOOLS)(target) or under(PLATFORMS)(target)):
        return "the student kit ships the command line without the tools"
    return None


def lazy_imports(name: str, path: Path, known: dict) -> list[tuple[int, str]]:
    """(line, module) of each project import made inside a function or class of `path`."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
            targets = imports(name, path, known, [node])
            # `from kit import plots` imports kit.plots, not all of kit
            found += [(node.lineno, t) for t in sorted(targets) if not any(u.startswith(t + ".") for u in targets)]
    return found


@pytest.mark.quick
def test_project_imports_sit_at_the_top():
    known = modules()
    found = [
        f"{name}:{line} imports {target} inside a function"
        for name, path in known.items()
        for line, target in lazy_imports(name, path, known)
        if not lazy_reason(name, target)
    ]
    assert not found, found


@pytest.mark.quick
def test_a_lazy_import_planted_is_found(tmp_path):
    known = modules()
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from .runner import grade\n\n\ndef f():\n    from .report import render\n    from kit import plots\n"
    )
    found = [(line, t) for line, t in lazy_imports("autograder.planted", planted, known) if not lazy_reason("x", t)]
    assert found == [(5, "autograder.report")]


@pytest.mark.quick
def test_no_import_circle_in_the_grader_and_the_kit(graph):  # data_scripts included
    """Tarjan's strongly connected components of the import graph: each must be a single module."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not circles, circles


@pytest.mark.quick
def test_the_graph_sees_an_arrow_planted_back_up(tmp_path, monkeypatch):
    """The rules can fail: a renderer that imports the runner, planted in a copy of the graph, is found."""
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    graph["autograder.report"] = graph["autograder.report"] | {"autograder.runner"}
    assert arrows(graph, lambda a: a in RENDERERS, lambda b: b == "autograder.runner") == [
        "autograder.report -> autograder.runner"
    ]
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from .runner import grade\n")
    assert imports("autograder.planted", planted, known) == {"autograder.runner"}  # lazy imports count
