"""Augmentation made by a data worker of ``fit`` stays in that worker's thread: the training
steps running at the same time use the thread pool, and a chunk of augmentation queued there
would hold a step up (see `kerasette.preprocessing.image._resample`)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kerasette.backend import parallel
from kerasette.backend.kernels import affine
from kerasette.preprocessing.image import ImageDataGenerator


@pytest.mark.parametrize("order", [1, 3])
def test_serial_and_threaded_resampling_agree(order):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 30, 30, 3)).astype("float32")
    m = np.tile(np.array([[0.9, 0.2, 1.0], [-0.2, 1.1, -2.0]]), (6, 1, 1))
    np.testing.assert_array_equal(affine.resample_batch(x, m, order, "reflect", threaded=False),
                                  affine.resample_batch(x, m, order, "reflect", threaded=True))


def test_a_worker_threads_batch_does_not_use_the_pool(monkeypatch):
    calls = []
    real = parallel.map_chunks

    def counting(fn, n, *args, **kwargs):
        calls.append(threading.current_thread().name)
        return real(fn, n, *args, **kwargs)

    monkeypatch.setattr(affine.parallel, "map_chunks", counting)
    before = parallel.num_threads()
    parallel.set_num_threads(2)
    try:
        x = np.random.default_rng(1).uniform(0, 255, (64, 32, 32, 3)).astype("float32")
        it = ImageDataGenerator(rotation_range=20, zoom_range=0.1).flow(x, batch_size=64, seed=3)
        in_main = it[0]
        assert calls == [threading.main_thread().name]  # the main thread splits a big batch over the pool
        results = {}
        worker = threading.Thread(target=lambda: results.update(batch=it[0]), name="data-worker")
        worker.start()
        worker.join()
        assert calls == [threading.main_thread().name]  # the worker resampled alone
        np.testing.assert_array_equal(results["batch"], in_main)  # same batch either way
    finally:
        parallel.set_num_threads(before)
