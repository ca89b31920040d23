"""No graded answer in student-visible text (issue 28): what the class receives states each task, not its result.

FACTS below is the one registry of the course's graded facts that a text could give away: values a check grades
exactly (the course CNN's parameter count, the paddings, strides and feature-map sizes of a2, the parameter counts
of a1's Q12, the shapes of a4's graph), equations the student must write (a1's forward pass), the topic of each
hidden check, and the graded facts the course states on purpose because they are the task (a2's architecture,
a4's nodes). Each fact names the checks that grade it and the patterns that find it in text.

The test scans what students read: the released stubs and notebooks (assignments/, markdown and code cells) and
the student kit's README. A fact the course gives on purpose is allowed where the text says so with a marker: a
line holding `given: <fact id>[, <fact id>]` (in a docstring as it is, in a notebook's markdown as an HTML comment
`<!-- given: ... -->`, in code as a `# given: ...` comment). A marker covers its own paragraph only (the lines
between two blank lines, within one cell or file), and only the facts it names; a marker that covers nothing is an
error too, so none outlives the text it was written for. The instructor's answer keys keep the answers: the
release strips them, and the scan of the released text shows it did.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.quick

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "assignments"
STUDENT_README = ROOT / "autograder" / "templates" / "student-kit" / "README.md"


@dataclass(frozen=True)
class Fact:
    assignment: str  # the folder under assignments/ whose text may not give it (nor the student kit's README)
    checks: tuple[str, ...]  # the checks of that assignment that grade it (hidden or public)
    what: str  # the fact in the course's words, for the failure message
    patterns: tuple[str, ...]  # regular expressions (case-insensitive) that find it in text


# The course's graded facts: the one place they are listed (the checks compute their expected values with
# oracles; these are the values and phrases a text must not hand over).
FACTS = {
    "a1.forward_equations": Fact(
        "a1_intro_nn",
        ("forward",),
        "the forward equations of the 2-layer MLP (asked in Q5b)",
        (
            r"\bh_?tilde\s*=",
            r"\by_?tilde\s*=",
            r"\bh\s*=\s*tanh\b",
            r"\by_?hat\s*=\s*softmax\b",
            r"\bX\s*(@\s*)?(params\[\"Wh\"\]|W_?h)\s*(\^\s*T|\.T)",
        ),
    ),
    "a1.parameter_counts": Fact(
        "a1_intro_nn",
        ("mnist_mlp_shape",),
        "the parameter counts of the circles and MNIST networks (asked in Q12)",
        (r"\b52\s+parameters\b", r"\b407[,_\s]?0\d\d\b", r"\babout 407\b"),
    ),
    "a1.batch_mean_gradients": Fact(
        "a1_intro_nn",
        ("backward_batch_mean",),
        "the topic of the hidden check backward_batch_mean (the gradients are averaged over the batch)",
        (
            r"batch_mean\b",  # the hidden check's name
            r"\bgradients?\b[^.\n]{0,40}\b(of|is|are) (that|the) mean\b",
            r"\bgradients? of the mean loss\b",
            r"\baverag\w* over the batch\b",
            r"\bbatch mean\b",
            r"\bmissing 1\s*/\s*N\b",
            r"\bmean over the\s+batch\)?,? (for|with respect to) each parameter\b",
            r"\bthe gradient of L \(mean\b",
        ),
    ),
    "a2.architecture": Fact(
        "a2_cnn",
        ("course_cnn",),
        "the course CNN's layers, kernels and numbers of filters (the course gives them: the task itself)",
        (
            r"\bconv(olution)?s?\s+5x5,?\s+(32|64) filters\b",
            r"\b5x5 convolutions \(32, 64, 64 filters\)",
            r"\bfully-connected 1000\b",
        ),
    ),
    "a2.parameter_count": Fact(
        "a2_cnn",
        ("course_cnn", "layer_table"),
        "the course CNN's number of parameters (asked in Q6)",
        (r"\b1[,_\s]?191[,_\s]?170\b",),
    ),
    "a2.bag_of_words_count": Fact(
        "a2_cnn",
        ("bag_of_words_comparison",),
        "the parameter count of the bag-of-words + linear SVM model (asked in Q6)",
        (r"\bone weight per visual word\b", r"\b10,?010\b"),
    ),
    "a2.conv_padding": Fact(
        "a2_cnn",
        ("same_size_and_halving", "course_cnn", "fully_convolutional"),
        "the padding with which the course CNN's 5x5 convolutions keep the size (asked in Q5)",
        (r"\bpadding\s*[=:]?\s*2\b", r"\bpadding of 2\b", r"\bpad(s|ded)? by 2\b"),
    ),
    "a2.pool_stride": Fact(
        "a2_cnn",
        ("same_size_and_halving", "receptive_field", "fully_convolutional"),
        "the stride with which the course CNN's 2x2 poolings halve the size (asked in Q5)",
        (r"\bstride\s*[=:]?\s*2\b", r"\bstride of 2\b", r"\(5,\s*1\),\s*\(2,\s*2\)"),
    ),
    "a2.feature_map_sizes": Fact(
        "a2_cnn",
        ("layer_table", "fully_convolutional", "course_cnn"),
        "the course CNN's feature-map sizes (asked in Q6)",
        (
            r"\b(16|8|4)\s*[x×]\s*\1\b",
            r"\((32|64),\s*(16|8|4),\s*\2\)",
            r"\b64\s*[x×*]\s*4\s*[x×*]\s*4\b",
            r"\b1,?024 (flattened )?(features|inputs)\b",
        ),
    ),
    "a4.node_shapes": Fact(
        "a4_gaussian_fit",
        ("forward",),
        "the shapes of the nodes of the graph of g (asked in Q1)",
        (r"(?m)^.*\b[dpqefr]\s*(=|is\b)[^\n]*\$?\((H,\s*W(,\s*2)?|2,)\)\$?",),
    ),
    "a4.graph_nodes": Fact(
        "a4_gaussian_fit",
        ("forward",),
        "the nodes of the graph of g, defined (the course gives them: they are forward's outputs)",
        (
            r"\bd\s*=\s*x\s*-\s*\\?mu\b",
            r"\bq\s*=\s*\\?sum_?k\b",
            r"\br\s*=\s*f\s*-\s*I\b",
        ),
    ),
}
GIVEN = re.compile(r"\bgiven:\s*([\w.]+(?:\s*,\s*[\w.]+)*)")


# ---------------------------------------------------------------- the text students read
def paragraphs(text: str):
    """(first line number, paragraph) for each run of non-blank lines."""
    start, lines = None, []
    for number, line in enumerate(text.splitlines() + [""], 1):
        if line.strip():
            start = number if start is None else start
            lines.append(line)
        elif lines:
            yield start, "\n".join(lines)
            start, lines = None, []


def units(path: Path):
    """(where, text) for each unit of text in a released file: a whole .py or .md file, or a notebook cell."""
    if path.suffix == ".ipynb":
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] in ("markdown", "code"):
                yield f"{path.relative_to(ROOT)} cell {i}", "".join(cell["source"])
    else:
        yield str(path.relative_to(ROOT)), path.read_text()


def student_texts():
    """(assignment or "", where, text) for every unit of text of the released assignments and the kit's README."""
    for folder in sorted(p for p in RELEASED.iterdir() if p.is_dir()):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".ipynb", ".md") and "__pycache__" not in path.parts:
                for where, text in units(path):
                    yield folder.name, where, text
    for where, text in units(STUDENT_README):
        yield "", where, text


def facts_for(assignment: str):
    """The facts a text of `assignment` may not give ("": the student kit's README, all of them)."""
    return {k: f for k, f in FACTS.items() if not assignment or f.assignment == assignment}


def found(fact: Fact, text: str) -> list[tuple[int, str]]:
    """(line within `text`, counted from 0, and the text found) for each place a pattern of `fact` finds it."""
    return sorted(
        (text[: m.start()].count("\n"), m.group(0).strip())
        for p in fact.patterns
        for m in re.finditer(p, text, flags=re.I)
    )


def scan(assignment: str, where: str, text: str) -> tuple[list[str], list[str]]:
    """(leaks, stale or unknown `given:` markers) of one unit of text."""
    leaks, bad_markers = [], []
    for line, paragraph in paragraphs(text):
        given = {name for m in GIVEN.finditer(paragraph) for name in re.split(r"\s*,\s*", m.group(1))}
        for name in sorted(given - set(FACTS)):
            bad_markers.append(f"{where}, line {line}: `given: {name}` names no fact of FACTS")
        for name, fact in facts_for(assignment).items():
            hits = found(fact, paragraph)
            if hits and name not in given:
                leaks.append(
                    f"{where}, line {line + hits[0][0]}: {hits[0][1]!r} gives {fact.what}, graded by check(s) "
                    f"{', '.join(fact.checks)}: ask for it, or mark the paragraph `given: {name}` if the course "
                    "gives it on purpose"
                )
            elif name in given and not hits:
                bad_markers.append(f"{where}, line {line}: `given: {name}` covers no {fact.what} (remove it)")
    return leaks, bad_markers


# ---------------------------------------------------------------- tests
def check_ids(assignment: str) -> dict[str, bool]:
    """check name -> hidden, from the assignment's registered checks."""
    from autograder.runner import load_checks

    return {c.name: c.hidden for c in load_checks(assignment)}


def test_the_registry_names_real_checks_and_every_hidden_one():
    """Each fact is graded by checks that exist, and each hidden check has its topic in FACTS."""
    covered = set()
    for name, fact in FACTS.items():
        checks = check_ids(fact.assignment)
        missing = [c for c in fact.checks if c not in checks]
        assert not missing, f"{name}: {fact.assignment} has no check {missing}"
        covered |= {(fact.assignment, c) for c in fact.checks}
        for pattern in fact.patterns:
            re.compile(pattern)
    hidden = {
        (p.stem, c)
        for p in (ROOT / "autograder" / "checks").glob("a*.py")
        for c, is_hidden in check_ids(p.stem).items()
        if is_hidden
    }
    assert hidden, "no hidden check found: has `hidden=True` moved?"
    assert hidden <= covered, f"hidden checks without their topic in FACTS: {sorted(hidden - covered)}"


def test_each_fact_is_found_in_the_instructors_source():
    """The patterns work: each fact is in solutions/ (answer keys, reference code, hidden tests), which the release
    strips; a pattern that finds nothing there guards nothing."""
    for name, fact in FACTS.items():
        folder = ROOT / "solutions" / fact.assignment
        text = "\n".join(t for p in sorted(folder.rglob("*")) if p.suffix in (".py", ".ipynb") for _, t in units(p))
        assert found(fact, text), f"{name}: none of its patterns finds {fact.what} in {folder.relative_to(ROOT)}"


def test_released_text_gives_no_graded_answer():
    """The released stubs, notebooks and the student kit's README ask for each graded fact instead of giving it."""
    leaks, bad_markers = [], []
    for assignment, where, text in student_texts():
        unit_leaks, unit_markers = scan(assignment, where, text)
        leaks += unit_leaks
        bad_markers += unit_markers
    assert not bad_markers, "\n".join(bad_markers)
    header = "student-visible text gives graded answers (edit solutions/, then `make release`):"
    assert not leaks, "\n".join([header, *leaks])


def shipped_grader_texts():
    """(where, text) of the grader and helpers the student kit ships: the check modules without their hidden checks
    (cut as autograder/platforms/student_kit.py cuts them), the grader's own files and kit/."""
    from autograder.platforms.student_kit import GRADER_FILES, public_source

    for path in sorted((ROOT / "autograder" / "checks").glob("a*.py")):
        yield str(path.relative_to(ROOT)), public_source(path.read_text())[0]
    for name in GRADER_FILES:
        yield f"autograder/{name}", (ROOT / "autograder" / name).read_text()
    for path in sorted((ROOT / "kit").rglob("*.py")):
        yield str(path.relative_to(ROOT)), path.read_text()


def test_the_shipped_grader_names_no_hidden_checks_topic():
    """A hidden check stays hidden in what the student kit ships: no public message or docstring names its topic."""
    hidden = {name: fact for name, fact in FACTS.items() if all(check_ids(fact.assignment).get(c) for c in fact.checks)}
    problems = [
        f"{where}, line {line + hits[0][0]}: {hits[0][1]!r} names {fact.what}"
        for where, text in shipped_grader_texts()
        for line, paragraph in paragraphs(text)
        for fact in hidden.values()
        if (hits := found(fact, paragraph))
    ]
    assert not problems, "\n".join(problems)


def test_a_given_marker_covers_its_own_paragraph_and_facts_only():
    text = "\n".join(
        [
            "conv 5x5, padding 2  <!-- given: a2.conv_padding -->",
            "",
            "the poolings have stride 2",
            "",
            "# given: a2.parameter_count",
        ]
    )
    leaks, bad_markers = scan("a2_cnn", "example", text)
    assert len(leaks) == 1 and "stride 2" in leaks[0] and "line 3" in leaks[0]
    assert len(bad_markers) == 1 and "a2.parameter_count" in bad_markers[0]
