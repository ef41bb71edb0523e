"""A small residual convnet on the shipped digits, built with the functional API.

Run:  python examples/residual_digits.py
"""

from __future__ import annotations

import kerasette.backend as K
from kerasette.datasets import digits
from kerasette.layers import Add, Conv2D, Dense, Flatten, Input, MaxPooling2D
from kerasette.models import Model
from kerasette.optimizers import SGD
from kerasette.utils import to_categorical


def build_model() -> Model:
    inp = Input(shape=(8, 8, 1))
    y = Conv2D(16, (3, 3), padding="same", activation="relu")(inp)
    y = Add()([y, Conv2D(16, (3, 3), padding="same", activation="relu")(y)])  # residual connection
    y = MaxPooling2D((2, 2))(y)
    out = Dense(10, activation="softmax")(Flatten()(y))
    return Model(inputs=inp, outputs=out)


def main(epochs: int = 10) -> float:
    K.set_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train = x_train[..., None].astype("float32") / 16.0
    x_test = x_test[..., None].astype("float32") / 16.0
    model = build_model()
    model.summary()
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"],
                  optimizer=SGD(learning_rate=0.05, momentum=0.9, nesterov=True))
    model.fit(x_train, to_categorical(y_train, 10), batch_size=32, epochs=epochs, validation_split=0.1)
    loss, accuracy = model.evaluate(x_test, to_categorical(y_test, 10), verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
