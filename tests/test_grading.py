"""The reference solutions score 100 %, the released stubs exactly 0, with the real CLI."""

from pathlib import Path

import pytest

from kit.recipes import recipe

ROOT = Path(__file__).resolve().parent.parent


def failures(report):
    return "\n".join(
        f"{t['name']}: {t['kit_status']}: {t['message']}" for t in report["tests"] if t["score"] < t["max_score"]
    )


@pytest.mark.quick
def test_reference_full_marks_quick(graded_assignment, grade_json):
    report = grade_json(ROOT / "solutions", graded_assignment, "quick")
    assert report["max_score"] > 0
    assert report["score"] == report["max_score"], failures(report)


@pytest.mark.train
@pytest.mark.heavy
def test_reference_full_marks_train(graded_assignment, grade_json):
    report = grade_json(ROOT / "solutions", graded_assignment, "train")
    assert any(t["tier"] == "train" for t in report["tests"]), "no train-tier check"
    assert report["score"] == report["max_score"], failures(report)
    # every accuracy a check asks for is its recipe's, for the data at hand (kit/recipes.py: one line each)
    from autograder.runner import load_checks
    from data_scripts import cifar10_source

    checks = {c.id: c for c in load_checks(graded_assignment)}
    source = cifar10_source() if graded_assignment.startswith("a2") else "any"
    for t in report["tests"]:
        for metric in (m for m in t.get("metrics", []) if m["name"] == "accuracy"):
            name = checks[t["name"]].recipe
            assert name, f"{t['name']} thresholds an accuracy but names no recipe (@check(..., recipe=NAME))"
            assert metric["threshold"] == recipe(name).threshold_for(source), (t["name"], metric)


@pytest.mark.quick
def test_stubs_score_zero(graded_assignment, grade_json):
    report = grade_json(ROOT / "assignments", graded_assignment, "train")
    assert report["max_score"] > 0
    assert report["score"] == 0, [t["name"] for t in report["tests"] if t["score"] > 0]
    statuses = {t["kit_status"] for t in report["tests"]}
    assert statuses <= {"not_implemented", "failed", "error"}, statuses
    assert "not_implemented" in statuses


@pytest.mark.quick
def test_shared_sandbox_serves_the_kits_variants_and_nothing_else(tmp_path, monkeypatch):
    """runner.shared_sandboxes: gradings of folders inside the shared one start one sandbox between them (the
    innermost shared folder wins), and still grade each folder's own code; a folder outside, or a grading asking
    for an isolation level, starts its own."""
    import shutil

    from autograder import runner

    started = []
    real = runner.new_sandbox
    monkeypatch.setattr(runner, "new_sandbox", lambda sub, *a, **k: started.append(Path(sub)) or real(sub, *a, **k))
    a4 = "a4_gaussian_fit"
    tmp_path = tmp_path.resolve()
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    for sub, source in ((shared / "reference", "solutions"), (shared / "stubs", "assignments"), (alone, "solutions")):
        shutil.copytree(ROOT / source / a4, sub / a4, ignore=shutil.ignore_patterns("*.ipynb", "runs"))
    only = [f"{a4}/loss"]

    def status(sub, **kw):
        return [r.status for r in runner.grade(sub, [a4], tier="quick", only=only, **kw)]

    monkeypatch.setattr(runner, "_SHARED_SANDBOXES", {})  # not the test session's own (tests/conftest.py)
    with runner.shared_sandboxes(shared):
        assert status(shared / "reference") == ["passed"]
        assert status(shared / "stubs") == ["not_implemented"]  # the same sandbox, the other folder's code
        assert status(alone) == ["passed"]
        assert status(shared / "reference", level="none") == ["passed"]
        with runner.shared_sandboxes(tmp_path):
            assert status(shared / "stubs") == ["not_implemented"]
            assert runner._SHARED_SANDBOXES[tmp_path] is None, "the innermost shared folder's sandbox served it"
            assert status(alone) == ["passed"]
    assert started == [shared, alone, shared / "reference", tmp_path]
    assert runner._SHARED_SANDBOXES == {}, "each sandbox is closed at the end of its context"
