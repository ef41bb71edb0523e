"""The planner's programs (`kerasette.models.planner._Program`): the steps `Plan.run` runs, with
the alias steps (fused activations, folded normalizations, residual sums' Adds) left out and
every tensor read under the tensor it stands for; each value released after its last reader."""

import numpy as np
import pytest

import kerasette.backend as K
from kerasette.backend.tensor import Tensor, no_grad
from kerasette.layers import (
    Activation,
    Add,
    BatchNormalization,
    Conv2D,
    Dense,
    Embedding,
    GlobalAveragePooling2D,
    Input,
)
from kerasette.models import Model
from kerasette.models.planner import Plan


def _residual_model():
    """A residual block whose normalizations fold, whose ReLUs fuse and whose Add becomes the
    second convolution's epilogue, then pooling and a Dense head (float64: exact comparisons)."""
    K.set_seed(3)
    inp = Input(shape=(6, 6, 4), dtype="float64")
    x = Activation("relu")(BatchNormalization(dtype="float64")(Conv2D(4, 3, padding="same", dtype="float64")(inp)))
    y = BatchNormalization(dtype="float64")(Conv2D(4, 3, padding="same", dtype="float64")(x))
    z = Activation("relu")(Add(dtype="float64")([y, x]))
    out = Dense(3, dtype="float64")(GlobalAveragePooling2D(dtype="float64")(z))
    model = Model(inp, out)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, BatchNormalization):
            layer.moving_mean.data[...] = rng.normal(size=4)
            layer.moving_variance.data[...] = rng.uniform(0.5, 2.0, size=4)
    return model


def _layer_by_layer(model, x):
    """The model's inference output computed one layer call after the other, without a plan."""
    values = {id(model.inputs[0]): Tensor(x)}
    with no_grad():
        for step in Plan(model.inputs, model.outputs, fold=False)._plan(frozenset()):
            args = [values[id(t)] for t in step.inputs]
            values[id(step.output)] = step.layer.run(args if step.as_list else args[0], False)
    return values[id(model.outputs[0])].data


def test_the_program_runs_only_the_steps_that_compute():
    model = _residual_model()
    plan = Plan(model.inputs, model.outputs)
    program = plan._inference(2)
    names = [type(step.layer).__name__ for step, _ in program.entries]
    assert names == ["Conv2D", "Conv2D", "GlobalAveragePooling2D", "Dense"]  # BN, ReLU and Add: aliases
    assert all(step.alias_of is None for step, _ in program.entries)
    assert len(program.steps) == len(plan.inference_steps)  # the plan's own steps, aliases included
    # every tensor read is an input or computed before, and released after its last reader only
    made, released = {id(t) for t in model.inputs}, set()
    for step, done in program.entries:
        assert all(id(t) in made and id(t) not in released for t in step.reads)
        made.add(id(step.output))
        released.update(done)
    assert {id(t) for t in program.outputs} <= made - released
    assert released == made - {id(t) for t in program.outputs}


def test_the_program_gives_the_layers_results():
    model = _residual_model()
    x = np.random.default_rng(1).normal(size=(3, 6, 6, 4))
    with no_grad():
        got = model.call_graph([Tensor(x)], training=False)[0].data
    np.testing.assert_allclose(got, _layer_by_layer(model, x), rtol=1e-12, atol=1e-12)


def test_a_program_per_batch_size_shares_its_folds():
    """A Dense layer of many inputs folds from large batches only (`planner._fold_batch`): each
    batch size gets the program of the folds that pay for it, made once."""
    inp = Input(shape=(64,))
    model = Model(inp, BatchNormalization()(Dense(2)(inp)))
    plan = Plan(model.inputs, model.outputs)
    small, large = plan._inference(1), plan._inference(1000)
    assert plan._inference(1) is small and plan._inference(2) is small
    assert sum(step.fold is not None for step, _ in small.entries) == 0
    assert sum(step.fold is not None for step, _ in large.entries) == 1 and len(large.entries) == 1


def test_an_aliased_output_keeps_its_mask():
    """An output that an alias step computes (an Activation fused into the Dense before it) is
    its source's value, with the mask its source carries."""
    inp = Input(shape=(3,), dtype="int32")
    out = Activation("relu")(Dense(2)(Embedding(5, 4, mask_zero=True)(inp)))
    model = Model(inp, out)
    plan = Plan(model.inputs, model.outputs)
    assert [type(step.layer).__name__ for step, _ in plan._training.entries] == ["Embedding", "Dense"]
    x = np.array([[1, 2, 0], [0, 3, 4]])
    value = model.call_graph([Tensor(x)], training=False)[0]
    np.testing.assert_array_equal(value._keras_mask, x != 0)
    assert (value.data >= 0).all()


@pytest.mark.parametrize("training", [False, True])
def test_training_and_inference_programs_agree_without_folds(training):
    """Without the inference rewrites' rounding (float64, folds off), the training program and
    the inference program compute the same outputs."""
    model = _residual_model()
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 4))
    plan = Plan(model.inputs, model.outputs, fold=False)
    with no_grad():
        got = plan.run([Tensor(x)], training=training)[0].data
    if training:  # batch statistics: compare with the layers called one by one in training
        values = {id(model.inputs[0]): Tensor(x)}
        with no_grad():
            for step in plan._plan(frozenset()):
                args = [values[id(t)] for t in step.inputs]
                values[id(step.output)] = step.layer.run(args if step.as_list else args[0], True)
        expected = values[id(model.outputs[0])].data
    else:
        expected = _layer_by_layer(model, x)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
