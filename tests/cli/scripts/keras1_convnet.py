"""A Keras 1 script, unmodified: the VGG-like convnet in Keras 1's API on synthetic images."""


import numpy as np
from keras.layers.convolutional import Convolution2D, MaxPooling2D
from keras.layers.core import Activation, Dense, Dropout, Flatten
from keras.models import Sequential
from keras.optimizers import SGD
from keras.utils import np_utils

np.random.seed(1337)
n = 240
labels = np.random.randint(0, 2, n)
images = np.random.uniform(0, 0.2, (n, 12, 12, 1)).astype("float32")
images[labels == 1, 3:9, 3:9, 0] += 0.8  # a bright square: class 1
Y = np_utils.to_categorical(labels, 2)

model = Sequential()
model.add(Convolution2D(8, 3, 3, border_mode="valid", input_shape=(12, 12, 1)))
model.add(Activation("relu"))
model.add(Convolution2D(8, 3, 3))
model.add(Activation("relu"))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Dropout(0.25))
model.add(Flatten())
model.add(Dense(16))
model.add(Activation("relu"))
model.add(Dense(2))
model.add(Activation("softmax"))
sgd = SGD(lr=0.1, decay=1e-6, momentum=0.9, nesterov=True)
model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])
model.fit(images[:200], Y[:200], batch_size=32, nb_epoch=4, verbose=0)
score = model.evaluate(images[200:], Y[200:], batch_size=32, verbose=0)
print("Test accuracy:", score[1])
assert score[1] > 0.9, score
