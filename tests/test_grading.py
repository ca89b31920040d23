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


@pytest.mark.quick
def test_a_failed_training_names_the_quick_checks_that_failed_first():
    """A training that fails where quick checks of its assignment failed says it may follow from them (public ones
    only, of its own assignment); one that fails alone, or a quick check, gets no such words."""
    from autograder.report import CheckResult
    from autograder.runner import after_quick_failures

    def result(assignment, name, tier, status, hidden=False):
        return CheckResult(
            assignment, name, tier, 0.0 if status != "passed" else 1.0, 1.0, status, "msg", "", 0.0, hidden=hidden
        )

    results = after_quick_failures(
        [
            result("a1", "forward", "quick", "passed"),
            result("a1", "backward", "quick", "failed"),
            result("a1", "secret", "quick", "failed", hidden=True),
            result("a1", "train_circles", "train", "failed"),
            result("a2", "conv", "quick", "passed"),
            result("a2", "train_cifar", "train", "timeout"),
        ]
    )
    messages = {r.name: r.message for r in results}
    assert "may follow from the quick checks that did not pass: backward;" in messages["train_circles"]
    assert "secret" not in messages["train_circles"]
    assert messages["backward"] == messages["train_cifar"] == "msg"


@pytest.mark.quick
def test_a_failure_names_the_helper_whose_own_check_failed(tmp_path):
    """A Block that calls a MultiHeadsSelfAttention with a bug fails, and its message names the attention and its
    failed check (traced through the student's own source: vit.py imports it from attention.py); a check whose
    functions call nothing that failed, or that already names the helper's check, says nothing more."""
    import shutil

    from autograder.runner import grade

    root = Path(__file__).resolve().parents[1] / "solutions"
    a1, a3 = tmp_path / "a1_intro_nn", tmp_path / "a3_transformers"
    shutil.copytree(root / "a1_intro_nn", a1)
    shutil.copytree(root / "a3_transformers", a3)
    attention = a3 / "attention.py"
    attention.write_text(attention.read_text().replace("/ math.sqrt(Q.shape[-1])", "* math.sqrt(Q.shape[-1])"))
    mlp = a1 / "mlp.py"
    mlp.write_text(mlp.read_text().replace("return e / e.sum(dim=1, keepdim=True)", "return e / e.sum()"))
    only = [f"a3_transformers/{n}" for n in ("multi_head_attention", "block", "mlp")] + [
        f"a1_intro_nn/{n}" for n in ("softmax_stable", "forward")
    ]
    results = {r.name: r for r in grade(tmp_path, ["a1_intro_nn", "a3_transformers"], tier="quick", only=only)}
    assert results["multi_head_attention"].status == results["block"].status == "failed"
    words = "Block calls your MultiHeadsSelfAttention, whose check multi_head_attention did not pass"
    assert words in results["block"].message, results["block"].message
    assert results["mlp"].status == "passed" and "look there first" not in results["multi_head_attention"].message
    assert results["forward"].status == "failed" and results["forward"].message.count("softmax_stable") == 1


@pytest.mark.quick
def test_the_call_graph_follows_what_the_source_states(tmp_path):
    """Calls by name in the same file, imported from another file of the submission, through `self.` methods of a
    class, transitively; never a name the source does not define, never a syntax error's file."""
    from autograder.callgraph import callees

    (tmp_path / "helpers.py").write_text("def norm(x):\n    return x\n\ndef scale(x):\n    return norm(x) * 2\n")
    (tmp_path / "model.py").write_text(
        "from helpers import scale\nimport torch\n\n"
        "def act(x):\n    return torch.tanh(scale(x))\n\n"
        "class Net:\n    def forward(self, x):\n        return self.mix(act(x))\n\n"
        "    def mix(self, x):\n        return len(x)\n"
    )
    (tmp_path / "broken.py").write_text("def f(:\n")
    assert callees(tmp_path, "model.Net") == ["model.act", "helpers.scale", "helpers.norm"]
    assert callees(tmp_path, "model.act") == ["helpers.scale", "helpers.norm"]
    assert callees(tmp_path, "broken.f") == [] and callees(tmp_path, "missing.f") == []
    (tmp_path / "linked.py").symlink_to(tmp_path / "model.py")  # a link is never followed
    assert callees(tmp_path, "linked.act") == []


@pytest.mark.quick
def test_each_result_carries_the_peak_memory_of_its_check(tmp_path):
    """The sandbox samples what a check's processes add to its own memory: a module that holds 300 MB more shows
    it in its checks' results (and from there in the JSON report and the results store)."""
    import shutil

    from autograder.report import to_json
    from autograder.runner import grade

    a = "a4_gaussian_fit"
    folder = tmp_path / a
    shutil.copytree(Path(__file__).resolve().parents[1] / "solutions" / a, folder)
    module = folder / "gaussian_fit.py"
    ballast = (
        "import time as _t\n_ballast = bytearray(300 * 2**20)\n_ballast[::4096] = b'x' * len(_ballast[::4096])\n"
        "_t.sleep(0.5)  # held for a few of the sandbox's polls\n"
    )
    only = [f"{a}/pixel_grid"]
    (plain,) = grade(tmp_path, [a], tier="quick", only=only)
    module.write_text(ballast + module.read_text())
    (heavy,) = grade(tmp_path, [a], tier="quick", only=only)
    assert plain.status == heavy.status == "passed"
    assert plain.peak_memory_mb is not None and heavy.peak_memory_mb > 250, (plain, heavy)
    assert to_json([heavy])["tests"][0]["peak_memory_mb"] == heavy.peak_memory_mb
