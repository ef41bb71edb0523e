"""The examples in the image modules' docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.images.conftest import HAS_PILLOW

MODULES = ["kerasette.preprocessing.image", "kerasette.layers.preprocessing.rescaling",
           "kerasette.layers.preprocessing.resizing", "kerasette.layers.preprocessing.normalization"]
FILE_MODULES = ["kerasette.utils.image_utils", "kerasette.utils.image_dataset"]


@pytest.mark.parametrize("name", MODULES + (FILE_MODULES if HAS_PILLOW else []))
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
