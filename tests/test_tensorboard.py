"""The TensorBoard callback's event files, read back with TensorBoard's own event reader."""

from __future__ import annotations

import numpy as np
import pytest

from kerasette.callbacks import TensorBoard
from kerasette.layers import Dense
from kerasette.models import Sequential

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def _read(folder):
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def test_scalars_histograms_and_batch_updates_are_what_tensorboard_reads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[(x[:, 0] > 0).astype(int)]
    model = Sequential([Dense(4, activation="relu", input_dim=3, name="hidden"), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=10, epochs=3, validation_split=0.25, verbose=0,
                        callbacks=[TensorBoard(tmp_path, histogram_freq=2, update_freq=2)])
    train, validation = _read(tmp_path / "train"), _read(tmp_path / "validation")
    losses = [event.value for event in train.Scalars("epoch_loss")]
    np.testing.assert_allclose(losses, history.history["loss"], rtol=1e-6)
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2]
    np.testing.assert_allclose([e.value for e in validation.Scalars("epoch_accuracy")],
                               history.history["val_accuracy"], rtol=1e-6)
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx([0.01] * 3)
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8]  # 3 batches an epoch, every 2nd
    histograms = train.Tags()["histograms"]
    assert "hidden/kernel" in histograms
    assert [h.step for h in train.Histograms("hidden/kernel")] == [0, 2]
    assert train.Histograms("hidden/kernel")[-1].histogram_value.num == 12


def test_unsupported_options_are_named():
    with pytest.raises(ValueError, match=r"TensorBoard: argument `write_images` is not supported by kerasette; "
                                         r"received write_images=True"):
        TensorBoard(write_images=True)
    with pytest.raises(ValueError, match=r"argument `update_freq` must be 'epoch', 'batch' or a positive int; "
                                         r"received update_freq=0"):
        TensorBoard(update_freq=0)
