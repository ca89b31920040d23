"""Typical student mistakes (autograder/mutants.py) lose points, each in the check it names and with its hint."""
import io

import pytest

from autograder.mutants import MUTANTS, Mutant, run, verdict
from autograder.report import CheckResult


@pytest.mark.quick
def test_mutants_are_killed_by_their_own_check():
    out = io.StringIO()
    counts = run(tier="quick", out=out)
    assert counts["alive"] == 0 and counts["wrong check"] == 0, out.getvalue()
    assert counts["killed"] == len(MUTANTS)


@pytest.mark.quick
def test_verdict_tells_the_wrong_check_from_the_right_one():
    m = Mutant("a1_intro_nn", "mlp.py", "x", "old", "new", checks=("backward",), hint="average")
    ok = CheckResult("a1_intro_nn", "forward", "quick", 2, 2, "passed", "", "", 0.1)
    right = CheckResult("a1_intro_nn", "backward", "quick", 0, 4, "failed", "did you average over the batch?", "", 0.1)
    no_hint = CheckResult("a1_intro_nn", "backward", "quick", 0, 4, "failed", "differs", "", 0.1)
    elsewhere = CheckResult("a1_intro_nn", "sgd", "quick", 0, 1, "failed", "average", "", 0.1)
    assert verdict(m, [ok, right])[0] == "killed"
    assert verdict(m, [ok, no_hint])[0] == "wrong check"
    assert verdict(m, [ok, elsewhere])[0] == "wrong check"
    assert verdict(m, [ok])[0] == "alive"
