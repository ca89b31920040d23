"""Tests of assignment 3's checks and glue: the reference passes, the checks accept the conventions they should, the
kit's trainings, attention maps, study and command line work. Typical mistakes, each caught by its own check:
autograder/tools/mutants.py, graded by tests/test_mutants.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

A = "a3_transformers"
SOLUTIONS = ROOT / "solutions" / A


def statuses(submission, names):
    """Grade the named checks of the assignment in `submission`/a3_transformers/ with the judge and a sandbox, as
    the CLI does; {name: (status, message)}."""
    from autograder.runner import grade

    results = grade(submission, [A], tier="full", only=[f"{A}/{name}" for name in names])
    return {r.name: (r.status, r.message) for r in results}


@pytest.mark.quick
def test_reference_passes_the_quick_checks():
    from autograder.runner import load_checks

    names = [c.name for c in load_checks(A) if c.tier == "quick"]
    results = statuses(ROOT / "solutions", names)
    assert set(results) == set(names)
    assert all(s == "passed" for s, _ in results.values()), {n: r for n, r in results.items() if r[0] != "passed"}


class _Head(torch.nn.Module):
    def __init__(self, C, D, extra=False, names=("query", "key", "value")):
        super().__init__()
        for name in names:
            setattr(self, name, torch.nn.Linear(C, D))
        if extra:
            self.scale = torch.nn.Parameter(torch.ones(1))


class _PerHead(torch.nn.Module):
    """Per-head layouts as the judge sees them (only their structure matters here)."""

    def __init__(self, C, H, layout="heads", **kw):
        super().__init__()
        D = C // H
        if layout == "heads":
            self.heads = torch.nn.ModuleList([_Head(C, D, **kw) for _ in range(H)])
        elif layout == "unnamed":
            self.blocks_of_heads = torch.nn.ModuleList([_Head(C, D, **kw) for _ in range(H)])
        elif layout == "two lists":
            self.first = torch.nn.ModuleList([_Head(C, D, **kw) for _ in range(H)])
            self.second = torch.nn.ModuleList([_Head(C, D, **kw) for _ in range(H)])
        else:  # one list per role: lists of Linear(C, D), or of Linear(D, D) on slices of the features
            size = D if layout == "slices" else C
            for role in ("q_mappings", "k_mappings", "v_mappings"):
                setattr(self, role, torch.nn.ModuleList([torch.nn.Linear(size, D) for _ in range(H)]))
        self.proj = torch.nn.Linear(C, C)


def _resolve(model, C, H):
    from autograder.checks.a3_transformers import resolve_attention
    from autograder.sandbox.server import describe

    return resolve_attention({lay["name"]: lay for lay in describe(model)["layers"]}, "", C, "MHSA", H)


@pytest.mark.quick
@pytest.mark.parametrize("layout", ["heads", "unnamed", "lists"])
def test_per_head_projections_are_assembled_in_head_order(layout):
    """Per-head q/k/v Linear(C, C/H) are read as the fused projections whose rows are the heads' in order."""
    model = _PerHead(8, 2, layout)
    W = _resolve(model, 8, 2)
    if layout == "lists":
        heads = [
            {"query": model.q_mappings[h], "key": model.k_mappings[h], "value": model.v_mappings[h]} for h in range(2)
        ]
    else:
        heads = [
            {name: getattr(h, name) for name in ("query", "key", "value")}
            for h in (model.heads if layout == "heads" else model.blocks_of_heads)
        ]
    for role, name in zip("qkv", ("query", "key", "value")):
        assert torch.equal(W[role][0], torch.cat([h[name].weight for h in heads]).detach())
        assert torch.equal(W[role][1], torch.cat([h[name].bias for h in heads]).detach())
    assert W["proj_name"] == "proj"


@pytest.mark.quick
@pytest.mark.parametrize(
    "layout, kw, H, words",
    [
        ("heads", {}, 4, "holds 2 heads, expected num_heads = 4"),
        ("slices", {}, 2, "a head that reads only its slice"),
        ("two lists", {}, 2, "several lists could be its heads (first, second)"),
        (
            "heads",
            {"extra": True},
            2,
            "heads.0 has parameters besides its query, key and value projections (heads.0.scale)",
        ),
        ("heads", {"names": ("a", "b", "c")}, 2, "MHSA.heads.0: found no query, key and value projections"),
    ],
)
def test_ambiguous_per_head_layouts_say_what_was_found(layout, kw, H, words):
    from autograder.api import CheckFailed

    with pytest.raises(CheckFailed) as err:
        _resolve(_PerHead(8, 2, layout, **kw), 8, H)
    assert words in str(err.value), str(err.value)


@pytest.mark.quick
def test_block_attention_found_by_what_it_computes():
    """A Block whose attention has an unknown name is found as the only child that resolves as an attention (and,
    for the attention maps, as the only child that takes return_attention)."""
    from autograder.checks.a3_transformers import resolve_block
    from autograder.sandbox.server import describe
    from kit import a3

    block = _vit().Block(8, 2, 4)
    block.thinking = block.attn
    del block.attn
    P = resolve_block({lay["name"]: lay for lay in describe(block)["layers"]}, "", 8, 32, H=2)
    assert P["attn"]["proj_name"] == "thinking.proj"
    assert a3.attention_of(block) is block.thinking


@pytest.mark.quick
def test_sandbox_drivers_return_data():
    """a3's drivers (what the grader runs in its sandbox) return plain data: they set the judge's weights,
    describe a tensor attribute, report an exception, never decide."""
    from autograder.sandbox.drivers import a3 as drivers
    from kit import a3

    vit = _vit()
    model = a3.make_vit(vit, {"nb_blocks": 1}, pos_embedding="learned")
    values = {"head.bias": torch.arange(10.0), "nope": torch.zeros(1), "norm.weight": torch.zeros(3)}
    assert drivers.set_parameters(model, values) == ["nope", "norm.weight"]
    assert torch.equal(model.head.bias.detach(), torch.arange(10.0))
    assert drivers.parameter_of(model, "pos_embed") == {
        "requires_grad": True,
        "is_parameter": True,
        "name": "pos_embed",
    }
    fixed = a3.make_vit(vit, {"nb_blocks": 1})
    assert drivers.parameter_of(fixed, "pos_embed") == {"requires_grad": False, "is_parameter": False, "name": None}
    assert drivers.parameter_of(fixed, "missing") is None
    err = drivers.raised(vit.MultiHeadsSelfAttention, 30, 4)
    assert err["classes"][:2] == ["ValueError", "Exception"] and "30" in err["message"]
    assert drivers.raised(vit.MultiHeadsSelfAttention, 32, 4) is None

    def todo():
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        drivers.raised(todo)


@pytest.mark.quick
def test_training_without_test_labels_returns_predictions():
    """In the sandbox the test split comes without labels (ytest is None): train_vit still trains, with no test
    curve, and vit_predictions returns logits for every test image for the judge to score."""
    from autograder.sandbox.drivers import a3 as drivers
    from kit import a3

    Xtrain, ytrain, Xtest, _ = a3.load("mnist")
    data = (Xtrain[:600], ytrain[:600], Xtest[:300], None)
    _, hist = a3.train_vit(_vit(), data=data, epochs=1, limit_test=100, device="cpu")
    assert len(hist.train_loss) == 1 and hist.test_acc[0] != hist.test_acc[0]  # NaN: no labels, no test accuracy
    run = drivers.vit_predictions(_vit(), data=data, epochs=1, device="cpu")
    assert run["logits"].shape == (300, 10) and run["logits"].dtype == torch.float32
    assert run["epochs"] == 1 and run["parameters"] == a3.count_parameters(a3.make_vit(_vit()))


def _vit():
    sys.path.insert(0, str(SOLUTIONS))
    import vit

    return vit


@pytest.mark.quick
def test_attention_maps_and_rollout():
    from kit import a3

    vit = _vit()
    model = a3.make_vit(vit, {"nb_blocks": 3})
    maps = a3.attention_maps(model, torch.randn(5, 1, 28, 28))
    assert len(maps) == 3 and all(m.shape == (5, 4, 17, 17) for m in maps)
    assert torch.allclose(maps[0].sum(-1), torch.ones(5, 4, 17), atol=1e-5)
    roll = a3.attention_rollout(maps, 4)
    assert roll.shape == (5, 4, 4) and float(roll.min()) >= 0
    assert a3.class_token_attention(maps, 4).shape == (5, 4, 4)


@pytest.mark.quick
def test_attention_maps_of_an_attention_called_as_the_course_calls_it():
    """The maps of a ViT whose attention takes forward(x) alone are read from the softmax it computes (heads one
    by one or all at once) and equal those the kit's keyword returns; one that hides them is told how to show them."""
    import types

    from kit import a3

    model = a3.make_vit(_vit(), {"nb_blocks": 2})
    images = torch.randn(3, 1, 28, 28)
    expected = a3.attention_maps(model, images)
    for block in model.blocks:
        mhsa = block.attn
        mhsa.forward = types.MethodType(lambda self, x, f=type(mhsa).forward: f(self, x), mhsa)
    got = a3.attention_maps(model, images)
    assert all(torch.allclose(g, e) for g, e in zip(got, expected))
    for block in model.blocks:  # the weights hidden in F.scaled_dot_product_attention
        block.attn.forward = types.MethodType(lambda self, x: x, block.attn)
    with pytest.raises(ValueError, match="gives no attention weights"):
        a3.attention_maps(model, images)


@pytest.mark.quick
def test_one_cycle_steps_every_batch():
    from kit import a3

    model = torch.nn.Linear(3, 2)
    opt = a3.make_optimizer(model, steps=40, lr=1e-2)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(40):
        opt.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert max(lrs) > lrs[0] and lrs[-1] < 1e-4  # warm-up then decay to ~0 within the given steps


@pytest.mark.train
def test_train_and_study_small(tmp_path):
    from kit import a3

    vit = _vit()
    _, hist = a3.train_vit(vit, "mnist", epochs=2, limit_train=3000, limit_test=1000, device="cpu")
    assert hist.test_acc[-1] > 0.3 and hist.train_loss[-1] < hist.train_loss[0]  # 10 % is chance
    rows = a3.study(
        vit,
        ["nb_heads"],
        budget=dict(epochs=1, limit_train=1000, validation=500, limit_test=500),
        device="cpu",
        folder=tmp_path,
        values={"nb_heads": [1, 2]},
    )
    assert [r["value"] for r in rows] == [1, 2]
    assert all("test_acc" not in r and 0 < r["val_acc"] <= 1 for r in rows)  # ranked on validation only
    best = max(rows, key=lambda r: r["val_acc"])
    assert rows.selected["value"] == best["value"] and 0 < rows.selected["test_acc"] <= 1
    assert (tmp_path / "nb_heads.png").is_file() and (tmp_path / "study.md").is_file()
    saved = json.loads((tmp_path / "study.json").read_text())
    assert saved["rows"] == rows and saved["selected"] == rows.selected
    assert "validation accuracy" in a3.study_table(rows) and "only reading of the test set" in a3.study_table(rows)


@pytest.mark.full  # a minute of training for a recipe only autograder.tools.bench uses: `make test-all`, and every `make bench`
def test_fast_recipe_takes_the_course_vit_to_98_percent():
    """The bench's speed figure for the ViT: the course ViT (27,434 parameters) ends at 98 % or more on MNIST
    with the recipe a3.fast (measured, seeds 0 / 1 / 2: 98.19 / 98.32 / 98.19 %)."""
    from kit import a3

    _, hist = a3.train_vit(_vit(), "mnist", device="cpu", **a3.FAST_TRAINING)
    assert len(hist.test_acc) == 10 and hist.test_acc[-1] >= 0.98, hist.test_acc


@pytest.mark.train
def test_cli_train(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kit.a3",
            "train",
            "--folder",
            str(SOLUTIONS),
            "--epochs",
            "1",
            "--limit-train",
            "2000",
            "--device",
            "cpu",
            "--name",
            "t",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "runs" / "t"
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 < metrics["test_acc"] <= 1 and metrics["parameters"] > 0
    assert (run / "curves.png").is_file() and (run / "attention.png").is_file()


@pytest.mark.quick
def test_timm_without_weights_fails_fast(monkeypatch, tmp_path):
    """Offline and no cache: a clear message naming --checkpoint at once, never timm's ~45 s of retries."""
    import time

    from kit import a3
    from kit.errors import KitError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(KitError, match="--checkpoint"):
        a3.make_timm_vit("vit_tiny_patch16_224", mode="finetune")
    with pytest.raises(KitError, match="no such file"):
        a3.pretrained_source("vit_tiny_patch16_224", checkpoint=str(tmp_path / "missing.pth"))
    assert time.perf_counter() - start < 10


@pytest.mark.quick
def test_timm_checkpoint_is_adapted_to_small_grey_images(tmp_path):
    """A local checkpoint (random weights here) loads into the 28x28x1, 4x4-patch model with a new 10-class head."""
    import timm

    from kit import a3

    ref = timm.create_model("vit_tiny_patch16_224")
    torch.save(ref.state_dict(), tmp_path / "w.pth")
    model = a3.make_timm_vit("vit_tiny_patch16_224", "finetune", "native", checkpoint=tmp_path / "w.pth")
    assert torch.equal(model.blocks[0].attn.qkv.weight, ref.blocks[0].attn.qkv.weight)
    assert model.patch_embed.proj.weight.shape[1:] == (1, 4, 4) and model.pos_embed.shape[1] == 50
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.quick
def test_kit_made_checkpoint_round_trip(tmp_path):
    """`pretrain` saves a 28x28 model; `transfer --checkpoint` loads every weight of it back except the head."""
    from kit import a3

    made = a3.make_timm_vit("vit_tiny_patch16_224", "scratch", "native")
    path = a3.save_checkpoint(made, tmp_path / "ckpt" / "vit.safetensors")
    loaded = a3.make_timm_vit("vit_tiny_patch16_224", "finetune", "native", checkpoint=path)
    mine, theirs = made.state_dict(), loaded.state_dict()
    for key in mine:
        if not key.startswith("head."):
            assert torch.equal(mine[key], theirs[key]), key
    assert theirs["head.weight"].shape == (10, 192)


@pytest.mark.quick
def test_random_shift_flip_moves_and_mirrors_each_image_independently():
    from kit.data import random_shift_flip

    x = torch.randn(64, 1, 12, 12)
    assert torch.equal(random_shift_flip(x, max_shift=0, flip=False), x)
    g = torch.Generator().manual_seed(0)
    mirrored = random_shift_flip(x, max_shift=0, flip=True, generator=g)
    is_flipped = [torch.equal(m, i.flip(-1)) for m, i in zip(mirrored, x)]
    assert all(f or torch.equal(m, i) for f, m, i in zip(is_flipped, mirrored, x)) and 10 < sum(is_flipped) < 54
    shifted = random_shift_flip(x, max_shift=2, flip=False, generator=g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    offsets = set()
    for s, p in zip(shifted, padded):
        found = [(t, c) for t in range(5) for c in range(5) if torch.equal(s, p[:, t : t + 12, c : c + 12])]
        assert found, "an output is not a shifted copy of its input"
        offsets.add(found[0])
    assert len(offsets) > 10  # independent shifts per image


@pytest.mark.quick
def test_study_validation_is_held_out_of_training():
    """The study's validation images are training images never trained on: disjoint from the training part, the
    same draw every time, and the test set untouched."""
    from kit import a3

    keep, held = a3.validation_split(1000, 200)
    assert len(held) == 200 and len(keep) == 800 and not set(keep.tolist()) & set(held.tolist())
    assert torch.equal(held, a3.validation_split(1000, 200)[1])
    X, y = torch.arange(1000.0)[:, None], torch.arange(1000) % 10
    Xtr, ytr, Xval, yval, Xte, yte = a3.split_validation((X, y, X[:5], y[:5]), 200)
    assert len(Xtr) == 800 and not set(Xtr[:, 0].tolist()) & set(Xval[:, 0].tolist()) and Xte is not None
    with pytest.raises(ValueError):
        a3.validation_split(10, 10)


@pytest.mark.quick
def test_cnn_baseline_is_the_size_of_the_course_vit_and_trains_with_the_same_loop():
    from kit import a3

    cnn = a3.SmallCNN()
    assert cnn(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    n_cnn, n_vit = a3.count_parameters(cnn), a3.count_parameters(a3.make_vit(_vit()))
    assert 0.5 < n_cnn / n_vit < 1.5, (n_cnn, n_vit)
    Xtrain, ytrain, Xtest, ytest = a3.load("mnist")
    data = (Xtrain[:512], ytrain[:512], Xtest[:256], ytest[:256])
    model, hist = a3.train_cnn(epochs=1, data=data, device="cpu")
    assert len(hist.test_acc) == 1 and 0 <= hist.test_acc[0] <= 1
    table = a3.comparison_table({"small CNN": (model, hist)})
    assert f"{n_cnn:,}" in table and "test accuracy" in table


@pytest.mark.quick
def test_data_size_study_reads_the_test_set_once_per_model():
    from kit import a3

    Xtrain, ytrain, Xtest, ytest = a3.load("mnist")
    rows = a3.data_size_study(
        _vit(), (100, 200), images_seen=200, data=(Xtrain, ytrain, Xtest[:300], ytest[:300]), device="cpu"
    )
    assert [(r["images"], r["model"], r["epochs"]) for r in rows] == [
        (100, "ViT", 2),
        (100, "CNN", 2),
        (200, "ViT", 1),
        (200, "CNN", 1),
    ]
    assert all(0 <= r["test_acc"] <= 1 for r in rows) and "training images" in a3.data_size_table(rows)


@pytest.mark.quick
def test_per_head_attention_maps(tmp_path):
    from kit import a3

    model = a3.make_vit(_vit(), {"nb_blocks": 3, "nb_heads": 2})
    maps = a3.attention_maps(model, torch.randn(2, 1, 28, 28))
    heads = a3.head_attention(maps, 4, block=1)
    assert heads.shape == (2, 2, 4, 4) and torch.allclose(heads, maps[1][:, :, 0, 1:].reshape(2, 2, 4, 4))
    fig = a3.plot_attention_heads(model, torch.randn(1, 28, 28), label=3, path=tmp_path / "heads.png")
    assert (tmp_path / "heads.png").is_file() and len(fig.axes) == 3 * (2 + 1)


@pytest.mark.quick
def test_notebook_asks_the_equations_and_holds_the_issue_17_experiments():
    """The equations are asked (an answer cell), not given (no formula in the text students read); each new
    experiment has its cell and its manually graded question."""
    nb = json.loads((SOLUTIONS / "a3_transformers.ipynb").read_text())
    cells = {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"]}
    for gid in (
        "q_attention_equations",
        "q_attention_heads",
        "q_cnn_vs_vit",
        "q_cnn_small_data",
        "q_fashion",
        "q_scratch_vs_finetune",
        "q_study",
    ):
        meta = cells[gid]["metadata"]["nbgrader"]
        assert cells[gid]["cell_type"] == "markdown" and meta["grade"] and meta["solution"] and meta["points"] >= 1
    for gid in ("attention_heads", "cnn_run", "data_size_run", "fashion_run", "timm_run"):
        assert cells[gid]["cell_type"] == "code", gid
    timm = "".join(cells["timm_run"]["source"])
    assert "SMALL" in timm and "pretrained_source" in timm and "A3_CHECKPOINT" in timm
    shown = "".join("".join(c["source"]) for c in nb["cells"] if not c["metadata"]["nbgrader"].get("solution"))
    stubs = "".join((ROOT / "assignments" / "a3_transformers" / f).read_text() for f in ("attention.py", "vit.py"))
    for formula in ("softmax(Q K^T", "x = x + attn(norm1(x))", "x + MHSA(LN(x))"):
        assert formula not in shown and formula not in stubs, formula
