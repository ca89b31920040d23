"""Plotting helpers shared by the assignments: learning curves, decision boundaries, bar charts.

Every function draws on a new figure, saves it when `path` is given, and returns the figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

if (
    not os.environ.get("DISPLAY")
    and "ipykernel" not in os.environ.get("JPY_PARENT_PID", "x")
    and os.environ.get("MPLBACKEND") is None
):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path):
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def plot_curves(histories: dict, path=None, title: str = ""):
    """Loss and accuracy per epoch, train dashed and test solid, one colour per run.

    histories: {label: History or dict with train_loss, test_loss, train_acc, test_acc}.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, h) in enumerate(histories.items()):
        h = h if isinstance(h, dict) else h.to_dict()
        color = f"C{i}"
        epochs = range(1, len(h["train_loss"]) + 1)
        # with a validation split (kit.a2.SplitHistory) the solid curve is the validation one: the test set is
        # read once, after the last epoch, and has no curve
        other = "val" if h.get("val_loss") else "test"
        ax_loss.plot(epochs, h["train_loss"], "--", color=color, label=f"{label} train")
        ax_loss.plot(epochs, h[f"{other}_loss"], "-", color=color, label=f"{label} {other}")
        ax_acc.plot(epochs, h["train_acc"], "--", color=color)
        ax_acc.plot(epochs, h[f"{other}_acc"], "-", color=color, label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy (dashed: train)")
    ax_loss.legend(fontsize=8)
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_circles(data, predict=None, path=None, title: str = "", ax=None):
    """The circles points (train: dots, test: crosses), over a predicted probability map when `predict` is given.

    predict: function (G*G, 2) tensor -> (G*G,) probability of class 1 (or any score), evaluated on data.Xgrid.
    """
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if predict is not None:
        g = data.grid_size
        z = (
            predict(data.Xgrid).detach().reshape(g, g).numpy()
            if hasattr(predict(data.Xgrid[:1]), "detach")
            else predict(data.Xgrid).reshape(g, g)
        )
        ax.imshow(z, origin="lower", extent=(*data.lim, *data.lim), cmap="coolwarm", alpha=0.5, vmin=0, vmax=1)
        ax.contour(z, levels=[0.5], origin="lower", extent=(*data.lim, *data.lim), colors="k", linewidths=1)
    for X, y, marker in ((data.Xtrain, data.ytrain, "o"), (data.Xtest, data.ytest, "x")):
        ax.scatter(
            X[:, 0], X[:, 1], c=y, cmap="coolwarm", marker=marker, s=14, edgecolors="none" if marker == "o" else None
        )
    ax.set(xlim=data.lim, ylim=data.lim, aspect="equal", title=title)
    fig = fig or ax.figure
    return _save(fig, path)


def plot_bars(values: dict, path=None, ylabel: str = "test accuracy", title: str = ""):
    """A bar per entry {label: value}, the value written on top (ablation tables, studies)."""
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(values)), 4))
    bars = ax.bar(range(len(values)), list(values.values()), color="C0")
    ax.set_xticks(range(len(values)), list(values), rotation=30, ha="right")
    for bar, v in zip(bars, values.values()):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    return _save(fig, path)


def plot_layer_statistics(statistics: dict, path=None, title: str = ""):
    """Per hidden layer, one line per run {label: kit.a1.layer_statistics(...)}: the standard deviation of the
    activations and of the loss's gradient with respect to them (log scale), and the fraction of saturated units."""
    keys = (
        ("activation_std", "std of the activations"),
        ("gradient_std", "std of the gradient"),
        ("saturated", "fraction of saturated units"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for ax, (key, label) in zip(axes, keys):
        for name, stats in statistics.items():
            ax.plot(range(1, len(stats[key]) + 1), stats[key], marker="o", label=name)
        ax.set(xlabel="hidden layer", ylabel=label)
        if key != "saturated":
            ax.set_yscale("log")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _grid(n, cols):
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


def plot_filters(weight, path=None, title: str = "first-layer filters"):
    """The filters of a first convolution, weight (D, 3, k, k), as small RGB images (each rescaled to [0, 1])."""
    w = weight.detach().float().cpu()
    fig, axes = _grid(len(w), 8)
    for ax, f in zip(axes, w):
        f = (f - f.min()) / (f.max() - f.min() + 1e-12)
        ax.imshow(f.permute(1, 2, 0).numpy(), interpolation="nearest")
    fig.suptitle(title)
    return _save(fig, path)


def plot_feature_maps(image, maps, path=None, title: str = "feature maps of the first layer"):
    """One image (3, H, W) in [0, 1] and its feature maps (D, H', W'), one grey-level panel per channel."""
    maps = maps.detach().float().cpu()
    fig, axes = _grid(len(maps) + 1, 8)
    axes = list(axes)
    axes[0].imshow(image.detach().float().cpu().permute(1, 2, 0).clamp(0, 1).numpy())
    axes[0].set_title("input", fontsize=8)
    for k, (ax, m) in enumerate(zip(axes[1:], maps)):
        ax.imshow(m.numpy(), cmap="gray")
        ax.set_title(str(k), fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)


def plot_confusion(matrix, classes, path=None, title: str = "confusion matrix"):
    """A confusion matrix (rows: true class, columns: predicted), counts written in each cell; the colour is the
    fraction of the row (the per-class recall on the diagonal)."""
    m = matrix.detach().cpu().float() if hasattr(matrix, "detach") else matrix
    rates = m / m.sum(1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    n = len(classes)
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{int(m[i, j])}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if rates[i, j] > 0.5 else "black",
            )
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    return _save(fig, path)


def plot_misclassified(images, true, predicted, classes, path=None, n: int = 16, title: str = "misclassified"):
    """The first `n` images (N, 3, H, W) in [0, 1] whose prediction is wrong, titled 'true -> predicted'."""
    wrong = (true != predicted).nonzero().flatten()[:n].tolist()
    fig, axes = _grid(max(1, len(wrong)), 8)
    for ax, i in zip(axes, wrong):
        ax.imshow(images[i].detach().float().cpu().permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_title(f"{classes[int(true[i])][:5]}->{classes[int(predicted[i])][:5]}", fontsize=7)
    fig.suptitle(title)
    return _save(fig, path)
