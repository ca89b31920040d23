"""The judge's own forward passes: a trained network's outputs recomputed from the weights its training sent back.

A training runs in the sandbox, next to the student's code, and its outputs on the test images come from there
too. The test labels of MNIST, Fashion-MNIST and CIFAR-10 are public, so a forward that looks the test images up
in a table of them would score. The checks score outputs the judge computes itself instead, with torch's own
functions, from the trained model's parameters and buffers (`Remote.structure()`): what the sandbox's forward
returns plays no part beyond a hint when the two disagree.
"""

import torch
import torch.nn.functional as F

from autograder.api import CheckFailed, expect
from autograder.sandbox.client import is_module

# the layers the judge knows how to run itself: a network made of them is recomputed from its weights
_RUNS = {
    "Tanh": lambda x, c: torch.tanh(x),
    "ReLU": lambda x, c: F.relu(x),
    "Sigmoid": lambda x, c: torch.sigmoid(x),
    "GELU": lambda x, c: F.gelu(x, approximate=c.get("approximate", "none")),
    "LeakyReLU": lambda x, c: F.leaky_relu(x, c.get("negative_slope", 0.01)),
    "Flatten": lambda x, c: x.flatten(c.get("start_dim", 1), c.get("end_dim", -1)),
    "Softmax": lambda x, c: torch.softmax(x, c.get("dim", 1)),
    "LogSoftmax": lambda x, c: torch.log_softmax(x, c.get("dim", 1)),
    "Dropout": lambda x, c: x,  # evaluation mode
    "Identity": lambda x, c: x,
}


def layered_logits(model, X, what):
    """The outputs of the student's nn.Module `model` (a handle in the sandbox) on X, computed by the judge from the
    model's weights: its layers run in the order they are registered (nn.Sequential's), each with torch's own
    function. What the sandbox's forward returns plays no part, so a forward that looks answers up cannot help."""
    expect(is_module(model), f"{what} should be an nn.Module")
    layers = model.structure()["layers"]
    names = [layer["name"] for layer in layers]
    out = X.double()
    for layer in layers:
        name = layer["name"]
        inner = any(n != name and (name == "" or n.startswith(name + ".")) for n in names)
        label = f"{what}'s layer {name or '(the model itself)'} ({layer['class']})"
        if inner:
            expect(
                not layer["params"],
                f"{label} holds parameters of its own besides its layers: the grader recomputes the trained "
                "network from its layers (nn.Linear and activations, as in nn.Sequential)",
            )
            continue
        try:
            if layer["class"] == "Linear":
                bias = layer["params"].get("bias")
                out = F.linear(out, layer["params"]["weight"].double(), None if bias is None else bias.double())
            elif layer["class"] in _RUNS and not layer["params"]:
                out = _RUNS[layer["class"]](out, layer["config"])
            else:
                raise CheckFailed(
                    f"the grader recomputes the trained network from its layers and does not know {label}: build "
                    f"it from {', '.join(['Linear', *_RUNS])} (the course's network is Linear -> Tanh -> Linear)"
                )
        except (KeyError, RuntimeError) as err:
            raise CheckFailed(
                f"the grader could not run {label} in the order the layers are registered ({err}): build the "
                "network as nn.Sequential, in the order of its forward"
            ) from None
    return out


@torch.no_grad()
def in_batches(forward, X, batch_size=500, flip=False):
    """forward(X) computed batch by batch (float32, no graph: the memory of a CNN's feature maps stays bounded);
    `flip`: the mean of the outputs of each image and of its mirror image, as test-time flip averaging does."""
    outs = []
    for start in range(0, len(X), batch_size):
        xb = X[start : start + batch_size]
        out = forward(xb)
        outs.append((out + forward(xb.flip(-1))) / 2 if flip else out)
    return torch.cat(outs)


def agreement_note(own, recomputed) -> str:
    """A note for a failure message when the classes the sandbox's forward predicted differ from those of the
    judge's recomputation (a forward that does more than its layers, or a test transform that is not per-channel)."""
    if not isinstance(own, torch.Tensor) or own.shape != recomputed.shape:
        return ""
    same = float((own.argmax(1) == recomputed.argmax(1)).double().mean())
    if same >= 0.99:
        return ""
    return (
        f" (the grader recomputed the outputs from the trained weights with the course's layers; your own forward "
        f"predicts the same class on only {same:.1%} of the test images)"
    )
