"""Graph mode, as TensorFlow 1 taught it: variables, a placeholder, a function run with values.

Builds h = ReLU(x W + b) on a placeholder, runs it, and asks for the gradients of sum(h).
Run:  python examples/graph_mode.py
"""

import numpy as np

import kerasette.backend as K

b = K.variable(np.zeros((100,)))
W = K.variable(np.random.uniform(-1, 1, (784, 100)))
x = K.placeholder(shape=(None, 784))
h = K.relu(K.dot(x, W) + b)
print(h)  # a symbolic tensor: name, shape (None, 100), dtype

f = K.function([x], [h])
out = f([np.random.random((64, 784))])[0]
print("h:", out.shape)

grads = K.function([x], K.gradients(K.sum(h), [W, b]))([np.random.random((64, 784))])
print("d sum(h) / dW:", grads[0].shape, " d sum(h) / db:", grads[1].shape)
