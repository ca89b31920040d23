"""The kit's shared training loop pieces: mixed precision."""

import pytest
import torch

from kit.loops import mixed_precision, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.quick
def test_bf16_context_spanning_steps_sees_updated_weights():
    """The kit wraps a whole student epoch in one autocast context: each forward must use the current weights,
    not a bfloat16 copy cached at the first batch (autocast's default cache would train on stale weights)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 8)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    x = torch.randn(32, 16)
    with mixed_precision(CPU, "bf16"):
        first = model(x)
        first.square().mean().backward()
        opt.step()
        second = model(x)
    assert second.dtype == torch.bfloat16
    fresh = torch.nn.functional.linear(x, model.weight, model.bias)
    assert torch.allclose(second.float(), fresh, atol=0.1, rtol=0.02)
    assert not torch.allclose(second.float(), first.float(), atol=0.1)


@pytest.mark.quick
def test_precision_choice():
    assert resolve_precision(CPU, "fp32") == "fp32" and resolve_precision(CPU, "bf16") == "bf16"
    assert resolve_precision(CPU, "auto") in ("fp32", "bf16")
    with mixed_precision(CPU, "fp32"):
        assert torch.nn.Linear(4, 2)(torch.randn(3, 4)).dtype == torch.float32
    with pytest.raises(ValueError, match="precision must be"):
        resolve_precision(CPU, "fp16x")


@pytest.mark.quick
def test_auto_precision_is_decided_by_a_probe_and_recorded(tmp_path, monkeypatch):
    """Flags alone never choose bfloat16: a timed probe does, its decision is cached per machine and model key and
    recorded; without a probe, or when bfloat16 is not faster by the margin, float32."""
    import time as _time

    from kit import loops

    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(loops, "_cpu_has_native_bf16", lambda: True)  # a CPU that claims bfloat16
    assert resolve_precision(CPU, "auto", key="no-probe") == "fp32"
    assert loops.PRECISION_DECISIONS["no-probe"]["why"] == "no probe"
    calls = []

    def probe(cost):  # a fake training step: bf16 takes cost["bf16"] seconds
        def step(precision):
            calls.append(precision)
            _time.sleep(cost[precision])

        return step

    assert resolve_precision(CPU, "auto", probe=probe({"fp32": 0.004, "bf16": 0.012}), key="slow-bf16") == "fp32"
    assert resolve_precision(CPU, "auto", probe=probe({"fp32": 0.012, "bf16": 0.004}), key="fast-bf16") == "bf16"
    decision = loops.PRECISION_DECISIONS["fast-bf16"]
    assert decision["why"] == "probe" and decision["bf16_step_s"] < decision["fp32_step_s"]
    n = len(calls)
    assert resolve_precision(CPU, "auto", probe=probe({"fp32": 0.012, "bf16": 0.004}), key="fast-bf16") == "bf16"
    assert len(calls) == n and loops.PRECISION_DECISIONS["fast-bf16"]["why"] == "cached probe"  # no second probe
    # a day later (or a cache written before decisions carried their time) the machine is probed again
    now = _time.time
    monkeypatch.setattr(loops.time, "time", lambda: now() + loops.PROBE_MAX_AGE_S + 1)
    assert resolve_precision(CPU, "auto", probe=probe({"fp32": 0.004, "bf16": 0.012}), key="fast-bf16") == "fp32"
    assert len(calls) > n and loops.PRECISION_DECISIONS["fast-bf16"]["why"] == "probe"
    monkeypatch.setattr(loops.time, "time", now)

    def broken(precision):
        if precision == "bf16":
            raise RuntimeError("no bf16 kernel")

    assert resolve_precision(CPU, "auto", probe=broken, key="broken") == "fp32"


@pytest.mark.quick
def test_training_step_probe_leaves_the_model_and_random_stream_alone():
    from kit.loops import training_step_probe

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 3))
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    state = torch.random.get_rng_state()
    step = training_step_probe(model, torch.nn.functional.cross_entropy, x, y, CPU)
    with torch.random.fork_rng():
        step("fp32")
        step("bf16")
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
