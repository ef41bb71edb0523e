"""The training loop, composed into every model: compile / fit / evaluate / predict.

A `Trainer` belongs to one model and reads from it only ``name``, ``input_shapes`` /
``output_shapes`` (batch axis first, None where unknown), ``output_names``, ``trainable_weights``,
``losses`` (regularization and `add_loss` terms) and ``call_graph(inputs, training)``, which maps a list of input
tensors to a list of output tensors. `fit` is a short loop over batches around one `train_step`.
"""

from __future__ import annotations

import contextlib

import numpy as np

from kerasette import callbacks as cbks
from kerasette import losses as klosses
from kerasette import metrics as kmetrics
from kerasette import optimizers as koptimizers
from kerasette.backend import autograd, ops
from kerasette.backend.config import floatx
from kerasette.backend.tensor import Tensor, enable_grad, no_grad
from kerasette.callbacks.progbar import format_value
from kerasette.models import batches
from kerasette.models import data as mdata
from kerasette.models.arguments import (
    check_validation_freq,
    no_more_arguments,
    spec_per_output,
    unique_names,
    validates,
)


class Trainer:
    """compile / fit / evaluate / predict and the *_on_batch methods of ``model``."""

    def __init__(self, model):
        self.model = model
        self.optimizer = None
        self.loss = None
        self.loss_weights = None
        self.compiled = False
        self.stop_training = False
        self.history = None

    # -- setup -------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs):
        """Chooses the optimizer, the loss (per output) and the metrics.

        Args:
            optimizer: a name (``'sgd'``, ``'adam'``, ``'rmsprop'``) or an Optimizer.
            loss: a name (``'categorical_crossentropy'``, ``'mse'``, ...) or callable; a list or
                dict (by output layer name) for several outputs.
            metrics: a list of names, `Metric` objects or callables. ``'accuracy'``/``'acc'`` is
                chosen from the shapes of targets and predictions, as Keras 3 does (see
                `kerasette.metrics.accuracy_for`).
            loss_weights: weights of each output's loss in the total (default 1 each).
            weighted_metrics: metrics that take the sample weights of ``fit``/``evaluate`` into
                account (logged as ``weighted_<name>`` when ``metrics`` has the same name).

        With several outputs, the logs and `metrics_names` also hold each output's own
        (unweighted) loss as ``<output>_loss``, after ``'loss'``, as in Keras 2. Output names
        that repeat (one layer giving two outputs) are made unique for these keys as tf.keras
        does: ``dense``, ``dense_1``, ``dense_2``.
        """
        kwargs.pop("sample_weight_mode", None)
        weighted = list(kwargs.pop("weighted_metrics", None) or [])
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s) {sorted(kwargs)}")
        self.optimizer = koptimizers.get(optimizer)
        names = self.model.output_names
        self.loss = loss
        # None (Keras): no loss for that output; the model's add_loss terms may be the whole loss
        self._loss_fns = [None if spec is None else klosses.get(spec) for spec in spec_per_output(loss, names, "loss")]
        weights = spec_per_output(loss_weights if loss_weights is not None else 1.0, names, "loss_weights")
        self.loss_weights = [float(w) for w in weights]
        self.metrics_names_requested = list(metrics or [])
        self.weighted_metrics_requested = weighted
        self._log_output_names = unique_names(names)
        self._resolve_metrics()
        self.compiled = True

    def _resolve_metrics(self) -> None:
        """Makes ``self._metrics``: (log name, output index, `Metric` object) for each output and
        metric; a function becomes the mean of its values over the epoch."""
        names = self._log_output_names
        self._metrics = []
        self._weighted = set()
        plain = {kmetrics.get(spec)[0] for spec in self.metrics_names_requested}
        for i, out_name in enumerate(names):
            for spec, weighted in [(m, False) for m in self.metrics_names_requested] + \
                    [(m, True) for m in self.weighted_metrics_requested]:
                name, _ = kmetrics.get(spec)
                if weighted and name in plain:
                    name = f"weighted_{name}"
                log_name = name if len(names) == 1 else f"{out_name}_{name}"
                self._metrics.append((log_name, i, kmetrics.as_metric_object(spec, name)))
                if weighted:
                    self._weighted.add(log_name)
        self._metric_names = {name for name, _, _ in self._metrics}

    def reset_metrics(self) -> None:
        """Starts every metric afresh (at each epoch, and before evaluating)."""
        for _, _, metric in getattr(self, "_metrics", []):
            metric.reset_state()

    def compile_config(self) -> dict | None:
        """What ``compile`` was given, or None before it was called."""
        if not self.compiled:
            return None
        return {"optimizer": self.optimizer, "loss": self.loss, "metrics": list(self.metrics_names_requested),
                "weighted_metrics": list(self.weighted_metrics_requested), "loss_weights": list(self.loss_weights)}

    @property
    def metrics_names(self) -> list[str]:
        """``'loss'``, each output's loss (several outputs only), then the metrics, as logged."""
        return ["loss"] + self._output_loss_names() + [name for name, _, _ in getattr(self, "_metrics", [])]

    def _output_loss_names(self) -> list[str]:
        names = getattr(self, "_log_output_names", [])
        return [f"{name}_loss" for name in names] if len(names) > 1 else []

    def _require_compiled(self, method: str) -> None:
        if not self.compiled:
            raise RuntimeError(
                f"Model '{self.model.name}': call compile(optimizer=..., loss=...) before {method}()"
            )

    # -- one step ----------------------------------------------------------------------------
    def _prepare(self, x, y=None, kind="input"):
        self.model.build_from_data(x)
        xs = mdata.check_arrays(self.model.name, "input", mdata.as_list(x), self.model.input_shapes)
        xs = [np.ascontiguousarray(a, dtype=floatx()) for a in xs]
        if y is None:  # no targets: enough when no output has a loss (add_loss terms only)
            return xs, ([] if not any(getattr(self, "_loss_fns", [None])) else None)
        ys = [np.asarray(a) for a in mdata.as_list(y)]
        if len(ys) != len(self.model.output_names):
            raise ValueError(f"Model '{self.model.name}' has {len(self.model.output_names)} output(s); received "
                             f"{len(ys)} target array(s)")
        kinds = [klosses.target_kind(fn) if fn is not None else None for fn in self._loss_fns]
        ys = [a if kind == "sparse" else np.asarray(a, dtype=floatx()) for a, kind in zip(ys, kinds)]
        ys = mdata.check_targets(self.model.name, ys, self.model.output_shapes,
                                 [getattr(fn, "name", None) or (fn and klosses.serialize(fn)) for fn in self._loss_fns],
                                 kinds)
        return xs, ys

    def _losses(self, ys, outputs, sample_weight=None) -> tuple[Tensor, list[Tensor]]:
        """The total (weighted) loss and each output's own (unweighted by ``loss_weights``) mean
        loss. Sample weights scale each sample's loss, and the mean is over the batch (Keras 3's
        ``sum_over_batch_size``). An output with a mask (a sequence model fed by
        ``Embedding(mask_zero=True)`` or ``Masking``) counts only its unmasked steps, as Keras 3
        does (see `kerasette.losses.reduce_values`)."""
        total, per_output = None, []
        for fn, weight, y, out in zip(self._loss_fns, self.loss_weights, ys, outputs):
            if fn is None:
                per_output.append(Tensor(np.zeros((), out.dtype)))
                continue
            values = klosses.per_sample(fn)(Tensor(y), out)
            reduction = getattr(fn, "reduction", "sum_over_batch_size")
            value = klosses.reduce_values(values, sample_weight, "sum_over_batch_size" if reduction == "none"
                                          else reduction, getattr(out, "_keras_mask", None))
            per_output.append(value)
            if weight != 1.0:
                value = ops.multiply(value, np.asarray(weight, dtype=value.dtype))
            total = value if total is None else ops.add(total, value)
        for term in self.model.losses:  # regularization of the weights and add_loss terms (Keras: in the logged loss too)
            total = term if total is None else ops.add(total, term)
        if total is None:
            raise ValueError(f"Model '{self.model.name}': no loss to compute: pass loss=... to compile(), or add "
                             "loss terms with add_loss()")
        return total, per_output

    def _loss_logs(self, total: Tensor, per_output: list[Tensor]) -> dict[str, float]:
        logs = {"loss": float(total.data)}
        logs.update({name: float(v.data) for name, v in zip(self._output_loss_names(), per_output)})
        return logs

    def _metric_values(self, ys, outputs, sample_weight=None) -> dict:
        """Adds the batch to every metric (with the sample weights for weighted metrics, and the
        output's mask for the metrics that apply one, as Keras 3 does); returns their results so
        far."""
        logs = {}
        if not ys:  # no targets to measure against (a model trained on add_loss terms only)
            return logs
        for name, i, metric in self._metrics:
            weight = sample_weight if name in self._weighted else None
            mask = getattr(outputs[i], "_keras_mask", None)
            if mask is not None and getattr(metric, "applies_mask", False):
                metric.update_state(ys[i], outputs[i].data, weight, mask=mask)
            else:
                metric.update_state(ys[i], outputs[i].data, weight)
            result = metric.result()
            logs[name] = float(result) if np.ndim(result) == 0 else np.asarray(result)
        return logs

    def _accumulate(self, totals: dict, logs: dict, size: int) -> None:
        """Sums the losses weighted by batch size; keeps the metrics' latest (running) results."""
        for k, v in logs.items():
            if k in self._metric_names:
                totals[k] = v
            else:
                totals[k] = totals.get(k, 0.0) + v * size

    def _means(self, totals: dict, n: int) -> dict:
        return {k: (v if k in self._metric_names else v / max(n, 1)) for k, v in totals.items()}

    def train_step(self, xs: list[np.ndarray], ys: list[np.ndarray], sample_weight=None) -> dict[str, float]:
        """Forward, loss, backward and one optimizer update on one batch; returns its logs."""
        variables = self.model.trainable_weights
        optimizer = self.optimizer
        if isinstance(optimizer, koptimizers.Optimizer):
            optimizer.build(variables)  # its state before the step's temporaries (see `Optimizer.build`)
        with enable_grad():
            outputs = self.model.call_graph([Tensor(x) for x in xs], training=True)
            loss, per_output = self._losses(ys, outputs, sample_weight)
        # An optimizer may watch each gradient become final: a DistributedOptimizer starts its
        # allreduce; a plain one updates the variable then and there (`StreamedStep`), so that no
        # gradient outlives its use (32 MB for the 100x100 convnet's dense kernel).
        hook = getattr(optimizer, "gradient_ready_hook", None)
        streamed = optimizer.streamed_step(variables) if hook is None and isinstance(optimizer, koptimizers.Optimizer) else None
        if streamed is not None:
            autograd.stream_gradients(loss, variables, streamed.ready)
            streamed.finish()
        else:
            # gradients straight from the backward pass (no copy into each `.grad`); None for
            # variables the loss does not reach
            grads = autograd.gradients_or_none(loss, variables, None if hook is None else hook(variables))
            optimizer.apply_gradients(list(zip(grads, variables)))
        logs = self._loss_logs(loss, per_output)
        logs.update(self._metric_values(ys, outputs, sample_weight))
        return logs

    def test_step(self, xs, ys, sample_weight=None) -> dict[str, float]:
        with no_grad():
            outputs = self.model.call_graph([Tensor(x) for x in xs], training=False)
            loss, per_output = self._losses(ys, outputs, sample_weight)
        logs = self._loss_logs(loss, per_output)
        logs.update(self._metric_values(ys, outputs, sample_weight))
        return logs

    # -- loops -------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            nb_epoch=None, sample_weight=None, class_weight=None, steps_per_epoch=None,
            validation_steps=None, workers=None, use_multiprocessing=None, max_queue_size=None,
            samples_per_epoch=None, validation_freq=1, **kwargs):
        """Trains for ``epochs`` epochs (Keras 1: ``nb_epoch``); returns a `History`.

        ``x`` holds arrays (with ``y``), or is a source of batches ``(x, y)``/``(x, y,
        sample_weight)``: a generator or iterable (``steps_per_epoch`` batches an epoch; Keras
        1: ``samples_per_epoch`` samples), or a `kerasette.utils.Sequence` (``workers``,
        ``use_multiprocessing``, ``max_queue_size`` prepare its batches ahead). ``sample_weight``
        (one weight per sample) and ``class_weight`` (``{class: weight}``, one output only) scale
        each sample's loss; ``validation_data`` may be ``(x, y)``, ``(x, y, sample_weight)`` or a
        source of batches (``validation_steps`` of them).

        Example:
            >>> # model.fit(x_train, y_train, batch_size=32, epochs=2, validation_split=0.1)
        """
        no_more_arguments("fit", kwargs)
        self._validation_freq = check_validation_freq(validation_freq)
        if nb_epoch is not None:
            epochs = nb_epoch
        self._require_compiled("fit")
        batch_size = mdata.check_batch_size(batch_size)
        workers_args = {"workers": workers, "use_multiprocessing": use_multiprocessing,
                        "max_queue_size": max_queue_size}
        if batches.is_batch_source(x):
            train = batches.batches_for(x, "fit", self._batch_preparer("fit", class_weight), steps_per_epoch,
                                        shuffle=shuffle, samples=samples_per_epoch, **workers_args)
            val = None if validation_data is None else self._validation_batches(validation_data, validation_steps,
                                                                               batch_size, workers_args)
            return self._fit_loop(train, val, batch_size, epochs, verbose, callbacks, initial_epoch)
        xs, ys = self._prepare(x, y)
        n = mdata.check_lengths(xs, ys)
        sw = mdata.sample_weights(sample_weight, class_weight, ys, n)
        val = None
        if validation_data is not None:
            val = self._validation_batches(validation_data, validation_steps, batch_size, workers_args)
        elif validation_split:
            extra = [sw] if sw is not None else []
            (kept, held) = mdata.split_validation(xs + ys + extra, validation_split)
            k = len(xs) + len(ys)
            xs, ys, sw = kept[: len(xs)], kept[len(xs):k], (kept[k] if extra else None)
            val = batches.ArrayBatches(held[: len(xs)], held[len(xs):k], held[k] if extra else None,
                                       mdata.batch_slices(len(held[0]), batch_size), shuffle=False)
        train = batches.ArrayBatches(xs, ys, sw, self.batch_slices(len(xs[0]), batch_size), shuffle=bool(shuffle))
        return self._fit_loop(train, val, batch_size, epochs, verbose, callbacks, initial_epoch)

    def _validation_batches(self, data, steps, batch_size, workers_args):
        if batches.is_batch_source(data):
            return batches.batches_for(data, "fit: validation_data", self._batch_preparer("fit: validation_data"),
                                       steps, **workers_args)
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError("fit: validation_data must be (x, y), (x, y, sample_weight) or a source of batches; "
                             f"received {type(data).__name__}")
        vx, vy = self._prepare(data[0], data[1])
        vn = mdata.check_lengths(vx, vy)
        vsw = mdata.sample_weights(data[2] if len(data) > 2 else None, None, vy, vn)
        return batches.ArrayBatches(vx, vy, vsw, mdata.batch_slices(vn, batch_size), shuffle=False)

    def _batch_preparer(self, what: str, class_weight=None, with_targets: bool = True):
        """Checks and converts one batch from a generator or Sequence, as `_prepare` does arrays."""

        def prepare(batch):
            x, y, sw = batches.split_batch(batch, what, with_targets)
            xs, ys = self._prepare(x, y)
            if ys is None:
                return xs, None, None
            n = mdata.check_lengths(xs, ys)
            return xs, ys, mdata.sample_weights(sw, class_weight, ys, n)

        return prepare

    def _fit_loop(self, train, val, batch_size, epochs, verbose, callbacks, initial_epoch):
        history = cbks.History()
        cb_list = list(callbacks or []) + [history]  # History last, as in Keras: it sees the final logs
        if verbose:
            cb_list.append(cbks.ProgbarLogger(verbose))
        metrics = self.metrics_names
        if val is not None:  # as Keras 2 lists them: the training names, then the validation ones
            metrics = metrics + [f"val_{name}" for name in metrics]
        params = {"epochs": epochs, "steps": train.steps, "samples": getattr(train, "samples", None),
                  "batch_size": batch_size, "verbose": verbose, "do_validation": val is not None, "metrics": metrics}
        calls = cbks.CallbackList(cb_list, self.model, params)
        self.stop_training = False
        self.history = history
        calls.on_train_begin({})
        # a callback that restored a run (BackupAndRestore) says where it was
        initial_epoch = max(initial_epoch, int(params.get("initial_epoch", 0)))
        for epoch in range(initial_epoch, epochs):
            calls.on_epoch_begin(epoch, {})
            self.reset_metrics()
            totals, seen = {}, 0
            with contextlib.closing(train.epoch()) as epoch_batches:
                for step, (xs, ys, sw) in enumerate(epoch_batches):
                    size = len(xs[0])
                    calls.on_batch_begin(step, {"batch": step, "size": size})
                    logs = self.train_step(xs, ys, sw)
                    seen += size
                    self._accumulate(totals, logs, size)
                    batch_logs = {"batch": step, "size": size}  # as Keras 2, then the running means
                    batch_logs.update(self._means(totals, seen))
                    calls.on_batch_end(step, batch_logs)
                    if self.stop_training:
                        break
            epoch_logs = self._means(totals, seen)
            if val is not None and validates(self._validation_freq, epoch):
                epoch_logs.update({f"val_{k}": v for k, v in self._evaluate_batches(val, calls).items()})
            calls.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        finalize = getattr(self.optimizer, "finalize_variable_values", None)
        if finalize is not None and epochs > 0:  # Keras 3: e.g. the weights take their moving averages
            finalize(self.model.trainable_weights)
        calls.on_train_end({})
        return history

    def batch_slices(self, n: int, batch_size: int) -> list[slice]:
        """The batches of an epoch; an optimizer may plan them (a DistributedOptimizer evens them
        out across ranks)."""
        plan = getattr(self.optimizer, "batch_slices", None)
        return plan(n, batch_size) if plan is not None else mdata.batch_slices(n, batch_size)

    def _evaluate_batches(self, source, calls) -> dict[str, float]:
        """Each logged value averaged over the samples of all batches (``calls`` get the test hooks)."""
        totals, n = {}, 0
        self.reset_metrics()
        calls.on_test_begin({})
        with contextlib.closing(source.epoch()) as epoch_batches:
            for step, (xs, ys, sw) in enumerate(epoch_batches):
                size = len(xs[0])
                calls.on_test_batch_begin(step, {"batch": step, "size": size})
                logs = self.test_step(xs, ys, sw)
                n += size
                self._accumulate(totals, logs, size)
                calls.on_test_batch_end(step, {"batch": step, "size": size, **logs})
        scores = self._means(totals, n)
        combine = getattr(self.optimizer, "combine_scores", None)  # a DistributedOptimizer: the whole job's figures
        if combine is not None:
            scores = combine(scores, n)
        calls.on_test_end(dict(scores))
        return scores

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None, steps=None,
                 return_dict=False, workers=None, use_multiprocessing=None, max_queue_size=None, callbacks=None,
                 **kwargs):
        """The loss (a float) or ``[loss, *metrics]`` (a dict with ``return_dict=True``) on the
        given arrays or source of batches (``steps`` of them), without training."""
        no_more_arguments("evaluate", kwargs)
        self._require_compiled("evaluate")
        batch_size = mdata.check_batch_size(batch_size)
        if batches.is_batch_source(x):
            source = batches.batches_for(x, "evaluate", self._batch_preparer("evaluate"), steps, workers=workers,
                                         use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        else:
            xs, ys = self._prepare(x, y)
            n = mdata.check_lengths(xs, ys)
            sw = mdata.sample_weights(sample_weight, None, ys, n)
            source = batches.ArrayBatches(xs, ys, sw, mdata.batch_slices(n, batch_size), shuffle=False)
        calls = cbks.CallbackList(list(callbacks or []), self.model,
                                  {"steps": source.steps, "verbose": verbose, "metrics": self.metrics_names})
        scores = self._evaluate_batches(source, calls)
        if verbose:
            print(" - ".join(f"{k}: {format_value(v)}" for k, v in scores.items()), flush=True)
        if return_dict:
            return {name: scores[name] for name in self.metrics_names}
        values = [scores[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose=0, steps=None, workers=None, use_multiprocessing=None,
                max_queue_size=None, callbacks=None, **kwargs):
        """The model's outputs for ``x`` (arrays, or a source of batches: ``steps`` of them),
        computed in batches with gradient recording off."""
        no_more_arguments("predict", kwargs)
        batch_size = mdata.check_batch_size(batch_size)
        if batches.is_batch_source(x):
            source = batches.batches_for(x, "predict", self._batch_preparer("predict", with_targets=False), steps,
                                         workers=workers, use_multiprocessing=use_multiprocessing,
                                         max_queue_size=max_queue_size)
        else:
            xs, _ = self._prepare(x)
            source = batches.ArrayBatches(xs, None, None, mdata.batch_slices(len(xs[0]), batch_size), shuffle=False)
        chunks: list[list[np.ndarray]] = [[] for _ in self.model.output_names]
        calls = cbks.CallbackList(list(callbacks or []), self.model, {"steps": source.steps, "verbose": verbose})
        calls.on_predict_begin({})
        with no_grad(), contextlib.closing(source.epoch()) as epoch_batches:
            for step, (xs, _, _) in enumerate(epoch_batches):
                calls.on_predict_batch_begin(step, {"batch": step, "size": len(xs[0])})
                outs = self.model.call_graph([Tensor(a) for a in xs], training=False)
                for i, out in enumerate(outs):
                    chunks[i].append(out.data)
                calls.on_predict_batch_end(step, {"outputs": [o.data for o in outs] if len(outs) > 1 else outs[0].data})
        calls.on_predict_end({})
        results = [np.concatenate(c) if c else np.zeros((0,) + tuple(s[1:] if s else ()), floatx())
                   for c, s in zip(chunks, self.model.output_shapes)]
        return results[0] if len(results) == 1 else results

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One update on one batch; returns the loss or ``[loss, *metrics]``."""
        self._require_compiled("train_on_batch")
        self.reset_metrics()
        xs, ys = self._prepare(x, y)
        n = mdata.check_lengths(xs, ys)
        return self._as_result(self.train_step(xs, ys, mdata.sample_weights(sample_weight, class_weight, ys, n)))

    def test_on_batch(self, x, y, sample_weight=None):
        """The loss or ``[loss, *metrics]`` on one batch."""
        self._require_compiled("test_on_batch")
        self.reset_metrics()
        xs, ys = self._prepare(x, y)
        n = mdata.check_lengths(xs, ys)
        return self._as_result(self.test_step(xs, ys, mdata.sample_weights(sample_weight, None, ys, n)))

    def predict_on_batch(self, x):
        """The outputs for one batch."""
        return self.predict(x, batch_size=max(len(mdata.as_list(x)[0]), 1))

    def _as_result(self, logs):
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values
