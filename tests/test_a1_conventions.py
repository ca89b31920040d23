"""a1 graded on code written the way students write it (issue 15): each variant is the reference with some
functions rewritten in a student's style, appended to the module (a later `def` replaces the earlier one, and
mlp_torch's `from mlp import init_params` sees the rewrite). Correct variants in another convention earn full
points or lose exactly the points of the kit's convention, with a message naming it; buggy variants lose points
with a hint that names the mistake."""

import shutil
import textwrap
from pathlib import Path

import pytest

from autograder.runner import grade

ROOT = Path(__file__).resolve().parent.parent

A1 = "a1_intro_nn"
QUICK_POINTS = 20

BIAS_COLUMN = """
def init_params(nx, nh, ny):
    return {"Wh": torch.randn(nh, nx) * 0.3, "bh": torch.zeros(nh, 1),
            "Wy": torch.randn(ny, nh) * 0.3, "by": torch.zeros(ny, 1)}


def forward(params, X):
    htilde = X @ params["Wh"].T + params["bh"].T
    h = torch.tanh(htilde)
    ytilde = h @ params["Wy"].T + params["by"].T
    yhat = softmax(ytilde)
    return yhat, {"X": X, "htilde": htilde, "h": h, "ytilde": ytilde, "yhat": yhat}


def backward(params, outputs, Y):
    N = Y.shape[0]
    d_ytilde = (outputs["yhat"] - Y) / N
    d_htilde = (d_ytilde @ params["Wy"]) * (1 - outputs["h"] ** 2)
    return {"Wy": d_ytilde.T @ outputs["h"], "by": d_ytilde.sum(dim=0).reshape(-1, 1),
            "Wh": d_htilde.T @ outputs["X"], "bh": d_htilde.sum(dim=0).reshape(-1, 1)}
"""

BIAS_ROW = """
def init_params(nx, nh, ny):
    return {"Wh": torch.randn(nh, nx) * 0.3, "bh": torch.randn(1, nh) * 0.3,
            "Wy": torch.randn(ny, nh) * 0.3, "by": torch.randn(1, ny) * 0.3}


def backward(params, outputs, Y):
    N = Y.shape[0]
    d_ytilde = (outputs["yhat"] - Y) / N
    d_htilde = (d_ytilde @ params["Wy"]) * (1 - outputs["h"] ** 2)
    return {"Wy": d_ytilde.T @ outputs["h"], "by": d_ytilde.sum(dim=0, keepdim=True),
            "Wh": d_htilde.T @ outputs["X"], "bh": d_htilde.sum(dim=0, keepdim=True)}
"""

TRANSPOSED = """
def init_params(nx, nh, ny):
    return {"Wh": torch.randn(nx, nh) * 0.3, "bh": torch.randn(nh) * 0.3,
            "Wy": torch.randn(nh, ny) * 0.3, "by": torch.randn(ny) * 0.3}


def forward(params, X):
    htilde = X @ params["Wh"] + params["bh"]
    h = torch.tanh(htilde)
    ytilde = h @ params["Wy"] + params["by"]
    yhat = softmax(ytilde)
    return yhat, {"X": X, "htilde": htilde, "h": h, "ytilde": ytilde, "yhat": yhat}


def backward(params, outputs, Y):
    N = Y.shape[0]
    d_ytilde = (outputs["yhat"] - Y) / N
    d_htilde = (d_ytilde @ params["Wy"].T) * (1 - outputs["h"] ** 2)
    return {"Wy": outputs["h"].T @ d_ytilde, "by": d_ytilde.sum(dim=0),
            "Wh": outputs["X"].T @ d_htilde, "bh": d_htilde.sum(dim=0)}
"""

TRANSPOSED_BIAS_ROW = """
def init_params(nx, nh, ny):
    return {"Wh": torch.randn(nx, nh) * 0.3, "bh": torch.randn(1, nh) * 0.3,
            "Wy": torch.randn(nh, ny) * 0.3, "by": torch.randn(1, ny) * 0.3}


def forward(params, X):
    htilde = X @ params["Wh"] + params["bh"]
    h = torch.tanh(htilde)
    ytilde = h @ params["Wy"] + params["by"]
    yhat = softmax(ytilde)
    return yhat, {"X": X, "htilde": htilde, "h": h, "ytilde": ytilde, "yhat": yhat}


def backward(params, outputs, Y):
    N = Y.shape[0]
    d_ytilde = (outputs["yhat"] - Y) / N
    d_htilde = (d_ytilde @ params["Wy"].T) * (1 - outputs["h"] ** 2)
    return {"Wy": outputs["h"].T @ d_ytilde, "by": d_ytilde.sum(dim=0, keepdim=True),
            "Wh": outputs["X"].T @ d_htilde, "bh": d_htilde.sum(dim=0, keepdim=True)}
"""

SUMMED = """
def loss_accuracy(Yhat, Y):
    L = -(Y * torch.log(Yhat)).sum()
    acc = (Yhat.argmax(dim=1) == Y.argmax(dim=1)).float().mean().item()
    return L, acc


def backward(params, outputs, Y):
    d_ytilde = outputs["yhat"] - Y
    d_htilde = (d_ytilde @ params["Wy"]) * (1 - outputs["h"] ** 2)
    return {"Wy": d_ytilde.T @ outputs["h"], "by": d_ytilde.sum(dim=0),
            "Wh": d_htilde.T @ outputs["X"], "bh": d_htilde.sum(dim=0)}
"""

PERCENT = """
def loss_accuracy(Yhat, Y):
    L = -(Y * torch.log(Yhat)).sum(dim=1).mean()
    acc = 100 * (Yhat.argmax(dim=1) == Y.argmax(dim=1)).float().mean().item()
    return L, acc
"""

CLASS_INDICES = """
def loss_accuracy_nn(loss, Ytilde, y):
    L = loss(Ytilde, y)
    acc = (Ytilde.argmax(1) == y).float().mean().item()
    return L, acc
"""

MEAN_ALL_ENTRIES = """
def loss_accuracy(Yhat, Y):
    L = -(Y * torch.log(Yhat)).mean()
    acc = (Yhat.argmax(dim=1) == Y.argmax(dim=1)).float().mean().item()
    return L, acc
"""

CE_ON_PROBABILITIES = """
def loss_accuracy(Yhat, Y):
    L = torch.nn.functional.cross_entropy(Yhat, Y.argmax(dim=1))
    acc = (Yhat.argmax(dim=1) == Y.argmax(dim=1)).float().mean().item()
    return L, acc
"""

SOFTMAX_BATCH_AXIS = """
def softmax(ytilde):
    e = torch.exp(ytilde - ytilde.max())
    return e / e.sum(dim=0)
"""

SOFTMAX_NO_SHIFT = """
def softmax(ytilde):
    e = torch.exp(ytilde)
    return e / e.sum(dim=1, keepdim=True)
"""

SUMMED_GRADIENTS_MEAN_LOSS = """
def backward(params, outputs, Y):
    d_ytilde = outputs["yhat"] - Y
    d_htilde = (d_ytilde @ params["Wy"]) * (1 - outputs["h"] ** 2)
    return {"Wy": d_ytilde.T @ outputs["h"], "by": d_ytilde.sum(dim=0),
            "Wh": d_htilde.T @ outputs["X"], "bh": d_htilde.sum(dim=0)}
"""

AUTOGRAD_STANDARD_NORMAL = """
def init_params_autograd(nx, nh, ny):
    return {"Wh": torch.randn(nh, nx, requires_grad=True), "bh": torch.zeros(nh, requires_grad=True),
            "Wy": torch.randn(ny, nh, requires_grad=True), "by": torch.zeros(ny, requires_grad=True)}
"""

INIT_SEVERAL_PROBLEMS = """
def init_params(nx, nh, ny):
    return {"Wh": torch.randn(nh, nx, dtype=torch.float64), "bh": torch.zeros(nh, dtype=torch.float64),
            "Wy": torch.randn(ny, nh, dtype=torch.float64), "by": torch.zeros(ny, dtype=torch.float64)}
"""

SGD_IN_PLACE = """
def sgd(params, grads, eta):
    for name in params:
        params[name] -= eta * grads[name]
    return params
"""

BACKWARD_ZEROES_ITS_INPUTS = """
_backward = backward

def backward(params, outputs, Y):
    grads = {k: v.clone() for k, v in _backward(params, outputs, Y).items()}
    for p in params.values():
        p.zero_()
    Y.zero_()
    return grads
"""

KEYS_IN_ANOTHER_CASE = """
_init, _forward, _backward, _sgd = init_params, forward, backward, sgd
_COURSE = {"wh": "Wh", "wy": "Wy", "yHat": "yhat", "hTilde": "htilde"}

def _course(d):
    return {_COURSE.get(k, k): v for k, v in d.items()}

def init_params(nx, nh, ny):
    return {k.lower(): v for k, v in _init(nx, nh, ny).items()}

def forward(params, X):
    yhat, outputs = _forward(_course(params), X)
    return yhat, {{"yhat": "yHat", "htilde": "hTilde"}.get(k, k): v for k, v in outputs.items()}

def backward(params, outputs, Y):
    return {k.lower(): v for k, v in _backward(_course(params), _course(outputs), Y).items()}

def sgd(params, grads, eta):
    return {k.lower(): v for k, v in _sgd(_course(params), _course(grads), eta).items()}
"""

# (name, {module: appended code}, {check that loses points: words its message must contain})
VARIANTS = [
    ("keys of params and outputs in another case", {"mlp.py": KEYS_IN_ANOTHER_CASE}, {}),
    ("sgd updating its params in place (its task)", {"mlp.py": SGD_IN_PLACE}, {}),
    (
        "bug: backward right, then zeroes its inputs in place",
        {"mlp.py": BACKWARD_ZEROES_ITS_INPUTS},
        {"backward": ["changed params[", "in place"], "backward_batch_mean": ["in place"]},
    ),
    ("biases (nh, 1), a correct network", {"mlp.py": BIAS_COLUMN}, {}),
    ("biases (1, nh), a correct network", {"mlp.py": BIAS_ROW}, {}),
    (
        "weights stored (in, out), a correct network",
        {"mlp.py": TRANSPOSED},
        {"init_params": ["(in, out)", "(out, in)", "nn.Linear"]},
    ),
    (
        "weights stored (in, out), biases (1, n), a correct network",
        {"mlp.py": TRANSPOSED_BIAS_ROW},
        {"init_params": ["(in, out)", "(out, in)"]},
    ),
    (
        "summed loss with its exact gradients",
        {"mlp.py": SUMMED},
        {"loss_accuracy": ["sum over the batch", "mean"]},  # once: backward and the batch-mean check keep theirs
    ),
    ("accuracy in percent", {"mlp.py": PERCENT}, {"loss_accuracy": ["percentage", "expected 0.", "fractions"]}),
    (
        "class-index labels in the nn part",
        {"mlp_torch.py": CLASS_INDICES},
        {"nn_version": ["class indices", "one-hot"]},
    ),
    ("bug: mean over all N x ny entries", {"mlp.py": MEAN_ALL_ENTRIES}, {"loss_accuracy": ["N x ny"]}),
    (
        "bug: cross-entropy on probabilities",
        {"mlp.py": CE_ON_PROBABILITIES},
        {"loss_accuracy": ["probabilities", "logits"]},
    ),
    (
        "bug: softmax over the batch axis",
        {"mlp.py": SOFTMAX_BATCH_AXIS},
        {
            "softmax_stable": ["batch axis", "dim 0"],
            "forward": ["differs", "through your softmax", "fix softmax first"],
        },
    ),
    (
        "bug: softmax without protection against large logits",
        {"mlp.py": SOFTMAX_NO_SHIFT},
        {"softmax_stable": ["overflows", "large logits"]},
    ),
    (
        "bug: summed gradients with a mean loss",
        {"mlp.py": SUMMED_GRADIENTS_MEAN_LOSS},
        {"backward": ["N times too large", "mean"], "backward_batch_mean": ["twice", "summed"]},
    ),
    (
        "bug: autograd weights drawn from N(0, 1)",
        {"mlp_torch.py": AUTOGRAD_STANDARD_NORMAL},
        {"autograd_version": ["N(0, 0.3)", "std"]},
    ),
    (
        "bug: init_params with several problems",
        {"mlp.py": INIT_SEVERAL_PROBLEMS},
        {
            "init_params": [
                "'bh'] should be float32, got torch.float64",
                "'Wh'] should be drawn from N(0, 0.3)",
                "'Wy'] should be drawn from N(0, 0.3)",
            ]
        },
    ),
]


def variant(tmp_path, rewrites):
    folder = tmp_path / "submission" / A1
    shutil.copytree(ROOT / "solutions" / A1, folder, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__", "runs"))
    for module, code in rewrites.items():
        path = folder / module
        path.write_text(path.read_text() + "\n\n# ---- rewritten the way a student wrote it\n" + textwrap.dedent(code))
    return folder.parent


@pytest.mark.quick
@pytest.mark.parametrize("name, rewrites, losses", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_a1_student_styles(name, rewrites, losses, tmp_path):
    results = {r.name: r for r in grade(variant(tmp_path, rewrites), [A1], tier="quick")}
    assert sum(r.max_score for r in results.values()) == QUICK_POINTS
    lost = {n: r.message for n, r in results.items() if r.score < r.max_score}
    assert set(lost) == set(losses), lost
    for check_name, words in losses.items():
        for word in words:
            assert word in lost[check_name], (check_name, word, lost[check_name])


@pytest.mark.quick
def test_a1_summed_convention_is_noted_by_backward(tmp_path):
    """backward keeps its points for a summed loss with its exact gradients, and its output says why."""
    results = {
        r.name: r for r in grade(variant(tmp_path, {"mlp.py": SUMMED}), [A1], tier="quick", only=[f"{A1}/backward"])
    }
    assert results["backward"].status == "passed"
    assert "consistent with a summed loss" in " ".join(results["backward"].notes)
    assert "the kit's loss is the mean" in " ".join(results["backward"].notes)


@pytest.mark.heavy
@pytest.mark.quick
def test_a1_student_styles_in_the_student_kit(tmp_path):
    """The student kit's grader (recorded answers, no oracle code) grades the same variants the same way: the
    judge draws every oracle's inputs in the kit's own layout, so a correct network in another layout or
    convention meets only recorded cases, and the messages that name a convention or a mistake keep their words.
    The hidden check is not in the kit."""
    from test_faces import grade as grade_in

    from autograder.platforms.student_kit import build, hidden_check_names

    kit = build(tmp_path / "kit", [A1], make_zip=False)
    hidden = set(hidden_check_names([A1])[A1])
    folders = {}
    (tmp_path / "class").mkdir()
    for i, (name, rewrites, losses) in enumerate(VARIANTS):
        sub = variant(tmp_path / f"v{i}", rewrites)
        shutil.move(sub, tmp_path / "class" / f"v{i}")
        folders[f"v{i}"] = (name, {c: w for c, w in losses.items() if c not in hidden})
    graded = grade_in(kit, tmp_path / "class", A1, jobs=1)  # the kit's grader, in a process of its own
    problems = []
    for key, (name, losses) in folders.items():
        results = graded[key]
        lost = {c: msg for c, (status, msg, *_) in results.items() if status != "passed"}
        if set(lost) != set(losses):
            problems.append(f"{name}: lost {lost}, expected to lose {sorted(losses)}")
        problems += [f"{name}/{c}: {m}" for c, m in lost.items() if "no recorded answer" in m]
        problems += [
            f"{name}/{c}: no {w!r} in {lost.get(c)}" for c, ws in losses.items() for w in ws if w not in lost.get(c, "")
        ]
    summed = graded[next(k for k, (name, _) in folders.items() if name == "summed loss with its exact gradients")]
    assert "consistent with a summed loss" in " ".join(summed["backward"][3]), summed["backward"]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the train tier: conventions cost nothing more
# kit.a1.circles_predictions trains in the student's conventions (layout, class-index labels, a summed loss with
# eta / batch size) and the check's output names each adaptation; buggy code still fails the thresholds.
SUMMED_NN = """
def init_model_nn(nx, nh, ny):
    model = nn.Sequential(nn.Linear(nx, nh), nn.Tanh(), nn.Linear(nh, ny))
    return model, nn.CrossEntropyLoss(reduction="sum")
"""

BUG_SUMMED_WRONG_SIGN = (
    SUMMED
    + """

def backward(params, outputs, Y):
    d_ytilde = Y - outputs["yhat"]
    d_htilde = (d_ytilde @ params["Wy"]) * (1 - outputs["h"] ** 2)
    return {"Wy": d_ytilde.T @ outputs["h"], "by": d_ytilde.sum(dim=0),
            "Wh": d_htilde.T @ outputs["X"], "bh": d_htilde.sum(dim=0)}
"""
)

BUG_INDICES_NO_TANH = (
    CLASS_INDICES
    + """

def init_model_nn(nx, nh, ny):
    return nn.Sequential(nn.Linear(nx, nh), nn.Linear(nh, ny)), nn.CrossEntropyLoss()
"""
)

TRAIN_CHECKS = ("train_circles_manual", "train_circles_torch")
NOTE_SUM, NOTE_INDICES = "eta / batch size = 0.1 / 10", "trained with class-index labels (N,)"
# (name, {module: appended code}, {check: (passes, words its output and message must contain)})
TRAIN_VARIANTS = [
    (
        "keys of params and outputs in another case",
        {"mlp.py": KEYS_IN_ANOTHER_CASE},
        {"train_circles_manual": (True, []), "train_circles_torch": (True, [])},
    ),
    (
        "class-index labels in the nn part",
        {"mlp_torch.py": CLASS_INDICES},
        {"train_circles_manual": (True, []), "train_circles_torch": (True, [NOTE_INDICES, "nn_version only"])},
    ),
    (
        "summed loss with its exact gradients",
        {"mlp.py": SUMMED},
        {
            "train_circles_manual": (True, [NOTE_SUM, "SUM over the batch and backward is its exact gradient"]),
            "train_circles_torch": (True, [NOTE_SUM, "autograd version"]),
        },
    ),
    (
        "summed loss in the nn part",
        {"mlp_torch.py": SUMMED_NN},
        {"train_circles_manual": (True, []), "train_circles_torch": (True, [NOTE_SUM, "torch.optim version"])},
    ),
    (
        "weights stored (in, out), biases (1, n)",
        {"mlp.py": TRANSPOSED_BIAS_ROW},
        {"train_circles_manual": (True, []), "train_circles_torch": (True, [])},
    ),
    (
        "bug: summed gradients with a mean loss",
        {"mlp.py": SUMMED_GRADIENTS_MEAN_LOSS},
        {"train_circles_manual": (False, ["did not decrease"])},
    ),
    (
        "bug: summed loss, gradients of the wrong sign",
        {"mlp.py": BUG_SUMMED_WRONG_SIGN},
        {"train_circles_manual": (False, [NOTE_SUM, "did not decrease"])},
    ),
    (
        "bug: class-index labels, no Tanh",
        {"mlp_torch.py": BUG_INDICES_NO_TANH},
        {"train_circles_torch": (False, [NOTE_INDICES, "torch.nn version"])},
    ),
]


@pytest.mark.train
@pytest.mark.parametrize("name, rewrites, expected", TRAIN_VARIANTS, ids=[v[0] for v in TRAIN_VARIANTS])
def test_a1_trainings_follow_student_conventions(name, rewrites, expected, tmp_path):
    # time limits catch endless loops; these trainings share the cores with other tests
    results = {
        r.name: r
        for r in grade(
            variant(tmp_path, rewrites), [A1], tier="train", timeout_scale=3, only=[f"{A1}/{c}" for c in expected]
        )
    }
    for check_name, (passes, words) in expected.items():
        r = results[check_name]
        text = "\n".join([r.message, *r.notes])
        assert (r.status == "passed") == passes, (check_name, r.status, text)
        for word in words:
            assert word in text, (check_name, word, text)
        if not any(w in (NOTE_SUM, NOTE_INDICES) for w in words):
            assert not r.notes, (check_name, r.notes)  # no adaptation where none is needed
