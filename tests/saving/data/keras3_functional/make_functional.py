"""How functional.h5, functional.weights.h5 and functional.npz were made (for the record).

Run once with Keras 3.15.1, torch 2.13.0+cpu (KERAS_BACKEND=torch), h5py 3.16.0, numpy 2.4.6:
``python make_functional.py`` in this folder. Not part of the test suite (it needs Keras).
"""

import os

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import numpy as np  # noqa: E402

keras.backend.clear_session()
keras.utils.set_random_seed(1234)
image = keras.Input(shape=(8, 8, 3), name="image")
meta = keras.Input(shape=(5,), name="meta")
h = keras.layers.Conv2D(4, (3, 3), activation="relu")(image)
h = keras.layers.MaxPooling2D((2, 2))(h)
h = keras.layers.Flatten()(h)
h = keras.layers.Dense(6, activation="relu")(h)
g = keras.layers.Dense(6, activation="tanh")(meta)
s = keras.layers.Add()([h, g])
c = keras.layers.Concatenate()([s, g])
out = keras.layers.Dense(3, activation="softmax")(keras.layers.Dropout(0.2)(c))
model = keras.Model([image, meta], out)
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9), loss="categorical_crossentropy",
              metrics=["accuracy"])
rng = np.random.RandomState(1234)
x_train = [rng.uniform(-1, 1, (8, 8, 8, 3)).astype("float32"), rng.uniform(-1, 1, (8, 5)).astype("float32")]
y_train = np.eye(3, dtype="float32")[rng.randint(0, 3, 8)]
model.train_on_batch(x_train, y_train)
x = [rng.uniform(-1, 1, (4, 8, 8, 3)).astype("float32"), rng.uniform(-1, 1, (4, 5)).astype("float32")]
model.save("functional.h5")
np.savez("functional.npz", x_image=x[0], x_meta=x[1], y=model.predict(x, verbose=0))
model.save_weights("functional.weights.h5")
print(keras.__version__)
