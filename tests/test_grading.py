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
