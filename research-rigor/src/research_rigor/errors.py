"""Errors that are the user's to fix.

`train.py` prints their message as one line and exits 1: no traceback for a
dirty tree or missing data, only what is wrong and what to do.
"""


class UserError(Exception):
    """A problem with the user's input or working copy, explained in its message."""
