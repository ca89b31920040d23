"""Plotting helpers shared by the assignments: learning curves, decision boundaries, bar charts.

Every function draws on a new figure, saves it when `path` is given, and returns the figure.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

if not os.environ.get("DISPLAY") and "ipykernel" not in os.environ.get("JPY_PARENT_PID", "x") and \
        os.environ.get("MPLBACKEND") is None:
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
        ax_loss.plot(epochs, h["train_loss"], "--", color=color, label=f"{label} train")
        ax_loss.plot(epochs, h["test_loss"], "-", color=color, label=f"{label} test")
        ax_acc.plot(epochs, h["train_acc"], "--", color=color)
        ax_acc.plot(epochs, h["test_acc"], "-", color=color, label=label)
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
        z = predict(data.Xgrid).detach().reshape(g, g).numpy() if hasattr(predict(data.Xgrid[:1]), "detach") \
            else predict(data.Xgrid).reshape(g, g)
        ax.imshow(z, origin="lower", extent=(*data.lim, *data.lim), cmap="coolwarm", alpha=0.5, vmin=0, vmax=1)
        ax.contour(z, levels=[0.5], origin="lower", extent=(*data.lim, *data.lim), colors="k", linewidths=1)
    for X, y, marker in ((data.Xtrain, data.ytrain, "o"), (data.Xtest, data.ytest, "x")):
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", marker=marker, s=14, edgecolors="none" if marker == "o" else None)
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
