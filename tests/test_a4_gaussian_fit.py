"""Tests of assignment 4's checks and glue: typical wrong implementations lose points with the right hint, and the
kit's images, start and step sizes behave as the README says."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autograder.mutants import mutants_of
from autograder.runner import check_seed, execute, load_checks, seed_everything

ROOT = Path(__file__).resolve().parent.parent
A = "a4_gaussian_fit"
REFERENCE = ROOT / "solutions" / A / "gaussian_fit.py"


def run_variant(tmp_path, replacements, check_name):
    """Grade one check (in this process) on the reference with `replacements` applied; returns (status, message)."""
    source = REFERENCE.read_text()
    for old, new in replacements:
        assert old in source, f"the reference no longer contains {old!r}: update this test"
        source = source.replace(old, new)
    folder = tmp_path / A
    folder.mkdir()
    (folder / "gaussian_fit.py").write_text(source)
    chk = next(c for c in load_checks(A) if c.name == check_name)
    seed_everything(check_seed(chk.id))
    return execute(chk, folder)


# typical mistakes, kept with every assignment's in autograder/mutants.py (make mutants reports them all)
MISTAKES = {m.name: ([(m.old, m.new)], m.checks[0], m.hint) for m in mutants_of(A)}


@pytest.mark.quick
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_typical_mistake_loses_points_with_hint(tmp_path, mistake):
    replacements, check_name, hint = MISTAKES[mistake]
    status, message = run_variant(tmp_path, replacements, check_name)
    assert status == "failed", (status, message)
    assert hint in message, message


@pytest.mark.quick
@pytest.mark.parametrize("check_name", ["pixel_grid", "gaussian_image", "loss", "forward", "backward", "fit_manual",
                                        "fit_autograd", "fits_agree", "fit_reparametrized"])
def test_reference_passes(tmp_path, check_name):
    status, message = run_variant(tmp_path, [], check_name)
    assert status == "passed", message


@pytest.mark.quick
def test_kit_images_and_start():
    from kit import a4

    image, true = a4.synthetic_image(30, 45, 1.5, (10.0, 28.0), (5.0, 8.0))
    assert image.shape == (30, 45) and image.dtype == torch.float64
    # the closed form peaks at mu: row 10, column 28
    assert tuple(int(i) for i in torch.unravel_index(image.argmax(), image.shape)) == (10, 28)
    assert abs(float(image[10, 28]) - 1.5) < 1e-12
    assert abs(float(image[15, 28]) - 1.5 * math.exp(-1)) < 1e-12  # one sigma_row away: a / e
    start = a4.initial_params(image)
    assert start["mu"].tolist() == [14.5, 22.0] and start["sigma"].tolist() == [7.5, 11.25]
    lr = a4.step_sizes(image)
    assert set(lr) == {"a", "mu", "sigma", "s"} and all(v > 0 for v in lr.values())
    noisy, _ = a4.synthetic_image(noise=0.05, seed=1)
    assert 0.04 < float((noisy - a4.synthetic_image()[0]).std()) < 0.06


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

    proc = subprocess.run([sys.executable, "-m", "kit.a4", "synthetic", "--folder", str(REFERENCE.parent),
                           "--noise", "0", "--name", "a4_test"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "runs" / "a4_test"
    metrics = json.loads((run / "metrics.json").read_text())
    for name in ("manual", "autograd", "reparametrized"):
        fitted = metrics[name]["params"]
        assert abs(fitted["a"] - 2.0) < 1e-3 and max(abs(u - v) for u, v in zip(fitted["mu"], (17.3, 34.6))) < 1e-3
        assert max(abs(u - v) for u, v in zip(fitted["sigma"], (6.0, 11.0))) < 1e-3
    assert (run / "fit.png").is_file() and (run / "losses.png").is_file()
