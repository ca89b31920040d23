"""The reference solutions score 100 %, the released stubs exactly 0, with the real CLI."""
import pytest

from conftest import GRADED, ROOT, failures, grade_json


@pytest.mark.quick
@pytest.mark.parametrize("assignment", GRADED)
def test_reference_full_marks_quick(assignment, tmp_path):
    report = grade_json(ROOT / "solutions", assignment, "quick", tmp_path)
    assert report["max_score"] > 0
    assert report["score"] == report["max_score"], failures(report)


@pytest.mark.train
@pytest.mark.parametrize("assignment", GRADED)
def test_reference_full_marks_train(assignment, tmp_path):
    report = grade_json(ROOT / "solutions", assignment, "train", tmp_path)
    assert any(t["tier"] == "train" for t in report["tests"]), "no train-tier check"
    assert report["score"] == report["max_score"], failures(report)


@pytest.mark.quick
@pytest.mark.parametrize("assignment", GRADED)
def test_stubs_score_zero(assignment, tmp_path):
    report = grade_json(ROOT / "assignments", assignment, "train", tmp_path)
    assert report["max_score"] > 0
    assert report["score"] == 0, [t["name"] for t in report["tests"] if t["score"] > 0]
    statuses = {t["kit_status"] for t in report["tests"]}
    assert statuses <= {"not_implemented", "failed", "error"}, statuses
    assert "not_implemented" in statuses
