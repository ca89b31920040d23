"""What the grader runs in its sandbox for every assignment: it exercises the student's code and returns what it
computed.

They return data, never a verdict: the judge (autograder/checks/) compares what comes back with its own
oracles, and computes every accuracy from predictions, with test labels the sandbox never sees.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def set_parameters(model, values: dict) -> list:
    """Copy `values` ({name of model.named_parameters(): tensor}, drawn by the judge) into the model's parameters;
    returns the names it could not set (no such parameter, or another shape). The judge's way to give a student's
    module its own weights (a1's nn version, a2's CNN, a3's modules), so that an oracle computes from the same."""
    params = dict(model.named_parameters())
    left = []
    for name, value in values.items():
        p = params.get(name)
        if p is None or tuple(p.shape) != tuple(value.shape):
            left.append(name)
            continue
        p.copy_(value.to(dtype=p.dtype, device=p.device))
    return left


def tensor_flags(tensors: dict) -> dict:
    """{name: (requires_grad, is_leaf)} of a dict of tensors."""
    return {
        k: (bool(getattr(v, "requires_grad", False)), bool(getattr(v, "is_leaf", False))) for k, v in tensors.items()
    }


def grads_of(tensors: dict) -> dict:
    """{name: .grad (None when unset)}."""
    return {k: (None if getattr(v, "grad", None) is None else v.grad.detach().clone()) for k, v in tensors.items()}


def autograd_step(mlp, mlp_torch, X, Y, eta: float, sizes=(2, 10, 2)) -> dict:
    """a1: parameters from init_params_autograd, the student's forward and loss, backward, sgd_autograd."""
    params = mlp_torch.init_params_autograd(*sizes)
    if not isinstance(params, dict):
        return {"params_type": type(params).__name__}
    flags = tensor_flags(params)
    yhat, _ = mlp.forward(params, X)
    L, _ = mlp.loss_accuracy(yhat, Y)
    L.backward()
    grads = grads_of(params)
    before = {k: v.detach().clone() for k, v in params.items()}
    out = mlp_torch.sgd_autograd(params, eta)
    params = out if isinstance(out, dict) else params
    return {
        "flags": flags,
        "before": before,
        "grads": grads,
        "after": {k: v.detach().clone() for k, v in params.items()},
        "flags_after": tensor_flags(params),
        "grads_after": grads_of(params),
    }


def nn_step(mlp_torch, model, loss, X, Y, eta: float) -> dict:
    """a1: the student's loss_accuracy_nn on the model's logits, backward, then sgd_nn."""
    logits = model(X)
    L, acc = mlp_torch.loss_accuracy_nn(loss, logits, Y)
    out = {"L": L.detach().clone() if isinstance(L, torch.Tensor) else L, "acc": acc}
    L.backward()
    out["before"] = [p.detach().clone() for p in model.parameters()]
    out["grads"] = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    mlp_torch.sgd_nn(model, eta)
    out["after"] = [p.detach().clone() for p in model.parameters()]
    out["grads_after"] = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    return out


def optimizer_step(model, optimizer, seed: int = 0) -> dict:
    """Give every parameter of `model` a known gradient, take one optimizer step; before, gradients, after."""
    gen = torch.Generator().manual_seed(seed)
    before, grads = [], []
    for p in model.parameters():
        before.append(p.detach().clone())
        p.grad = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        grads.append(p.grad.clone())
    optimizer.step()
    return {"before": before, "grads": grads, "after": [p.detach().clone() for p in model.parameters()]}
