"""The course's own question numbers, mapped to the kit: the tables of "## The course's questions, mapped" in
docs/course/aN.md must name only things that exist.

Each table row is `course | what it asks | where in the kit | status`. In the third column:

- a question label (`Q6b`) must be a question of the assignment's solution notebook (a bold `**Q6b**` in a markdown
  cell), and `Q6b, answer `q_x`` must name the answer cell that follows that question;
- a plain backticked name must be a cell (nbgrader grade_id) of that notebook or a check id (a `@check` function of
  autograder/checks/<assignment>.py); after the word "check(s)" it must be a check id, after "cell(s)" or "answer"
  a cell id;
- a dotted name must be defined at the top level of its module: `kit.a3.train_timm` in kit/a3/ (its __init__), `vit.ViT` in the
  assignment's solutions/ folder; `python -m kit.a3 timm` must be a sub-command of kit/a3/ (the modules its __init__ imports).

The status column says covered, partial (and what is missing) or not covered (and why); the "Count:" line under
each table must agree with the rows, and every numbered course question expected for a part must have a row.
"""

import ast
import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.quick

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## The course's questions, mapped"
HEADER = ["course", "what it asks", "where in the kit", "status"]
# The course's numbered questions each table must list (the first number of the "course" column).
EXPECTED = {
    "a1": {str(i) for i in range(1, 18)} | {f"2.1.{i}" for i in range(1, 8)} | {"2.2", "2.3", "2.4", "2.5", "2.6"},
    "a2": {str(i) for i in range(1, 35)},
    "a3": {f"Q{i}" for i in range(1, 9)},
    "a4": set(),
}
STATUS = re.compile(r"covered( \(.+\))?|partial: .+|not covered: .+")
COUNT = re.compile(r"Count: (\d+) covered, (\d+) partial, (\d+) not covered \((\d+) rows")
LABEL = re.compile(r"\bQ\d+[a-z]?\b")
LABEL_ANSWER = re.compile(r"\b(Q\d+[a-z]?), answer `([^`]+)`")
KIND = re.compile(r"\b(checks?|cells?|answer)\s+((?:`[^`]+`(?:,\s*)?)+)")


def folder_of(key: str) -> str:
    found = [p.name for p in (ROOT / "solutions").glob(f"{key}_*") if p.is_dir()]
    assert len(found) == 1, f"solutions/{key}_*: expected one assignment folder, found {found}"
    return found[0]


def section(text: str) -> str:
    assert SECTION in text, f"no section {SECTION!r}"
    body = text.split(SECTION, 1)[1]
    following = re.search(r"^## ", body, flags=re.M)
    return body[: following.start()] if following else body


def table(text: str) -> list[list[str]]:
    lines = [line.strip() for line in section(text).splitlines() if line.strip().startswith("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    assert rows and rows[0] == HEADER, f"the table's header must be {HEADER}, not {rows[:1]}"
    assert set("".join(rows[1])) <= set("-: "), "the second line must separate the header"
    for row in rows[2:]:
        assert len(row) == 4, f"a row must have 4 columns (no '|' inside a cell): {row}"
    return rows[2:]


def notebook(folder: str):
    """(question labels, answer cell after each label, all grade_ids) of the solution notebook."""
    nb = json.loads((ROOT / "solutions" / folder / f"{folder}.ipynb").read_text())
    labels, answer_of, ids, pending = set(), {}, set(), []
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            ids.add(grade_id)
        if cell["cell_type"] != "markdown":
            continue
        if "BEGIN SOLUTION" in source:
            for label in pending:
                answer_of[label] = grade_id
            pending = []
            continue
        found = re.findall(r"\*\*(Q\d+[a-z]?)\b", source)
        labels.update(found)
        pending += found
    return labels, answer_of, ids


def check_ids(folder: str) -> set[str]:
    from autograder.runner import load_checks

    return {c.name for c in load_checks(folder)}


def top_level_names(path: Path) -> set[str]:
    """The names a module defines or imports at its top level (a package module may re-export its parts)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def package_sources(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """`path` and the modules of its own package it imports, transitively (where a command line may live)."""
    seen = set() if seen is None else seen
    if path in seen or not path.is_file():
        return seen
    seen.add(path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 1:
            package_sources(path.parent / f"{node.module.replace('.', '/')}.py", seen)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"{path.parent.name}."):
            package_sources(ROOT / f"{node.module.replace('.', '/')}.py", seen)
    return seen


def module_path(dotted: str) -> Path:
    """The file of a module or of a package's __init__."""
    path = ROOT / Path(*dotted.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def code_problem(ref: str, folder: str) -> str | None:
    """Why the code reference `ref` does not exist, or None when it does."""
    if ref.startswith("python -m "):
        module, *command = ref.split()[2:]
        path = module_path(module)
        if not path.is_file():
            return f"{ref}: no module {path.relative_to(ROOT)}"
        sub_command = re.compile(rf'add_parser\(\s*"{re.escape(command[0])}"') if command else None
        if sub_command and not any(sub_command.search(p.read_text()) for p in package_sources(path)):
            return f"{ref}: {path.relative_to(ROOT)} has no sub-command {command[0]!r}"
        return None
    parts = ref.split(".")
    if parts[0] == "kit":
        path, name = module_path(f"kit.{parts[1]}"), parts[2] if len(parts) > 2 else None
    else:
        path, name = ROOT / "solutions" / folder / f"{parts[0]}.py", parts[1]
    if not path.is_file():
        return f"{ref}: no module {path.relative_to(ROOT)}"
    if name and name not in top_level_names(path):
        return f"{ref}: {path.relative_to(ROOT)} defines no {name!r}"
    return None


def problems(key: str, text: str) -> list[str]:
    """Every reference of the key's table that does not exist, and every inconsistency of the table."""
    folder = folder_of(key)
    labels, answer_of, cells = notebook(folder)
    checks = check_ids(folder)
    rows = table(text)
    found = []
    for course, _, where, status in rows:
        where_refs = LABEL.findall(where) + re.findall(r"`([^`]+)`", where)
        if not STATUS.fullmatch(status):
            found.append(f"{course}: status {status!r} is not 'covered', 'partial: ...' or 'not covered: ...'")
        if not status.startswith("not covered") and not where_refs:
            found.append(f"{course}: {status.split(':')[0]} but no kit reference")
        for label in LABEL.findall(where):
            if label not in labels:
                found.append(f"{course}: {label} is not a question of solutions/{folder}/{folder}.ipynb")
        for label, answer in LABEL_ANSWER.findall(where):
            if label in answer_of and answer_of[label] != answer:
                found.append(f"{course}: the answer of {label} is {answer_of[label]!r}, not {answer!r}")
        for kind, group in KIND.findall(where):
            known = checks if kind.startswith("check") else cells
            for name in re.findall(r"`([^`]+)`", group):
                if name not in known:
                    found.append(f"{course}: {kind} `{name}` does not exist in {folder}")
        for ref in re.findall(r"`([^`]+)`", where):
            if ref.startswith("python -m ") or "." in ref:
                why = code_problem(ref, folder)
                if why:
                    found.append(f"{course}: {why}")
            elif ref not in cells | checks:
                found.append(f"{course}: `{ref}` is neither a cell of the notebook nor a check id of {folder}")
    listed = {m.group(1) for row in rows if (m := re.match(r"(Q?\d+(?:\.\d+)*)(?![\w.])", row[0]))}
    found += [f"course question {q} has no row" for q in sorted(EXPECTED[key] - listed)]
    count = COUNT.search(section(text))
    if not count:
        found.append("no 'Count: N covered, N partial, N not covered (N rows' line")
    else:
        statuses = [row[3] for row in rows]
        actual = (
            sum(s.startswith("covered") for s in statuses),
            sum(s.startswith("partial") for s in statuses),
            sum(s.startswith("not covered") for s in statuses),
            len(rows),
        )
        if tuple(map(int, count.groups())) != actual:
            found.append(f"the Count line says {count.group(0)}, the rows give {actual}")
    return found


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_reference_of_the_course_map_exists(key):
    found = problems(key, (ROOT / "docs" / "course" / f"{key}.md").read_text())
    assert not found, f"docs/course/{key}.md, {SECTION!r}:\n" + "\n".join(found)


def test_a_broken_reference_is_caught():
    """The test can fail: a renamed cell, a wrong check id, a label that is not asked, an undefined function, a
    missing course question and a wrong count are each reported."""
    text = (ROOT / "docs" / "course" / "a1.md").read_text()
    assert problems("a1", text) == []
    broken = (
        text.replace("answer `q_sets`", "answer `q_set`")
        .replace("check `init_params`", "check `init_param`")
        .replace("Q9b, answer", "Q9c, answer")
        .replace("`kit.a1.train_manual`", "`kit.a1.train_by_hand`")
        .replace("| 17 | gradients", "| 17b | gradients")
    )
    found = "\n".join(problems("a1", broken))
    for expected in ("`q_set`", "`init_param`", "Q9c", "train_by_hand", "question 17 has no row"):
        assert expected in found, f"{expected!r} not reported:\n{found}"
    covered = int(re.search(r"Count: (\d+) covered", text).group(1))
    recount = text.replace(f"Count: {covered} covered", f"Count: {covered - 1} covered")
    assert recount != text
    assert any("Count line" in p for p in problems("a1", recount))
