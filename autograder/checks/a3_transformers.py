"""Checks of assignment 3 (attention, transformer blocks, vision transformers). Oracles (`@oracle`: the student
kit ships their answers recorded on the reference, not their code): F.scaled_dot_product_attention,
nn.MultiheadAttention, nn.LayerNorm, nn.Linear, nn.GELU and F.conv2d built in the judge with the judge's own random
weights, which it also sets in the student's modules (a trained model's weights are read back with `structure()`),
closed-form sinusoids, numel() of the same architecture built from torch modules, and training thresholds on
predictions the judge scores."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import skip_init

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
    expect_numbers,
    expect_shape,
    expect_tensor,
    face,
    oracle,
    percent,
)
from autograder.recompute import in_batches
from autograder.sandbox.client import is_module
from data_scripts import load
from kit.a3 import ATTENTION_NAMES
from kit.a3.training import COURSE_VIT
from kit.data import MEAN_STD

# (B, N, C, H): batch, tokens, embedding dimension, heads
SIZES = [(1, 1, 4, 1), (2, 5, 8, 2), (3, 17, 32, 4), (4, 50, 48, 6), (2, 9, 64, 8), (1, 65, 16, 16)]
# The student kit ships the oracles' answers for its cases (autograder/recorded/): it runs fewer tokens where the
# attention weights (B, H, N, N) are largest, and a narrower last ViT; the instructor's grader runs every case.
KIT_SIZES = [(1, 1, 4, 1), (2, 5, 8, 2), (3, 17, 32, 4), (4, 20, 48, 6), (2, 9, 64, 8), (1, 33, 16, 16)]
TOL = dict(rtol=1e-4, atol=1e-5)


def cases(instructor, kit):
    """The instructor's cases, or the student kit's (also when its answers are recorded)."""
    return instructor if face() == "instructor" else kit


# ---------------------------------------------------------------- a student's module, seen from the judge
# The course's notebook and the kit's stubs name the same parts differently (fused `qkv` or separate `q`/`k`/`v`,
# `proj` or `projection`, `cls_token` or `class_token`, `fc1`/`fc2` or an `mlp` Sequential, `attn` or `attention`),
# and some students write the heads one by one (a list of heads with their own projections). The judge reads the
# layout with `structure()` and finds each part by the names below, then by type and shape where the name is
# unknown; the first name of each list is the one the stubs ask for.
NAMES = {
    "qkv": ("qkv", "to_qkv", "qkv_proj", "in_proj", "W_qkv", "w_qkv", "Wqkv"),
    "qkv3": (
        ("q", "k", "v"),
        ("query", "key", "value"),
        ("q_proj", "k_proj", "v_proj"),
        ("W_q", "W_k", "W_v"),
        ("w_q", "w_k", "w_v"),
        ("Wq", "Wk", "Wv"),
        ("wq", "wk", "wv"),
        ("to_q", "to_k", "to_v"),
        ("query_proj", "key_proj", "value_proj"),
        ("q_linear", "k_linear", "v_linear"),
    ),
    "proj": (
        "proj",
        "projection",
        "out_proj",
        "o_proj",
        "out",
        "fc_out",
        "W_o",
        "w_o",
        "Wo",
        "wo",
        "to_out",
        "o",
        "output",
        "out_linear",
        "proj_out",
    ),
    "norms": (
        ("norm1", "norm2"),
        ("ln1", "ln2"),
        ("ln_1", "ln_2"),
        ("norm_1", "norm_2"),
        ("layer_norm1", "layer_norm2"),
        ("layernorm1", "layernorm2"),
        ("attn_norm", "mlp_norm"),
        ("norm_attn", "norm_mlp"),
        ("ln_attn", "ln_mlp"),
    ),
    "attn": ATTENTION_NAMES,  # kit.a3's, which its attention maps use too
    # multi-head attention written head by head: a list of heads, each with its own q/k/v Linear(C, C / H)
    "heads": (
        "heads",
        "attention_heads",
        "attn_heads",
        "head_list",
        "heads_list",
        "self_attention_heads",
        "sa_heads",
        "multi_heads",
    ),
    # ... or one list per role, each of H Linear(C, C / H)
    "qkv_lists": (
        ("q_heads", "k_heads", "v_heads"),
        ("q_mappings", "k_mappings", "v_mappings"),
        ("queries", "keys", "values"),
        ("q_list", "k_list", "v_list"),
        ("q_layers", "k_layers", "v_layers"),
        ("query_heads", "key_heads", "value_heads"),
    ),
    "mlp": ("mlp", "ffn", "ff", "feed_forward", "feedforward", "mlp_block"),
    "fc": (("fc1", "fc2"), ("linear1", "linear2"), ("lin1", "lin2"), ("dense1", "dense2"), ("l1", "l2")),
    "conv": ("proj", "projection", "conv", "patch_conv", "conv_proj"),
    "patch_embed": (
        "patch_embed",
        "patch_embedding",
        "patch_embeddings",
        "to_patch_embedding",
        "patchify",
        "embedding",
        "embed",
    ),
    "cls_token": ("cls_token", "class_token", "cls", "cls_embedding", "class_embedding"),
    "pos_embed": (
        "pos_embed",
        "pos_embedding",
        "positional_embeddings",
        "positional_embedding",
        "pos_emb",
        "position_embeddings",
        "position_embedding",
        "pos_embeddings",
    ),
    "blocks": ("blocks", "layers", "transformer", "encoder", "transformer_blocks", "encoder_blocks"),
    "norm": ("norm", "ln", "final_norm", "norm_final", "ln_f", "layer_norm", "fc_norm", "ln_final"),
    "head": ("head", "mlp_head", "classifier", "fc", "linear_head", "cls_head", "out", "fc_out"),
}


def listing(names) -> str:
    """'a (or b, c)' for the message that says what was looked for."""
    names = ["/".join(n) if isinstance(n, tuple) else n for n in names]
    return names[0] + (f" (or {', '.join(names[1:])})" if len(names) > 1 else "")


def layers_of(model, what):
    """{dotted name: layer} of a student's nn.Module (its structure, read in the sandbox: class, parameters,
    buffers, config); "" is the model itself."""
    expect(is_module(model), f"{what} should be an nn.Module")
    return {lay["name"]: lay for lay in model.structure()["layers"]}


def join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


def under(layers, prefix, direct=False):
    """The submodules below `prefix` ("" = the model), in registration order; only its children when direct."""
    start = f"{prefix}." if prefix else ""
    out = []
    for n, lay in layers.items():
        if n and n.startswith(start) and n != prefix:
            if not direct or "." not in n[len(start) :]:
                out.append(lay)
    return out


def is_torch(lay, kind):
    return lay is not None and lay["torch"] and lay["class"] == kind


def short(lay, prefix):
    n = lay["name"]
    return n[len(prefix) + 1 :] if prefix and n.startswith(prefix + ".") else n


def found_linears(layers, prefix):
    """'q Linear(8, 8), proj Linear(8, 8)': what a message shows when a part was not found."""
    found = [
        f"{short(lay, prefix)} {lay['class']}{tuple(reversed(lay['params']['weight'].shape))}"
        for lay in under(layers, prefix)
        if lay["class"] in ("Linear", "Conv2d") and "weight" in lay["params"]
    ]
    return ", ".join(found) or "no nn.Linear at all"


def linear_in(layers, name, shape=None):
    """The nn.Linear called `name`, or the only nn.Linear inside it (a Sequential(Linear, Dropout)); None when
    there is none (or its weight does not have `shape`)."""
    lay = layers.get(name)
    if lay is None:
        return None
    if not is_torch(lay, "Linear"):
        inner = [m for m in under(layers, name) if is_torch(m, "Linear")]
        if len(inner) != 1:
            return None
        lay = inner[0]
    if shape is not None and tuple(lay["params"]["weight"].shape) != tuple(shape):
        return None
    return lay


def weights(lay, what):
    """(weight, bias) of a Linear layer as judge tensors; a Linear without bias has a zero bias."""
    weight = lay["params"].get("weight")
    expect(weight is not None, f"{what} has no weight")
    bias = lay["params"].get("bias")
    return weight, torch.zeros(weight.shape[0]) if bias is None else bias


# a head's own projections, matched by name whatever the case: q / query / W_q / ... for the queries
ROLE_NAMES = {
    role: {trio[i].lower() for trio in NAMES["qkv3"] + NAMES["qkv_lists"]} | more
    for i, (role, more) in enumerate(
        (
            ("q", {"q_layer", "query_layer", "w_query", "q_mapping"}),
            ("k", {"k_layer", "key_layer", "w_key", "k_mapping"}),
            ("v", {"v_layer", "value_layer", "w_value", "v_mapping"}),
        )
    )
}
HEADS_HINT = (
    f"or per-head lists: an nn.ModuleList named {listing(NAMES['heads'])} of heads that each hold their "
    "own q/k/v (or query/key/value) Linear(C, C/H), or three nn.ModuleList of H Linear(C, C/H) named "
    f"{listing(NAMES['qkv_lists'])}"
)


def head_roles(layers, head, what):
    """{"q", "k", "v": layer} of one head (or {"qkv": layer}, a fused Linear(C, 3D)), found by name."""
    fused = [linear_in(layers, join(head, n)) for n in NAMES["qkv"] if linear_in(layers, join(head, n))]
    if fused:
        return {"qkv": fused[0]}
    roles = {}
    for child in under(layers, head, direct=True):
        role = next((r for r, names in ROLE_NAMES.items() if short(child, head).lower() in names), None)
        lay = linear_in(layers, child["name"])
        if role and lay is not None:
            roles.setdefault(role, []).append(lay)
    expect(
        all(len(roles.get(r, ())) == 1 for r in "qkv"),
        f"{what}: found no query, key and value projections of its own: looked for three nn.Linear named "
        f"{listing(NAMES['qkv3'])}, or one named {listing(NAMES['qkv'])}; found: {found_linears(layers, head)}",
    )
    return {r: roles[r][0] for r in "qkv"}


def assemble_heads(layers, prefix, heads, C, H, what):
    """Fused {"q", "k", "v": (weight, bias)} from per-head projections [{"q", "k", "v" (or "qkv"): layer}, ...]:
    the weights' rows of head h are rows h*D .. (h+1)*D of the fused one (the heads concatenated in order)."""
    n = len(heads)
    expect(n > 0, f"{what}: the list of heads is empty")
    expect(H is None or n == H, f"{what} holds {n} heads, expected num_heads = {H}")
    parts = {r: [] for r in "qkv"}
    for roles in heads:
        if "qkv" in roles:
            w, b = weights(roles["qkv"], f"{what}.{short(roles['qkv'], prefix)}")
            expect(
                w.shape[0] % 3 == 0,
                f"{what}.{short(roles['qkv'], prefix)} has {w.shape[0]} outputs, not 3 x D "
                "(the queries, keys and values of the head)",
            )
            D = w.shape[0] // 3
            for i, r in enumerate("qkv"):
                parts[r].append((roles["qkv"], w[i * D : (i + 1) * D], b[i * D : (i + 1) * D]))
        else:
            for r in "qkv":
                parts[r].append((roles[r], *weights(roles[r], f"{what}.{short(roles[r], prefix)}")))
    shapes = {tuple(w.shape) for r in "qkv" for _, w, _ in parts[r]}
    found = ", ".join(
        f"{short(lay, prefix)} Linear{tuple(reversed(w.shape))}" for r in "qkv" for lay, w, _ in parts[r][:1]
    )
    expect(len(shapes) == 1, f"{what}: the heads' projections do not all have one shape: {found}, ...")
    D, inputs = shapes.pop()
    expect(
        inputs == C,
        f"{what}: each head's projections should read all C = {C} features of a token "
        f"(Linear({C}, {C // n})), found {found}; a head that reads only its slice of the features "
        "is not multi-head attention as nn.MultiheadAttention computes it",
    )
    expect(
        n * D == C,
        f"{what}: {n} heads of {D} features make {n * D}, expected C = {C} (D = C / H = {C // n}); found {found}",
    )
    used = {lay["name"] for r in "qkv" for lay, _, _ in parts[r]}
    return {r: (torch.cat([w for _, w, _ in parts[r]]), torch.cat([b for _, _, b in parts[r]])) for r in "qkv"}, used


def resolve_heads(layers, prefix, C, H, what):
    """Multi-head attention written head by head, its projections assembled into fused ones: ({"q", "k", "v":
    (weight, bias)}, names of the layers used), or None when the module has no per-head layout."""

    def container(name):
        lay = layers.get(name)
        return lay is not None and not is_torch(lay, "Linear") and bool(under(layers, name, direct=True))

    for trio in NAMES["qkv_lists"] + NAMES["qkv3"]:  # one list per role: q = [Linear(C, D)] * H, ...
        names = [join(prefix, n) for n in trio]
        if all(container(n) for n in names):
            lists = [under(layers, n, direct=True) for n in names]
            where = f"{what}.{'/'.join(trio)}"
            expect(
                all(is_torch(lay, "Linear") for lst in lists for lay in lst),
                f"{where} should each hold one nn.Linear per head; found: {found_linears(layers, prefix)}",
            )
            expect(
                len({len(lst) for lst in lists}) == 1,
                f"{where} hold {', '.join(str(len(lst)) for lst in lists)} heads: one Linear per head each",
            )
            W, used = assemble_heads(layers, prefix, [dict(zip("qkv", t)) for t in zip(*lists)], C, H, where)
            return W, used | set(names)
    name = next((join(prefix, n) for n in NAMES["heads"] if container(join(prefix, n))), None)
    if name is None:  # an unnamed list of heads: a ModuleList whose items are modules holding Linear layers
        lists = [
            lay
            for lay in under(layers, prefix, direct=True)
            if lay["class"] in ("ModuleList", "Sequential")
            and under(layers, lay["name"], direct=True)
            and all(
                not lay2["torch"] and any(is_torch(m, "Linear") for m in under(layers, lay2["name"]))
                for lay2 in under(layers, lay["name"], direct=True)
            )
        ]
        expect(
            len(lists) <= 1,
            f"{what}: several lists could be its heads "
            f"({', '.join(short(lay, prefix) for lay in lists)}): name the list of heads "
            f"{listing(NAMES['heads'])}",
        )
        name = lists[0]["name"] if lists else None
    if name is None:
        return None
    heads = under(layers, name, direct=True)
    per_head = [head_roles(layers, h["name"], f"{what}.{short(h, prefix)}") for h in heads]
    W, used = assemble_heads(layers, prefix, per_head, C, H, f"{what}.{short(layers[name], prefix)}")
    for h in heads:  # a head may hold nothing else with weights: the oracle would not know what to do with them
        extra = [
            f"{short(lay, prefix)}.{k}"
            for lay in [h] + under(layers, h["name"])
            if lay["name"] not in used
            for k in lay["params"]
        ]
        expect(
            not extra,
            f"{what}.{short(h, prefix)} has parameters besides its query, key and value projections "
            f"({', '.join(extra)}): the grader cannot place them in nn.MultiheadAttention; keep one "
            "output projection Linear(C, C) after the heads are concatenated",
        )
    return W, used | {name}


def resolve_attention(layers, prefix, C, what, H=None, projection_optional=False):
    """{"q", "k", "v", "proj": (weight, bias)} of a self-attention module (fused qkv, separate q/k/v, or per-head
    lists assembled into fused weights; with or without bias), and the names found, or CheckFailed saying what was
    looked for. H (when known) is the number of heads a per-head list must hold. projection_optional (single-head
    attention, written with or without an output projection in the course's versions): a module with no Linear
    left for it gets "proj" zeros and "proj_name" None."""
    lins = [lay for lay in under(layers, prefix) if is_torch(lay, "Linear")]
    square = [lay for lay in lins if tuple(lay["params"]["weight"].shape) == (C, C)]
    W, used = {}, []
    qkv = next(
        (
            linear_in(layers, join(prefix, n), (3 * C, C))
            for n in NAMES["qkv"]
            if linear_in(layers, join(prefix, n), (3 * C, C))
        ),
        None,
    )
    if qkv is None:
        fused = [lay for lay in lins if tuple(lay["params"]["weight"].shape) == (3 * C, C)]
        qkv = fused[0] if len(fused) == 1 else None
    if qkv is not None:
        w, b = weights(qkv, f"{what}.{short(qkv, prefix)}")
        W.update(q=(w[:C], b[:C]), k=(w[C : 2 * C], b[C : 2 * C]), v=(w[2 * C :], b[2 * C :]))
        used.append(qkv["name"])
    else:
        for trio in NAMES["qkv3"]:
            found = [linear_in(layers, join(prefix, n), (C, C)) for n in trio]
            if all(found):
                break
        else:
            found = None
        heads = resolve_heads(layers, prefix, C, H, what) if found is None else None
        if heads is not None:
            W.update(heads[0])
            inside = heads[1]
            used += sorted(inside)
            square = [
                lay for lay in square if not any(lay["name"] == n or lay["name"].startswith(n + ".") for n in inside)
            ]
        else:
            if found is None:
                found = square[:3] if len(square) == 4 else None  # q, k, v, proj in the order they were made
            expect(
                found is not None and all(found),
                f"{what}: no query/key/value projection found: looked for one Linear({C}, {3 * C}) named "
                f"{listing(NAMES['qkv'])}, or three Linear({C}, {C}) named {listing(NAMES['qkv3'])}, "
                f"{HEADS_HINT}; found: {found_linears(layers, prefix)}",
            )
            for role, lay in zip("qkv", found):
                W[role] = weights(lay, f"{what}.{short(lay, prefix)}")
                used.append(lay["name"])
    proj = next(
        (
            linear_in(layers, join(prefix, n), (C, C))
            for n in NAMES["proj"]
            if join(prefix, n) not in used and linear_in(layers, join(prefix, n), (C, C))
        ),
        None,
    )
    if proj is None:
        left = [lay for lay in square if lay["name"] not in used]
        proj = left[0] if len(left) == 1 else None
        if not left and projection_optional:
            W["proj"], W["proj_name"] = (
                (torch.zeros(C, C, dtype=torch.float64), torch.zeros(C, dtype=torch.float64)),
                None,
            )
            return W
    expect(
        proj is not None and proj["name"] not in used,
        f"{what}: no output projection found: looked for a Linear({C}, {C}) named {listing(NAMES['proj'])}; "
        f"found: {found_linears(layers, prefix)}",
    )
    W["proj"] = weights(proj, f"{what}.{short(proj, prefix)}")
    W["proj_name"] = proj["name"]
    return W


def resolve_mlp(layers, prefix, C, hidden, what, exclude=()):
    """(fc1, fc2) as (weight, bias) pairs: the two nn.Linear of an MLP, by name or in the order they were made."""
    pair_ = None
    for a, b in NAMES["fc"]:
        la, lb = layers.get(join(prefix, a)), layers.get(join(prefix, b))
        if is_torch(la, "Linear") and is_torch(lb, "Linear"):
            pair_ = [la, lb]
            break
    if pair_ is None:
        lins = [
            lay
            for lay in under(layers, prefix)
            if is_torch(lay, "Linear") and not any(lay["name"].startswith(e + ".") or lay["name"] == e for e in exclude)
        ]
        pair_ = lins if len(lins) == 2 else None
    expect(
        pair_ is not None,
        f"{what}: no MLP found: looked for two nn.Linear named {listing(NAMES['fc'])}, or an "
        f"nn.Sequential(Linear, GELU, Linear); found: {found_linears(layers, prefix)}",
    )
    for lay, shape, n in zip(pair_, ((hidden, C), (C, hidden)), ("first", "second")):
        got = tuple(lay["params"]["weight"].shape)
        expect(
            got == shape,
            f"{what}: the {n} Linear of the MLP ({short(lay, prefix)}) has a weight of shape {got}, "
            f"expected {shape} (hidden = int(embed_dim * mlp_ratio) = {hidden})",
        )
    return [weights(lay, f"{what}.{short(lay, prefix)}") for lay in pair_], pair_[1]["name"]


def norm_params(lay, C, what):
    """(weight, bias, eps) of an nn.LayerNorm(C) with its affine parameters."""
    expect(is_torch(lay, "LayerNorm"), f"{what} should be an nn.LayerNorm, got {lay['class']}")
    shape = tuple(lay["config"].get("normalized_shape", ()))
    expect(shape == (C,), f"{what} normalizes {shape}, expected {(C,)}")
    weight, bias = lay["params"].get("weight"), lay["params"].get("bias")
    expect(
        weight is not None and bias is not None,
        f"{what} should have a weight and a bias (nn.LayerNorm's default elementwise_affine=True)",
    )
    return weight, bias, float(lay["config"].get("eps", 1e-5))


def find_attention(layers, prefix, C, H, what, skip=()):
    """The prefix of a block's attention: by name, else the only child module that resolves as a self-attention."""
    attn = next((join(prefix, n) for n in NAMES["attn"] if join(prefix, n) in layers), None)
    if attn is not None:
        return attn
    children = [lay for lay in under(layers, prefix, direct=True) if not lay["torch"] and lay["name"] not in skip]
    found = []
    for lay in children:
        try:
            resolve_attention(layers, lay["name"], C, what, H)
            found.append(lay)
        except CheckFailed:
            continue
    expect(
        len(found) < 2,
        f"{what}: several children could be its attention ("
        f"{', '.join(short(lay, prefix) for lay in found)}): name it `{NAMES['attn'][0]}`",
    )
    seen = ", ".join(f"{short(lay, prefix)} {lay['class']}" for lay in under(layers, prefix, direct=True))
    expect(
        found,
        f"{what} has no attribute `{NAMES['attn'][0]}` (its MultiHeadsSelfAttention): looked for "
        f"{listing(NAMES['attn'])}, or another child module with query/key/value and output projections; "
        f"found: {seen or 'no child module'} (a module kept in a plain list or dict is not registered: "
        "use an attribute or nn.ModuleList)",
    )
    return found[0]["name"]


def resolve_block(layers, prefix, C, hidden, what="Block", H=None):
    """The parameters of a pre-norm block: {"norm1", "norm2", "attn", "mlp", "last"}."""
    P = {}
    for n1, n2 in NAMES["norms"]:
        a, b = layers.get(join(prefix, n1)), layers.get(join(prefix, n2))
        if a is not None and b is not None:
            break
    else:
        norms = [lay for lay in under(layers, prefix, direct=True) if is_torch(lay, "LayerNorm")]
        a, b = norms if len(norms) == 2 else (None, None)
    expect(
        a is not None,
        f"{what}: no LayerNorms found: looked for {listing(NAMES['norms'])}, or two nn.LayerNorm "
        f"attributes; found: {', '.join(short(m, prefix) + ' ' + m['class'] for m in under(layers, prefix, True)) or 'nothing'}",
    )
    P["norm1"], P["norm2"] = (
        norm_params(a, C, f"{what}.{short(a, prefix)}"),
        norm_params(b, C, f"{what}.{short(b, prefix)}"),
    )
    mlp = next((join(prefix, n) for n in NAMES["mlp"] if join(prefix, n) in layers), None)
    attn = find_attention(layers, prefix, C, H, what, skip=(mlp,))
    P["attn"] = resolve_attention(layers, attn, C, f"{what}.{short(layers[attn], prefix)}", H)
    P["mlp"], fc2 = resolve_mlp(
        layers,
        mlp or prefix,
        C,
        hidden,
        f"{what}.{short(layers[mlp], prefix)}" if mlp else what,
        exclude=() if mlp else (attn,),
    )
    P["last"] = (P["attn"]["proj_name"], fc2)  # the last layer of each residual branch
    return P


def parameter_count(layers) -> int:
    return sum(t.numel() for lay in layers.values() for t in lay["params"].values())


# ---------------------------------------------------------------- the judge's weights, whatever the student's layout
# An oracle computes from the judge's own draws, never from values read back from the submission (the student kit
# answers an oracle call from the values recorded for the same inputs on the reference). The judge draws the
# canonical layout of each part (the q, k, v and output projections of nn.MultiheadAttention, the MLP's fc1 and
# fc2, the norms, the patch convolution, class token, positions and head), in a fixed order and with fixed
# shapes, then sets each value where the student's module keeps it. Where that is, the resolvers say: run on a copy
# of the module's structure whose parameters hold the numbers of their elements (1, 2, ...), they return the
# canonical layout filled with those numbers (0 where the student has nothing: q, k, v without bias). So per-head
# Linear layers and one fused qkv get the same draws and meet the same recorded oracle call.
def numbered(layers):
    """A copy of `layers` whose parameters hold the numbers of their elements, counted from 1 (float64: exact)."""
    out, start = {}, 1
    for name, lay in layers.items():
        params = {}
        for key, t in lay["params"].items():
            params[key] = torch.arange(start, start + t.numel(), dtype=torch.float64).reshape(t.shape)
            start += t.numel()
        out[name] = {**lay, "params": params}
    return out


def draws(ids, scale, fixed, what, path=()):
    """Random values (normal, times `scale`) in the canonical layout `ids` (nested dicts, lists and (weight, bias)
    pairs of element numbers), drawn in its order; `fixed` {top-level key: value} gives values instead of drawing
    them. Returns (values, [(numbers, value), ...] to set in the student's module)."""
    if isinstance(ids, torch.Tensor):
        if path[0] in fixed:
            value = fixed[path[0]].to(torch.float32).reshape(ids.shape)
        else:
            value = torch.randn(ids.shape) * scale * (ids > 0)  # an absent bias stays 0, as the module computes
        return value, [(ids, value)]
    if isinstance(ids, dict):
        pairs, out = [], {}
        for key, sub in ids.items():
            out[key], more = draws(sub, scale, fixed, what, (*path, key))
            pairs += more
        return out, pairs
    expect(  # a (weight, bias) pair; a layer absent altogether is the resolver's to allow (an optional projection)
        not isinstance(ids, tuple)
        or bool((ids[1] > 0).any())
        or not bool((ids[0] > 0).any())
        or path[-1:] in (("q",), ("k",), ("v",)),
        f"{what}: {'.'.join(str(p) for p in path)} has no bias; only the query, key and value projections may go "
        "without one (nn.Linear's and nn.Conv2d's default keeps it)",
    )
    pairs, out = [], []
    for i, sub in enumerate(ids):
        value, more = draws(sub, scale, fixed, what, (*path, i))
        out.append(value)
        pairs += more
    return type(ids)(out), pairs


def judge_weights(sub, model, layers, layout, scale, what, fixed=None):
    """The judge's draws in the canonical layout that `layout(layers)` resolves (a function of a module's
    structure), set in the student's `model`; returns them (what the oracles take). The student's parameters the
    layout does not use get random values of their own (another generator: the draws do not depend on them), and
    `layers` holds the values set."""
    index = numbered(layers)
    values, pairs = draws(layout(index), scale, fixed or {}, what)
    total = sum(t.numel() for lay in index.values() for t in lay["params"].values())
    flat = torch.randn(total, generator=torch.Generator().manual_seed(total)) * scale
    used = torch.cat([ids[ids > 0].long() - 1 for ids, _ in pairs] + [torch.zeros(0, dtype=torch.long)])
    expect(
        len(used.unique()) == len(used),
        f"{what}: one parameter plays two parts of the layout (a layer shared between two places?)",
    )
    for ids, value in pairs:
        flat[ids[ids > 0].long() - 1] = value[ids > 0]
    sent, start = {}, 0
    for lay in layers.values():
        for key, t in lay["params"].items():
            new = flat[start : start + t.numel()].reshape(t.shape)
            lay["params"][key] = new.to(t.dtype) if t.is_floating_point() else new
            sent[join(lay["name"], key)] = lay["params"][key]
            start += t.numel()
    left = sub.kit("autograder.sandbox.drivers.a3:set_parameters", model, sent)
    expect(
        not left,
        f"the grader could not set the parameters {left} of the model through named_parameters() "
        "(a parameter shared between two layers?)",
    )
    return values


def attention_layout(W):
    """The canonical layout of a self-attention: nn.MultiheadAttention's projections."""
    return {r: W[r] for r in ("q", "k", "v", "proj")}


def mlp_layout(M):
    return {"fc1": M[0], "fc2": M[1]}


def block_layout(P):
    return {
        "norm1": P["norm1"][:2],  # the oracles use nn.LayerNorm's own eps
        "attn": attention_layout(P["attn"]),
        "norm2": P["norm2"][:2],
        "mlp": mlp_layout(P["mlp"]),
    }


def without_qkv_bias(S):
    """S with the query, key and value biases at zero, everywhere."""
    if isinstance(S, dict):
        S = {k: without_qkv_bias(v) for k, v in S.items()}
        for r in ("q", "k", "v") if {"q", "k", "v", "proj"} <= set(S) else ():
            S[r] = (S[r][0], torch.zeros_like(S[r][1]))
        return S
    if isinstance(S, list):
        return [without_qkv_bias(v) for v in S]
    return S


# The student kit records the hints' variants on the narrowest cases only (up to this embedding dimension), where a
# mistake shows first: each recorded call keeps its weights, and every case would multiply the kit's size.
HINTED_WIDTH = 8


def record_hints(candidates, compute, S, C):
    """Recording the student kit's answers on the reference, for a case of width C <= HINTED_WIDTH, also the
    variants (of `candidates`, see matching()) with at most one mistake, compute(S, **kw), on the judge's weights S
    and on S without q, k, v biases: the kit then names a single mistake as the instructor's grader does (it holds
    no answer for two mistakes or more, nor for wider cases, and simply gives no hint there)."""
    if face() != "record" or C > HINTED_WIDTH:
        return
    for mistakes, kw in candidates:
        for weights in (without_qkv_bias(S), S) if len(mistakes) <= 1 else ():
            try:
                compute(weights, **kw)
            except Exception:  # a variant that does not apply to these shapes
                pass


def judged(oracle_fn, x, S, *args, **kw):
    """oracle_fn(x, S, *args, **kw). Recording the student kit's answers on the reference, the oracle is also called
    on the weights a correct module without q, k, v biases holds (allowed by the course), so that the kit holds
    that case's answer too."""
    if face() == "record":
        oracle_fn(x, without_qkv_bias(S), *args, **kw)
    return oracle_fn(x, S, *args, **kw)


def attribute(model, names):
    """(name, model.<name>) for the first of `names` the model has (plain data, or a handle); (None, None)."""
    for name in (names,) if isinstance(names, str) else names:
        try:
            return name, getattr(model, name)
        except SubmissionError:
            continue
    return None, None


def tensor_of(model, role, what):
    """(name, tensor) of the model's class token or positional embedding, looked up by its accepted names."""
    name, t = attribute(model, NAMES[role])
    expect(t is not None, f"{what} has no attribute `{NAMES[role][0]}`: looked for {listing(NAMES[role])}")
    return name, expect_tensor(t, f"{what}.{name}")


# ---------------------------------------------------------------- oracles (the student kit ships their recorded answers)
# torch's own modules (nn.MultiheadAttention, nn.LayerNorm, nn.Linear, nn.GELU, F.conv2d) with the judge's weights.
# They are made without drawing initial weights (skip_init, the meta device): an oracle must not consume the check's
# random numbers, or the student kit, whose oracles do not run, would draw the next case's inputs differently.
def _norm_module(p):
    ref = nn.LayerNorm(p[0].shape[0])
    with torch.no_grad():
        ref.weight.copy_(p[0])
        ref.bias.copy_(p[1])
    return ref


def _mha_module(W, H):
    C = W["proj"][0].shape[0]
    ref = skip_init(nn.MultiheadAttention, C, H, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([W[r][0] for r in "qkv"]))
        ref.in_proj_bias.copy_(torch.cat([W[r][1] for r in "qkv"]))
        ref.out_proj.weight.copy_(W["proj"][0])
        ref.out_proj.bias.copy_(W["proj"][1])
    return ref.eval()


def _mlp_module(M):
    hidden, C = M["fc1"][0].shape
    ref = nn.Sequential(skip_init(nn.Linear, C, hidden), nn.GELU(), skip_init(nn.Linear, hidden, C))
    with torch.no_grad():
        for dst, (w, b) in zip((ref[0], ref[2]), (M["fc1"], M["fc2"])):
            dst.weight.copy_(w)
            dst.bias.copy_(b)
    return ref


def _block_model(P, H):
    """The pre-norm block of torch modules: x + MHA(LN(x)), then + MLP(LN(x))."""
    norm1, norm2 = _norm_module(P["norm1"]), _norm_module(P["norm2"])
    attn, mlp_ = _mha_module(P["attn"], H), _mlp_module(P["mlp"])

    def forward(x):
        h = norm1(x)
        x = x + attn(h, h, h, need_weights=False)[0]
        return x + mlp_(norm2(x))

    return forward


def _vit_model(V, H):
    """The ViT: patch convolution, class token, positions, blocks of torch modules, final norm, head(class token)."""
    blocks, final = [_block_model(P, H) for P in V["blocks"]], _norm_module(V["norm"])
    conv_w, conv_b = V["conv"]

    def forward(x):
        tokens = F.conv2d(x, conv_w, conv_b, stride=conv_w.shape[-1]).flatten(2).transpose(1, 2)
        tokens = torch.cat([V["cls"].expand(len(x), -1, -1), tokens], 1) + V["pos"]
        for run in blocks:
            tokens = run(tokens)
        return F.linear(final(tokens)[:, 0], *V["head"])

    return forward


@oracle
def attention_oracle(Q, K, V):
    """(out, weights) of scaled dot-product attention: F.scaled_dot_product_attention, softmax over the keys."""
    weights = torch.softmax(Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1]), dim=-1)
    return F.scaled_dot_product_attention(Q, K, V), weights


@oracle
def mha_oracle(x, W, H):
    """(out, weights (B, H, N, N)) of nn.MultiheadAttention with the projections W."""
    with torch.no_grad():
        return _mha_module(W, H)(x, x, x, need_weights=True, average_attn_weights=False)


@oracle
def mlp_oracle(x, M):
    with torch.no_grad():
        return _mlp_module(M)(x)


@oracle
def block_oracle(x, P, H):
    with torch.no_grad():
        return _block_model(P, H)(x)


@oracle
def patch_embed_oracle(x, weight, bias):
    """The patches' tokens (B, N, C): F.conv2d with stride = kernel size, in row-major patch order."""
    return F.conv2d(x, weight, bias, stride=weight.shape[-1]).flatten(2).transpose(1, 2)


@oracle
def sinusoidal_positions(L, d):
    """The closed-form sinusoids (L, d): sin / cos of p / 10000^(2i/d) in columns 2i / 2i+1 (float64)."""
    p = torch.arange(L, dtype=torch.float64)[:, None]
    angle = p / 10000 ** (2 * torch.arange(d // 2, dtype=torch.float64)[None] / d)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(L, d)


@oracle
def torch_parameters(part, *sizes):
    """numel() of the same part built from torch's modules."""
    build = {
        "PatchEmbed": lambda chan, p, C: [nn.Conv2d(chan, C, p, stride=p, device="meta")],
        "MLP": lambda C, hidden: [nn.Linear(C, hidden, device="meta"), nn.Linear(hidden, C, device="meta")],
        "MultiHeadsSelfAttention": lambda C, H: [nn.MultiheadAttention(C, H, device="meta")],
    }[part]
    return sum(q.numel() for m in build(*sizes) for q in m.parameters())


@oracle
def vit_oracle(x, V, H):
    with torch.no_grad():
        return _vit_model(V, H)(x)


# ---------------------------------------------------------------- what a wrong output matches (hints only)
# The oracles above are torch's modules; these recompute the same layers with one mistake at a time, so that a
# failing check can say which one the student's output matches. They never decide a pass. They are oracles too: the
# student kit holds their answers only where the reference met them (rarely), and drops the hint elsewhere.
SCALE_MISTAKES = {
    "mul": "the scores are multiplied by sqrt(d) where they should be divided by it",
    "none": "the scores are not scaled by 1/sqrt(d)",
    "model": "the scores are scaled with the embedding dimension C instead of the dimension D = C / H of a head",
    "by_d": "the scores are divided by d instead of sqrt(d)",
}
SOFTMAX_MISTAKE = "the softmax runs over the queries (dim=-2) instead of over the keys (the last dimension)"
PROJ_MISTAKE = "the output projection is never applied (it is created in __init__ but not used in forward)"
RESIDUAL_MISTAKES = {
    "norm": "the {branch} residual adds the normalized tokens (x = norm(x); x = x + f(x)) instead of the block's "
    "input: the skip connection must bypass the LayerNorm",
    "none": "the {branch} residual connection is missing (the block's input is not added back)",
}
POST_NORM_MISTAKE = (
    "this is the post-norm block (norm after the residual sum); the ViT normalizes the input of each branch"
)
WEIGHT_MISTAKES = (  # attention(Q, K, V)'s weights: (mistake, keywords of attention_weights_fn)
    ("the weights are softmax(Q K^T) without the 1/sqrt(d_k) scaling", dict(scale="none")),
    (SCALE_MISTAKES["mul"], dict(scale="mul")),
    (SCALE_MISTAKES["by_d"], dict(scale="by_d")),
    (SOFTMAX_MISTAKE, dict(dim=-2)),
)


def _scores(q, k, scale):
    s, d = q @ k.transpose(-2, -1), q.shape[-1]
    return {"right": s / math.sqrt(d), "mul": s * math.sqrt(d), "none": s, "by_d": s / d}[scale]


def _attend(x, W, H, scale="right", dim=-1, project=True):
    B, N, C = x.shape
    D = C // H
    q, k, v = (F.linear(x, *W[r]).reshape(B, N, H, D).transpose(1, 2) for r in "qkv")
    s = q @ k.transpose(-2, -1) / math.sqrt(C) if scale == "model" else _scores(q, k, scale)
    out = (s.softmax(dim) @ v).transpose(1, 2).reshape(B, N, C)
    return F.linear(out, *W["proj"]) if project else out


def _block_variant(x, P, H, attn=None, res=("x", "x"), post=False):
    C = x.shape[-1]
    for branch, mode in zip(("attn", "mlp"), res):
        p = P["norm1" if branch == "attn" else "norm2"]
        h = x if post else F.layer_norm(x, (C,), p[0], p[1])
        if branch == "attn":
            f = _attend(h, P["attn"], H, **(attn or {}))
        else:
            f = F.linear(F.gelu(F.linear(h, *P["mlp"]["fc1"])), *P["mlp"]["fc2"])
        x = {"x": x, "norm": h, "none": 0}[mode] + f
        x = F.layer_norm(x, (C,), p[0], p[1]) if post else x
    return x


@oracle
def attention_weights_fn(Q, K, scale="right", dim=-1):
    return _scores(Q, K, scale).softmax(dim)


@oracle
def mhsa_fn(x, W, H, scale="right", dim=-1, project=True):
    return _attend(x, W, H, scale, dim, project)


@oracle
def block_fn(x, P, H, attn=None, res=("x", "x"), post=False):
    return _block_variant(x, P, H, attn, res, post)


@oracle
def vit_fn(x, V, H, variant=None):
    """The ViT recomputed with one block's worth of mistakes in every block."""
    C = V["cls"].shape[-1]
    conv_w, conv_b = V["conv"]
    tokens = F.conv2d(x, conv_w, conv_b, stride=conv_w.shape[-1]).flatten(2).transpose(1, 2)
    tokens = torch.cat([V["cls"].expand(len(x), -1, -1), tokens], 1) + V["pos"]
    for P in V["blocks"]:
        tokens = _block_variant(tokens, P, H, **(variant or {}))
    return F.linear(F.layer_norm(tokens, (C,), *V["norm"])[:, 0], *V["head"])


def attention_variants(H, C):
    """(mistakes, keywords of mhsa_fn) for every combination of the usual attention mistakes, the right one
    first."""
    scales = ["right", "mul", "none", "by_d"] + (["model"] if H > 1 and C // H != C else [])
    out = []
    for scale in scales:
        for dim in (-1, -2):
            for project in (True, False):
                mistakes = (
                    ([SCALE_MISTAKES[scale]] if scale != "right" else [])
                    + ([SOFTMAX_MISTAKE] if dim == -2 else [])
                    + ([] if project else [PROJ_MISTAKE])
                )
                out.append((mistakes, dict(scale=scale, dim=dim, project=project)))
    return sorted(out, key=lambda c: len(c[0]))  # the fewest mistakes that explain the output


def block_variants(H, C):
    out = []
    for mistakes, attn in attention_variants(H, C):
        for r1 in ("x", "norm", "none"):
            for r2 in ("x", "norm", "none"):
                more = [RESIDUAL_MISTAKES[r].format(branch=b) for r, b in ((r1, "attention"), (r2, "MLP")) if r != "x"]
                out.append((mistakes + more, dict(attn=attn, res=(r1, r2))))
    return sorted(out, key=lambda c: len(c[0]))


def matches(out, value, **tol) -> bool:
    return (
        isinstance(out, torch.Tensor)
        and isinstance(value, torch.Tensor)
        and value.shape == out.shape
        and torch.allclose(out.double(), value.double(), **(tol or dict(rtol=1e-3, atol=1e-4)))
    )


def matching(out, candidates, compute):
    """The mistakes of the first candidate whose output `out` matches (None when none does, or when it is the
    right one: then the difference lies elsewhere; None too where the student kit holds no answer for them)."""
    if not isinstance(out, torch.Tensor):
        return None
    with torch.no_grad():
        for mistakes, kw in candidates:
            try:
                value = compute(**kw)
            except NotRecorded:  # the student kit: no hint, the failure stands
                return None
            except Exception:  # a variant that does not apply to these shapes
                continue
            if matches(out, value):
                return mistakes or None
    return None


def diagnose(out, candidates, compute, what):
    """Fail with the named mistakes when the wrong output matches a known one."""
    mistakes = matching(out, candidates, compute)
    if mistakes:
        raise CheckFailed(
            f"{what} is wrong; it matches the right computation with these mistakes: " + "; ".join(mistakes)
        )


def attention_call(sub, model, x, what):
    """(out, weights or None) of the student's attention module called as the course calls it, forward(x)
    (kit.a3.attention_maps.attend: the weights it returns, with the kit's keyword where forward takes it, or the
    softmax it computes)."""
    call = sub.kit("autograder.sandbox.drivers.a3:attention_call", model, x)
    expect(isinstance(call, dict) and "out" in call, f"{what} returned nothing the grader can read")
    return call["out"], call.get("weights")


def with_identity_projection(W, C):
    """W with an output projection that changes nothing: single-head attention written without one."""
    return {**W, "proj": (torch.eye(C), torch.zeros(C))}


# ---------------------------------------------------------------- attention
@check(points=2)
def attention_function(sub):
    """attention(Q, K, V) equals F.scaled_dot_product_attention; its weights are a softmax over keys."""
    attention = sub.function("attention", "attention")
    for lead, N, dk, dv in [((1,), 1, 3, 3), ((2,), 5, 4, 4), ((3, 4), 7, 8, 5), ((2, 3), 16, 16, 16)]:
        Q, K, V = torch.randn(*lead, N, dk) * 2, torch.randn(*lead, N, dk) * 2, torch.randn(*lead, N, dv)
        result = attention(Q.clone(), K.clone(), V.clone())
        expect(isinstance(result, tuple) and len(result) == 2, "attention should return a pair (out, weights)")
        out, weights = result
        what = f"attention(Q, K, V) for Q of shape {tuple(Q.shape)}"
        expected_out, expected_weights = attention_oracle(Q, K, V)
        if face() == "record" and N > 1:  # the mistakes the hint names, so that the student kit keeps the hint
            for _, kw in WEIGHT_MISTAKES:
                attention_weights_fn(Q, K, **kw)
        if N > 1 and not matches(weights, expected_weights, **TOL):
            mistake = matching(
                weights, [([m], kw) for m, kw in WEIGHT_MISTAKES], lambda **kw: attention_weights_fn(Q, K, **kw)
            )
            expect(not mistake, f"{what}: {mistake[0] if mistake else ''}")
        hint = (
            "check which dimension the scaling uses (the keys' feature size d_k) and which dimension the softmax "
            "normalizes: each query's row of weights, over the keys, must sum to 1"
        )
        expect_close(weights, expected_weights, f"weights of {what}", hint=hint, **TOL)
        expect_close(weights.sum(-1), torch.ones(*lead, N), f"row sums of the weights of {what}", **TOL)
        expect_close(
            out,
            expected_out,
            what,
            hint="the weights are right but the output is not: is every output row the mean of the values weighted by its own row of weights (not by a column, not by the unscaled scores)?",
            **TOL,
        )


def attention_against_torch(sub, model, B, N, C, H, what, hint, single_head=False):
    """The judge's weights in the student's attention; its output, weights and permutation equivariance against
    nn.MultiheadAttention with the same weights. single_head: SelfAttention, which may go without an output
    projection."""
    name = what.split("(")[0]
    layers = layers_of(model, name)
    found = {}

    def layout(L):
        R = resolve_attention(L, "", C, name, H, projection_optional=single_head)
        found["proj"] = R["proj_name"]
        return attention_layout(R)

    W = judge_weights(sub, model, layers, layout, 1 / math.sqrt(C), name)
    if found["proj"] is None:
        W = with_identity_projection(W, C)
        if N == 1:  # said once, on the first case
            sub.note(
                f"{name} has no output projection: graded as attention followed by nothing (the course's "
                "versions of single-head attention differ on this)"
            )
    x = torch.randn(B, N, C)
    if face() == "record" and single_head:  # the same case without an output projection, for the student kit
        judged(mha_oracle, x, with_identity_projection(W, C), H)
    expected, expected_w = judged(mha_oracle, x, W, H)
    out, weights = attention_call(sub, model, x, what)
    expect_shape(out, (B, N, C), what)
    # which mistake, on enough tokens to tell: drawn from a generator of its own, so that the recording run, which
    # computes the hints' variants on every case, and the student kit, which draws it on a failure only, take
    # the check's other inputs from the same draws
    probe = torch.randn(2, max(N, 6), C, generator=torch.Generator().manual_seed(100 * N + C))
    variants = attention_variants(H, C)
    record_hints(variants, lambda S, **kw: mhsa_fn(probe, S, H, **kw), W, C)
    if not torch.allclose(out.double(), expected.double(), **TOL):
        diagnose(attention_call(sub, model, probe, what)[0], variants, lambda **kw: mhsa_fn(probe, W, H, **kw), what)
    expect_close(out, expected, what, hint=hint, **TOL)
    if weights is None:
        if N == 1:
            sub.note(
                f"{name}'s attention weights could not be read (forward(x) returns no pair (out, weights) and "
                "computes no softmax the grader sees): graded on its output alone"
            )
    else:
        weights = expect_tensor(weights, f"attention weights of {what}")
        if H == 1 and weights.dim() == 4:
            weights = weights[:, 0]
        expect_close(
            weights,
            expected_w if H > 1 else expected_w[:, 0],
            f"attention weights {'(B, H, N, N)' if H > 1 else '(B, N, N)'} of {what}",
            hint=hint,
            **TOL,
        )
    perm = torch.randperm(N)
    expect_close(
        attention_call(sub, model, x[:, perm], what)[0],
        out[:, perm],
        f"{what} with its tokens permuted",
        hint="self-attention without positions must permute its outputs like its inputs",
        **TOL,
    )
    return layers


@check(points=2)
def self_attention(sub):
    """SelfAttention equals nn.MultiheadAttention with one head and the same weights; it is permutation-equivariant."""
    SelfAttention = sub.function("attention", "SelfAttention")
    for B, N, C, _ in cases(SIZES, KIT_SIZES):
        attention_against_torch(
            sub,
            SelfAttention(C),
            B,
            N,
            C,
            1,
            f"SelfAttention({C}) on x of shape {(B, N, C)}",
            "is each projection used for its own role (queries, keys, values), the scaling by "
            "the square root of the feature size, and the output projection applied last?",
            single_head=True,
        )


@check(points=3)
def multi_head_attention(sub):
    """MultiHeadsSelfAttention equals nn.MultiheadAttention with the same weights, for many (B, N, C, H)."""
    MHSA = sub.function("attention", "MultiHeadsSelfAttention")
    hint = (
        "the usual mistakes: heads cut from the wrong axis (a head is D = C/H consecutive features of Q, K or "
        "V, not every H-th one), scaling by the model's width C instead of a head's D, heads concatenated in "
        "another order than they were split, or the projection forgotten"
    )
    for B, N, C, H in cases(SIZES, KIT_SIZES):
        attention_against_torch(
            sub, MHSA(C, H), B, N, C, H, f"MultiHeadsSelfAttention({C}, {H}) on x of shape {(B, N, C)}", hint
        )
    n = parameter_count(layers_of(MHSA(48, 6), "MultiHeadsSelfAttention"))
    ref_n = torch_parameters("MultiHeadsSelfAttention", 48, 6)
    biasless = ref_n - 4 * 48  # the same projections without their biases
    expect(
        n in range(biasless, ref_n + 1, 48),
        f"MultiHeadsSelfAttention(48, 6) has {n} parameters, nn.MultiheadAttention has "
        f"{ref_n} ({biasless} without biases)",
    )


@check(points=1)
def heads_must_divide(sub):
    """MultiHeadsSelfAttention raises a clear ValueError when embed_dim % num_heads != 0."""
    MHSA = sub.function("attention", "MultiHeadsSelfAttention")
    MHSA(32, 4)
    MHSA(30, 5)
    for C, H in [(30, 4), (10, 3)]:
        err = sub.kit(
            "autograder.sandbox.drivers.a3:raised", MHSA, C, H
        )  # None, or the exception's class names and message
        if err is None:
            raise CheckFailed(
                f"MultiHeadsSelfAttention({C}, {H}) should raise a ValueError: {C} features cannot be "
                f"split into {H} heads of equal size"
            )
        classes, message = list(err.get("classes") or ["Exception"]), str(err.get("message", ""))
        if "ValueError" not in classes:
            raise CheckFailed(
                f"MultiHeadsSelfAttention({C}, {H}) raised {classes[0]}, expected a ValueError saying "
                f"that {C} is not divisible by {H}"
            )
        expect(
            str(C) in message and str(H) in message,
            f"the ValueError of MultiHeadsSelfAttention({C}, {H}) should name both numbers, says: {message}",
        )


# ---------------------------------------------------------------- pieces of the ViT
def resolve_conv(layers, prefix, what):
    """The patch embedding's nn.Conv2d: by name, or the only Conv2d inside."""
    for n in NAMES["conv"]:
        if is_torch(layers.get(join(prefix, n)), "Conv2d"):
            return layers[join(prefix, n)]
    convs = [lay for lay in under(layers, prefix) if is_torch(lay, "Conv2d")]
    expect(
        len(convs) == 1,
        f"{what}: no patch convolution found: looked for an nn.Conv2d named "
        f"{listing(NAMES['conv'])}; found: {found_linears(layers, prefix)}",
    )
    return convs[0]


def conv_layout(layers, prefix, chan, p, C, what):
    """(weight, bias) of the patch convolution, which must be Conv2d(chan, C, kernel_size=p, stride=p)."""
    conv = resolve_conv(layers, prefix, what)
    weight = conv["params"].get("weight")
    expect(
        weight is not None
        and tuple(weight.shape) == (C, chan, p, p)
        and tuple(conv["config"].get("stride", ())) == (p, p),
        f"{what}.{conv['name']} should be Conv2d({chan}, {C}, kernel_size={p}, stride={p})",
    )
    return weights(conv, f"{what}.{conv['name']}")


@check(points=1)
def patch_embed(sub):
    """PatchEmbed equals a strided nn.Conv2d, flattened to (B, N, C) in row-major patch order."""
    PatchEmbed = sub.function("vit", "PatchEmbed")
    for B, chan, size, p, C in [(2, 1, 28, 7, 32), (3, 1, 28, 4, 16), (1, 3, 32, 8, 24), (2, 1, 28, 14, 8)]:
        model = PatchEmbed(chan, p, C)
        layers = layers_of(model, "PatchEmbed")
        what = f"PatchEmbed({chan}, {p}, {C})"
        conv = judge_weights(sub, model, layers, lambda L: {"conv": conv_layout(L, "", chan, p, C, what)}, 1 / p, what)[
            "conv"
        ]
        x = torch.randn(B, chan, size, size)
        expected = patch_embed_oracle(x, *conv)
        out = model(x)
        expect_shape(out, tuple(expected.shape), f"{what} of images {tuple(x.shape)}")
        expect_close(
            out,
            expected,
            f"{what} of images {tuple(x.shape)}",
            hint="flatten the (H/p, W/p) grid row by row and put the features last",
            **TOL,
        )
        n, want = parameter_count(layers), torch_parameters("PatchEmbed", chan, p, C)
        expect(n == want, f"{what} has {n} parameters, expected {want}")


@check(points=1)
def mlp(sub):
    """MLP equals Linear -> GELU -> Linear with the same weights."""
    MLP = sub.function("vit", "MLP")
    for C, hidden in [(8, 32), (32, 128), (16, 10)]:
        model = MLP(C, hidden)
        layers = layers_of(model, "MLP")
        M = judge_weights(sub, model, layers, lambda L: mlp_layout(resolve_mlp(L, "", C, hidden, "MLP")[0]), 0.5, "MLP")
        x = torch.randn(3, 5, C) * 2
        expect_close(
            model(x),
            mlp_oracle(x, M),
            f"MLP({C}, {hidden}) on x of shape (3, 5, {C})",
            hint="Linear, then nn.GELU() (the exact one, not tanh-approximated), then Linear",
            **TOL,
        )
        n, want = parameter_count(layers), torch_parameters("MLP", C, hidden)
        expect(n == want, f"MLP({C}, {hidden}) has {n} parameters, expected {want}")


# Integer ratios, as the course passes them (4): code written `embed_dim * mlp_ratio` and code written
# `int(embed_dim * mlp_ratio)` both build the same layers.
BLOCK_RATIOS = (4, 2, 4, 1, 3)


@check(points=3)
def block(sub):
    """Block equals the pre-norm composition LN -> MHSA -> residual, LN -> MLP -> residual of torch modules."""
    Block = sub.function("vit", "Block")
    for (B, N, C, H), ratio in zip(cases(SIZES, KIT_SIZES)[1:], BLOCK_RATIOS):
        hidden = int(C * ratio)
        model = Block(C, H, ratio)
        layers = layers_of(model, "Block")
        P = judge_weights(
            sub, model, layers, lambda L: block_layout(resolve_block(L, "", C, hidden, H=H)), 1 / math.sqrt(C), "Block"
        )
        x = torch.randn(B, N, C)
        what = f"Block({C}, {H}, {ratio}) on x of shape {(B, N, C)}"
        expected = judged(block_oracle, x, P, H)
        post, variants = [(["post"], dict(post=True))], block_variants(H, C)
        record_hints(post + variants, lambda S, **kw: block_fn(x, S, H, **kw), P, C)
        out = model(x)
        expect_shape(out, (B, N, C), what)
        hint = (
            "is each branch normalized before it runs (pre-norm), and is the skip connection the branch's "
            "un-normalized input?"
        )
        if not torch.allclose(out.double(), expected.double(), **TOL):
            if matching(out, post, lambda **kw: block_fn(x, P, H, **kw)):
                hint = f"{POST_NORM_MISTAKE}: {hint}"
            else:
                diagnose(out, variants, lambda **kw: block_fn(x, P, H, **kw), what)
        expect_close(out, expected, what, hint=hint, **TOL)
        # residual paths: with both branches silenced the block is the identity
        last = resolve_block(layers, "", C, hidden, H=H)["last"]
        zeros = {f"{name}.{key}": torch.zeros_like(t) for name in last for key, t in layers[name]["params"].items()}
        sub.kit("autograder.sandbox.drivers.a3:set_parameters", model, zeros)
        expect_close(
            model(x),
            x,
            f"{what} with the last layers of attn and mlp set to zero",
            hint="each branch is added to its input (x + ...): the residual connections",
            **TOL,
        )


@check(points=1)
def positional_embeddings(sub):
    """get_positional_embeddings equals the closed-form sinusoids sin/cos(p / 10000^(2i/d)), as (L, d) or
    (1, L, d)."""
    pe_fn = sub.function("vit", "get_positional_embeddings")
    for L, d in [(1, 2), (17, 32), (50, 64), (5, 8), (197, 16)]:
        pe = expect_tensor(pe_fn(L, d), f"get_positional_embeddings({L}, {d})")
        if pe.dim() == 3 and pe.shape[0] == 1:
            pe = pe[0]  # (1, L, d): ready to add to a batch of tokens
        expect_shape(pe, (L, d), f"get_positional_embeddings({L}, {d}) (or (1, {L}, {d}))")
        expect(pe.is_floating_point(), f"get_positional_embeddings should return floats, got {pe.dtype}")
        expect_close(
            pe.double(),
            sinusoidal_positions(L, d),
            f"get_positional_embeddings({L}, {d})",
            rtol=1e-4,
            atol=1e-5,
            hint="even columns 2i hold sin(p / 10000^(2i/d)), odd columns 2i+1 cos of the same angle",
        )


# ---------------------------------------------------------------- the ViT
# (embed_dim, nb_blocks, patch_size, nb_heads, mlp_ratio, nb_classes, img_size, in_chan). The course trains on
# MNIST's images; other sizes and channels are their own check (vit_other_images), so that a ViT written for the
# course's images alone loses that point only.
VIT_CONFIGS = [(32, 2, 7, 4, 4, 10, 28, 1), (16, 1, 4, 2, 2, 10, 28, 1), (24, 3, 14, 3, 1, 7, 28, 1)]
OTHER_VIT_CONFIGS = [(24, 2, 8, 6, 2, 10, 32, 3)]  # narrow enough for the student kit's recording (KIT_SIZES)


def build_vit(ViT, cfg, pos_embedding):
    C, nb, p, H, ratio, k, size, chan = cfg
    return ViT(C, nb, p, H, ratio, nb_classes=k, img_size=size, in_chan=chan, pos_embedding=pos_embedding)


@oracle
def expected_parameters(cfg, pos_embedding):
    """Trainable parameters of the same architecture built from torch modules (numel)."""
    C, nb, p, H, ratio, k, size, chan = cfg
    N = (size // p) ** 2
    meta = dict(device="meta")  # shapes only: no initial weights drawn
    parts = [nn.Conv2d(chan, C, p, stride=p, **meta), nn.LayerNorm(C, **meta), nn.Linear(C, k, **meta)]
    for _ in range(nb):
        parts += [
            nn.LayerNorm(C, **meta),
            nn.MultiheadAttention(C, H, **meta),
            nn.LayerNorm(C, **meta),
            nn.Linear(C, int(C * ratio), **meta),
            nn.Linear(int(C * ratio), C, **meta),
        ]
    n = sum(q.numel() for m in parts for q in m.parameters())
    return n + C + ((N + 1) * C if pos_embedding == "learned" else 0)  # class token, learned positions


def as_tokens(t, n, C, what):
    """A class token ((1, 1, C), (1, C) or (C,)) or positional embedding ((1, L, C) or (L, C)) as (1, n, C)."""
    expect(
        t.numel() == n * C
        and tuple(t.shape[-2 if n > 1 else -1 :]) in ((n, C), (C,))
        and all(s == 1 for s in t.shape[: -2 if n > 1 else -1]),
        f"{what} has shape {tuple(t.shape)}, expected {(1, n, C)} or {(n, C) if n > 1 else (1, C)}",
    )
    return t.reshape(1, n, C)


def resolve_vit(layers, cfg, what):
    """conv, blocks (their prefixes), final norm and head of a ViT, found by name, then by type."""
    C, nb, p, H, ratio, k, size, chan = cfg
    conv = resolve_conv(layers, "", what)
    blocks_name = next((n for n in NAMES["blocks"] if n in layers), None)
    expect(
        blocks_name is not None,
        f"{what} has no attribute `blocks`: looked for {listing(NAMES['blocks'])} "
        "(an nn.Sequential or nn.ModuleList of Blocks)",
    )
    blocks = [lay["name"] for lay in under(layers, blocks_name, direct=True)]
    expect(len(blocks) == nb, f"{what}.{blocks_name} has {len(blocks)} blocks, expected {nb}")
    head = next((linear_in(layers, n, (k, C)) for n in NAMES["head"] if linear_in(layers, n, (k, C))), None)
    if head is None:
        heads = [
            lay
            for lay in under(layers, "")
            if is_torch(lay, "Linear")
            and tuple(lay["params"]["weight"].shape) == (k, C)
            and not lay["name"].startswith(blocks_name + ".")
        ]
        head = heads[-1] if heads else None
    expect(
        head is not None,
        f"{what}: no classification head found: looked for a Linear({C}, {k}) named {listing(NAMES['head'])}",
    )
    norm = next((layers[n] for n in NAMES["norm"] if is_torch(layers.get(n), "LayerNorm")), None)
    if norm is None:
        norms = [
            lay
            for lay in under(layers, "")
            if is_torch(lay, "LayerNorm") and not lay["name"].startswith(blocks_name + ".")
        ]
        norm = norms[-1] if len(norms) == 1 else None
    expect(
        norm is not None,
        f"{what}: no final LayerNorm found: looked for an nn.LayerNorm({C}) named "
        f"{listing(NAMES['norm'])} (after the blocks, before the head)",
    )
    return conv, blocks, norm_params(norm, C, f"{what}.{norm['name']}"), weights(head, f"{what}.{head['name']}")


def vit_layout(layers, cfg, cls, pos, what):
    """The canonical layout of a ViT: {"conv", "cls" (1, 1, C), "pos" (1, N + 1, C), "blocks", "norm", "head"};
    `cls` and `pos` are given (the tensors, or their elements' numbers)."""
    C, nb, p, H, ratio, k, size, chan = cfg
    _, blocks, norm, head = resolve_vit(layers, cfg, what)
    return {
        "conv": conv_layout(layers, "", chan, p, C, what),
        "cls": as_tokens(cls, 1, C, f"{what}'s class token"),
        "pos": as_tokens(pos, (size // p) ** 2 + 1, C, f"{what}'s positional embedding (N patches + 1 class token)"),
        "blocks": [block_layout(resolve_block(layers, b, C, int(C * ratio), f"{what}.{b}", H)) for b in blocks],
        "norm": norm[:2],
        "head": head,
    }


def parameter_name(sub, model, attr):
    """The name of `model.<attr>` among model.named_parameters(); None when it is none of them (a buffer)."""
    return (sub.kit("autograder.sandbox.drivers.a3:parameter_of", model, attr) or {}).get("name")


def numbers_of(index, full, tensor):
    """The elements' numbers (numbered()) of the parameter called `full`; zeros when there is none (a buffer: the
    judge cannot set it)."""
    if full is None:
        return torch.zeros(tensor.shape, dtype=torch.float64)
    layer, _, key = full.rpartition(".")
    return index[layer]["params"][key]


def expect_tokens(sub, ViT, cfg):
    C, _, p, _, _, _, size, chan = cfg
    N = (size // p) ** 2
    model = build_vit(ViT, cfg, "sinusoidal")
    what = f"ViT(embed_dim={C}, patch_size={p}, img_size={size}, in_chan={chan})"
    name, pe = attribute(model, NAMES["patch_embed"])
    expect(
        is_module(pe),
        f"{what} has no attribute `patch_embed`: looked for {listing(NAMES['patch_embed'])}"
        if pe is None
        else f"{what}.{name} should be an nn.Module (PatchEmbed)",
    )
    expect_shape(pe(torch.randn(2, chan, size, size)), (2, N, C), f"{what}.{name}(images)")
    name, cls = tensor_of(model, "cls_token", what)
    as_tokens(cls, 1, C, f"{what}.{name}")
    name, pos = tensor_of(model, "pos_embed", what)
    as_tokens(pos, N + 1, C, f"{what}.{name} (N patches + 1 class token)")


@check(points=1)
def vit_tokens(sub):
    """The ViT makes (img_size / patch_size)^2 patch tokens plus one class token, with positions for each."""
    ViT = sub.function("vit", "ViT")
    for cfg in VIT_CONFIGS:
        expect_tokens(sub, ViT, cfg)


@check(points=1)
def vit_positions(sub):
    """Sinusoidal positions are the closed-form values and are not trained; learned ones are trained."""
    ViT = sub.function("vit", "ViT")
    cfg = VIT_CONFIGS[0]
    C, N = cfg[0], (cfg[6] // cfg[2]) ** 2 + 1
    fixed = build_vit(ViT, cfg, "sinusoidal")
    name, pos = tensor_of(fixed, "pos_embed", "ViT")
    pos = as_tokens(pos, N, C, f"ViT.{name}")
    expected = sinusoidal_positions(N, C)[None]
    expect_close(pos.double(), expected, f"ViT(pos_embedding='sinusoidal').{name}", rtol=1e-4, atol=1e-5)
    info = sub.kit("autograder.sandbox.drivers.a3:parameter_of", fixed, name) or {}
    expect(
        not info.get("requires_grad", True),
        "sinusoidal positional embeddings are fixed: register them as a buffer (or requires_grad=False)",
    )
    learned = build_vit(ViT, cfg, "learned")
    name, pos = tensor_of(learned, "pos_embed", "ViT")
    info = (
        sub.kit("autograder.sandbox.drivers.a3:parameter_of", learned, name) or {}
    )  # requires_grad, nn.Parameter, registered
    expect(
        info.get("is_parameter") and info.get("name") is not None and info.get("requires_grad"),
        f"ViT(pos_embedding='learned').{name} should be an nn.Parameter that requires grad",
    )
    expect_finite(pos, f"ViT(pos_embedding='learned').{name}")  # inf is not a random start
    expect(float(pos.abs().max()) > 0, "learned positional embeddings should start random, not all zero")
    name, _ = tensor_of(learned, "cls_token", "ViT")
    info = sub.kit("autograder.sandbox.drivers.a3:parameter_of", learned, name) or {}
    expect(
        info.get("is_parameter") and info.get("name") is not None and info.get("requires_grad"),
        f"{name} should be a trained nn.Parameter",
    )


def expect_parameters(sub, ViT, cfg):
    for pos in ("sinusoidal", "learned"):
        model = build_vit(ViT, cfg, pos)
        expect(is_module(model), "ViT should be an nn.Module")
        n = sub.kit("kit.a3:count_parameters", model)  # trainable ones (requires_grad)
        expect(isinstance(n, int), f"the grader could not count the ViT's parameters (got {type(n).__name__})")
        expected = expected_parameters(cfg, pos)
        C, nb, p, H, ratio, k, size, chan = cfg
        biasless = expected - nb * 3 * C  # q, k and v without biases
        expect(
            n in (expected, biasless),
            f"ViT(embed_dim={C}, nb_blocks={nb}, patch_size={p}, nb_heads={H}, "
            f"mlp_ratio={ratio}, nb_classes={k}, img_size={size}, in_chan={chan}, "
            f"pos_embedding={pos!r}) has {n} trainable parameters, expected {expected} "
            f"(patch embedding, class token, {'learned positions, ' if pos == 'learned' else ''}"
            f"{nb} blocks, final LayerNorm, head)",
        )


@check(points=2)
def vit_parameters(sub):
    """The ViT has as many trainable parameters as the same architecture built from torch modules."""
    ViT = sub.function("vit", "ViT")
    for cfg in VIT_CONFIGS:
        expect_parameters(sub, ViT, cfg)


@check(points=3)
def vit_forward(sub):
    """ViT logits equal patch embedding -> class token -> positions -> torch-module blocks -> LN -> head(class token)."""
    ViT = sub.function("vit", "ViT")
    for cfg in VIT_CONFIGS:
        expect_logits(sub, ViT, cfg)


@check(points=1)
def vit_other_images(sub):
    """The ViT also works on other images than MNIST's: 32x32 RGB (tokens, parameters and logits)."""
    ViT = sub.function("vit", "ViT")
    for cfg in OTHER_VIT_CONFIGS:
        expect_tokens(sub, ViT, cfg)
        expect_parameters(sub, ViT, cfg)
        expect_logits(sub, ViT, cfg)


def expect_logits(sub, ViT, cfg):
    """The ViT's logits for `cfg`, both kinds of positions, against vit_oracle with the judge's weights."""
    C, nb, p, H, ratio, k, size, chan = cfg
    N = (size // p) ** 2
    for pos in ("sinusoidal", "learned"):
        model = build_vit(ViT, cfg, pos)
        expect(is_module(model), "ViT should be an nn.Module")
        model.eval()
        what = f"ViT(embed_dim={C}, nb_blocks={nb}, patch_size={p}, nb_heads={H}, pos_embedding={pos!r})"
        cls_name, cls = tensor_of(model, "cls_token", what)
        pos_name, pos_embed = tensor_of(model, "pos_embed", what)
        cls_full, pos_full = parameter_name(sub, model, cls_name), parameter_name(sub, model, pos_name)
        expect(cls_full is not None, f"{what}.{cls_name} should be an nn.Parameter")
        expect(pos == "sinusoidal" or pos_full is not None, f"{what}.{pos_name} should be an nn.Parameter")

        def layout(L):
            cls_ids, pos_ids = numbers_of(L, cls_full, cls), numbers_of(L, pos_full, pos_embed)
            return vit_layout(L, cfg, cls_ids, pos_ids, "ViT")

        # sinusoidal positions are the closed form, set where the model trains them (a buffer keeps its own)
        fixed = {"pos": sinusoidal_positions(N + 1, C)} if pos == "sinusoidal" else {}
        V = judge_weights(sub, model, layers_of(model, "ViT"), layout, 1 / math.sqrt(C), "ViT", fixed)
        x = torch.randn(3, chan, size, size)
        expected = judged(vit_oracle, x, V, H)
        out = model(x)
        expect_shape(out, (3, k), f"{what} logits")
        if not torch.allclose(out.double(), expected.double(), **TOL):  # no ViT is narrow enough to record its hints
            diagnose(out, block_variants(H, C), lambda **kw: vit_fn(x, V, H, kw), what + " logits")
        expect_close(
            out,
            expected,
            f"{what} logits",
            hint="prepend the class token, add the positional "
            "embedding to all N+1 tokens, run the blocks, then norm, and classify from token 0 only",
            **TOL,
        )


# ---------------------------------------------------------------- trainings (recipes and thresholds: kit/recipes.py)
# What the reference reaches under each recipe, over seeds, is kept in docs/data/ (python -m autograder determinism)
# and shown on docs/measurements.md; the recipes' `why` say how each threshold was set from it.


def _trained(sub, dataset, **kw):
    """Train the student's ViT with the kit's train_vit in the sandbox (which has the test images, not their
    labels); the judge recomputes the trained model's logits from its weights (`trained_vit_logits`) and scores
    them. Returns (accuracy, the sandbox's report)."""
    labels = sub.test_labels(dataset)
    run = sub.kit("autograder.sandbox.drivers.a3:vit_predictions", sub.module("vit"), dataset, **kw)
    expect(isinstance(run, dict) and "logits" in run, "the ViT's training returned no predictions")
    images = test_images(dataset, kw.get("limit_test"))
    V, H = trained_weights(run.get("model"), images, kw.get("config"), "the trained ViT")
    try:
        logits = trained_vit_logits(images, V, H)
    except NotRecorded:
        # The student kit records no training (its weights are the student's own, nothing to record them for):
        # it grades the student's own machine, where a forward that looks the test images up gains nothing, so
        # it scores the sandbox's own logits. The instructor's grader recomputes them.
        logits = run["logits"]
    expect_shape(logits, (len(labels), 10), f"the ViT's outputs on the {dataset} test images")
    return accuracy(logits, labels), run


def test_images(dataset, limit_test=None):
    """The test images of MNIST or Fashion-MNIST as the kit's training reads them (kit.data.image_tensors:
    standardized, (N, 1, 28, 28); the first `limit_test`), loaded by the judge."""

    images = load(dataset, train=False)[0][:limit_test].float().div_(255).unsqueeze(1)
    mean, std = MEAN_STD[dataset]
    return (images - mean) / std


def trained_weights(model, images, config, what):
    """The trained ViT's weights in the canonical layout (patch embedding, class token and positions read off the
    model, its blocks, final norm and head), and its number of heads."""

    cfg = {**COURSE_VIT, **(config or {})}
    C, p, H = cfg["embed_dim"], cfg["patch_size"], cfg["nb_heads"]
    shape = (C, cfg["nb_blocks"], p, H, cfg["mlp_ratio"], 10, images.shape[-1], images.shape[1])
    layers = layers_of(model, what)
    _, cls = tensor_of(model, "cls_token", what)
    _, pos = tensor_of(model, "pos_embed", what)
    return as_float(vit_layout(layers, shape, cls, pos, what)), H


def as_float(S):
    """S with its tensors in float32 (a trained model may keep float64 positions)."""
    if isinstance(S, dict):
        return {k: as_float(v) for k, v in S.items()}
    if isinstance(S, (list, tuple)):
        return type(S)(as_float(v) for v in S)
    return S.float() if isinstance(S, torch.Tensor) else S


@oracle
def trained_vit_logits(images, V, H):
    """The trained ViT's logits on `images`, recomputed by the judge as vit_forward's oracle does (torch's own
    modules, evaluation mode). What the sandbox's forward returns is not scored."""
    return in_batches(_vit_model(V, H), images)


@check(points=4, tier="train", timeout=240, recipe="a3.train")
def train_mnist(sub):
    """The course's ViT (dim 32, patch 7, 2 blocks), AdamW + one-cycle, reaches {threshold} on MNIST in {epochs} epochs."""
    found = sub.recipe
    acc, run = _trained(sub, "mnist", device="cpu", **found.settings)
    losses = expect_numbers(run.get("train_loss") or [], "the training losses")
    expect(len(losses) >= 2 and losses[-1] < losses[0], "the training loss did not decrease")
    expect_accuracy(
        sub,
        acc,
        found.threshold_for(),
        f"the ViT reaches {acc:.2%} test accuracy on MNIST after "
        f"{len(losses)} epochs, expected at least {percent(found.threshold_for())}",
    )


def _full(sub, dataset, what):
    found = sub.recipe
    acc, _ = _trained(sub, dataset, **found.settings)
    expect_accuracy(
        sub,
        acc,
        found.threshold_for(),
        f"the ViT reaches {acc:.2%} on {what}, expected at least {percent(found.threshold_for())}",
    )


# not in a notebook test cell: full tier: graded by the CLI
@check(points=2, tier="full", timeout=3600, in_notebook=False, recipe="a3.full_mnist")
def full_mnist(sub):
    """A 205k-parameter ViT (dim 64, 4 blocks) reaches {threshold} on MNIST."""
    _full(sub, "mnist", "MNIST")


# not in a notebook test cell: full tier: graded by the CLI
@check(points=2, tier="full", timeout=3600, in_notebook=False, recipe="a3.full_fashion_mnist")
def full_fashion_mnist(sub):
    """A 205k-parameter ViT (dim 64, 4 blocks) reaches {threshold} on Fashion-MNIST."""
    _full(sub, "fashion_mnist", "Fashion-MNIST")
