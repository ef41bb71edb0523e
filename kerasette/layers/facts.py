"""The facts a layer declares for the model planner and the file formats (`LayerFacts`, a base of
`kerasette.layers.base.Layer`), with the defaults of a layer that declares none: no fusion, no
layout freedom, its own data format only, no residual sum, stored weights taken as stored. The
planner (`kerasette.models.planner`) and `kerasette.saving` read only these, never a layer's type;
`kerasette.layers.base` lists what each one means.
"""

from __future__ import annotations


class LayerFacts:
    """The planner's and the file formats' questions to a layer, answered for a layer that says
    nothing (override them in a layer class)."""

    def fuses(self, activation) -> bool:
        """Whether ``activation`` can run inside this layer's output pass."""
        return False

    def call_with_activation(self, inputs, activation, training=False, mask=None):
        """The layer's output with ``activation`` applied, in one pass (when `fuses` says so),
        given the learning phase and the input's mask as ``call`` would be."""
        raise NotImplementedError(f"{type(self).__name__} fuses no activation")

    def layout_free(self) -> bool:
        """Whether the result is the same whichever axis holds the channels."""
        return False

    def runs_channels_last(self) -> bool:
        """Whether this channels-first layer can compute on the channels-last tensor directly."""
        return False

    def call_channels_last(self, x, training=False, activation=None):
        """The layer's computation on the channels-last form of its input; the result is
        channels-last too when it is an image (when `runs_channels_last` says so)."""
        raise NotImplementedError(f"{type(self).__name__} computes in its own data format only")

    standalone_activation = None  # the activation function, for a layer that applies only that

    def adds_inputs(self) -> bool:
        """Whether the output is the elementwise sum of the inputs (a list of tensors of the
        output's shape), whatever their masks."""
        return False

    def takes_residual(self, activation) -> bool:
        """Whether `call_with_residual` can add a tensor of the output's shape to this layer's
        output and then apply ``activation`` (None for none) in its output pass."""
        return False

    def call_with_residual(self, inputs, residual, activation=None, training=False):
        """``activation(output + residual)`` in one pass (when `takes_residual` says so), with
        the floating-point results of computing the output, adding ``residual`` to it, then
        applying ``activation``; ``inputs``, ``residual`` and the result are channels-last
        images when the layer `runs_channels_last` (as for `call_channels_last`), else in the
        layer's own format."""
        raise NotImplementedError(f"{type(self).__name__} adds no residual to its output")

    def stored_weight_converter(self, var, stored_shape, origin):
        """A function converting a stored value of ``stored_shape`` for ``var``, or None to
        take it as stored; ``origin`` describes the file (see `kerasette.saving`)."""
        return None
