from keras.wrappers.scikit_learn import KerasClassifier  # noqa: F401
