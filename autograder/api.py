"""What a check file uses: the @check decorator, the expect helpers and the Submission handle.

A check is a function `f(sub)` that raises CheckFailed (through the expect helpers) with a message written for
the student; returning normally means full points. Expected values never come from the reference solutions:
they come from PyTorch, closed-form math or training thresholds.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kit.recipes import (
    percent,  # noqa: F401 (the checks' messages name thresholds with it)
    recipe,
)

from .sandbox.wire import Unsupported

TIERS = ("quick", "train", "full")
REGISTRY: dict[str, list["Check"]] = {}


class CheckFailed(AssertionError):
    """The submission gave a wrong answer; the message tells the student what and where."""


class SubmissionError(Exception):
    """The submission could not be used at all (missing file, import error); the message says why."""


class NotImportable(SubmissionError):
    """A module of the submission could not be loaded at all (missing, a syntax error, raised on import)."""


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
    points: float = 1,
    tier: str = "quick",
    timeout: float = 30,
    description: str = "",
    hidden: bool = False,
    in_notebook: bool = True,
    recipe: str | None = None,
):
    """Register `f(sub)` as a check of the assignment whose check module defines it, named after the function
    (its id: "<assignment>/<function name>"). `sub` is the check's api.Context.

    hidden=True: the check counts in every grade, but the student kit leaves out its code, name and messages,
    Gradescope shows it once the grades are published, and notebooks may name it only in a hidden-tests region.
    in_notebook=False: no notebook test cell runs it (a long training); every other check is in exactly one graded
    test cell of its notebook, whose points are the sum of its checks' (tests/test_release.py keeps it so).
    recipe: the kit.recipes entry the check trains with; its description may name the recipe's threshold
    (``{threshold}``, on the course's data: "95%") and settings (``{epochs}``), so that they are written once."""
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}")

    if isinstance(points, str):
        raise TypeError("a check is named after its function: @check(points=...), not @check(name, ...)")

    def register(func):
        assignment, name = func.__module__.rsplit(".", 1)[-1], func.__name__
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
            func,
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

    found = recipe(name)
    fields = {k: v for k, v in found.settings.items() if isinstance(v, (int, float, str))}
    if found.threshold:
        fields["threshold"] = percent(found.first_threshold)
    return text.format(**fields)


# ---------------------------------------------------------------- what a running check is handed
class Context:
    """What the runner hands a check (its `sub`): the sandbox session's calls (`function`, `module`, `kit`, ...),
    the check's own declaration and recipe, and where it records what it measured (`record`: numbers with their
    thresholds) and what it wants the student told (`note`). The CheckResult built after the check holds both, as
    data: reports render them, nothing reads the check's printed output."""

    def __init__(self, check: "Check", session):
        self.check, self.session = check, session
        self.metrics: list[dict] = []
        self.notes: list[str] = []

    @property
    def recipe(self):
        """The kit.recipes entry the check was declared with (`@check(..., recipe=NAME)`), or None."""

        return recipe(self.check.recipe) if self.check.recipe else None

    def record(self, name: str, value: float, threshold: float | None = None, **detail: str | bool) -> None:
        """A number the check measured, with `detail` (short strings or booleans: what it was measured under)."""
        entry = {"name": name, "value": float(value)}
        if threshold is not None:
            entry["threshold"] = float(threshold)
        entry.update(detail)
        self.metrics.append(entry)

    def note(self, text: str) -> None:
        """Something the student should know that changes no points (a convention read as the course's)."""
        if text not in self.notes:
            self.notes.append(text)

    def __getattr__(self, name):
        if name in ("check", "session", "metrics", "notes"):  # not set yet: no recursion through the session
            raise AttributeError(name)
        return getattr(self.session, name)


# ---------------------------------------------------------------- expectations
def expect(condition, message: str):
    if not condition:
        raise CheckFailed(message)


def expect_accuracy(sub: Context, value: float, threshold: float, message: str):
    """A training threshold. The measured accuracy is recorded with its threshold (the result's `metrics`: the
    reports show the student their margin even when it passes; the leaderboard and `python -m autograder
    determinism` read it there)."""
    value = expect_fraction(value, "the accuracy")
    sub.record("accuracy", value, threshold)
    expect(value >= threshold, message)


def expect_fraction(value, what: str) -> float:
    """An accuracy is a fraction in [0, 1]; 53.0 is refused, with a hint, instead of passing a 0.95 threshold."""
    x = expect_number(value, what)
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


# ---------------------------------------------------------------- values before they are compared
# A comparison holds only for finite values of the kind the check asked for, and asks "close" positively
# (err <= tol): NaN makes every "err > tol" false, and a complex, bool or integer value is not the real number a
# check compares. Every check goes through these helpers (or expect_close) before it compares a student's value.
KINDS = {
    "float": "a real floating-point tensor",
    "integer": "an integer tensor",
    "any": "a tensor",
}


def _described(x) -> str:
    """What a student's value is, in a message: "a complex64 tensor", "a str", "a SVC"."""
    if x is None:
        return "None"
    if isinstance(x, Unsupported) or _is_tensor(x):
        dtype = str(x.dtype).replace("torch.", "")
        return f"{'an' if dtype.startswith('int') else 'a'} {dtype} tensor"
    name = x.class_name() if callable(getattr(type(x), "class_name", None)) else type(x).__name__  # a Remote's
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _of_kind(x, kind: str) -> bool:
    import torch

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}")
    if x.is_complex():
        return False
    if kind == "float":
        return x.is_floating_point()
    if kind == "integer":
        return not x.is_floating_point() and x.dtype != torch.bool
    return True


def expect_tensor(x, what: str, kind: str = "float"):
    """x is a torch.Tensor of the kind the check asks for: "float" (real floating point, the default), "integer"
    (no bool) or "any" (no complex)."""
    if isinstance(x, Unsupported):  # a dtype the channel does not carry (complex, ...): only its name came
        raise CheckFailed(f"{what} is {_described(x)}; expected {KINDS[kind]}")
    if not _is_tensor(x):
        raise CheckFailed(f"{what} should be a torch.Tensor, got {type(x).__name__}")
    if not _of_kind(x, kind):
        raise CheckFailed(f"{what} is {_described(x)}; expected {KINDS[kind]}")
    return x


def expect_shape(x, shape, what: str, kind: str = "float"):
    expect_tensor(x, what, kind)
    if tuple(x.shape) != tuple(shape):
        raise CheckFailed(f"{what} has shape {tuple(x.shape)}, expected {tuple(shape)}")
    return x


def expect_finite(x, what: str, kind: str = "float"):
    import torch

    expect_tensor(x, what, kind)
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise CheckFailed(f"{what} contains NaN or inf")
    return x


def expect_number(value, what: str) -> float:
    """A real, finite number: a Python or numpy int or float, or a one-element real tensor or array. Refused: NaN
    and infinities (every comparison with NaN is false), bools, complex numbers, strings and anything else."""
    import numbers

    import numpy as np
    import torch

    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]  # a numpy scalar of the array's dtype
    if _is_tensor(value):
        if value.numel() != 1:
            raise CheckFailed(f"{what} should be a number, got a tensor of shape {tuple(value.shape)}")
        if value.is_complex() or value.dtype == torch.bool:
            raise CheckFailed(f"{what} should be a real number, got {_described(value)}")
    elif not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise CheckFailed(f"{what} should be a real number, got {_described(value)}")
    x = float(value)
    if not math.isfinite(x):
        raise CheckFailed(f"{what} is {x}, not a finite number")
    return x


def expect_numbers(values, what: str) -> list[float]:
    """A list or tuple of real, finite numbers (losses per epoch or per step), as floats."""
    if not isinstance(values, (list, tuple)):
        raise CheckFailed(f"{what} should be a list of numbers, got {_described(values)}")
    return [expect_number(v, f"{what}[{i}]") for i, v in enumerate(values)]


def expect_int(value, what: str) -> int:
    """An integer: a Python or numpy int, or a one-element integer tensor. A float (even 3.0 in a tensor, whose
    int() would round down a wrong division), a bool or anything else is refused."""
    import numbers

    if _is_tensor(value):
        ok = value.numel() == 1 and _of_kind(value, "integer")
    else:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok:
        raise CheckFailed(f"{what} should be an int, got {_described(value)} ({value!r})")
    return int(value)


def expect_close(
    actual, expected, what: str, rtol: float = 1e-5, atol: float = 1e-7, hint: str = "", kind: str = "float"
):
    """Compare a student's tensor with an oracle's; the message names the worst element. The student's tensor
    must be finite and of `kind` (see expect_tensor); each element must be within atol + rtol * |expected|."""
    import torch

    expected = torch.as_tensor(expected)
    expect_shape(actual, expected.shape, what, kind)
    expect_finite(actual, what, kind)
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    err = (a - e).abs()
    bad = ~(err <= atol + rtol * e.abs())  # NaN in the expected values (a student's, in a consistency check) fails
    if bad.any():
        rel = (err / e.abs().clamp_min(atol if atol > 0 else 1e-12)).nan_to_num(nan=math.inf)
        flat = int(torch.argmax(torch.where(bad, rel, torch.zeros_like(rel))))
        idx = list(torch.unravel_index(torch.tensor(flat), e.shape)) if e.dim() else []
        where = f" at {[int(i) for i in idx]}" if idx else ""
        msg = (
            f"{what} differs from the expected value: max rel. error {float(rel[bad].max()):.3g}{where} "
            f"(got {float(a.flatten()[flat]):.6g}, expected {float(e.flatten()[flat]):.6g})"
        )
        raise CheckFailed(msg + (f"; {hint}" if hint else ""))


# ---------------------------------------------------------------- oracles: live for the instructor, recorded for students
# An oracle computes an expected value (the closed-form network, attention, the course CNN's forward). The
# instructor's grader runs it live. What a class receives must not compute answers (DESIGN.md decision 12), so
# `make student-kit` runs the public checks on the reference with every oracle call recorded ("record" face),
# ships those calls' inputs and outputs (autograder/recorded/<assignment>.pt) and cuts every oracle's body; the
# kit's grader ("student" face) answers an oracle call from the recording of the running check. The student face
# draws its inputs from other seeds than the instructor's (runner.check_seed), so memorized values buy nothing there.
# An oracle takes and returns plain data (tensors, numbers, strings, None, and lists, tuples and dicts of them), and
# its inputs are made by the judge from the check's seeded draws, never from what the submission returned: the
# recording is looked up by them.
FACES = ("instructor", "record", "student")
RECORDED = Path(__file__).resolve().parent / "recorded"  # exists in the student kit only
_ORACLES = {"face": "student" if RECORDED.is_dir() else "instructor", "check": None, "calls": [], "book": {}}


class NotRecorded(Exception):
    """The student kit holds no recorded answer for this oracle call (inputs it never met, or a training's recompute
    from the student's trained weights); the instructor's grader computes it live."""


def face() -> str:
    """Which grader this is: "instructor" (live oracles), "record" (live oracles, calls kept) or "student"."""
    return _ORACLES["face"]


def set_face(name: str) -> None:
    if name not in FACES:
        raise ValueError(f"face must be one of {FACES}")
    _ORACLES["face"] = name


def begin_check(check_id: str) -> None:
    """The runner names the check about to run: recordings are kept and looked up per check."""
    _ORACLES["check"] = check_id
    _ORACLES["calls"] = []
    _ORACLES["cursor"] = 0


def recorded_calls() -> list:
    """The oracle calls of the running check, in the record face: [(oracle, args, kwargs, value), ...]."""
    return list(_ORACLES["calls"])


def oracle(func):
    """Mark a check module's function that computes expected values; see the comment above."""
    name = func.__name__

    @functools.wraps(func)
    def call(*args, **kwargs):
        if _ORACLES["face"] == "student":
            return _replay(name, args, kwargs)
        value = func(*args, **kwargs)
        if _ORACLES["face"] == "record":
            _ORACLES["calls"].append((name, _plain(args, name), _plain(kwargs, name), _plain(value, name)))
        return value

    call.oracle = True
    return call


def _plain(x, name):
    import torch

    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, torch.Size):
        return tuple(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v, name) for v in x)
    if isinstance(x, dict) and all(isinstance(k, (str, int)) for k in x):
        return {k: _plain(v, name) for k, v in x.items()}
    raise TypeError(f"oracle {name} takes and returns plain data only, got a {type(x).__name__}")


def _same(a, b) -> bool:
    """Recorded inputs match: the same structure, exact scalars and strings, tensors equal to float rounding (the
    student's platform may draw the last bit differently)."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if not a.is_floating_point():
            return bool(torch.equal(a, b))
        return bool(torch.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _book(assignment: str) -> dict:
    book = _ORACLES["book"]
    if assignment not in book:
        import torch

        path = RECORDED / f"{assignment}.pt"
        book[assignment] = torch.load(path, weights_only=True) if path.is_file() else {}
    return book[assignment]


def _replay(name, args, kwargs):
    check_id = _ORACLES["check"] or ""
    assignment, _, check_name = check_id.partition("/")
    calls = _book(assignment).get(check_name, [])
    start = _ORACLES.get("cursor", 0)
    # The calls come in the order they were recorded: try the next one first, then any other.
    for i in [start] + [j for j in range(len(calls)) if j != start]:
        if i < len(calls):
            recorded, args0, kwargs0, value = calls[i]
            if recorded == name and _same(list(args), list(args0)) and _same(kwargs, kwargs0):
                _ORACLES["cursor"] = i + 1
                return _plain(value, name)
    raise NotRecorded(
        f"the student kit has no recorded answer for this case of {check_name or 'the check'} (the instructor's "
        "grader checks it)"
    )
