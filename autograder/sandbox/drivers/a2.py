"""Assignment 2, what the grader runs in its sandbox, next to the student's code.

Drivers return data (predictions, shapes, what a probe saw), never a verdict: the judge
(autograder/checks/a2_cnn.py) holds the test labels and compares. The checks call them as
"autograder.sandbox.drivers.a2:<name>".
"""

from __future__ import annotations

import torch
from torch import nn

from kit.a2.training import train

from .common import set_parameters  # noqa: F401 (the a2 checks set a CourseCNN's weights through it)


def cifar_predictions(cnn, training, every_epoch: bool = False, **kw) -> dict:
    """Train the student's CourseCNN with `train` and the kit recipe `kw` (in the sandbox the test images come
    without labels); the logits on the test images after the last epoch (and after every epoch when
    `every_epoch`), the training curve the student's epoch reported, and the speed switches train chose ("speed":
    precision, channels_last, why, the probe's step times). With `validation` in `kw`, "logits" are those of the
    epoch of best validation accuracy, the only time the test images are read. "model" (a handle for the judge)
    is the trained model those logits come from, and "test_inputs" what the test images go through before it
    (`train`'s `test_inputs`): the judge recomputes the logits from the model's weights."""
    logits, inputs = [], {}
    model, hist = train(cnn, training, test_logits=logits, test_inputs=inputs, **kw)
    out = {
        "model": model,
        "test_inputs": inputs,
        "logits": logits[-1] if logits else None,
        "epochs": len(hist.train_loss),
        "train_loss": list(hist.train_loss),
        "seconds": list(hist.seconds),
        "speed": {
            k: v
            for k, v in hist.speed.items()
            if k in ("precision", "channels_last", "why", "step_s", "eval_batch_size")
        },
    }
    if every_epoch:
        out["epoch_logits"] = logits
    return out


class ModeProbe(nn.Module):
    """Records (train mode, gradients enabled) each time the model it sits in runs; passes its input through."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, torch.is_grad_enabled()))
        return x


def probe_model():
    """(model, probe): a tiny classifier of (N, 3, 2, 2) inputs into PROBE_CLASSES classes, with a ModeProbe
    inside. Ten classes, as CIFAR-10: an epoch that also computes a top-5 accuracy (the course's) runs on it."""
    torch.manual_seed(0)
    probe = ModeProbe()
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), probe, nn.Linear(8, PROBE_CLASSES)), probe


PROBE_CLASSES = 10


def layer_table_test_network():
    """A small network unlike the course CNN (nesting, a non-square kernel, a lazy layer) on (1, 28, 36) inputs."""
    net = nn.Sequential(
        nn.Conv2d(1, 6, 3, stride=2, padding=1),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Sequential(nn.Conv2d(6, 10, (3, 5)), nn.ReLU()),
        nn.Flatten(),
        nn.LazyLinear(7),
    )
    net(torch.zeros(1, 1, 28, 36))
    return net


@torch.no_grad()
def leaf_trace(model, x) -> list:
    """[(name, output shape)] of the elementary layers of `model` (modules without sub-modules) in the order
    they run on x, seen by forward hooks; the model stays in its mode."""
    order, hooks = [], []
    for name, m in model.named_modules():
        if not list(m.children()):
            hooks.append(
                m.register_forward_hook(
                    lambda mod, i, o, name=name: order.append(
                        (name, tuple(o.shape) if isinstance(o, torch.Tensor) else None)
                    )
                )
            )
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return order


OP_TRACE_LIMIT = 2000


@torch.no_grad()
def op_trace(model, x) -> dict:
    """The torch operations one forward pass of `model` on x runs, whatever API calls them (nn.Conv2d modules
    or F.conv2d on the model's own nn.Parameters): {"ops": [{"op": name, "in": shape of the first tensor
    argument, "out": output shape, "weight": shape of the second tensor argument (conv2d, linear), "padding",
    "p" (dropout)}], "error": what the forward raised, or None}. Only operations called from outside torch are
    seen (F.relu, not the torch.relu inside it); the model stays in its mode."""
    from torch.overrides import TorchFunctionMode

    ops = []

    def plain_arg(value):
        if isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
            return tuple(value)
        return None

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if isinstance(out, torch.Tensor) and out.dim() > 0 and len(ops) < OP_TRACE_LIMIT:
                name = getattr(func, "__name__", "") or "?"
                entry = {
                    "op": name,
                    "out": tuple(out.shape),
                    "in": tuple(args[0].shape) if args and isinstance(args[0], torch.Tensor) else None,
                }
                if name in ("conv2d", "linear") and len(args) > 1 and isinstance(args[1], torch.Tensor):
                    entry["weight"] = tuple(args[1].shape)
                if name == "conv2d":
                    entry["padding"] = plain_arg(kwargs.get("padding", args[4] if len(args) > 4 else 0))
                if "dropout" in name:
                    entry["p"] = plain_arg(kwargs.get("p", args[1] if len(args) > 1 else 0.5))
                ops.append(entry)
            return out

    error = None
    try:
        with Recorder():
            model(x)
    except Exception as err:  # the judge turns it into a hint (the operations run up to the failure)
        error = f"{type(err).__name__}: {err}"[:600]
    return {"ops": ops, "error": error}


def forward_channels_last(model, x):
    """model(x) on a batch in the channels_last memory layout (the kit's training layout), or None when the
    forward refuses that layout (then `train` uses the contiguous one)."""
    try:
        return model(x.contiguous(memory_format=torch.channels_last))
    except RuntimeError:
        return None


def generator(seed: int) -> torch.Generator:
    """A torch.Generator seeded with `seed` (for the student's random_crop_flip)."""
    return torch.Generator().manual_seed(seed)


def plain(value):
    """`value` with tuple subclasses (torch.Size, named tuples) turned into tuples, recursively: what a student's
    function returns, as plain data the channel carries."""
    if isinstance(value, torch.Size):
        return tuple(int(v) for v in value)
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value
