"""A corpus of assignment 2 submissions written the way real students write them (the course notebook's style:
named attributes, functional ReLU, `x.view(N, -1)`, a top-5 accuracy in `epoch`, ...), graded by the judge
through the real runner. Correct variants earn every quick-tier point; buggy ones lose exactly the checks named
here, with a message naming the mistake."""

import math
import shutil
from pathlib import Path

import pytest
import torch

from autograder.runner import grade

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "solutions" / "a2_cnn"

# ---------------------------------------------------------------- a course-style CNN, with one line that varies
COURSE_CNN = '''"""The course CNN, written as in the course notebook."""
import torch
import torch.nn.functional as F
from torch import nn


class CourseCNN(nn.Module):
    def __init__(self, batch_norm=False, dropout=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=5, padding=2)
        self.batch_norm = batch_norm
        if batch_norm:
            self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(32), nn.BatchNorm2d(64), nn.BatchNorm2d(64)
        POOL_INIT
        self.fc1 = nn.Linear(64 * 4 * 4, 1000)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.fc2 = nn.Linear(1000, 10)
        LOGITS_INIT

    def forward(self, x):
        for i, conv in enumerate((self.conv1, self.conv2, self.conv3), 1):
            x = conv(x)
            if self.batch_norm:
                x = getattr(self, f"bn{i}")(x)
            x = POOL(F.relu(x))
        x = FLATTEN
        x = F.relu(self.fc1(x))
        if self.dropout is not None:
            x = self.dropout(x)
        return LOGITS
'''
STYLE = {
    "POOL_INIT": "self.pool = nn.MaxPool2d(2, 2)",
    "POOL": "self.pool",
    "FLATTEN": "x.view(x.size(0), -1)",
    "LOGITS_INIT": "",
    "LOGITS": "self.fc2(x)",
}


def _course_cnn(**changes) -> str:
    text = COURSE_CNN
    for key, value in {**STYLE, **changes}.items():
        text = text.replace(key, value)
    return text


def _reference_part(module: str, start: str) -> str:
    """The reference's functions of `module` from the line starting with `start` on (layer_table, ...)."""
    text = (REFERENCE / f"{module}.py").read_text()
    return text[text.index(start) :]


def submission(tmp_path, cnn_source=None, epoch_source=None) -> Path:
    """A submission folder: the reference, with cnn.py's CourseCNN and / or training.py's epoch replaced."""
    folder = tmp_path / "submission" / "a2_cnn"
    shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    if cnn_source is not None:
        (folder / "cnn.py").write_text(cnn_source + "\n\n" + _reference_part("cnn", "def layer_table"))
    if epoch_source is not None:
        text = (folder / "training.py").read_text()
        start, end = text.index("def epoch("), text.index("def channel_stats(")
        (folder / "training.py").write_text(text[:start] + epoch_source + "\n\n" + text[end:])
    return folder.parent


def quick(folder) -> dict:
    """{check name: result} of the quick tier."""
    return {r.name: r for r in grade(folder, ["a2_cnn"], tier="quick")}


def lost(results) -> dict:
    """{check name: message} of the checks that did not earn full points."""
    return {name: r.message for name, r in results.items() if r.score < r.max_score}


# ---------------------------------------------------------------- correct variants: full points
FLATTENINGS = {
    "view": "x.view(x.size(0), -1)",
    "view_shape": "x.view(-1, 64 * 4 * 4)",
    "reshape": "x.reshape(x.shape[0], -1)",
    "flatten": "torch.flatten(x, 1)",
    "flatten_method": "x.flatten(start_dim=1)",
}


@pytest.mark.quick
@pytest.mark.parametrize("style", sorted(FLATTENINGS))
def test_any_flattening_earns_full_points(tmp_path, style):
    """The course's `x.view(N, -1)` (5 of 6 real course CNNs) grades exactly like reshape and flatten: the
    checks feed the student's model contiguous batches."""
    results = quick(submission(tmp_path, _course_cnn(FLATTEN=FLATTENINGS[style])))
    assert lost(results) == {}


@pytest.mark.quick
def test_functional_pooling_earns_full_points(tmp_path):
    """F.max_pool2d in forward computes what nn.MaxPool2d modules compute: no module is required for it."""
    source = _course_cnn(POOL_INIT="", POOL="(lambda h: F.max_pool2d(h, kernel_size=2, stride=2))")
    assert lost(quick(submission(tmp_path, source))) == {}


# ---------------------------------------------------------------- the course CNN with the functional API
FUNCTIONAL_CNN = '''"""The course CNN written with torch.nn.functional on parameters of its own."""
import math

import torch
import torch.nn.functional as F
from torch import nn


def parameter(*shape, fan_in):
    bound = 1 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class CourseCNN(nn.Module):
    def __init__(self, batch_norm=False, dropout=0.0):
        super().__init__()
        self.w1, self.b1 = parameter(32, 3, 5, 5, fan_in=75), parameter(32, fan_in=75)
        self.w2, self.b2 = parameter(64, 32, 5, 5, fan_in=800), parameter(64, fan_in=800)
        self.w3, self.b3 = parameter(64, 64, 5, 5, fan_in=1600), parameter(64, fan_in=1600)
        self.batch_norm = batch_norm
        if batch_norm:
            BN_INIT
        FC_INIT
        self.p = dropout

    def forward(self, x):
        for i in (1, 2, 3):
            x = F.conv2d(x, getattr(self, f"w{i}"), getattr(self, f"b{i}"), padding=2)
            if self.batch_norm:
                x = BN
            x = F.max_pool2d(F.relu(x), 2)
        x = x.view(x.size(0), -1)
        x = F.relu(FC1)
        x = F.dropout(x, self.p, self.training)
        return LOGITS
'''
FUNCTIONAL = {
    "BN_INIT": "self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(32), nn.BatchNorm2d(64), nn.BatchNorm2d(64)",
    "BN": 'getattr(self, f"bn{i}")(x)',
    "FC_INIT": "self.fc1_w, self.fc1_b = parameter(1000, 1024, fan_in=1024), parameter(1000, fan_in=1024)\n"
    "        self.fc2_w, self.fc2_b = parameter(10, 1000, fan_in=1000), parameter(10, fan_in=1000)",
    "FC1": "F.linear(x, self.fc1_w, self.fc1_b)",
    "LOGITS": "F.linear(x, self.fc2_w, self.fc2_b)",
}
# batch norm on buffers of its own, fully-connected weights stored (in, out) and applied with @
BY_HAND = {
    "BN_INIT": "for i, c in enumerate((32, 64, 64), 1):\n"
    '                setattr(self, f"gamma{i}", nn.Parameter(torch.ones(c)))\n'
    '                setattr(self, f"beta{i}", nn.Parameter(torch.zeros(c)))\n'
    '                self.register_buffer(f"mean{i}", torch.zeros(c))\n'
    '                self.register_buffer(f"var{i}", torch.ones(c))',
    "BN": 'F.batch_norm(x, getattr(self, f"mean{i}"), getattr(self, f"var{i}"), getattr(self, f"gamma{i}"), '
    'getattr(self, f"beta{i}"), self.training)',
    "FC_INIT": "self.fc1_w, self.fc1_b = parameter(1024, 1000, fan_in=1024), parameter(1000, fan_in=1024)\n"
    "        self.fc2_w, self.fc2_b = parameter(1000, 10, fan_in=1000), parameter(10, fan_in=1000)",
    "FC1": "x @ self.fc1_w + self.fc1_b",
    "LOGITS": "x @ self.fc2_w + self.fc2_b",
}


def _functional_cnn(style=None, **changes) -> str:
    text = FUNCTIONAL_CNN
    for key, value in {**FUNCTIONAL, **(style or {}), **changes}.items():
        text = text.replace(key, value)
    return text


@pytest.mark.quick
@pytest.mark.parametrize("style", ["modules_for_bn", "all_by_hand"])
def test_functional_cnn_earns_full_points(tmp_path, style):
    """A course CNN holding its weights as nn.Parameters and calling F.conv2d / F.linear (or @) computes the course
    CNN: the judge finds the weights by their shapes, recomputes the network and reads the switches from the
    operations the forward runs (F.batch_norm, F.dropout), not from modules."""
    source = _functional_cnn(BY_HAND if style == "all_by_hand" else None)
    assert lost(quick(submission(tmp_path, source))) == {}


@pytest.mark.quick
def test_functional_cnn_with_an_activation_on_the_logits_loses_course_cnn(tmp_path):
    """No nn.ReLU module to find: the operations the forward runs show F.relu after the last linear layer."""
    failed = lost(quick(submission(tmp_path, _functional_cnn(LOGITS="F.relu(F.linear(x, self.fc2_w, self.fc2_b))"))))
    assert set(failed) == {"course_cnn"}, failed
    assert "the logits must not go through an activation" in failed["course_cnn"]


@pytest.mark.quick
def test_functional_cnn_with_a_wrong_padding_fails_with_a_hint(tmp_path):
    """padding=1 shrinks every feature map: the forward crashes at the first linear layer, and the checks that run
    the network say which convolutions changed the size instead of passing on the raw shape error."""
    source = _functional_cnn().replace("padding=2)", "padding=1)")
    results = quick(submission(tmp_path, source))
    failed = lost(results)
    assert set(failed) == {"course_cnn", "layer_table", "train_eval_modes"}, failed
    assert all(results[name].status == "failed" for name in failed)
    for name in ("course_cnn", "train_eval_modes"):
        assert "32x32 to 30x30 (padding=1)" in failed[name] and "keep the size" in failed[name]
        assert "padding 2" not in failed[name]  # the course's padding is the student's to find
    assert "see course_cnn" in failed["layer_table"]


@pytest.mark.quick
def test_functional_cnn_costs_only_layer_table_when_the_table_skips_the_model(tmp_path):
    """A functional CourseCNN has no sub-module: its one elementary layer is the model itself. A layer_table that
    never lists the root module is right for modular networks, and loses only layer_table here, with a message
    naming the convention."""
    folder = submission(tmp_path, _functional_cnn())
    path = folder / "a2_cnn" / "cnn.py"
    text = path.read_text()
    old = "if len(list(module.children())) == 0:"
    assert old in text
    path.write_text(text.replace(old, "if name and len(list(module.children())) == 0:"))
    failed = lost(quick(folder))
    assert set(failed) == {"layer_table"}, failed
    assert "has no sub-modules" in failed["layer_table"] and "nn.Conv2d" in failed["layer_table"]


TOP5_EPOCH = '''def epoch(data, model, criterion, optimizer=None):
    """The course's loop: top-1 and top-5 accuracy, (loss, top-1) returned."""
    train = optimizer is not None
    if train:
        model.train()
    else:
        model.eval()
    total, top1, top5, n = 0.0, 0, 0, 0
    with torch.set_grad_enabled(train):
        for x, y in data:
            out = model(x)
            loss = criterion(out, y)
            if train:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            _, pred = out.topk(5, dim=1)
            correct = pred.eq(y.view(-1, 1))
            top1 += correct[:, :1].sum().item()
            top5 += correct.sum().item()
            total += loss.item() * x.size(0)
            n += x.size(0)
    return total / n, top1 / nSCALE
'''


@pytest.mark.quick
def test_top5_epoch_returning_top1_earns_full_points(tmp_path):
    """The course's epoch computes a top-5 accuracy too: the probe has 10 classes, so topk(5) works."""
    assert lost(quick(submission(tmp_path, epoch_source=TOP5_EPOCH.replace("SCALE", "")))) == {}


# ---------------------------------------------------------------- buggy variants: the named checks lose points
@pytest.mark.quick
@pytest.mark.parametrize("logits", ["F.relu(self.fc2(x))", "self.out_act(self.fc2(x))", "torch.sigmoid(self.fc2(x))"])
def test_activation_on_the_logits_loses_course_cnn(tmp_path, logits):
    """Clipped logits still train to a decent accuracy: the structure check must catch them, with a hint."""
    source = _course_cnn(LOGITS=logits, LOGITS_INIT="self.out_act = nn.ReLU()")
    failed = lost(quick(submission(tmp_path, source)))
    assert set(failed) == {"course_cnn"}, failed
    assert "the logits must not go through an activation" in failed["course_cnn"]


@pytest.mark.quick
def test_accuracy_in_percent_loses_the_epoch_checks_with_a_hint(tmp_path):
    results = quick(submission(tmp_path, epoch_source=TOP5_EPOCH.replace("SCALE", " * 100")))
    failed = lost(results)
    assert set(failed) == {"epoch_evaluate", "epoch_train"}, failed
    for message in failed.values():
        assert "percentage?" in message and "fractions" in message
    assert all(results[name].status == "failed" for name in failed)


@pytest.mark.quick
def test_top5_returned_as_the_accuracy_loses_the_epoch_checks(tmp_path):
    """Top-5 in place of top-1 is a wrong accuracy (not a convention): both epoch checks name the values."""
    source = TOP5_EPOCH.replace("top1 / nSCALE", "top5 / n")
    failed = lost(quick(submission(tmp_path, epoch_source=source)))
    assert set(failed) == {"epoch_evaluate", "epoch_train"}, failed
    assert all("accuracy" in message and "epoch returned" in message for message in failed.values())


# ---------------------------------------------------------------- the kit's trainings take any flattening
@pytest.mark.quick
def test_kit_training_runs_a_view_flattening_model(tmp_path):
    """kit.a2.train feeds channels_last batches where the student's forward accepts them, contiguous ones where
    it does not (`x.view(N, -1)` after the convolutions): the same logits either way."""
    from kit import a2

    folder = submission(tmp_path, _course_cnn()) / "a2_cnn"
    cnn, training = a2.student_modules(str(folder))
    g = torch.Generator().manual_seed(0)
    data = (
        torch.rand(64, 3, 32, 32, generator=g),
        torch.randint(0, 10, (64,), generator=g),
        torch.rand(16, 3, 32, 32, generator=g),
        None,
    )
    logits = []
    model, hist = a2.train(
        cnn, training, epochs=1, batch_size=32, device="cpu", data=data, test_logits=logits, precision="fp32"
    )
    assert logits[0].shape == (16, 10) and torch.isfinite(logits[0]).all()
    assert model.conv1.weight.is_contiguous()  # fell back to the contiguous layout
    # 'auto' never offers it the layout its forward refuses: with the precision given there is nothing to probe
    assert hist.speed["why"] == "nothing to choose" and hist.speed["channels_last"] is False
    model, _ = a2.train(
        cnn, training, epochs=1, batch_size=32, device="cpu", data=data, precision="fp32", channels_last=True
    )
    assert model.conv1.weight.is_contiguous()  # asked for, refused by the forward: contiguous all the same
    ref_cnn, ref_training = a2.student_modules(str(REFERENCE))
    ref_model, _ = a2.train(
        ref_cnn, ref_training, epochs=1, batch_size=32, device="cpu", data=data, precision="fp32", channels_last=True
    )
    assert ref_model.features[0].weight.is_contiguous(memory_format=torch.channels_last)  # the layout asked for kept


@pytest.mark.quick
def test_kit_training_runs_a_functional_model(tmp_path):
    """kit.a2.train moves a functional CourseCNN's own 4-D parameters to channels_last like nn.Conv2d weights and
    trains it through the student's epoch."""
    from kit import a2

    folder = submission(tmp_path, _functional_cnn(BY_HAND)) / "a2_cnn"
    cnn, training = a2.student_modules(str(folder))
    g = torch.Generator().manual_seed(0)
    data = (
        torch.rand(64, 3, 32, 32, generator=g),
        torch.randint(0, 10, (64,), generator=g),
        torch.rand(16, 3, 32, 32, generator=g),
        None,
    )
    logits = []
    model, hist = a2.train(
        cnn,
        training,
        epochs=1,
        batch_size=32,
        device="cpu",
        data=data,
        test_logits=logits,
        precision="fp32",
        channels_last=True,
        batch_norm=True,
        dropout=0.5,
    )
    assert logits[0].shape == (16, 10) and torch.isfinite(logits[0]).all()
    assert math.isfinite(hist.train_loss[0])
