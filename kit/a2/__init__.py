"""Assignment 2 runs: the student's CourseCNN trained on CIFAR-10 by the student's `epoch`, with switches.

The notebook, the CLI and the autograder all train through `train`, so they measure exactly the same thing.
How it runs fast on a CPU: kit/a2/training.py.

Protocol: whatever is selected or compared (the best epoch, a learning rate, a variant of the ablation) is read
on a VALIDATION split held out of the training images (`validation=` images, a fixed random draw); the test set is
read once, at the end, by the model of the epoch with the best validation accuracy.

    python -m kit.a2 train --epochs 30 --standardize --augment --lr-schedule --dropout 0.5 --batch-norm
    python -m kit.a2 ablation --epochs 30

`from kit import a2` gives every name below: the training and the notebook's tools live in kit/a2/training.py,
the command line in kit/a2/commands.py.
"""

from __future__ import annotations

from .commands import main, selection_accuracy, student_modules
from .training import (
    ABLATION,
    ablation,
    accepts_channels_last,
    BATCH_SIZE,
    Batches,
    channel_affine,
    cifar10,
    CLASSES,
    confusion_matrix,
    DROPOUT,
    first_conv_weights,
    first_layer_maps,
    FULL_IMPROVED,
    FULL_VANILLA,
    GAMMA,
    LR,
    make_optimizer,
    NO_LABELS,
    OPTIMIZERS,
    overfit_one_batch,
    predict,
    SCHEDULES,
    Settings,
    SMALL,
    SplitHistory,
    step_schedule,
    subset_indices,
    SUBSET_SEED,
    train,
    VALIDATION,
    VALIDATION_SEED,
    validation_set,
    validation_split,
    zca_whitening,
)

__all__ = [
    "LR",
    "BATCH_SIZE",
    "GAMMA",
    "DROPOUT",
    "SMALL",
    "FULL_VANILLA",
    "FULL_IMPROVED",
    "VALIDATION",
    "VALIDATION_SEED",
    "ABLATION",
    "SUBSET_SEED",
    "subset_indices",
    "cifar10",
    "validation_split",
    "SplitHistory",
    "Batches",
    "Settings",
    "train",
    "OPTIMIZERS",
    "make_optimizer",
    "SCHEDULES",
    "step_schedule",
    "zca_whitening",
    "accepts_channels_last",
    "channel_affine",
    "NO_LABELS",
    "predict",
    "ablation",
    "overfit_one_batch",
    "first_conv_weights",
    "first_layer_maps",
    "confusion_matrix",
    "validation_set",
    "CLASSES",
    "main",
    "selection_accuracy",
    "student_modules",
]
