"""A corpus of assignment 2 submissions written the way real students write them (the course notebook's style:
named attributes, functional ReLU, `x.view(N, -1)`, a top-5 accuracy in `epoch`, ...), graded by the judge
through the real runner. Correct variants earn every quick-tier point; buggy ones lose exactly the checks named
here, with a message naming the mistake."""
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
STYLE = {"POOL_INIT": "self.pool = nn.MaxPool2d(2, 2)", "POOL": "self.pool", "FLATTEN": "x.view(x.size(0), -1)",
         "LOGITS_INIT": "", "LOGITS": "self.fc2(x)"}


def _course_cnn(**changes) -> str:
    text = COURSE_CNN
    for key, value in {**STYLE, **changes}.items():
        text = text.replace(key, value)
    return text


def _reference_part(module: str, start: str) -> str:
    """The reference's functions of `module` from the line starting with `start` on (layer_table, ...)."""
    text = (REFERENCE / f"{module}.py").read_text()
    return text[text.index(start):]


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
    cnn, training = a2._student_modules(str(folder))
    g = torch.Generator().manual_seed(0)
    data = (torch.rand(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g),
            torch.rand(16, 3, 32, 32, generator=g), None)
    logits = []
    model, hist = a2.train(cnn, training, epochs=1, batch_size=32, device="cpu", data=data, test_logits=logits,
                           precision="fp32")
    assert logits[0].shape == (16, 10) and torch.isfinite(logits[0]).all()
    assert model.conv1.weight.is_contiguous()  # fell back to the contiguous layout
    ref_cnn, ref_training = a2._student_modules(str(REFERENCE))
    ref_model, _ = a2.train(ref_cnn, ref_training, epochs=1, batch_size=32, device="cpu", data=data,
                            precision="fp32")
    assert ref_model.features[0].weight.is_contiguous(memory_format=torch.channels_last)  # the fast layout kept
