"""`Tensor` keeps the attributes every tensor has in slots (the backward walk reads them on cold
objects) and still takes any other attribute (a Keras mask, a variable's settings)."""

import copy
import pickle

import numpy as np

from kerasette.backend.tensor import Tensor, Variable


def test_the_walks_attributes_are_slots():
    for name in ("data", "requires_grad", "grad", "name", "_op", "_inputs"):
        assert name in Tensor.__slots__
    t = Tensor(np.ones(3, np.float32))
    assert "data" not in t.__dict__ and "_op" not in t.__dict__


def test_other_attributes_still_go_to_the_instance():
    t = Tensor(np.ones((2, 3), np.float32))
    t._keras_mask = np.array([True, False])
    assert t._keras_mask.tolist() == [True, False] and "_keras_mask" in t.__dict__
    v = Variable(np.zeros((2, 2)), name="w")
    assert v.trainable and v.name == "w" and v.requires_grad


def test_tensors_copy_and_pickle_with_every_attribute():
    t = Tensor(np.arange(4.0), requires_grad=True, name="t")
    t._keras_mask = np.array([True, True, False, True])
    for other in (copy.copy(t), copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
        np.testing.assert_array_equal(other.data, t.data)
        assert other.requires_grad and other.name == "t" and other._op is None and other._inputs == ()
        np.testing.assert_array_equal(other._keras_mask, t._keras_mask)
    v = pickle.loads(pickle.dumps(Variable(np.ones(2), name="v", trainable=False)))
    assert v.name == "v" and not v.trainable and not v.requires_grad


def test_of_array_holds_the_array_itself_as_the_constructor_would():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    lean, made = Tensor.of_array(array), Tensor(array)
    assert type(lean) is Tensor and lean.data is array
    for name in ("requires_grad", "grad", "name", "_op", "_inputs"):
        assert getattr(lean, name) == getattr(made, name)
    assert lean.__dict__ == {} and getattr(lean, "_keras_mask", None) is None
    lean._keras_mask = np.array([True, False])  # the instance dictionary still takes other attributes
    assert (lean + 1).data.tolist() == [[1, 2, 3], [4, 5, 6]]
