"""Assignment 3, attention maps: where the class token looks, block by block and head by head, read from any ViT
whose blocks hold an attention module: called as the course calls it, forward(x), its weights read from what it
returns or from the softmax it computes (`attend`)."""

from __future__ import annotations

import inspect
import math

import torch
from torch.overrides import TorchFunctionMode

# The names a Block's attention goes by: the kit's stub's first, then the course notebook's and the usual others.
# The grader (autograder/checks/a3_transformers.py) looks for the same ones.
ATTENTION_NAMES = (
    "attn",
    "mhsa",
    "msa",
    "mha",
    "attention",
    "self_attention",
    "self_attn",
    "attn_layer",
    "attention_layer",
    "multi_head_attention",
    "multihead_attention",
    "mh_attention",
)


def takes_return_attention(module) -> bool:
    """Whether module.forward accepts the kit's optional keyword `return_attention`."""
    try:
        return "return_attention" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


def attention_of(block):
    """A Block's multi-head self-attention: by one of ATTENTION_NAMES, else the only child whose forward takes
    `return_attention`, else the only child whose class is named like an attention."""
    for name in ATTENTION_NAMES:
        if isinstance(getattr(block, name, None), torch.nn.Module):
            return getattr(block, name)
    children = list(block.children())
    found = [c for c in children if takes_return_attention(c)]
    if len(found) != 1:
        found = [c for c in children if "attention" in type(c).__name__.lower()]
    if len(found) != 1:
        raise ValueError(
            f"{type(block).__name__} has no attention module named {' / '.join(ATTENTION_NAMES[:5])}, ..., and no "
            "single child whose class is named like an attention"
        )
    return found[0]


SOFTMAXES = (torch.softmax, torch.nn.functional.softmax, torch.Tensor.softmax, torch.special.softmax)


class _Softmaxes(TorchFunctionMode):
    """Keeps every softmax computed while it is on, as it is computed (a student's attention written any way)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in SOFTMAXES and isinstance(out, torch.Tensor):
            self.seen.append(out)
        return out


def weights_among(seen, x):
    """The attention weights among the softmaxes computed on tokens x (B, N, C): the one (B, N, N) or (B, H, N, N)
    tensor, or H tensors (B, N, N) (heads computed one by one) stacked to (B, H, N, N); None when that is
    ambiguous or there is none."""
    B, N = x.shape[0], x.shape[-2]
    square = [w for w in seen if w.dim() in (3, 4) and w.shape[0] == B and tuple(w.shape[-2:]) == (N, N)]
    if len(square) == 1:
        return square[0]
    if len(square) > 1 and all(w.dim() == 3 and w.shape == square[0].shape for w in square):
        return torch.stack(square, dim=1)
    return None


def attend(module, x):
    """(out, weights) of a self-attention module on tokens x (B, N, C), called as the course calls it. The weights
    (B, N, N) or (B, H, N, N) come from forward(x, return_attention=True) where forward takes that keyword, from
    forward(x) where it returns a pair (out, weights), else from the softmax it computes; None when none of these
    gives them (F.scaled_dot_product_attention never shows its weights)."""
    if takes_return_attention(module):
        result = module(x, return_attention=True)
        if _is_pair(result):
            return result
    with _Softmaxes() as seen:
        result = module(x)
    if _is_pair(result):
        return result
    return result, weights_among(seen.seen, x)


def _is_pair(result) -> bool:
    return isinstance(result, tuple) and len(result) == 2 and all(isinstance(t, torch.Tensor) for t in result)


@torch.no_grad()
def attention_maps(model, images):
    """Attention weights of every block for `images`: list of (B, H, N+1, N+1) tensors, one per block.

    Hooks read the tokens entering each block's `attn` (or `mhsa`, `attention`, ...) and ask it again (`attend`),
    so any ViT whose blocks hold an attention module works.
    """
    inputs = []
    attn = [attention_of(b) for b in model.blocks]
    hooks = [a.register_forward_pre_hook(lambda mod, args: inputs.append((mod, args[0]))) for a in attn]
    was_training = model.training
    model.eval()
    try:
        model(images)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    maps = []
    for mod, x in inputs:
        weights = attend(mod, x)[1]
        if weights is None:
            raise ValueError(
                f"{type(mod).__name__} gives no attention weights: have forward return (out, weights), take "
                "return_attention=True, or compute them with a softmax (F.scaled_dot_product_attention hides them)"
            )
        maps.append(weights if weights.dim() == 4 else weights[:, None])  # one head: (B, 1, N, N)
    return maps


def class_token_attention(maps, grid):
    """How much the class token attends to each patch in the last block, mean over heads: (B, grid, grid)."""
    last = maps[-1].mean(dim=1)  # (B, N+1, N+1)
    return last[:, 0, 1:].reshape(-1, grid, grid)


def attention_rollout(maps, grid):
    """Attention rollout (Abnar & Zuidema, 2020): product over blocks of (mean-over-heads attention + identity),
    rows renormalized; the class token's row, (B, grid, grid). It accounts for the residual connections."""
    result = None
    for a in maps:
        a = a.mean(dim=1)
        a = a + torch.eye(a.shape[-1], device=a.device)
        a = a / a.sum(dim=-1, keepdim=True)
        result = a if result is None else a @ result
    return result[:, 0, 1:].reshape(-1, grid, grid)


def plot_attention(model, images, labels=None, path=None, mean=0.1307, std=0.3081):
    """Images (top), the class token's attention in the last block (middle) and the rollout over all blocks
    (bottom), upsampled to the image size."""
    import torch.nn.functional as F

    from ..plots import _save, plt

    images = images[:8]
    device = next(model.parameters()).device
    maps = [m.cpu() for m in attention_maps(model, images.to(device))]
    grid = int(round(math.sqrt(maps[0].shape[-1] - 1)))
    size = images.shape[-1]
    rows = {"last block": class_token_attention(maps, grid), "rollout": attention_rollout(maps, grid)}
    with torch.no_grad():
        pred = model(images.to(device)).argmax(1).cpu()
    fig, axes = plt.subplots(3, len(images), figsize=(1.6 * len(images), 5.2), squeeze=False)
    for j, img in enumerate(images):
        shown = (img * std + mean).clamp(0, 1).permute(1, 2, 0).squeeze(-1).numpy()
        axes[0, j].imshow(shown, cmap="gray")
        title = f"pred {int(pred[j])}" + (f" (true {int(labels[j])})" if labels is not None else "")
        axes[0, j].set_title(title, fontsize=8)
        for i, (name, att) in enumerate(rows.items(), start=1):
            up = F.interpolate(att[j][None, None], size=(size, size), mode="nearest")[0, 0]
            axes[i, j].imshow(shown, cmap="gray")
            axes[i, j].imshow(up.numpy(), cmap="inferno", alpha=0.6)
            if j == 0:
                axes[i, j].set_ylabel(name, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("attention of the class token to the patches")
    return _save(fig, path)


def head_attention(maps, grid, block=-1):
    """The class token's attention to the patches in one block, head by head: (B, H, grid, grid)."""
    a = maps[block]
    return a[:, :, 0, 1:].reshape(a.shape[0], a.shape[1], grid, grid)


def plot_attention_heads(model, image, label=None, path=None, mean=0.1307, std=0.3081):
    """One image, one row per block, one column per head (and a last column, the mean over heads): where the class
    token looks in that head, over the image. Each map has its own colour scale (its darkest patch gets nothing,
    its brightest the largest weight, written in the title)."""
    import torch.nn.functional as F

    from ..plots import _save, plt

    image = image[None] if image.dim() == 3 else image[:1]
    device = next(model.parameters()).device
    maps = [m.cpu() for m in attention_maps(model, image.to(device))]
    grid = int(round(math.sqrt(maps[0].shape[-1] - 1)))
    size = image.shape[-1]
    nb_blocks, nb_heads = len(maps), maps[0].shape[1]
    shown = (image[0] * std + mean).clamp(0, 1).permute(1, 2, 0).squeeze(-1).numpy()
    with torch.no_grad():
        pred = int(model(image.to(device)).argmax(1))
    fig, axes = plt.subplots(
        nb_blocks, nb_heads + 1, figsize=(1.7 * (nb_heads + 1), 1.8 * nb_blocks + 0.6), squeeze=False
    )
    for b in range(nb_blocks):
        per_head = head_attention(maps, grid, b)[0]  # (H, grid, grid)
        for h in range(nb_heads + 1):
            att = per_head[h] if h < nb_heads else per_head.mean(0)
            up = F.interpolate(att[None, None], size=(size, size), mode="nearest")[0, 0]
            ax = axes[b, h]
            ax.imshow(shown, cmap="gray")
            ax.imshow(up.numpy(), cmap="inferno", alpha=0.6)
            ax.set_title(f"{'head ' + str(h) if h < nb_heads else 'mean'} (max {float(att.max()):.2f})", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if h == 0:
                ax.set_ylabel(f"block {b}", fontsize=9)
    fig.suptitle(f"class token attention per head: pred {pred}" + (f", true {int(label)}" if label is not None else ""))
    return _save(fig, path)
