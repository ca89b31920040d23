"""A short training protocol, measured over seeds: what a student's laptop can show in a notebook's time budget.

    python -m autograder.tools.protocols a2.laptop [--seeds 0 1 2] [--record docs/data]

Trains the stacked variants of a2's ablation (kit.a2.training.ABLATION: vanilla, +standardize, ... +batch norm)
with the reference solutions and the settings of a recipe of kit/recipes.py, once per seed, and keeps per variant
and seed: the best validation accuracy, the last epoch's training accuracy, the test accuracy of the selected
epoch (read once) and the wall-clock seconds of the whole training. `make docs` turns the record into the table of
which improvement shows, at that budget, in how many seeds (docs/measurements.md and the rubric of
docs/course/a2.md); the notebook's texts read its times from it.

Written after every training to dist/protocols/<recipe>.json (a stopped run keeps what it measured); `--record
docs/data` also keeps it there as protocol-<recipe>-<date>.json. Not part of `make test`: tens of minutes on 2
CPU cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from kit import recipes
from kit.a2.commands import student_modules
from kit.a2.training import ABLATION, ablation

from .docs import envelope

ROOT = Path(__file__).resolve().parents[2]


def measure(recipe: str, seeds, save, data=None, **changes) -> dict:
    """Train the stacked variants with the recipe's settings (`changes` on top) once per seed; `save(results)`
    after each training. `data` replaces CIFAR-10 (kit.a2.train's, for tests)."""
    cnn, training = student_modules(str(ROOT / "solutions" / "a2_cnn"))
    base = recipes.settings(recipe, **changes)
    results = {"recipe": recipe, "settings": base, "variants": [name for name, _ in ABLATION], "runs": []}
    for seed in seeds:
        clock = [time.perf_counter()]  # when the variant now training started: the previous one's end

        def keep(name, hist, seed=seed):
            now = time.perf_counter()
            wall, clock[0] = now - clock[0], now
            results["runs"].append(
                {
                    "seed": seed,
                    "variant": name,
                    "best_val_acc": max(hist.val_acc),
                    "best_epoch": hist.best_epoch,
                    "train_acc": hist.train_acc[-1],
                    "test_acc": hist.test_acc[-1],
                    "train_seconds": round(hist.seconds[-1], 1),
                    "wall_seconds": round(wall, 1),
                }
            )
            print(
                f"seed {seed} {name:<14} best validation {max(hist.val_acc):.2%}, train {hist.train_acc[-1]:.2%}, "
                f"{wall:.0f} s",
                flush=True,
            )
            save(results)

        ablation(cnn, training, data=data, each=keep, **{**base, "seed": seed})
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", help="a recipe of kit/recipes.py whose settings are the protocol (a2.laptop)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "protocols")
    parser.add_argument("--record", type=Path, help="also keep the record in this folder (docs/data)")
    args = parser.parse_args(argv)
    recipes.recipe(args.recipe)  # an unknown name stops here, with the known ones
    command = f"python -m autograder.tools.protocols {args.recipe} --seeds {' '.join(map(str, args.seeds))}"
    today = dt.date.today().isoformat()

    def save(results):
        record = envelope("protocol", results, command)
        text = json.dumps(record, indent=1) + "\n"
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.recipe}.json").write_text(text)
        if args.record:
            args.record.mkdir(parents=True, exist_ok=True)
            (args.record / f"protocol-{args.recipe}-{today}.json").write_text(text)

    measure(args.recipe, args.seeds, save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
