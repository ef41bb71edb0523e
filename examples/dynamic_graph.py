"""A dynamically built graph and back-propagation with .backward(), as in PyTorch.

One step of a vanilla RNN cell; the gradient lands in .grad of each variable.
Run:  python examples/dynamic_graph.py
"""

import numpy as np

import kerasette.backend as K

x = K.variable(np.random.randn(1, 10))
prev_h = K.variable(np.random.randn(1, 20))
W_h = K.variable(np.random.randn(20, 20))
W_x = K.variable(np.random.randn(20, 10))

next_h = K.tanh(K.dot(W_x, K.transpose(x)) + K.dot(W_h, K.transpose(prev_h)))
next_h.backward(K.ones((20, 1)))
print("d sum(next_h) / dW_x:", W_x.grad.shape)
print(W_x.grad[:2, :4])
