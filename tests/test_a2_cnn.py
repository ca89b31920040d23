"""Tests of assignment 2's kit: the checks' oracles, the checks failing on wrong code, kit.a2's batches,
training loop and command line."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from autograder.api import CheckFailed, Submission
from autograder.checks import a2_cnn as checks
from autograder.mutants import mutants_of

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "solutions" / "a2_cnn"


def mutant(tmp_path, module, old, new):
    """A copy of the reference with one wrong line, as a student might write it."""
    folder = tmp_path / "a2_cnn"
    shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    path = folder / f"{module}.py"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    return Submission(folder)


@pytest.mark.quick
def test_empirical_receptive_field_oracle():
    assert checks.empirical_receptive_field([(3, 1)] * 3) == 7
    assert checks.empirical_receptive_field([(2, 2)] * 3) == 8
    assert checks.empirical_receptive_field(checks.COURSE_CNN_LAYERS) == 36


# typical mistakes, kept with every assignment's in autograder/mutants.py (make mutants reports them all)
WRONG = [(m.checks[0], m.module[:-3], m.old, m.new) for m in mutants_of("a2_cnn")]


@pytest.mark.quick
@pytest.mark.parametrize("check_name,module,old,new", WRONG, ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_checks_catch_wrong_code(tmp_path, check_name, module, old, new):
    func = getattr(checks, check_name)
    func(Submission(REFERENCE))  # the reference passes ...
    with pytest.raises(CheckFailed):  # ... and the wrong line loses the points
        func(mutant(tmp_path, module, old, new))


@pytest.mark.quick
def test_cifar10_subset_is_balanced_and_fixed():
    from kit import a2

    Xtrain, ytrain, Xtest, ytest = a2.cifar10(limit_train=5000, limit_test=1000)
    assert Xtrain.shape == (5000, 3, 32, 32) and Xtest.shape == (1000, 3, 32, 32)
    counts = torch.bincount(ytrain, minlength=10)
    assert counts.min() > 400, "a subset of the (class-sorted) stored images must cover every class"
    assert torch.equal(a2.cifar10(limit_train=5000)[1], ytrain)


@pytest.mark.quick
def test_batches_cover_the_data_once():
    from kit.a2 import Batches

    X, y = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 3, 2, 2).contiguous(), torch.arange(10)
    batches = Batches(X, y, 4, shuffle=True, transform=lambda x: x * 2)
    first = list(batches)
    assert [len(t) for _, t in first] == [4, 4, 2] and len(batches) == 3
    seen = torch.cat([t for _, t in first])
    assert sorted(seen.tolist()) == list(range(10))
    for x, t in first:
        assert torch.equal(x[:, 0, 0, 0], 2 * t.float())
        assert x.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(torch.cat([t for _, t in batches]), seen), "each pass is shuffled anew"


def _tiny_data(n=96):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g), \
        torch.rand(32, 3, 32, 32, generator=g), torch.randint(0, 10, (32,), generator=g)


@pytest.mark.quick
def test_train_runs_with_every_switch():
    from kit import a2

    cnn, training = a2._student_modules(str(REFERENCE))
    model, hist = a2.train(cnn, training, epochs=2, batch_size=32, standardize=True, augment=True, lr_schedule=True,
                           dropout=0.5, batch_norm=True, device="cpu", data=_tiny_data())
    assert len(hist.test_acc) == 2 and hist.seconds[1] >= hist.seconds[0]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    names = [n for n, _ in a2.ABLATION]
    assert names[0] == "vanilla" and names[-1] == "+batch norm" and len(names) == 6


@pytest.mark.quick
def test_full_tier_checks_train_the_kit_recipes(monkeypatch):
    """The full tier trains kit.a2's recipes; vanilla is judged at its best epoch (it overfits), the improved
    network at its last one."""
    import data_scripts
    from kit import a2
    from kit.loops import History

    calls = []

    def fake_train(cnn, training, **kw):
        calls.append(kw)
        hist = History()
        for i, acc in enumerate(fake_train.test_acc):
            hist.add((2.0 - i, 0.5), (1.0, acc), float(i))
        return None, hist

    monkeypatch.setattr(a2, "train", fake_train)
    monkeypatch.setattr(data_scripts, "cifar10_source", lambda: "original")
    sub = Submission(REFERENCE)
    fake_train.test_acc = [0.55, 0.70, 0.62]  # peaks above 68 %, ends below
    checks.train_cifar_full_vanilla(sub)
    assert calls[-1] == {"device": "auto", **a2.FULL_VANILLA}
    fake_train.test_acc = [0.60, 0.66, 0.64]
    with pytest.raises(CheckFailed, match="66.0% test accuracy at its best epoch"):
        checks.train_cifar_full_vanilla(sub)
    fake_train.test_acc = [0.86, 0.84]  # an early peak does not count for the improved network
    with pytest.raises(CheckFailed, match="84.0% test accuracy after 2 epochs"):
        checks.train_cifar_full_improved(sub)
    assert calls[-1] == {"device": "auto", **a2.FULL_IMPROVED}
    fake_train.test_acc = [0.80, 0.86]
    checks.train_cifar_full_improved(sub)
    # the offline mirror's JPEG pixels have their own measured threshold
    fake_train.test_acc = [0.80, 0.83]
    with pytest.raises(CheckFailed, match="expected at least 85%"):
        checks.train_cifar_full_improved(sub)
    monkeypatch.setattr(data_scripts, "cifar10_source", lambda: "jpeg-q75")
    checks.train_cifar_full_improved(sub)


@pytest.mark.train
def test_cli_train_and_ablation(tmp_path):
    from kit import a2

    common = ["--code", str(REFERENCE), "--epochs", "1", "--limit-train", "256", "--limit-test", "128",
              "--runs", str(tmp_path), "--device", "cpu"]
    assert a2.main(["train", *common, "--all", "--name", "all"]) == 0
    metrics = json.loads((tmp_path / "all" / "metrics.json").read_text())
    assert metrics["config"]["batch_norm"] and len(metrics["history"]["test_acc"]) == 1
    assert (tmp_path / "all" / "curves.png").is_file()
    assert a2.main(["ablation", *common]) == 0
    metrics = json.loads((tmp_path / "a2_ablation" / "metrics.json").read_text())
    assert list(metrics["variants"]) == [n for n, _ in a2.ABLATION]
    assert (tmp_path / "a2_ablation" / "ablation.png").is_file()
