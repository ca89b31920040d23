"""The skeleton every kit command shares (`python -m kit.a1 | a2 | a3 | a4 | bench`).

- the same options, with the same names, defaults and help: `--folder` (the code to run), `--device`, `--seed`
  (add_common_options); a command that called its folder otherwise keeps that name as a hidden alias
  (kit.a2's `--code`);
- the same ending (entry_point): a KitError or a data set that is missing prints one `error: ...` line, no
  traceback, and exits 2 (KitError: something in the command line or the folder to fix) or 1 (DataError: the
  data set, as `python -m data_scripts` says too).
"""

from __future__ import annotations

import argparse
import functools
import re
import sys

from data_scripts import DataError

from .errors import KitError

EXIT_KIT_ERROR = 2
EXIT_DATA_ERROR = 1
DEVICE_HELP = "auto (cuda when there is one, else cpu), cpu, cuda or cuda:N"


def device_name(text: str) -> str:
    """An argparse type: auto, cpu, cuda, cuda:N or mps."""
    if text in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a device: use {DEVICE_HELP}")


def add_common_options(
    parser: argparse.ArgumentParser,
    folder: str | None,
    holds: str,
    *,
    device: str = "auto",
    device_help: str | None = None,
    more_devices=(),
    seed: int = 0,
    old_folder_options=(),
) -> argparse.ArgumentParser:
    """Add --folder (default `folder`: the folder holding `holds`), --device and --seed to `parser`.

    more_devices: values of --device the command accepts besides devices (autograder.tools.bench's "all");
    old_folder_options: former names of --folder (e.g. "--code"), still accepted and not shown in --help."""

    def device_or_more(text: str) -> str:
        return text if text in more_devices else device_name(text)

    where = f" (default: {folder})" if folder else ""
    parser.add_argument("--folder", default=folder, help=f"the folder holding {holds}{where}")
    for old in old_folder_options:
        parser.add_argument(old, dest="folder", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--device", default=device, type=device_or_more, help=device_help or f"{DEVICE_HELP} (default: {device})"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=seed,
        help=f"seeds python, numpy and torch; KIT_SEED_OFFSET is added (default: {seed})",
    )
    return parser


def entry_point(main):
    """Decorate a command's main(argv=None): a KitError (or a DataError from the data layer) ends the command with
    its message on stderr and exit status 2 (or 1), never a traceback. Whatever main returns is returned."""

    @functools.wraps(main)
    def run(*args, **kwargs):

        try:
            return main(*args, **kwargs)
        except KitError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(EXIT_KIT_ERROR) from None
        except DataError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(EXIT_DATA_ERROR) from None

    return run
