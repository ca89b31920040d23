"""The semantic leak test: nothing a class receives computes what a student must write (issue 28, DESIGN.md
decision 12).

For every function and module a student writes (each function or class of solutions/<assignment>/*.py holding a
solution region), the reference is run on random inputs that fit its signature (INPUTS; the few that cannot be fed
generically are in SKIP, with the reason). Then every module-level callable the student kit ships (autograder/,
kit/ and data_scripts/: checks, oracles, hint helpers, private helpers, nn.Module classes) is called on the same
inputs wherever its signature takes them, and the test fails when one reproduces the reference's outputs.

Two phases, each a run of this file as a script, exchanging torch.save files:
- `reference` (in the repository): draws the inputs and keeps the reference's outputs;
- `probe` (in a copy of the kit, with the kit first on sys.path and the instructor's editable install cut off, so
  the kit's own autograder is the one imported): calls every shipped callable, each call seeded like the
  reference's, under a time limit, with the process-killing and process-starting functions disabled, in forked
  children (one per shipped module, a new one after a candidate that ends its process): a candidate given random
  arguments may set resource limits, audit hooks or redirect descriptors for good, never in the probe itself.
An oracle cut by the kit (body `...`) returns None: no match. The probe runs the oracles in the instructor's face:
what counts is what the shipped code computes, whichever face a student switches to.

A match on one draw is: the same return value, or one of the candidate's output tensors (or returned module's
weights) equal to one of the reference's outputs that is not simply one of the inputs. A candidate is reported when
it matches on every draw. Besides the arguments themselves, a case may name other forms of the same inputs as a
judge holds them (the pixel grid as its height and width; a module's weights in a check's canonical layout,
LAYOUTS: attention as q, k, v, proj pairs, the course CNN by role).

What it cannot see: code inside a check's body (it takes the submission, not the inputs), and a callable whose
arguments are in no form named here. The identical-line scan (tests/test_student_kit.py) and @oracle (whose body
the kit cuts) cover those; test_planted_oracles_are_found shows that a copy of the reference, or an answer written
differently in a judge's layout, in a shipped module is found.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

# heavy as a whole: its tests share the kit and the reference's outputs (module-scoped), so they start first together
pytestmark = pytest.mark.heavy

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve()
DRAWS = 3  # every draw must match: different sizes each time make a coincidence unlikely
CALL_SEED = 1234  # torch, random and numpy are seeded with it before every call, the reference's and the candidates'
CALL_LIMIT = 1.0  # seconds per call: the reference takes milliseconds on these inputs
BUDGET = 3.0  # seconds per candidate in all: a slow one (a plot, a whitening of every image) is then left, and named
SHIPPED = ("autograder", "kit", "data_scripts")
CANDIDATE_LIMIT = 30  # seconds a candidate's child may take in all, on every case: BUDGET, then its last calls
# the probe disables these for the candidates (in its children), not for itself
EXIT, FORK, KILL, WAITPID = os._exit, os.fork, os.kill, os.waitpid


# ---------------------------------------------------------------- what a student writes
def student_stubs() -> list[tuple[str, str, str]]:
    """(assignment, module, name) of every module-level function or class of solutions/ holding a solution
    region: what the released stubs ask for."""
    import ast

    found = []
    for path in sorted((ROOT / "solutions").glob("*/*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                if "### BEGIN SOLUTION" in body:
                    found.append((path.parent.name, path.stem, node.name))
    return found


# ---------------------------------------------------------------- inputs that fit each stub
class Draw:
    """Random sizes and tensors of one draw (seeded by the stub and the draw's number)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.gen = torch.Generator().manual_seed(seed)

    def int(self, lo, hi):
        return self.rng.randint(lo, hi)

    def choice(self, options):
        return self.rng.choice(list(options))

    def randn(self, *shape, scale=1.0, dtype=torch.float32):
        return (torch.randn(*shape, generator=self.gen, dtype=torch.float64) * scale).to(dtype)

    def onehot(self, n, k):
        return torch.nn.functional.one_hot(torch.randint(0, k, (n,), generator=self.gen), k).float()


def _mlp_params(d, nx, nh, ny, grad=False):
    p = {"Wh": d.randn(nh, nx, scale=0.5), "bh": d.randn(nh, scale=0.5), "Wy": d.randn(ny, nh, scale=0.5)}
    p["by"] = d.randn(ny, scale=0.5)
    return {k: v.requires_grad_(grad) for k, v in p.items()}


def _a1_sizes(d):
    return d.int(3, 8), d.int(2, 6), d.int(3, 7), d.int(2, 5)  # N, nx, nh, ny


def _a1_forward(d, ref):
    N, nx, nh, ny = _a1_sizes(d)
    params, X = _mlp_params(d, nx, nh, ny), d.randn(N, nx)
    return {"args": (params, X)}


def _a1_backward(d, ref):
    N, nx, nh, ny = _a1_sizes(d)
    params, X, Y = _mlp_params(d, nx, nh, ny), d.randn(N, nx), d.onehot(N, ny)
    outputs = ref["mlp"].forward(params, X)[1]
    return {"args": (params, outputs, Y), "alt": [(params, X, Y)]}


def _a1_sgd_autograd(d, ref):
    N, nx, nh, ny = _a1_sizes(d)
    params = _mlp_params(d, nx, nh, ny, grad=True)
    return {"args": (params, d.rng.uniform(0.01, 1)), "grads": [d.randn(*p.shape) for p in params.values()]}


def _a1_sgd_nn(d, ref):
    nx, nh, ny = _a1_sizes(d)[1:]
    torch.manual_seed(d.int(0, 10**6))
    model = torch.nn.Sequential(torch.nn.Linear(nx, nh), torch.nn.Tanh(), torch.nn.Linear(nh, ny))
    return {"args": (model, d.rng.uniform(0.01, 1)), "grads": [d.randn(*p.shape) for p in model.parameters()]}


def _a1_svm_accuracies(d, ref):
    import numpy as np

    def points(n):
        X = d.randn(n, 2).numpy().astype(np.float64)
        return X, (X[:, 0] * X[:, 1] + 0.3 * d.randn(n).numpy() > 0).astype(np.int64)

    (Xtrain, ytrain), (Xtest, ytest) = points(d.int(30, 50)), points(20)
    kernels, C_values = ("linear", d.choice(("rbf", "poly"))), (d.choice((0.3, 1.0)), d.choice((3.0, 10.0)))
    return {"args": (Xtrain, ytrain, Xtest, ytest, kernels, C_values)}


def _a2_layer_table(d, ref):
    nn = torch.nn
    c, k, h, w = d.int(1, 3), d.choice((3, 5)), d.int(8, 14), d.int(8, 14)
    out = d.int(2, 6)
    model = nn.Sequential(nn.Conv2d(c, out, k), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    flat = out * ((h - k + 1) // 2) * ((w - k + 1) // 2)
    model.append(nn.Linear(flat, d.int(2, 9)))
    return {"args": (model, (c, h, w))}


def _a2_conv_output_size(d, ref):
    kernel, padding, stride = d.int(1, 7), d.int(0, 3), d.int(1, 3)
    size = d.int(max(kernel, 9), 64)
    return {"args": (size, kernel, padding, stride)}


def _a2_epoch(d, ref):
    torch.manual_seed(d.int(0, 10**6))
    n_classes, c, side = d.int(10, 12), d.int(1, 3), d.int(4, 6)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(c * side * side, n_classes))
    data = [(d.randn(b, c, side, side), torch.randint(0, n_classes, (b,), generator=d.gen)) for b in (5, 3, 4)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1) if d.int(0, 1) else None
    return {"args": (data, model, torch.nn.CrossEntropyLoss(), optimizer)}


def _images(d):
    return d.randn(d.int(3, 6), d.int(1, 3), d.int(4, 9), d.int(4, 9), scale=2.0) + 0.5


def _a2_standardize(d, ref):
    X = _images(d)
    C = X.shape[1]
    return {"args": (X, d.randn(C), d.randn(C).abs() + 0.5)}


def _a3_attention(d, ref):
    B, H, N, D, Dv = d.int(1, 3), d.int(1, 3), d.int(2, 6), d.int(2, 5), d.int(2, 5)
    return {"args": (d.randn(B, H, N, D), d.randn(B, H, N, D), d.randn(B, H, N, Dv))}


def _a3_vit(d, ref):
    patch = d.choice((4, 7))
    init = (8, d.int(1, 2), patch, 2, 2, d.int(3, 10), 28, 1, d.choice(("sinusoidal", "learned")))
    return {"init": init, "x": d.randn(2, 1, 28, 28)}


def _a4_problem(d):
    H, W = d.int(5, 9), d.int(5, 9)
    params = {
        "a": torch.tensor(d.rng.uniform(0.5, 2), dtype=torch.float64),
        "mu": torch.tensor([d.rng.uniform(1, H - 2), d.rng.uniform(1, W - 2)], dtype=torch.float64),
        "sigma": torch.tensor([d.rng.uniform(1.5, 3), d.rng.uniform(1.5, 3)], dtype=torch.float64),
    }
    return H, W, params, d.randn(H, W, dtype=torch.float64).abs()


def _a4_with_grid(d, ref):
    H, W, params, image = _a4_problem(d)
    return params, ref["gaussian_fit"].pixel_grid(H, W), image, H, W


def _a4_gaussian_image(d, ref):
    params, grid, _, H, W = _a4_with_grid(d, ref)
    return {"args": (params, grid), "alt": [(params, H, W)]}


def _a4_forward(d, ref):
    params, grid, image, H, W = _a4_with_grid(d, ref)
    return {"args": (params, grid, image), "alt": [(params, image)]}


def _a4_backward(d, ref):
    params, grid, image, H, W = _a4_with_grid(d, ref)
    outputs = ref["gaussian_fit"].forward(params, grid, image)[1]
    return {"args": (params, outputs), "alt": [(params, image), (params, grid, image)]}


def _a4_fit(reparametrized):
    def inputs(d, ref):
        H, W, params, _ = _a4_problem(d)
        image = ref["gaussian_fit"].gaussian_image(params, ref["gaussian_fit"].pixel_grid(H, W))
        image = image + 0.05 * d.randn(H, W, dtype=torch.float64)
        init = {"a": params["a"] * 0.8, "mu": params["mu"] + 0.5, "sigma": params["sigma"] * 1.2}
        lr = {"a": 0.01, "mu": 0.01, ("s" if reparametrized else "sigma"): 0.01}
        args = (image, init, lr, d.int(3, 6))
        return {"args": args, "alt": [(*args, True)] if reparametrized else []}

    return inputs


def _tokens(d, C):
    return d.randn(d.int(1, 3), d.int(2, 6), C)


INPUTS = {
    # a1: a two-layer perceptron by hand, then with torch.autograd, torch.nn and torch.optim
    ("a1_intro_nn", "init_params"): lambda d, ref: {"args": _a1_sizes(d)[1:]},
    ("a1_intro_nn", "softmax"): lambda d, ref: {"args": (d.randn(d.int(3, 8), d.int(2, 6), scale=4.0),)},
    ("a1_intro_nn", "forward"): _a1_forward,
    ("a1_intro_nn", "loss_accuracy"): lambda d, ref: (
        lambda N, ny: {"args": (d.randn(N, ny, scale=2.0).softmax(1), d.onehot(N, ny))}
    )(d.int(3, 9), d.int(2, 5)),
    ("a1_intro_nn", "backward"): _a1_backward,
    ("a1_intro_nn", "sgd"): lambda d, ref: (
        lambda p: {"args": (p, {k: d.randn(*v.shape) for k, v in p.items()}, d.rng.uniform(0.01, 1))}
    )(_mlp_params(d, *_a1_sizes(d)[1:])),
    ("a1_intro_nn", "init_params_autograd"): lambda d, ref: {"args": _a1_sizes(d)[1:]},
    ("a1_intro_nn", "sgd_autograd"): _a1_sgd_autograd,
    ("a1_intro_nn", "init_model_nn"): lambda d, ref: {"args": _a1_sizes(d)[1:]},
    # L alone is the value of the loss module it is given: the answer is (L, acc) together ("whole")
    ("a1_intro_nn", "loss_accuracy_nn"): lambda d, ref: (
        lambda N, ny: {"args": (torch.nn.CrossEntropyLoss(), d.randn(N, ny, scale=2.0), d.onehot(N, ny)), "whole": 1}
    )(d.int(3, 9), d.int(2, 5)),
    ("a1_intro_nn", "sgd_nn"): _a1_sgd_nn,
    ("a1_intro_nn", "init_model_optim"): lambda d, ref: {"args": (*_a1_sizes(d)[1:], d.rng.uniform(0.01, 1))},
    ("a1_intro_nn", "make_mnist_mlp"): lambda d, ref: {"args": (d.int(4, 16),)},
    ("a1_intro_nn", "svm_accuracies"): _a1_svm_accuracies,
    # a2: the course CNN, layer arithmetic, the training loop and its improvements
    ("a2_cnn", "CourseCNN"): lambda d, ref: {
        "init": (d.choice((False, True)), d.choice((0.0, 0.3))),
        "x": d.randn(2, 3, 32, 32),
    },
    ("a2_cnn", "layer_table"): _a2_layer_table,
    ("a2_cnn", "fully_convolutional_output_shape"): lambda d, ref: {"args": (d.int(32, 200), d.int(32, 200))},
    ("a2_cnn", "bag_of_words_svm_param_count"): lambda d, ref: {"args": (d.int(50, 5000), d.int(2, 200))},
    ("a2_cnn", "conv_output_size"): _a2_conv_output_size,
    ("a2_cnn", "conv_weight_count"): lambda d, ref: {
        "args": (d.int(1, 64), d.int(1, 64), d.int(1, 7), d.int(1, 7), d.choice((True, False)))
    },
    ("a2_cnn", "fully_connected_weight_count"): lambda d, ref: {
        "args": (tuple(d.int(1, 40) for _ in range(3)), tuple(d.int(1, 40) for _ in range(3)), d.choice((True, False)))
    },
    ("a2_cnn", "same_size_settings"): lambda d, ref: {"args": (d.choice((3, 5, 7, 9, 11)),)},
    ("a2_cnn", "halving_pool_settings"): lambda d, ref: {"args": (d.int(2, 7),)},
    ("a2_cnn", "receptive_field"): lambda d, ref: {"args": ([(d.int(1, 7), d.int(1, 3)) for _ in range(d.int(2, 5))],)},
    ("a2_cnn", "epoch"): _a2_epoch,
    ("a2_cnn", "channel_stats"): lambda d, ref: {"args": (_images(d),)},
    ("a2_cnn", "standardize"): _a2_standardize,
    ("a2_cnn", "random_crop_flip"): lambda d, ref: {"args": (_images(d), d.int(1, 4))},
    # a3: attention, the transformer block, the vision transformer
    ("a3_transformers", "attention"): _a3_attention,
    ("a3_transformers", "SelfAttention"): lambda d, ref: (lambda C: {"init": (C,), "x": _tokens(d, C)})(d.int(4, 12)),
    ("a3_transformers", "MultiHeadsSelfAttention"): lambda d, ref: (
        lambda H, D: {"init": (H * D, H), "x": _tokens(d, H * D)}
    )(d.int(1, 3), d.int(2, 4)),
    ("a3_transformers", "PatchEmbed"): lambda d, ref: (
        lambda c, p, C: {"init": (c, p, C), "x": d.randn(2, c, p * d.int(1, 3), p * d.int(1, 3))}
    )(d.int(1, 3), d.int(2, 4), d.int(4, 10)),
    ("a3_transformers", "MLP"): lambda d, ref: (lambda C: {"init": (C, d.int(4, 16)), "x": _tokens(d, C)})(
        d.int(4, 12)
    ),
    ("a3_transformers", "Block"): lambda d, ref: (
        lambda H, D: {"init": (H * D, H, d.int(1, 4)), "x": _tokens(d, H * D)}
    )(d.int(1, 3), d.int(2, 4)),
    ("a3_transformers", "get_positional_embeddings"): lambda d, ref: {"args": (d.int(3, 20), 2 * d.int(2, 8))},
    ("a3_transformers", "ViT"): _a3_vit,
    # a4: a Gaussian fitted by hand-derived backprop
    ("a4_gaussian_fit", "pixel_grid"): lambda d, ref: {"args": (d.int(3, 12), d.int(3, 12))},
    ("a4_gaussian_fit", "gaussian_image"): _a4_gaussian_image,
    ("a4_gaussian_fit", "loss"): lambda d, ref: (lambda H, W: {"args": (d.randn(H, W), d.randn(H, W))})(
        d.int(3, 9), d.int(3, 9)
    ),
    ("a4_gaussian_fit", "forward"): _a4_forward,
    ("a4_gaussian_fit", "backward"): _a4_backward,
    ("a4_gaussian_fit", "backward_Sigma"): _a4_backward,
    ("a4_gaussian_fit", "fit_manual"): _a4_fit(False),
    ("a4_gaussian_fit", "fit_autograd"): _a4_fit(False),
    ("a4_gaussian_fit", "fit_reparametrized"): _a4_fit(True),
}


# A module's weights as a judge may hold them (its canonical layout: a check draws them so and sets them into the
# student's module), with the input and the heads: {stub: (state, init, x) -> [arguments]}, tried like a function's.
def _roles(S, prefix=""):
    """q, k, v and proj as (weight, bias), from fused (qkv) or separate projections."""
    if prefix + "qkv.weight" in S:
        w, b = S[prefix + "qkv.weight"].chunk(3), S[prefix + "qkv.bias"].chunk(3)
        roles = {r: (w[i], b[i]) for i, r in enumerate("qkv")}
    else:
        roles = {r: (S[f"{prefix}{r}.weight"], S[f"{prefix}{r}.bias"]) for r in "qkv"}
    return {**roles, "proj": (S[prefix + "proj.weight"], S[prefix + "proj.bias"])}


def _linears(S, names, prefix=""):
    return {n: (S[f"{prefix}{n}.weight"], S[f"{prefix}{n}.bias"]) for n in names}


def _block_layouts(S):
    norms = {n: (S[f"{n}.weight"], S[f"{n}.bias"]) for n in ("norm1", "norm2")}
    mlp = _linears(S, ("fc1", "fc2"), "mlp.")
    attn = _roles(S, "attn.")
    return [
        {**norms, "attn": attn, "mlp": mlp},
        {**{n: (*p, 1e-5) for n, p in norms.items()}, "attn": attn, "mlp": list(mlp.values())},
    ]


def _course_roles(S):
    """The course CNN's weights by role, {"conv1.weight": ..., "fc2.bias": ...}: its convolutions and linear
    layers in order (a batch norm's fresh statistics leave the output all but unchanged)."""
    layers = [k.removesuffix(".weight") for k, v in S.items() if k.endswith(".weight") and v.dim() in (2, 4)]
    roles = ("conv1", "conv2", "conv3", "fc1", "fc2")
    return {f"{r}.{kind}": S[f"{name}.{kind}"] for r, name in zip(roles, layers) for kind in ("weight", "bias")}


LAYOUTS = {
    ("a2_cnn", "CourseCNN"): lambda S, init, x: [(_course_roles(S), x), (x, _course_roles(S))],
    ("a3_transformers", "SelfAttention"): lambda S, init, x: [(x, _roles(S), 1)],
    ("a3_transformers", "MultiHeadsSelfAttention"): lambda S, init, x: [(x, _roles(S), init[1])],
    ("a3_transformers", "MLP"): lambda S, init, x: (
        lambda M: [(x, M), (x, list(M.values())), (x, *[t for p in M.values() for t in p])]
    )(_linears(S, ("fc1", "fc2"))),
    ("a3_transformers", "Block"): lambda S, init, x: [(x, P, init[1]) for P in _block_layouts(S)],
}

# Stubs whose answer is a choice of library objects, not a computation a shipped callable could hold.
SKIP = {
    ("a1_intro_nn", "make_optimizer"): "returns a torch.optim optimizer: its class and settings are the answer",
    ("a1_intro_nn", "make_svm"): "returns an unfitted sklearn SVC: its settings are the answer",
    ("a2_cnn", "make_transforms"): "returns two functions built from standardize and random_crop_flip (fed above)",
    ("a2_cnn", "make_scheduler"): "returns a torch learning-rate scheduler: its class and settings are the answer",
}


# ---------------------------------------------------------------- outputs as plain data, and what counts as a match
OPAQUE = "<opaque>"  # an object with no numbers of its own (an optimizer, a function): never matches
STATE = "<module weights>"  # a returned nn.Module is compared by its weights


def plain(x, depth=0):
    """x as tensors (float64), numbers, strings, None, lists and dicts; a module as {STATE: its weights}."""
    import numpy as np

    if depth > 6:
        return OPAQUE
    if isinstance(x, torch.Tensor):
        return OPAQUE if x.is_complex() else x.detach().to("cpu", torch.float64)
    if isinstance(x, torch.nn.Module):
        return {STATE: [plain(t, depth + 1) for t in x.state_dict().values()]}
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.astype(np.float64)) if x.dtype.kind in "biuf" else OPAQUE
    if isinstance(x, np.generic):
        return x.item() if x.dtype.kind in "biuf" else OPAQUE
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, (list, tuple)) and len(x) <= 1000:
        return [plain(v, depth + 1) for v in x]
    if isinstance(x, dict) and len(x) <= 1000:
        return {str(k): plain(v, depth + 1) for k, v in x.items()}
    return OPAQUE


def same(a, b) -> bool:
    """The same plain values: equal structure, strings and integers, numbers to float rounding, tensors with the same
    values in the same order (any shape)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if isinstance(a, (int, float)) and not isinstance(a, bool):
            a = torch.tensor(float(a), dtype=torch.float64)
        if isinstance(b, (int, float)) and not isinstance(b, bool):
            b = torch.tensor(float(b), dtype=torch.float64)
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.numel() != b.numel():
            return False
        a, b = a.reshape(-1), b.reshape(-1)
        return bool(torch.isfinite(a).all()) and bool(torch.allclose(a, b, rtol=1e-4, atol=1e-6))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if a == OPAQUE or b == OPAQUE:
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def leaves(p):
    """The tensors and module weights of a plain value."""
    if isinstance(p, torch.Tensor):
        yield p
    elif isinstance(p, dict) and STATE in p:
        yield p
    elif isinstance(p, dict):
        for v in p.values():
            yield from leaves(v)
    elif isinstance(p, list):
        for v in p:
            yield from leaves(v)


def _telling(leaf) -> bool:
    """A leaf that only the computation could give: finite, not constant, not an exact small integer."""
    if isinstance(leaf, dict):
        return any(_telling(t) for t in leaf[STATE])
    if leaf.numel() == 0 or not bool(torch.isfinite(leaf).all()):
        return False
    if leaf.numel() == 1:
        return float(leaf) != round(float(leaf))
    return bool((leaf != leaf.reshape(-1)[0]).any())


def expected(ret, observed, inputs) -> dict:
    """What a candidate must reproduce from the reference's call: its return value (unless it is nothing or one of
    the inputs) and the telling leaves of its return value and arguments after the call that are not inputs."""
    given = [leaf for x in inputs for leaf in leaves(x)]
    whole = ret is not None and not _has_opaque(ret) and not any(same(ret, x) for x in inputs)
    return {
        "ret": ret if whole else None,
        "leaves": [leaf for leaf in leaves(observed) if _telling(leaf) and not any(same(leaf, g) for g in given)],
    }


def _has_opaque(p) -> bool:
    if isinstance(p, dict):
        return any(_has_opaque(v) for v in p.values())
    if isinstance(p, list):
        return any(_has_opaque(v) for v in p)
    return p == OPAQUE if isinstance(p, str) else False


def matches(want: dict, ret, observed) -> bool:
    if want["ret"] is not None and same(ret, want["ret"]):
        return True
    mine = list(leaves(observed))
    return any(same(m, w) for w in want["leaves"] for m in mine)


# ---------------------------------------------------------------- calls: fresh inputs, seeded, timed
class _OutOfTime(BaseException):
    """Raised by the timer inside a candidate: a BaseException, so that a candidate's `except Exception` lets it
    through."""


def _on_alarm(signum, frame):
    raise _OutOfTime


def _grad_holders(x):
    """The tensors of x that require grad, in order (nn.Module parameters included): where `grads` go."""
    if isinstance(x, torch.Tensor):
        return [x] if x.requires_grad else []
    if isinstance(x, torch.nn.Module):
        return list(x.parameters())
    if isinstance(x, dict):
        return [t for v in x.values() for t in _grad_holders(v)]
    if isinstance(x, (list, tuple)):
        return [t for v in x for t in _grad_holders(v)]
    return []


def fresh(args, grads=None):
    """A copy of the inputs for one call (calls may change them in place), with their .grad set (torch.save and
    deepcopy keep no gradients)."""
    args = copy.deepcopy(args)
    for t, g in zip(_grad_holders(args), grads or []):
        t.grad = g.clone()
    return args


def _seed():
    import numpy as np

    torch.manual_seed(CALL_SEED)
    random.seed(CALL_SEED)
    np.random.seed(CALL_SEED)


def timed(fn, args=(), limit=CALL_LIMIT):
    """(True, value) of fn(*args) run seeded within `limit` seconds, or (False, the exception)."""
    import contextlib
    import io
    import warnings

    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _seed()
            return True, fn(*args)
    except BaseException as err:  # whatever a candidate does is not a match
        return False, err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_module(build, init, state, x):
    """build(*init) (a module class, or a function returning a module) built seeded, given `state` (by order where
    the shapes agree, else by name), evaluated on x."""
    model = build(*init)
    if not isinstance(model, torch.nn.Module):
        return None
    mine = model.state_dict()
    if [tuple(t.shape) for t in mine.values()] == [tuple(t.shape) for t in state.values()]:
        with torch.no_grad():
            for dst, src in zip(mine.values(), state.values()):
                dst.copy_(src)
    else:
        try:
            model.load_state_dict(state)
        except Exception:
            pass  # the seeded weights stay: a copy of the class built in the same order has the same ones
    model.eval()
    with torch.no_grad():
        return model(x)


def module_forms(case):
    """A module's inputs as a function may take them: its weights (a state dict or a list) and the input x."""
    state, x = case["state"], case["x"]
    weights = list(state.values())
    return [(state, x), (x, state), (weights, x), (x, weights)]


# ---------------------------------------------------------------- phase 1: the reference
def _warm_up() -> None:
    """Import what torch and sklearn import on first use, so that no candidate's first call pays for it."""
    import warnings

    from sklearn.svm import SVC

    model = torch.nn.Linear(2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        optimizer.step()
        torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9).step()
        SVC().fit([[0.0, 0.0], [1.0, 1.0]], [0, 1]).score([[0.0, 0.0]], [0])
        torch.nn.MultiheadAttention(4, 2, batch_first=True)(*[torch.zeros(1, 2, 4)] * 3)


def _reference_modules() -> dict:
    import importlib

    for folder in sorted((ROOT / "solutions").iterdir()):
        if folder.is_dir():
            sys.path.insert(0, str(folder))
    return {stem: importlib.import_module(stem) for _, stem, _ in student_stubs()}


def reference_phase(out: Path) -> None:
    """Draw the inputs of every fed stub and keep the reference's outputs: out = {"cases": [...], "dull": [...]}
    ("dull": stubs whose outputs on a draw hold nothing to compare, which the test reports)."""
    import zlib

    torch.set_num_threads(1)
    _warm_up()
    modules = _reference_modules()
    cases, dull = [], []
    for aid, stem, name in student_stubs():
        if (aid, name) not in INPUTS:
            continue
        target = getattr(modules[stem], name)
        draws = []
        for i in range(DRAWS):
            _seed()
            case = INPUTS[aid, name](Draw(zlib.crc32(f"{aid}/{name}/{i}".encode())), modules)
            if isinstance(target, type):
                _seed()
                model = target(*case["init"])
                case["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if (aid, name) in LAYOUTS:
                    case["alt"] = LAYOUTS[aid, name](case["state"], case["init"], case["x"])
                ok, ret = timed(run_module, (target, case["init"], case["state"], case["x"]), limit=60)
                inputs = [plain(case["x"]), plain(case["state"])]
                observed = plain(ret)
            else:
                args = fresh(case["args"], case.get("grads"))
                ok, ret = timed(target, args, limit=60)
                inputs = [plain(a) for form in [case["args"], *case.get("alt", [])] for a in form]
                observed = plain([ret, list(args)])
            if not ok:
                raise RuntimeError(f"the reference {aid}/{name} raised on its leak-test inputs: {ret!r}")
            case["want"] = expected(plain(ret), observed, inputs)
            if case.get("whole"):  # only the return value as a whole is the answer
                case["want"]["leaves"] = []
            if case["want"]["ret"] is None and not case["want"]["leaves"]:
                dull.append(f"{aid}/{name}")
            draws.append(case)
        cases.append({"stub": f"{aid}/{name}", "module": isinstance(target, type), "draws": draws})
    torch.save({"cases": cases, "dull": sorted(set(dull))}, out)


# ---------------------------------------------------------------- phase 2: the probe, in a copy of the kit
DISABLED = {
    "os": ("kill", "killpg", "_exit", "fork", "forkpty", "system", "execv", "execve", "execvp", "execvpe", "setsid"),
    "subprocess": ("Popen", "run", "call", "check_call", "check_output"),
    "socket": ("socket", "create_connection", "socketpair"),
    "shutil": ("rmtree",),
}


def _disable_side_effects() -> None:
    """Candidates get random arguments: none may kill, start or reach anything (an int taken for a pid)."""
    import builtins
    import importlib

    def refused(*args, **kwargs):
        raise PermissionError("disabled by the leak test")

    for module, names in DISABLED.items():
        mod = importlib.import_module(module)
        for name in names:
            if hasattr(mod, name):
                setattr(mod, name, refused)
    builtins.input = refused


def _isolate(kit: Path) -> None:
    """The kit's packages, never the instructor's: the kit first on sys.path, the editable install's finder gone."""
    sys.path[:] = [str(kit)] + [p for p in sys.path if Path(p or ".").resolve() not in (ROOT, THIS.parent)]
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]


def shipped_modules(kit: Path) -> list[str]:
    names = []
    for package in SHIPPED:
        for path in sorted((kit / package).rglob("*.py")):
            if path.name != "__main__.py" and "__pycache__" not in path.parts:
                names.append(".".join(path.relative_to(kit).with_suffix("").parts))
    return names


def _candidates(modules) -> list[tuple[str, object]]:
    """(where, callable) for every callable a module defines at its top level (not those it imports)."""
    seen, found = set(), []
    for mod in modules:
        for name, value in list(vars(mod).items()):
            if callable(value) and getattr(value, "__module__", None) == mod.__name__ and id(value) not in seen:
                seen.add(id(value))
                found.append((f"{mod.__name__}:{name}", value))
    return found


def _fits(fn, args) -> bool:
    try:
        inspect.signature(fn).bind(*args)
        return True
    except TypeError:
        return False
    except ValueError:
        return True  # no signature to read (a builtin): try it


def _reset(kit: Path, api) -> None:
    """Undo what a candidate may have changed of the process's state."""
    os.chdir(kit)
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)
    if api is not None:
        api.set_face("instructor")
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def probe_phase(cases_file: Path, out: Path, only: list[str], extra: list[str]) -> None:
    """Call every shipped callable (the modules `only`, all when empty; plus every module of the `extra` folders)
    on every case, each candidate in a child process of its own; out = {"findings": [(stub, candidate, form)],
    "candidates": n, "calls": n, "left": {candidate: the stubs it was not tried on, its time spent}, "ended":
    {candidate: why its child gave no answer}}."""
    import importlib

    kit = Path.cwd().resolve()
    _isolate(kit)
    torch.set_num_threads(1)
    modules = [importlib.import_module(n) for n in only or shipped_modules(kit)]
    for folder in extra:
        sys.path.append(folder)
        modules += [importlib.import_module(p.stem) for p in sorted(Path(folder).glob("*.py"))]
    for mod in modules:
        file = Path(getattr(mod, "__file__", "") or "").resolve()
        if mod.__name__.split(".")[0] in SHIPPED and not file.is_relative_to(kit):
            raise RuntimeError(f"{mod.__name__} was imported from {file}, not from the kit at {kit}")
    api = sys.modules.get("autograder.api")
    cases = torch.load(cases_file, weights_only=False)["cases"]
    candidates = _candidates(modules)
    _warm_up()
    results, ended = _run_in_children(candidates, lambda fn: _probe_one(fn, cases, kit, api))
    findings, left, calls = [], {}, 0
    for where, got in results.items():
        findings += [(stub, where, form) for stub, form in got["findings"]]
        calls += got["calls"]
        if got["left"]:
            left[where] = got["left"]
    report = {"findings": findings, "candidates": len(candidates), "calls": calls, "left": left, "ended": ended}
    torch.save(report, out)


def _probe_one(fn, cases, kit: Path, api) -> dict:
    """In a child of the probe: one candidate on every case, within BUDGET seconds in all (the cases left are
    named)."""
    _disable_side_effects()
    findings, left, calls, spent = [], [], 0, 0.0
    for entry in cases:
        if spent > BUDGET:
            left.append(entry["stub"])
            continue
        for form, form_of in _forms(entry, fn):
            for case in entry["draws"]:
                calls += 1
                start = time.perf_counter()
                hit = _hit(form_of(case), case["want"])
                _reset(kit, api)
                spent += time.perf_counter() - start
                if not hit:
                    break
            else:
                findings.append((entry["stub"], form))
                break
    return {"findings": findings, "left": left, "calls": calls}


def _run_in_children(candidates, job) -> tuple[dict, dict]:
    """({where: job(fn)}, {where: why it gave nothing}) for the (where, fn) candidates, run in forked children: one
    per shipped module, and a new one after a candidate that ends its child or overruns CANDIDATE_LIMIT. A candidate
    may change its process for good (resource limits, audit hooks, closed or redirected descriptors): the probe's
    own process never runs one, and another module's candidates never meet what it left."""
    groups = {}
    for where, fn in candidates:
        groups.setdefault(where.split(":")[0], []).append((where, fn))
    results, ended = {}, {}
    for group in groups.values():
        while group:
            group = group[_child(group, job, results, ended) :]
    return results, ended


def _send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _child(todo, job, results: dict, ended: dict) -> int:
    """Run job on the candidates of `todo` in order in one forked child, until one ends it; returns how many were
    answered or ended."""
    import pickle
    import select
    import struct

    r, w = os.pipe()
    pid = FORK()
    if pid == 0:
        os.close(r)
        try:
            _disable_side_effects()
            for i, (_, fn) in enumerate(todo):
                _send(w, struct.pack("<q", -i - 1))  # started the i-th
                data = pickle.dumps(job(fn))
                _send(w, struct.pack("<q", len(data)) + data)
        finally:
            EXIT(0)
    os.close(w)
    buffer, started, answered = b"", None, 0

    def read(n: int, deadline: float) -> bytes | None:
        nonlocal buffer
        while len(buffer) < n:
            if not select.select([r], [], [], max(0.0, deadline - time.monotonic()))[0]:
                return None
            chunk = os.read(r, 1 << 16)
            if not chunk:
                return None
            buffer += chunk
        got, buffer = buffer[:n], buffer[n:]
        return got

    deadline = time.monotonic() + CANDIDATE_LIMIT
    while answered < len(todo):
        head = read(8, deadline)
        if head is None:
            break
        (size,) = struct.unpack("<q", head)
        if size < 0:
            started, deadline = -size - 1, time.monotonic() + CANDIDATE_LIMIT
            continue
        body = read(size, deadline)
        if body is None:
            break
        results[todo[started][0]] = pickle.loads(body)
        started, answered = None, answered + 1
    os.close(r)
    with contextlib.suppress(ProcessLookupError):
        KILL(pid, signal.SIGKILL)
    WAITPID(pid, 0)
    if answered < len(todo):
        why = "took longer than CANDIDATE_LIMIT" if time.monotonic() >= deadline else "ended its process"
        ended[todo[answered][0]] = why
        answered += 1
    return answered


def _forms(entry, fn):
    """(form's name, case -> (function, arguments)) for each way `fn` can take the case's inputs: a module class (or
    a function returning a module) is built and given the reference's weights; a function takes the arguments (or
    another form of them)."""
    first = entry["draws"][0]
    if entry["module"]:
        if _fits(fn, first["init"]):
            yield "built from the arguments", lambda c: (run_module, (fn, *fresh((c["init"], c["state"], c["x"]))))
        if isinstance(fn, type):
            return
        for i, args in enumerate(module_forms(first)):
            if _fits(fn, args):
                yield f"weights and input, form {i}", lambda c, i=i: (fn, fresh(module_forms(c)[i]))
        for i, args in enumerate(first.get("alt", [])):
            if _fits(fn, args):
                yield f"weights in a judge's layout, form {i}", lambda c, i=i: (fn, fresh(c["alt"][i]))
        return
    for i, args in enumerate([first["args"], *first.get("alt", [])]):
        if _fits(fn, args):
            name = "its arguments" if i == 0 else f"other form {i}"
            yield name, lambda c, i=i: (fn, fresh(c["args"], c.get("grads")) if i == 0 else fresh(c["alt"][i - 1]))


def _hit(call, want) -> bool:
    """Whether function(*arguments) reproduces `want` on this draw."""
    fn, args = call
    ok, ret = timed(fn, args)
    if not ok:
        return False
    ok, observed = timed(plain, ([ret, list(args)],))
    return ok and matches(want, observed[0], observed)


# ---------------------------------------------------------------- the two phases from the test
def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "DATA_MIRROR")}
    proxy = "http://127.0.0.1:9"  # nothing listens there: a candidate that reaches for the network fails at once
    env.update(HOME=str(home), DATA_DIR=str(home / "data"), MPLBACKEND="Agg", KIT_NO_PROGRESS="1", OMP_NUM_THREADS="1")
    env.update(HTTP_PROXY=proxy, HTTPS_PROXY=proxy, http_proxy=proxy, https_proxy=proxy, NO_PROXY="", no_proxy="")
    return env


def _phase(cwd: Path, work: Path, out: Path, *args, timeout=600):
    """Run this file as a script with `args` (a phase and its arguments) in `cwd`; it must write `out`."""
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(THIS), *map(str, args)],
        cwd=cwd,
        env=_env(work),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0 and out.is_file(), (
        f"the {args[0]} phase failed (exit status {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    )


def scan(kit: Path, cases: Path, work: Path, only=(), extra=()) -> dict:
    """Run the probe in `kit` on the reference's `cases`; returns its report."""
    out = work / "findings.pt"
    _phase(kit, work, out, "probe", cases, out, ",".join(only), *extra)
    return torch.load(out, weights_only=False)


def by_stub(findings) -> str:
    lines = {}
    for stub, where, form in findings:
        lines.setdefault(stub, []).append(f"{where} ({form})")
    return "\n".join(f"  {stub}: {', '.join(found)}" for stub, found in sorted(lines.items()))


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    from autograder.platforms.student_kit import build

    return build(tmp_path_factory.mktemp("leaks") / "student-kit", make_zip=False)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    work = tmp_path_factory.mktemp("leak-reference")
    _phase(ROOT, work, work / "cases.pt", "reference", work / "cases.pt")
    return work / "cases.pt"


@pytest.mark.quick
def test_every_stub_is_fed_or_skipped(cases):
    """The list of stubs comes from solutions/: a new one needs inputs here (or a reason to skip it)."""
    stubs = {(aid, name) for aid, _, name in student_stubs()}
    assert len(stubs) > 40
    assert not stubs - set(INPUTS) - set(SKIP), f"stubs without inputs in tests/test_leaks.py: {stubs - set(INPUTS)}"
    assert not (set(INPUTS) | set(SKIP)) - stubs, f"no such stub: {(set(INPUTS) | set(SKIP)) - stubs}"
    assert not set(INPUTS) & set(SKIP)
    dull = torch.load(cases, weights_only=False)["dull"]
    assert not dull, f"the reference's outputs on these stubs' inputs hold nothing to compare: {dull}"


@pytest.mark.quick
def test_nothing_shipped_computes_a_student_answer(kit, cases, tmp_path):
    """Every callable of the whole kit against every assignment's stubs (another assignment's checks may hold this
    one's answer), in one run: the probe's start and its children are paid once."""
    report = scan(kit, cases, tmp_path / "probe")
    assert report["candidates"] > 300 and report["calls"] > 1000, report
    assert len(report["ended"]) < 5, f"candidates that ended the probe's child: {report['ended']}"
    assert not report["findings"], (
        "the student kit ships callables that reproduce the reference on random inputs (cut them, or make them "
        "@oracle):\n" + by_stub(report["findings"])
    )


# The plants: copies of reference code under other names (_helper_...), appended to shipped modules of a copy of the
# kit: {shipped module: [(reference module, the definitions copied)]}.
PLANTS = {
    "autograder/checks/a1_intro_nn.py": [("a1_intro_nn/mlp.py", ("softmax", "forward"))],
    "autograder/checks/a2_cnn.py": [("a2_cnn/cnn.py", ("CourseCNN",))],
    "autograder/checks/a3_transformers.py": [
        ("a3_transformers/attention.py", ("attention", "MultiHeadsSelfAttention")),
        ("a3_transformers/vit.py", ("MLP", "Block")),
    ],
    "kit/a4.py": [("a4_gaussian_fit/gaussian_fit.py", ("gaussian_image",))],
}
PLANTED = [  # (stub, the plant that answers it)
    ("a1_intro_nn/forward", "autograder.checks.a1_intro_nn:_helper_forward"),
    ("a2_cnn/CourseCNN", "autograder.checks.a2_cnn:_helper_CourseCNN"),
    ("a3_transformers/Block", "autograder.checks.a3_transformers:_helper_Block"),
    ("a4_gaussian_fit/gaussian_image", "kit.a4:_helper_gaussian_image"),
]

# Answers written differently from solutions/ (the identical-line scan misses them), in layouts a judge holds:
# {shipped module: source appended}, and the stubs they answer.
REWRITTEN = {
    "autograder/checks/a1_intro_nn.py": """
def _stable(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)
""",
    "autograder/checks/a3_transformers.py": """
def _heads(x, W, H):
    B, N, C = x.shape
    q, k, v = (torch.nn.functional.linear(x, *W[r]).view(B, N, H, C // H) for r in "qkv")
    a = torch.einsum("bnhd,bmhd->bhnm", q, k).div(math.sqrt(C // H)).softmax(-1)
    return torch.nn.functional.linear(torch.einsum("bhnm,bmhd->bnhd", a, v).reshape(B, N, C), *W["proj"])
""",
    "kit/a4.py": """
def _picture(p, height, width):
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return p["a"] * torch.exp(-((ys - p["mu"][0]) / p["sigma"][0]) ** 2 - ((xs - p["mu"][1]) / p["sigma"][1]) ** 2)
""",
}
PLANTED += [
    ("a1_intro_nn/softmax", "autograder.checks.a1_intro_nn:_stable"),
    ("a3_transformers/MultiHeadsSelfAttention", "autograder.checks.a3_transformers:_heads"),
    ("a4_gaussian_fit/gaussian_image", "kit.a4:_picture"),
]


def plant(kit: Path) -> None:
    import ast

    for target, copies in PLANTS.items():
        names = [n for _, defined in copies for n in defined]
        parts = []
        for reference, defined in copies:
            text = (ROOT / "solutions" / reference).read_text()
            parts += [
                ast.get_source_segment(text, n) for n in ast.parse(text).body if getattr(n, "name", "") in defined
            ]
        source = re.sub(r"\b(" + "|".join(names) + r")\b", r"_helper_\1", "\n\n\n".join(parts))
        source = re.sub(r"\n *### (BEGIN|END) SOLUTION", "", source)
        path = kit / target
        path.write_text(path.read_text() + "\n\nimport math  # planted by tests/test_leaks.py\n\n\n" + source + "\n")
    for target, source in REWRITTEN.items():
        path = kit / target
        path.write_text(path.read_text() + "\n\n" + source)


@pytest.mark.quick
def test_planted_oracles_are_found(kit, cases, tmp_path):
    """Reference code appended under other names to shipped modules is found, and so are answers written
    differently (in a judge's layout of the weights), and each stub's reference itself (its folder added to the
    probe's modules): the inputs and the comparison catch every fed stub."""
    copy_ = tmp_path / "planted-kit"
    shutil.copytree(kit, copy_)
    plant(copy_)
    only = sorted({t.removesuffix(".py").replace("/", ".") for t in [*PLANTS, *REWRITTEN]})
    folders = [str(p) for p in sorted((ROOT / "solutions").iterdir()) if p.is_dir()]
    report = scan(copy_, cases, tmp_path / "probe", only, folders)
    found = {(stub, where) for stub, where, _ in report["findings"]}
    missed = [planted for planted in PLANTED if planted not in found]
    assert not missed, f"planted oracles not found: {missed}\nfound:\n{by_stub(report['findings'])}"
    stems = {(aid, name): stem for aid, stem, name in student_stubs()}
    not_own = [f"{aid}/{name}" for aid, name in INPUTS if (f"{aid}/{name}", f"{stems[aid, name]}:{name}") not in found]
    assert not not_own, f"stubs whose own reference the scan does not recognise: {not_own}"


def main(argv) -> None:
    phase, *rest = argv
    if phase == "reference":
        reference_phase(Path(rest[0]))
    elif phase == "probe":
        cases_file, out, only, *extra = rest
        probe_phase(Path(cases_file).resolve(), Path(out).resolve(), [m for m in only.split(",") if m], extra)
        sys.stdout.flush()
        EXIT(0)  # threads or children a candidate left behind do not keep the probe alive
    else:
        raise SystemExit(f"unknown phase {phase}")


if __name__ == "__main__":
    main(sys.argv[1:])
