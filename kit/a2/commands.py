"""`python -m kit.a2 train|ablation|...`: assignment 2's runs from the command line (`--help` lists them)."""

from __future__ import annotations

import argparse
import os

import torch

from ..cli import add_common_options, entry_point
from ..loops import SPEED_DECISIONS, History, save_run
from ..student import load_student_modules
from .training import BATCH_SIZE, DROPOUT, GAMMA, LR, OPTIMIZERS, VALIDATION, SplitHistory, ablation, train


def student_modules(folder: str):
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
    from ..plots import plot_bars, plot_curves

    args = _parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    cnn, training = student_modules(args.folder)
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
