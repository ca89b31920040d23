"""The test labels apart from the data, for grading images that anyone can pull.

A hosted grading image (PrairieLearn pulls it from a public registry) holds the label-free public data only
(`export_public`: the training images and labels, the test images). The test labels travel apart, in a small file
per data set, `<folder>/<dataset>.npz`: the test labels and the sha256 of the test images they belong to. The
folder sits in private storage (a PrairieLearn question's tests/, mounted at grading time); the judge names it in
KIT_TEST_LABELS, and `datasets.load` then pairs the labels with the public test images, after checking that they
are the same images.

    python -m data_scripts.grading_data public mnist --out DIR [--expect mnist=SHA256]   (in the image's build)
    python -m data_scripts.grading_data labels mnist --out DIR                            (on the instructor's side)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from .datasets import (
    DataError,
    _canonical,
    cifar10_source,
    export_public,
    images_sha256,
    load,
)


def export_test_labels(name: str, folder: Path) -> Path:
    """Write <folder>/<name>.npz: the test labels of `name` and the fingerprint of its test images (and, for
    CIFAR-10, which copy the pixels come from: some thresholds depend on it)."""
    key = _canonical(name)
    images, labels = load(key, train=False)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.npz"
    tmp = folder / f".{key}.{os.getpid()}.part.npz"
    np.savez_compressed(
        tmp,
        ytest=labels.numpy().astype(np.uint8),  # class indices < 10: a byte each
        images_sha256=np.array(images_sha256(images)),
        source=np.array(cifar10_source() if key == "cifar10" else "original"),
    )
    tmp.replace(path)
    return path


def export_public_to(name: str, out: Path, expect: str | None = None) -> Path:
    """Copy the label-free public file of `name` (`export_public`) to <out>/<name>.npz, world-readable. With
    `expect`, refuse test images whose fingerprint differs: the labels were made from other images."""
    key = _canonical(name)
    source = export_public(key)
    if expect:
        with np.load(source) as z:
            found = images_sha256(z["xtest"])
        if found != expect:
            raise DataError(
                f"the {key} test images here differ from those the question's test labels were made from "
                f"(sha256 {found[:12]}..., expected {expect[:12]}...): fetch the data sets the same way on both "
                f"sides (online through torchvision; DATA_MIRROR's CIFAR-10 is a JPEG copy), then rebuild both"
            )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o755)
    target = out / f"{key}.npz"
    shutil.copyfile(source, target)
    os.chmod(target, 0o644)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_scripts.grading_data", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    public = sub.add_parser("public", help="copy the label-free public data of NAMES to OUT")
    public.add_argument("names", nargs="+")
    public.add_argument("--out", required=True)
    public.add_argument("--expect", action="append", default=[], help="NAME=SHA256 of the test images")
    labels = sub.add_parser("labels", help="write the test labels of NAMES to OUT")
    labels.add_argument("names", nargs="+")
    labels.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        for name in args.names:
            if args.command == "public":
                expect = dict(item.split("=", 1) for item in args.expect)
                path = export_public_to(name, Path(args.out), expect.get(_canonical(name)))
            else:
                path = export_test_labels(name, Path(args.out))
            print(f"{name}: {path}")
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
