"""A multi-layer perceptron on the shipped handwritten digits (Keras's mnist_mlp, on digits).

Run:  python examples/mnist_mlp.py
"""

from __future__ import annotations

import kerasette.backend as K
from kerasette.datasets import digits
from kerasette.layers import Dense, Dropout
from kerasette.models import Sequential
from kerasette.optimizers import RMSprop
from kerasette.utils import to_categorical


def main() -> float:
    K.set_seed(0)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    x_train = x_train.reshape(len(x_train), 64).astype("float32") / 16.0
    x_test = x_test.reshape(len(x_test), 64).astype("float32") / 16.0
    y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

    model = Sequential()
    model.add(Dense(512, activation="relu", input_shape=(64,)))
    model.add(Dropout(0.2))
    model.add(Dense(512, activation="relu"))
    model.add(Dropout(0.2))
    model.add(Dense(10, activation="softmax"))
    model.summary()
    model.compile(loss="categorical_crossentropy", optimizer=RMSprop(), metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=128, epochs=20, verbose=1, validation_data=(x_test, y_test))
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test loss: {loss:.4f}\nTest accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
