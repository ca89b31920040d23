"""kit.a1.layer_statistics and deep_tanh_mlp: the numbers behind a1's initialization plots (cell init_statistics)."""

import pytest
import torch

from kit import a1

pytestmark = pytest.mark.quick


def _batch(n=256, d=784, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_statistics_are_those_of_each_hidden_layer():
    X, y = _batch()
    model = a1.deep_tanh_mlp("Xavier", depth=3, width=32)
    stats = a1.layer_statistics(model, X, y)
    assert [len(v) for v in stats.values()] == [3, 3, 3]
    # the same quantities by hand, for the second hidden layer
    h1 = torch.tanh(model[0](X))
    z2 = model[2](h1)
    h2 = torch.tanh(z2).detach().requires_grad_()
    torch.nn.functional.cross_entropy(model[6](torch.tanh(model[4](h2))), y).backward()
    assert stats["activation_std"][1] == pytest.approx(float(h2.detach().std()), rel=1e-5)
    assert stats["gradient_std"][1] == pytest.approx(float(h2.grad.std()), rel=1e-4)
    assert not model[1]._forward_hooks, "the hooks are removed after the pass"


def test_the_three_initializations_show_what_the_lecture_says():
    X, y = _batch()
    small, large, xavier = (a1.layer_statistics(a1.deep_tanh_mlp(init), X, y) for init in a1.INITS)
    # too small: activations and gradients vanish with depth (the gradient at the first layer is the smallest)
    assert small["activation_std"][-1] < 1e-4 * small["activation_std"][0]
    assert small["gradient_std"][0] < 1e-4 * small["gradient_std"][-1]
    # too large: tanh saturates
    assert min(large["saturated"]) > 0.5
    # Xavier: same order of magnitude in every layer, few saturated units
    for key in ("activation_std", "gradient_std"):
        assert max(xavier[key]) < 10 * min(xavier[key])
    assert max(xavier["saturated"]) < 0.1


def test_an_unknown_initialization_is_named():
    with pytest.raises(ValueError, match="Xavier"):
        a1.deep_tanh_mlp("He")
