"""Typical student mistakes (autograder/tools/mutants.py, the one list of them) lose points, each in the checks it names
and with its hint; `python -m autograder.tools.mutants` (make mutants) fails when one survives."""

import pytest

from autograder.tools import mutants
from autograder.tools.mutants import MUTANTS, Mutant, StaleMutant, kill, verdict
from autograder.report import CheckResult
from autograder.runner import load_checks


@pytest.mark.quick
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_is_killed_by_its_check(mutant, tmp_path):
    status, lost, results = kill(mutant, tmp_path, "quick", only_named=True)
    failed = {r.name: (r.status, r.message) for r in results if r.score < r.max_score}
    assert status == "killed", f"{status}: must fail {mutant.checks} with {mutant.words}; lost {failed}"


@pytest.mark.quick
def test_every_mutant_names_quick_checks_that_exist():
    assert len({m.id for m in MUTANTS}) == len(MUTANTS), "two mutants with the same name"
    for m in MUTANTS:
        quick = {c.name for c in load_checks(m.assignment) if c.tier == "quick"}
        assert m.checks and set(m.checks) <= quick, f"{m.id}: {m.checks} are not all quick checks of {m.assignment}"


def _result(name, status="failed", message="", assignment="a1_intro_nn"):
    points = 2.0 if status == "passed" else 0.0
    return CheckResult(assignment, name, "quick", points, 2.0, status, message, "", 0.1)


@pytest.mark.quick
def test_verdict_tells_the_wrong_check_from_the_right_one():
    m = Mutant("a1_intro_nn", "mlp.py", "x", "old", "new", checks=("backward",), hint="average")
    ok = _result("forward", "passed")
    right = _result("backward", message="did you average over the batch?")
    assert verdict(m, [ok, right])[0] == "killed"
    assert verdict(m, [ok, _result("backward", message="differs")])[0] == "wrong check"  # no hint
    assert verdict(m, [ok, _result("backward", "error", "average: raised")])[0] == "wrong check"  # not a wrong answer
    assert verdict(m, [ok, _result("sgd", message="average")])[0] == "wrong check"  # elsewhere only
    assert verdict(m, [ok])[0] == "alive"
    both = Mutant("a1_intro_nn", "mlp.py", "x", "old", "new", checks=("forward", "backward"), hint=("a", "b"))
    assert verdict(both, [_result("forward", message="a b"), _result("backward", message="a b")])[0] == "killed"
    assert verdict(both, [_result("forward", message="a b"), _result("backward", message="a")])[0] == "wrong check"
    assert verdict(both, [_result("forward", message="a b")])[0] == "wrong check"  # one of the two only


@pytest.mark.quick
def test_make_mutants_exits_1_unless_all_are_killed(monkeypatch, capsys):
    """main() grades (here: a fake grade) every mutant and exits 1 when one is alive or caught elsewhere."""
    m = Mutant("a4_gaussian_fit", "gaussian_fit.py", "kept", "import torch\n", "import torch\n", checks=("loss",))
    monkeypatch.setattr(mutants, "MUTANTS", [m])
    monkeypatch.setattr(mutants, "grade", lambda *a, **k: [_result("loss", assignment=m.assignment)])
    assert mutants.main([]) == 0
    assert "1 of 1 mutants killed" in capsys.readouterr().out
    monkeypatch.setattr(mutants, "grade", lambda *a, **k: [_result("loss", "passed", assignment=m.assignment)])
    assert mutants.main([]) == 1
    assert "ALIVE" in capsys.readouterr().out
    monkeypatch.setattr(mutants, "grade", lambda *a, **k: [_result("fit_manual", assignment=m.assignment)])
    assert mutants.main([]) == 1
    out = capsys.readouterr().out
    assert "WRONG CHECK" in out and "(must fail loss)" in out


@pytest.mark.quick
def test_a_stale_mutant_is_named(tmp_path):
    m = Mutant("a4_gaussian_fit", "gaussian_fit.py", "gone", "no such line in the reference", "x", checks=("loss",))
    with pytest.raises(StaleMutant, match="a4_gaussian_fit:gone: snippet found 0 times"):
        mutants.apply(m, tmp_path)
