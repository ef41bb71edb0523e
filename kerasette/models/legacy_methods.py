"""Keras 1/2 training methods kept for old scripts: ``fit_generator``, ``evaluate_generator``,
``predict_generator``, ``predict_proba`` and ``predict_classes``, each a few lines over the
`Trainer`'s own ``fit``, ``evaluate`` and ``predict``."""

from __future__ import annotations

import warnings

import numpy as np

from kerasette.models import batches
from kerasette.models.arguments import no_more_arguments


def fit_generator(trainer, generator, steps_per_epoch=None, epochs=1, verbose=1, callbacks=None,
                  validation_data=None, validation_steps=None, class_weight=None, max_queue_size=10,
                  workers=1, use_multiprocessing=False, shuffle=True, initial_epoch=0, **keras1):
    """Keras 1/2's ``fit_generator``: `fit` on a generator or Sequence. Keras 1's names
    (``samples_per_epoch``, ``nb_epoch``, ``nb_val_samples``, ``nb_worker``, ``pickle_safe``,
    ``max_q_size``) are translated with a `DeprecationWarning`."""
    renames = {"nb_epoch": "epochs", "nb_worker": "workers", "pickle_safe": "use_multiprocessing",
               "max_q_size": "max_queue_size"}
    samples = keras1.pop("samples_per_epoch", None)
    val_samples = keras1.pop("nb_val_samples", None)
    given = {"epochs": epochs, "workers": workers, "use_multiprocessing": use_multiprocessing,
             "max_queue_size": max_queue_size}
    for old, new in renames.items():
        if old in keras1:
            given[new] = keras1.pop(old)
    no_more_arguments("fit_generator", keras1)
    if samples is not None or val_samples is not None:
        warnings.warn("fit_generator: samples_per_epoch and nb_val_samples are Keras 1 names; use "
                      "steps_per_epoch and validation_steps", DeprecationWarning, stacklevel=3)
    if val_samples is not None and batches.is_batch_source(validation_data):
        validation_data = batches.SampleLimited(validation_data, int(val_samples))
    return trainer.fit(generator, steps_per_epoch=steps_per_epoch, epochs=given["epochs"], verbose=verbose,
                    callbacks=callbacks, validation_data=validation_data, validation_steps=validation_steps,
                    class_weight=class_weight, workers=given["workers"],
                    use_multiprocessing=given["use_multiprocessing"], max_queue_size=given["max_queue_size"],
                    shuffle=shuffle, initial_epoch=initial_epoch, samples_per_epoch=samples)


def _keras1_source(generator, keras1: dict, method: str):
    """The generator, limited to Keras 1's ``val_samples`` when given; Keras 1's worker names dropped."""
    if "val_samples" in keras1:
        generator = batches.SampleLimited(generator, int(keras1.pop("val_samples")))
    for old in ("nb_worker", "pickle_safe", "max_q_size"):
        keras1.pop(old, None)
    no_more_arguments(method, keras1)
    return generator


def evaluate_generator(trainer, generator, steps=None, max_queue_size=10, workers=1, use_multiprocessing=False,
                       verbose=0, **keras1):
    """Keras 1/2's ``evaluate_generator``: `evaluate` on a generator or Sequence (Keras 1:
    ``val_samples``)."""
    return trainer.evaluate(_keras1_source(generator, keras1, "evaluate_generator"), steps=steps, verbose=verbose,
                            workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)


def predict_generator(trainer, generator, steps=None, max_queue_size=10, workers=1, use_multiprocessing=False,
                      verbose=0, **keras1):
    """Keras 1/2's ``predict_generator``: `predict` on a generator or Sequence (Keras 1:
    ``val_samples``)."""
    return trainer.predict(_keras1_source(generator, keras1, "predict_generator"), steps=steps, verbose=verbose,
                           workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)


def predict_proba(trainer, x, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
    """Keras 1/2: the predicted probabilities, i.e. `predict`'s output (one output only).

    Warns, as Keras does, when the values are not in [0, 1] (the last layer is then not a
    softmax or sigmoid).
    """
    preds = _single_output_predict(trainer, "predict_proba", x, batch_size, verbose)
    if preds.size and (preds.min() < 0.0 or preds.max() > 1.0):
        warnings.warn(f"Model '{trainer.model.name}': predict_proba: the network returns values outside [0, 1]; "
                      "its last layer might not normalize predictions into probabilities (like "
                      "softmax or sigmoid would)", stacklevel=2)
    return preds


def predict_classes(trainer, x, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
    """Keras 1/2: the predicted classes (one output only).

    Returns:
        The arg-max over the last axis when the output has several columns; for a single
        column, ``(p > 0.5)`` as int32, keeping the column (shape ``(n, 1)``), as Keras does.
    """
    proba = _single_output_predict(trainer, "predict_classes", x, batch_size, verbose)
    if proba.shape[-1] > 1:
        return proba.argmax(axis=-1)
    return (proba > 0.5).astype("int32")


def _single_output_predict(trainer, method: str, x, batch_size, verbose) -> np.ndarray:
    if len(trainer.model.output_names) != 1:
        raise ValueError(f"Model '{trainer.model.name}': {method}() needs a model with one output; this one has "
                         f"{len(trainer.model.output_names)} outputs {trainer.model.output_names}. Use predict() instead.")
    return trainer.predict(x, batch_size=batch_size, verbose=verbose)
