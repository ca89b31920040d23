"""MNIST, Fashion-MNIST and CIFAR-10: fetched online through torchvision or from an offline mirror.

Every loader returns uint8 images and int64 labels as tensors: MNIST-like (N, 28, 28), CIFAR-10 (N, 32, 32, 3).
Failures raise DataError with one line that says what is wrong and the command that fixes it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

# sha256 of the mirror's files (shared/datasets/SHA256SUMS), pinned here so a corrupt mirror is caught too.
MIRROR_SHA256 = {
    "MNIST/train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "MNIST/train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "MNIST/t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "MNIST/t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
    "FashionMNIST/train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "FashionMNIST/train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "FashionMNIST/t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "FashionMNIST/t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    "CIFAR10/cifar10-jpeg-q75.tar.gz": "58c58e3af3ec7ed2054f439f35ad3c83dc1ab019f4af6037f60612ea098c8fa1",
}
# Byte sizes of the un-gzipped IDX files: a cheap check that an extracted copy is whole.
IDX_SIZES = {
    "train-images-idx3-ubyte": 47040016,
    "train-labels-idx1-ubyte": 60008,
    "t10k-images-idx3-ubyte": 7840016,
    "t10k-labels-idx1-ubyte": 10008,
}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# kit name -> torchvision folder name
DATASETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
# Which assignment reads which of these is the assignment registry's (autograder/assignments.py: `datasets`);
# the data layer knows data sets, not assignments, and imports nothing from the grader.
# what a student can do: fetch online, or point at a copy of the data sets (the course's, a USB stick, a shared disk)
FETCH_HINT = (
    "'python -m data_scripts fetch {name}' (or 'make data') with internet access; without it, set DATA_MIRROR to "
    "a folder holding a copy of the data sets (ask your course for one) and run the same command"
)


class DataError(RuntimeError):
    """A data set is missing, corrupt or cannot be fetched; the message says how to fix it."""


def data_dir() -> Path:
    return Path(os.environ.get("DATA_DIR") or REPO_ROOT / "data").resolve()


def mirror_dir() -> Path | None:
    value = os.environ.get("DATA_MIRROR", "").strip()
    return Path(value).resolve() if value else None


def _canonical(name: str) -> str:
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return key


def _progress(iterable, **kwargs):
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=os.environ.get("KIT_NO_PROGRESS") == "1", **kwargs)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified_mirror_file(mirror: Path, rel: str, name: str) -> Path:
    path = mirror / rel
    if not path.is_file():
        raise DataError(f"{path} is missing from DATA_MIRROR={mirror}; fix the mirror or unset DATA_MIRROR to download")
    if sha256(path) != MIRROR_SHA256[rel]:
        raise DataError(
            f"{path} is corrupt (sha256 mismatch); replace it with a good copy, or unset DATA_MIRROR and run "
            f"'python -m data_scripts fetch {name}' online"
        )
    return path


# ---------------------------------------------------------------- MNIST and Fashion-MNIST
def _unreadable(path: Path, err: Exception, name: str) -> DataError:
    return DataError(f"{path} cannot be read ({err}); delete it and run {FETCH_HINT.format(name=name)}")


def _raw_dir(name: str) -> Path:
    return data_dir() / DATASETS[name] / "raw"


def _idx_complete(raw: Path) -> bool:
    return all((raw / f).is_file() and (raw / f).stat().st_size == size for f, size in IDX_SIZES.items())


def _prepare_idx(name: str) -> Path:
    raw = _raw_dir(name)
    if _idx_complete(raw):
        return raw
    mirror = mirror_dir()
    if mirror is not None:
        raw.mkdir(parents=True, exist_ok=True)
        for stem in _progress(IDX_SIZES, desc=f"{DATASETS[name]} from mirror", unit="file"):
            src = _verified_mirror_file(mirror, f"{DATASETS[name]}/{stem}.gz", name)
            tmp = raw / (stem + ".part")
            try:
                with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
            except (OSError, EOFError) as err:
                tmp.unlink(missing_ok=True)
                raise DataError(f"{src} cannot be un-gzipped ({err}); replace it with a good copy") from None
            tmp.replace(raw / stem)
    else:
        _torchvision_download(name)
    if not _idx_complete(raw):
        raise DataError(f"{raw} is incomplete or corrupt; delete it and run {FETCH_HINT.format(name=name)}")
    return raw


def _torchvision_download(name: str) -> None:
    import torchvision

    cls = {
        "mnist": torchvision.datasets.MNIST,
        "fashion_mnist": torchvision.datasets.FashionMNIST,
        "cifar10": torchvision.datasets.CIFAR10,
    }[name]
    try:
        for train in (True, False):
            cls(str(data_dir()), train=train, download=True)
    except Exception as err:  # network errors come in many types; all mean the same to the user
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(
            f"could not download {DATASETS[name]} through torchvision ({first}): check the internet connection and "
            f"run {FETCH_HINT.format(name=name)}"
        ) from None


def _load_idx(name: str, train: bool):
    import torchvision

    cls = torchvision.datasets.MNIST if name == "mnist" else torchvision.datasets.FashionMNIST
    try:
        ds = cls(str(data_dir()), train=train, download=False)
    except Exception as err:
        raise _unreadable(_raw_dir(name), err, name) from None
    return ds.data.clone(), ds.targets.clone().long()


# ---------------------------------------------------------------- CIFAR-10
def _cifar_cache() -> Path:
    return data_dir() / "CIFAR10" / "cifar10_uint8.npz"


def _decode_jpeg_tar(tar_path: Path):
    from PIL import Image

    found = {"train": [], "test": []}
    try:
        # stream the archive once, in order: random access into a .tar.gz re-decompresses from the start
        with (
            tarfile.open(tar_path, "r|gz") as tar,
            _progress(None, desc="CIFAR10 decode JPEG", unit="img", mininterval=1.0, total=60000) as bar,
        ):
            for m in tar:
                if not (m.isfile() and m.name.lower().endswith(".jpg")):
                    continue
                bar.update()
                parts = Path(m.name).parts
                split, cls = parts[-3], parts[-2]
                img = Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB")
                found[split].append((m.name, np.asarray(img, dtype=np.uint8), CIFAR10_CLASSES.index(cls)))
    except (tarfile.TarError, OSError, EOFError, KeyError, ValueError, IndexError) as err:
        raise DataError(f"{tar_path} cannot be decoded ({err}); replace it with a good copy") from None
    out = {}
    for split, items in found.items():
        items.sort(key=lambda t: t[0])  # a fixed order, whatever the archive's
        out[split] = ([t[1] for t in items], [t[2] for t in items])
    arrays = {}
    for split, (images, labels) in out.items():
        arrays[f"x_{split}"] = np.stack(images)
        arrays[f"y_{split}"] = np.asarray(labels, dtype=np.int64)
    return arrays


def _cache_source(cache: Path) -> str | None:
    """The source recorded in a decoded cache; None when the cache is missing or predates the record."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache) as z:
            return str(z["source"]) if "source" in z.files else None
    except Exception as err:
        raise _unreadable(cache, err, "cifar10") from None


def _prepare_cifar10() -> Path:
    cache = _cifar_cache()
    if _cache_source(cache) is not None:
        return cache
    # missing, or written before the source was recorded: decode again, so that the source is known
    cache.parent.mkdir(parents=True, exist_ok=True)
    mirror = mirror_dir()
    if mirror is not None:
        arrays = _decode_jpeg_tar(_verified_mirror_file(mirror, "CIFAR10/cifar10-jpeg-q75.tar.gz", "cifar10"))
    else:
        import torchvision

        _torchvision_download("cifar10")
        arrays = {}
        for split, train in (("train", True), ("test", False)):
            ds = torchvision.datasets.CIFAR10(str(data_dir()), train=train, download=False)
            arrays[f"x_{split}"], arrays[f"y_{split}"] = ds.data, np.asarray(ds.targets, dtype=np.int64)
    if arrays["x_train"].shape != (50000, 32, 32, 3) or arrays["x_test"].shape != (10000, 32, 32, 3):
        raise DataError(f"CIFAR-10 source has the wrong size {arrays['x_train'].shape}; replace it with a good copy")
    # the mirror's JPEG export scores a little lower than the original pixels: thresholds may depend on it
    arrays["source"] = np.array(CIFAR_JPEG_SOURCE if mirror is not None else "original")
    tmp = cache.with_suffix(".part.npz")
    np.savez(tmp, **arrays)
    tmp.replace(cache)
    return cache


CIFAR_JPEG_SOURCE = "jpeg-q75"


def cifar10_source() -> str:
    """Where the prepared CIFAR-10 pixels come from: "original" (torchvision's files) or "jpeg-q75" (the mirror)."""
    if os.environ.get("KIT_TEST_LABELS"):  # a grading image has no raw files: the labels file records it
        found = source_apart("cifar10")
        if found:
            return found
    return _cache_source(_prepare_cifar10())


def _load_cifar10(train: bool):
    import torch

    cache = _cifar_cache()
    split = "train" if train else "test"
    try:
        with np.load(cache) as z:
            x, y = z[f"x_{split}"], z[f"y_{split}"]
    except Exception as err:
        raise _unreadable(cache, err, "cifar10") from None
    return torch.from_numpy(x), torch.from_numpy(y).long()


# ---------------------------------------------------------------- public API
def prepare(name: str) -> Path:
    """Make `name` available under data_dir(), from DATA_MIRROR or torchvision; returns its folder or cache."""
    key = _canonical(name)
    return _prepare_cifar10() if key == "cifar10" else _prepare_idx(key)


def load(name: str, train: bool = True):
    """Images and labels of one split, preparing the data set first if needed.

    Returns (images, labels): uint8 tensor (N, 28, 28) for MNIST / Fashion-MNIST, (N, 32, 32, 3) for CIFAR-10;
    int64 tensor (N,) of class indices.
    """
    key = _canonical(name)
    public = os.environ.get("KIT_PUBLIC_DATA")
    if public:
        return _load_public(Path(public), key, train)
    if os.environ.get("KIT_TEST_LABELS"):  # a grading image: public data, the test labels from private storage
        found = load_apart(key, train)
        if found is not None:
            return found
    prepare(key)
    return _load_cifar10(train) if key == "cifar10" else _load_idx(key, train)


# ---------------------------------------------------------------- the grader's sandbox sees no test labels
def public_dir() -> Path:
    return data_dir() / "public"


def export_public(name: str) -> Path:
    """Write <data_dir>/public/<name>.npz: training images and labels and the test images, without the test
    labels. The grader's sandbox sees only this folder (KIT_PUBLIC_DATA), so a submission cannot read the
    labels its predictions are scored against."""
    key = _canonical(name)
    path = public_dir() / f"{key}.npz"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)
    xtrain, ytrain = load(key, train=True)
    xtest, _ = load(key, train=False)
    tmp = path.with_name(f".{key}.{os.getpid()}.part.npz")
    np.savez(tmp, xtrain=xtrain.numpy(), ytrain=ytrain.numpy(), xtest=xtest.numpy())
    os.chmod(tmp, 0o644)
    tmp.replace(path)
    return path


def _load_public(folder: Path, key: str, train: bool):
    """In the grader's sandbox: (images, labels) for training, (images, None) for the test split."""
    path = folder / f"{key}.npz"
    if not path.is_file():
        raise DataError(f"{key} is not available to the grader's sandbox")
    import torch

    with np.load(path) as z:
        if train:
            return torch.from_numpy(z["xtrain"]), torch.from_numpy(z["ytrain"]).long()
        return torch.from_numpy(z["xtest"]), None


# ---------------------------------------------------------------- a grading image: the test labels kept apart
# (data_scripts/grading_data.py writes them; reading them is `load`'s, here)
LABELS_ENV = "KIT_TEST_LABELS"


def images_sha256(images) -> str:
    """The fingerprint of a test split's images (shape and pixels): the labels file names the images it labels."""
    array = np.ascontiguousarray(images.numpy() if hasattr(images, "numpy") else images)
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def labels_file(key: str) -> Path | None:
    """The labels file of `key` in KIT_TEST_LABELS's folder; None when unset or absent."""
    folder = os.environ.get(LABELS_ENV)
    path = Path(folder) / f"{key}.npz" if folder else None
    return path if path is not None and path.is_file() else None


def _has_raw(key: str) -> bool:
    return _cifar_cache().is_file() if key == "cifar10" else _idx_complete(_raw_dir(key))


def _read_labels(path: Path):
    try:
        with np.load(path) as z:
            return z["ytest"], str(z["images_sha256"]), str(z["source"])
    except Exception as err:
        raise DataError(
            f"{path} cannot be read as test labels ({err}); rebuild it from the instructor's data"
        ) from None


def load_apart(key: str, train: bool):
    """`load` where the raw files are absent (a grading image): the public data, and for the test split the labels
    of KIT_TEST_LABELS. None when that folder holds no labels of `key` but the raw files are here (the caller
    loads them)."""
    path = labels_file(key)
    if path is None:
        if _has_raw(key):
            return None
        raise DataError(
            f"the test labels of {key} are not in {os.environ.get(LABELS_ENV)}: rebuild the question, which writes "
            f"them (make prairielearn)"
        )
    public = public_dir() / f"{key}.npz"
    if not public.is_file():
        raise DataError(f"{public} is missing: the grading image holds no public copy of {key}; rebuild the image")
    import torch

    with np.load(public) as z:
        if train:
            return torch.from_numpy(z["xtrain"]), torch.from_numpy(z["ytrain"]).long()
        images = z["xtest"]
    labels, expected, _ = _read_labels(path)
    if images_sha256(images) != expected or len(labels) != len(images):
        raise DataError(
            f"the test labels in {path} belong to other {key} test images than {public}'s: build the question and "
            f"the image from the same data (see `python -m data_scripts.grading_data`)"
        )
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def source_apart(key: str) -> str | None:
    """The pixel source recorded with the test labels of KIT_TEST_LABELS; None without them."""
    path = labels_file(key)
    return _read_labels(path)[2] if path is not None else None
