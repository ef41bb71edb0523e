"""A Keras 2 script, unmodified: trains a small classifier on synthetic, learnable data."""

import sys

import numpy as np
from keras.layers import Dense, Dropout
from keras.models import Sequential
from keras.optimizers import SGD
from keras.utils import to_categorical
from tensorflow import keras

rng = np.random.RandomState(0)
x = rng.normal(size=(600, 20)).astype("float32")
w = rng.normal(size=(20, 3))
y = to_categorical(np.argmax(x @ w, axis=1), num_classes=3)

model = Sequential()
model.add(Dense(64, activation="relu", input_shape=(20,)))
model.add(Dropout(0.2))
model.add(Dense(3, activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.1, momentum=0.9), metrics=["accuracy"])
history = model.fit(x[:500], y[:500], epochs=int(sys.argv[1]), batch_size=32, verbose=0,
                    validation_data=(x[500:], y[500:]))
loss, acc = model.evaluate(x[500:], y[500:], verbose=0)
print(f"keras {keras.__version__} accuracy {acc:.3f}")
sys.exit(0 if acc > 0.8 else 3)
