"""Assignment 3, the CNN baseline next to the ViT: SmallCNN trained exactly like the ViT, the comparison by
training-set size, and their tables."""

from __future__ import annotations

import math

import torch

from ..loops import evaluate_module, fit_module, seed_everything
from .training import count_parameters, load, make_optimizer, train_vit


class SmallCNN(torch.nn.Module):
    """A small CNN of about the course ViT's size (24k parameters against 27k): three 3x3 convolutions (16, 32,
    64 channels, ReLU, 2x2 max-pooling after the first two), global average pooling, a linear classifier."""

    def __init__(self, in_chan=1, nb_classes=10, width=16):
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(
            nn.Conv2d(in_chan, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * width, nb_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def train_cnn(
    dataset="mnist",
    epochs=5,
    batch_size=128,
    lr=3e-3,
    optimizer="adamw",
    schedule="onecycle",
    weight_decay=0.05,
    limit_train=None,
    limit_test=None,
    seed=0,
    device="auto",
    progress=False,
    data=None,
    width=16,
):
    """SmallCNN trained exactly like train_vit trains the ViT (same loop, data, optimizer, schedule, seed and
    budget): the baseline of the comparison CNN vs ViT. Returns (model, History)."""
    seed_everything(seed)
    Xtrain, ytrain, Xtest, ytest = data if data is not None else load(dataset)
    if limit_train:
        Xtrain, ytrain = Xtrain[:limit_train], ytrain[:limit_train]
    if limit_test:
        Xtest, ytest = Xtest[:limit_test], (None if ytest is None else ytest[:limit_test])
    model = SmallCNN(Xtrain.shape[1], int(ytrain.max()) + 1, width)
    opt = make_optimizer(model, epochs * math.ceil(len(Xtrain) / batch_size), lr, optimizer, schedule, weight_decay)
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
    )
    return model, hist


def data_size_study(
    vit, sizes=(500, 5000), images_seen=20000, dataset="mnist", data=None, seed=0, device="auto", progress=False
):
    """The course ViT and SmallCNN trained on the first n training images for each n of `sizes`, with the same
    number of images seen (epochs = images_seen / n, so a small set is seen many times) and the same recipe.

    Each trained model reads the test set once, at the end (no test curve: nothing is selected). Returns rows
    {images, model, parameters, epochs, train_acc, test_acc, seconds}.
    """

    Xtrain, ytrain, Xtest, ytest = data if data is not None else load(dataset)
    rows = []
    for n in sizes:
        epochs = max(1, round(images_seen / n))
        subset = (Xtrain[:n], ytrain[:n], Xtest[:1], None)  # no test labels during training: no test curve
        for name, train in (("ViT", lambda **kw: train_vit(vit, **kw)), ("CNN", lambda **kw: train_cnn(**kw))):
            model, hist = train(dataset=dataset, epochs=epochs, data=subset, seed=seed, device=device)
            _, test_acc = evaluate_module(
                model, torch.nn.CrossEntropyLoss(), Xtest, ytest, device=next(model.parameters()).device
            )
            rows.append(
                {
                    "images": n,
                    "model": name,
                    "parameters": count_parameters(model),
                    "epochs": epochs,
                    "train_acc": hist.train_acc[-1],
                    "test_acc": test_acc,
                    "seconds": hist.seconds[-1],
                }
            )
            if progress:
                r = rows[-1]
                print(
                    f"{n} images, {name}: train {r['train_acc']:.2%}, test {test_acc:.2%}, {r['seconds']:.1f} s",
                    flush=True,
                )
    return rows


def data_size_table(rows) -> str:
    lines = [
        "| training images | model | parameters | epochs | train accuracy | test accuracy | train seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['images']} | {r['model']} | {r['parameters']:,} | {r['epochs']} | {r['train_acc']:.2%} | "
        f"{r['test_acc']:.2%} | {r['seconds']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def comparison_table(runs: dict) -> str:
    """{name: (model, History)} as a markdown table: parameters, final test accuracy, training seconds."""
    lines = ["| model | parameters | test accuracy | train seconds |", "|---|---|---|---|"]
    lines += [
        f"| {name} | {count_parameters(model):,} | {hist.test_acc[-1]:.2%} | {hist.seconds[-1]:.1f} |"
        for name, (model, hist) in runs.items()
    ]
    return "\n".join(lines) + "\n"
