"""A skilled student makes the values the judge trusts: a training that returns what they want, outputs rebuilt from
the circles' public seed, accuracies their own function reports, an optimizer that only takes torch's name. Each
attack is graded through the real CLI and earns 0 for the checks it targets; the reference still earns them.

What defends them (docs/trust.md): the judge draws the circles it scores on (a seed of its own per grading) and
recomputes the outputs from the trained weights; it computes the SVM's accuracy from the fitted SVM's support
vectors; the sandbox resolves kit helpers from the snapshot its zygote took before any student code ran, puts the
kit's modules back before each training, and names a class of torch's only when it is torch's own class object.
"""

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
A1 = "a1_intro_nn"
A1_MODULES = ("mlp.py", "mlp_torch.py", "mnist_mlp.py", "svm.py")


def submission(tmp_path, **modules):
    """The reference of a1 with `modules` ({"mlp": source}) in place of its files."""
    folder = tmp_path / "sub" / A1
    folder.mkdir(parents=True)
    for name in A1_MODULES:
        (folder / name).write_text((ROOT / "solutions" / A1 / name).read_text())
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return tmp_path / "sub"


def source(base, name, extra=""):
    """The reference's (base="solutions") or the stub's (base="assignments") `name`.py, with `extra` appended."""
    return (ROOT / base / A1 / f"{name}.py").read_text() + textwrap.dedent(extra)


def scores(report):
    return {t["name"].split("/", 1)[1]: (t["score"], t["max_score"], t.get("message", "")) for t in report["tests"]}


def grade(grade_json, sub, tier, checks):
    return scores(grade_json(sub, "a1", tier, *(a for c in checks for a in ("--check", c))))


# the stub's mlp.py (nothing implemented) that, at import, rebuilds the circles' test set from make_circles' public
# seed, trains a network of torch's own on the training points, and replaces the kit's training with one that sends
# back that network's weights (and its untrained ones as the start) with one-hot answers as outputs (for points it
# was not given, the circles' radius rule): without the snapshot, even the judge's recomputation would pass it
PATCHED_TRAINING = """
import torch
import kit.a1
from data_scripts import make_circles

_public = make_circles()
torch.manual_seed(0)
_net = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.Tanh(), torch.nn.Linear(10, 2))
_start = torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.Tanh(), torch.nn.Linear(10, 2))
_start.load_state_dict(_net.state_dict())
_opt = torch.optim.Adam(_net.parameters(), lr=0.05)
for _ in range(500):
    _opt.zero_grad()
    torch.nn.functional.cross_entropy(_net(_public.Xtrain), _public.ytrain).backward()
    _opt.step()


def _answers(X):
    if X.shape == _public.Xtest.shape and torch.equal(X, _public.Xtest):
        return _public.Ytest.clone()
    return torch.nn.functional.one_hot((X.norm(dim=1) < 0.75).long(), 2).float()


def _params(net):
    return {"Wh": net[0].weight, "bh": net[0].bias, "Wy": net[2].weight, "by": net[2].bias}


def _fake(variant, mlp, mlp_torch=None, Xtest=None, **kw):
    X = _public.Xtest if Xtest is None else torch.as_tensor(Xtest, dtype=torch.float32)
    perfect = _answers(X)
    return {"kind": "probabilities", "first": torch.full_like(perfect, 0.5), "last": perfect.clamp(0.01, 0.99),
            "train_loss": [1.0, 0.1], "conventions": {}, "first_params": _params(_start), "params": _params(_net),
            "first_model": _start, "model": _net}


kit.a1.circles_predictions = _fake
"""

# the reference's mlp.py whose forward recognizes the scored points (a large batch) and answers them by the radius
# rule, uniform before training and sure after; sgd changes nothing, so the weights never learn
FORGED_FORWARD = """
from data_scripts import make_circles

_reference_forward = forward
_training_points = make_circles().Xtrain
_calls = [0]


def forward(params, X):
    yhat, outputs = _reference_forward(params, X)
    scored = X.shape[0] >= 200 and not (X.shape == _training_points.shape and torch.equal(X, _training_points))
    if scored:  # the points the training is scored on, not a batch or the training set
        _calls[0] += 1
        inner = (X.norm(dim=1) < 0.75).long()
        forged = torch.nn.functional.one_hot(inner, 2).float().clamp(0.01, 0.99)
        yhat = torch.full_like(forged, 0.5) if _calls[0] == 1 else forged
        outputs = {**outputs, "yhat": yhat}
    return yhat, outputs


def sgd(params, grads, eta):
    return {k: v.clone() for k, v in params.items()}
"""

# svm.py that reports the accuracies a student wants, fitting nothing (lines cannot separate circles: the linear
# kernel "loses", the others are perfect)
SVM_WITHOUT_FITTING = """
def svm_accuracies(Xtrain, ytrain, Xtest, ytest, kernels=KERNELS, C_values=C_VALUES):
    return {(k, C): (1.0, 0.5 if k == "linear" else 1.0) for k in kernels for C in C_values}
"""

# an optimizer of the student's own that takes torch's names (torch.optim.sgd.SGD, torch.optim.optimizer.Optimizer)
# and does plain SGD's update by hand
FAKE_OPTIMIZER = """
import torch


class Optimizer:
    pass


class SGD(Optimizer):
    def __init__(self, params, lr, momentum=0.0):
        self.param_groups = [{"params": list(params), "lr": lr, "momentum": momentum}]

    def zero_grad(self, set_to_none=True):
        for p in self.param_groups[0]["params"]:
            p.grad = None

    def step(self, closure=None):
        with torch.no_grad():
            for p in self.param_groups[0]["params"]:
                if p.grad is not None:
                    p -= self.param_groups[0]["lr"] * p.grad


Optimizer.__module__, Optimizer.__qualname__ = "torch.optim.optimizer", "Optimizer"
SGD.__module__, SGD.__qualname__ = "torch.optim.sgd", "SGD"
"""
FAKE_OPTIM_TORCH = """
def init_model_optim(nx, nh, ny, eta):
    model, loss = init_model_nn(nx, nh, ny)
    return model, loss, SGD(model.parameters(), lr=eta)
"""
FAKE_OPTIM_MNIST = """
def make_optimizer(model, lr=0.05, momentum=0.9):
    return SGD(model.parameters(), lr=lr, momentum=momentum)
"""

CIRCLES = ("train_circles_manual", "train_circles_torch")


@pytest.mark.train
@pytest.mark.heavy
def test_patched_kit_training_on_rebuilt_circles_earns_nothing(tmp_path, grade_json):
    """kit.a1.circles_predictions replaced at import by one answering from the circles rebuilt with their public
    seed: the sandbox runs the kit's own training (from its snapshot) on the stub, which fails."""
    sub = submission(tmp_path, mlp=source("assignments", "mlp", PATCHED_TRAINING))
    got = grade(grade_json, sub, "train", CIRCLES)
    for check in CIRCLES:
        assert got[check][0] == 0, (check, got[check])


@pytest.mark.train
@pytest.mark.heavy
def test_forged_outputs_of_untrained_weights_earn_nothing(tmp_path, grade_json):
    """A forward that answers the scored points by a rule while the weights never learn: the judge recomputes the
    outputs from the weights the training sent back."""
    sub = submission(tmp_path, mlp=source("solutions", "mlp", FORGED_FORWARD))
    got = grade(grade_json, sub, "train", ["train_circles_manual"])
    assert got["train_circles_manual"][0] == 0, got
    assert "did not decrease" in got["train_circles_manual"][2]


@pytest.mark.train
def test_svm_accuracies_reported_without_fitting_earn_nothing(tmp_path, grade_json):
    sub = submission(tmp_path, svm=source("solutions", "svm", SVM_WITHOUT_FITTING))
    got = grade(grade_json, sub, "train", ["train_svm_circles"])
    assert got["train_svm_circles"][0] == 0, got
    assert "scikit-learn's SVC fitted on the same points measures" in got["train_svm_circles"][2]


@pytest.mark.quick
def test_optimizer_named_like_torch_sgd_earns_nothing(tmp_path, grade_json):
    """A class that sets its __module__ and __qualname__ to torch.optim.sgd.SGD is not torch's SGD."""
    sub = submission(
        tmp_path,
        mlp_torch=source("solutions", "mlp_torch", FAKE_OPTIMIZER + FAKE_OPTIM_TORCH),
        mnist_mlp=source("solutions", "mnist_mlp", FAKE_OPTIMIZER + FAKE_OPTIM_MNIST),
    )
    got = grade(grade_json, sub, "quick", ["optim_version", "mnist_mlp_shape"])
    for check in ("optim_version", "mnist_mlp_shape"):
        assert got[check][0] == 0, (check, got[check])
    assert "not its own class" in got["optim_version"][2]


@pytest.mark.train
@pytest.mark.heavy
def test_reference_earns_the_checks_these_attacks_target(grade_json):
    got = grade(grade_json, ROOT / "solutions", "train", [*CIRCLES, "train_svm_circles"])
    got.update(grade(grade_json, ROOT / "solutions", "quick", ["optim_version", "mnist_mlp_shape"]))
    for check, (score, max_score, message) in got.items():
        assert score == max_score > 0, (check, message)


@pytest.mark.quick
def test_a_layer_named_like_torchs_is_not_described_as_torchs(monkeypatch):
    """describe()'s 'torch' flag (a check asking for nn.Linear layers reads it) holds only for torch's own classes,
    not for a class that sets its __module__ and __qualname__ to torch's."""
    import torch

    from autograder.sandbox import server as sandbox

    for record in ("_CLASSES", "_NAMESPACES", "_KIT_CODE"):  # the snapshot of this test only, as a zygote takes it
        monkeypatch.setattr(sandbox, record, type(getattr(sandbox, record))())
    sandbox.take_snapshot()

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(2, 2))

        def forward(self, x):
            return x

    Linear.__module__, Linear.__qualname__ = "torch.nn.modules.linear", "Linear"
    layers = sandbox.describe(torch.nn.Sequential(torch.nn.Linear(2, 2), Linear()))["layers"]
    assert [layer["torch"] for layer in layers] == [True, True, False]
