"""The kit's autograder: checks against independent oracles, run in isolated child processes.

Entry points: `python -m autograder grade --submission DIR`, and `run_check` for notebook test cells.
"""

from .api import CheckFailed, check, expect, expect_close, expect_shape

__all__ = ["CheckFailed", "check", "expect", "expect_close", "expect_shape"]
