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

# the grader's modules by audience (docs/maintainers.md draws the map)
PLATFORMS = {
    "autograder.gradescope",
    "autograder.prairielearn",
    "autograder.classroom",
    "autograder.student_kit",
    "autograder.handin",
    "autograder.release",
    "autograder.nbgrader_plugins",
    "autograder.nbgrader_kernel",
}
TOOLS = {"autograder.docs", "autograder.mutants", "autograder.reference_notebooks", "kit.bench"}
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


def imports(name: str, path: Path, known: dict) -> set[str]:
    """The project's modules `name` imports, anywhere in its file."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
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
    # kit.bench is a maintainers' tool that grades the reference (it leaves kit/ with the folders by audience)
    found = arrows(graph, lambda a: a.startswith("kit") and a not in TOOLS, lambda b: b.startswith("autograder"))
    assert not found, found


@pytest.mark.quick
def test_the_renderers_never_import_the_runner_or_the_sandbox(graph):
    core = {"autograder.runner", "autograder.judge", "autograder.sandbox"}
    found = arrows(graph, lambda a: a in RENDERERS, lambda b: b in core)
    assert not found, found


@pytest.mark.quick
def test_the_core_never_imports_a_platform_or_a_tool(graph):
    def core(name):  # (the command line, autograder.__main__, also serves the maintainers: determinism)
        return name.startswith("autograder") and name not in PLATFORMS | TOOLS and name != "autograder.__main__"

    found = arrows(graph, core, lambda b: b in PLATFORMS | TOOLS)
    assert not found, found
    found = arrows(graph, lambda a: a in PLATFORMS, lambda b: b in TOOLS)
    assert not found, found


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
