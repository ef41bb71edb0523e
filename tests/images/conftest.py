"""Shared by the image tests: ``needs_pillow`` marks the tests that read or write image files.

Pillow is kerasette's optional ``image`` extra. The tests that need it skip when it is missing,
saying so; install it with ``pip install '.[image]'`` (CI installs it)."""

from __future__ import annotations

import importlib.util

import pytest

HAS_PILLOW = importlib.util.find_spec("PIL") is not None
needs_pillow = pytest.mark.skipif(not HAS_PILLOW, reason="needs Pillow, the 'image' extra: pip install '.[image]'")
