"""kerasette.utils.np_utils: to_categorical (with the Keras 1 `nb_classes` keyword) and normalize."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.utils import np_utils


def test_to_categorical():
    out = np_utils.to_categorical([0, 2, 1], 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1]])
    np.testing.assert_array_equal(np_utils.to_categorical(np.array([[1], [0]])), [[0, 1], [1, 0]])


def test_nb_classes_is_the_keras1_name_of_num_classes():
    with pytest.warns(DeprecationWarning, match="to_categorical: `nb_classes` is the Keras 1 name; use `num_classes`"):
        out = np_utils.to_categorical([0, 1], nb_classes=4)
    np.testing.assert_array_equal(out, np.eye(4)[[0, 1]])


def test_nb_classes_and_num_classes_together_are_refused():
    with pytest.raises(TypeError, match="to_categorical: received both `num_classes` and its Keras 1 name "
                                        "`nb_classes`"):
        np_utils.to_categorical([0, 1], num_classes=2, nb_classes=2)


def test_unknown_keyword_is_refused():
    with pytest.raises(TypeError, match=r"to_categorical: unexpected keyword argument\(s\) \['classes'\]"):
        np_utils.to_categorical([0, 1], classes=2)


def test_normalize():
    np.testing.assert_allclose(np_utils.normalize(np.array([[3.0, 4.0], [0.0, 0.0]])), [[0.6, 0.8], [0, 0]])
