"""Every user-facing error: its type and a message that names the culprit, the rule and the value."""

from __future__ import annotations

import re

import numpy as np
import pytest

import kerasette.backend as K  # noqa: N812 - the Keras convention
from kerasette import activations, initializers, layers
from kerasette.layers import Conv2D, Dense, Dropout, Flatten, InputLayer, MaxPooling2D
from kerasette.models import Sequential
from kerasette.utils import to_categorical

HINT = re.escape("If your input_shape is (channels, rows, cols), use data_format='channels_first'.")


def _mlp(compile_it=True):
    model = Sequential([Dense(3, input_dim=4), Dense(2, activation="softmax")])
    if compile_it:
        model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    return model


# ----------------------------------------------------------------------------- data
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict", "train_on_batch", "test_on_batch"])
def test_data_shape_not_matching_the_model(method):
    model = _mlp()
    x, y = np.ones((10, 5)), np.ones((10, 2))
    args = (x,) if method == "predict" else (x, y)
    with pytest.raises(ValueError, match=re.escape("Model 'sequential_1': input has shape (10, 5) but the model "
                                                   "expects (None, 4)")):
        getattr(model, method)(*args)


def test_image_data_in_the_wrong_layout():
    model = Sequential([Conv2D(4, 3, input_shape=(3, 32, 32), data_format="channels_first"), Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=re.escape("input has shape (2, 32, 32, 3) but the model expects "
                                                   "(None, 3, 32, 32)") + ".*data_format"):
        model.fit(np.ones((2, 32, 32, 3)), np.ones((2, 2)), verbose=0)


def test_x_and_y_lengths_differ():
    model = _mlp()
    with pytest.raises(ValueError, match=re.escape("x and y must have the same number of samples; received x "
                                                   "with [10] and y with [8] samples")):
        model.fit(np.ones((10, 4)), np.ones((8, 2)), verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.evaluate(np.ones((10, 4)), np.ones((8, 2)), verbose=0)


def test_validation_data_lengths_differ():
    with pytest.raises(ValueError, match="same number of samples"):
        _mlp().fit(np.ones((4, 4)), np.ones((4, 2)), validation_data=(np.ones((3, 4)), np.ones((2, 2))), verbose=0)


def test_bad_fit_arguments():
    model = _mlp()
    x, y = np.ones((4, 4)), np.ones((4, 2))
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer; received batch_size=0"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match=r"validation_split must be in \(0, 1\); received 1.5"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(TypeError, match=r"fit: unexpected keyword argument\(s\) \['epoch'\]"):
        model.fit(x, y, epoch=2)


def test_targets_not_matching_the_output():
    model = _mlp()
    with pytest.raises(ValueError, match=re.escape(
            "Model 'sequential_1': target has shape (4, 1) but the model's output has shape (None, 2) (loss "
            "'categorical_crossentropy'). For integer class labels use loss='sparse_categorical_crossentropy'")):
        model.fit(np.ones((4, 4)), np.array([0, 1, 1, 0]), verbose=0)
    with pytest.raises(ValueError, match=re.escape("target has shape (4, 3) but the model's output has shape "
                                                   "(None, 2)")):
        model.evaluate(np.ones((4, 4)), np.ones((4, 3)), verbose=0)


def test_sparse_labels_out_of_range():
    model = Sequential([Dense(3, activation="softmax", input_dim=2)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\); received labels from 0 to 3"):
        model.train_on_batch(np.ones((2, 2)), np.array([0, 3]))


# ------------------------------------------------------------------- windows too large
def test_kernel_larger_than_input_with_the_channels_first_hint():
    model = Sequential()
    model.add(Conv2D(32, (3, 3), input_shape=(3, 100, 100)))  # a channels-first shape, read channels-last
    with pytest.raises(ValueError, match=re.escape(
            "Conv2D 'conv2d_2': input height 1 is smaller than the kernel height 3 (input shape "
            "(None, 1, 98, 32)).") + " " + HINT):
        model.add(Conv2D(32, (3, 3)))


def test_pool_larger_than_input_with_the_hint():
    model = Sequential([Conv2D(4, 3, input_shape=(3, 20, 20))])
    with pytest.raises(ValueError, match=re.escape(
            "MaxPooling2D 'max_pooling2d_1': input height 1 is smaller than the pool height 2 (input shape "
            "(None, 1, 18, 4)).") + " " + HINT):
        model.add(MaxPooling2D((2, 2)))


def test_window_too_large_when_called_on_data():
    with pytest.raises(ValueError, match=r"input width 2 is smaller than the kernel width 3.*" + HINT):
        Conv2D(2, 3)(np.ones((1, 5, 2, 1)))
    with pytest.raises(ValueError, match=r"input width 2 is smaller than the pool width 3"):
        MaxPooling2D(3)(np.ones((1, 5, 2, 1)))


def test_no_hint_when_already_channels_first():
    with pytest.raises(ValueError, match=r"input height 2 is smaller than the kernel height 3 \(input shape "
                                         r"\(None, 3, 2, 8\)\)\.$"):
        Sequential([Conv2D(4, 3, input_shape=(3, 2, 8), data_format="channels_first")])


def test_conv_needs_4d_input():
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d_1': expected a 4-D input .* received input shape "
                                         r"\(None, 10, 3\)"):
        Sequential([Conv2D(4, 3, input_shape=(10, 3))])


def test_wrong_channel_count_at_call_time():
    layer = Conv2D(2, 3)
    layer(np.ones((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d_1': expected 3 input channels \(channels_last\), "
                                         r"received input shape \(None, 5, 5, 4\)"):
        layer(np.ones((1, 5, 5, 4)))


def test_dense_wrong_input_width_at_call_time():
    layer = Dense(2)
    layer(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"Dense 'dense_1': expected inputs with last axis 3, received input "
                                         r"shape \(None, 4\)"):
        layer(np.ones((1, 4)))


# ------------------------------------------------------------------------ unknown names
def _known(*names):
    return r"Known .*" + r".*".join(re.escape(n) for n in sorted(names))


def test_unknown_loss():
    with pytest.raises(ValueError, match=r"Unknown loss: 'categorical_crossentropyy'\. Known losses: " +
                       _known("binary_crossentropy", "categorical_crossentropy", "mse")[len("Known "):]):
        _mlp(False).compile("sgd", "categorical_crossentropyy")


def test_unknown_optimizer():
    with pytest.raises(ValueError, match=r"Unknown optimizer: 'sgdd'\. Known optimizers: Adadelta, Adagrad, Adam, "
                                         r"AdamW, Adamax, Ftrl, Lion, Nadam, RMSprop, SGD, adadelta, adagrad, adam, "
                                         r"adamax, adamw, ftrl, lion, nadam, rmsprop, sgd\."):
        _mlp(False).compile("sgdd", "mse")


def test_unknown_metric():
    with pytest.raises(ValueError, match=r"Unknown metric: 'accuarcy'\. Known metrics: " +
                       _known("acc", "accuracy", "mse")[len("Known "):]):
        _mlp(False).compile("sgd", "mse", metrics=["accuarcy"])


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"Unknown activation: 'relu7'\. Known activations: " +
                       _known("linear", "relu", "relu6", "sigmoid", "softmax", "tanh")[len("Known "):]):
        Dense(2, activation="relu7")
    with pytest.raises(ValueError, match="Unknown activation"):
        activations.get("Relu")


def test_unknown_initializer():
    with pytest.raises(ValueError, match=r"Unknown initializer: 'glorot'\. Known initializers: " +
                       _known("glorot_uniform", "he_normal", "zeros")[len("Known "):]):
        Dense(2, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="Unknown initializer"):
        initializers.get("he")


def test_unknown_layer_class():
    with pytest.raises(ValueError, match=r"Unknown layer class 'Dense2'\. Known layers: .*Conv2D.*Dense.*custom_objects"):
        layers.deserialize({"class_name": "Dense2", "config": {}})


# ----------------------------------------------------------------------- model misuse
@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_using_a_model_before_compile(method):
    with pytest.raises(RuntimeError, match=re.escape(f"Model 'sequential_1': call compile(optimizer=..., "
                                                     f"loss=...) before {method}()")):
        getattr(_mlp(compile_it=False), method)(np.ones((2, 4)), np.ones((2, 2)))


def test_compile_without_loss():
    """compile() takes no loss (add_loss terms may be the loss, as in Keras); training without any
    loss says what is missing."""
    model = _mlp(False)
    model.compile("sgd")
    with pytest.raises(ValueError, match=r"Model 'sequential_\d+': no loss to compute: pass loss=\.\.\. to "
                                         r"compile\(\), or add loss terms with add_loss\(\)"):
        model.train_on_batch(np.ones((2, 4), "float32"), np.ones((2, 2), "float32"))


def test_adding_a_non_layer():
    with pytest.raises(TypeError, match="Sequential.add: expected a Layer instance; received 'dense'"):
        Sequential().add("dense")


def test_input_layer_must_come_first():
    model = Sequential([Dense(2, input_dim=2)])
    with pytest.raises(ValueError, match="an InputLayer can only be the first layer"):
        model.add(InputLayer(input_shape=(2,)))


def test_model_without_input_shape_cannot_build():
    with pytest.raises(ValueError, match=r"Sequential 'sequential_1': the input shape is unknown"):
        Sequential([Dense(2)]).build()


# ------------------------------------------------------------------- constructor args
@pytest.mark.parametrize("make,error,message", [
    (lambda: Conv2D(0, 3), ValueError,
     r"Invalid value for argument `filters` of Conv2D 'conv2d_1'\. Expected a strictly positive integer\. "
     r"Received filters=0"),
    (lambda: Dense(-1), ValueError, r"argument `units` of Dense 'dense_1'.*Received units=-1"),
    (lambda: Dense(2.5), ValueError, r"Received units=2.5"),
    (lambda: Dropout(1.5), ValueError, r"Dropout 'dropout_1': argument `rate` must be in the range \[0, 1\); "
                                       r"received rate=1.5"),
    (lambda: Dropout(-0.1), ValueError, r"received rate=-0.1"),
    (lambda: Dropout("half"), TypeError, r"argument `rate` must be a number; received rate='half'"),
    (lambda: Conv2D(2, 3, padding="full"), ValueError,
     r"Conv2D 'conv2d_1': argument `padding` must be one of \('valid', 'same'\); received padding='full'"),
    (lambda: MaxPooling2D(padding="causal"), ValueError, r"received padding='causal'"),
    (lambda: Conv2D(2, (3, 3, 3)), ValueError,
     r"Conv2D 'conv2d_1': argument `kernel_size` must be an int or a tuple of 2 ints; received "
     r"kernel_size=\(3, 3, 3\)"),
    (lambda: Conv2D(2, 3, strides=0), ValueError, r"argument `strides` must hold strictly positive ints; "
                                                  r"received strides=0"),
    (lambda: MaxPooling2D(pool_size=(2,)), ValueError, r"argument `pool_size` must be an int or a tuple of 2 "
                                                       r"ints; received pool_size=\(2,\)"),
    (lambda: Conv2D(2, None), TypeError, r"argument `kernel_size` must be an int or a tuple of 2 ints"),
    (lambda: Conv2D(2, 3, data_format="channels_middle"), ValueError,
     r"argument `data_format` must be 'channels_last' or 'channels_first'; received "
     r"data_format='channels_middle'"),
    (lambda: Dense(3, foo=1), TypeError, r"Dense: unexpected keyword argument\(s\) \['foo'\]"),
    (lambda: Dense(3, kernel_regularizer=0.01), TypeError,
     r"regularizer must be None, a name, a config dict or a callable; received 0.01"),
    (lambda: InputLayer(), ValueError, r"InputLayer: give `input_shape`"),
])
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_backend_settings():
    with pytest.raises(ValueError, match=r"expected 'channels_last' or 'channels_first'; received 'th'"):
        K.set_image_data_format("th")
    with pytest.raises(ValueError, match=r"set_image_dim_ordering: expected 'tf' or 'th'; received 'channels_first'"):
        K.set_image_dim_ordering("channels_first")
    with pytest.raises(ValueError, match=r"set_floatx: expected .*; received 'float8'"):
        K.set_floatx("float8")


def test_bad_optimizer_arguments():
    from kerasette.optimizers import SGD

    with pytest.raises(ValueError, match=r"SGD: argument `learning_rate` must be >= 0; received learning_rate=-0.1"):
        SGD(learning_rate=-0.1)
    with pytest.raises(ValueError, match=r"SGD: argument `momentum` must be in \[0, 1\]; received momentum=1.5"):
        SGD(momentum=1.5)
    with pytest.raises(TypeError, match=r"SGD: unexpected keyword argument\(s\) \['nesterov_momentum'\]"):
        SGD(nesterov_momentum=True)


def test_to_categorical_errors():
    with pytest.raises(ValueError, match="label 3 does not fit num_classes=3"):
        to_categorical([0, 3], 3)
    with pytest.raises(ValueError, match="labels must be >= 0; received -1"):
        to_categorical([-1, 2])
    with pytest.raises(ValueError, match="labels must be integers"):
        to_categorical([0.5, 1])
