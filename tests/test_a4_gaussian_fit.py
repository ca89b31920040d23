"""Tests of assignment 4's checks and glue, graded through the real judge and sandbox (autograder.runner.grade):
autograd in the exercises done by hand (backward, fit_manual) loses exactly the checks that call them, and the
kit's images, start and step sizes behave as the README says. Typical mistakes, each caught by its own check:
autograder/tools/mutants.py, graded by tests/test_mutants.py."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.runner import grade, load_checks

ROOT = Path(__file__).resolve().parent.parent
A = "a4_gaussian_fit"
REFERENCE = ROOT / "solutions" / A / "gaussian_fit.py"
BY_HAND = "in an exercise done by hand"  # the judge's messages, from the source check or the sandbox (autograder/sandbox/client.py)


def reference_module():
    """The reference gaussian_fit, imported here (outside the grader): kit.a4 draws its synthetic image with it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ref_a4", REFERENCE)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    return ref


def variant(tmp_path, replacements) -> Path:
    """A submission folder holding the reference with `replacements` applied; returns the submission root."""
    source = REFERENCE.read_text()
    for old, new in replacements:
        assert source.count(old) == 1, f"the reference no longer contains {old!r} once: update this test"
        source = source.replace(old, new)
    folder = tmp_path / "submission" / A
    folder.mkdir(parents=True)
    (folder / "gaussian_fit.py").write_text(source)
    return folder.parent


def grade_variant(tmp_path, replacements, checks=None, tier="quick") -> dict:
    """Grade the variant with the real judge and sandbox (autograder.runner.grade); {check name: CheckResult}."""
    only = None if checks is None else [f"{A}/{name}" for name in checks]
    return {r.name: r for r in grade(variant(tmp_path, replacements), [A], tier=tier, only=only)}


QUICK = [c.name for c in load_checks(A) if c.tier == "quick"]
TRAIN = [c.name for c in load_checks(A) if c.tier == "train"]


@pytest.fixture(scope="module")
def reference_quick(tmp_path_factory):
    return grade_variant(tmp_path_factory.mktemp("reference"), [])


@pytest.mark.quick
@pytest.mark.parametrize("check_name", QUICK)
def test_reference_passes(reference_quick, check_name):
    res = reference_quick[check_name]
    assert res.status == "passed", res.message


# ---------------------------------------------------------------- by hand: backward and fit_manual without autograd
BACKWARD = """    d, p, e, r = outputs["d"], outputs["p"], outputs["e"], outputs["r"]
    dg_df = 2 * r                                   # from g = sum r^2 and r = f - I
"""
# Not mutants (autograder/tools/mutants.py): a cheat is a correct answer reached by a forbidden means, not a mistake. Each
# must compute the right values outside the grader (test_cheats_are_correct_with_autograd runs them directly) and
# lose exactly the by-hand checks, in the quick and the train tier (trainings the quick-tier harness never runs).
CHEATS = {  # correct results, computed with torch.autograd where the exercise is done by hand
    "backward with torch.autograd.grad": [
        (
            BACKWARD,
            """\
    grid, image = outputs["d"] + params["mu"], outputs["f"] - outputs["r"]
    with torch.enable_grad():
        leaves = {k: v.detach().clone() for k, v in params.items()}
        for v in leaves.values():
            v.requires_grad = True
        g, _ = forward(leaves, grid, image)
        grads = torch.autograd.grad(g, [leaves[k] for k in ("a", "mu", "sigma")])
        return dict(zip(("a", "mu", "sigma"), grads))
    d, p, e, r = outputs["d"], outputs["p"], outputs["e"], outputs["r"]
    dg_df = 2 * r
""",
        )
    ],
    "backward with g.backward()": [
        (
            BACKWARD,
            """\
    grid, image = outputs["d"] + params["mu"], outputs["f"] - outputs["r"]
    with torch.enable_grad():
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        forward(leaves, grid, image)[0].backward()
        return {k: v.grad for k, v in leaves.items()}
    d, p, e, r = outputs["d"], outputs["p"], outputs["e"], outputs["r"]
    dg_df = 2 * r
""",
        )
    ],
    # names computed at run time: the judge's reading of the source cannot see them, the sandbox refuses the call
    "backward reaching autograd by computed names": [
        (
            BACKWARD,
            """\
    grid, image = outputs["d"] + params["mu"], outputs["f"] - outputs["r"]
    with getattr(torch, "enable_" + "gr" + "ad")():
        leaves = {k: v.detach().clone() for k, v in params.items()}
        for v in leaves.values():
            v.requires_grad = True
        g, _ = forward(leaves, grid, image)
        grads = getattr(getattr(torch, "auto" + "grad"), "gr" + "ad")(g, [leaves[k] for k in ("a", "mu", "sigma")])
        return dict(zip(("a", "mu", "sigma"), grads))
    d, p, e, r = outputs["d"], outputs["p"], outputs["e"], outputs["r"]
    dg_df = 2 * r
""",
        )
    ],
    "fit_manual calling fit_autograd": [
        (
            """    ### BEGIN SOLUTION
    grid = pixel_grid(*image.shape, dtype=image.dtype)
    params = {k: v.clone() for k, v in init.items()}
""",
            """    ### BEGIN SOLUTION
    if steps:
        return fit_autograd(image, init, lr, steps)
    grid = pixel_grid(*image.shape, dtype=image.dtype)
    params = {k: v.clone() for k, v in init.items()}
""",
        )
    ],
}
BY_HAND_CHECKS = {
    "quick": {"backward": {"backward", "fit_manual", "fits_agree"}, "fit_manual": {"fit_manual", "fits_agree"}},
    "train": {"backward": {"fit_recovers", "fit_digit"}, "fit_manual": {"fit_recovers", "fit_digit"}},
}


@pytest.mark.quick
def test_cheats_are_correct_with_autograd(tmp_path):
    """Outside the grader (autograd available) the cheats compute the right values: losing points for them is
    the by-hand rule's doing, nothing else."""
    import importlib.util

    from kit.a4 import initial_params, step_sizes, synthetic_image

    ref = reference_module()
    image, _ = synthetic_image(ref, noise=0.05)
    init, lr = initial_params(image), step_sizes(image)
    params = {k: v + 0.1 for k, v in init.items()}
    grid = ref.pixel_grid(*image.shape)
    for i, name in enumerate(CHEATS):
        spec = importlib.util.spec_from_file_location(
            f"cheat_{i}", variant(tmp_path / str(i), CHEATS[name]) / A / "gaussian_fit.py"
        )
        cheat = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cheat)
        expected = ref.backward(params, ref.forward(params, grid, image)[1])
        got = cheat.backward(params, cheat.forward(params, grid, image)[1])
        for k in ("a", "mu", "sigma"):
            assert torch.allclose(got[k], expected[k], rtol=1e-10), (name, k)
        _, expected_losses = ref.fit_manual(image, init, lr, 5)
        _, losses = cheat.fit_manual(image, init, lr, 5)
        assert losses == pytest.approx(expected_losses, rel=1e-10), name


@pytest.mark.parametrize(
    "tier", [pytest.param("quick", marks=pytest.mark.quick), pytest.param("train", marks=pytest.mark.train)]
)
@pytest.mark.parametrize("cheat", list(CHEATS))
def test_autograd_in_a_by_hand_exercise_loses_exactly_those_checks(tmp_path, cheat, tier):
    """backward and fit_manual run with torch.autograd unavailable: a submission that uses it there loses the
    checks that call them, with the by-hand message, and keeps every other point."""
    results = grade_variant(tmp_path, CHEATS[cheat], QUICK if tier == "quick" else TRAIN, tier=tier)
    which = "backward" if cheat.startswith("backward") else "fit_manual"
    lost = {name for name, r in results.items() if r.score < r.max_score}
    assert lost == BY_HAND_CHECKS[tier][which], {n: results[n].message for n in lost}
    for name in lost:
        assert results[name].status == "failed" and BY_HAND in results[name].message, results[name].message
        if name != "backward":
            assert "torch.no_grad()" in results[name].message, results[name].message


@pytest.mark.quick
def test_autograd_captured_at_import_loses_the_by_hand_checks(tmp_path):
    """autograd reached through names built at import time: the source scan cannot see it, the sandbox's
    saved-tensor hook does (a graph is being recorded)."""
    old, new = CHEATS["backward reaching autograd by computed names"][0]
    computed = 'getattr(getattr(torch, "auto" + "grad"), "gr" + "ad")'
    replacements = [("import torch\n", f"import torch\n\n_GRAD = {computed}\n"), (old, new.replace(computed, "_GRAD"))]
    results = grade_variant(tmp_path, replacements, ["backward", "fit_manual"])
    assert {name for name, r in results.items() if r.score < r.max_score} == {"backward", "fit_manual"}


@pytest.mark.quick
def test_kit_images_and_start():
    from kit import a4

    ref = reference_module()
    image, true = a4.synthetic_image(ref, 30, 45, 1.5, (10.0, 28.0), (5.0, 8.0))
    assert image.shape == (30, 45) and image.dtype == torch.float64
    # the reference's Gaussian peaks at mu: row 10, column 28
    assert tuple(int(i) for i in torch.unravel_index(image.argmax(), image.shape)) == (10, 28)
    assert abs(float(image[10, 28]) - 1.5) < 1e-12
    assert abs(float(image[15, 28]) - 1.5 * math.exp(-1)) < 1e-12  # one sigma_row away: a / e
    start = a4.initial_params(image)
    assert start["mu"].tolist() == [14.5, 22.0] and start["sigma"].tolist() == [7.5, 11.25]
    lr = a4.step_sizes(image)
    assert set(lr) == {"a", "mu", "sigma", "s"} and all(v > 0 for v in lr.values())
    noisy, _ = a4.synthetic_image(ref, noise=0.05, seed=1)
    assert 0.04 < float((noisy - a4.synthetic_image(ref)[0]).std()) < 0.06
    assert not hasattr(a4, "closed_form_gaussian")  # the kit ships no model image (issue 28)


@pytest.mark.quick
def test_student_kit_digit_bar_is_lbfgs_best():
    """fit_digit's bar where the student kit has no recording (its trainings) is L-BFGS's best g, which the
    instructor's grader computes live."""
    from autograder.checks.a4_gaussian_fit import DIGIT_BEST_LOSS, oracle_best_fit
    from kit.a4 import blurred_digit, initial_params

    digit = blurred_digit()
    assert oracle_best_fit(digit, initial_params(digit)) == pytest.approx(DIGIT_BEST_LOSS, rel=1e-5)


@pytest.mark.quick
def test_blurred_digit():
    from kit import a4

    digit = a4.blurred_digit()
    assert digit.shape == (28, 28) and digit.dtype == torch.float64
    assert 0 <= float(digit.min()) and float(digit.max()) <= 1 and float(digit.max()) > 0.3


@pytest.mark.train
def test_command_line_fits_the_reference(tmp_path):
    """python -m kit.a4 synthetic on the reference writes metrics close to the true parameters, and plots."""
    import json

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kit.a4",
            "synthetic",
            "--folder",
            str(REFERENCE.parent),
            "--noise",
            "0",
            "--name",
            "a4_test",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "runs" / "a4_test"
    metrics = json.loads((run / "metrics.json").read_text())
    for name in ("manual", "autograd", "reparametrized"):
        fitted = metrics[name]["params"]
        assert abs(fitted["a"] - 2.0) < 1e-3 and max(abs(u - v) for u, v in zip(fitted["mu"], (17.3, 34.6))) < 1e-3
        assert max(abs(u - v) for u, v in zip(fitted["sigma"], (6.0, 11.0))) < 1e-3
    assert (run / "fit.png").is_file() and (run / "losses.png").is_file()
