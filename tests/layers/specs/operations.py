"""Layer table entries for Keras 3's operation layers (``kerasette.layers.operations``): one
input (the others constants in the call's arguments), differentiable, so that the harness's
training step reaches them."""

from __future__ import annotations

import numpy as np

from kerasette.layers.operations import OPERATIONS, TENSOR
from tests.layers.specs import Spec

SPECS = [
    Spec("operation-multiply-constant", lambda: OPERATIONS["Multiply"](arguments=[TENSOR, 2.0]), (3, 4), 0, 0,
         lambda x: x * 2.0),
    Spec("operation-subtract-keyword", lambda: OPERATIONS["Subtract"](arguments=[TENSOR], keyword_arguments={"x2": 0.5}),
         (5,), 0, 0, lambda x: x - 0.5),
    Spec("operation-sum-axis", lambda: OPERATIONS["Sum"](operation_config={"axis": 1, "keepdims": False}), (3, 4), 0, 0,
         lambda x: x.sum(axis=1)),
    Spec("operation-mean-keepdims", lambda: OPERATIONS["Mean"](operation_config={"axis": -1, "keepdims": True}),
         (3, 4), 0, 0, lambda x: x.mean(axis=-1, keepdims=True)),
    Spec("operation-expand-dims", lambda: OPERATIONS["ExpandDims"](operation_config={"axis": -1}), (3,), 0, 0,
         lambda x: x[..., None]),
    Spec("operation-square", lambda: OPERATIONS["Square"](), (4,), 0, 0, np.square),
]
