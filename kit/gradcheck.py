"""Check hand-derived gradients against central finite differences, in float64.

    from kit.gradcheck import gradcheck
    report = gradcheck(loss_of, params, my_grads)   # prints one line per parameter
    assert report.ok

`loss_of(params)` returns the scalar loss for a dict of parameter tensors; `my_grads` holds your gradients, one per
parameter, with the parameter's shape. Every entry of every parameter is moved by +eps and -eps, in float64, and
the slope (L(p + eps) - L(p - eps)) / (2 eps) is compared with yours. That costs two evaluations of the loss per
entry: fine for the small networks and images of the course, far too slow to train with (that is what backprop
is for).

The relative error of a parameter is ||yours - numerical|| / max(||yours||, ||numerical||) (norms over all its
entries): about 1e-8 or less for a right gradient in float64, 1e-2 and more for a wrong one. The worst entry is
named, with both values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

EPS = 1e-6  # float64: the truncation error (eps^2) and the rounding error (1e-16 / eps) are both about 1e-10
TOLERANCE = 1e-6


def numerical_gradients(loss_of, params: dict, eps: float = EPS) -> dict:
    """Central differences of the scalar loss_of(params) with respect to every entry of every parameter, in
    float64; returns {name: tensor of the parameter's shape}. `params` is not modified."""
    base = {k: torch.as_tensor(v).detach().to(torch.float64).clone() for k, v in params.items()}
    numerical = {}
    with torch.no_grad():
        for name, value in base.items():
            grad = torch.zeros_like(value)
            flat, gflat = value.view(-1), grad.view(-1)
            for i in range(flat.numel()):
                old = float(flat[i])
                flat[i] = old + eps
                up = float(loss_of(base))
                flat[i] = old - eps
                down = float(loss_of(base))
                flat[i] = old
                gflat[i] = (up - down) / (2 * eps)
            numerical[name] = grad
    return numerical


@dataclass
class ParameterCheck:
    name: str
    shape: tuple
    relative_error: float
    worst_index: tuple
    yours: float
    numerical: float
    problem: str = ""  # a missing gradient or a wrong shape


@dataclass
class GradCheck:
    """The result of gradcheck: one ParameterCheck per parameter; `ok` when every relative error <= tolerance."""

    parameters: list = field(default_factory=list)
    tolerance: float = TOLERANCE

    @property
    def ok(self) -> bool:
        return all(not p.problem and p.relative_error <= self.tolerance for p in self.parameters)

    @property
    def errors(self) -> dict:
        """{name: relative error} (inf for a missing gradient or a wrong shape)."""
        return {p.name: p.relative_error for p in self.parameters}

    def summary(self) -> str:
        lines = [f"{'parameter':<10} {'shape':<12} {'rel. error':>10}  verdict"]
        for p in self.parameters:
            if p.problem:
                lines.append(f"{p.name:<10} {str(p.shape):<12} {'-':>10}  WRONG: {p.problem}")
                continue
            verdict = (
                "ok"
                if p.relative_error <= self.tolerance
                else f"WRONG: worst entry {list(p.worst_index)}: yours {p.yours:.6g}, numerical {p.numerical:.6g}"
            )
            lines.append(f"{p.name:<10} {str(p.shape):<12} {p.relative_error:>10.2e}  {verdict}")
        lines.append(
            f"{'all gradients agree' if self.ok else 'some gradients disagree'} with central differences "
            f"(float64, tolerance {self.tolerance:g})"
        )
        return "\n".join(lines)

    __str__ = summary


def compare(yours: dict, numerical: dict, tolerance: float = TOLERANCE) -> GradCheck:
    """Relative error per parameter between your gradients and numerical ones (both {name: tensor})."""
    result = GradCheck(tolerance=tolerance)
    for name, num in numerical.items():
        shape = tuple(num.shape)
        mine = yours.get(name) if isinstance(yours, dict) else None
        if mine is None:
            result.parameters.append(ParameterCheck(name, shape, float("inf"), (), 0.0, 0.0, "no gradient returned"))
            continue
        mine = torch.as_tensor(mine).detach().to(torch.float64)
        if mine.numel() != num.numel() or tuple(mine.squeeze().shape) != tuple(num.squeeze().shape):
            result.parameters.append(
                ParameterCheck(name, shape, float("inf"), (), 0.0, 0.0, f"your gradient has shape {tuple(mine.shape)}")
            )
            continue
        mine = mine.reshape(num.shape)
        diff = (mine - num).abs()
        scale = max(float(mine.norm()), float(num.norm()))
        rel = float(diff.norm()) / scale if scale > 0 else 0.0
        worst = int(diff.reshape(-1).argmax()) if diff.numel() else 0
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), num.shape)) if num.dim() else ()
        result.parameters.append(
            ParameterCheck(name, shape, rel, index, float(mine.reshape(-1)[worst]), float(num.reshape(-1)[worst]))
        )
    return result


def gradcheck(
    loss_of, params: dict, yours: dict, eps: float = EPS, tolerance: float = TOLERANCE, verbose: bool = True
) -> GradCheck:
    """Compare your gradients `yours` of the scalar loss_of(params) with central differences in float64.

    Args:
        loss_of: function of a dict of parameters returning a scalar (tensor or float); it must work in float64.
        params: {name: tensor}, the point where the gradients are taken (copied to float64, not modified).
        yours: {name: tensor} your gradients at that point, each with its parameter's shape.
        eps: the finite-difference step; tolerance: the largest relative error counted as right.
        verbose: print the summary (one line per parameter).
    Returns:
        GradCheck: .ok, .errors ({name: relative error}), .summary().
    """
    result = compare(yours, numerical_gradients(loss_of, params, eps), tolerance)
    if verbose:
        print(result.summary())
    return result
