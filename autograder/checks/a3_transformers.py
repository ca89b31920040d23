"""Checks of assignment 3 (attention, transformer blocks, vision transformers). Oracles:
F.scaled_dot_product_attention, nn.MultiheadAttention, nn.LayerNorm, nn.Linear, nn.GELU and F.conv2d built in
the judge with the weights of the student's modules (random values the judge chose and set in the sandbox, or
read back with `structure()`), closed-form sinusoids, numel() of the same architecture built from torch modules,
and training thresholds on predictions the judge scores."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from autograder.api import (CheckFailed, SubmissionError, accuracy, check, expect, expect_accuracy, expect_close,
                            expect_shape, expect_tensor)
from autograder.judge import is_module

# (B, N, C, H): batch, tokens, embedding dimension, heads
SIZES = [(1, 1, 4, 1), (2, 5, 8, 2), (3, 17, 32, 4), (4, 50, 48, 6), (2, 9, 64, 8), (1, 65, 16, 16)]
TOL = dict(rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- a student's module, seen from the judge
def layers_of(model, what):
    """{dotted name: layer} of a student's nn.Module (its structure, read in the sandbox: class, parameters,
    buffers, config); "" is the model itself."""
    expect(is_module(model), f"{what} should be an nn.Module")
    return {lay["name"]: lay for lay in model.structure()["layers"]}


def layer(layers, name, kind, what, why=""):
    """The submodule `name` (dotted, from the model's root), which must be torch's nn.`kind` (any module when
    kind is None): the name the docstring asks for."""
    short = name.rsplit(".", 1)[-1]
    lay = layers.get(name)
    expect(lay is not None, why or (f"{what} has no attribute `{short}`: the docstring asks for {what}.{short}"
                                    f"{f' (nn.{kind})' if kind else ''}; the grader reads the weights through "
                                    "that name"))
    if kind:
        expect(lay["torch"] and lay["class"] == kind, f"{what}.{short} should be an nn.{kind}, got {lay['class']}")
    return lay


def children(layers, name):
    """The direct submodules of `name`, in order."""
    prefix = f"{name}."
    return [n for n in layers if n.startswith(prefix) and "." not in n[len(prefix):]]


def parameter_count(layers) -> int:
    return sum(t.numel() for lay in layers.values() for t in lay["params"].values())


def randomize(sub, model, layers, scale=0.5):
    """Random weights everywhere (norms too), drawn by the judge and set in the sandbox, so a skipped affine or
    bias cannot go unnoticed; `layers` then holds these values, and the oracles are built from them."""
    values = {}
    for lay in layers.values():
        for key, t in lay["params"].items():
            new = torch.randn(t.shape, dtype=t.dtype if t.is_floating_point() else torch.float32) * scale
            lay["params"][key] = new
            values[f"{lay['name']}.{key}" if lay["name"] else key] = new
    left = sub.kit("kit.a3:set_parameters", model, values)
    expect(not left, f"the grader could not set the parameters {left} of the model through named_parameters() "
                     "(a parameter shared between two layers?)")
    return layers


def attribute(model, name):
    """model.<name> from the sandbox (plain data, or a handle), or None when it has no such attribute."""
    try:
        return getattr(model, name)
    except SubmissionError:
        return None


def tensor_of(model, name, what):
    t = attribute(model, name)
    expect(t is not None, f"{what} has no attribute `{name}`")
    return expect_tensor(t, f"{what}.{name}")


def copy_linear(dst: nn.Linear, lay, what):
    weight, bias = lay["params"].get("weight"), lay["params"].get("bias")
    shape = None if weight is None else tuple(weight.shape)
    expect(shape == tuple(dst.weight.shape), f"{what}.weight has shape {shape}, expected {tuple(dst.weight.shape)}")
    expect(bias is not None, f"{what} should have a bias")
    with torch.no_grad():
        dst.weight.copy_(weight)
        dst.bias.copy_(bias)


def copy_norm(dst: nn.LayerNorm, lay, what):
    expect(lay["torch"] and lay["class"] == "LayerNorm", f"{what} should be an nn.LayerNorm, got {lay['class']}")
    shape = tuple(lay["config"].get("normalized_shape", ()))
    expect(shape == tuple(dst.normalized_shape),
           f"{what} normalizes {shape}, expected {tuple(dst.normalized_shape)}")
    weight, bias = lay["params"].get("weight"), lay["params"].get("bias")
    expect(weight is not None and bias is not None,
           f"{what} should have a weight and a bias (nn.LayerNorm's default elementwise_affine=True)")
    with torch.no_grad():
        dst.weight.copy_(weight)
        dst.bias.copy_(bias)
    dst.eps = float(lay["config"].get("eps", dst.eps))


def oracle_mhsa(layers, C, H, prefix="", what="MultiHeadsSelfAttention"):
    """nn.MultiheadAttention with the student's qkv and proj weights."""
    qkv = layer(layers, f"{prefix}qkv", "Linear", what)
    proj = layer(layers, f"{prefix}proj", "Linear", what)
    ref = nn.MultiheadAttention(C, H, batch_first=True)
    weight, bias = qkv["params"].get("weight"), qkv["params"].get("bias")
    shape = None if weight is None else tuple(weight.shape)
    expect(shape == (3 * C, C), f"qkv.weight has shape {shape}, expected {(3 * C, C)} (one Linear(C, 3C) for Q, K "
                                "and V)")
    expect(bias is not None, f"{what}.qkv should have a bias")
    with torch.no_grad():
        ref.in_proj_weight.copy_(weight)
        ref.in_proj_bias.copy_(bias)
    copy_linear(ref.out_proj, proj, f"{what}.proj")
    return ref.eval()


def run_mha(ref, x):
    out, weights = ref(x, x, x, need_weights=True, average_attn_weights=False)
    return out, weights


def pair(result, what):
    expect(isinstance(result, tuple) and len(result) == 2,
           f"{what} with return_attention=True should return a pair (out, weights), got {type(result).__name__}")
    return result


def oracle_mlp(layers, C, hidden, prefix="", what="MLP"):
    fc1 = layer(layers, f"{prefix}fc1", "Linear", what)
    fc2 = layer(layers, f"{prefix}fc2", "Linear", what)
    ref = nn.Sequential(nn.Linear(C, hidden), nn.GELU(), nn.Linear(hidden, C))
    copy_linear(ref[0], fc1, f"{what}.fc1")
    copy_linear(ref[2], fc2, f"{what}.fc2")
    return ref


class OracleBlock(nn.Module):
    """Pre-norm block built from torch modules: x + MHA(LN(x)), then + MLP(LN(x))."""

    def __init__(self, layers, C, H, hidden, prefix=""):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(C), nn.LayerNorm(C)
        copy_norm(self.norm1, layer(layers, f"{prefix}norm1", None, "Block"), "Block.norm1")
        copy_norm(self.norm2, layer(layers, f"{prefix}norm2", None, "Block"), "Block.norm2")
        layer(layers, f"{prefix}attn", None, "Block", why="Block has no attribute `attn` (its MultiHeadsSelfAttention)")
        self.attn = oracle_mhsa(layers, C, H, f"{prefix}attn.", "Block.attn")
        layer(layers, f"{prefix}mlp", None, "Block", why="Block has no attribute `mlp` (its MLP)")
        self.mlp = oracle_mlp(layers, C, hidden, f"{prefix}mlp.", "Block.mlp")

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


# ---------------------------------------------------------------- attention
@check("attention_function", points=2)
def attention_function(sub):
    """attention(Q, K, V) equals F.scaled_dot_product_attention; its weights are a softmax over keys."""
    attention = sub.function("attention", "attention")
    for lead, N, dk, dv in [((1,), 1, 3, 3), ((2,), 5, 4, 4), ((3, 4), 7, 8, 5), ((2, 3), 16, 16, 16)]:
        Q, K, V = torch.randn(*lead, N, dk) * 2, torch.randn(*lead, N, dk) * 2, torch.randn(*lead, N, dv)
        result = attention(Q.clone(), K.clone(), V.clone())
        expect(isinstance(result, tuple) and len(result) == 2, "attention should return a pair (out, weights)")
        out, weights = result
        what = f"attention(Q, K, V) for Q of shape {tuple(Q.shape)}"
        expected_weights = torch.softmax(Q @ K.transpose(-2, -1) / math.sqrt(dk), dim=-1)
        unscaled = torch.softmax(Q @ K.transpose(-2, -1), dim=-1)
        hint = "the scores are Q K^T / sqrt(d_k) and the softmax is over the last dimension (the keys)"
        if isinstance(weights, torch.Tensor) and weights.shape == unscaled.shape and N > 1 and \
                torch.allclose(weights, unscaled, atol=1e-5):
            raise CheckFailed(f"{what}: the weights are softmax(Q K^T) without the 1/sqrt(d_k) scaling")
        expect_close(weights, expected_weights, f"weights of {what}", hint=hint, **TOL)
        expect_close(weights.sum(-1), torch.ones(*lead, N), f"row sums of the weights of {what}", **TOL)
        expect_close(out, F.scaled_dot_product_attention(Q, K, V), what, hint="out = weights @ V", **TOL)


@check("self_attention", points=2)
def self_attention(sub):
    """SelfAttention equals nn.MultiheadAttention with one head and the same weights; it is permutation-equivariant."""
    SelfAttention = sub.function("attention", "SelfAttention")
    for B, N, C, _ in SIZES:
        torch.manual_seed(B * 100 + N)
        model = SelfAttention(C)
        layers = layers_of(model, "SelfAttention")
        names = ("q", "k", "v", "proj")
        for n in names:
            layer(layers, n, "Linear", "SelfAttention")
        randomize(sub, model, layers, 1 / math.sqrt(C))
        ref = nn.MultiheadAttention(C, 1, batch_first=True).eval()
        for n in "qkv":
            copy_linear(nn.Linear(C, C), layers[n], f"SelfAttention.{n}")  # its shape, and a bias
        with torch.no_grad():
            ref.in_proj_weight.copy_(torch.cat([layers[n]["params"]["weight"] for n in "qkv"]))
            ref.in_proj_bias.copy_(torch.cat([layers[n]["params"]["bias"] for n in "qkv"]))
        copy_linear(ref.out_proj, layers["proj"], "SelfAttention.proj")
        x = torch.randn(B, N, C)
        what = f"SelfAttention({C}) on x of shape {(B, N, C)}"
        with torch.no_grad():
            expected, expected_w = run_mha(ref, x)
        out = model(x)
        expect_close(out, expected, what, hint="out = proj(softmax(Q K^T / sqrt(C)) V) with Q = q(x), ...", **TOL)
        out2, weights = pair(model(x, return_attention=True), what)
        expect_close(out2, expected, f"{what} (return_attention=True)", **TOL)
        expect_close(weights, expected_w[:, 0], f"attention weights of {what}", **TOL)
        perm = torch.randperm(N)
        expect_close(model(x[:, perm]), out[:, perm], f"{what} with its tokens permuted",
                     hint="self-attention without positions must permute its outputs like its inputs", **TOL)


@check("multi_head_attention", points=3)
def multi_head_attention(sub):
    """MultiHeadsSelfAttention equals nn.MultiheadAttention with the same weights, for many (B, N, C, H)."""
    MHSA = sub.function("attention", "MultiHeadsSelfAttention")
    for B, N, C, H in SIZES:
        torch.manual_seed(B * 100 + N)
        model = MHSA(C, H)
        layers = layers_of(model, "MultiHeadsSelfAttention")
        randomize(sub, model, layers, 1 / math.sqrt(C))
        ref = oracle_mhsa(layers, C, H)
        x = torch.randn(B, N, C)
        what = f"MultiHeadsSelfAttention({C}, {H}) on x of shape {(B, N, C)}"
        hint = ("split Q, K, V into H heads of C/H features (reshape to (B, N, 3, H, D)), attend per head with "
                "1/sqrt(D), concatenate the heads in order, then project")
        with torch.no_grad():
            expected, expected_w = run_mha(ref, x)
        out = model(x)
        expect_close(out, expected, what, hint=hint, **TOL)
        out2, weights = pair(model(x, return_attention=True), what)
        expect_close(out2, expected, f"{what} (return_attention=True)", **TOL)
        expect_close(weights, expected_w, f"attention weights (B, H, N, N) of {what}", hint=hint, **TOL)
        expect_close(weights.sum(-1), torch.ones(B, H, N), f"row sums of the attention weights of {what}", **TOL)
        perm = torch.randperm(N)
        expect_close(model(x[:, perm]), out[:, perm], f"{what} with its tokens permuted",
                     hint="self-attention without positions must permute its outputs like its inputs", **TOL)
    n = parameter_count(layers_of(MHSA(48, 6), "MultiHeadsSelfAttention"))
    ref_n = sum(p.numel() for p in nn.MultiheadAttention(48, 6).parameters())
    expect(n == ref_n, f"MultiHeadsSelfAttention(48, 6) has {n} parameters, nn.MultiheadAttention has {ref_n}")


@check("heads_must_divide", points=1)
def heads_must_divide(sub):
    """MultiHeadsSelfAttention raises a clear ValueError when embed_dim % num_heads != 0."""
    MHSA = sub.function("attention", "MultiHeadsSelfAttention")
    MHSA(32, 4)
    MHSA(30, 5)
    for C, H in [(30, 4), (10, 3)]:
        err = sub.kit("kit.a3:raised", MHSA, C, H)  # None, or the exception's class names and message
        if err is None:
            raise CheckFailed(f"MultiHeadsSelfAttention({C}, {H}) should raise a ValueError: {C} features cannot be "
                              f"split into {H} heads of equal size")
        classes, message = list(err.get("classes") or ["Exception"]), str(err.get("message", ""))
        if "ValueError" not in classes:
            raise CheckFailed(f"MultiHeadsSelfAttention({C}, {H}) raised {classes[0]}, expected a ValueError saying "
                              f"that {C} is not divisible by {H}")
        expect(str(C) in message and str(H) in message,
               f"the ValueError of MultiHeadsSelfAttention({C}, {H}) should name both numbers, says: {message}")


# ---------------------------------------------------------------- pieces of the ViT
@check("patch_embed", points=1)
def patch_embed(sub):
    """PatchEmbed equals a strided nn.Conv2d, flattened to (B, N, C) in row-major patch order."""
    PatchEmbed = sub.function("vit", "PatchEmbed")
    for B, chan, size, p, C in [(2, 1, 28, 7, 32), (3, 1, 28, 4, 16), (1, 3, 32, 8, 24), (2, 1, 28, 14, 8)]:
        model = PatchEmbed(chan, p, C)
        layers = layers_of(model, "PatchEmbed")
        conv = layer(layers, "proj", "Conv2d", "PatchEmbed")
        weight, bias = conv["params"].get("weight"), conv["params"].get("bias")
        expect(weight is not None and tuple(weight.shape) == (C, chan, p, p)
               and tuple(conv["config"].get("stride", ())) == (p, p),
               f"PatchEmbed({chan}, {p}, {C}).proj should be Conv2d({chan}, {C}, kernel_size={p}, stride={p})")
        x = torch.randn(B, chan, size, size)
        N = (size // p) ** 2
        out = model(x)
        expect_shape(out, (B, N, C), f"PatchEmbed({chan}, {p}, {C}) of images {tuple(x.shape)}")
        padding = conv["config"].get("padding", 0)
        with torch.no_grad():
            expected = F.conv2d(x, weight, bias, stride=p, padding=padding).flatten(2).transpose(1, 2)
        expect_close(out, expected, f"PatchEmbed({chan}, {p}, {C}) of images {tuple(x.shape)}",
                     hint="flatten the (H/p, W/p) grid row by row and put the features last", **TOL)
        n = parameter_count(layers)
        expect(n == chan * C * p * p + C, f"PatchEmbed({chan}, {p}, {C}) has {n} parameters, "
                                          f"expected {chan * C * p * p + C}")


@check("mlp", points=1)
def mlp(sub):
    """MLP equals Linear -> GELU -> Linear with the same weights."""
    MLP = sub.function("vit", "MLP")
    for C, hidden in [(8, 32), (32, 128), (16, 10)]:
        model = MLP(C, hidden)
        layers = randomize(sub, model, layers_of(model, "MLP"))
        ref = oracle_mlp(layers, C, hidden)
        x = torch.randn(3, 5, C) * 2
        with torch.no_grad():
            expected = ref(x)
        expect_close(model(x), expected, f"MLP({C}, {hidden}) on x of shape (3, 5, {C})",
                     hint="Linear, then nn.GELU() (the exact one, not tanh-approximated), then Linear", **TOL)
        n, want = parameter_count(layers), sum(p.numel() for p in ref.parameters())
        expect(n == want, f"MLP({C}, {hidden}) has {n} parameters, expected {want}")


@check("block", points=3)
def block(sub):
    """Block equals the pre-norm composition LN -> MHSA -> residual, LN -> MLP -> residual of torch modules."""
    Block = sub.function("vit", "Block")
    for (B, N, C, H), ratio in zip(SIZES[1:], (4, 2, 4.0, 1.5, 3)):
        hidden = int(C * ratio)
        model = Block(C, H, ratio)
        layers = randomize(sub, model, layers_of(model, "Block"), 1 / math.sqrt(C))
        ref = OracleBlock(layers, C, H, hidden)
        x = torch.randn(B, N, C)
        what = f"Block({C}, {H}, {ratio}) on x of shape {(B, N, C)}"
        out = model(x)
        expect_shape(out, (B, N, C), what)
        hint = "pre-norm: x = x + attn(norm1(x)), then x = x + mlp(norm2(x))"
        with torch.no_grad():
            post = ref.norm1(x + ref.attn(x, x, x, need_weights=False)[0])
            post = ref.norm2(post + ref.mlp(post))
            expected = ref(x)
        if torch.allclose(out, post, atol=1e-4):
            hint = "this is the post-norm block (norm after the residual); the ViT normalizes first: " + hint
        expect_close(out, expected, what, hint=hint, **TOL)
        # residual paths: with both branches silenced the block is the identity
        zeros = {f"{name}.{key}": torch.zeros_like(t) for name in ("attn.proj", "mlp.fc2")
                 for key, t in layers[name]["params"].items()}
        sub.kit("kit.a3:set_parameters", model, zeros)
        expect_close(model(x), x, f"{what} with the last layers of attn and mlp set to zero",
                     hint="each branch is added to its input (x + ...): the residual connections", **TOL)


@check("positional_embeddings", points=1)
def positional_embeddings(sub):
    """get_positional_embeddings equals the closed-form sinusoids sin/cos(p / 10000^(2i/d))."""
    pe_fn = sub.function("vit", "get_positional_embeddings")
    for L, d in [(1, 2), (17, 32), (50, 64), (5, 8), (197, 16)]:
        pe = pe_fn(L, d)
        expect_shape(pe, (L, d), f"get_positional_embeddings({L}, {d})")
        expect(pe.is_floating_point(), f"get_positional_embeddings should return floats, got {pe.dtype}")
        p = torch.arange(L, dtype=torch.float64)[:, None]
        i = torch.arange(d // 2, dtype=torch.float64)[None]
        angle = p / 10000 ** (2 * i / d)
        expected = torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(L, d)
        expect_close(pe.double(), expected, f"get_positional_embeddings({L}, {d})", rtol=1e-4, atol=1e-5,
                     hint="even columns 2i hold sin(p / 10000^(2i/d)), odd columns 2i+1 cos of the same angle")


# ---------------------------------------------------------------- the ViT
VIT_CONFIGS = [  # (embed_dim, nb_blocks, patch_size, nb_heads, mlp_ratio, nb_classes, img_size, in_chan)
    (32, 2, 7, 4, 4.0, 10, 28, 1), (16, 1, 4, 2, 2.0, 10, 28, 1), (24, 3, 14, 3, 1.5, 7, 28, 1),
    (48, 2, 8, 6, 4.0, 10, 32, 3),
]


def build_vit(ViT, cfg, pos_embedding):
    C, nb, p, H, ratio, k, size, chan = cfg
    return ViT(C, nb, p, H, ratio, nb_classes=k, img_size=size, in_chan=chan, pos_embedding=pos_embedding)


def expected_parameters(cfg, pos_embedding):
    """Trainable parameters of the same architecture built from torch modules (numel)."""
    C, nb, p, H, ratio, k, size, chan = cfg
    N = (size // p) ** 2
    parts = [nn.Conv2d(chan, C, p, stride=p), nn.LayerNorm(C), nn.Linear(C, k)]
    for _ in range(nb):
        parts += [nn.LayerNorm(C), nn.MultiheadAttention(C, H), nn.LayerNorm(C), nn.Linear(C, int(C * ratio)),
                  nn.Linear(int(C * ratio), C)]
    n = sum(q.numel() for m in parts for q in m.parameters())
    return n + C + ((N + 1) * C if pos_embedding == "learned" else 0)  # class token, learned positions


@check("vit_tokens", points=1)
def vit_tokens(sub):
    """The ViT makes (img_size / patch_size)^2 patch tokens plus one class token, with positions for each."""
    ViT = sub.function("vit", "ViT")
    for cfg in VIT_CONFIGS:
        C, _, p, _, _, _, size, chan = cfg
        N = (size // p) ** 2
        model = build_vit(ViT, cfg, "sinusoidal")
        what = f"ViT(embed_dim={C}, patch_size={p}, img_size={size})"
        pe = attribute(model, "patch_embed")
        expect(is_module(pe), f"{what} has no attribute `patch_embed`" if pe is None else
               f"{what}.patch_embed should be an nn.Module (PatchEmbed)")
        expect_shape(pe(torch.randn(2, chan, size, size)), (2, N, C), f"{what}.patch_embed(images)")
        expect_shape(tensor_of(model, "cls_token", what), (1, 1, C), f"{what}.cls_token")
        expect_shape(tensor_of(model, "pos_embed", what), (1, N + 1, C), f"{what}.pos_embed (N patches + 1 class token)")


@check("vit_positions", points=1)
def vit_positions(sub):
    """Sinusoidal positions are the closed-form values and are not trained; learned ones are trained."""
    ViT = sub.function("vit", "ViT")
    cfg = VIT_CONFIGS[0]
    C, N = cfg[0], (cfg[6] // cfg[2]) ** 2 + 1
    fixed = build_vit(ViT, cfg, "sinusoidal")
    pos = tensor_of(fixed, "pos_embed", "ViT")
    p = torch.arange(N, dtype=torch.float64)[:, None]
    angle = p / 10000 ** (2 * torch.arange(C // 2, dtype=torch.float64)[None] / C)
    expected = torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(1, N, C)
    expect_close(pos.double(), expected, "ViT(pos_embedding='sinusoidal').pos_embed", rtol=1e-4, atol=1e-5)
    info = sub.kit("kit.a3:parameter_of", fixed, "pos_embed") or {}
    expect(not info.get("requires_grad", True),
           "sinusoidal positional embeddings are fixed: register them as a buffer (or requires_grad=False)")
    learned = build_vit(ViT, cfg, "learned")
    pos = tensor_of(learned, "pos_embed", "ViT")
    info = sub.kit("kit.a3:parameter_of", learned, "pos_embed") or {}  # requires_grad, nn.Parameter, registered
    expect(info.get("is_parameter") and info.get("name") is not None and info.get("requires_grad"),
           "ViT(pos_embedding='learned').pos_embed should be an nn.Parameter that requires grad")
    expect(float(pos.abs().max()) > 0, "learned positional embeddings should start random, not all zero")
    tensor_of(learned, "cls_token", "ViT")
    info = sub.kit("kit.a3:parameter_of", learned, "cls_token") or {}
    expect(info.get("is_parameter") and info.get("name") is not None and info.get("requires_grad"),
           "cls_token should be a trained nn.Parameter")


@check("vit_parameters", points=2)
def vit_parameters(sub):
    """The ViT has as many trainable parameters as the same architecture built from torch modules."""
    ViT = sub.function("vit", "ViT")
    for cfg in VIT_CONFIGS:
        for pos in ("sinusoidal", "learned"):
            model = build_vit(ViT, cfg, pos)
            expect(is_module(model), "ViT should be an nn.Module")
            n = sub.kit("kit.a3:count_parameters", model)  # trainable ones (requires_grad)
            expect(isinstance(n, int), f"the grader could not count the ViT's parameters (got {type(n).__name__})")
            expected = expected_parameters(cfg, pos)
            C, nb, p, H, ratio, k, size, chan = cfg
            expect(n == expected, f"ViT(embed_dim={C}, nb_blocks={nb}, patch_size={p}, nb_heads={H}, "
                                  f"mlp_ratio={ratio}, nb_classes={k}, img_size={size}, in_chan={chan}, "
                                  f"pos_embedding={pos!r}) has {n} trainable parameters, expected {expected} "
                                  f"(patch embedding, class token, {'learned positions, ' if pos == 'learned' else ''}"
                                  f"{nb} blocks, final LayerNorm, head)")


@check("vit_forward", points=3)
def vit_forward(sub):
    """ViT logits equal patch embedding -> class token -> positions -> torch-module blocks -> LN -> head(class token)."""
    ViT = sub.function("vit", "ViT")
    for cfg in VIT_CONFIGS:
        C, nb, p, H, ratio, k, size, chan = cfg
        for pos in ("sinusoidal", "learned"):
            model = build_vit(ViT, cfg, pos)
            expect(is_module(model), "ViT should be an nn.Module")
            model.eval()
            layers = randomize(sub, model, layers_of(model, "ViT"), 1 / math.sqrt(C))
            what = f"ViT(embed_dim={C}, nb_blocks={nb}, patch_size={p}, nb_heads={H}, pos_embedding={pos!r})"
            x = torch.randn(3, chan, size, size)
            out = model(x)
            expect_shape(out, (3, k), f"{what} logits")
            layer(layers, "patch_embed", None, "ViT")
            conv = layer(layers, "patch_embed.proj", "Conv2d", "ViT.patch_embed")
            cls = tensor_of(model, "cls_token", what)
            pos_embed = tensor_of(model, "pos_embed", what)
            layer(layers, "blocks", None, "ViT")
            blocks = children(layers, "blocks")
            expect(len(blocks) == nb, f"{what} has {len(blocks)} blocks, expected {nb}")
            final = nn.LayerNorm(C)
            copy_norm(final, layer(layers, "norm", None, "ViT"), "ViT.norm")
            head = nn.Linear(C, k)
            copy_linear(head, layer(layers, "head", "Linear", "ViT"), "ViT.head")
            oracles = [OracleBlock(layers, C, H, int(C * ratio), prefix=f"{b}.") for b in blocks]
            with torch.no_grad():
                tokens = F.conv2d(x, conv["params"]["weight"], conv["params"].get("bias"),
                                  stride=p).flatten(2).transpose(1, 2)
                tokens = torch.cat([cls.expand(3, -1, -1), tokens], 1) + pos_embed
                for oracle in oracles:
                    tokens = oracle(tokens)
                expected = head(final(tokens)[:, 0])
            expect_close(out, expected, f"{what} logits", hint="prepend the class token, add pos_embed to all "
                         "N+1 tokens, run the blocks, then norm, and classify from token 0 only", **TOL)


# ---------------------------------------------------------------- trainings (thresholds measured: README)
# measured (2 threads): 96.6 / 96.3 % for seeds 0 / 1 of the reference, 17-47 s on a shared 2-core machine
TRAIN_CONFIG = dict(epochs=3)
TRAIN_THRESHOLD = 0.95
# full tier (2 CPU threads, seed 0, 203,978 parameters, 15 epochs): MNIST 98.61 % (321 s): a thin margin over the
# course target of 98.5 %, so this tier states a goal rather than a comfortable bound. Fashion-MNIST (20 epochs,
# 1-pixel shifts and flips): 90.75 % (422 s), a 0.75-point margin.
FULL_MNIST, FULL_FASHION = 0.985, 0.90


def _trained(sub, dataset, **kw):
    """Train the student's ViT with the kit's train_vit in the sandbox (which has the test images, not their
    labels); the judge scores its logits. Returns (accuracy, the sandbox's report)."""
    labels = sub.test_labels(dataset)
    run = sub.kit("kit.a3:vit_predictions", sub.module("vit"), dataset, **kw)
    expect(isinstance(run, dict) and "logits" in run, "the ViT's training returned no predictions")
    expect_shape(run["logits"], (len(labels), 10), f"the ViT's outputs on the {dataset} test images")
    return accuracy(run["logits"], labels), run


@check("train_mnist", points=4, tier="train", timeout=240)
def train_mnist(sub):
    """The course's ViT (dim 32, patch 7, 2 blocks), AdamW + one-cycle, reaches 95 % on MNIST in 3 epochs."""
    acc, run = _trained(sub, "mnist", device="cpu", **TRAIN_CONFIG)
    losses = [float(v) for v in run.get("train_loss") or []]
    expect(len(losses) >= 2 and losses[-1] < losses[0], "the training loss did not decrease")
    expect_accuracy(acc, TRAIN_THRESHOLD, f"the ViT reaches {acc:.2%} test accuracy on MNIST after "
                                          f"{len(losses)} epochs, expected at least {TRAIN_THRESHOLD:.0%}")


@check("full_mnist", points=2, tier="full", timeout=3600)
def full_mnist(sub):
    """A 205k-parameter ViT (dim 64, 4 blocks) reaches 98.5 % on MNIST."""
    from kit.a3 import FULL_TRAINING, FULL_VIT

    acc, _ = _trained(sub, "mnist", config=FULL_VIT, **FULL_TRAINING["mnist"])
    expect_accuracy(acc, FULL_MNIST, f"the ViT reaches {acc:.2%} on MNIST, expected at least {FULL_MNIST:.1%}")


@check("full_fashion_mnist", points=2, tier="full", timeout=3600)
def full_fashion_mnist(sub):
    """A 205k-parameter ViT (dim 64, 4 blocks) reaches 90 % on Fashion-MNIST."""
    from kit.a3 import FULL_TRAINING, FULL_VIT

    acc, _ = _trained(sub, "fashion_mnist", config=FULL_VIT, **FULL_TRAINING["fashion_mnist"])
    expect_accuracy(acc, FULL_FASHION, f"the ViT reaches {acc:.2%} on Fashion-MNIST, expected at least "
                                       f"{FULL_FASHION:.0%}")
