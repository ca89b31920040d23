"""A vision transformer (ViT) for small images: patches -> tokens -> transformer blocks -> class token -> logits.

Shapes: B images of in_chan x img_size x img_size, patches of patch_size x patch_size, N = (img_size //
patch_size) ** 2 patches, C = embed_dim features per token.
"""
import torch
from torch import nn

from attention import MultiHeadsSelfAttention


class PatchEmbed(nn.Module):
    """Cut the image into non-overlapping patches and map each one linearly to embed_dim features.

    A Conv2d with kernel_size = stride = patch_size does exactly that: one output position per patch.

    Attributes:
        proj (or projection): nn.Conv2d(in_chan, embed_dim, kernel_size=patch_size, stride=patch_size) with bias.
    """

    def __init__(self, in_chan, patch_size, embed_dim):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x):
        """x: (B, in_chan, H, W) images. Returns (B, N, embed_dim) tokens, patches in row-major order
        (left to right, then top to bottom)."""
        # YOUR CODE HERE
        raise NotImplementedError()


class MLP(nn.Module):
    """The feed-forward part of a block: Linear -> GELU -> Linear, back to in_features.

    Attributes:
        fc1: nn.Linear(in_features, hid_features); act: nn.GELU() (the exact, erf-based one);
        fc2: nn.Linear(hid_features, in_features). (An nn.Sequential(Linear, GELU, Linear) does as well: the
        autograder takes the two Linear layers in the order they are created.)
    """

    def __init__(self, in_features, hid_features):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x):
        """x: (..., in_features). Returns (..., in_features)."""
        # YOUR CODE HERE
        raise NotImplementedError()


class Block(nn.Module):
    """A pre-norm transformer block, the equations of your answer to Q1b (c): multi-head self-attention, then the
    MLP, each on layer-normalized tokens and each added back to its own input (a residual connection).

    mlp_ratio is an int, as in the course (4): the hidden layer has embed_dim * mlp_ratio features.

    Attributes (the autograder finds them by these names, the course notebook's or the kit's):
        norm1, norm2: nn.LayerNorm(embed_dim), before the attention and before the MLP;
        attn (or mhsa): MultiHeadsSelfAttention(embed_dim, num_heads);
        mlp: MLP(embed_dim, embed_dim * mlp_ratio), or the nn.Sequential(Linear, GELU, Linear) of the course.
    """

    def __init__(self, embed_dim, num_heads, mlp_ratio):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x):
        """x: (B, N, C). Returns (B, N, C)."""
        # YOUR CODE HERE
        raise NotImplementedError()


def get_positional_embeddings(sequence_length, d):
    """The fixed sinusoidal positional embeddings of "Attention is all you need".

    For position p and i = 0, 1, ..., d/2 - 1:  PE[p, 2i] = sin(p / 10000^(2i/d)),
    PE[p, 2i + 1] = cos(p / 10000^(2i/d)).

    Args:
        sequence_length: number of positions; d: number of features (even).
    Returns:
        (sequence_length, d) float32 tensor ((1, sequence_length, d), ready to add to a batch, is accepted too).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


class ViT(nn.Module):
    """Vision transformer classifier.

    forward: patch embedding -> prepend the class token -> add the positional embedding -> nb_blocks Blocks ->
    LayerNorm -> linear head applied to the class token only.

    Args:
        embed_dim, nb_blocks, patch_size, nb_heads, mlp_ratio, nb_classes: the architecture (mlp_ratio an int,
            as in the course: 4).
        img_size, in_chan: size and channels of the (square) input images (MNIST: 28, 1).
        pos_embedding: "sinusoidal" (fixed, get_positional_embeddings, not trained) or "learned" (a trained
            parameter, initialized with small random values).
    Attributes (the autograder reads them by these names, the course notebook's or the kit's):
        patch_embed (or patch_embedding): PatchEmbed(in_chan, patch_size, embed_dim).
        cls_token (or class_token): nn.Parameter of shape (1, 1, embed_dim) (or (1, embed_dim)).
        pos_embed (or positional_embeddings): (1, N + 1, embed_dim) (or (N + 1, embed_dim)): a buffer (or a
            parameter with requires_grad=False) when sinusoidal, an nn.Parameter when learned.
        blocks: nn.Sequential (or nn.ModuleList) of nb_blocks Block(embed_dim, nb_heads, mlp_ratio).
        norm (or ln): nn.LayerNorm(embed_dim); head (or mlp_head): nn.Linear(embed_dim, nb_classes).
    """

    def __init__(self, embed_dim, nb_blocks, patch_size, nb_heads, mlp_ratio, nb_classes=10, img_size=28,
                 in_chan=1, pos_embedding="sinusoidal"):
        super().__init__()
        if pos_embedding not in ("sinusoidal", "learned"):
            raise ValueError(f"pos_embedding must be 'sinusoidal' or 'learned', got {pos_embedding!r}")
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x):
        """x: (B, in_chan, img_size, img_size) images. Returns (B, nb_classes) logits."""
        # YOUR CODE HERE
        raise NotImplementedError()
