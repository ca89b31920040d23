"""Assignment 2 runs: the student's CourseCNN trained on CIFAR-10 by the student's `epoch`, with switches.

The notebook, the CLI and the autograder all train through `train`, so they measure exactly the same thing.
Speed on CPU: the data live in memory as tensors, augmentation is batched on tensors, and the precision
(float32 or bfloat16 autocast) and the memory layout of the model and its batches (contiguous or channels_last)
are chosen by timing one training step of each (kit.loops.resolve_switches). channels_last is a candidate only
when the student's forward accepts it: the course's `x.view(N, -1)` after the convolutions does not (a
channels_last tensor cannot be viewed flat), so view, reshape, flatten and nn.Flatten all train.

Protocol: whatever is selected or compared (the best epoch, a learning rate, a variant of the ablation) is read
on a VALIDATION split held out of the training images (`validation=` images, a fixed random draw); the test set is
read once, at the end, by the model of the epoch with the best validation accuracy.

    python -m kit.a2 train --epochs 30 --standardize --augment --lr-schedule --dropout 0.5 --batch-norm
    python -m kit.a2 ablation --epochs 30
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from . import recipes
from .grading import set_parameters  # noqa: F401 (kit.a2:set_parameters, for the a2 checks)
from .cli import add_common_options, entry_point
from .loops import (
    EVAL_PROBE_IMAGES,
    SPEED_DECISIONS,
    History,
    mixed_precision,
    pick_device,
    resolve_eval_batch_size,
    resolve_switches,
    save_run,
    seed_everything,
    training_step_probe,
)
from .student import load_student_modules

# The course's settings: plain SGD, learning rate 0.1, batches of 128.
LR, BATCH_SIZE, GAMMA, DROPOUT = 0.1, 128, 0.95, 0.5
# The train and full tiers' recipes and their thresholds: kit/recipes.py (measured: docs/course/a2.md). At the
# course's constant learning rate the vanilla network peaks after about 12 epochs and then overfits, so its check
# selects the epoch on a validation split of the training images (never on the test set). With every improvement
# the network underfits under plain SGD; the improved recipe sets a one-cycle learning rate per step
# (kit.a2.step_schedule, in place of the student's make_scheduler, checked at the quick tier), Nesterov momentum,
# label smoothing and flip-averaged test logits.
SMALL = recipes.settings("a2.small")
FULL_VANILLA = recipes.settings("a2.full_vanilla")
FULL_IMPROVED = recipes.settings("a2.full_improved")
VALIDATION = FULL_VANILLA["validation"]
VALIDATION_SEED = 1

# The ablation stacks the improvements one after the other, each variant keeping the previous ones.
ABLATION = [
    ("vanilla", {}),
    ("+standardize", {"standardize": True}),
    ("+augment", {"augment": True}),
    ("+lr schedule", {"lr_schedule": True}),
    ("+dropout", {"dropout": DROPOUT}),
    ("+batch norm", {"batch_norm": True}),
]

_CACHE: dict = {}
SUBSET_SEED = 0


def subset_indices(n: int, limit: int | None):
    """Indices of the fixed random subset of `limit` images among `n` (None: all of them, in order).

    The stored images are sorted by class: a subset must be a random (fixed) draw, not the first ones. The grader's
    judge draws the same indices to pick the test labels of the images its sandbox trained and predicted on."""
    if not limit or limit >= n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(SUBSET_SEED))[:limit]


def cifar10(limit_train: int | None = None, limit_test: int | None = None):
    """(Xtrain, ytrain, Xtest, ytest) of CIFAR-10 in [0, 1], cached in the process; a fixed random subset when
    limited. In the grader's sandbox ytest is None (it never sees the test labels)."""
    if "full" not in _CACHE:
        from .data import image_tensors

        _CACHE["full"] = image_tensors("cifar10")
    out = []
    for X, y, limit in zip(_CACHE["full"][::2], _CACHE["full"][1::2], (limit_train, limit_test)):
        idx = subset_indices(len(X), limit)
        if idx is not None:
            X, y = X[idx], (None if y is None else y[idx])
        out += [X, y]
    return tuple(out)


def validation_split(n: int, size: int):
    """(train indices, validation indices): a fixed random draw of `size` of the `n` training images held out."""
    if not 0 < size < n:
        raise ValueError(f"validation={size}: hold out between 1 and {n - 1} of the {n} training images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(VALIDATION_SEED))
    return order[size:], order[:size]


@dataclass
class SplitHistory(History):
    """Learning curves of a training with a validation split: train and validation curves per epoch; `test_loss`
    and `test_acc` hold ONE value each, the model of `best_epoch` (1-based, best validation accuracy, the
    earliest on ties) measured on the test set once, after the last epoch (NaN without test labels)."""

    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    best_epoch: int = 0


class Batches:
    """Mini-batches (inputs, targets) of in-memory tensors, on `device`, transformed, in channels_last layout.

    Iterating again gives a new pass (re-shuffled when `shuffle`): it plays the role of a DataLoader. Without
    labels (y None: the test images in the grader's sandbox) the targets are None.
    """

    def __init__(self, X, y, batch_size, shuffle=False, transform=None, device="cpu", channels_last=True, seed=0):
        self.device, self.channels_last = torch.device(device), channels_last
        # the whole set moves to the device once (CIFAR-10 in float32: 0.6 GB), not one batch per step
        self.X, self.y = X.to(self.device), (None if y is None else y.to(self.device))
        self.batch_size, self.shuffle, self.transform = batch_size, shuffle, transform
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self):
        return (len(self.X) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        n = len(self.X)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            if order is None:
                idx = slice(start, start + self.batch_size)
            else:
                idx = order[start : start + self.batch_size].to(self.device)
            xb, yb = self.X[idx], (None if self.y is None else self.y[idx])
            if self.transform is not None:
                xb = self.transform(xb)
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb


def _progress(iterable, enabled, **kw):
    if not enabled or os.environ.get("KIT_NO_PROGRESS"):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)


def train(
    cnn,
    training,
    epochs: int = 10,
    lr: float = LR,
    batch_size: int = BATCH_SIZE,
    standardize: bool = False,
    augment: bool = False,
    lr_schedule: bool = False,
    dropout: float = 0.0,
    batch_norm: bool = False,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    gamma: float = GAMMA,
    limit_train: int | None = None,
    limit_test: int | None = None,
    seed: int = 0,
    device: str = "auto",
    channels_last: bool | str = "auto",
    precision: str = "auto",
    progress: bool = False,
    data=None,
    test_logits: list | None = None,
    validation: int | None = None,
    optimizer: str = "sgd",
    zca: bool = False,
    nesterov: bool = False,
    schedule: str | None = None,
    warmup: float = 0.15,
    label_smoothing: float = 0.0,
    flip_test: bool = False,
    test_inputs: dict | None = None,
):
    """Train the student's cnn.CourseCNN with their training.epoch / make_transforms / make_scheduler.

    `data` = (Xtrain, ytrain, Xtest, ytest) replaces CIFAR-10 (tests). Returns (model, History); the History's
    `seconds` is the cumulative training time (evaluation excluded). `precision` and `channels_last` 'auto' are
    decided by timing one training step of this model in each (kit.loops.resolve_switches: bfloat16 autocast and
    the channels_last layout only when clearly faster; the History's `speed` says what was chosen);
    channels_last True uses that layout whenever the forward accepts it, False never.
    `test_logits`: a list that receives, after each epoch, the model's logits on the test images (eval mode,
    float32 on the CPU). Without test labels (ytest None: the grader's sandbox) the student's epoch never sees
    the test images and the History's test curve is NaN; the grader scores those logits instead.
    `validation`: hold out that many training images (validation_split); each epoch is then measured on them,
    the weights of the epoch with the best validation accuracy are restored after the last epoch, and the test
    set is read once, by that model: a SplitHistory is returned and `test_logits` receives one entry.
    `test_inputs`: a dict that receives what the test images go through before the model (`channel_affine` of the
    student's test transform; "zca" when whitened first), for the judge to feed the same inputs to its own copy.
    Bonuses: `optimizer` "sgd" (the course's, with `momentum`), "adam" or "adamw" (`lr` is theirs: 1e-3 suits
    them); `zca`: ZCA whitening fitted on the training images (zca_whitening), applied to every set before the
    student's transforms.
    Faster recipes (issue: the course CNN at 85 %): `nesterov` momentum; `schedule` "onecycle" or "cosine"
    (kit.a2.step_schedule: set per optimizer step, `warmup` the fraction of steps spent rising to `lr`) replaces
    the student's per-epoch make_scheduler; `label_smoothing` for the loss; `flip_test`: the test logits (and the
    test accuracy) average the image and its mirror image.
    """
    seed_everything(seed)
    dev = pick_device(device)
    Xtrain, ytrain, Xtest, ytest = data if data is not None else cifar10(limit_train, limit_test)
    if validation:
        keep, held_out = validation_split(len(Xtrain), validation)
        Xval, yval, Xtrain, ytrain = Xtrain[held_out], ytrain[held_out], Xtrain[keep], ytrain[keep]
    if zca:
        whiten = zca_whitening(Xtrain)
        Xtrain, Xtest = whiten(Xtrain), whiten(Xtest)
        if validation:
            Xval = whiten(Xval)
    train_transform, test_transform = training.make_transforms(Xtrain, standardize, augment)
    if test_inputs is not None:
        test_inputs.update(channel_affine(test_transform, Xtest.shape[1:]), zca=bool(zca))
    model = cnn.CourseCNN(batch_norm=batch_norm, dropout=dropout).to(dev)
    if channels_last is not False:
        if not accepts_channels_last(model.to(memory_format=torch.channels_last), Xtrain[:2].to(dev)):
            channels_last = False  # e.g. x.view(N, -1) after a convolution
        model = model.to(memory_format=torch.contiguous_format)
    criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    # timed on one step of this very model, never decided from CPU flags alone; cached per model and batch shape
    key = f"course CNN, batch norm {bool(batch_norm)}, dropout {dropout > 0}, batch {batch_size}"
    probe = training_step_probe(model, criterion, Xtrain[:batch_size].to(dev), ytrain[:batch_size].to(dev), dev)
    precision, channels_last = resolve_switches(dev, precision, channels_last, probe=probe, key=key)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay, nesterov)
    train_steps = epochs * -(-len(Xtrain) // batch_size)
    if schedule:
        step_schedule(optimizer, schedule, lr, train_steps, warmup)
    scheduler = training.make_scheduler(optimizer, gamma) if lr_schedule and not schedule else None
    train_batches = Batches(
        Xtrain,
        ytrain,
        batch_size,
        shuffle=True,
        transform=train_transform,
        device=dev,
        channels_last=channels_last,
        seed=seed,
    )
    eval_batch_size = _eval_batch_size(
        model,
        Xtest,
        dev,
        precision,
        channels_last,
        key,
        epochs * (len(Xval) if validation else len(Xtest)) * (2 if flip_test else 1),
    )
    speed = dict(SPEED_DECISIONS.get(key, {}))  # what was chosen above: the History carries it
    test_batches = Batches(
        Xtest, ytest, eval_batch_size, transform=test_transform, device=dev, channels_last=channels_last
    )
    if validation:
        val_batches = Batches(
            Xval, yval, eval_batch_size, transform=test_transform, device=dev, channels_last=channels_last
        )
        model, hist = _train_validated(
            training,
            model,
            optimizer,
            scheduler,
            criterion,
            train_batches,
            val_batches,
            test_batches,
            ytest,
            epochs,
            dev,
            precision,
            progress,
            test_logits,
            flip_test,
        )
        hist.speed = speed
        return model, hist
    hist, elapsed = History(speed=speed), 0.0
    bar = _progress(range(epochs), progress, desc="epochs")
    for _ in bar:
        start = time.perf_counter()
        with mixed_precision(dev, precision):
            train_metrics = training.epoch(train_batches, model, criterion, optimizer)
        elapsed += time.perf_counter() - start
        if test_logits is not None:
            test_logits.append(predict(model, test_batches, dev, precision, flip_test))
        test_metrics = _test_metrics(training, model, criterion, test_batches, ytest, dev, precision, flip_test)
        hist.add(train_metrics, test_metrics, elapsed)
        if scheduler is not None:
            scheduler.step()
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(train_acc=f"{train_metrics[1]:.3f}", test_acc=f"{test_metrics[1]:.3f}")
    return model, hist


OPTIMIZERS = ("sgd", "adam", "adamw")


def make_optimizer(
    name: str, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False
):
    """torch.optim's SGD (the course's, optionally with Nesterov momentum), Adam or AdamW."""
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov and momentum > 0
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer {name!r}: one of {', '.join(OPTIMIZERS)}")


SCHEDULES = ("onecycle", "cosine")


def step_schedule(optimizer, name: str, lr: float, total_steps: int, warmup: float = 0.15):
    """Set the learning rate after every optimizer step (a post-step hook, so the student's epoch needs no change).

    "onecycle": torch's OneCycleLR (rises to `lr` over the first `warmup` fraction of the steps, then anneals by
    cosine to lr / 1e4; momentum cycles between 0.85 and 0.95 when the optimizer has momentum). "cosine": linear
    warm-up over that fraction, then cosine decay to 0. Returns the scheduler.
    """
    if name == "onecycle":
        cycle = bool(optimizer.defaults.get("momentum"))
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=total_steps + 1, pct_start=warmup, cycle_momentum=cycle
        )
    elif name == "cosine":
        rise = max(1, int(warmup * total_steps))
        for group in optimizer.param_groups:
            group["lr"] = lr

        def factor(step):
            if step < rise:
                return (step + 1) / rise
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - rise) / max(1, total_steps - rise))))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    else:
        raise ValueError(f"schedule {name!r}: one of {', '.join(SCHEDULES)}")
    optimizer.register_step_post_hook(lambda *_: scheduler.step())
    return scheduler


def zca_whitening(Xtrain, eps: float = 1e-2):
    """ZCA whitening (a bonus of the course) fitted on the training images: returns a function X -> whitened X.

    Each image, flattened to d = C*H*W values, is centred by the training mean and multiplied by
    W = U diag(1 / sqrt(lambda + eps)) U^T, where U, lambda are the eigenvectors and eigenvalues of the training
    covariance: the whitened training pixels are decorrelated with unit variance (up to eps, which keeps the
    noise of the tiny eigenvalues from being amplified). W is symmetric, so unlike PCA whitening the result stays
    in pixel space and looks like an edge-enhanced image.
    """
    N = len(Xtrain)
    flat = Xtrain.reshape(N, -1).double()
    mean = flat.mean(0)
    cov = (flat - mean).T @ (flat - mean) / (N - 1)
    lam, U = torch.linalg.eigh(cov)
    W = (U * (1.0 / torch.sqrt(lam.clamp(min=0) + eps))) @ U.T

    def whiten(X):
        out = (X.reshape(len(X), -1).double() - mean) @ W
        return out.reshape(X.shape).to(X.dtype)

    whiten.matrix, whiten.mean = W, mean
    return whiten


def _test_metrics(training, model, criterion, test_batches, ytest, dev, precision, flip_test):
    """(loss, accuracy) on the test set by the student's epoch; with `flip_test` the accuracy is that of the
    flip-averaged logits. NaN without test labels (the grader's sandbox)."""
    if ytest is None:
        return NO_LABELS
    with mixed_precision(dev, precision):
        loss, acc = training.epoch(test_batches, model, criterion)
    if flip_test:
        acc = (predict(model, test_batches, dev, precision, True).argmax(1) == ytest.cpu()).float().mean().item()
    return loss, acc


def _train_validated(
    training,
    model,
    optimizer,
    scheduler,
    criterion,
    train_batches,
    val_batches,
    test_batches,
    ytest,
    epochs,
    dev,
    precision,
    progress,
    test_logits,
    flip_test=False,
):
    """`train` with a validation split: select the epoch on validation, read the test set once at the end."""
    hist, elapsed, best, best_state = SplitHistory(), 0.0, -1.0, None
    bar = _progress(range(epochs), progress, desc="epochs")
    for k in bar:
        start = time.perf_counter()
        with mixed_precision(dev, precision):
            train_metrics = training.epoch(train_batches, model, criterion, optimizer)
        elapsed += time.perf_counter() - start
        with mixed_precision(dev, precision):
            val_loss, val_acc = training.epoch(val_batches, model, criterion)
        hist.train_loss.append(float(train_metrics[0]))
        hist.train_acc.append(float(train_metrics[1]))
        hist.val_loss.append(float(val_loss))
        hist.val_acc.append(float(val_acc))
        hist.seconds.append(float(elapsed))
        if val_acc > best:  # strictly better: the earliest epoch on ties
            best, hist.best_epoch = float(val_acc), k + 1
            best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        if scheduler is not None:
            scheduler.step()
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(train_acc=f"{train_metrics[1]:.3f}", val_acc=f"{val_acc:.3f}")
    if best_state is not None:
        model.load_state_dict(best_state)
    if test_logits is not None:
        test_logits.append(predict(model, test_batches, dev, precision, flip_test))
    test_metrics = _test_metrics(training, model, criterion, test_batches, ytest, dev, precision, flip_test)
    hist.test_loss.append(float(test_metrics[0]))
    hist.test_acc.append(float(test_metrics[1]))
    return model, hist


def _eval_batch_size(model, X, dev, precision, channels_last, key, work) -> int:
    """kit.loops.resolve_eval_batch_size for `model` in eval mode, in the precision and layout train chose, on
    the first images of X (unlabelled: the sandbox's test images do); `work` is the images the training will
    evaluate in all. The model goes back to train mode."""
    layout = torch.channels_last if channels_last else torch.contiguous_format

    def forward(xb):
        with mixed_precision(dev, precision):
            model(xb.contiguous(memory_format=layout))

    model.eval()
    try:
        return resolve_eval_batch_size(dev, forward, X[:EVAL_PROBE_IMAGES].to(dev), key, work)
    finally:
        model.train()


@torch.no_grad()
def accepts_channels_last(model, x) -> bool:
    """Whether `model`'s forward runs on `x` in the channels_last memory layout (one forward pass in eval mode,
    no graph; the model goes back to its mode). `x.view(N, -1)` on a channels_last feature map raises (its
    values are not stored in the (C, H, W) order the view needs); reshape, flatten and nn.Flatten copy."""
    was = model.training
    model.eval()
    try:
        model(x.contiguous(memory_format=torch.channels_last))
        return True
    except RuntimeError:
        return False
    finally:
        model.train(was)


@torch.no_grad()
def channel_affine(transform, shape) -> dict:
    """The test transform as a per-channel affine map, x -> shift + scale * x (standardization is one; no
    standardization, the identity): {"shift": (C,), "scale": (C,)} read off the transform of an all-zero and an
    all-one image. Six numbers that carry nothing about the test images: the judge applies them to its own copy."""
    probe = torch.stack([torch.zeros(shape), torch.ones(shape)])
    out = transform(probe).float().cpu()
    shift = out[0].flatten(1).mean(1)
    return {"shift": shift, "scale": out[1].flatten(1).mean(1) - shift}


# no test curve without test labels (the grader's sandbox: the judge scores the predictions)
NO_LABELS = (float("nan"), float("nan"))


@torch.no_grad()
def predict(model, batches, device, precision: str = "fp32", flip: bool = False):
    """Logits of `model` (eval mode, then back to the mode it was in) on every batch of `batches`, float32 on the
    CPU: the test transform applies, as when the student's epoch evaluates. `flip`: the mean of the logits of
    each image and of its mirror image (test-time augmentation by horizontal flip)."""
    was = model.training
    model.eval()

    def logits(xb):
        out = model(xb).float()
        return (out + model(xb.flip(-1)).float()) / 2 if flip else out

    try:
        with mixed_precision(device, precision):
            return torch.cat([logits(xb).cpu() for xb, _ in batches])
    finally:
        model.train(was)


def ablation(cnn, training, epochs: int = 10, progress: bool = False, **kw) -> dict:
    """Train the stacked variants of ABLATION; returns {variant: History}."""
    settings, results = {}, {}
    for name, change in ABLATION:
        settings.update(change)
        if progress:
            print(f"== {name}", file=sys.stderr)
        results[name] = train(cnn, training, epochs=epochs, progress=progress, **settings, **kw)[1]
    return results


# ---------------------------------------------------------------- tools for the notebook
def overfit_one_batch(cnn, training, images, labels, steps: int = 60, lr: float = 1e-3, seed: int = 0):
    """Sanity check before any long training: the student's CourseCNN, trained by their `epoch` on ONE small
    batch again and again (Adam), should drive its loss towards 0 and its accuracy to 1 on that batch. If it
    cannot, something is broken (a wrong loss, no optimizer step, gradients zeroed at the wrong time, a mask of
    the logits...), and no amount of data or epochs will help. Returns ([loss per step], [accuracy per step])."""
    seed_everything(seed)
    model = cnn.CourseCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion, losses, accs = nn.CrossEntropyLoss(), [], []
    for _ in range(steps):
        loss, acc = training.epoch([(images, labels)], model, criterion, optimizer)
        losses.append(float(loss))
        accs.append(float(acc))
    return losses, accs


def first_conv_weights(model):
    """(weight (32, 3, 5, 5), bias (32,) or None) of the course CNN's first convolution, found by shape among the
    model's parameters (modules or functional, whatever their names)."""
    params = list(model.parameters())
    weights = [p for p in params if tuple(p.shape) == (32, 3, 5, 5)]
    if len(weights) != 1:
        raise ValueError(f"expected one (32, 3, 5, 5) weight (the first convolution), found {len(weights)}")
    biases = [p for p in params if tuple(p.shape) == (32,)]
    return weights[0].detach(), (biases[0].detach() if len(biases) == 1 else None)


@torch.no_grad()
def first_layer_maps(model, images):
    """The 32 feature maps of the first convolution (after its ReLU) on `images` (N, 3, 32, 32): (N, 32, 32, 32),
    recomputed from the model's first-layer weights (the size kept, as the course's convolutions keep it)."""
    weight, bias = first_conv_weights(model)
    x = images.to(weight.device, weight.dtype)
    return torch.relu(torch.nn.functional.conv2d(x, weight, bias, padding="same"))


def confusion_matrix(predicted, labels, n_classes: int = 10):
    """(n_classes, n_classes) int64 counts: row = true class, column = predicted class."""
    m = torch.zeros(n_classes, n_classes, dtype=torch.int64)
    m.index_put_(
        (labels.long().cpu(), predicted.long().cpu()), torch.ones(len(labels), dtype=torch.int64), accumulate=True
    )
    return m


def validation_set(limit_train: int | None = None, validation: int = VALIDATION):
    """(Xval, yval): the validation images `train(limit_train=..., validation=...)` holds out of CIFAR-10's
    training set (for analyses: confusion matrix, misclassified images; the test set stays for the end)."""
    Xtrain, ytrain, _, _ = cifar10(limit_train, 1)
    _, held_out = validation_split(len(Xtrain), validation)
    return Xtrain[held_out], ytrain[held_out]


CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# ---------------------------------------------------------------- what the grader runs in its sandbox
# These run next to the student's code, in the grader's sandbox, and return data (predictions, shapes, what a
# probe saw), never a verdict: the judge (autograder/checks/a2_cnn.py) holds the test labels and compares.
def cifar_predictions(cnn, training, every_epoch: bool = False, **kw) -> dict:
    """Train the student's CourseCNN with `train` and the kit recipe `kw` (in the sandbox the test images come
    without labels); the logits on the test images after the last epoch (and after every epoch when
    `every_epoch`), the training curve the student's epoch reported, and the speed switches train chose ("speed":
    precision, channels_last, why, the probe's step times). With `validation` in `kw`, "logits" are those of the
    epoch of best validation accuracy, the only time the test images are read. "model" (a handle for the judge)
    is the trained model those logits come from, and "test_inputs" what the test images go through before it
    (`train`'s `test_inputs`): the judge recomputes the logits from the model's weights."""
    logits, inputs = [], {}
    model, hist = train(cnn, training, test_logits=logits, test_inputs=inputs, **kw)
    out = {
        "model": model,
        "test_inputs": inputs,
        "logits": logits[-1] if logits else None,
        "epochs": len(hist.train_loss),
        "train_loss": list(hist.train_loss),
        "seconds": list(hist.seconds),
        "speed": {
            k: v
            for k, v in hist.speed.items()
            if k in ("precision", "channels_last", "why", "step_s", "eval_batch_size")
        },
    }
    if every_epoch:
        out["epoch_logits"] = logits
    return out


class ModeProbe(nn.Module):
    """Records (train mode, gradients enabled) each time the model it sits in runs; passes its input through."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append((self.training, torch.is_grad_enabled()))
        return x


def probe_model():
    """(model, probe): a tiny classifier of (N, 3, 2, 2) inputs into PROBE_CLASSES classes, with a ModeProbe
    inside. Ten classes, as CIFAR-10: an epoch that also computes a top-5 accuracy (the course's) runs on it."""
    torch.manual_seed(0)
    probe = ModeProbe()
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), probe, nn.Linear(8, PROBE_CLASSES)), probe


PROBE_CLASSES = 10


def layer_table_test_network():
    """A small network unlike the course CNN (nesting, a non-square kernel, a lazy layer) on (1, 28, 36) inputs."""
    net = nn.Sequential(
        nn.Conv2d(1, 6, 3, stride=2, padding=1),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Sequential(nn.Conv2d(6, 10, (3, 5)), nn.ReLU()),
        nn.Flatten(),
        nn.LazyLinear(7),
    )
    net(torch.zeros(1, 1, 28, 36))
    return net


@torch.no_grad()
def leaf_trace(model, x) -> list:
    """[(name, output shape)] of the elementary layers of `model` (modules without sub-modules) in the order
    they run on x, seen by forward hooks; the model stays in its mode."""
    order, hooks = [], []
    for name, m in model.named_modules():
        if not list(m.children()):
            hooks.append(
                m.register_forward_hook(
                    lambda mod, i, o, name=name: order.append(
                        (name, tuple(o.shape) if isinstance(o, torch.Tensor) else None)
                    )
                )
            )
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return order


OP_TRACE_LIMIT = 2000


@torch.no_grad()
def op_trace(model, x) -> dict:
    """The torch operations one forward pass of `model` on x runs, whatever API calls them (nn.Conv2d modules
    or F.conv2d on the model's own nn.Parameters): {"ops": [{"op": name, "in": shape of the first tensor
    argument, "out": output shape, "weight": shape of the second tensor argument (conv2d, linear), "padding",
    "p" (dropout)}], "error": what the forward raised, or None}. Only operations called from outside torch are
    seen (F.relu, not the torch.relu inside it); the model stays in its mode."""
    from torch.overrides import TorchFunctionMode

    ops = []

    def plain_arg(value):
        if isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
            return tuple(value)
        return None

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if isinstance(out, torch.Tensor) and out.dim() > 0 and len(ops) < OP_TRACE_LIMIT:
                name = getattr(func, "__name__", "") or "?"
                entry = {
                    "op": name,
                    "out": tuple(out.shape),
                    "in": tuple(args[0].shape) if args and isinstance(args[0], torch.Tensor) else None,
                }
                if name in ("conv2d", "linear") and len(args) > 1 and isinstance(args[1], torch.Tensor):
                    entry["weight"] = tuple(args[1].shape)
                if name == "conv2d":
                    entry["padding"] = plain_arg(kwargs.get("padding", args[4] if len(args) > 4 else 0))
                if "dropout" in name:
                    entry["p"] = plain_arg(kwargs.get("p", args[1] if len(args) > 1 else 0.5))
                ops.append(entry)
            return out

    error = None
    try:
        with Recorder():
            model(x)
    except Exception as err:  # the judge turns it into a hint (the operations run up to the failure)
        error = f"{type(err).__name__}: {err}"[:600]
    return {"ops": ops, "error": error}


def forward_channels_last(model, x):
    """model(x) on a batch in the channels_last memory layout (the kit's training layout), or None when the
    forward refuses that layout (then `train` uses the contiguous one)."""
    try:
        return model(x.contiguous(memory_format=torch.channels_last))
    except RuntimeError:
        return None


def generator(seed: int) -> torch.Generator:
    """A torch.Generator seeded with `seed` (for the student's random_crop_flip)."""
    return torch.Generator().manual_seed(seed)


def plain(value):
    """`value` with tuple subclasses (torch.Size, named tuples) turned into tuples, recursively: what a student's
    function returns, as plain data the channel carries."""
    if isinstance(value, torch.Size):
        return tuple(int(v) for v in value)
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- command line
def _student_modules(folder: str):
    """(cnn, training): cnn.py and training.py of `folder` (the reference solutions or the student's workspace),
    loaded from that folder even when modules of those names were imported before (kit.student)."""
    modules = load_student_modules(folder, ("cnn", "training"))
    return modules["cnn"], modules["training"]


def _parser():
    p = argparse.ArgumentParser(prog="python -m kit.a2", description="Assignment 2: train the course CNN on CIFAR-10.")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    add_common_options(common, "assignments/a2_cnn", "cnn.py and training.py", old_folder_options=("--code",))
    common.add_argument("--epochs", type=int, default=10)
    common.add_argument("--lr", type=float, default=LR)
    common.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    common.add_argument("--momentum", type=float, default=0.0)
    common.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS, help="bonus: adam/adamw (try --lr 1e-3)")
    common.add_argument("--weight-decay", type=float, default=0.0, help="SGD's L2 penalty")
    common.add_argument(
        "--gamma",
        type=float,
        default=GAMMA,
        help=f"ExponentialLR factor per epoch, with --lr-schedule (default {GAMMA}, the course's)",
    )
    common.add_argument("--limit-train", type=int, help="use only N training images (a fixed random subset)")
    common.add_argument("--limit-test", type=int, help="use only N test images (a fixed random subset)")
    common.add_argument(
        "--validation",
        type=int,
        default=None,
        help=f"training images held out to select the epoch and compare runs (default {VALIDATION}, "
        "a tenth of --limit-train when smaller; 0: none, then the per-epoch test curve is "
        "shown, for looking only)",
    )
    common.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16"],
        help="auto: bfloat16 mixed precision where one timed training step shows it faster, else float32",
    )
    common.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (torch.set_num_threads)")
    common.add_argument("--runs", default="runs", help="where run folders are written")
    common.add_argument("--name", help="run folder name (default: from the switches)")
    t = sub.add_parser("train", parents=[common], help="one training; runs/<name>/metrics.json and curves.png")
    t.add_argument("--standardize", action="store_true", help="per-channel standardization (train statistics)")
    t.add_argument("--augment", action="store_true", help="random crop (padding 4) + horizontal flip, train only")
    t.add_argument("--lr-schedule", action="store_true", help="ExponentialLR(gamma) per epoch")
    t.add_argument("--dropout", type=float, default=0.0, help="dropout before the classifier (e.g. 0.5)")
    t.add_argument("--batch-norm", action="store_true", help="batch norm after each convolution")
    t.add_argument("--all", action="store_true", help="all the improvements at once")
    t.add_argument("--zca", action="store_true", help="bonus: ZCA whitening fitted on the training images")
    sub.add_parser("ablation", parents=[common], help="stacked variants: table, ablation.png, curves.png")
    return p


def _summary(hist: History) -> dict:
    if isinstance(hist, SplitHistory):  # the test accuracy of the epoch selected on validation, read once
        return {
            "test_acc": hist.test_acc[-1],
            "best_epoch": hist.best_epoch,
            "best_val_acc": max(hist.val_acc),
            "final_train_acc": hist.train_acc[-1],
            "train_seconds": hist.seconds[-1],
        }
    return {
        "final_test_acc": hist.test_acc[-1],
        "best_test_acc": max(hist.test_acc),
        "final_train_acc": hist.train_acc[-1],
        "train_seconds": hist.seconds[-1],
    }


def selection_accuracy(hist: History) -> float:
    """The accuracy that compares runs: the best validation accuracy with a validation split, else the last
    test accuracy (a look, not a selection)."""
    return max(hist.val_acc) if isinstance(hist, SplitHistory) else hist.test_acc[-1]


@entry_point
def main(argv=None) -> int:
    from .plots import plot_bars, plot_curves

    args = _parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    cnn, training = _student_modules(args.folder)
    if args.validation is None:
        args.validation = min(VALIDATION, max(1, args.limit_train // 10)) if args.limit_train else VALIDATION
    kw = dict(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        gamma=args.gamma,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        validation=args.validation or None,
        optimizer=args.optimizer,
    )
    if args.command == "train":
        if args.all:
            args.standardize = args.augment = args.lr_schedule = args.batch_norm = True
            args.dropout = args.dropout or DROPOUT
        switches = dict(
            standardize=args.standardize,
            augment=args.augment,
            lr_schedule=args.lr_schedule,
            dropout=args.dropout,
            batch_norm=args.batch_norm,
            zca=args.zca,
        )
        name = args.name or "a2_" + ("_".join(k for k, v in switches.items() if v) or "vanilla")
        _, hist = train(cnn, training, progress=True, **switches, **kw)
        folder = save_run(
            name,
            {
                "config": {**kw, **switches},
                **_summary(hist),
                "history": hist.to_dict(),
                "speed_decisions": SPEED_DECISIONS,
            },
            args.runs,
        )
        plot_curves({name: hist}, folder / "curves.png", title=f"CIFAR-10, {name}")
        if isinstance(hist, SplitHistory):
            print(
                f"{name}: best validation accuracy {max(hist.val_acc):.2%} at epoch {hist.best_epoch}; that "
                f"model's test accuracy {hist.test_acc[-1]:.2%} (read once), train {hist.train_acc[-1]:.2%}, "
                f"{hist.seconds[-1]:.0f} s of training; written to {folder}"
            )
        else:
            print(
                f"{name}: test accuracy {hist.test_acc[-1]:.2%} (best {max(hist.test_acc):.2%}), "
                f"train {hist.train_acc[-1]:.2%}, {hist.seconds[-1]:.0f} s of training; written to {folder}"
            )
    else:
        results = ablation(cnn, training, progress=True, **kw)
        name = args.name or "a2_ablation"
        folder = save_run(
            name,
            {"config": kw, "variants": {k: {**_summary(h), "history": h.to_dict()} for k, h in results.items()}},
            args.runs,
        )
        plot_bars(
            {k: selection_accuracy(h) for k, h in results.items()},
            folder / "ablation.png",
            ylabel="best validation accuracy" if args.validation else "test accuracy",
            title=f"CIFAR-10 ablation, {args.epochs} epochs",
        )
        plot_curves(results, folder / "curves.png", title="CIFAR-10 ablation")
        print(
            "| variant | best val. acc. (epoch) | test acc. of that epoch | train acc. | train time |\n"
            "|---|---|---|---|---|"
            if args.validation
            else "| variant | test acc. | train acc. | train time |\n|---|---|---|---|"
        )
        for k, h in results.items():
            if isinstance(h, SplitHistory):
                print(
                    f"| {k} | {max(h.val_acc):.2%} ({h.best_epoch}) | {h.test_acc[-1]:.2%} | "
                    f"{h.train_acc[-1]:.2%} | {h.seconds[-1]:.0f} s |"
                )
            else:
                print(f"| {k} | {h.test_acc[-1]:.2%} | {h.train_acc[-1]:.2%} | {h.seconds[-1]:.0f} s |")
        print(f"written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
