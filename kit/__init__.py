"""Shared helpers of the kit: training loops, in-memory data, plots, run folders. Students call, never edit."""
import os


def budget() -> str:
    """'small' when KIT_BUDGET=small (tests, CI: trainings shortened), else 'full' (the README's numbers)."""
    return "small" if os.environ.get("KIT_BUDGET", "full").lower() == "small" else "full"
