"""kit.a2's faster recipe pieces: a learning rate set per optimizer step, flip-averaged test logits, Nesterov."""

import math

import pytest
import torch

from kit import a2


def _sgd(momentum=0.9):
    model = torch.nn.Linear(4, 2)
    return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)


def _steps(model, optimizer, n):
    lrs = []
    for _ in range(n):
        optimizer.zero_grad()
        model(torch.randn(8, 4)).square().mean().backward()
        optimizer.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


@pytest.mark.quick
@pytest.mark.parametrize("name", a2.SCHEDULES)
def test_step_schedule_rises_then_anneals_with_every_step(name):
    """The student's epoch only calls optimizer.step(): the schedule must move with it, peak at lr after the
    warm-up and end near 0, and survive exactly the planned number of steps."""
    model, optimizer = _sgd()
    a2.step_schedule(optimizer, name, lr=0.2, total_steps=100, warmup=0.2)
    lrs = _steps(model, optimizer, 100)
    peak = max(range(100), key=lrs.__getitem__)
    assert 15 <= peak <= 22, peak
    assert math.isclose(max(lrs), 0.2, rel_tol=0.06)
    assert lrs[-1] < 0.01 and all(b <= a + 1e-12 for a, b in zip(lrs[peak:], lrs[peak + 1 :]))
    assert all(b >= a - 1e-12 for a, b in zip(lrs[:peak], lrs[1 : peak + 1]))


@pytest.mark.quick
def test_unknown_schedule_is_named():
    _, optimizer = _sgd()
    with pytest.raises(ValueError, match="onecycle"):
        a2.step_schedule(optimizer, "linear", 0.1, 10)


@pytest.mark.quick
def test_flip_averaged_logits():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 10))
    x = torch.randn(6, 3, 4, 4)
    batches = [(x[:4], None), (x[4:], None)]
    got = a2.predict(model, batches, torch.device("cpu"), flip=True)
    want = (model(x) + model(x.flip(-1))) / 2
    assert torch.allclose(got, want, atol=1e-6)
    assert not torch.allclose(a2.predict(model, batches, torch.device("cpu")), want, atol=1e-3)


@pytest.mark.quick
def test_nesterov_only_with_momentum():
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert a2.make_optimizer("sgd", params, 0.1, 0.9, nesterov=True).defaults["nesterov"]
    assert not a2.make_optimizer("sgd", params, 0.1, 0.0, nesterov=True).defaults["nesterov"]
