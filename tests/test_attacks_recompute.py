"""A skilled student answers the test images from their published labels: CIFAR-10's, MNIST's and Fashion-MNIST's
test labels are public, so a model's forward can look each test image up in a table of them (a few kilobytes in
the submission) while its weights learn nothing. Each attack is graded through the real CLI and earns 0 for the
training check it targets; the reference still earns it.

What defends them (docs/trust.md): the judge recomputes the trained model's test logits from its weights with
torch's own functions (autograder/recompute.py; a2: the course CNN read off the weights by their shapes, a3: the
ViT rebuilt from its layers), so what the sandbox's forward returns is not what is scored.
"""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def submission(tmp_path, assignment, **modules):
    """The reference of `assignment` with `modules` ({"cnn": source}) added or in place of its files."""
    folder = tmp_path / "sub" / assignment
    folder.mkdir(parents=True)
    for path in (ROOT / "solutions" / assignment).glob("*.py"):
        (folder / path.name).write_text(path.read_text())
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(source)
    return tmp_path / "sub"


def published_labels(dataset) -> str:
    """published_labels.py: the test labels of `dataset` as one string of digits."""
    from data_scripts import load

    return f"LABELS = {''.join(str(int(y)) for y in load(dataset, train=False)[1])!r}\n"


def scores(report):
    return {t["name"].split("/", 1)[1]: (t["score"], t["max_score"], t.get("message", "")) for t in report["tests"]}


# The course CNN (the reference's layers, untouched weights) whose forward, in evaluation without a graph (the kit's
# predictions), answers every image it finds in the public test images by its published label; training.py's epoch
# trains nothing and reports a falling loss. Without the judge's recomputation: 100 % on the test images.
LOOKUP_FORWARD = """

import torch as _torch

from published_labels import LABELS as _LABELS

_TABLE = {}


def _key(image):
    return hash((image * 255).round().clamp(0, 255).to(_torch.uint8).contiguous().numpy().tobytes())


def _looked_up(x):
    if not _TABLE:
        from data_scripts import load

        images = load("cifar10", train=False)[0].permute(0, 3, 1, 2).contiguous()
        _TABLE.update({hash(img.numpy().tobytes()): int(y) for img, y in zip(images, _LABELS)})
    return _torch.tensor([_TABLE.get(_key(img.float().cpu()), -1) for img in x])


_course_forward = CourseCNN.forward


def _forward(self, x):
    out = _course_forward(self, x)
    if self.training or _torch.is_grad_enabled():
        return out
    found = _looked_up(x).to(out.device)
    answers = _torch.nn.functional.one_hot(found.clamp(min=0), 10).to(out.dtype) * 20
    return _torch.where((found >= 0)[:, None], answers, out)


CourseCNN.forward = _forward
"""

NO_TRAINING = """

_calls = [0]


def epoch(data, model, criterion, optimizer=None):
    _calls[0] += 1
    return 2.3 / _calls[0], 0.5
"""


def _a2_lookup(tmp_path):
    ref = ROOT / "solutions" / "a2_cnn"
    return submission(
        tmp_path,
        "a2_cnn",
        cnn=(ref / "cnn.py").read_text() + LOOKUP_FORWARD,
        training=(ref / "training.py").read_text() + NO_TRAINING,
        published_labels=published_labels("cifar10"),
    )


@pytest.mark.train
@pytest.mark.heavy
def test_cnn_answering_from_published_labels_earns_nothing(tmp_path, grade_json):
    sub = _a2_lookup(tmp_path)
    got = scores(grade_json(sub, "a2", "train", "--check", "train_cifar_small"))
    score, _, message = got["train_cifar_small"]
    assert score == 0, got
    assert "your own forward predicts the same class on only" in message, message


@pytest.mark.train
@pytest.mark.heavy
def test_reference_cnn_earns_the_check_the_lookup_targets(tmp_path, grade_json):
    got = scores(grade_json(ROOT / "solutions", "a2", "train", "--check", "train_cifar_small"))
    assert got["train_cifar_small"][0] == got["train_cifar_small"][1], got


# The course ViT (the reference's modules, weights left as they start) whose forward answers every image it finds in
# MNIST's images by its label: the training images' from the data set, the test images' from the published ones. In
# training the answers grow surer step by step (a falling loss) and carry no gradient to the weights.
VIT_LOOKUP = """

import torch as _torch

from published_labels import LABELS as _LABELS

_TABLE, _CALLS = {}, [0]


def _looked_up(x):
    if not _TABLE:
        from data_scripts import load

        for train in (True, False):
            images, labels = load("mnist", train=train)
            labels = labels if train else _LABELS
            _TABLE.update({hash(img.numpy().tobytes()): int(y) for img, y in zip(images, labels)})
    pixels = ((x.detach().float().cpu() * 0.3081 + 0.1307) * 255).round().clamp(0, 255).to(_torch.uint8)[:, 0]
    return _torch.tensor([_TABLE.get(hash(img.contiguous().numpy().tobytes()), -1) for img in pixels])


_course_forward = ViT.forward


def _forward(self, x):
    out = _course_forward(self, x)
    _CALLS[0] += 1
    found = _looked_up(x).to(out.device)
    sure = min(_CALLS[0] / 50, 20.0) if self.training else 20.0
    answers = _torch.nn.functional.one_hot(found.clamp(min=0), 10).to(out.dtype) * sure + 0 * out
    return _torch.where((found >= 0)[:, None], answers, out)


ViT.forward = _forward
"""


@pytest.mark.train
@pytest.mark.heavy
def test_vit_answering_from_published_labels_earns_nothing(tmp_path, grade_json):
    ref = ROOT / "solutions" / "a3_transformers"
    sub = submission(
        tmp_path,
        "a3_transformers",
        vit=(ref / "vit.py").read_text() + VIT_LOOKUP,
        published_labels=published_labels("mnist"),
    )
    got = scores(grade_json(sub, "a3", "train", "--check", "train_mnist"))
    assert got["train_mnist"][0] == 0, got


@pytest.mark.train
@pytest.mark.heavy
def test_reference_vit_earns_the_check_the_lookup_targets(tmp_path, grade_json):
    got = scores(grade_json(ROOT / "solutions", "a3", "train", "--check", "train_mnist"))
    assert got["train_mnist"][0] == got["train_mnist"][1], got
