"""Assignment 3, attention maps: where the class token looks, block by block and head by head, read from any ViT
that follows the assignment's interface (a Block's attention called with return_attention=True)."""

from __future__ import annotations

import math

import torch

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


def attention_of(block):
    """A Block's multi-head self-attention: by one of ATTENTION_NAMES, else the only child whose forward takes
    `return_attention`."""
    import inspect

    for name in ATTENTION_NAMES:
        if isinstance(getattr(block, name, None), torch.nn.Module):
            return getattr(block, name)
    found = []
    for child in block.children():
        try:
            if "return_attention" in inspect.signature(child.forward).parameters:
                found.append(child)
        except (TypeError, ValueError):
            continue
    if len(found) != 1:
        raise ValueError(
            f"{type(block).__name__} has no attention module named {' / '.join(ATTENTION_NAMES[:5])}, "
            f"... and {len(found)} children take return_attention"
        )
    return found[0]


@torch.no_grad()
def attention_maps(model, images):
    """Attention weights of every block for `images`: list of (B, H, N+1, N+1) tensors, one per block.

    Hooks read the tokens entering each block's `attn` (or `mhsa`, `attention`, ...) and ask it again with
    return_attention=True, so any ViT that follows the assignment's interface works.
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
    return [mod(x, return_attention=True)[1] for mod, x in inputs]


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

    from .plots import _save, plt

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

    from .plots import _save, plt

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
