"""Assignment 3, what the grader runs in its sandbox.

Drivers run the student's code where it lives (the grader's sandbox) and return data (tensors, numbers, names),
never a verdict. The judge (autograder/checks/a3_transformers.py) builds its oracles from the weights it chose or
read back, and scores the predictions with test labels the sandbox never sees. It calls them as
"autograder.sandbox.drivers.a3:<name>".
"""

from __future__ import annotations

import torch

from kit.a3.attention_maps import attend
from kit.a3.training import count_parameters, load, train_vit
from kit.loops import predict

from .common import set_parameters  # noqa: F401 (the a3 checks set a module's weights through it)


def parameter_of(model, attr: str):
    """What `model.<attr>` is, as data: {"requires_grad", "is_parameter" (an nn.Parameter), "name": its name among
    model.named_parameters() (None when it is none of them: a buffer, a plain tensor, a copy)}; None when the
    attribute is missing or not a tensor."""
    value = getattr(model, attr, None)
    if not isinstance(value, torch.Tensor):
        return None
    name = next((n for n, p in model.named_parameters() if p is value), None)
    return {
        "requires_grad": bool(value.requires_grad),
        "is_parameter": isinstance(value, torch.nn.Parameter),
        "name": name,
    }


def attention_call(module, x) -> dict:
    """A self-attention module called as the course calls it, forward(x): {"out": what it returns (the output
    alone where it returns a pair), "weights": its attention weights, or None where they cannot be read}. The
    kit's keyword return_attention is used only where forward takes it (kit.a3.attention_maps.attend)."""

    out, weights = attend(module, x)
    return {"out": out, "weights": weights}


def raised(func, *args, **kwargs):
    """Call func(*args, **kwargs): None when it returns, else the exception's class names (its MRO, most
    specific first) and message. NotImplementedError propagates (the exercise is not done yet)."""
    try:
        func(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as err:
        try:
            message = str(err)
        except Exception:
            message = ""
        return {"classes": [c.__name__ for c in type(err).__mro__], "message": message[:500]}
    return None


def vit_predictions(vit, dataset="mnist", data=None, **kw) -> dict:
    """Train the student's ViT with train_vit (keywords as train_vit's); logits of the trained model on the test
    images (whose labels the sandbox does not have), the training losses, epochs and seconds, for the judge; "model"
    (a handle) is the trained model, from whose weights the judge recomputes the logits."""

    data = data if data is not None else load(dataset)
    model, hist = train_vit(vit, dataset, data=data, **kw)
    return {
        "model": model,
        "logits": predict(model, data[2]),
        "train_loss": hist.train_loss,
        "epochs": len(hist.train_loss),
        "seconds": hist.seconds[-1] if hist.seconds else 0.0,
        "parameters": count_parameters(model),
    }
