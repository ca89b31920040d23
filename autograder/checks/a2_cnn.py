"""Checks of assignment 2 (convolutional networks). Oracles: nn.Conv2d / nn.MaxPool2d shapes, numel(),
gradients of one output unit (receptive fields), the course CNN computed with torch.nn.functional from weights the
judge draws and sets into the student's model, forward hooks, torch.optim.SGD steps, training thresholds.

The student's code runs in the grader's sandbox (`sub`): the checks call it there, get plain data back and
compare in the judge; models, optimizers and generators the student's code uses are built in the sandbox
(`sub.kit`), and kit.a2's "what the grader runs in its sandbox" drivers return predictions and traces.

Every function that computes an expected value is an `@oracle` (autograder/api.py): the student kit ships the
values they gave on the reference, not their code. Their inputs are drawn by the judge from the check's seed
(`_draws`), never taken from what the submission returned."""

import itertools
import math
import random

import torch
import torch.nn.functional as F
from torch import nn

import data_scripts
from autograder.api import (
    CheckFailed,
    NotRecorded,
    SubmissionError,
    accuracy,
    check,
    expect,
    expect_accuracy,
    expect_close,
    expect_finite,
    expect_fraction,
    expect_int,
    expect_number,
    expect_numbers,
    expect_shape,
    oracle,
    percent,
)
from autograder.recompute import agreement_note, in_batches
from autograder.sandbox.client import is_module, is_remote
from autograder.sandbox.drivers.a2 import PROBE_CLASSES, layer_table_test_network, probe_model
from data_scripts import load
from kit.a2 import subset_indices
from kit.loops import EVAL_BATCH_SIZES


def _draws(offset: int = 0) -> torch.Generator:
    """A generator for the check's own draws, seeded from the check's seed (the runner seeds torch with it before
    the check runs: the student kit's checks draw other inputs than the instructor's grader). Explicit generators
    keep the draws the same whatever else ran in the judge."""
    return torch.Generator().manual_seed(torch.initial_seed() + offset)


def _rng(offset: int = 0) -> random.Random:
    """Python's generator for the check's own draws (see _draws)."""
    return random.Random(torch.initial_seed() + offset)


def _type_name(value):
    return value.class_name() if is_remote(value) else type(value).__name__


def _int(value, what):
    return expect_int(value, what)  # a float tensor is refused: int() would round down a wrong true division


def _size(value, what):
    """An output size: an int; a size that is not a whole number (a true division) says it rounds down."""
    number = value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value
    if isinstance(number, float) and math.isfinite(number) and not number.is_integer():
        raise CheckFailed(
            f"{what} gives {number:g}, not a whole number of positions: the division by the stride rounds down (//)"
        )
    return _int(value, what)


def _meta_out_shape(module, in_shape):
    """Output shape of `module` on a (1, C, H, W) input, computed by PyTorch on the meta device (no data)."""
    return tuple(module.to("meta")(torch.empty(1, *in_shape, device="meta")).shape[1:])


# ---------------------------------------------------------------- layer arithmetic
def _conv_cases(rng) -> list:
    """Random (kind, H, W, kernel_h, kernel_w, padding_h, padding_w, stride_h, stride_w) layers, kind "conv" or
    "pool" (a max-pooling, whose padding may not exceed half its kernel)."""
    cases = []
    for case in range(400):
        kh, kw = rng.randint(1, 7), rng.randint(1, 7)
        ph, pw = rng.randint(0, 3), rng.randint(0, 3)
        sh, sw = rng.randint(1, 4), rng.randint(1, 4)
        H, W = rng.randint(kh, 40), rng.randint(kw, 40)
        pool = case % 4 == 3 and ph <= kh // 2 and pw <= kw // 2
        cases.append(("pool" if pool else "conv", H, W, kh, kw, ph, pw, sh, sw))
    return cases


def _layer(kind, kernel, stride, padding):
    if kind == "pool":
        return nn.MaxPool2d(kernel, stride=stride, padding=padding)
    return nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, device="meta")


@oracle
def conv_layer_sizes(cases) -> list:
    """For each case of _conv_cases: {"size": the output (height, width) nn.Conv2d / nn.MaxPool2d give, "one_sided":
    what the same layer gives with its padding on one side only (F.pad on a meta tensor), for the hint}."""
    out = []
    for kind, H, W, kh, kw, ph, pw, sh, sw in cases:
        size = _meta_out_shape(_layer(kind, (kh, kw), (sh, sw), (ph, pw)), (1, H, W))[1:]
        padded = F.pad(torch.empty(1, 1, H, W, device="meta"), (pw, 0, ph, 0))
        one_sided = tuple(_layer(kind, (kh, kw), (sh, sw), 0).to("meta")(padded).shape[2:])
        out.append({"size": tuple(size), "one_sided": one_sided})
    return out


@check(points=2)
def conv_output_size(sub):
    """conv_output_size matches nn.Conv2d and nn.MaxPool2d on hundreds of random (non-square) layers."""
    layers = sub.module("layers")
    cases = _conv_cases(_rng())
    for case, want in zip(cases, conv_layer_sizes(cases)):
        kind, H, W, kh, kw, ph, pw, sh, sw = case
        what = f"nn.{'MaxPool2d' if kind == 'pool' else 'Conv2d'}(kernel_size=({kh}, {kw}), stride=({sh}, {sw}), "
        what += f"padding=({ph}, {pw}))"
        got = (
            _size(layers.conv_output_size(H, kh, ph, sh), f"conv_output_size({H}, {kh}, {ph}, {sh})"),
            _size(layers.conv_output_size(W, kw, pw, sw), f"conv_output_size({W}, {kw}, {pw}, {sw})"),
        )
        if got != want["size"]:
            hint = "; padding is added on both sides" if got == want["one_sided"] else ""
            raise CheckFailed(
                f"on a {H}x{W} input, {what} outputs {want['size'][0]}x{want['size'][1]}, but conv_output_size "
                f"gives {got[0]}x{got[1]}{hint}"
            )


@oracle
def layer_parameter_counts(convs, linears) -> dict:
    """numel() of the parameters of nn.Conv2d(cin, cout, (kh, kw), bias) for each (cin, cout, kh, kw, bias) of
    `convs`, and of the fully-connected layer between the (C, H, W) shapes of each (in_shape, out_shape, bias) of
    `linears` (an nn.Linear on the flattened values), on the meta device."""

    def count(layer):
        return sum(p.numel() for p in layer.parameters())

    return {
        "convs": [count(nn.Conv2d(ci, co, (kh, kw), bias=b, device="meta")) for ci, co, kh, kw, b in convs],
        "linears": [count(nn.Linear(math.prod(a), math.prod(o), bias=b, device="meta")) for a, o, b in linears],
    }


@check(points=2)
def weight_counts(sub):
    """conv_weight_count and fully_connected_weight_count equal numel() of nn.Conv2d and nn.Linear."""
    layers = sub.module("layers")
    rng = _rng()
    convs = [
        (rng.randint(1, 64), rng.randint(1, 64), rng.randint(1, 7), rng.randint(1, 7), bias)
        for _ in range(100)
        for bias in (True, False)
    ]
    shapes = [
        (
            (rng.randint(1, 8), rng.randint(1, 12), rng.randint(1, 12)),
            (rng.randint(1, 8), rng.randint(1, 12), rng.randint(1, 12)),
        )
        for _ in range(50)
    ]
    # the course's first layer too: a convolution shares its weights, a fully-connected layer would not
    linears = [(a, o, bias) for a, o in shapes for bias in (True, False)] + [((3, 32, 32), (32, 32, 32), True)]
    want = layer_parameter_counts(convs, linears)
    for (cin, cout, kh, kw, bias), n in zip(convs, want["convs"]):
        got = _int(layers.conv_weight_count(cin, cout, kh, kw, bias=bias), "conv_weight_count(...)")
        expect(
            got == n,
            f"nn.Conv2d({cin}, {cout}, kernel_size=({kh}, {kw}), bias={bias}) has {n} parameters, "
            f"conv_weight_count gives {got}",
        )
    for (in_shape, out_shape, bias), n in zip(linears, want["linears"]):
        got = _int(
            layers.fully_connected_weight_count(in_shape, out_shape, bias=bias), "fully_connected_weight_count(...)"
        )
        expect(
            got == n,
            f"a fully-connected layer from {in_shape} to {out_shape} (bias={bias}) has {n} parameters (those of an "
            f"nn.Linear on the flattened values); fully_connected_weight_count gives {got}",
        )


@check(points=1)
def same_size_and_halving(sub):
    """same_size_settings keeps the size in nn.Conv2d; halving_pool_settings halves it in nn.MaxPool2d."""
    layers = sub.module("layers")
    for kernel in (1, 3, 5, 7, 9, 11):
        out = layers.same_size_settings(kernel)
        expect(isinstance(out, tuple) and len(out) == 2, "same_size_settings should return (padding, stride)")
        padding, stride = (_int(v, "same_size_settings(...)") for v in out)
        for size in (kernel, 13, 32, 57):
            conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, device="meta")
            got = _meta_out_shape(conv, (1, size, size))[1]
            expect(
                got == size,
                f"with kernel {kernel}, padding {padding} and stride {stride}, nn.Conv2d maps a "
                f"{size}x{size} input to {got}x{got}: the size is not kept",
            )
    for kernel in range(1, 8):
        out = layers.halving_pool_settings(kernel)
        expect(
            isinstance(out, tuple) and len(out) == 2,
            "halving_pool_settings should return (padding, stride), the order of same_size_settings",
        )
        padding, stride = (_int(v, "halving_pool_settings(...)") for v in out)
        sizes = range(max(2, kernel + kernel % 2), 41, 2)
        if not _halves(kernel, padding, stride, sizes) and _halves(kernel, stride, padding, sizes):
            raise CheckFailed(
                f"halving_pool_settings({kernel}) returns {tuple(out)}: these values halve the size "
                f"as (stride, padding), but the function returns (padding, stride), the order of "
                f"same_size_settings and of conv_output_size's arguments: swap them"
            )
        expect(
            0 <= padding <= kernel // 2,
            f"nn.MaxPool2d needs 0 <= padding <= kernel // 2; for kernel {kernel} "
            f"you give padding {padding} (halving_pool_settings returns "
            f"(padding, stride))",
        )
        expect(stride >= 1, f"halving_pool_settings({kernel}) gives stride {stride}; a stride is at least 1")
        for size in sizes:
            pool = nn.MaxPool2d(kernel, stride=stride, padding=padding)
            got = _meta_out_shape(pool, (1, size, size))[1]
            expect(
                got == size // 2,
                f"nn.MaxPool2d({kernel}, stride={stride}, padding={padding}) maps "
                f"{size}x{size} to {got}x{got}, not {size // 2}x{size // 2}",
            )


def _halves(kernel, padding, stride, sizes) -> bool:
    """Whether nn.MaxPool2d(kernel, stride, padding) is valid and halves every size of `sizes`."""
    if not (0 <= padding <= kernel // 2 and stride >= 1):
        return False
    pool = nn.MaxPool2d(kernel, stride=stride, padding=padding)
    return all(_meta_out_shape(pool, (1, n, n))[1] == n // 2 for n in sizes)


@oracle
def receptive_fields(stacks) -> list:
    """For each stack [(kernel, stride), ...]: {"field": the side of the set of input pixels whose gradient is
    non-zero for one output unit, "no_strides": what it would be if the strides spread nothing out (for the hint)}.

    Convolutions and poolings are both convolutions with positive weights here (an average pooling reaches the
    same pixels as a max pooling, but a max pooling would send the gradient to a single pixel of each window).
    """
    out = []
    for stack in stacks:
        size = 16
        while True:
            n = size
            for k, s in stack:
                n = (n - k) // s + 1 if n >= k else 0
            if n >= 1:
                break
            size *= 2
        net = nn.Sequential(*[nn.Conv2d(1, 1, k, stride=s, bias=False) for k, s in stack]).double()
        for conv in net:
            nn.init.constant_(conv.weight, 1.0)
        x = torch.ones(1, 1, size, size, dtype=torch.float64, requires_grad=True)
        net(x)[0, 0, 0, 0].backward()
        touched = x.grad[0, 0] != 0
        rows, cols = int(touched.any(1).sum()), int(touched.any(0).sum())
        assert rows == cols and int(touched.sum()) == rows * cols
        out.append({"field": rows, "no_strides": 1 + sum(k - 1 for k, _ in stack)})
    return out


@oracle
def course_cnn_stack() -> list:
    """The course CNN's convolutions and poolings as [(kernel, stride), ...], first layer first."""
    return [(5, 1), (2, 2)] * 3


@check(points=2)
def receptive_field(sub):
    """receptive_field matches the input pixels reached by the gradient of one output unit, for random stacks."""
    layers = sub.module("layers")
    rng = _rng()
    course = [tuple(layer) for layer in course_cnn_stack()]
    stacks = [course, [(3, 1)], [(3, 1)] * 3, [(2, 2)] * 4]
    # strides no larger than kernels (as in real networks): then the pixels reached form a full square
    stacks += [
        [(k, rng.randint(1, min(k, 3))) for k in (rng.randint(1, 7) for _ in range(rng.randint(1, 5)))]
        for _ in range(60)
    ]
    for stack, want in zip(stacks, receptive_fields(stacks)):
        got = _int(layers.receptive_field([tuple(layer) for layer in stack]), "receptive_field(...)")
        if got != want["field"]:
            hint = (
                "; the strides of the earlier layers spread out each later kernel" if got == want["no_strides"] else ""
            )
            shown = "the course CNN's convolutions and poolings" if stack is course else f"[(kernel, stride)] = {stack}"
            raise CheckFailed(
                f"for the stack {shown}, one output unit sees {want['field']}x{want['field']} "
                f"input pixels (the gradient of that unit is non-zero there), receptive_field gives {got}{hint}"
            )


# ---------------------------------------------------------------- the course CNN
# The course CNN is graded on what it computes, whichever API the forward uses (nn.Conv2d / nn.Linear modules, or
# its own nn.Parameters passed to F.conv2d / F.linear): its parameters are found by their shapes, the judge draws
# the course CNN's weights, sets them into those parameters and compares the forward's logits with the course CNN's
# on the same weights. Forward hooks read modules where there are some; drivers.a2.op_trace (the torch operations the
# forward runs) gives the structural facts and the hints.
# given: a2.architecture (the course gives the architecture: it is the task)
COURSE_CNN_ARCHITECTURE = (
    "5x5 convolutions (32, 64, 64 filters), each followed by a ReLU and a 2x2 max-pooling, each convolution keeping "
    "the spatial size and each pooling halving it, then flatten -> fully-connected 1000 -> ReLU -> fully-connected 10"
)
# what each of the course CNN's weights is, in the course's words (messages name them, not their shapes); the
# course gives these layers on purpose (the architecture table is the task), not their paddings nor feature-map sizes
COURSE_CNN_ROLES = {
    "conv1": "the first convolution (32 filters 5x5 on the 3 colour channels)",
    "conv2": "the second convolution (64 filters 5x5 on 32 channels)",
    "conv3": "the third convolution (64 filters 5x5 on 64 channels)",
    "fc1": "the fully-connected layer of 1000 units on the flattened feature maps",
    "fc2": "the last fully-connected layer (10 logits from 1000 units)",
}
ACTIVATION_OPS = {
    "relu",
    "relu_",
    "sigmoid",
    "sigmoid_",
    "tanh",
    "tanh_",
    "softmax",
    "log_softmax",
    "gelu",
    "elu",
    "elu_",
    "leaky_relu",
    "leaky_relu_",
    "silu",
    "relu6",
    "hardtanh",
    "softplus",
    "selu",
}
POOL_OPS = {"max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool2d"}
STAGE_OPS = {"conv2d", "linear", "batch_norm", "dropout"} | ACTIVATION_OPS | POOL_OPS


def _judge_course_cnn(batch_norm=False, device="meta") -> nn.Sequential:
    """The course CNN as the judge builds it, its layers in the order they run."""
    layers, channels = [], 3
    for out in (32, 64, 64):
        layers.append(nn.Conv2d(channels, out, 5, padding=2, device=device))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out, device=device))
        layers += [nn.ReLU(), nn.MaxPool2d(2, stride=2)]
        channels = out
    layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 1000, device=device), nn.ReLU(), nn.Linear(1000, 10, device=device)]
    return nn.Sequential(*layers)


@oracle
def course_cnn_parameter_count(batch_norm: bool) -> int:
    """numel() of the course CNN's parameters (with batch norm after each convolution, or without)."""
    return sum(p.numel() for p in _judge_course_cnn(batch_norm).parameters())


@oracle
def course_cnn_weight_shapes() -> dict:
    """{"conv1": shape of its weight, ..., "fc2": ...}: the course CNN's convolution and fully-connected weights."""
    net = _judge_course_cnn()
    convs = [tuple(m.weight.shape) for m in net if isinstance(m, nn.Conv2d)]
    linears = [tuple(m.weight.shape) for m in net if isinstance(m, nn.Linear)]
    return dict(zip(COURSE_CNN_ROLES, convs + linears))


@oracle
def _course_cnn_oracle(w, x):
    """The course CNN's logits on the images x, computed with torch.nn.functional from the weights
    {"conv1.weight": ..., "conv1.bias": ..., ..., "fc2.bias": ...} the judge drew."""
    h = x
    for i in (1, 2, 3):
        h = F.max_pool2d(F.relu(F.conv2d(h, w[f"conv{i}.weight"], w[f"conv{i}.bias"], padding=2)), 2, stride=2)
    h = F.relu(F.linear(h.flatten(1), w["fc1.weight"], w["fc1.bias"]))
    return F.linear(h, w["fc2.weight"], w["fc2.bias"])


def _draw_course_weights(shapes: dict, g: torch.Generator) -> dict:
    """Weights of the course CNN drawn by the judge in the canonical layout ({"conv1.weight": ..., "conv1.bias": ...}):
    He-scaled weights, so the logits are of order one and a wrong layer shows well above float rounding."""
    w = {}
    for role, shape in shapes.items():
        fan_in = math.prod(shape[1:])
        w[f"{role}.weight"] = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
        w[f"{role}.bias"] = torch.randn(shape[0], generator=g) * 0.1
    return w


def _layers(model) -> dict:
    """{name: layer} of a sandbox model's structure (name, class, params, buffers, config), in module order."""
    return {layer["name"]: layer for layer in model.structure()["layers"]}


def _n_params(layers) -> int:
    return sum(t.numel() for layer in layers.values() for t in layer["params"].values())


def _qualified(module: str, key: str) -> str:
    """A parameter's name in model.named_parameters()."""
    return f"{module}.{key}" if module else key


def _leaf_order(sub, model, x, layers):
    """Elementary layers in the order they run on x: (name, layer from the structure, output shape), seen by
    forward hooks in the sandbox."""
    trace = sub.kit("autograder.sandbox.drivers.a2:leaf_trace", model, x)
    return [(name, layers.get(name, {"class": "?", "params": {}, "config": {}}), shape) for name, shape in trace]


def _op_trace(sub, model, x) -> tuple[list, str | None]:
    """(operations the forward runs on x, what it raised or None): drivers.a2.op_trace in the sandbox."""
    trace = sub.kit("autograder.sandbox.drivers.a2:op_trace", model, x)
    expect(isinstance(trace, dict) and isinstance(trace.get("ops"), list), "the forward pass could not be traced")
    return [op for op in trace["ops"] if isinstance(op, dict)], trace.get("error")


def _shape(value):
    return tuple(value) if isinstance(value, (list, tuple)) else None


def _size_hints(ops) -> list:
    """What the traced convolutions and poolings do to the spatial size, where the course's do otherwise."""
    convs, pools = [], []
    for op in ops:
        src, dst = _shape(op.get("in")), _shape(op.get("out"))
        if not src or not dst or len(src) != 4 or len(dst) != 4:
            continue
        sizes = f"{src[2]}x{src[3]} to {dst[2]}x{dst[3]}"
        if op.get("op") == "conv2d" and dst[2:] != src[2:]:
            convs.append(sizes + (f" (padding={op['padding']!r})" if op.get("padding") is not None else ""))
        elif op.get("op") in POOL_OPS and dst[2:] != (src[2] // 2, src[3] // 2):
            pools.append(sizes)
    hints = []
    for found, what, should in (
        (convs, "convolution", "the course's convolutions keep the size"),
        (pools, "pooling", "the course's poolings halve it"),
    ):
        if found:
            listed = ", ".join(found[:-1]) + (" and " if len(found) > 1 else "") + found[-1]
            hints.append(f"your {what}{'s map' if len(found) > 1 else ' maps'} {listed}: {should}")
    return hints


def _logit_activations(ops, n) -> list:
    """Activation operations run on (n, 10) values after the last other operation giving (n, 10) (the logits)."""
    last = max(
        (i for i, op in enumerate(ops) if _shape(op.get("out")) == (n, 10) and op.get("op") not in ACTIVATION_OPS),
        default=None,
    )
    if last is None:
        return []
    return [op["op"] for op in ops[last + 1 :] if op.get("op") in ACTIVATION_OPS and _shape(op.get("out")) == (n, 10)]


def _vector(t) -> bool:
    return t.dim() >= 1 and sum(s != 1 for s in t.shape) <= 1


def _course_params(layers, shapes) -> list:
    """The ways of finding the course CNN's weights among the student's parameters, by their shapes: a list of
    {"conv1.weight": (parameter name, transposed, its shape), "conv1.bias": ..., ...}. A bias sits with its weight
    when both live in the same module; biases of the same size held elsewhere (those of the second and third
    convolutions) are tried in both orders. Fully-connected weights stored (in, out) are transposed."""
    params = [(name, key, t) for name, layer in layers.items() for key, t in layer["params"].items()]
    missing, weights, owner = [], {}, {}
    for role, shape in shapes.items():
        found = [(name, key, False) for name, key, t in params if tuple(t.shape) == shape]
        if len(shape) == 2:
            found += [(name, key, True) for name, key, t in params if tuple(t.shape) == shape[::-1]]
        if len(found) != 1:
            missing.append(f"{'no' if not found else len(found)} weights for {COURSE_CNN_ROLES[role]}")
            continue
        name, key, transposed = found[0]
        owner[role] = name
        weights[f"{role}.weight"] = (_qualified(name, key), transposed, tuple(shape[::-1] if transposed else shape))
    sizes = {}
    for role, shape in shapes.items():
        sizes.setdefault(shape[0], []).append(role)
    groups = []
    for size, roles in sizes.items():
        vectors = [(name, key, tuple(t.shape)) for name, key, t in params if _vector(t) and t.numel() == size]
        if len(vectors) != len(roles):
            missing.append(
                f"{len(vectors)} bias vectors where {' and '.join(COURSE_CNN_ROLES[r] for r in roles)} "
                f"need{'s' if len(roles) == 1 else ''} {len(roles)}"
            )
            continue
        biases = [(_qualified(name, key), False, shape) for name, key, shape in vectors]
        paired = [
            next((b for (name, _, _), b in zip(vectors, biases) if name == owner.get(role)), None) for role in roles
        ]
        if all(b is not None for b in paired) and len({owner[role] for role in roles}) == len(roles):
            groups.append([dict(zip((f"{r}.bias" for r in roles), paired))])
        else:
            groups.append([dict(zip((f"{r}.bias" for r in roles), order)) for order in itertools.permutations(biases)])
    if missing:
        shown = [tuple(t.shape) for _, _, t in params]
        raise CheckFailed(
            f"the course CNN's parameters cannot be found in yours by their shapes ({'; '.join(missing)}): it has "
            f"three convolutions and two fully-connected layers, each with its weight and its bias (the course CNN "
            f"is {COURSE_CNN_ARCHITECTURE}); yours are shaped {shown}"
        )
    out = []
    for combo in itertools.product(*groups):
        merged = dict(weights)
        for part in combo:
            merged.update(part)
        out.append(merged)
    return out


def _set_course_weights(sub, model, reading: dict, w: dict) -> None:
    """Set the judge's weights `w` (canonical layout) into the student's model, where `reading` found them."""
    values = {
        name: (w[role].t() if transposed else w[role]).reshape(shape).contiguous()
        for role, (name, transposed, shape) in reading.items()
    }
    left = sub.kit("autograder.sandbox.drivers.a2:set_parameters", model, values)
    expect(not left, f"the grader could not set the course CNN's weights into your parameters {left}")


def _read_weights(layers, reading: dict) -> dict:
    """The student's weights where `reading` found them, in the canonical layout ({"conv1.weight": ..., ...})."""
    params = {_qualified(name, key): t for name, layer in layers.items() for key, t in layer["params"].items()}
    out = {}
    for role, (name, transposed, _) in reading.items():
        t = params[name]
        out[role] = t.t() if transposed else (t.reshape(-1) if role.endswith(".bias") else t)
    return out


ACTIVATIONS = {
    "ReLU": F.relu,
    "a sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "a softmax": lambda z: z.softmax(1),
    "a log-softmax": lambda z: z.log_softmax(1),
    "GELU": F.gelu,
    "a leaky ReLU": F.leaky_relu,
    "ELU": F.elu,
}


def _same_logits(out, want) -> bool:
    return torch.allclose(out.double(), want.double(), rtol=1e-4, atol=1e-4)


def _activation_of(out, logits):
    """The name of the activation that maps the course CNN's logits to the model's output, or None."""
    for name, act in ACTIVATIONS.items():
        if _same_logits(out, act(logits)):
            return name
    return None


def _forward(sub, model, x, what):
    """model(x) kept in the sandbox, and its value; a forward that raises fails with the sizes the traced
    convolutions and poolings produced (a wrong padding shows there) or the course architecture."""
    try:
        kept = model.call_kept(x)
        return kept, kept.fetch()
    except SubmissionError as err:
        raised = str(err)
    hints = []
    try:
        ops, _ = _op_trace(sub, model, x)
        hints = _size_hints(ops)
    except (SubmissionError, CheckFailed):
        pass
    raise CheckFailed(
        f"{what}: {raised}; " + ("; ".join(hints) if hints else f"the course CNN is {COURSE_CNN_ARCHITECTURE}")
    )


@check(points=3)
def course_cnn(sub):
    """CourseCNN has the course CNN's number of parameters, maps (N, 3, 32, 32) to (N, 10), and its switches add BN
    and dropout.

    Graded on what it computes, with nn modules or torch.nn.functional: the judge draws the course CNN's weights,
    sets them into your parameters (found by their shapes), and your logits must be the course CNN's."""
    g = _draws()
    cnn = sub.module("cnn")
    model = cnn.CourseCNN()
    expect(is_module(model), "CourseCNN() should be an nn.Module")
    layers = _layers(model)
    n, want_n = _n_params(layers), course_cnn_parameter_count(False)
    expect(
        n == want_n,
        f"CourseCNN() has {n:,} parameters, {'more' if n > want_n else 'fewer'} than the course CNN: "
        f"{COURSE_CNN_ARCHITECTURE}",
    )
    N = 7
    x = torch.randn(N, 3, 32, 32, generator=g)
    kept, out = _forward(sub, model, x, "CourseCNN()(images)")
    expect_shape(out, (N, 10), "CourseCNN()(images)")
    requires_grad, _ = sub.kit("autograder.sandbox.drivers.common:tensor_flags", {"out": kept})["out"]
    expect(requires_grad, "the output of CourseCNN does not depend on its parameters")
    shapes = course_cnn_weight_shapes()
    readings = _course_params(layers, shapes)
    w = _draw_course_weights(shapes, g)
    want = _course_cnn_oracle(w, x)
    ops, _ = _op_trace(sub, model, x)
    problems = []
    # activations after the logits: by module where the model runs modules, else by the operations it runs
    order = _leaf_order(sub, model, x, layers) if any(layer["class"] == "Linear" for layer in layers.values()) else []
    linears = [i for i, (_, layer, _) in enumerate(order) if layer["class"] == "Linear"]
    after = (
        [
            f"{name} ({layer['class']})"
            for name, layer, _ in order[max(linears) + 1 :]
            if layer.get("module") == "torch.nn.modules.activation"
        ]
        if linears
        else []
    )
    if not after:
        after = [f"{op} (torch.{op} / F.{op})" for op in _logit_activations(ops, N)]
    if after:
        problems.append(
            f"{', '.join(after)} runs after the last linear layer: the logits must not go through an "
            "activation (the loss applies the softmax itself)"
        )
    # the judge's weights set into the student's parameters (both orders where two biases of the same size are held
    # apart from their weights): the logits must be the course CNN's on those weights
    outs = []
    for reading in readings:
        _set_course_weights(sub, model, reading, w)
        got = model(x)
        expect_shape(got, (N, 10), "CourseCNN()(images) with the grader's weights")
        if _same_logits(got, want):
            outs = [got]
            break
        outs.append(got)
    if not _same_logits(outs[-1], want):
        squashed = next((s for s in (_activation_of(o, want) for o in outs) if s), None)
        if squashed and not after:
            problems.append(
                f"your output is {squashed} of the course CNN's logits: the logits must not go through an "
                "activation (the loss applies the softmax itself)"
            )
        elif not squashed:
            err = min(float((o - want).abs().max()) for o in outs)
            hints = _size_hints(ops)
            problems.append(
                f"with the grader's weights set into your parameters, CourseCNN()(images) differs from the course "
                f"CNN's logits on the same weights (max abs. error {err:.3g}): the course CNN is "
                f"{COURSE_CNN_ARCHITECTURE}, with no softmax at the end" + (f"; {'; '.join(hints)}" if hints else "")
            )
    stages = [op for op in ops if op.get("op") in STAGE_OPS]
    if any(op["op"] == "batch_norm" or (op["op"] == "dropout" and op.get("p")) for op in stages):
        problems.append("CourseCNN() without switches should run neither dropout nor batch norm")
    if problems:
        raise CheckFailed("; ".join(problems))
    # the kit trains in channels_last where the forward accepts it (x.view(N, -1) does not: then it trains in the
    # contiguous layout): where it does, the outputs must be the same
    out_cl = sub.kit("autograder.sandbox.drivers.a2:forward_channels_last", model, x)
    if out_cl is not None:
        expect_close(out_cl, outs[-1], "the output on a channels_last batch", rtol=1e-3, atol=1e-3)

    # the switches: batch norm after each convolution, dropout before the classifier, seen in the operations run
    bn_model = cnn.CourseCNN(batch_norm=True)
    expect(is_module(bn_model), "CourseCNN(batch_norm=True) should be an nn.Module")
    n_bn = _n_params(_layers(bn_model))
    expect(
        n_bn == course_cnn_parameter_count(True),
        f"CourseCNN(batch_norm=True) has {n_bn:,} parameters; batch norm after each convolution adds 2 per channel",
    )
    ops, error = _op_trace(sub, bn_model, x)
    expect(error is None, f"CourseCNN(batch_norm=True)(images) raised {error}")
    stages = [op["op"] for op in ops if op.get("op") in STAGE_OPS]
    convs = [i for i, op in enumerate(stages) if op == "conv2d"]
    expect(
        len(convs) == 3 and all(i + 1 < len(stages) and stages[i + 1] == "batch_norm" for i in convs),
        "with batch_norm=True, each of the 3 convolutions should be followed directly by a batch normalization "
        f"(nn.BatchNorm2d, or F.batch_norm); the operations run: {stages}",
    )
    drop_model = cnn.CourseCNN(dropout=0.3)
    expect(is_module(drop_model), "CourseCNN(dropout=0.3) should be an nn.Module")
    drop_model.train()
    ops, error = _op_trace(sub, drop_model, x)
    expect(error is None, f"CourseCNN(dropout=0.3)(images) raised {error}")
    drops = [(i, op.get("p")) for i, op in enumerate(ops) if op.get("op") == "dropout" and op.get("p")]
    expect(
        len(drops) == 1 and drops[0][1] == 0.3,
        "CourseCNN(dropout=0.3) should run exactly one dropout of probability 0.3 (nn.Dropout(0.3), or "
        f"F.dropout(x, 0.3, self.training)); it runs {len(drops)}: p = {[p for _, p in drops]}",
    )
    hidden = next((i for i, op in enumerate(ops) if _shape(op.get("out")) == (N, 1000)), None)
    logits = next((i for i, op in enumerate(ops) if _shape(op.get("out")) == (N, 10)), None)
    expect(
        hidden is not None and logits is not None and hidden < drops[0][0] < logits,
        "the dropout should sit before the classifier: between the 1000-unit layer and the last linear layer",
    )


@oracle
def test_network_table() -> list:
    """The layer table of kit.a2's small test network on (1, 28, 36) inputs: (name, output shape without the batch
    dimension, number of parameters) of each elementary layer in the order it runs, seen by forward hooks and
    numel() in eval mode."""

    with torch.random.fork_rng(devices=[]):  # the network's initial weights draw from torch's generator
        model = layer_table_test_network()
    order, hooks = [], []
    for name, m in model.named_modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(lambda mod, i, o, name=name: order.append((name, mod, o))))
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, 28, 36))
    finally:
        for h in hooks:
            h.remove()
    return [(name, tuple(o.shape[1:]), sum(p.numel() for p in m.parameters())) for name, m, o in order]


def _sandbox_table(sub, model, input_shape):
    """The rows layer_table must give for the student's own network: the forward hooks run in the sandbox (eval
    mode), the parameters are counted in the judge from the model's weights. What it reads is the student's
    network, not the course's: a wrong CourseCNN costs course_cnn, not layer_table."""
    layers = _layers(model)
    model.eval()
    order = _leaf_order(sub, model, torch.zeros(1, *input_shape), layers)
    return [
        (name, tuple(shape[1:]) if shape else None, sum(t.numel() for t in layer["params"].values()))
        for name, layer, shape in order
    ]


@check(points=2)
def layer_table(sub):
    """layer_table lists each layer's output shape and parameter count, as forward hooks and numel() see them."""
    cnn = sub.module("cnn")
    course = cnn.CourseCNN()
    expect(is_module(course), "CourseCNN() should be an nn.Module")
    other = sub.kit("autograder.sandbox.drivers.a2:layer_table_test_network")
    try:
        course_table = _sandbox_table(sub, course, (3, 32, 32))
    except SubmissionError as err:
        raise CheckFailed(
            f"layer_table is checked on your CourseCNN, whose forward pass fails on a (1, 3, 32, 32) "
            f"batch: {err} (see course_cnn)"
        ) from None
    # a CourseCNN written with torch.nn.functional on its own nn.Parameters has no sub-module: its only
    # elementary layer is the model itself, and that is what a correct layer_table lists (one row)
    functional = [name for name, _, _ in course_table] == [""]
    for model, want, shape, what in (
        (course, course_table, (3, 32, 32), "CourseCNN()"),
        (
            other,
            [tuple(row) for row in test_network_table()],
            (1, 28, 36),
            "a small test network on (1, 28, 36) inputs",
        ),
    ):
        model.train()
        try:
            _compare_table(sub, cnn, model, want, shape, what)
        except CheckFailed as err:
            if functional and model is course:
                raise CheckFailed(
                    f"{err}. Your CourseCNN has no sub-modules (its forward calls torch.nn.functional "
                    "on its own parameters), so its only elementary layer is the model itself, named '' "
                    "in named_modules(): layer_table lists modules, so its table of your CourseCNN is "
                    f"that one row {want[0]}. Build the course CNN from nn.Conv2d, nn.MaxPool2d and "
                    "nn.Linear modules to see one row per layer"
                ) from None
            raise
        expect(model.training is True, "layer_table should leave the model in the mode it was in (train)")
    # and a model in eval mode stays in eval mode (a layer_table that always ends with model.train() would switch
    # dropout and batch norm on in the middle of an evaluation)
    course.eval()
    _compare_table(sub, cnn, course, course_table, (3, 32, 32), "CourseCNN() in eval mode")
    expect(
        course.training is False,
        "layer_table switched a model in eval mode to train mode: it should leave "
        "the model in the mode it was in, whichever it was (note it before you "
        "switch, and restore that mode after the forward pass)",
    )


def _compare_table(sub, cnn, model, want, shape, what):
    """The student's layer_table(model, shape) against the oracle's rows `want`."""
    got = sub.kit("autograder.sandbox.drivers.a2:plain", cnn.layer_table.call_kept(model, shape))
    expect(isinstance(got, (list, tuple)), f"layer_table should return a list, got {_type_name(got)}")
    expect(
        len(got) == len(want),
        f"layer_table of {what} has {len(got)} rows, the network runs {len(want)} "
        f"elementary layers: {[n for n, _, _ in want]}",
    )
    for row, (name, out_shape, n) in zip(got, want):
        expect(isinstance(row, (list, tuple)) and len(row) == 3, "each row should be (name, output_shape, n_params)")
        expect(str(row[0]) == name, f"row {row[0]!r} should be named {name!r} (order of execution)")
        got_shape = isinstance(row[1], (list, tuple)) and tuple(_int(v, "an output size") for v in row[1])
        expect(
            got_shape == out_shape,
            f"layer {name} of {what} outputs {out_shape} (without the batch dimension), you give {row[1]}",
        )
        expect(_int(row[2], "a parameter count") == n, f"layer {name} of {what} has {n} parameters, you give {row[2]}")


def _fully_convolutional(ceil_mode=False) -> nn.Sequential:
    """The course CNN with its fully-connected layers written as convolutions, on the meta device: the first one's
    kernel covers the whole feature map the poolings leave of a 32x32 image, the last one is 1x1; `ceil_mode`
    poolings round up (a frequent mistake, for the hint)."""
    layers = []
    for layer in _judge_course_cnn():
        if isinstance(layer, nn.MaxPool2d):
            layer = nn.MaxPool2d(layer.kernel_size, stride=layer.stride, ceil_mode=ceil_mode)
        if isinstance(layer, nn.Flatten):
            break
        layers.append(layer)
    features = nn.Sequential(*layers)
    channels, h, w = _meta_out_shape(features, (3, 32, 32))
    fc1, fc2 = [m for m in _judge_course_cnn() if isinstance(m, nn.Linear)]
    return nn.Sequential(
        features,
        nn.Conv2d(channels, fc1.out_features, (h, w), device="meta"),
        nn.ReLU(),
        nn.Conv2d(fc1.out_features, fc2.out_features, 1, device="meta"),
    )


@oracle
def fully_convolutional_shapes(sizes) -> list:
    """For each (height, width): {"shape": the output shape of the course CNN written with convolutions only,
    computed by PyTorch on the meta device, and for the hints "poolings": the size the poolings leave,
    "rounding_up": the output size if the poolings rounded up}."""
    net, up = _fully_convolutional(), _fully_convolutional(ceil_mode=True)
    return [
        {
            "shape": _meta_out_shape(net, (3, h, w)),
            "poolings": _meta_out_shape(net[0], (3, h, w))[1:],
            "rounding_up": _meta_out_shape(up, (3, h, w))[1:],
        }
        for h, w in sizes
    ]


@check(points=1)
def fully_convolutional(sub):
    """fully_convolutional_output_shape matches the course CNN written with convolutions only, on larger images."""
    cnn = sub.module("cnn")
    rng = _rng()
    sizes = [(32, 32), (64, 64), (33, 47), (40, 32), (96, 128)] + [
        (rng.randint(32, 160), rng.randint(32, 160)) for _ in range(20)
    ]
    for (height, width), want in zip(sizes, fully_convolutional_shapes(sizes)):
        out = cnn.fully_convolutional_output_shape(height, width)
        expect(
            isinstance(out, (tuple, list)) and len(out) == 3,
            f"fully_convolutional_output_shape should return (10, H', W'), got {out!r}",
        )
        got = tuple(_int(v, "fully_convolutional_output_shape(...)") for v in out)
        if got != tuple(want["shape"]):
            hint = ""
            if got[1:] == tuple(want["poolings"]):
                hint = (
                    "; after the three poolings the first fully-connected layer still runs, now as a convolution "
                    "whose kernel covers the whole feature map the poolings leave of a 32x32 image (no padding)"
                )
            elif got[1:] == tuple(want["rounding_up"]):
                hint = "; a pooling that halves the size drops the last row (column) of an odd size: it rounds down"
            raise CheckFailed(
                f"on a {height}x{width} image the course CNN written with convolutions only outputs "
                f"{tuple(want['shape'])}, fully_convolutional_output_shape gives {got}{hint}"
            )


@oracle
def linear_svm_parameter_count(vocabulary: int, classes: int) -> int:
    """The parameters of one-vs-all linear SVMs on histograms: those of an nn.Linear(vocabulary, classes)."""
    return sum(p.numel() for p in nn.Linear(vocabulary, classes, device="meta").parameters())


@check(points=1)
def bag_of_words_comparison(sub):
    """bag_of_words_svm_param_count gives the parameters of the linear SVMs on visual-word histograms."""
    cnn = sub.module("cnn")
    for vocabulary, classes in ((1000, 10), (500, 5), (4096, 101)):
        want = linear_svm_parameter_count(vocabulary, classes)
        got = _int(cnn.bag_of_words_svm_param_count(vocabulary, classes), "bag_of_words_svm_param_count(...)")
        expect(
            got == want,
            f"{classes} one-vs-all linear SVMs on {vocabulary}-word histograms have {want} parameters, you give {got}",
        )


# ---------------------------------------------------------------- epoch
def _probe_model(sub):
    """(model, probe) in the sandbox (drivers.a2.probe_model: a tiny classifier with a ModeProbe that records the
    mode and whether a graph is built each time the model runs)."""
    return sub.kit("autograder.sandbox.drivers.a2:probe_model")


def _weights(model) -> dict:
    """{name: tensor} of a sandbox model's parameters, as named_parameters() names them."""
    return {
        _qualified(layer["name"], k): v for layer in model.structure()["layers"] for k, v in layer["params"].items()
    }


def _probe_copy() -> nn.Module:
    """The probe model in the judge (drivers.a2.probe_model, its probe a pass-through)."""

    with torch.random.fork_rng(devices=[]):  # probe_model seeds torch's generator: the judge's draws stay its own
        model, _ = probe_model()
    return model


def _probe_weights(sub, model, g) -> dict:
    """Weights the judge draws for the probe model, set into the sandbox's copy: {name: tensor}."""
    weights = {name: torch.randn(p.shape, generator=g) * 0.5 for name, p in _probe_copy().named_parameters()}
    left = sub.kit("autograder.sandbox.drivers.a2:set_parameters", model, weights)
    expect(not left, f"the grader could not set the probe model's weights {left}")
    return weights


def _judge_copy(weights: dict) -> nn.Module:
    """The probe model in the judge, loaded with `weights`."""
    model = _probe_copy()
    model.load_state_dict(weights)
    return model


def _batches(g, sizes=(5, 5, 3, 1)):

    # as many classes as the probe model (10: the course's epoch computes a top-5 accuracy too)
    return [(torch.randn(n, 3, 2, 2, generator=g), torch.randint(0, PROBE_CLASSES, (n,), generator=g)) for n in sizes]


@oracle
def probe_predictions(weights, X):
    """The classes the probe model with `weights` predicts for X (eval mode)."""
    with torch.no_grad():
        return _judge_copy(weights).eval()(X).argmax(1)


def _with_hits(weights, data, batches):
    """`data` with the first target of each of its first `batches` batches set to the class the probe predicts
    there before any step: an accuracy that is never 0, so one returned in percent shows."""
    out = []
    for i, (x, t) in enumerate(data):
        if i < batches:
            t = t.clone()
            t[0] = probe_predictions(weights, x[:1])[0]
        out.append((x, t))
    return out


@oracle
def epoch_evaluate_oracle(weights, data) -> dict:
    """What one evaluation pass of the probe model with `weights` over the batches `data` gives: the mean loss and
    the accuracy over all the examples, and (for the hint) the mean of the batches' mean losses."""
    model = _judge_copy(weights).eval()
    X = torch.cat([x for x, _ in data])
    y = torch.cat([t for _, t in data])
    with torch.no_grad():
        logits = model(X)
        mean_of_means = sum(float(F.cross_entropy(model(x), t)) for x, t in data) / len(data)
    return {
        "loss": float(F.cross_entropy(logits, y)),
        "accuracy": float((logits.argmax(1) == y).float().mean()),
        "mean_of_means": mean_of_means,
    }


@oracle
def epoch_train_oracle(weights, data, lr) -> dict:
    """One training pass of the probe model with `weights` over the batches `data` with torch.optim.SGD(lr): the
    weights after it, the mean loss of each batch before its step (weighted by its size) and the accuracy of the
    predictions before each step."""
    model = _judge_copy(weights)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    total, correct = 0.0, 0
    for x, t in data:
        opt.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out, t)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(t)
        correct += int((out.argmax(1) == t).sum())
    n = sum(len(t) for _, t in data)
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    return {"weights": weights, "loss": total / n, "accuracy": correct / n}


def _pair(result, what):
    expect(
        isinstance(result, (tuple, list)) and len(result) == 2,
        f"{what} should return (mean loss, accuracy), two numbers; got "
        f"{f'{len(result)} values' if isinstance(result, (tuple, list)) else _type_name(result)}",
    )
    loss = expect_number(result[0], f"the mean loss {what} returned")
    acc = expect_fraction(result[1], f"the accuracy {what} returned")
    return loss, acc


@check(points=2)
def epoch_evaluate(sub):
    """epoch without optimizer: eval mode, no graph, weights unchanged, loss and accuracy averaged per example."""
    g = _draws()
    training = sub.module("training")
    model, probe = _probe_model(sub)
    weights = _probe_weights(sub, model, g)
    model.train()
    data = _with_hits(weights, _batches(g), batches=4)  # a right prediction in each batch: a percentage shows
    before = _weights(model)
    criterion = sub.kit("torch.nn:CrossEntropyLoss")
    loss, acc = _pair(training.epoch(data, model, criterion), "epoch(data, model, criterion)")
    seen = probe.seen
    expect(seen, "epoch did not run the model on the data")
    expect(len(seen) == len(data), f"epoch ran the model {len(seen)} times for {len(data)} batches")
    expect(
        all(not mode for mode, _ in seen),
        "without optimizer the model must be in eval mode (model.eval()): "
        "dropout and batch norm behave differently when evaluating",
    )
    expect(
        all(not grad for _, grad in seen),
        "without optimizer, evaluate under torch.no_grad(): no graph is needed and it saves memory and time",
    )
    after = _weights(model)
    for name, b in before.items():
        expect(
            name in after and torch.equal(after[name], b), "epoch changed the weights although no optimizer was given"
        )
    want = epoch_evaluate_oracle(weights, data)
    hint = (
        "; with batches of different sizes, weight each batch's mean loss by its size"
        if abs(loss - want["mean_of_means"]) < 1e-5
        else ""
    )
    expect(
        abs(loss - want["loss"]) < 1e-5,
        f"mean loss over the data is {want['loss']:.6f}, epoch returned {loss:.6f}{hint}",
    )
    expect(
        abs(acc - want["accuracy"]) < 1e-6,
        f"accuracy over the data is {want['accuracy']:.4f}, epoch returned {acc:.4f}",
    )


@check(points=2)
def epoch_train(sub):
    """epoch with an optimizer: train mode, one SGD step per batch exactly as torch.optim does it."""
    g = _draws()
    training = sub.module("training")
    model, probe = _probe_model(sub)
    weights = _probe_weights(sub, model, g)
    model.eval()
    data = _with_hits(weights, _batches(g), batches=1)  # a right prediction before the first step
    opt = sub.kit("torch.optim:SGD", model.parameters(), lr=0.3)
    criterion = sub.kit("torch.nn:CrossEntropyLoss")
    loss, acc = _pair(training.epoch(data, model, criterion, opt), "epoch(data, model, criterion, optimizer)")
    seen = probe.seen
    expect(seen and all(mode for mode, _ in seen), "with an optimizer the model must be in train mode (model.train())")
    expect(all(grad for _, grad in seen), "with an optimizer, gradients must be enabled during the forward pass")
    want = epoch_train_oracle(weights, data, 0.3)
    after = _weights(model)
    for name, q in want["weights"].items():
        expect(name in after, f"the model lost its parameter {name}")
        expect_close(
            after[name],
            q,
            f"parameter {name} after one epoch",
            rtol=1e-5,
            atol=1e-6,
            hint="each batch should do zero_grad, forward, loss, backward, step (one step per batch; "
            "forgetting zero_grad accumulates the gradients of previous batches)",
        )
    expect(
        abs(loss - want["loss"]) < 1e-5,
        f"the mean training loss (each batch's loss before its step, weighted by "
        f"its size) is {want['loss']:.6f}, epoch returned {loss:.6f}",
    )
    expect(
        abs(acc - want["accuracy"]) < 1e-6,
        f"the training accuracy (predictions before each step) is {want['accuracy']:.4f}, epoch returned {acc:.4f}",
    )


# ---------------------------------------------------------------- improvements
def _skewed_sets(g):
    scale, shift = torch.tensor([1.0, 0.5, 2.0]).view(1, 3, 1, 1), torch.tensor([0.2, -1.0, 3.0]).view(1, 3, 1, 1)
    Xtrain = torch.rand(300, 3, 8, 8, generator=g) * scale + shift
    Xtest = torch.rand(50, 3, 8, 8, generator=g) * 4 - 2  # very different statistics: must not be used
    return Xtrain, Xtest


@oracle
def standardization_oracle(Xtrain, Xtest) -> dict:
    """The per-channel "mean" and "std" of the training images (over images and pixels), and the "test" images and
    the first 40 "train" images standardized with them."""
    m, s = Xtrain.mean(dim=(0, 2, 3)), Xtrain.std(dim=(0, 2, 3))
    return {
        "mean": m,
        "std": s,
        "test": (Xtest - m.view(1, 3, 1, 1)) / s.view(1, 3, 1, 1),
        "train": (Xtrain[:40] - m.view(1, 3, 1, 1)) / s.view(1, 3, 1, 1),
    }


def _transforms(result, what):
    expect(
        isinstance(result, (tuple, list)) and len(result) == 2,
        f"{what} should return (train_transform, test_transform)",
    )
    for f, name in zip(result, ("train_transform", "test_transform")):
        expect(is_remote(f), f"{what}'s {name} should be a function, got {_type_name(f)}")
    return result


@check(points=2)
def standardization(sub):
    """channel_stats / standardize per channel; make_transforms uses the TRAIN statistics only."""
    training = sub.module("training")
    Xtrain, Xtest = _skewed_sets(_draws())
    want = standardization_oracle(Xtrain, Xtest)
    stats = training.channel_stats(Xtrain)
    expect(isinstance(stats, (tuple, list)) and len(stats) == 2, "channel_stats should return (mean, std)")
    mean, std = stats
    expect_close(
        torch.as_tensor(mean).reshape(-1),
        want["mean"],
        "channel_stats mean",
        rtol=1e-4,
        atol=1e-5,
        hint="one mean per channel, over images and pixels",
    )
    expect_close(
        torch.as_tensor(std).reshape(-1),
        want["std"],
        "channel_stats std",
        rtol=2e-3,
        atol=1e-5,
        hint="one standard deviation per channel, over images and pixels",
    )
    expect_close(
        training.standardize(Xtest, want["mean"], want["std"]),
        want["test"],
        "standardize(X, mean, std)",
        rtol=1e-4,
        atol=1e-5,
    )
    train_tf, test_tf = _transforms(
        training.make_transforms(Xtrain, standardize_inputs=True, augment=False), "make_transforms"
    )
    expect_close(
        test_tf(Xtest.clone()),
        want["test"],
        "test_transform(Xtest)",
        rtol=2e-3,
        atol=1e-4,
        hint="test images are standardized with the mean and std of the TRAINING images",
    )
    expect_close(
        train_tf(Xtrain[:40].clone()), want["train"], "train_transform without augmentation", rtol=2e-3, atol=1e-4
    )
    train_tf, test_tf = _transforms(
        training.make_transforms(Xtrain, standardize_inputs=False, augment=False), "make_transforms"
    )
    expect_close(test_tf(Xtest.clone()), Xtest, "test_transform with both switches off", rtol=0, atol=0)
    expect_close(train_tf(Xtest.clone()), Xtest, "train_transform with both switches off", rtol=0, atol=0)


@oracle
def zero_padded(X, padding: int):
    """The images X (N, C, H, W) with `padding` zeros added on each side."""
    return F.pad(X, (padding,) * 4)


def _crop_candidates(padded, H, W):
    """All the H x W windows of the padded images (N, C, H + 2p, W + 2p), and their mirrors: (N, 2 (2p+1)^2, C, H, W)."""
    crops = [
        padded[:, :, i : i + H, j : j + W]
        for i in range(padded.shape[2] - H + 1)
        for j in range(padded.shape[3] - W + 1)
    ]
    crops = torch.stack(crops, dim=1)
    return torch.cat([crops, crops.flip(-1)], dim=1)


def _generator(sub, seed):
    """A torch.Generator with this seed, in the sandbox (to pass to the student's code)."""
    return sub.kit("autograder.sandbox.drivers.a2:generator", seed)


@check(points=2)
def random_crop_flip(sub):
    """random_crop_flip returns, for each image, a crop of its zero-padded version, mirrored half of the time."""
    training = sub.module("training")
    X = torch.rand(256, 3, 8, 6, generator=_draws()) + 0.5  # no zeros, so padding is visible
    for padding in (4, 2):
        out = training.random_crop_flip(X.clone(), padding=padding)
        expect_shape(out, X.shape, f"random_crop_flip(X, padding={padding})")
        n_pos = (2 * padding + 1) ** 2
        cands = _crop_candidates(zero_padded(X, padding), *X.shape[2:])  # (N, 2 n_pos, C, H, W)
        dist = (cands - out.detach()[:, None]).abs().flatten(2).amax(2)  # (N, 2 n_pos)
        best, which = dist.min(dim=1)
        bad = (~(best <= 1e-6)).nonzero().flatten()  # NaN is no crop
        expect(
            len(bad) == 0,
            f"image {int(bad[0]) if len(bad) else 0} of random_crop_flip(X, padding={padding}) is "
            f"not a crop of the image padded with {padding} zeros on each side, nor the mirror of one",
        )
        which = which.tolist()
        flipped = sum(w >= n_pos for w in which) / len(which)
        positions = {w % n_pos for w in which}
        expect(0.35 < flipped < 0.65, f"{flipped:.0%} of the images were mirrored, expected about half")
        expect(
            len(positions) > n_pos // 2,
            f"only {len(positions)} of the {n_pos} crop positions were drawn "
            "in 256 images: draw the position at random for each image",
        )
        identity = (out - X).abs().flatten(1).amax(1) < 1e-6
        expect(float(identity.float().mean()) < 0.2, "most images came back unchanged")
    a = training.random_crop_flip(X, 4, generator=_generator(sub, 7))
    b = training.random_crop_flip(X, 4, generator=_generator(sub, 7))
    expect_shape(a, X.shape, "random_crop_flip(X, 4, generator)")
    expect(
        torch.equal(a, b),
        "two calls with generators of the same seed should give the same crops: draw the "
        "random numbers from `generator`",
    )


@check(points=1)
def augment_train_only(sub):
    """With augmentation on, training batches vary from call to call, test batches are deterministic."""
    training = sub.module("training")
    Xtrain, Xtest = _skewed_sets(_draws())
    train_tf, test_tf = _transforms(
        training.make_transforms(Xtrain, standardize_inputs=True, augment=True), "make_transforms"
    )
    a, b = test_tf(Xtest.clone()), test_tf(Xtest.clone())
    expect_shape(a, Xtest.shape, "test_transform(Xtest)")
    expect(
        torch.equal(a, b),
        "test_transform gave two different results on the same images: evaluation must be "
        "deterministic (augment the training batches only)",
    )
    expect_close(
        a,
        standardization_oracle(Xtrain, Xtest)["test"],
        "test_transform(Xtest) with augmentation on",
        rtol=2e-3,
        atol=1e-4,
        hint="the test images are only standardized",
    )
    c, d = train_tf(Xtrain[:64].clone()), train_tf(Xtrain[:64].clone())
    expect_shape(c, (64, 3, 8, 8), "train_transform(batch)")
    expect_finite(c, "train_transform(batch)")  # NaN differs from itself: it would look random
    expect_finite(d, "train_transform(batch)")
    expect(not torch.equal(c, d), "train_transform gave the same result twice: augmentation should be random")


@check(points=1)
def train_eval_modes(sub):
    """With dropout and batch norm, CourseCNN is random in train mode, deterministic and batch-independent in eval."""
    cnn = sub.module("cnn")
    model = cnn.CourseCNN(batch_norm=True, dropout=0.5)
    expect(is_module(model), "CourseCNN(batch_norm=True, dropout=0.5) should be an nn.Module")
    x = torch.randn(16, 3, 32, 32)
    model.eval()
    _, fresh = _forward(sub, model, x, "CourseCNN(batch_norm=True, dropout=0.5)(images)")  # initial statistics
    model.train()
    a, b = model(x), model(x)
    expect_shape(a, (16, 10), "CourseCNN(batch_norm=True, dropout=0.5)(images)")
    for out in (fresh, a, b):  # NaN differs from itself: it would pass for dropout and for updated statistics
        expect_finite(out, "CourseCNN(batch_norm=True, dropout=0.5)(images)")
    expect(not torch.allclose(a, b), "in train mode two forward passes should differ (dropout)")
    model.eval()
    c, d = model(x), model(x)
    expect_finite(c, "CourseCNN(batch_norm=True, dropout=0.5)(images) in eval mode")
    single = model(x[:1])
    expect(torch.equal(c, d), "in eval mode the output should be deterministic (dropout off)")
    # read from what the model computes (nn.BatchNorm2d modules or F.batch_norm on buffers of its own)
    expect(
        not torch.allclose(c, fresh, rtol=1e-4, atol=1e-5),
        "in train mode batch norm should update its running statistics: the eval-mode output is the same before "
        "and after two training-mode passes",
    )
    expect_close(
        single,
        c[:1],
        "the eval-mode output of one image alone vs. inside a batch",
        rtol=1e-4,
        atol=1e-5,
        hint="in eval mode batch norm uses its running statistics, not the batch's",
    )


def _has_method(obj, name) -> bool:
    if not is_remote(obj):
        return False
    try:
        return is_remote(getattr(obj, name))
    except SubmissionError:  # the sandbox says the attribute does not exist
        return False


@oracle
def exponential_lrs(lr: float, gamma: float, steps: int) -> list:
    """The learning rates torch.optim.lr_scheduler.ExponentialLR(gamma) gives after each of `steps` steps from lr."""
    weight = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([weight], lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    out = []
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


@check(points=1)
def lr_schedule(sub):
    """make_scheduler multiplies the learning rate by gamma at each step (ExponentialLR)."""
    training = sub.module("training")
    for gamma in (0.95, 0.5):
        want = exponential_lrs(0.1, gamma, 10)
        weight = sub.kit_kept("torch.nn:Parameter", torch.zeros(2))
        opt = sub.kit("torch.optim:SGD", [weight], lr=0.1)
        sched = training.make_scheduler(opt, gamma=gamma)
        expect(_has_method(sched, "step"), "make_scheduler should return a scheduler with a .step() method")
        for k in range(1, 11):
            opt.step()
            sched.step()
            lr = expect_number(opt.param_groups[0]["lr"], "the learning rate")
            expect(
                abs(lr - want[k - 1]) < 1e-9,
                f"after {k} steps with gamma={gamma} the learning rate is {lr:.6g}, expected {want[k - 1]:.6g}",
            )


# ---------------------------------------------------------------- trainings (recipes and thresholds: kit/recipes.py)
# Full tier, by CIFAR-10 source: on the original pixels, the targets of one student's report of the course; the
# offline mirror's JPEG export (quality 75) loses detail, and there the thresholds come from the reference's runs.


def _test_labels(sub, limit_test=None):
    """The CIFAR-10 test labels (judge only) of the images the sandbox predicts on: kit.a2's fixed random subset
    when the recipe limits the test set."""

    labels = sub.test_labels("cifar10")
    idx = subset_indices(len(labels), limit_test)
    return labels if idx is None else labels[idx]


def _train_and_expect(sub, threshold, what, device="cpu", **kw):
    """Train in the sandbox with kit.a2's recipe `kw`; the judge recomputes the trained model's logits on the test
    images from its weights (`trained_logits`) and scores them against the test labels the sandbox never saw."""
    labels = _test_labels(sub, kw.get("limit_test"))
    run = sub.kit(
        "autograder.sandbox.drivers.a2:cifar_predictions",
        sub.module("cnn"),
        sub.module("training"),
        device=device,
        every_epoch=False,
        **kw,
    )
    expect(
        isinstance(run, dict) and "logits" in run and "train_loss" in run,
        f"{what}: the training sent back no predictions",
    )
    _record_speed(sub, run.get("speed"))
    logits = trained_logits(run, cifar_test_images(kw.get("limit_test")), kw, what)
    expect_shape(logits, (len(labels), 10), f"{what}: the outputs on the test images")
    acc = accuracy(logits, labels)
    losses = expect_numbers(run["train_loss"], f"{what}: the training losses")
    expect(len(losses) == 1 or losses[-1] < losses[0], f"{what}: the training loss did not decrease")
    when = "after"
    if kw.get("validation"):
        when = "at the epoch of best validation accuracy (validation split of the training set) among"
    expect_accuracy(
        sub,
        acc,
        threshold,
        f"{what} reaches {acc:.1%} test accuracy {when} {len(losses)} epochs, expected at least {percent(threshold)}"
        + agreement_note(run.get("logits"), logits),
    )


def cifar_test_images(limit_test=None):
    """The CIFAR-10 test images as the kit's training reads them (kit.a2.cifar10: (N, 3, 32, 32) in [0, 1], kit.a2's
    fixed subset when the recipe limits the test set), loaded by the judge."""

    images = load("cifar10", train=False)[0]
    idx = subset_indices(len(images), limit_test)
    images = images if idx is None else images[idx]
    return images.float().div_(255).permute(0, 3, 1, 2).contiguous()


def trained_logits(run, images, kw, what):
    """The trained course CNN's logits on the test images, recomputed by the judge: the images go through the
    student's test transform (as the per-channel affine map the kit read off it), then the course CNN with the
    trained weights (found by their shapes, as course_cnn finds them), batch norm with its running statistics,
    no dropout, flip-averaged where the recipe says so. The sandbox's own logits are used only for a model the
    judge cannot read (batch norm written by hand on tensors of its own, whose roles have no names to go by), and
    in the student kit (see below)."""
    model, inputs = run.get("model"), run.get("test_inputs")
    expect(is_module(model), f"{what}: the training sent back no trained model")
    expect(isinstance(inputs, dict), f"{what}: the training sent back no test transform")
    if inputs.get("zca"):  # the kit's whitening bonus: no graded recipe uses it
        return run["logits"]
    shift, scale = (
        _channel_values(inputs.get(key), f"{what}: the test transform's {key}") for key in ("shift", "scale")
    )
    layers = _layers(model)
    norms = _batch_norms(layers, what) if kw.get("batch_norm") else []
    if norms is None:
        return run["logits"]
    convs_and_linears = {name: lay for name, lay in layers.items() if lay["class"] != "BatchNorm2d"}
    try:
        readings = _course_params(convs_and_linears, course_cnn_weight_shapes())
        outs = [
            trained_course_cnn_logits(_read_weights(layers, r), norms, shift, scale, images, bool(kw.get("flip_test")))
            for r in readings
        ]
    except NotRecorded:
        # The student kit records no training (what the judge would recompute is the student's own trained
        # network), and it grades on the student's own machine, where there is nothing to defend against: it
        # scores the logits the sandbox's forward gave.
        return run["logits"]
    # two readings where conv2's and conv3's biases (64 each) are held apart from their weights: the one the
    # sandbox's logits are nearest to (either one is a network of the student's weights)
    own = run.get("logits")
    if len(outs) > 1 and isinstance(own, torch.Tensor) and own.shape == outs[0].shape:
        return min(outs, key=lambda out: float((own.float() - out).abs().mean()))
    return outs[0]


def _channel_values(value, what):
    expect(
        isinstance(value, torch.Tensor) and value.shape == (3,) and bool(torch.isfinite(value).all()),
        f"{what} should be 3 finite numbers, one per colour channel",
    )
    return value.float().view(1, 3, 1, 1)


def _batch_norms(layers, what):
    """(running mean, running var, weight, bias, eps) of the trained model's three nn.BatchNorm2d layers in the
    order they are registered (the course CNN's: after conv1, conv2, conv3); None where the model has none, or
    keeps no running statistics (batch norm written by hand, or track_running_stats=False)."""
    norms = [lay for lay in layers.values() if lay["class"] == "BatchNorm2d"]
    if not norms or any(not {"running_mean", "running_var"} <= set(lay["buffers"]) for lay in norms):
        return None
    sizes = [lay["config"].get("num_features") for lay in norms]
    expect(
        sizes == [32, 64, 64],
        f"{what}: the model's batch normalizations have {sizes} channels, registered in that order; the course CNN's "
        "follow its convolutions: 32, 64, 64",
    )
    return [_batch_norm_values(lay) for lay in norms]


def _batch_norm_values(lay):
    buffers, params = lay["buffers"], lay["params"]
    stats = [buffers["running_mean"].float(), buffers["running_var"].float()]
    affine = [None if params.get(k) is None else params[k].float() for k in ("weight", "bias")]
    return (*stats, *affine, float(lay["config"].get("eps", 1e-5)))


@oracle
def trained_course_cnn_logits(w, norms, shift, scale, images, flip):
    """The course CNN in evaluation mode on a batch of [0, 1] images, with the weights `w` ({"conv1.weight": ...})
    and batch norms `norms` ([] without), after the test transform x -> shift + scale * x; `flip`: the mean of the
    logits of each image and of its mirror image."""
    w = {key: t.float() for key, t in w.items()}

    def forward(x):
        h = x * scale + shift
        for i in (1, 2, 3):
            h = F.conv2d(h, w[f"conv{i}.weight"], w[f"conv{i}.bias"], padding=2)
            if norms:
                mean, var, weight, bias, eps = norms[i - 1]
                h = F.batch_norm(h, mean, var, weight, bias, False, 0.0, eps)
            h = F.max_pool2d(F.relu(h), 2, stride=2)
        h = F.relu(F.linear(h.flatten(1), w["fc1.weight"], w["fc1.bias"]))
        return F.linear(h, w["fc2.weight"], w["fc2.bias"])

    return in_batches(forward, images, flip=flip)


def _record_speed(sub, speed) -> None:
    """The speed switches the training chose (kit.a2.train's probe) as a metric: the chosen step's seconds, with
    the precision and layout. The record comes from the sandbox, where the student's code also ran, so only
    well-formed values are kept: it informs the report, it grades nothing."""
    if not isinstance(speed, dict):
        return
    precision, layout, times = speed.get("precision"), speed.get("channels_last"), speed.get("step_s")
    if precision not in ("fp32", "bf16") or not isinstance(layout, bool):
        return
    chosen = f"{precision} {'channels_last' if layout else 'contiguous'}"
    seconds = times.get(chosen) if isinstance(times, dict) else None
    if isinstance(seconds, (int, float)) and 0 < seconds < 3600:  # step times exist only where a probe ran
        cached = speed.get("why") == "cached probe"
        detail = dict(precision=precision, channels_last=layout, cached=cached)
        if speed.get("eval_batch_size") in EVAL_BATCH_SIZES:
            detail["eval_batch_size"] = speed["eval_batch_size"]
        sub.record("training step (s)", seconds, **detail)


@check(points=3, tier="train", timeout=150, recipe="a2.small")
def train_cifar_small(sub):
    """The course CNN trained by your epoch on 10,000 CIFAR-10 images ({epochs} epochs, batch {batch_size}) beats chance clearly."""
    _train_recipe(sub, "the course CNN on a 10k subset ({epochs} epochs)")


# not in a notebook test cell: a second CIFAR-10 training of minutes: graded by the CLI, the notebook runs it as an experiment
@check(
    points=2,
    tier="train",
    timeout=150,
    in_notebook=False,
    recipe="a2.small_standardized",
)
def train_cifar_small_standardized(sub):
    """With standardized inputs, the same short training reaches a clearly higher test accuracy."""
    _train_recipe(sub, "the course CNN with standardized inputs on a 10k subset ({epochs} epochs)")


def _train_recipe(sub, what, device="cpu"):
    """Train with the check's recipe and expect its threshold for the CIFAR-10 copy at hand."""

    found = sub.recipe
    source = "any" if "any" in found.threshold else data_scripts.cifar10_source()  # where the threshold names the copy
    _train_and_expect(sub, found.threshold_for(source), what.format(**found.settings), device=device, **found.settings)


# not in a notebook test cell: full tier: hours on a CPU, graded by the CLI
@check(points=3, tier="full", timeout=4 * 3600, in_notebook=False, recipe="a2.full_vanilla")
def train_cifar_full_vanilla(sub):
    """The course CNN (no improvement) reaches {threshold} test accuracy on the full CIFAR-10 at the epoch (of {epochs}) with the
    best accuracy on a validation split of the training images; the test set is read once, by that epoch's model."""
    _train_recipe(sub, "the vanilla course CNN", device="auto")


# not in a notebook test cell: full tier: hours on a CPU, graded by the CLI
@check(points=3, tier="full", timeout=8 * 3600, in_notebook=False, recipe="a2.full_improved")
def train_cifar_full_improved(sub):
    """With all the improvements, the course CNN reaches {threshold} test accuracy on the full CIFAR-10 (kit.a2.FULL_IMPROVED: {epochs} epochs, one-cycle schedule)."""
    _train_recipe(sub, "the course CNN with all the improvements", device="auto")
