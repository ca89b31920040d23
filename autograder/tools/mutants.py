"""python -m autograder.tools.mutants: typical student mistakes applied to the reference, and which checks catch them.

Each mutant replaces snippets of one reference module (an instructor tool: it reads solutions/, the grader never
does) and names the checks that must catch it. It is killed when each of those checks fails (a wrong answer, not
an error of the grader) with every word of its hint in the message. The command grades every mutant with the whole tier, lists what each lost, and exits 1 when one
is alive or caught only by another check (a kill rate below 100 %). tests/test_mutants.py grades each mutant as
its own test, its named checks only (`kill(..., only_named=True)`): the same verdict, faster.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..runner import grade, shared_sandboxes

ROOT = Path(__file__).resolve().parents[2]


class StaleMutant(Exception):
    """The reference no longer holds a mutant's snippet exactly once: the mutant must be updated."""


@dataclass(frozen=True)
class Mutant:
    assignment: str
    module: str
    name: str
    old: str
    new: str
    checks: tuple = ()  # the checks that must catch it: each fails, with the hint
    hint: str | tuple = ""  # words (one string, or several) each of those checks' messages must contain
    more: tuple = ()  # further (old, new) replacements in the same module: a mistake written over several places

    @property
    def id(self) -> str:
        return f"{self.assignment}:{self.name.replace(' ', '_')}"

    @property
    def replacements(self) -> tuple:
        return ((self.old, self.new), *self.more)

    @property
    def words(self) -> tuple:
        return (self.hint,) if isinstance(self.hint, str) else tuple(self.hint)


A1 = "a1_intro_nn"
MUTANTS = [
    Mutant(
        A1,
        "mlp.py",
        "gradients not averaged over the batch",
        'd_ytilde = (outputs["yhat"] - Y) / N',
        'd_ytilde = outputs["yhat"] - Y',
        checks=("backward",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "transposed hidden weights in forward",
        'X @ params["Wh"].T',
        'X @ params["Wh"].reshape(params["Wh"].shape[1], -1)',
        checks=("forward",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "softmax without the max shift",
        "shifted = ytilde - ytilde.max(dim=1, keepdim=True).values",
        "shifted = ytilde",
        checks=("softmax_stable",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "softmax over the wrong axis",
        "return e / e.sum(dim=1, keepdim=True)",
        "return e / e.sum(dim=0, keepdim=True)",
        checks=("softmax_stable",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "tanh derivative written 1 - h",
        'd_h * (1 - outputs["h"] ** 2)',
        'd_h * (1 - outputs["h"])',
        checks=("backward",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "loss summed instead of averaged",
        ".sum(dim=1).mean()",
        ".sum(dim=1).sum()",
        checks=("loss_accuracy",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "bias gradient averaged instead of summed",
        '"by": d_ytilde.sum(dim=0)',
        '"by": d_ytilde.mean(dim=0)',
        checks=("backward",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "hidden bias gradient forgotten",
        '"bh": d_htilde.sum(dim=0)',
        '"bh": 0 * d_htilde.sum(dim=0)',
        checks=("backward",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "gradient ascent in sgd",
        "params[name] - eta * grads[name]",
        "params[name] + eta * grads[name]",
        checks=("sgd",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "weights drawn from N(0, 1)",
        '"Wh": torch.randn(nh, nx) * 0.3',
        '"Wh": torch.randn(nh, nx)',
        checks=("init_params",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "accuracy against the wrong axis",
        "(Yhat.argmax(dim=1) == Y.argmax(dim=1))",
        "(Yhat.argmax(dim=0) == Y.argmax(dim=0))",
        checks=("loss_accuracy",),
    ),
    Mutant(
        A1,
        "mlp.py",
        "forward skips the hidden non-linearity",
        "h = torch.tanh(htilde)",
        "h = htilde",
        checks=("forward",),
    ),
    Mutant(
        A1,
        "mlp_torch.py",
        "grads not zeroed after the autograd step",
        "            p.grad.zero_()\n",
        "            pass\n",
        checks=("autograd_version",),
    ),
    Mutant(
        A1,
        "mlp_torch.py",
        "autograd update recorded by autograd (no torch.no_grad)",
        "    with torch.no_grad():\n        for p in params.values():\n            p -= eta * p.grad\n            p.grad.zero_()",
        "    for name, p in list(params.items()):\n        params[name] = p - eta * p.grad",
        checks=("autograd_version",),
    ),
    Mutant(
        A1,
        "mlp_torch.py",
        "softmax applied before CrossEntropyLoss",
        "L = loss(Ytilde, labels)",
        "L = loss(torch.softmax(Ytilde, dim=1), labels)",
        checks=("nn_version",),
    ),
    Mutant(
        A1,
        "mlp_torch.py",
        "ReLU instead of tanh in the nn model",
        "nn.Linear(nx, nh), nn.Tanh(), nn.Linear(nh, ny)",
        "nn.Linear(nx, nh), nn.ReLU(), nn.Linear(nh, ny)",
        checks=("nn_version",),
    ),
    Mutant(A1, "mlp_torch.py", "optimizer learning rate ignored", "lr=eta)", "lr=0.1)", checks=("optim_version",)),
    Mutant(
        A1,
        "mlp_torch.py",
        "sgd_nn forgets to zero the gradients",
        "    model.zero_grad()\n",
        "",
        checks=("nn_version",),
    ),
    Mutant(
        A1,
        "mnist_mlp.py",
        "MNIST MLP without biases",
        "nn.Linear(784, nh), nn.Tanh(), nn.Linear(nh, 10)",
        "nn.Linear(784, nh, bias=False), nn.Tanh(), nn.Linear(nh, 10)",
        checks=("mnist_mlp_shape",),
    ),
    Mutant(A1, "svm.py", "C ignored", "SVC(kernel=kernel, C=C)", "SVC(kernel=kernel)", checks=("svm_accuracies",)),
    Mutant(
        A1,
        "svm.py",
        "test accuracy measured on the training set",
        "clf.score(Xtest, ytest)",
        "clf.score(Xtrain, ytrain)",
        checks=("svm_accuracies",),
    ),
]

A2 = "a2_cnn"
MUTANTS += [
    Mutant(
        A2,
        "layers.py",
        "padding counted once in the conv size formula",
        "(size + 2 * padding - kernel) // stride + 1",
        "(size + padding - kernel) // stride + 1",
        checks=("conv_output_size",),
    ),
    Mutant(
        A2,
        "layers.py",
        "bias counted when bias=False",
        "+ (out_channels if bias else 0)",
        "+ out_channels",
        checks=("weight_counts",),
    ),
    Mutant(
        A2,
        "layers.py",
        "halving pool padded by kernel // 2",
        "return (kernel - 1) // 2, 2",
        "return kernel // 2, 2",
        checks=("same_size_and_halving",),
    ),
    Mutant(
        A2,
        "layers.py",
        "halving pool settings in the order (stride, padding)",
        "return (kernel - 1) // 2, 2",
        "return 2, (kernel - 1) // 2",
        checks=("same_size_and_halving",),
    ),
    Mutant(
        A2,
        "cnn.py",
        "fully-convolutional network without its 4x4 convolution",
        "return 10, h - 4 + 1, w - 4 + 1",
        "return 10, h, w",
        checks=("fully_convolutional",),
    ),
    Mutant(
        A2,
        "cnn.py",
        "fully-convolutional output shape with the pooling rounding up",
        "h, w = h // 2, w // 2",
        "h, w = (h + 1) // 2, (w + 1) // 2",
        checks=("fully_convolutional",),
    ),
    Mutant(
        A2,
        "cnn.py",
        "layer table leaves the model in eval mode",
        "model.train(was_training)",
        "model.train()",
        checks=("layer_table",),
    ),
    Mutant(
        A2,
        "layers.py",
        "receptive field ignores the stride product",
        "field += (kernel - 1) * jump",
        "field += kernel - 1",
        checks=("receptive_field",),
    ),
    Mutant(
        A2,
        "cnn.py",
        "fc layer of 1024 units instead of 1000",
        "nn.Linear(64 * 4 * 4, 1000)",
        "nn.Linear(64 * 4 * 4, 1024)",
        checks=("course_cnn",),
    ),
    Mutant(
        A2,
        "cnn.py",
        "batch norm switch ignored",
        "            layers.append(nn.BatchNorm2d(out_channels))\n",
        "            pass\n",
        checks=("course_cnn",),
    ),
    Mutant(
        A2,
        "cnn.py",
        "batch dimension kept in the layer table",
        "tuple(output.shape[1:])",
        "tuple(output.shape)",
        checks=("layer_table",),
    ),
    Mutant(
        A2,
        "training.py",
        "evaluation left in train mode",
        "model.train(training)",
        "model.train()",
        checks=("epoch_evaluate",),
    ),
    Mutant(
        A2,
        "training.py",
        "loss weighted by the wrong count",
        "total_loss += loss.item() * len(targets)",
        "total_loss += loss.item() * count",
        checks=("epoch_evaluate",),
    ),
    Mutant(
        A2,
        "training.py",
        "optimizer.zero_grad forgotten",
        "                optimizer.zero_grad()\n",
        "",
        checks=("epoch_train",),
    ),
    Mutant(
        A2,
        "training.py",
        "standardized with the batch's own statistics",
        "return standardize(X, mean.to(X.device), std.to(X.device)) if standardize_inputs else X",
        "return standardize(X, *channel_stats(X)) if standardize_inputs else X",
        checks=("standardization",),
    ),
    Mutant(
        A2,
        "training.py",
        "one flip decision for the whole batch",
        "flip = torch.rand(N, generator=generator).to(dev) < 0.5",
        "flip = torch.rand(1, generator=generator).expand(N).to(dev) < 0.5",
        checks=("random_crop_flip",),
    ),
    Mutant(
        A2,
        "training.py",
        "augmentation applied at test time too",
        "return standardize(X, mean.to(X.device), std.to(X.device)) if standardize_inputs else X",
        "X = standardize(X, mean.to(X.device), std.to(X.device)) if standardize_inputs else X\n        return random_crop_flip(X) if augment else X",
        checks=("augment_train_only",),
    ),
    Mutant(
        A2,
        "cnn.py",
        "dropout switch ignored",
        "classifier.append(nn.Dropout(dropout))",
        "classifier.append(nn.Identity())",
        checks=("train_eval_modes",),
    ),
    Mutant(
        A2,
        "training.py",
        "ExponentialLR gamma ignored",
        "ExponentialLR(optimizer, gamma=gamma)",
        "ExponentialLR(optimizer, gamma=0.95)",
        checks=("lr_schedule",),
    ),
    Mutant(
        A2,
        "cnn.py",
        "ReLU after the last Linear (clipped logits)",
        "classifier.append(nn.Linear(1000, 10))",
        "classifier += [nn.Linear(1000, 10), nn.ReLU()]",
        checks=("course_cnn",),
        hint="the logits must not go through an activation",
    ),
    Mutant(
        A2,
        "training.py",
        "accuracy in percent",
        "return total_loss / count, correct / count",
        "return total_loss / count, 100 * correct / count",
        checks=("epoch_evaluate", "epoch_train"),
        hint="a percentage?",
    ),
]

A3 = "a3_transformers"
MUTANTS += [
    Mutant(
        A3,
        "attention.py",
        "no scaling",
        "scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])",
        "scores = Q @ K.transpose(-2, -1)",
        checks=("attention_function", "self_attention", "multi_head_attention"),
    ),
    Mutant(
        A3,
        "attention.py",
        "softmax over queries",
        "weights = scores.softmax(dim=-1)",
        "weights = scores.softmax(dim=-2)",
        checks=("attention_function", "multi_head_attention"),
    ),
    Mutant(
        A3,
        "attention.py",
        "no output projection",
        "        out = self.proj(out)\n        return (out, weights) if return_attention else out\n        ### END SOLUTION\n\n\nclass Multi",
        "        return (out, weights) if return_attention else out\n        ### END SOLUTION\n\n\nclass Multi",
        checks=("self_attention",),
    ),
    Mutant(
        A3,
        "attention.py",
        "heads split wrong",
        "reshape(B, N, 3, self.num_heads, self.head_dim)",
        "reshape(B, N, self.num_heads, 3, self.head_dim).transpose(2, 3)",
        checks=("multi_head_attention",),
    ),
    Mutant(
        A3,
        "attention.py",
        "heads concat wrong",
        "out = out.transpose(1, 2).reshape(B, N, C)",
        "out = out.reshape(B, N, C)",
        checks=("multi_head_attention",),
    ),
    Mutant(
        A3,
        "attention.py",
        "no divisibility check",
        'raise ValueError(f"embed_dim={embed_dim} is not divisible',
        'print(f"',
        checks=("heads_must_divide",),
    ),
    Mutant(
        A3,
        "vit.py",
        "patches unordered",
        "return self.proj(x).flatten(2).transpose(1, 2)",
        "return self.proj(x).reshape(len(x), -1, self.proj.out_channels)",
        checks=("patch_embed",),
    ),
    Mutant(A3, "vit.py", "relu", "self.act = nn.GELU()", "self.act = nn.ReLU()", checks=("mlp", "block")),
    Mutant(
        A3, "vit.py", "gelu tanh", "self.act = nn.GELU()", 'self.act = nn.GELU(approximate="tanh")', checks=("mlp",)
    ),
    Mutant(
        A3,
        "vit.py",
        "post norm",
        "x = x + self.attn(self.norm1(x))\n        x = x + self.mlp(self.norm2(x))",
        "x = self.norm1(x + self.attn(x))\n        x = self.norm2(x + self.mlp(x))",
        checks=("block",),
    ),
    Mutant(
        A3,
        "vit.py",
        "no mlp residual",
        "x = x + self.mlp(self.norm2(x))",
        "x = self.mlp(self.norm2(x))",
        checks=("block",),
    ),
    Mutant(
        A3,
        "vit.py",
        "sin cos swapped",
        "pe[:, 0::2] = torch.sin(position * frequency)",
        "pe[:, 0::2] = torch.cos(position * frequency)",
        checks=("positional_embeddings", "vit_positions"),
    ),
    Mutant(
        A3,
        "vit.py",
        "sinusoidal trained",
        'self.register_buffer("pos_embed", get_positional_embeddings(num_patches + 1, embed_dim)[None])',
        "self.pos_embed = nn.Parameter(get_positional_embeddings(num_patches + 1, embed_dim)[None])",
        checks=("vit_positions", "vit_parameters"),
    ),
    Mutant(
        A3,
        "vit.py",
        "no positions",
        "tokens = torch.cat([cls, tokens], dim=1) + self.pos_embed",
        "tokens = torch.cat([cls, tokens], dim=1)",
        checks=("vit_forward",),
    ),
    Mutant(
        A3,
        "vit.py",
        "mean pooling",
        "return self.head(tokens[:, 0])",
        "return self.head(tokens.mean(1))",
        checks=("vit_forward",),
    ),
    Mutant(
        A3,
        "vit.py",
        "no final norm",
        "tokens = self.norm(self.blocks(tokens))",
        "tokens = self.blocks(tokens)",
        checks=("vit_forward",),
    ),
    # the sandbox's `raised` driver: the judge sees only the exception's class names and message
    Mutant(
        A3,
        "attention.py",
        "TypeError where a ValueError is asked for",
        'raise ValueError(f"embed_dim',
        'raise TypeError(f"embed_dim',
        checks=("heads_must_divide",),
        hint="raised TypeError, expected a ValueError",
    ),
    # an attention kept in a plain list is no submodule: the check names the attribute the docstring asks for
    Mutant(
        A3,
        "vit.py",
        "attention kept in a plain list",
        "self.attn = MultiHeadsSelfAttention(embed_dim, num_heads)",
        "self.parts = [MultiHeadsSelfAttention(embed_dim, num_heads)]",
        checks=("block",),
        more=(("self.attn(", "self.parts[0]("),),
        hint=("Block has no attribute `attn`", "plain list"),
    ),
]

A4 = "a4_gaussian_fit"
SIGMA_GRAD = '    return (dg_dq[..., None] * outputs["d"] ** 2).sum(dim=(0, 1))\n'
MUTANTS += [
    Mutant(
        A4, "gaussian_fit.py", "missing factor 2", "dg_df = 2 * r", "dg_df = r", checks=("backward",), hint="factor 2"
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "sign of dg/dmu",
        '"mu": -dg_dd.sum(dim=(0, 1))',
        '"mu": dg_dd.sum(dim=(0, 1))',
        checks=("backward",),
        hint="wrong sign",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "dg/dp returned as dg/dsigma",
        '"sigma": dg_dp * (-2) * params["sigma"] ** -3',
        '"sigma": dg_dp',
        checks=("backward",),
        hint="dg/dp",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "Sigma = diag(sigma^2)",
        'q = (d ** 2 * params["sigma"] ** -2).sum(dim=-1)',
        'q = (d ** 2 * params["sigma"] ** 2).sum(dim=-1)',
        checks=("gaussian_image",),
        hint="sigma^2",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "mean instead of sum",
        "return ((f - image) ** 2).sum()",
        "return ((f - image) ** 2).mean()",
        checks=("loss",),
        hint="SUM",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "grid in (x, y) order",
        'indexing="ij"), dim=-1)',
        'indexing="ij"), dim=-1).flip(-1)',
        checks=("pixel_grid",),
        hint="row index",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "loss recorded after the step",
        "        losses.append(float(g.detach()))\n        params = {k: params[k] - lr[k] * grads[k] for k in params}",
        "        params = {k: params[k] - lr[k] * grads[k] for k in params}\n        losses.append(float(forward(params, grid, image)[0]))",
        checks=("fit_manual",),
        hint="before updating",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "gradient ascent",
        "params[k] - lr[k] * grads[k]",
        "params[k] + lr[k] * grads[k]",
        checks=("fit_manual",),
        hint="uphill",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "fit_manual on autograd",
        "    ### BEGIN SOLUTION\n    grid = pixel_grid(*image.shape, dtype=image.dtype)\n    params = {k: v.clone() for k, v in init.items()}",
        "    return fit_autograd(image, init, lr, steps)\n    ### BEGIN SOLUTION\n    if 0:\n        params = {}",
        checks=("fit_manual",),
        hint="torch.no_grad()",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "reparametrized fit returns s",
        '"sigma": torch.exp(free["s"]).detach()}',
        '"sigma": free["s"].detach()}',
        checks=("fit_reparametrized",),
        hint="exp(s)",
    ),
    # the hand-derived dg/dSigma (its diagonal)
    Mutant(
        A4,
        "gaussian_fit.py",
        "dg/dSigma without its factor 2",
        '    dg_dq = -2 * outputs["r"] * outputs["f"]',
        '    dg_dq = -outputs["r"] * outputs["f"]',
        checks=("backward_Sigma",),
        hint="factor 2",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "dg/dSigma with the wrong sign",
        '    dg_dq = -2 * outputs["r"] * outputs["f"]',
        '    dg_dq = 2 * outputs["r"] * outputs["f"]',
        checks=("backward_Sigma",),
        hint="wrong sign",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "dg/dSigma chained on to sigma",
        SIGMA_GRAD,
        SIGMA_GRAD.replace("return ", "return -2 * params['sigma'] ** -3 * "),
        checks=("backward_Sigma",),
        hint="dg/dsigma",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "dg/dSigma as a full matrix",
        SIGMA_GRAD,
        '    d = outputs["d"]\n    return (dg_dq[..., None, None] * d[..., :, None] * d[..., None, :]).sum(dim=(0, 1))\n',
        checks=("backward_Sigma",),
        hint="(2,)",
    ),
    # what only the sandbox sees, reported by kit.a4's drivers: an input changed in place, a result that still
    # requires grad, a dtype ignored
    Mutant(
        A4,
        "gaussian_fit.py",
        "fit_manual changes init in place",
        "    params = {k: v.clone() for k, v in init.items()}\n    losses = []\n    for _ in range(steps):\n"
        "        g, outputs = forward(params, grid, image)",
        "    params = init\n    losses = []\n    for _ in range(steps):\n        g, outputs = forward(params, grid, image)",
        more=(
            (
                "        params = {k: params[k] - lr[k] * grads[k] for k in params}",
                "        for k in params:\n            params[k].sub_(lr[k] * grads[k])",
            ),
        ),
        checks=("fit_manual",),
        hint="changed init['a'] in place",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "fit_autograd returns parameters that require grad",
        "    return {k: v.detach() for k, v in params.items()}, losses",
        "    return params, losses",
        checks=("fit_autograd",),
        hint="still requires grad",
    ),
    Mutant(
        A4,
        "gaussian_fit.py",
        "pixel_grid ignores its dtype",
        "    rows = torch.arange(height, dtype=dtype)\n    cols = torch.arange(width, dtype=dtype)",
        "    rows = torch.arange(height, dtype=torch.float64)\n    cols = torch.arange(width, dtype=torch.float64)",
        checks=("pixel_grid",),
        hint="has dtype torch.float64",
    ),
]


def apply(mutant: Mutant, workdir: Path) -> Path:
    """A copy of the reference assignment with the mutant applied; returns the submission folder."""
    sub = workdir / "submission"
    if sub.exists():
        shutil.rmtree(sub)
    shutil.copytree(
        ROOT / "solutions" / mutant.assignment,
        sub / mutant.assignment,
        ignore=shutil.ignore_patterns("*.ipynb", "__pycache__", "runs"),
    )
    path = sub / mutant.assignment / mutant.module
    text = path.read_text()
    for old, new in mutant.replacements:
        if text.count(old) != 1:
            raise StaleMutant(
                f"mutant {mutant.id}: snippet found {text.count(old)} times in "
                f"solutions/{mutant.assignment}/{mutant.module} (expected once): {old[:80]!r}"
            )
        text = text.replace(old, new)
    path.write_text(text)
    return sub


def verdict(mutant: Mutant, results) -> tuple[str, list[str]]:
    """'killed' when each check the mutant names failed (a wrong answer: status 'failed') with every word of its
    hint in the message; 'wrong check' when it lost points but not so; 'alive' when it lost none. Also returns the names of the checks that lost points."""
    lost = [r for r in results if r.score < r.max_score]
    names = [r.name for r in lost]
    if not lost:
        return "alive", names
    caught = {
        r.name
        for r in lost
        if r.name in mutant.checks
        and r.status == "failed"
        and all(w.lower() in r.message.lower() for w in mutant.words)
    }
    if caught != set(mutant.checks):
        return "wrong check", names
    return "killed", names


def kill(mutant: Mutant, workdir: Path, tier: str = "quick", only_named: bool = False):
    """Grade the mutant (only the checks it names when `only_named`); returns (verdict, names of the checks that
    lost points, results)."""
    only = [f"{mutant.assignment}/{c}" for c in mutant.checks] if only_named else None
    results = grade(apply(mutant, Path(workdir)), [mutant.assignment], tier=tier, only=only)
    return (*verdict(mutant, results), results)


def run(assignments: list[str] | None = None, tier: str = "quick", out=None) -> dict[str, int]:
    """Grade every mutant; returns how many were killed, caught by the wrong check (or without the hint), alive."""
    out = out or sys.stdout
    chosen = [m for m in MUTANTS if not assignments or m.assignment in assignments]
    counts = {"killed": 0, "wrong check": 0, "alive": 0}
    # one sandbox for all the mutants: the kit's own variants of the reference, each check still in a fresh child
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp, shared_sandboxes(Path(tmp)):
        for m in chosen:
            status, lost, _ = kill(m, Path(tmp), tier)
            counts[status] += 1
            expect = f" (must fail {', '.join(m.checks)})" if status != "killed" else ""
            print(
                f"{status.upper() if status != 'killed' else status:<11} {m.assignment}/{m.module}: {m.name}"
                f"{'  <- ' + ', '.join(lost) if lost else ''}{expect}",
                file=out,
                flush=True,
            )
    print(
        f"{counts['killed']} of {len(chosen)} mutants killed by the {tier} tier, each by its own check"
        f" ({counts['wrong check']} caught by another check or without the hint, {counts['alive']} alive)",
        file=out,
    )
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.tools.mutants", description=__doc__)
    parser.add_argument("--assignment", action="append", help="assignment folder name(s) (default: all)")
    parser.add_argument("--tier", default="quick", choices=["quick", "train"])
    args = parser.parse_args(argv)
    try:
        counts = run(args.assignment, args.tier)
    except StaleMutant as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1 if counts["alive"] or counts["wrong check"] else 0


if __name__ == "__main__":
    sys.exit(main())
