"""The data layer: offline mirror, clear one-line errors on missing or corrupt files, the circles set."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from data_scripts import DataError, make_circles
from data_scripts import datasets as ds

ROOT = Path(__file__).resolve().parent.parent

MIRROR = Path(os.environ.get("DATA_MIRROR") or ROOT.parent / "shared" / "datasets")
needs_mirror = pytest.mark.skipif(not (MIRROR / "MNIST").is_dir(), reason="no offline mirror here")


def fetch(name, env):
    return subprocess.run(
        [sys.executable, "-m", "data_scripts", "fetch", name],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.quick
@needs_mirror
def test_mnist_from_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_MIRROR", str(MIRROR))
    x, y = ds.load("mnist", train=False)
    assert x.shape == (10000, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (10000,) and int(y.min()) == 0 and int(y.max()) == 9
    assert abs(float(ds.load("mnist", train=True)[0].float().mean()) - 33.32) < 0.05


@pytest.mark.quick
@needs_mirror
def test_corrupt_mirror_file_gives_one_line_error(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(MIRROR / "MNIST", mirror / "MNIST")
    victim = mirror / "MNIST" / "train-images-idx3-ubyte.gz"
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes()[:100000])  # truncated copy
    proc = fetch("mnist", {"DATA_DIR": str(tmp_path / "data"), "DATA_MIRROR": str(mirror)})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "corrupt" in lines[0] and "train-images-idx3-ubyte.gz" in lines[0], proc.stderr


@pytest.mark.quick
def test_missing_mirror_names_the_fix(tmp_path):
    proc = fetch("fashion_mnist", {"DATA_DIR": str(tmp_path / "data"), "DATA_MIRROR": str(tmp_path / "nowhere")})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "missing" in proc.stderr and "DATA_MIRROR" in proc.stderr


@pytest.mark.quick
@needs_mirror
def test_truncated_extracted_file_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_MIRROR", str(MIRROR))
    raw = ds.prepare("mnist")
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00" * 10)
    assert not ds._idx_complete(raw)
    ds.prepare("mnist")  # re-extracted from the mirror
    assert ds._idx_complete(raw)


@pytest.mark.quick
def test_unreadable_cifar_cache_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    (tmp_path / "CIFAR10").mkdir()
    (tmp_path / "CIFAR10" / "cifar10_uint8.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot be read.*delete it"):
        ds.load("cifar10", train=False)


@pytest.mark.quick
def test_cifar10_source_is_recorded_with_the_cache(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_MIRROR", str(tmp_path / "mirror"))
    cache = tmp_path / "CIFAR10" / "cifar10_uint8.npz"
    cache.parent.mkdir()
    np.savez(cache, source=np.array("original"))
    assert ds.cifar10_source() == "original"
    # a cache from before the record is decoded again (here from a stand-in for the mirror's JPEG archive)
    np.savez(cache, x_test=np.zeros(1))
    decoded = {
        "x_train": np.zeros((50000, 32, 32, 3), np.uint8),
        "y_train": np.zeros(50000, np.int64),
        "x_test": np.zeros((10000, 32, 32, 3), np.uint8),
        "y_test": np.zeros(10000, np.int64),
    }
    monkeypatch.setattr(ds, "_verified_mirror_file", lambda *a: None)
    monkeypatch.setattr(ds, "_decode_jpeg_tar", lambda path: dict(decoded))
    assert ds.cifar10_source() == ds.CIFAR_JPEG_SOURCE == "jpeg-q75"
    images, labels = ds.load("cifar10", train=False)
    assert images.shape == (10000, 32, 32, 3) and labels.shape == (10000,)


@pytest.mark.quick
def test_unknown_dataset():
    with pytest.raises(DataError, match="unknown data set"):
        ds.prepare("imagenet")


@pytest.mark.quick
def test_circles_seeded_and_one_hot():
    a, b = make_circles(seed=1), make_circles(seed=1)
    assert torch.equal(a.Xtrain, b.Xtrain) and not torch.equal(a.Xtrain, make_circles(seed=2).Xtrain)
    assert a.Xtrain.shape == (200, 2) and a.Xtest.shape == (200, 2) and a.Ytrain.shape == (200, 2)
    assert torch.equal(a.Ytrain.sum(1), torch.ones(200))
    assert a.Xgrid.shape == (a.grid_size**2, 2)
    assert 80 < int(a.ytrain.sum()) < 120  # both classes present


@pytest.mark.quick
def test_random_shift_flip_is_a_replicate_pad_and_crop():
    """The kit's augmentation (an affine resampling) moves pixels exactly as padding with the border's values
    and cropping at the drawn offsets would (written here, not in the kit: it is a2's random_crop_flip)."""
    import torch

    from kit.data import random_shift_flip

    def pad_and_crop(x, max_shift, flip, generator):
        N, C, H, W = x.shape
        padded = torch.nn.functional.pad(x, (max_shift,) * 4, mode="replicate")
        top = torch.randint(0, 2 * max_shift + 1, (N,), generator=generator)
        left = torch.randint(0, 2 * max_shift + 1, (N,), generator=generator)
        rows = top[:, None] + torch.arange(H)
        cols = torch.arange(W).expand(N, W)
        if flip:
            cols = torch.where((torch.rand(N, generator=generator) < 0.5)[:, None], cols.flip(1), cols)
        cols = cols + left[:, None]
        return padded[torch.arange(N)[:, None, None], :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)

    for shape, max_shift, flip in [((64, 1, 28, 28), 1, True), ((8, 3, 32, 32), 4, False), ((5, 2, 7, 9), 2, True)]:
        x = torch.randn(*shape)
        expected = pad_and_crop(x, max_shift, flip, torch.Generator().manual_seed(5))
        assert torch.equal(random_shift_flip(x, max_shift, flip, torch.Generator().manual_seed(5)), expected)


@pytest.mark.quick
def test_failed_download_names_the_students_options(tmp_path, monkeypatch):
    """Offline, without a mirror: the message says what a student can do (fetch again online, or point DATA_MIRROR at
    a copy), never a folder of the kit's own development machines."""
    import torchvision

    from data_scripts import datasets

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    monkeypatch.setattr(datasets, "data_dir", lambda: tmp_path)
    with pytest.raises(DataError) as err:
        datasets._torchvision_download("mnist")
    message = str(err.value)
    assert "name resolution" in message and "DATA_MIRROR" in message and "data_scripts fetch mnist" in message
    assert "shared" not in message, message
