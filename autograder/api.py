"""What a check file uses: the @check decorator, the expect helpers and the Submission handle.

A check is a function `f(sub)` that raises CheckFailed (through the expect helpers) with a message written for
the student; returning normally means full points. Expected values never come from the reference solutions:
they come from PyTorch, closed-form math or training thresholds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from kit.recipes import percent  # noqa: F401 (the checks' messages name thresholds with it)

TIERS = ("quick", "train", "full")
REGISTRY: dict[str, list["Check"]] = {}


class CheckFailed(AssertionError):
    """The submission gave a wrong answer; the message tells the student what and where."""


class SubmissionError(Exception):
    """The submission could not be used at all (missing file, import error); the message says why."""


@dataclass(frozen=True)
class Check:
    assignment: str
    name: str
    points: float
    tier: str
    timeout: float
    func: Callable = field(repr=False, compare=False)
    description: str = ""
    hidden: bool = False  # graded, but neither shipped to students nor shown before the grades are published
    in_notebook: bool = True  # False: graded by the CLI and the platforms only (say why where it is set)
    recipe: str | None = None  # the kit.recipes entry it trains with and takes its threshold from

    @property
    def id(self) -> str:
        return f"{self.assignment}/{self.name}"


def check(
    name: str,
    points: float = 1,
    tier: str = "quick",
    timeout: float = 30,
    description: str = "",
    hidden: bool = False,
    in_notebook: bool = True,
    recipe: str | None = None,
):
    """Register `f(sub)` as a check of the assignment whose check module defines it.

    hidden=True: the check counts in every grade, but the student kit leaves out its code, name and messages,
    Gradescope shows it once the grades are published, and notebooks may name it only in a hidden-tests region.
    in_notebook=False: no notebook test cell runs it (a long training); every other check is in exactly one graded
    test cell of its notebook, whose points are the sum of its checks' (tests/test_release.py keeps it so).
    recipe: the kit.recipes entry the check trains with; its description may name the recipe's threshold
    (``{threshold}``, on the course's data: "95%") and settings (``{epochs}``), so that they are written once."""
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}")

    def register(func):
        assignment = func.__module__.rsplit(".", 1)[-1]
        if recipe is not None:
            func.__doc__ = _with_recipe(func.__doc__ or "", recipe)
        text = _with_recipe(description, recipe) if description and recipe is not None else description
        doc = text or (func.__doc__ or "").strip().splitlines()[0] if (text or func.__doc__) else ""
        item = Check(
            assignment,
            name,
            float(points),
            tier,
            float(timeout),
            _measuring(func),
            doc,
            bool(hidden),
            bool(in_notebook),
            recipe,
        )
        checks = REGISTRY.setdefault(assignment, [])
        same = [i for i, c in enumerate(checks) if c.name == name]
        if same and checks[same[0]].func.__qualname__ != func.__qualname__:
            raise ValueError(f"duplicate check name {item.id}")
        if same:  # the check module imported again (a reload): its new definition replaces the old one
            checks[same[0]] = item
        else:
            checks.append(item)
        return func

    return register


def _with_recipe(text: str, name: str) -> str:
    from kit.recipes import recipe

    found = recipe(name)
    fields = {k: v for k, v in found.settings.items() if isinstance(v, (int, float, str))}
    if found.threshold:
        fields["threshold"] = percent(found.first_threshold)
    return text.format(**fields)


# ---------------------------------------------------------------- what a check measured, as data
# What the running check measured (expect_accuracy's accuracies, with their thresholds). A check's function starts
# with an empty list (_measuring); the CheckResult built after it takes the list (report.CheckResult.metrics), so
# reports and `python -m autograder determinism` read numbers, never the check's printed output.
_MEASURED: list[dict] = []


def record_metric(name: str, value: float, threshold: float | None = None, **detail: str | bool) -> None:
    """Record a number the running check measured; it travels in the check's result (`metrics`), with `detail`
    (short strings or booleans: what the number was measured under)."""
    entry = {"name": name, "value": float(value)}
    if threshold is not None:
        entry["threshold"] = float(threshold)
    entry.update(detail)
    _MEASURED.append(entry)


def take_metrics() -> list[dict]:
    """What was recorded since the running check started (or since the last call); clears the record."""
    taken = list(_MEASURED)
    _MEASURED.clear()
    return taken


def _measuring(func):
    @functools.wraps(func)
    def run(*args, **kwargs):
        _MEASURED.clear()  # nothing left over from before this check counts as its own
        return func(*args, **kwargs)

    return run


# ---------------------------------------------------------------- expectations
def expect(condition, message: str):
    if not condition:
        raise CheckFailed(message)


MEASURED = "measured accuracy: {value:.4f} (threshold {threshold:.4f})"


def expect_accuracy(value: float, threshold: float, message: str):
    """A training threshold. The measured accuracy is recorded with its threshold (the result's `metrics`: the
    leaderboard and `python -m autograder determinism` read it there) and printed even when it passes, so the
    report shows the student their margin."""
    value = expect_fraction(value, "the accuracy")
    record_metric("accuracy", value, threshold)
    print(MEASURED.format(value=float(value), threshold=float(threshold)))
    expect(value >= threshold, message)


def expect_fraction(value, what: str) -> float:
    """An accuracy is a fraction in [0, 1]; 53.0 is refused, with a hint, instead of passing a 0.95 threshold."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what} should be a number, got {type(value).__name__}") from None
    if not 0.0 <= x <= 1.0:
        hint = " (a percentage? accuracies in this kit are fractions: 0.53, not 53)" if 1.0 < x <= 100.0 else ""
        raise CheckFailed(f"{what} is {x:g}, outside [0, 1]{hint}")
    return x


def accuracy(outputs, labels) -> float:
    """Fraction of rows of `outputs` (scores or probabilities, (N, C)) whose argmax is the label (N,)."""
    import torch

    outputs = expect_tensor(outputs, "the predictions")
    expect(
        outputs.dim() == 2 and outputs.shape[0] == len(labels),
        f"the predictions have shape {tuple(outputs.shape)}, expected ({len(labels)}, number of classes)",
    )
    expect_finite(outputs, "the predictions")
    return float((outputs.argmax(1) == torch.as_tensor(labels)).double().mean())


def _is_tensor(x):
    import torch

    return isinstance(x, torch.Tensor)


def expect_tensor(x, what: str):
    import torch

    if not isinstance(x, torch.Tensor):
        raise CheckFailed(f"{what} should be a torch.Tensor, got {type(x).__name__}")
    return x


def expect_shape(x, shape, what: str):
    expect_tensor(x, what)
    if tuple(x.shape) != tuple(shape):
        raise CheckFailed(f"{what} has shape {tuple(x.shape)}, expected {tuple(shape)}")
    return x


def expect_finite(x, what: str):
    import torch

    expect_tensor(x, what)
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise CheckFailed(f"{what} contains NaN or inf")


def expect_close(actual, expected, what: str, rtol: float = 1e-5, atol: float = 1e-7, hint: str = ""):
    """Compare a student's tensor with an oracle's; the message names the worst element."""
    import torch

    expected = torch.as_tensor(expected)
    expect_shape(actual, expected.shape, what)
    expect_finite(actual, what)
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    err = (a - e).abs()
    bad = err > atol + rtol * e.abs()
    if bad.any():
        rel = err / e.abs().clamp_min(atol if atol > 0 else 1e-12)
        flat = int(torch.argmax(torch.where(bad, rel, torch.zeros_like(rel))))
        idx = list(torch.unravel_index(torch.tensor(flat), e.shape)) if e.dim() else []
        where = f" at {[int(i) for i in idx]}" if idx else ""
        msg = (
            f"{what} differs from the expected value: max rel. error {float(rel[bad].max()):.3g}{where} "
            f"(got {float(a.flatten()[flat]):.6g}, expected {float(e.flatten()[flat]):.6g})"
        )
        raise CheckFailed(msg + (f"; {hint}" if hint else ""))
