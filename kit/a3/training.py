"""Assignment 3, training: the course's ViT and its recipes, the optimizer and learning-rate schedule, train_vit.

Every function takes the student's `vit` module, so the notebook, the command line (kit.a3.commands) and the
autograder (kit.a3.drivers) train exactly the same way. `from kit import a3` gathers this module's names with the
other parts of assignment 3.
"""

from __future__ import annotations

import math

import torch

from .. import recipes
from ..data import image_tensors, random_shift_flip
from ..loops import fit_module, seed_everything

# The course's ViT and training (Adam at a constant learning rate, batches of 128).
COURSE_VIT = dict(embed_dim=32, nb_blocks=2, patch_size=7, nb_heads=4, mlp_ratio=4)
COURSE_TRAINING = dict(epochs=10, batch_size=128, lr=1e-3, optimizer="adam", schedule="constant")
# A better recipe for the same budget: AdamW, one-cycle learning rate (warm-up then cosine decay).
RECIPE = dict(recipes.A3_ADAMW)
# The course ViT within a minute on 2 CPU cores (recipe a3.fast in kit/recipes.py, its target there): larger batches
# keep the step's small matrices busier and a higher one-cycle peak makes up for the fewer updates. `make bench`
# measures it (docs/data/bench-*.json, docs/speed.md).
FAST_TRAINING = recipes.settings("a3.fast")
# The bigger ViT of the full tier (about 205k parameters).
FULL_VIT = recipes.FULL_VIT


class PerBatchSchedule:
    """Wraps an optimizer so that a learning-rate scheduler steps after every batch (one-cycle needs that),
    while the shared loop only sees zero_grad() and step()."""

    def __init__(self, optimizer, scheduler):
        self.optimizer, self.scheduler = optimizer, scheduler
        self.param_groups = optimizer.param_groups

    def zero_grad(self, set_to_none=True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.optimizer.step()
        self.scheduler.step()


def make_vit(vit, config=None, img_size=28, in_chan=1, nb_classes=10, pos_embedding="sinusoidal"):
    """The student's ViT with `config` (keys of COURSE_VIT) over the course's defaults."""
    cfg = {**COURSE_VIT, **(config or {})}
    return vit.ViT(
        cfg["embed_dim"],
        cfg["nb_blocks"],
        cfg["patch_size"],
        cfg["nb_heads"],
        cfg["mlp_ratio"],
        nb_classes=nb_classes,
        img_size=img_size,
        in_chan=in_chan,
        pos_embedding=pos_embedding,
    )


def make_optimizer(model, steps, lr, optimizer="adamw", schedule="onecycle", weight_decay=0.05):
    """Adam / AdamW, constant or one-cycle learning rate over `steps` batches."""
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    elif optimizer == "adamw":
        # no weight decay on biases, norms, class token and positional embedding (all of dimension < 2 or 3-d tokens)
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "token" not in n and "pos" not in n]
        rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "token" not in n and "pos" not in n)]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0}], lr=lr
        )
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    if schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps), pct_start=0.15)
        return PerBatchSchedule(opt, sched)
    if schedule != "constant":
        raise ValueError(f"unknown schedule {schedule!r}")
    return opt


def load(dataset="mnist", limit_train=None):

    return image_tensors(dataset, limit_train=limit_train)


def train_vit(
    vit,
    dataset="mnist",
    config=None,
    epochs=5,
    batch_size=128,
    lr=3e-3,
    optimizer="adamw",
    schedule="onecycle",
    weight_decay=0.05,
    limit_train=None,
    limit_test=None,
    pos_embedding="sinusoidal",
    seed=0,
    device="auto",
    progress=False,
    data=None,
    augment=False,
):
    """Train the student's ViT (vit.py) on mnist | fashion_mnist; returns (model, History).

    limit_train / limit_test keep the first examples only (the test set is in class-balanced random order).
    `data` = (Xtrain, ytrain, Xtest, ytest) skips loading (studies reuse one copy). `augment`: random shifts of up
    to 1 pixel and left-right flips of the training batches (for Fashion-MNIST; flips would hurt digits).
    """
    seed_everything(seed)
    Xtrain, ytrain, Xtest, ytest = data if data is not None else load(dataset)
    if limit_train:
        Xtrain, ytrain = Xtrain[:limit_train], ytrain[:limit_train]
    if limit_test:  # ytest is None in the grader's sandbox (it never sees the test labels)
        Xtest, ytest = Xtest[:limit_test], (None if ytest is None else ytest[:limit_test])
    model = make_vit(
        vit,
        config,
        img_size=Xtrain.shape[-1],
        in_chan=Xtrain.shape[1],
        nb_classes=int(ytrain.max()) + 1,
        pos_embedding=pos_embedding,
    )
    steps = epochs * math.ceil(len(Xtrain) / batch_size)
    opt = make_optimizer(model, steps, lr, optimizer, schedule, weight_decay)
    transform = None
    if augment:
        gen = torch.Generator().manual_seed(seed)
        transform = lambda x: random_shift_flip(x, max_shift=1, generator=gen)  # noqa: E731
    hist = fit_module(
        model,
        torch.nn.CrossEntropyLoss(),
        opt,
        Xtrain,
        ytrain,
        Xtest,
        ytest,
        epochs,
        batch_size,
        seed=seed,
        device=device,
        progress=progress,
        transform=transform,
    )
    return model, hist


def count_parameters(model, trainable=True):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


# The full tier's trainings, each with its ViT (config=FULL_VIT): recipes a3.full_mnist and a3.full_fashion_mnist.
# Fashion-MNIST overfits without augmentation; its recipe adds 1-pixel shifts and flips (the recipe's `why` gives
# what was measured).
FULL_TRAINING = {"mnist": recipes.settings("a3.full_mnist"), "fashion_mnist": recipes.settings("a3.full_fashion_mnist")}
