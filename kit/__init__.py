"""Shared helpers of the kit: training loops, in-memory data, plots, run folders. Students call, never edit.

Errors meant for people are kit.KitError (kit/errors.py); a student's modules are loaded from a folder by
kit.student.load_student_modules; the commands (`python -m kit.<name>`) share kit/cli.py's options.
"""

import os

from .errors import KitError

__all__ = ["KitError", "budget"]


def budget() -> str:
    """'small' when KIT_BUDGET=small (tests, CI: trainings shortened), else 'full' (the README's numbers)."""
    return "small" if os.environ.get("KIT_BUDGET", "full").lower() == "small" else "full"
