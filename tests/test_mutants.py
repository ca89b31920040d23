"""Typical student mistakes (autograder/mutants.py) lose points: the kill rate stays at 95 % or more."""
import io

import pytest

from autograder.mutants import run


@pytest.mark.quick
def test_mutants_are_killed():
    out = io.StringIO()
    rate = run(tier="quick", out=out)
    assert rate >= 0.95, out.getvalue()
