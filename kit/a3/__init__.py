"""Assignment 3 runs: the student's ViT trained on MNIST / Fashion-MNIST, attention maps, hyper-parameter studies.

`from kit import a3` gives every name below, so the notebook, the command line and the autograder train exactly
the same way; each job lives in its own module:

    kit/a3/training.py        the course's ViT and its recipes, the optimizer and schedule, train_vit
    kit/a3/baseline.py        the CNN baseline (SmallCNN, train_cnn) and the comparison by training-set size
    kit/a3/attention_maps.py  attention maps, rollout, per-head maps and their plots
    kit/a3/study.py           the hyper-parameter study, ranked on a validation split
    kit/a3/pretrained.py      large pretrained ViTs (timm): where the weights come from, scratch vs fine-tuning
    kit/a3/commands.py        `python -m kit.a3 train|study|timm|pretrain|transfer` (`--help` lists them)
"""

from __future__ import annotations

from .attention_maps import (
    ATTENTION_NAMES,
    attend,
    attention_maps,
    attention_of,
    attention_rollout,
    class_token_attention,
    head_attention,
    plot_attention,
    plot_attention_heads,
)
from .baseline import SmallCNN, comparison_table, data_size_study, data_size_table, train_cnn
from .commands import main
from .study import STUDY_BUDGET, STUDY_VALUES, StudyRows, split_validation, study, study_table, validation_split
from .pretrained import (
    TIMM_MODELS,
    NoPretrainedWeights,
    make_timm_vit,
    pretrained_source,
    resize_to_224,
    save_checkpoint,
    train_timm,
    transfer,
)
from .training import (
    COURSE_TRAINING,
    COURSE_VIT,
    FAST_TRAINING,
    FULL_TRAINING,
    FULL_VIT,
    RECIPE,
    PerBatchSchedule,
    count_parameters,
    load,
    make_optimizer,
    make_vit,
    train_vit,
)

__all__ = [
    # training
    "COURSE_VIT",
    "COURSE_TRAINING",
    "RECIPE",
    "FAST_TRAINING",
    "FULL_VIT",
    "FULL_TRAINING",
    "PerBatchSchedule",
    "make_vit",
    "make_optimizer",
    "load",
    "train_vit",
    "count_parameters",
    # the CNN baseline
    "SmallCNN",
    "train_cnn",
    "data_size_study",
    "data_size_table",
    "comparison_table",
    # attention maps
    "ATTENTION_NAMES",
    "attend",
    "attention_of",
    "attention_maps",
    "class_token_attention",
    "attention_rollout",
    "plot_attention",
    "head_attention",
    "plot_attention_heads",
    # the hyper-parameter study
    "STUDY_VALUES",
    "STUDY_BUDGET",
    "validation_split",
    "split_validation",
    "StudyRows",
    "study",
    "study_table",
    # timm
    "TIMM_MODELS",
    "NoPretrainedWeights",
    "pretrained_source",
    "make_timm_vit",
    "resize_to_224",
    "train_timm",
    "save_checkpoint",
    "transfer",
    # the command line
    "main",
]
