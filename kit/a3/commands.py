"""python -m kit.a3 train|study|timm|pretrain|transfer: the experiments of assignment 3 from a terminal (each
writes runs/<name>/ with metrics and plots)."""

from __future__ import annotations

from ..cli import add_common_options, entry_point
from ..data import MEAN_STD
from ..loops import save_run
from ..student import load_student_module
from .attention_maps import plot_attention
from .pretrained import TIMM_MODELS, save_checkpoint, train_timm, transfer
from .study import STUDY_BUDGET, STUDY_VALUES, study, study_table
from .training import COURSE_TRAINING, COURSE_VIT, FAST_TRAINING, RECIPE, count_parameters, load, train_vit


def _cmd_train(args):
    from .. import plots

    vit = load_student_module(args.folder, "vit")
    config = {
        k: v
        for k, v in dict(
            embed_dim=args.embed_dim,
            nb_blocks=args.blocks,
            patch_size=args.patch_size,
            nb_heads=args.heads,
            mlp_ratio=args.mlp_ratio,
        ).items()
        if v is not None
    }
    recipe = {"course": COURSE_TRAINING, "fast": FAST_TRAINING, "onecycle": {**RECIPE, "epochs": 10}}[args.recipe]
    kw = {
        **recipe,
        **{k: v for k, v in dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size).items() if v is not None},
        "augment": args.augment,
    }
    name = args.name or f"a3_{args.dataset}"
    data = load(args.dataset)
    model, hist = train_vit(
        vit,
        args.dataset,
        config=config,
        limit_train=args.limit_train,
        seed=args.seed,
        device=args.device,
        progress=True,
        pos_embedding=args.pos,
        data=data,
        **kw,
    )
    metrics = {
        "dataset": args.dataset,
        "config": {**COURSE_VIT, **config},
        "training": kw,
        "pos_embedding": args.pos,
        "limit_train": args.limit_train,
        "parameters": count_parameters(model),
        "history": hist.to_dict(),
        "test_acc": hist.test_acc[-1],
    }
    folder = save_run(name, metrics)
    plots.plot_curves({args.dataset: hist}, folder / "curves.png", title=f"ViT on {args.dataset}")

    mean, std = MEAN_STD.get(args.dataset, (0.0, 1.0))
    plot_attention(model, data[2][:8], data[3][:8], folder / "attention.png", mean=mean, std=std)
    print(
        f"{args.dataset}: {metrics['parameters']} parameters, test accuracy {hist.test_acc[-1]:.2%} after "
        f"{len(hist.test_acc)} epochs, {hist.seconds[-1]:.1f} s of training; written to {folder}"
    )


def _cmd_study(args):
    from pathlib import Path

    vit = load_student_module(args.folder, "vit")
    folder = Path("runs") / (args.name or f"a3_study_{args.dataset}")
    rows = study(
        vit, args.params, args.dataset, args.budget, seed=args.seed, device=args.device, progress=True, folder=folder
    )
    print(study_table(rows))
    print(f"written to {folder}: study.md, study.json, " + ", ".join(f"{p}.png" for p in args.params or STUDY_VALUES))


def _cmd_timm(args):
    from .. import plots

    name = args.name or f"a3_timm_{args.model}_{args.mode}_{args.adapt}"
    model, hist = train_timm(
        args.model,
        args.mode,
        args.adapt,
        args.checkpoint,
        args.dataset,
        args.epochs,
        args.batch_size,
        args.lr,
        args.limit_train,
        args.limit_test,
        args.seed,
        args.device,
        progress=True,
        patch_size=args.patch_size,
    )
    metrics = {
        "model": args.model,
        "mode": args.mode,
        "adapt": args.adapt,
        "dataset": args.dataset,
        "parameters": count_parameters(model),
        "limit_train": args.limit_train,
        "limit_test": args.limit_test,
        "history": hist.to_dict(),
        "test_acc": hist.test_acc[-1],
    }
    folder = save_run(name, metrics)
    plots.plot_curves({f"{args.model} {args.mode}": hist}, folder / "curves.png")
    print(
        f"{args.model} ({args.mode}, {args.adapt}): {metrics['parameters']} parameters, test accuracy "
        f"{hist.test_acc[-1]:.2%} after {len(hist.test_acc)} epochs, {hist.seconds[-1]:.1f} s; written to {folder}"
    )


def _cmd_pretrain(args):

    model, hist = train_timm(
        args.model,
        "scratch",
        "native",
        None,
        args.dataset,
        args.epochs,
        args.batch_size,
        args.lr,
        args.limit_train,
        args.limit_test,
        args.seed,
        args.device,
        progress=True,
        patch_size=args.patch_size,
    )
    path = save_checkpoint(model, args.out)
    save_run(
        args.name or f"a3_pretrain_{args.model}_{args.dataset}",
        {
            "model": args.model,
            "dataset": args.dataset,
            "limit_train": args.limit_train,
            "history": hist.to_dict(),
            "test_acc": hist.test_acc[-1],
            "checkpoint": str(path),
        },
    )
    print(
        f"{args.model} pre-trained on {args.dataset} ({args.limit_train} images, {args.epochs} epochs): test "
        f"accuracy {hist.test_acc[-1]:.2%}, {hist.seconds[-1]:.0f} s; weights written to {path}"
    )


def _cmd_transfer(args):
    from .. import plots

    runs = transfer(
        args.model,
        args.checkpoint,
        args.dataset,
        args.epochs,
        args.limit_train,
        args.limit_test,
        args.seed,
        args.device,
        progress=True,
        batch_size=args.batch_size,
        patch_size=args.patch_size,
    )
    name = args.name or f"a3_transfer_{args.model}_{args.dataset}"
    folder = save_run(
        name,
        {
            "model": args.model,
            "dataset": args.dataset,
            "checkpoint": args.checkpoint or "hub",
            "limit_train": args.limit_train,
            "limit_test": args.limit_test,
            **{mode: {"history": h.to_dict(), "test_acc": h.test_acc[-1]} for mode, h in runs.items()},
        },
    )
    plots.plot_curves(
        {f"{args.model} {mode}": h for mode, h in runs.items()},
        folder / "curves.png",
        title=f"{args.dataset}: from scratch vs fine-tuned",
    )
    print("| epoch | " + " | ".join(f"{m} test acc." for m in runs) + " |\n|---|" + "---|" * len(runs))
    for e in range(args.epochs):
        print(f"| {e + 1} | " + " | ".join(f"{h.test_acc[e]:.2%}" for h in runs.values()) + " |")
    print(f"written to {folder}: metrics.json, curves.png")


def _ratio(text):
    """--mlp-ratio: an int when it is one (the course's code multiplies embed_dim by it), else a float."""
    value = float(text)
    return int(value) if value.is_integer() else value


@entry_point
def main(argv=None):
    """python -m kit.a3 train|study|timm|pretrain|transfer: experiments of assignment 3 (runs/<name>/ gets metrics
    and plots)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kit.a3", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def common(p):
        add_common_options(p, "assignments/a3_transformers", "vit.py and attention.py (train, study)")
        p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
        p.add_argument("--name", help="run name, the folder under runs/")

    p = commands.add_parser("train", help="train the ViT of vit.py; learning curves and attention maps")
    common(p)
    p.add_argument(
        "--recipe",
        default="onecycle",
        choices=["onecycle", "fast", "course"],
        help="onecycle: AdamW + one-cycle, lr 3e-3, batch 128, 10 epochs; fast: the same with lr 2e-2 and "
        "batch 512 (98 %% in under a minute on 2 cores); course: Adam, lr 1e-3, 10 epochs",
    )
    p.add_argument("--embed-dim", type=int)
    p.add_argument("--blocks", type=int)
    p.add_argument("--patch-size", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--mlp-ratio", type=_ratio)
    p.add_argument("--pos", default="sinusoidal", choices=["sinusoidal", "learned"])
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--limit-train", type=int, help="train on the first N images only")
    p.add_argument("--augment", action="store_true", help="random 1-pixel shifts and left-right flips (Fashion)")
    p.set_defaults(func=_cmd_train)

    p = commands.add_parser("study", help="one ViT per value of each hyper-parameter: table + one figure each")
    common(p)
    p.add_argument("--params", nargs="+", choices=list(STUDY_VALUES), help="default: all")
    p.add_argument(
        "--budget",
        default="small",
        choices=list(STUDY_BUDGET),
        help="small: 2 epochs on 10k images per run, ranked on 2k held-out training images; full: 3 "
        "epochs on 20k, ranked on 5k; the test set is read once, by the configuration ranked first",
    )
    p.set_defaults(func=_cmd_study)

    p = commands.add_parser("timm", help="a large timm ViT, from scratch or fine-tuned from pretrained weights")
    common(p)
    p.add_argument("--model", default="vit_small_patch16_224", help=f"a timm ViT, e.g. {', '.join(TIMM_MODELS)}")
    p.add_argument("--mode", default="finetune", choices=["finetune", "scratch"])
    p.add_argument(
        "--adapt",
        default="native",
        choices=["native", "resize"],
        help="native: the model is built for 28x28x1 with 4x4 patches; resize: images go to 224x224x3",
    )
    p.add_argument("--checkpoint", help="local pretrained weights (.safetensors / .pth) when the hub is unreachable")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float)
    p.add_argument("--patch-size", type=int, default=4, help="with --adapt native: 4 (49 patches) or 7 (16)")
    p.add_argument("--limit-train", type=int, default=2000, help="CPU-sized default; use 60000 on a GPU")
    p.add_argument("--limit-test", type=int, default=1000)
    p.set_defaults(func=_cmd_timm)

    p = commands.add_parser(
        "pretrain",
        help="pre-train a timm ViT (28x28, 4x4 patches) and save its weights: an "
        "offline stand-in for the hub's, for `transfer --checkpoint`",
    )
    common(p)
    p.add_argument("--model", default="vit_tiny_patch16_224")
    p.add_argument("--out", default="runs/checkpoints/vit_tiny_mnist.safetensors")
    p.add_argument("--patch-size", type=int, default=7, help="7: 16 patches of 28x28 images (CPU-sized); 4: 49")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--limit-train", type=int, default=20000)
    p.add_argument("--limit-test", type=int, default=2000)
    p.set_defaults(func=_cmd_pretrain)

    p = commands.add_parser("transfer", help="the same timm ViT from scratch and fine-tuned: both learning curves")
    common(p)
    p.set_defaults(dataset="fashion_mnist")
    p.add_argument("--model", default="vit_tiny_patch16_224")
    p.add_argument("--checkpoint", help="pretrained weights (default: the hub's), e.g. the output of `pretrain`")
    p.add_argument("--patch-size", type=int, default=7, help="the checkpoint's (timm resamples other sizes)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--limit-train", type=int, default=5000)
    p.add_argument("--limit-test", type=int, default=2000)
    p.set_defaults(func=_cmd_transfer)

    args = parser.parse_args(argv)
    args.func(args)
