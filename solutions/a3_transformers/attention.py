"""Self-attention written with plain torch operations: one head, then several heads.

Shapes: B images in a batch, N tokens per image, C = embed_dim features per token, H heads of
D = C // H features each.
"""
import math

import torch
from torch import nn


def attention(Q, K, V):
    """Scaled dot-product attention, the equation of your answer to Q1b (a) in the notebook.

    Args:
        Q: (..., N, d_k) queries; K: (..., N, d_k) keys; V: (..., N, d_v) values. The leading dimensions
            (batch, heads) are kept as they are.
    Returns:
        out: (..., N, d_v), each row a weighted mean of the rows of V.
        weights: (..., N, N) attention weights, weights[..., i, j] = how much token i looks at token j;
            every row sums to 1.
    """
    ### BEGIN SOLUTION
    scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])
    weights = scores.softmax(dim=-1)
    return weights @ V, weights
    ### END SOLUTION


class SelfAttention(nn.Module):
    """Single-head self-attention (Q1b (a)): queries, keys and values projected from the tokens, attention, then a
    linear projection.

    Attributes (the autograder finds the layers by these names, the course notebook's or the kit's):
        q, k, v (or query, key, value): nn.Linear(embed_dim, embed_dim), the three projections of the tokens,
            with or without bias.
        proj (or projection): nn.Linear(embed_dim, embed_dim) with bias, the output projection (versions of the
            course differ on it for one head: the autograder grades single-head attention with or without it).
    The autograder calls forward(x), as the course does; return_attention is the kit's keyword for the attention
    maps (a forward(x) that always returns (out, weights), or computes the weights with a softmax, serves as well).
    """

    def __init__(self, embed_dim):
        super().__init__()
        ### BEGIN SOLUTION
        self.q = nn.Linear(embed_dim, embed_dim)
        self.k = nn.Linear(embed_dim, embed_dim)
        self.v = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        ### END SOLUTION

    def forward(self, x, return_attention=False):
        """x: (B, N, C) tokens. Returns (B, N, C), and the (B, N, N) attention weights too when
        return_attention is True (as a pair (out, weights))."""
        ### BEGIN SOLUTION
        out, weights = attention(self.q(x), self.k(x), self.v(x))
        out = self.proj(out)
        return (out, weights) if return_attention else out
        ### END SOLUTION


class MultiHeadsSelfAttention(nn.Module):
    """Multi-head self-attention: project to Q, K, V with one linear layer, split the C features into H heads of
    D = C // H features, attend within each head, concatenate the heads back to C features, project.

    Attributes (the autograder finds the layers by these names, the course notebook's or the kit's):
        num_heads: H; head_dim: D.
        qkv: nn.Linear(embed_dim, 3 * embed_dim). Its output, read as (B, N, 3, H, D), holds Q, K then V, and
            within each of them the heads one after the other (the layout of nn.MultiheadAttention's
            in_proj_weight). Or, as in the course notebook, three nn.Linear(embed_dim, embed_dim) q, k, v (or
            query, key, value), each output read as (B, N, H, D). With or without bias.
        proj (or projection): nn.Linear(embed_dim, embed_dim) with bias, the output projection.
    Raises:
        ValueError (with a message naming both numbers) when embed_dim is not divisible by num_heads.
    """

    def __init__(self, embed_dim, num_heads):
        super().__init__()
        ### BEGIN SOLUTION
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        ### END SOLUTION

    def forward(self, x, return_attention=False):
        """x: (B, N, C) tokens. Returns (B, N, C), and the (B, H, N, N) attention weights of every head too
        when return_attention is True (as a pair (out, weights))."""
        ### BEGIN SOLUTION
        B, N, C = x.shape
        # (B, N, 3, H, D) -> (3, B, H, N, D): one attention per (image, head)
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out, weights = attention(qkv[0], qkv[1], qkv[2])
        out = out.transpose(1, 2).reshape(B, N, C)  # concatenate the heads
        out = self.proj(out)
        return (out, weights) if return_attention else out
        ### END SOLUTION
