"""Data layer of the kit: where the data sets live, how they are fetched, verified and loaded.

Environment:
  DATA_DIR     where prepared data is kept (default: <repo>/data)
  DATA_MIRROR  an offline mirror with the layout of shared/datasets; when unset, torchvision downloads
"""

from .datasets import DATASETS, DataError, cifar10_source, data_dir, load, mirror_dir, prepare
from .circles import CirclesData, make_circles

__all__ = [
    "DATASETS",
    "DataError",
    "data_dir",
    "mirror_dir",
    "prepare",
    "load",
    "cifar10_source",
    "CirclesData",
    "make_circles",
]
