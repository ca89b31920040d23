"""Tests of assignment 2's kit: the checks' oracles, kit.a2's batches, training loop, the drivers the grader runs
in its sandbox, and the command line. Typical mistakes, each caught by its own check: autograder/tools/mutants.py,
graded by tests/test_mutants.py."""

import json
import math
from pathlib import Path

import pytest
import torch

from autograder.api import CheckFailed, Context
from autograder.checks import a2_cnn as checks
from autograder.sandbox.drivers import a2 as drivers
from kit.recipes import recipe

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "solutions" / "a2_cnn"


@pytest.mark.quick
def test_receptive_field_oracle():
    fields = checks.receptive_fields([[(3, 1)] * 3, [(2, 2)] * 3, checks.course_cnn_stack()])
    assert [f["field"] for f in fields] == [7, 8, 36]
    assert fields[2]["no_strides"] == 16  # the hint's variant: each kernel counted as if no stride came before


@pytest.mark.quick
def test_course_cnn_oracle_computes_the_reference_on_the_judges_weights():
    """The judge's weights, set into the reference network where its parameters are found by their shapes, give
    the logits of the judge's functional course CNN; the shapes and counts are those of the reference."""
    from autograder.sandbox.server import describe
    from kit import a2

    cnn, _ = a2.student_modules(str(REFERENCE))
    model = cnn.CourseCNN()
    assert checks.course_cnn_parameter_count(False) == sum(p.numel() for p in model.parameters())
    assert checks.course_cnn_parameter_count(True) == sum(p.numel() for p in cnn.CourseCNN(True).parameters())
    layers = {layer["name"]: layer for layer in describe(model)["layers"]}
    shapes = checks.course_cnn_weight_shapes()
    (reading,) = checks._course_params(layers, shapes)
    w = checks._draw_course_weights(shapes, torch.Generator().manual_seed(0))
    values = {name: w[role].reshape(shape) for role, (name, transposed, shape) in reading.items()}
    assert drivers.set_parameters(model, values) == []
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(checks._course_cnn_oracle(w, x), model(x), rtol=1e-4, atol=1e-4)
    layers = {layer["name"]: layer for layer in describe(model)["layers"]}
    assert all(torch.equal(t, w[role]) for role, t in checks._read_weights(layers, reading).items())


@pytest.mark.quick
def test_the_course_cnns_answers_are_oracles():
    """What the course CNN's answers are made of (its parameter count, its weights' shapes, its strides) comes
    from oracles, whose bodies the student kit cuts: no module-level constant of the check module holds them."""
    from autograder.platforms.student_kit import public_source

    shipped = public_source((ROOT / "autograder" / "checks" / "a2_cnn.py").read_text())[0]
    for answer in ("1_191_170", "1191170", "1024", "padding=2", "stride=2", "(5, 1), (2, 2)"):
        assert answer not in shipped, answer


@pytest.mark.quick
def test_cifar10_subset_is_balanced_and_fixed():
    from kit import a2

    Xtrain, ytrain, Xtest, ytest = a2.cifar10(limit_train=5000, limit_test=1000)
    assert Xtrain.shape == (5000, 3, 32, 32) and Xtest.shape == (1000, 3, 32, 32)
    counts = torch.bincount(ytrain, minlength=10)
    assert counts.min() > 400, "a subset of the (class-sorted) stored images must cover every class"
    assert torch.equal(a2.cifar10(limit_train=5000)[1], ytrain)
    # the judge picks the labels of the sandbox's test subset with the same indices
    full_labels = a2.cifar10()[3]
    assert torch.equal(full_labels[a2.subset_indices(len(full_labels), 1000)], ytest)
    assert a2.subset_indices(len(full_labels), None) is None and a2.subset_indices(10, 10) is None


@pytest.mark.quick
def test_cifar10_subset_without_test_labels(monkeypatch):
    """In the grader's sandbox the test labels are None: the subset keeps the same images, and no labels."""
    from kit import a2

    X = torch.arange(50.0).view(50, 1, 1, 1)
    y = torch.arange(50)
    monkeypatch.setattr(a2.training, "_CACHE", {"full": (X, y, X.clone(), None)})
    Xtrain, ytrain, Xtest, ytest = a2.cifar10(limit_train=20, limit_test=10)
    assert ytest is None and Xtest.shape == (10, 1, 1, 1)
    idx = a2.subset_indices(50, 10)
    assert torch.equal(Xtest.flatten(), idx.float()) and torch.equal(ytrain, Xtrain.flatten().long())


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
    unlabelled = list(Batches(X, None, 4))
    assert [t for _, t in unlabelled] == [None] * 3 and torch.equal(torch.cat([x for x, _ in unlabelled]), X)


def _tiny_data(n=96):
    g = torch.Generator().manual_seed(0)
    return (
        torch.rand(n, 3, 32, 32, generator=g),
        torch.randint(0, 10, (n,), generator=g),
        torch.rand(32, 3, 32, 32, generator=g),
        torch.randint(0, 10, (32,), generator=g),
    )


@pytest.mark.quick
def test_train_runs_with_every_switch():
    from kit import a2

    cnn, training = a2.student_modules(str(REFERENCE))
    logits = []
    model, hist = a2.train(
        cnn,
        training,
        epochs=2,
        batch_size=32,
        standardize=True,
        augment=True,
        lr_schedule=True,
        dropout=0.5,
        batch_norm=True,
        device="cpu",
        data=_tiny_data(),
        test_logits=logits,
    )
    assert len(hist.test_acc) == 2 and hist.seconds[1] >= hist.seconds[0]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    names = [n for n, _ in a2.ABLATION]
    assert names[0] == "vanilla" and names[-1] == "+batch norm" and len(names) == 6
    # the logits the grader scores give the accuracy the student's epoch measures on the same test images
    ytest = _tiny_data()[3]
    assert len(logits) == 2 and logits[-1].shape == (32, 10) and logits[-1].dtype == torch.float32
    assert float((logits[-1].argmax(1) == ytest).float().mean()) == pytest.approx(hist.test_acc[-1], abs=1e-6)


@pytest.mark.quick
def test_validation_split_selects_the_epoch_and_reads_the_test_set_once():
    """With `validation`, each epoch is measured on images held out of the training set, the weights of the best
    validation epoch come back, and the test set is read once, at the end, by that model."""
    from kit import a2

    cnn, training = a2.student_modules(str(REFERENCE))
    g = torch.Generator().manual_seed(2)
    data = (
        torch.rand(96, 3, 32, 32, generator=g),
        torch.randint(0, 10, (96,), generator=g),
        torch.rand(32, 3, 32, 32, generator=g),
        torch.randint(0, 10, (32,), generator=g),
    )
    seen = []

    class Spy(_SpyTraining):
        def epoch(self, data, model, criterion, optimizer=None):
            if optimizer is None:
                seen.append(len(data.X))
            else:
                seen.append(("train", len(data.X)))
            return self.training.epoch(data, model, criterion, optimizer)

    logits = []
    model, hist = a2.train(
        cnn, Spy(training), epochs=3, batch_size=16, device="cpu", data=data, validation=24, test_logits=logits, lr=0.05
    )
    assert isinstance(hist, a2.SplitHistory)
    assert seen == [("train", 72), 24] * 3 + [32], "3 epochs on 72 images, validated on 24; the test set once"
    assert len(hist.val_acc) == 3 and len(hist.test_acc) == 1 and len(logits) == 1
    assert hist.best_epoch == 1 + max(range(3), key=lambda k: (hist.val_acc[k], -k))
    train_idx, val_idx = a2.validation_split(96, 24)
    assert set(train_idx.tolist()).isdisjoint(val_idx.tolist()) and len(train_idx) == 72
    # the restored model is the one the validation selected: it measures the selected validation accuracy again
    vb = a2.Batches(data[0][val_idx], data[1][val_idx], 1000)
    assert training.epoch(vb, model, torch.nn.CrossEntropyLoss())[1] == pytest.approx(max(hist.val_acc))
    assert float((logits[0].argmax(1) == data[3]).float().mean()) == pytest.approx(hist.test_acc[0], abs=1e-6)
    with pytest.raises(ValueError, match="hold out"):
        a2.validation_split(10, 10)


class _SpyTraining:
    """The student's training module, counting the evaluation epochs (epoch without optimizer)."""

    def __init__(self, training):
        self.training, self.evaluations = training, 0

    def __getattr__(self, name):
        return getattr(self.training, name)

    def epoch(self, data, model, criterion, optimizer=None):
        self.evaluations += optimizer is None
        return self.training.epoch(data, model, criterion, optimizer)


@pytest.mark.quick
def test_sandbox_driver_trains_without_test_labels():
    """In the sandbox (ytest None) the student's epoch never sees the test images; the driver returns their logits
    after each epoch, and the History's test curve is NaN."""
    from kit import a2

    cnn, training = a2.student_modules(str(REFERENCE))
    spy = _SpyTraining(training)
    Xtrain, ytrain, Xtest, _ = _tiny_data()
    run = drivers.cifar_predictions(
        cnn, spy, every_epoch=True, epochs=2, batch_size=32, device="cpu", data=(Xtrain, ytrain, Xtest, None)
    )
    assert spy.evaluations == 0
    assert run["logits"].shape == (32, 10) and len(run["epoch_logits"]) == 2
    assert torch.equal(run["epoch_logits"][-1], run["logits"])
    assert run["epochs"] == 2 and len(run["train_loss"]) == 2 and all(math.isfinite(v) for v in run["train_loss"])
    model, hist = a2.train(
        cnn, training, epochs=1, batch_size=32, device="cpu", data=(Xtrain, ytrain, Xtest, None), test_logits=[]
    )
    assert math.isnan(hist.test_acc[0]) and math.isnan(hist.test_loss[0])
    assert model.training, "predicting leaves the model in the mode it was in"
    assert "epoch_logits" not in drivers.cifar_predictions(
        cnn, training, epochs=1, batch_size=32, device="cpu", data=(Xtrain, ytrain, Xtest, None)
    )


@pytest.mark.quick
def test_plain_turns_shapes_into_tuples():
    from autograder.sandbox.drivers.a2 import plain

    rows = [("features.0", torch.Size([32, 32, 32]), 2432)]
    assert plain(rows) == [("features.0", (32, 32, 32), 2432)]
    assert type(plain(rows)[0][1]) is tuple


class FakeSession(Context):
    """Stands for the context the runner hands a train check, in a unit test: it records the kit calls, and
    answers with test logits whose accuracy after each epoch is `accs` (against `labels`, the test labels it hands
    the check, or their subset drawn by kit.a2 when the recipe limits the test set)."""

    def __init__(self, accs, check=None, n=1000):
        from autograder.api import REGISTRY

        declared = [c for c in REGISTRY["a2_cnn"] if check is not None and c.name == check.__name__]
        super().__init__(check=declared[0] if declared else None, session=None)
        self.labels = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(5))
        self.accs, self.calls = accs, []

    def test_labels(self, dataset):
        assert dataset == "cifar10"
        return self.labels

    def module(self, name):
        return name

    def kit(self, func, *args, **kwargs):
        from kit.a2 import subset_indices

        self.calls.append((func, args, kwargs))
        idx = subset_indices(len(self.labels), kwargs.get("limit_test"))
        labels = self.labels if idx is None else self.labels[idx]
        logits = []
        for acc in self.accs:
            right = torch.arange(len(labels)) < round(acc * len(labels))
            logits.append(torch.nn.functional.one_hot(torch.where(right, labels, (labels + 1) % 10), 10).float())
        return {
            "logits": logits[-1],
            "epoch_logits": logits,
            "epochs": len(logits),
            "train_loss": [2.0 - i for i in range(len(logits))],
        }


@pytest.mark.quick
def test_full_tier_checks_train_the_kit_recipes(monkeypatch):
    """The full tier trains kit.a2's recipes in the sandbox; the judge scores the test logits: vanilla at the
    epoch selected on a validation split (it overfits), the improved network at its last one."""
    import data_scripts
    from kit import a2

    monkeypatch.setattr(data_scripts, "cifar10_source", lambda: "original")
    # no model travels from this fake sandbox: the judge scores the logits it sent instead of recomputing them
    monkeypatch.setattr(checks, "trained_logits", lambda run, images, kw, what: run["logits"])
    sub = FakeSession(
        [0.70], checks.train_cifar_full_vanilla
    )  # the sandbox sends the test logits of the epoch it selected on validation only
    checks.train_cifar_full_vanilla(sub)
    func, args, kwargs = sub.calls[-1]
    assert func == "autograder.sandbox.drivers.a2:cifar_predictions" and args == ("cnn", "training")
    assert kwargs == {"device": "auto", "every_epoch": False, **a2.FULL_VANILLA}
    assert a2.FULL_VANILLA["validation"] > 0  # the epoch is selected on validation, never on the test set
    with pytest.raises(CheckFailed, match="66.0% test accuracy at the epoch of best validation accuracy"):
        checks.train_cifar_full_vanilla(FakeSession([0.66], checks.train_cifar_full_vanilla))
    sub = FakeSession(
        [0.86, 0.84], checks.train_cifar_full_improved
    )  # an early peak does not count for the improved network
    with pytest.raises(CheckFailed, match="84.0% test accuracy after 2 epochs"):
        checks.train_cifar_full_improved(sub)
    assert sub.calls[-1][2] == {"device": "auto", "every_epoch": False, **a2.FULL_IMPROVED}
    checks.train_cifar_full_improved(FakeSession([0.80, 0.86], checks.train_cifar_full_improved))
    # the offline mirror's JPEG pixels have their own measured threshold
    with pytest.raises(CheckFailed, match="expected at least 85%"):
        checks.train_cifar_full_improved(FakeSession([0.80, 0.845], checks.train_cifar_full_improved))
    monkeypatch.setattr(data_scripts, "cifar10_source", lambda: "jpeg-q75")
    jpeg = recipe("a2.full_improved").threshold_for("jpeg-q75")
    assert jpeg < 0.85
    checks.train_cifar_full_improved(FakeSession([0.80, jpeg + 0.005], checks.train_cifar_full_improved))
    with pytest.raises(CheckFailed, match=f"expected at least {jpeg:.0%}"):
        checks.train_cifar_full_improved(FakeSession([0.80, jpeg - 0.005], checks.train_cifar_full_improved))


@pytest.mark.quick
def test_train_checks_score_the_sandbox_subset(monkeypatch):
    """The train tier limits the test set: the judge draws the labels of kit.a2's subset, so logits right on that
    subset pass, and logits on other images score about chance."""
    from kit import a2

    monkeypatch.setattr(checks, "trained_logits", lambda run, images, kw, what: run["logits"])

    sub = FakeSession([0.2, 0.3], checks.train_cifar_small, n=10000)
    checks.train_cifar_small(sub)
    assert sub.calls[-1][2] == {"device": "cpu", "every_epoch": False, **a2.SMALL}
    with pytest.raises(CheckFailed, match="20.0% test accuracy after 2 epochs"):
        checks.train_cifar_small(FakeSession([0.3, 0.2], checks.train_cifar_small, n=10000))

    class Shuffled(FakeSession):  # logits right on the first images instead of the subset: about chance
        def kit(self, func, *args, **kwargs):
            run = super().kit(func, *args, **{**kwargs, "limit_test": None})
            run["logits"] = run["logits"][: kwargs["limit_test"]]
            return run

    with pytest.raises(CheckFailed, match="expected at least 25%"):
        checks.train_cifar_small(Shuffled([0.9], checks.train_cifar_small, n=10000))


@pytest.mark.train
def test_cli_train_and_ablation(tmp_path):
    from kit import a2

    common = [
        "--code",
        str(REFERENCE),
        "--epochs",
        "1",
        "--limit-train",
        "256",
        "--limit-test",
        "128",
        "--runs",
        str(tmp_path),
        "--device",
        "cpu",
    ]
    assert a2.main(["train", *common, "--all", "--name", "all"]) == 0
    metrics = json.loads((tmp_path / "all" / "metrics.json").read_text())
    assert metrics["config"]["batch_norm"] and len(metrics["history"]["test_acc"]) == 1
    assert (tmp_path / "all" / "curves.png").is_file()
    assert a2.main(["ablation", *common]) == 0
    metrics = json.loads((tmp_path / "a2_ablation" / "metrics.json").read_text())
    assert list(metrics["variants"]) == [n for n, _ in a2.ABLATION]
    assert (tmp_path / "a2_ablation" / "ablation.png").is_file()


@pytest.mark.quick
def test_zca_whitening_decorrelates_the_training_pixels():
    """Bonus: kit.a2.zca_whitening, fitted on the training images, gives them (about) the identity covariance, with
    a symmetric matrix (ZCA, not PCA: the result stays in pixel space); other images use the training statistics."""
    from kit.a2 import zca_whitening

    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(48, 48, generator=g, dtype=torch.float64)
    X = (torch.randn(4000, 48, generator=g, dtype=torch.float64) @ mixing + 3).reshape(4000, 3, 4, 4)
    whiten = zca_whitening(X, eps=1e-6)
    W = whiten.matrix
    assert torch.allclose(W, W.T, atol=1e-8)
    flat = whiten(X).reshape(4000, -1)
    cov = torch.cov(flat.T)
    assert torch.allclose(flat.mean(0), torch.zeros(48, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(cov, torch.eye(48, dtype=torch.float64), atol=1e-3)
    other = torch.rand(5, 3, 4, 4, dtype=torch.float64)
    assert torch.allclose(whiten(other).reshape(5, -1), (other.reshape(5, -1) - X.reshape(4000, -1).mean(0)) @ W)


@pytest.mark.quick
@pytest.mark.heavy
def test_bonus_switches_and_tools_run():
    """Bonuses (ZCA, Adam/AdamW) train; the tools (overfit one batch, first-layer maps, confusion matrix, plots) run
    on the reference and give what they promise."""
    from kit import a2, plots

    cnn, training = a2.student_modules(str(REFERENCE))
    data = _tiny_data()
    for kw in (dict(zca=True), dict(optimizer="adam", lr=1e-3), dict(optimizer="adamw", lr=1e-3)):
        _, hist = a2.train(cnn, training, epochs=1, batch_size=16, device="cpu", data=data, validation=8, **kw)
        assert len(hist.val_acc) == 1 and math.isfinite(hist.train_loss[0])
    with pytest.raises(ValueError, match="optimizer"):
        a2.make_optimizer("rmsprop", [torch.nn.Parameter(torch.zeros(1))], 0.1)
    losses, accs = a2.overfit_one_batch(cnn, training, data[0][:16], data[1][:16], steps=40)
    assert losses[-1] < 0.1 * losses[0] and accs[-1] == 1.0
    model = cnn.CourseCNN()
    maps = a2.first_layer_maps(model, data[0][:2])
    assert maps.shape == (2, 32, 32, 32) and (maps >= 0).all()
    m = a2.confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    weight, _ = a2.first_conv_weights(model)
    for fig in (
        plots.plot_filters(weight),
        plots.plot_feature_maps(data[0][0], maps[0]),
        plots.plot_confusion(m, ["a", "b", "c"]),
        plots.plot_misclassified(data[0][:4], torch.tensor([0, 1, 2, 3]), torch.tensor([0, 2, 2, 1]), a2.CLASSES),
    ):
        assert fig is not None
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.quick
def test_the_training_speed_is_reported_and_a_forged_record_is_dropped():
    """The precision and layout kit.a2.train chose travel to the result's metrics with the chosen step's time.
    The record comes from the sandbox, where the student's code ran too: anything malformed is left out."""
    from autograder import api

    sub = api.Context(check=None, session=None)
    step_s = {"bf16 channels_last": 0.16, "fp32 contiguous": 0.41}
    record = {"precision": "bf16", "channels_last": True, "why": "probe", "step_s": step_s, "eval_batch_size": 128}
    checks._record_speed(sub, record)
    checks._record_speed(sub, {**record, "why": "cached probe", "eval_batch_size": 7})
    assert sub.metrics == [
        {
            "name": "training step (s)",
            "value": 0.16,
            "precision": "bf16",
            "channels_last": True,
            "cached": False,
            "eval_batch_size": 128,
        },
        {"name": "training step (s)", "value": 0.16, "precision": "bf16", "channels_last": True, "cached": True},
    ]
    for forged in (
        None,
        "bf16",
        {"precision": "fp8", "channels_last": True, "step_s": step_s},
        {"precision": "bf16", "channels_last": "yes", "step_s": step_s},
        {"precision": "bf16", "channels_last": True, "step_s": {"bf16 channels_last": 1e9}},
        {"precision": "bf16", "channels_last": True, "step_s": {"bf16 channels_last": "0.1"}},
        {"precision": "bf16", "channels_last": True, "step_s": [0.1]},
        {"precision": "fp32", "channels_last": False},  # no probe ran: nothing timed to report
    ):
        checks._record_speed(sub, forged)
    assert len(sub.metrics) == 2
