"""Fixtures shared by the whole suite: every test starts from the backend's defaults."""

from __future__ import annotations

import pytest

import kerasette.backend as K  # noqa: N812 - the Keras convention
from kerasette.backend import config


@pytest.fixture(autouse=True)
def fresh_session():
    """Restarts layer naming and restores the global settings a test may change."""
    K.clear_session()
    saved = (config.floatx(), config.epsilon(), config.image_data_format())
    yield
    K.clear_session()
    config.set_floatx(saved[0])
    config.set_epsilon(saved[1])
    config.set_image_data_format(saved[2])
