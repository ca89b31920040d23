"""The CUDA path, exercised without a GPU: `auto` picks the GPU when there is one, the precision probe runs there as
on a CPU, and the training data move to the device once and stay there (every batch is on the device). The
"meta" device stands in for the GPU: tensors on it have shapes and no storage, and moving to it is free."""

import contextlib

import pytest
import torch

from kit import loops


@pytest.mark.quick
def test_auto_picks_the_gpu_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert loops.pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert loops.pick_device("auto") == torch.device("cuda")
    assert loops.pick_device("cuda:1") == torch.device("cuda", 1) and loops.pick_device("cpu").type == "cpu"


@pytest.mark.quick
def test_the_precision_probe_runs_on_a_gpu_as_on_a_cpu(tmp_path, monkeypatch):
    """On CUDA, `auto` asks torch whether bfloat16 is supported, then times the probe (synchronizing the GPU
    around it) and caches the decision under the GPU's name."""
    synced = []
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: synced.append(1))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Test GPU")
    monkeypatch.setattr(torch.random, "fork_rng", lambda *a, **k: contextlib.nullcontext())
    gpu = torch.device("cuda")
    ran = []
    assert loops.resolve_precision(gpu, "auto", probe=ran.append, key="gpu test") in ("fp32", "bf16")
    assert set(ran) == {"fp32", "bf16"} and synced, "the probe ran in both precisions, synchronized"
    decision = loops.SPEED_DECISIONS["gpu test"]
    assert decision["why"] == "probe" and "fp32 contiguous" in decision["step_s"]
    assert "cuda|Test GPU" in (tmp_path / "speed.json").read_text()
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert loops.resolve_precision(gpu, "auto", probe=ran.append, key="old gpu") == "fp32"
    assert loops.SPEED_DECISIONS["old gpu"]["why"] == "no bfloat16 hardware"


@pytest.mark.quick
def test_cifar_batches_live_on_the_device():
    """kit.a2's batches: the whole set moves to the device once, and every batch, shuffled and transformed, is
    drawn there (no copy from the host per step)."""
    from kit.a2 import Batches

    X, y = torch.rand(10, 3, 32, 32), torch.arange(10)
    batches = Batches(X, y, batch_size=4, shuffle=True, transform=lambda xb: xb.flip(3), device="meta")
    assert batches.X.device.type == "meta" and batches.y.device.type == "meta"
    seen = [(xb.shape[0], xb.device.type, yb.device.type) for xb, yb in batches]
    assert seen == [(4, "meta", "meta"), (4, "meta", "meta"), (2, "meta", "meta")]
    xb, _ = next(iter(batches))
    assert xb.is_contiguous(memory_format=torch.channels_last)
    unlabelled = Batches(X, None, batch_size=5, device="meta")  # the sandbox's test images
    assert [(xb.device.type, yb) for xb, yb in unlabelled] == [("meta", None), ("meta", None)]


@pytest.mark.quick
def test_fit_module_moves_the_training_set_once(monkeypatch):
    """fit_module moves the training tensors to the device before the first epoch, then only indexes them: no
    mini-batch (8 rows here) is ever copied on its own."""
    moved = []
    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        if self.dim() == 3:  # images: the training set has 64 rows, a mini-batch 8, the test set 5
            moved.append(self.shape[0])
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", to)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    X, y = torch.randn(64, 3, 4), torch.randint(0, 3, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loops.fit_module(
        model, torch.nn.functional.cross_entropy, opt, X, y, X[:5], y[:5], epochs=3, batch_size=8, device="cpu"
    )
    assert moved.count(64) == 1 and 8 not in moved, moved
