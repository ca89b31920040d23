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
