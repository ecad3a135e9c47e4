"""Errors that reach the user as one clear line (the CLI prints them and exits with code 2)."""

from __future__ import annotations

from pathlib import Path


class UnivsError(Exception):
    """Base class of the errors univs reports to users without a traceback."""


class InputError(UnivsError, ValueError):
    """Bad user input: a file that is missing, unreadable, malformed or inconsistent.

    ``path`` names the offending file (or folder) when there is one; the message says what is wrong.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        super().__init__(f"{self.path}: {message}" if path is not None else message)
