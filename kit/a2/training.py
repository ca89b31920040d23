"""Assignment 2's training: the student's CourseCNN trained on CIFAR-10 by the student's `epoch` (`train`, its
`Settings`), the data, the optimizers and schedules, and the notebook's tools; the protocol: kit/a2/__init__.py.

Speed on CPU: the data live in memory as tensors, augmentation is batched on tensors, and the precision
(float32 or bfloat16 autocast) and the memory layout of the model and its batches (contiguous or channels_last)
are chosen by timing one training step of each (kit.loops.resolve_switches). channels_last is a candidate only
when the student's forward accepts it: the course's `x.view(N, -1)` after the convolutions does not (a
channels_last tensor cannot be viewed flat), so view, reshape, flatten and nn.Flatten all train.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field, fields, replace

import torch
from torch import nn

from .. import recipes
from ..data import image_tensors
from ..loops import (
    EVAL_PROBE_IMAGES,
    SPEED_DECISIONS,
    History,
    mixed_precision,
    pick_device,
    resolve_eval_batch_size,
    resolve_switches,
    seed_everything,
    training_step_probe,
)

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

    def add_validated(self, train, validation, seconds):
        self.train_loss.append(float(train[0]))
        self.train_acc.append(float(train[1]))
        self.val_loss.append(float(validation[0]))
        self.val_acc.append(float(validation[1]))
        self.seconds.append(float(seconds))


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


@dataclass(frozen=True)
class Settings:
    """What one training of the course CNN trains with (a recipe of kit/recipes.py is one, by name: `of`).

    The course's: `epochs`, `lr`, `batch_size` and, each an improvement of the course, `standardize` (the
    student's make_transforms), `augment` (the same), `lr_schedule` (the student's make_scheduler, decay `gamma`
    per epoch), `dropout`, `batch_norm`, `momentum`, `weight_decay`. The data: `limit_train` and `limit_test`
    (a fixed random subset), `seed`, and `validation`: hold out that many training images (validation_split);
    each epoch is then measured on them, the weights of the epoch with the best validation accuracy are restored
    after the last epoch, and the test set is read once, by that model.
    Bonuses: `optimizer` "sgd" (the course's, with `momentum`), "adam" or "adamw" (`lr` is theirs: 1e-3 suits
    them); `zca`: ZCA whitening fitted on the training images (zca_whitening), applied to every set before the
    student's transforms.
    Faster recipes: `nesterov` momentum; `schedule` "onecycle" or "cosine" (step_schedule: set per optimizer
    step, `warmup` the fraction of steps spent rising to `lr`) replaces the student's per-epoch make_scheduler;
    `label_smoothing` for the loss; `flip_test`: the test logits (and the test accuracy) average the image and
    its mirror image.
    """

    epochs: int = 10
    lr: float = LR
    batch_size: int = BATCH_SIZE
    standardize: bool = False
    augment: bool = False
    lr_schedule: bool = False
    dropout: float = 0.0
    batch_norm: bool = False
    momentum: float = 0.0
    weight_decay: float = 0.0
    gamma: float = GAMMA
    limit_train: int | None = None
    limit_test: int | None = None
    seed: int = 0
    validation: int | None = None
    optimizer: str = "sgd"
    zca: bool = False
    nesterov: bool = False
    schedule: str | None = None
    warmup: float = 0.15
    label_smoothing: float = 0.0
    flip_test: bool = False

    @classmethod
    def of(cls, recipe: str, **changes) -> Settings:
        """The settings of a kit recipe ("a2.small", "a2.full_improved", ...), with `changes` on top."""
        return cls().but(**recipes.settings(recipe), **changes)

    def but(self, **changes) -> Settings:
        """These settings with `changes`; a name that is no setting is refused with the list of those that are."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"train: no setting {', '.join(unknown)}; the settings are: {', '.join(sorted(known))}")
        return replace(self, **changes)


def train(
    cnn,
    training,
    settings: Settings | None = None,
    *,
    device: str = "auto",
    channels_last: bool | str = "auto",
    precision: str = "auto",
    progress: bool = False,
    data=None,
    test_logits: list | None = None,
    test_inputs: dict | None = None,
    **changes,
):
    """Train the student's cnn.CourseCNN with their training.epoch / make_transforms / make_scheduler.

    `settings` (Settings; default: the course's) with `changes` on top (any Settings field by name:
    `train(cnn, training, epochs=3, standardize=True)`). Returns (model, History); the History's `seconds` is the
    cumulative training time (evaluation excluded); with a validation split it is a SplitHistory.
    How it runs, not what it learns: `data` = (Xtrain, ytrain, Xtest, ytest) replaces CIFAR-10 (tests).
    `precision` and `channels_last` 'auto' are decided by timing one training step of this model in each
    (kit.loops.resolve_switches: bfloat16 autocast and the channels_last layout only when clearly faster; the
    History's `speed` says what was chosen); channels_last True uses that layout whenever the forward accepts it,
    False never. `test_logits`: a list that receives the model's logits on the test images (eval mode, float32 on
    the CPU) after each epoch, or once with a validation split. Without test labels (ytest None: the grader's
    sandbox) the student's epoch never sees the test images and the History's test curve is NaN; the grader
    scores those logits instead. `test_inputs`: a dict that receives what the test images go through before the
    model (`channel_affine` of the student's test transform; "zca" when whitened first), for the judge to feed
    the same inputs to its own copy.
    """
    s = (settings or Settings()).but(**changes)
    seed_everything(s.seed)
    dev = pick_device(device)
    Xtrain, ytrain, Xtest, ytest = data if data is not None else cifar10(s.limit_train, s.limit_test)
    Xval = yval = None
    if s.validation:
        keep, held_out = validation_split(len(Xtrain), s.validation)
        Xval, yval, Xtrain, ytrain = Xtrain[held_out], ytrain[held_out], Xtrain[keep], ytrain[keep]
    if s.zca:
        whiten = zca_whitening(Xtrain)
        Xtrain, Xtest = whiten(Xtrain), whiten(Xtest)
        if Xval is not None:
            Xval = whiten(Xval)
    train_transform, test_transform = training.make_transforms(Xtrain, s.standardize, s.augment)
    if test_inputs is not None:
        test_inputs.update(channel_affine(test_transform, Xtest.shape[1:]), zca=bool(s.zca))
    model = cnn.CourseCNN(batch_norm=s.batch_norm, dropout=s.dropout).to(dev)
    if channels_last is not False:
        if not accepts_channels_last(model.to(memory_format=torch.channels_last), Xtrain[:2].to(dev)):
            channels_last = False  # e.g. x.view(N, -1) after a convolution
        model = model.to(memory_format=torch.contiguous_format)
    criterion = nn.CrossEntropyLoss(label_smoothing=s.label_smoothing)
    # timed on one step of this very model, never decided from CPU flags alone; cached per model and batch shape
    key = f"course CNN, batch norm {bool(s.batch_norm)}, dropout {s.dropout > 0}, batch {s.batch_size}"
    probe = training_step_probe(model, criterion, Xtrain[: s.batch_size].to(dev), ytrain[: s.batch_size].to(dev), dev)
    precision, channels_last = resolve_switches(dev, precision, channels_last, probe=probe, key=key)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(s.optimizer, model.parameters(), s.lr, s.momentum, s.weight_decay, s.nesterov)
    if s.schedule:
        step_schedule(optimizer, s.schedule, s.lr, s.epochs * -(-len(Xtrain) // s.batch_size), s.warmup)
    scheduler = training.make_scheduler(optimizer, s.gamma) if s.lr_schedule and not s.schedule else None
    layout = dict(device=dev, channels_last=channels_last)
    train_batches = Batches(
        Xtrain, ytrain, s.batch_size, shuffle=True, transform=train_transform, seed=s.seed, **layout
    )
    evaluated = s.epochs * (len(Xval) if Xval is not None else len(Xtest)) * (2 if s.flip_test else 1)
    eval_batch_size = _eval_batch_size(model, Xtest, dev, precision, channels_last, key, evaluated)
    speed = dict(SPEED_DECISIONS.get(key, {}))  # what was chosen above: the History carries it
    test_batches = Batches(Xtest, ytest, eval_batch_size, transform=test_transform, **layout)
    val_batches = None if Xval is None else Batches(Xval, yval, eval_batch_size, transform=test_transform, **layout)

    def tested():  # (loss, accuracy) on the test set, its logits kept for the grader
        if test_logits is not None:
            test_logits.append(predict(model, test_batches, dev, precision, s.flip_test))
        return _test_metrics(training, model, criterion, test_batches, ytest, dev, precision, s.flip_test)

    hist = History(speed=speed) if val_batches is None else SplitHistory(speed=speed)
    elapsed, best, best_state = 0.0, -1.0, None
    bar = _progress(range(s.epochs), progress, desc="epochs")
    for k in bar:
        start = time.perf_counter()
        with mixed_precision(dev, precision):
            train_metrics = training.epoch(train_batches, model, criterion, optimizer)
        elapsed += time.perf_counter() - start
        if val_batches is None:  # the course's curves: the test set after every epoch
            measured = tested()
            hist.add(train_metrics, measured, elapsed)
        else:  # the epoch is selected on validation; the test set waits for the end
            with mixed_precision(dev, precision):
                measured = training.epoch(val_batches, model, criterion)
            hist.add_validated(train_metrics, measured, elapsed)
            if measured[1] > best:  # strictly better: the earliest epoch on ties
                best, hist.best_epoch = float(measured[1]), k + 1
                best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        if scheduler is not None:
            scheduler.step()
        if hasattr(bar, "set_postfix"):
            shown = "test_acc" if val_batches is None else "val_acc"
            bar.set_postfix(train_acc=f"{train_metrics[1]:.3f}", **{shown: f"{measured[1]:.3f}"})
    if val_batches is not None:
        if best_state is not None:
            model.load_state_dict(best_state)
        test_loss, test_acc = tested()
        hist.test_loss.append(float(test_loss))
        hist.test_acc.append(float(test_acc))
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


def ablation(cnn, training, epochs: int = 10, progress: bool = False, each=None, **kw) -> dict:
    """Train the stacked variants of ABLATION; returns {variant: History}. `each(variant, history)` is called after
    every training (autograder.tools.protocols keeps each one as it comes)."""
    settings, results = {}, {}
    for name, change in ABLATION:
        settings.update(change)
        if progress:
            print(f"== {name}", file=sys.stderr)
        results[name] = train(cnn, training, epochs=epochs, progress=progress, **settings, **kw)[1]
        if each is not None:
            each(name, results[name])
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
