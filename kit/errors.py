"""The kit's one error for people: what went wrong and what to do, in a sentence, never a traceback.

Library code (training, loading a student's modules, finding pretrained weights) raises KitError; the command
lines (`python -m kit.<name>`, through kit.cli.entry_point) print its message after "error: " and exit 2, and a
notebook shows it as it shows any exception. Library code never raises SystemExit: a notebook or a test that calls
it can catch a KitError and go on.
"""

from __future__ import annotations


class KitError(Exception):
    """Something the user can fix (a missing file, weights not available offline, a student file that does not
    import): str(err) says what and how, in the user's terms."""
