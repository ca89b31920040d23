"""Values that defeat comparisons: NaN makes every "error > tolerance" false, a complex tensor cast to float64 keeps
only its real part, a float tensor's int() rounds a wrong division down to the right answer, and a number a
function reports about itself is only its word. Each attack is graded through the real CLI and must earn 0 for the
targeted checks; the reference keeps its points on the same checks.
"""

import math
import textwrap
from pathlib import Path

import pytest
import torch

from autograder.api import (
    CheckFailed,
    expect_close,
    expect_finite,
    expect_fraction,
    expect_int,
    expect_number,
    expect_numbers,
    expect_tensor,
)
from autograder.sandbox.wire import Unsupported, decode, encode

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"a1": "a1_intro_nn", "a2": "a2_cnn", "a4": "a4_gaussian_fit"}


def submission(tmp_path, assignment, base, appended):
    """The `base` folder's modules of `assignment`, with code appended to some of them ({module: source})."""
    name = FOLDERS[assignment]
    folder = tmp_path / "sub" / name
    folder.mkdir(parents=True)
    for module in (ROOT / base / name).glob("*.py"):
        (folder / module.name).write_text(module.read_text() + textwrap.dedent(appended.get(module.name, "")))
    return tmp_path / "sub"


def by_name(report):
    return {t["name"].split("/", 1)[1]: t for t in report["tests"]}


COMPLEX_NAN = """
import torch
def _nan(*shape):  # NaN in the real part: a cast to float64 keeps it, and NaN > tolerance is false
    return torch.full(shape, complex(float("nan"), float("nan")), dtype=torch.complex128)
"""

# name: (assignment, base folder, {module: appended code}, the checks that must earn 0)
ATTACKS = {
    # complex NaN tensors for every tensor a1's manual MLP returns
    "a1_complex_nan": (
        "a1",
        "assignments",
        {
            "mlp.py": COMPLEX_NAN
            + textwrap.dedent("""
            def forward(params, X):
                N, nh, ny = X.shape[0], params["Wh"].shape[0], params["Wy"].shape[0]
                outputs = {"X": X, "htilde": _nan(N, nh), "h": _nan(N, nh), "ytilde": _nan(N, ny)}
                outputs["yhat"] = _nan(N, ny)
                return outputs["yhat"], outputs
            def backward(params, outputs, Y):
                return {k: _nan(*v.shape) for k, v in params.items()}
            def sgd(params, grads, eta):
                return {k: _nan(*v.shape) for k, v in params.items()}
            """)
        },
        ("forward", "backward", "backward_batch_mean", "sgd"),
    ),
    # the right loss with a NaN accuracy: "|acc - expected| >= tolerance" is false for NaN
    "a1_nan_accuracy": (
        "a1",
        "solutions",
        {
            "mlp.py": """
            _loss_accuracy = loss_accuracy
            def loss_accuracy(Yhat, Y):
                return _loss_accuracy(Yhat, Y)[0], float("nan")
            """
        },
        ("loss_accuracy",),
    ),
    # NaN loss and accuracy when the judge asks (its logits need no gradient), the real ones in the kit's step
    "a1_nan_loss_nn": (
        "a1",
        "solutions",
        {
            "mlp_torch.py": """
            _loss_accuracy_nn = loss_accuracy_nn
            def loss_accuracy_nn(loss, Ytilde, Y):
                if Ytilde.requires_grad:
                    return _loss_accuracy_nn(loss, Ytilde, Y)
                return torch.tensor(float("nan")), float("nan")
            """
        },
        ("nn_version",),
    ),
    # the hidden check compared backward with itself: any constant passed
    "a1_constant_backward": (
        "a1",
        "solutions",
        {
            "mlp.py": """
            def backward(params, outputs, Y):
                return {k: torch.ones_like(v) for k, v in params.items()}
            """
        },
        ("backward", "backward_batch_mean"),
    ),
    # a true division in a float tensor: int() rounds it down to the right size
    "a2_float_division": (
        "a2",
        "solutions",
        {
            "layers.py": """
            import torch
            def conv_output_size(size, kernel, padding=0, stride=1):
                return torch.tensor((size + 2 * padding - kernel) / stride + 1)
            """
        },
        ("conv_output_size",),
    ),
    # complex NaN tensors for a4's graph and gradients
    "a4_complex_nan": (
        "a4",
        "assignments",
        {
            "gaussian_fit.py": COMPLEX_NAN
            + textwrap.dedent("""
            def forward(params, grid, image):
                H, W = image.shape
                out = {"d": _nan(H, W, 2), "p": _nan(2), "q": _nan(H, W), "e": _nan(H, W), "f": _nan(H, W)}
                out.update(r=_nan(H, W), g=_nan())
                return out["g"], out
            def backward(params, outputs):
                return {k: _nan(*v.shape) for k, v in params.items()}
            """)
        },
        ("forward", "backward"),
    ),
}


@pytest.mark.quick
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_earns_nothing(name, tmp_path, grade_json):
    assignment, base, appended, targets = ATTACKS[name]
    checks = [a for c in targets for a in ("--check", c)]
    report = grade_json(submission(tmp_path, assignment, base, appended), assignment, "quick", *checks)
    tests = by_name(report)
    assert set(targets) <= set(tests)
    for target in targets:
        assert tests[target]["score"] == 0, (target, tests[target])
    if name.endswith("complex_nan"):  # told what came, in their terms
        assert "complex128 tensor; expected a real floating-point tensor" in tests["backward"]["message"]


@pytest.mark.quick
@pytest.mark.parametrize("assignment", sorted({a for a, *_ in ATTACKS.values()}))
def test_reference_keeps_the_attacked_checks(assignment, grade_json):
    targets = sorted({c for a, _, _, checks in ATTACKS.values() if a == assignment for c in checks})
    report = grade_json(ROOT / "solutions", assignment, "quick", *(a for c in targets for a in ("--check", c)))
    tests = by_name(report)
    for target in targets:
        assert tests[target]["score"] == tests[target]["max_score"] > 0, (target, tests[target])


# fit_manual lies about the fit of a4's blurred digit: it does not move from the start, and says its last loss is 0
# or -inf; or it returns an amplitude per pixel, a = image / e, whose Gaussian is the image itself (g = 0)
FIT_LIES = {
    "last loss 0": "{k: v.clone() for k, v in init.items()}, [1.0] * (steps - 1) + [0.0]",
    "last loss -inf": "{k: v.clone() for k, v in init.items()}, [1.0] * (steps - 1) + [float('-inf')]",
    "a per pixel": "{**init, 'a': image / gaussian_image({**init, 'a': 1.0}, pixel_grid(*image.shape))}, [1.0] * steps",
}


@pytest.mark.train
@pytest.mark.heavy
def test_fit_digit_reads_the_parameters_not_the_reported_loss(tmp_path, grade_json):
    """The judge computes g itself, from the returned parameters of the shapes it asked for."""
    for i, (name, returned) in enumerate(FIT_LIES.items()):
        lie = f"def fit_manual(image, init, lr, steps):\n    return {returned}\n"
        folder = submission(tmp_path / f"lie{i}", "a4", "solutions", {"gaussian_fit.py": lie})
        assert by_name(grade_json(folder, "a4", "train", "--check", "fit_digit"))["fit_digit"]["score"] == 0, name
    reference = by_name(grade_json(ROOT / "solutions", "a4", "train", "--check", "fit_digit"))["fit_digit"]
    assert reference["score"] == reference["max_score"] > 0, reference


# ---------------------------------------------------------------- the helpers every comparison goes through
def refused(helper, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as err:
        helper(*args, **kwargs)
    return str(err.value)


@pytest.mark.quick
def test_numbers_must_be_real_and_finite():
    for value in (float("nan"), float("inf"), -math.inf, True, 1 + 2j, "0.5", None, torch.tensor(float("nan"))):
        refused(expect_number, value, "the accuracy")
    for value in (torch.tensor(True), torch.tensor(1 + 1j), torch.ones(2), Unsupported("complex64", ())):
        refused(expect_number, value, "the accuracy")
    assert "nan, not a finite number" in refused(expect_fraction, float("nan"), "the accuracy")
    assert "the losses[1]" in refused(expect_numbers, [1.0, float("-inf")], "the losses")
    for value, want in ((1, 1.0), (0.25, 0.25), (torch.tensor(0.5), 0.5), (torch.tensor([3]), 3.0)):
        assert expect_number(value, "x") == want
    for value in (3.0, torch.tensor(3.5), torch.tensor(True), True):
        refused(expect_int, value, "conv_output_size(...)")
    assert expect_int(torch.tensor(7), "n") == 7


@pytest.mark.quick
def test_tensors_must_be_finite_and_of_the_asked_dtype():
    expected = torch.tensor([1.0, 2.0])
    expect_close(expected + 1e-9, expected, "dWy")  # close values pass
    assert "contains NaN" in refused(expect_close, torch.tensor([float("nan"), 2.0]), expected, "dWy")
    message = refused(expect_close, torch.full((2,), complex(math.nan, math.nan)), expected, "dWy")
    assert message == "dWy is a complex64 tensor; expected a real floating-point tensor"
    assert "a bool tensor" in refused(expect_close, torch.tensor([True, True]), expected, "dWy")
    assert "an int64 tensor" in refused(expect_close, torch.tensor([1, 2]), expected, "dWy")
    expect_close(torch.tensor([1, 2]), expected, "a count", kind="integer")  # where a check asks for integers
    refused(expect_close, expected, torch.tensor([math.nan, 2.0]), "dWy")  # NaN expected: never "close"
    refused(expect_finite, torch.tensor([math.inf]), "the logits")
    assert "complex64 tensor" in refused(expect_tensor, Unsupported("complex64", (2,)), "backward(...)['Wh']")


@pytest.mark.quick
def test_complex_tensors_cross_the_channel_as_their_dtype_only():
    value = {"Wh": torch.full((2, 3), complex(math.nan, 0.0)), "ok": torch.ones(2)}
    header, payload = encode(value)
    back = decode(header, payload)
    assert isinstance(back["Wh"], Unsupported) and (back["Wh"].dtype, back["Wh"].shape) == ("complex64", (2, 3))
    assert len(payload) == 8  # the float32 tensor's bytes only: no complex value crossed
