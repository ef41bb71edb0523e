"""The functional API: Input, layer calls on symbolic tensors, Model(inputs, outputs)."""

import numpy as np
import pytest

import kerasette.backend as K
from kerasette import metrics
from kerasette.datasets import digits
from kerasette.layers import (
    Add,
    Average,
    Concatenate,
    Conv2D,
    Dense,
    Flatten,
    Input,
    Lambda,
    Maximum,
    MaxPooling2D,
    Minimum,
    Multiply,
    Subtract,
)
from kerasette.models import Model, Sequential
from kerasette.optimizers import SGD
from kerasette.utils import to_categorical


@pytest.fixture(autouse=True)
def _fresh_names():
    K.clear_session()
    K.set_seed(0)


def residual_model():
    inp = Input(shape=(8, 8, 1))
    y = Conv2D(8, (3, 3), padding="same", activation="relu")(inp)
    y = Add()([y, Conv2D(8, (3, 3), padding="same")(y)])
    out = Dense(10, activation="softmax")(Flatten()(y))
    return Model(inputs=inp, outputs=out)


def test_issue_snippet_builds_and_reports_shapes():
    inp = Input(shape=(28, 28, 1))
    y = Conv2D(8, (3, 3), padding="same", activation="relu")(inp)
    y = Add()([y, Conv2D(8, (3, 3), padding="same")(y)])
    out = Dense(10, activation="softmax")(Flatten()(y))
    model = Model(inputs=inp, outputs=out)
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Conv2D", "Conv2D", "Add", "Flatten", "Dense"]
    assert model.count_params() == 80 + 584 + 28 * 28 * 8 * 10 + 10


def test_predict_matches_layer_by_layer_eager_computation():
    model = residual_model()
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    c1, c2, _, flat, dense = model.layers[1:]
    y = c1(x)
    expected = dense(flat(y + c2(y))).numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)


def test_residual_convnet_trains_on_digits():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train = x_train[..., None].astype("float32") / 16
    x_test = x_test[..., None].astype("float32") / 16
    model = residual_model()
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=SGD(learning_rate=0.05, momentum=0.9, nesterov=True))
    history = model.fit(x_train, to_categorical(y_train), batch_size=32, epochs=6, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(x_test, to_categorical(y_test), verbose=0)
    assert accuracy >= 0.9


def test_two_inputs_two_outputs_and_a_shared_layer():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    shared = Dense(3, name="shared")
    ha, hb = shared(a), shared(b)
    merged = Concatenate()([ha, hb])
    out1 = Dense(1, name="regression")(merged)
    out2 = Dense(2, activation="softmax", name="classes")(Subtract()([ha, hb]))
    model = Model(inputs=[a, b], outputs=[out1, out2])
    assert model.output_names == ["regression", "classes"]
    assert len(shared._inbound_nodes) == 2
    model.compile(loss=["mse", "categorical_crossentropy"], optimizer="sgd", metrics=["accuracy"],
                  loss_weights=[0.5, 1.0])
    rng = np.random.default_rng(0)
    xa, xb = rng.random((16, 4)), rng.random((16, 4))
    y1, y2 = rng.random((16, 1)), to_categorical(rng.integers(0, 2, 16), 2)
    before = model.evaluate([xa, xb], [y1, y2], verbose=0)
    model.fit([xa, xb], [y1, y2], epochs=20, verbose=0)
    after = model.evaluate([xa, xb], [y1, y2], verbose=0)
    assert model.metrics_names == ["loss", "regression_loss", "classes_loss", "regression_accuracy",
                                   "classes_accuracy"]
    assert after[0] < before[0]
    p1, p2 = model.predict([xa, xb])
    assert p1.shape == (16, 1) and p2.shape == (16, 2)


@pytest.mark.parametrize("layer_cls, fn", [
    (Add, lambda a, b: a + b), (Subtract, lambda a, b: a - b), (Multiply, lambda a, b: a * b),
    (Average, lambda a, b: (a + b) / 2), (Maximum, np.maximum), (Minimum, np.minimum),
    (Concatenate, lambda a, b: np.concatenate([a, b], axis=-1)),
])
def test_merge_layers_compute_the_right_values(layer_cls, fn):
    a, b = Input(shape=(3,)), Input(shape=(3,))
    model = Model([a, b], layer_cls()([a, b]))
    xa = np.array([[1.0, -2.0, 3.0]], dtype="float32")
    xb = np.array([[0.5, 4.0, -1.0]], dtype="float32")
    np.testing.assert_allclose(model.predict([xa, xb]), fn(xa, xb), rtol=1e-6)


def test_summary_has_connected_to_column(capsys):
    residual_model().summary()
    text = capsys.readouterr().out
    assert "Connected to" in text
    assert "conv2d_1[0][0]" in text and "conv2d_2[0][0]" in text
    assert "Total params: 5,794" in text


def test_config_round_trip_gives_same_predictions():
    model = residual_model()
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(1).random((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(clone.predict(x), model.predict(x))
    assert clone.get_config()["input_layers"] == model.get_config()["input_layers"]


def test_sequential_accepts_an_input_tensor_first():
    model = Sequential([Input(shape=(4,)), Dense(2)])
    assert model.output_shape == (None, 2)


def test_pooling_in_the_functional_graph():
    inp = Input(shape=(8, 8, 2))
    model = Model(inp, MaxPooling2D()(inp))
    x = np.arange(128, dtype="float32").reshape(1, 8, 8, 2)
    np.testing.assert_allclose(model.predict(x), x.reshape(1, 4, 2, 4, 2, 2).max(axis=(2, 4)))


# -- errors -----------------------------------------------------------------------------------
def test_disconnected_graph_names_the_missing_input():
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="b")
    out = Add()([a, b])
    with pytest.raises(ValueError, match="graph disconnected.*input 'b'"):
        Model(inputs=a, outputs=out)


def test_outputs_that_do_not_depend_on_an_input():
    a, b = Input(shape=(3,), name="a"), Input(shape=(3,), name="unused")
    with pytest.raises(ValueError, match="do not depend on input 'unused'"):
        Model(inputs=[a, b], outputs=Dense(2)(a))


def test_merge_of_different_shapes_names_the_layer():
    a, b = Input(shape=(3,)), Input(shape=(4,))
    with pytest.raises(ValueError, match=r"Add 'add_1': inputs must have the same shape; received \(None, 3\), \(None, 4\)"):
        Add()([a, b])


def test_layer_called_on_a_mix_of_symbolic_and_concrete():
    a = Input(shape=(3,))
    with pytest.raises(TypeError, match="every input must be a symbolic tensor"):
        Add()([a, np.ones((1, 3))])


def test_feeding_the_wrong_shape_to_a_functional_model():
    model = residual_model()
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    with pytest.raises(ValueError, match=r"has shape \(2, 8, 8\) but the model expects \(None, 8, 8, 1\)"):
        model.predict(np.ones((2, 8, 8)))


def test_sequential_exposes_symbolic_inputs_and_outputs():
    seq = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2, name="last")])
    assert seq.input.shape == (None, 3) and seq.output.shape == (None, 2)
    assert seq.layers[0].output.shape == (None, 4)
    intermediate = Model(seq.input, seq.layers[0].output)
    x = np.random.default_rng(0).random((5, 3)).astype("float32")
    np.testing.assert_allclose(intermediate.predict(x), np.maximum(x @ seq.layers[0].kernel.data, 0), rtol=1e-6)
    f = K.function([seq.input], [seq.get_layer("last").output])
    np.testing.assert_allclose(f([x])[0], seq.predict(x), rtol=1e-6)


def test_models_nest_as_layers():
    seq = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    inp = Input(shape=(3,))
    outer = Model(inp, Dense(1)(seq(inp)))
    inp2 = Input(shape=(3,))
    outermost = Model(inp2, outer(inp2))
    assert outermost.count_params() == 16 + 10 + 3
    x = np.random.default_rng(0).random((4, 3)).astype("float32")
    np.testing.assert_allclose(outermost.predict(x), outer.predict(x), rtol=1e-6)
    outermost.compile(loss="mse", optimizer="sgd")
    before = seq.get_weights()
    outermost.fit(x, np.ones((4, 1)), epochs=1, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, seq.get_weights()))


def test_layer_without_calls_has_no_output():
    with pytest.raises(AttributeError, match="Dense 'dense_1' has not been called on a symbolic tensor"):
        _ = Dense(3).output


def _two_output_model(names=("regression", "classes")):
    inp = Input(shape=(3,))
    out1 = Dense(1, name=names[0])(inp)
    out2 = Dense(2, activation="softmax", name=names[1])(inp)
    return Model(inp, [out1, out2])


def _two_output_data(n=12):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype("float32")
    return x, [rng.standard_normal((n, 1)).astype("float32"), to_categorical(rng.integers(0, 2, n), 2)]


def test_several_outputs_log_each_outputs_unweighted_loss():
    model = _two_output_model()
    model.compile(optimizer=SGD(learning_rate=0.0), loss=["mse", "categorical_crossentropy"],
                  loss_weights=[0.5, 2.0], metrics=["mae"])
    assert model.metrics_names == ["loss", "regression_loss", "classes_loss", "regression_mae", "classes_mae"]
    x, ys = _two_output_data()
    p1, p2 = (p.astype(np.float64) for p in model.predict(x))
    mse = np.mean((p1 - ys[0]) ** 2)
    cce = -np.mean(np.sum(ys[1] * np.log(p2), axis=1))
    loss, loss1, loss2, mae1, mae2 = model.evaluate(x, ys, batch_size=5, verbose=0)
    np.testing.assert_allclose([loss1, loss2], [mse, cce], rtol=1e-5)  # unweighted, as Keras 2 logs them
    np.testing.assert_allclose(loss, 0.5 * mse + 2.0 * cce, rtol=1e-5)
    np.testing.assert_allclose(mae1, np.mean(np.abs(p1 - ys[0])), rtol=1e-5)
    np.testing.assert_allclose(model.train_on_batch(x, ys), [loss, loss1, loss2, mae1, mae2], rtol=1e-5)
    history = model.fit(x, ys, batch_size=4, epochs=1, validation_data=(x, ys), verbose=0)
    assert sorted(history.history) == sorted(model.metrics_names + [f"val_{n}" for n in model.metrics_names])
    np.testing.assert_allclose(history.history["regression_loss"][0], mse, rtol=1e-5)
    np.testing.assert_allclose(history.history["val_classes_loss"][0], cce, rtol=1e-5)


def test_one_output_logs_no_separate_output_loss():
    inp = Input(shape=(3,))
    model = Model(inp, Dense(2, name="only")(inp))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert model.metrics_names == ["loss", "mae"]


def test_repeated_output_names_get_suffixes_in_the_logs():
    # a layer called twice gives two outputs of the same name: the log keys must stay apart
    a, b = Input(shape=(3,)), Input(shape=(3,))
    shared = Dense(2, name="shared")
    model = Model([a, b], [shared(a), shared(b)])
    assert model.output_names == ["shared", "shared"]
    model.compile(optimizer=SGD(learning_rate=0.0), loss="mse", metrics=["mae"], loss_weights=[1.0, 0.5])
    assert model.metrics_names == ["loss", "shared_loss", "shared_1_loss", "shared_mae", "shared_1_mae"]
    x = np.random.default_rng(0).standard_normal((6, 3)).astype("float32")
    y1, y2 = np.zeros((6, 2), "float32"), np.ones((6, 2), "float32")
    loss, loss1, loss2, _, _ = model.evaluate([x, x], [y1, y2], verbose=0)
    p = model.predict([x, x])[0].astype(np.float64)
    np.testing.assert_allclose([loss1, loss2], [np.mean(p**2), np.mean((p - 1) ** 2)], rtol=1e-5)
    np.testing.assert_allclose(loss, loss1 + 0.5 * loss2, rtol=1e-5)
    history = model.fit([x, x], [y1, y2], epochs=1, verbose=0)
    assert sorted(history.history) == sorted(model.metrics_names)


def test_accuracy_is_chosen_per_output():
    model = _two_output_model()
    model.compile(optimizer="sgd", loss=["mse", "categorical_crossentropy"], metrics=["acc"])
    x = np.random.default_rng(1).standard_normal((8, 3)).astype("float32")
    y_regression = (np.arange(8) % 2).astype("float32")[:, None]
    y_classes = np.eye(2, dtype="float32")[np.arange(8) % 2]
    logs = model.evaluate(x, [y_regression, y_classes], batch_size=8, verbose=0, return_dict=True)
    p_regression, p_classes = model.predict(x)
    assert logs["regression_acc"] == pytest.approx(float(np.mean(metrics.binary_accuracy(y_regression, p_regression))))
    assert logs["classes_acc"] == pytest.approx(float(np.mean(metrics.categorical_accuracy(y_classes, p_classes))))


def test_a_frozen_model_inside_another_is_not_trained():
    base = Sequential([Dense(4, input_shape=(3,)), Dense(2)])
    base.trainable = False
    inp = Input(shape=(3,))
    outer = Model(inp, Dense(1)(base(inp)))
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 4
    outer.compile(loss="mse", optimizer="sgd")
    before = base.get_weights()
    outer.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=2, verbose=0)
    for a, b in zip(before, base.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_backend_ops_apply_to_a_layers_output():
    """A backend op on a layer's symbolic output infers its shape and runs in K.function
    (a layer's output made no probe values, and the op's shape inference read them)."""
    inp = Input(shape=(4,))
    layer = Dense(3)
    squared = K.square(layer(inp))
    assert squared.shape == (None, 3)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    dense = x @ layer.kernel.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(K.function([inp], [squared])([x])[0], np.square(dense), rtol=1e-6)
    model = Model(inp, Lambda(lambda t: K.sum(K.square(t), axis=-1, keepdims=True))(layer(inp)))
    want = np.square(dense).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5)


def test_a_backend_op_in_a_models_graph_names_the_tensor_and_the_fix():
    inp = Input(shape=(4,))
    out = K.square(Dense(3)(inp))
    with pytest.raises(ValueError, match=r"tensor 'square_\d+' \(None, 3\) is the result of a backend op, "
                                         r"not of a layer.*wrap the op in a Lambda layer"):
        Model(inp, out)
