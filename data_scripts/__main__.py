"""python -m data_scripts fetch {mnist,fashion_mnist,cifar10,all} | verify"""

from __future__ import annotations

import argparse
import sys

from .datasets import DATASETS, DataError, data_dir, mirror_dir, prepare


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_scripts", description="Fetch and verify the data sets.")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download (or copy from DATA_MIRROR), verify and prepare")
    fetch.add_argument("names", nargs="+", choices=list(DATASETS) + ["all"])
    args = parser.parse_args(argv)
    names = list(DATASETS) if "all" in args.names else args.names
    source = f"mirror {mirror_dir()}" if mirror_dir() else "torchvision downloads"
    for name in names:
        try:
            path = prepare(name)
        except DataError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{name}: ready in {path} (from {source}; DATA_DIR={data_dir()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
