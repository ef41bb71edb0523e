"""The one exception type that checkpoint reading and writing raise for bad files and configs."""

from __future__ import annotations

import os


class CheckpointError(ValueError):
    """A checkpoint file or model config that kerasette cannot use, and why.

    The message names the file (when there is one), where in it the problem is, the rule that
    was broken and what was found. It is a `ValueError`, as Keras raises for invalid files.

    Attributes:
        filepath: the file concerned, or None for a config that came from a string or dict.
    """

    def __init__(self, message: str, filepath=None):
        self.filepath = os.fspath(filepath) if filepath is not None else None
        prefix = f"{self.filepath}: " if self.filepath else ""
        super().__init__(prefix + message)
        self.detail = message
