"""Tests of assignment 3's checks and glue: wrong implementations lose the points of the right checks, the kit's
trainings, attention maps, study and command line work."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

A = "a3_transformers"
SOLUTIONS = ROOT / "solutions" / A

# (file, text of the reference, its wrong replacement, checks that must fail)
MUTANTS = {
    "no_scaling": ("attention.py", "scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])",
                   "scores = Q @ K.transpose(-2, -1)", ["attention_function", "self_attention", "multi_head_attention"]),
    "softmax_over_queries": ("attention.py", "weights = scores.softmax(dim=-1)", "weights = scores.softmax(dim=-2)",
                             ["attention_function", "multi_head_attention"]),
    "no_output_projection": ("attention.py", "        out = self.proj(out)\n        return (out, weights) if return_attention else out\n        ### END SOLUTION\n\n\nclass Multi",
                             "        return (out, weights) if return_attention else out\n        ### END SOLUTION\n\n\nclass Multi",
                             ["self_attention"]),
    "heads_split_wrong": ("attention.py", "reshape(B, N, 3, self.num_heads, self.head_dim)",
                          "reshape(B, N, self.num_heads, 3, self.head_dim).transpose(2, 3)", ["multi_head_attention"]),
    "heads_concat_wrong": ("attention.py", "out = out.transpose(1, 2).reshape(B, N, C)", "out = out.reshape(B, N, C)",
                           ["multi_head_attention"]),
    "no_divisibility_check": ("attention.py", 'raise ValueError(f"embed_dim={embed_dim} is not divisible', 'print(f"',
                              ["heads_must_divide"]),
    "patches_unordered": ("vit.py", "return self.proj(x).flatten(2).transpose(1, 2)",
                          "return self.proj(x).reshape(len(x), -1, self.proj.out_channels)", ["patch_embed"]),
    "relu": ("vit.py", "self.act = nn.GELU()", "self.act = nn.ReLU()", ["mlp", "block"]),
    "gelu_tanh": ("vit.py", "self.act = nn.GELU()", 'self.act = nn.GELU(approximate="tanh")', ["mlp"]),
    "post_norm": ("vit.py", "x = x + self.attn(self.norm1(x))\n        x = x + self.mlp(self.norm2(x))",
                  "x = self.norm1(x + self.attn(x))\n        x = self.norm2(x + self.mlp(x))", ["block"]),
    "no_mlp_residual": ("vit.py", "x = x + self.mlp(self.norm2(x))", "x = self.mlp(self.norm2(x))", ["block"]),
    "sin_cos_swapped": ("vit.py", "pe[:, 0::2] = torch.sin(position * frequency)",
                        "pe[:, 0::2] = torch.cos(position * frequency)", ["positional_embeddings", "vit_positions"]),
    "sinusoidal_trained": ("vit.py", 'self.register_buffer("pos_embed", get_positional_embeddings(num_patches + 1, embed_dim)[None])',
                           "self.pos_embed = nn.Parameter(get_positional_embeddings(num_patches + 1, embed_dim)[None])",
                           ["vit_positions", "vit_parameters"]),
    "no_positions": ("vit.py", "tokens = torch.cat([cls, tokens], dim=1) + self.pos_embed",
                     "tokens = torch.cat([cls, tokens], dim=1)", ["vit_forward"]),
    "mean_pooling": ("vit.py", "return self.head(tokens[:, 0])", "return self.head(tokens.mean(1))", ["vit_forward"]),
    "no_final_norm": ("vit.py", "tokens = self.norm(self.blocks(tokens))", "tokens = self.blocks(tokens)",
                      ["vit_forward"]),
}


def statuses(folder, names):
    """Run the named checks in this process on `folder`; {name: status}."""
    from autograder.runner import check_seed, execute, load_checks, seed_everything

    checks = {c.name: c for c in load_checks(A)}
    out = {}
    for name in names:
        for mod in ("attention", "vit"):
            sys.modules.pop(mod, None)  # the student's modules of another folder
        seed_everything(check_seed(checks[name].id))
        out[name] = execute(checks[name], folder)
    for mod in ("attention", "vit"):
        sys.modules.pop(mod, None)
    return out


@pytest.mark.quick
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_wrong_implementation_loses_points(mutant, tmp_path):
    file, good, bad, must_fail = MUTANTS[mutant]
    folder = tmp_path / A
    shutil.copytree(SOLUTIONS, folder, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__", "runs"))
    text = (folder / file).read_text()
    assert good in text, f"mutant {mutant}: the reference no longer contains {good!r}"
    (folder / file).write_text(text.replace(good, bad))
    results = statuses(folder, must_fail)
    passed = [name for name, (status, _) in results.items() if status == "passed"]
    assert not passed, f"mutant {mutant} still passes {passed}"
    for name, (status, message) in results.items():
        assert status == "failed" and message, (name, status, message)


@pytest.mark.quick
def test_reference_passes_in_process():
    from autograder.runner import load_checks

    names = [c.name for c in load_checks(A) if c.tier == "quick"]
    results = statuses(SOLUTIONS, names)
    assert all(s == "passed" for s, _ in results.values()), {n: r for n, r in results.items() if r[0] != "passed"}


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
    rows = a3.study(vit, ["nb_heads"], budget=dict(epochs=1, limit_train=1000, limit_test=500), device="cpu",
                    folder=tmp_path, values={"nb_heads": [1, 2]})
    assert [r["value"] for r in rows] == [1, 2]
    assert (tmp_path / "nb_heads.png").is_file() and (tmp_path / "study.md").is_file()
    assert json.loads((tmp_path / "study.json").read_text())["rows"] == rows


@pytest.mark.train
def test_cli_train(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kit.a3", "train", "--folder", str(SOLUTIONS), "--epochs", "1",
                           "--limit-train", "2000", "--device", "cpu", "--name", "t"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
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

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(SystemExit, match="--checkpoint"):
        a3.make_timm_vit("vit_tiny_patch16_224", mode="finetune")
    with pytest.raises(SystemExit, match="no such file"):
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
