"""kit.gradcheck: central differences in float64 pass a right gradient and catch a wrong one, by parameter."""

import pytest
import torch

from kit.gradcheck import compare, gradcheck, numerical_gradients


def mlp_loss(params, X, Y):
    h = torch.tanh(X @ params["Wh"].T + params["bh"])
    return torch.nn.functional.cross_entropy(h @ params["Wy"].T + params["by"], Y)


def problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    params = {
        "Wh": torch.randn(4, 3, generator=gen),
        "bh": torch.randn(4, generator=gen),
        "Wy": torch.randn(2, 4, generator=gen),
        "by": torch.randn(2, generator=gen),
    }
    X, Y = torch.randn(7, 3, generator=gen, dtype=torch.float64), torch.randint(0, 2, (7,), generator=gen)
    return params, (lambda p: mlp_loss(p, X, Y))


def autograd_grads(loss_of, params):
    leaves = {k: v.detach().double().requires_grad_(True) for k, v in params.items()}
    return dict(zip(leaves, torch.autograd.grad(loss_of(leaves), list(leaves.values()))))


@pytest.mark.quick
def test_a_right_gradient_passes(capsys):
    params, loss_of = problem()
    report = gradcheck(loss_of, params, autograd_grads(loss_of, params))
    assert report.ok
    assert all(err < 1e-8 for err in report.errors.values()), report.errors
    out = capsys.readouterr().out
    assert "all gradients agree" in out and all(name in out for name in params)


@pytest.mark.quick
def test_a_wrong_gradient_is_caught_and_named(capsys):
    params, loss_of = problem(1)
    grads = autograd_grads(loss_of, params)
    grads["Wh"] = grads["Wh"] * 2  # e.g. a factor 2 too many in one layer
    report = gradcheck(loss_of, params, grads)
    assert not report.ok
    assert report.errors["Wh"] > 0.1 and report.errors["Wy"] < 1e-8
    out = capsys.readouterr().out
    assert "WRONG" in out and "some gradients disagree" in out


@pytest.mark.quick
def test_a_missing_or_misshaped_gradient_is_caught():
    params, loss_of = problem(2)
    grads = autograd_grads(loss_of, params)
    del grads["by"]
    grads["Wh"] = grads["Wh"].T
    report = gradcheck(loss_of, params, grads, verbose=False)
    assert not report.ok
    problems = {p.name: p.problem for p in report.parameters}
    assert problems["by"] == "no gradient returned" and "shape" in problems["Wh"]


@pytest.mark.quick
def test_numerical_gradients_in_float64_leave_params_alone():
    params, loss_of = problem(3)
    before = {k: v.clone() for k, v in params.items()}
    numerical = numerical_gradients(loss_of, params)
    assert all(g.dtype == torch.float64 and g.shape == params[k].shape for k, g in numerical.items())
    assert all(torch.equal(params[k], before[k]) for k in params)
    scalar = numerical_gradients(lambda p: (p["a"] ** 3).sum(), {"a": torch.tensor(2.0)})  # a 0-d parameter
    assert abs(float(scalar["a"]) - 12.0) < 1e-6
    assert compare({"a": torch.tensor(12.0)}, scalar).ok
