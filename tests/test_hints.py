"""A failure hint names the likely mistake; it never hands over the derivation or the code of the answer."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# a derivative given as a formula ("dg/dp = ..."), a matrix product, a power: the answer written out
FORMULA = re.compile(r"\bd\w+\s*/\s*d\w+\s*=\s*[^=\s]|\w\s+@\s+\w|\*\*\s*\d")


def message_strings(path):
    """The string constants of a check module that can reach a student (docstrings excluded)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


@pytest.mark.quick
def test_hints_do_not_hand_over_the_formula(graded_assignment):
    path = ROOT / "autograder" / "checks" / f"{graded_assignment}.py"
    found = [f"line {n}: {text[:100]!r}" for n, text in message_strings(path) if FORMULA.search(text)]
    assert not found, "hints that give the answer away:\n" + "\n".join(found)


@pytest.mark.quick
def test_the_formula_pattern_can_fail():
    assert FORMULA.search("follow the graph: dg/dr = 2 r, dg/da = sum dg/df * e")
    assert FORMULA.search("chain it with dp/dsigma = -2 sigma^-3")
    assert FORMULA.search("tanh' = 1 - h**2")
    assert FORMULA.search("out = weights @ V")
    assert not FORMULA.search("did you average over the batch? the gradients are N times too large")
    assert not FORMULA.search("p is sigma^-2 (the diagonal of Sigma), not sigma^2")  # the model, as stated
