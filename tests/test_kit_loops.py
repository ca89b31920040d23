"""The kit's shared training loop pieces: mixed precision and the speed switches chosen by a timed probe."""

import pytest
import torch

from kit.loops import mixed_precision, resolve_precision, resolve_switches

CPU = torch.device("cpu")


@pytest.fixture
def clock(monkeypatch):
    """kit.loops's clock made fake: a fake step advances it by the cost the test gives, so a probe decides from
    those costs, never from the machine's load. Returns advance(seconds)."""
    import time
    from types import SimpleNamespace

    from kit import loops

    now = [0.0]
    monkeypatch.setattr(loops, "time", SimpleNamespace(perf_counter=lambda: now[0], time=time.time))
    return lambda seconds: now.__setitem__(0, now[0] + seconds)


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
def test_auto_precision_is_decided_by_a_probe_and_recorded(tmp_path, monkeypatch, clock):
    """Flags alone never choose bfloat16: a timed probe does, its decision is cached per machine and model key and
    recorded; without a probe, or when bfloat16 is not faster by the margin, float32."""
    from kit import loops

    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(loops, "_cpu_has_native_bf16", lambda: True)  # a CPU that claims bfloat16
    assert resolve_precision(CPU, "auto", key="no-probe") == "fp32"
    assert loops.SPEED_DECISIONS["no-probe"]["why"] == "no probe"
    calls = []

    def probe(cost):  # a fake training step: bf16 takes cost["bf16"] seconds
        def step(precision):
            calls.append(precision)
            clock(cost[precision])

        return step

    assert resolve_precision(CPU, "auto", probe=probe({"fp32": 0.004, "bf16": 0.012}), key="slow-bf16") == "fp32"
    assert resolve_precision(CPU, "auto", probe=probe({"fp32": 0.012, "bf16": 0.004}), key="fast-bf16") == "bf16"
    decision = loops.SPEED_DECISIONS["fast-bf16"]
    assert decision["why"] == "probe"
    assert decision["step_s"]["bf16 contiguous"] < decision["step_s"]["fp32 contiguous"]
    n = len(calls)
    assert resolve_precision(CPU, "auto", probe=probe({"fp32": 0.012, "bf16": 0.004}), key="fast-bf16") == "bf16"
    assert len(calls) == n and loops.SPEED_DECISIONS["fast-bf16"]["why"] == "cached probe"  # no second probe
    # a day later (or a cache written before decisions carried their time) the machine is probed again
    now = loops.time.time
    monkeypatch.setattr(loops.time, "time", lambda: now() + loops.PROBE_MAX_AGE_S + 1)
    assert resolve_precision(CPU, "auto", probe=probe({"fp32": 0.004, "bf16": 0.012}), key="fast-bf16") == "fp32"
    assert len(calls) > n and loops.SPEED_DECISIONS["fast-bf16"]["why"] == "probe"
    monkeypatch.setattr(loops.time, "time", now)

    def broken(precision):
        if precision == "bf16":
            raise RuntimeError("no bf16 kernel")

    assert resolve_precision(CPU, "auto", probe=broken, key="broken") == "fp32"
    assert loops.SPEED_DECISIONS["broken"]["why"] == "probe failed (RuntimeError)"
    (tmp_path / "speed.json").write_text("[1, 2]")  # not the kit's cache: probed again, and replaced
    assert resolve_precision(CPU, "auto", probe=probe({"fp32": 0.012, "bf16": 0.004}), key="fast-bf16") == "bf16"
    assert loops.SPEED_DECISIONS["fast-bf16"]["why"] == "probe"


@pytest.mark.quick
def test_the_layout_is_decided_with_the_precision(tmp_path, monkeypatch, clock):
    """channels_last 'auto' times both layouts in each precision: the fastest of the four wins, but only by the
    margin over the safe one (float32, contiguous); a model that refuses channels_last (False) is never probed
    in it, and a layout given by the caller is kept."""
    from kit import loops

    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(loops, "_cpu_has_native_bf16", lambda: True)
    calls = []

    def probe(cost):
        def step(precision, channels_last):
            calls.append((precision, channels_last))
            clock(cost[precision, channels_last])

        return step

    fast_cl = {("fp32", False): 0.012, ("fp32", True): 0.004, ("bf16", False): 0.010, ("bf16", True): 0.009}
    assert resolve_switches(CPU, "auto", "auto", probe=probe(fast_cl), key="cl") == ("fp32", True)
    assert set(calls) == set(fast_cl)
    decision = loops.SPEED_DECISIONS["cl"]
    assert decision["channels_last"] is True and set(decision["step_s"]) == {
        "fp32 contiguous",
        "fp32 channels_last",
        "bf16 contiguous",
        "bf16 channels_last",
    }
    near = {("fp32", False): 0.010, ("fp32", True): 0.0095, ("bf16", False): 0.0098, ("bf16", True): 0.0097}
    assert resolve_switches(CPU, "auto", "auto", probe=probe(near), key="near") == ("fp32", False)  # within noise
    both = {("fp32", False): 0.012, ("fp32", True): 0.008, ("bf16", False): 0.008, ("bf16", True): 0.003}
    assert resolve_switches(CPU, "auto", "auto", probe=probe(both), key="both") == ("bf16", True)
    calls.clear()
    assert resolve_switches(CPU, "auto", False, probe=probe(both), key="refuses") == ("bf16", False)
    assert {cl for _, cl in calls} == {False}, "a model that refuses channels_last is never run in it"
    assert resolve_switches(CPU, "fp32", True, probe=probe(both), key="given") == ("fp32", True)
    assert loops.SPEED_DECISIONS["given"]["why"] == "nothing to choose"
    with pytest.raises(ValueError, match="channels_last must be"):
        resolve_switches(CPU, "auto", "yes")


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
        step("fp32", False)
        step("bf16", False)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.quick
def test_the_evaluation_batch_size_is_probed_where_it_pays(tmp_path, monkeypatch, clock):
    """resolve_eval_batch_size times the forward over the same images in each candidate batch size and keeps the
    fastest by the margin over 1000; a training that evaluates little keeps 1000 without a probe."""
    from kit import loops

    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path))
    seen = []

    def forward(cost_per_batch):
        def run(xb):
            seen.append(len(xb))
            clock(cost_per_batch[len(xb)] if len(xb) in cost_per_batch else 0.0)

        return run

    x = torch.zeros(loops.EVAL_PROBE_IMAGES, 1)
    small_fast = {1000: 0.02, 128: 0.001, 104: 0.001, 256: 0.004, 232: 0.004}  # 8 x 1 ms < 4 x 4 ms < 20 ms
    assert loops.resolve_eval_batch_size(CPU, forward(small_fast), x, "eval", work=10**6) == 128
    decision = loops.SPEED_DECISIONS["eval"]
    assert decision["eval_why"] == "probe" and set(decision["eval_s"]) == {"batch 1000", "batch 256", "batch 128"}
    assert set(seen) == {1000, 256, 232, 128, 104}, "each size evaluated the same 1000 images"
    seen.clear()
    assert loops.resolve_eval_batch_size(CPU, forward(small_fast), x, "eval", work=10**6) == 128
    assert not seen and loops.SPEED_DECISIONS["eval"]["eval_why"] == "cached probe"
    large_fast = {1000: 0.004, 128: 0.003, 104: 0.003, 256: 0.006, 232: 0.006}
    assert loops.resolve_eval_batch_size(CPU, forward(large_fast), x, "gpu-like", work=10**6) == 1000
    assert loops.resolve_eval_batch_size(CPU, forward(small_fast), x, "short", work=5000) == 1000
    assert loops.SPEED_DECISIONS["short"]["eval_why"] == "too little to evaluate for a probe"

    def broken(xb):
        raise RuntimeError("out of memory")

    assert loops.resolve_eval_batch_size(CPU, broken, x, "broken eval", work=10**6) == 1000
