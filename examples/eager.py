"""Eager execution: operations compute at once, and a tensor shows its values.

Run:  python examples/eager.py
"""

import numpy as np

import kerasette.backend as K

a = K.constant([[1, 2], [3, 4]])
print(a)  # the values, shape (2, 2) and dtype
b = a @ a.T + 1
print(b)
print(K.softmax(b))
print(np.asarray(K.sum(b, axis=0)))
