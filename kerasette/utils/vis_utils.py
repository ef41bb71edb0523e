"""Pictures: a model's layer graph (`plot_model`, `model_to_dot`) and training curves
(`plot_history`).

`plot_model` draws what Keras 3 draws: one box per layer (a small HTML table: the layer's name
and class, optionally its activation, input and output shapes, output dtype and whether it is
trainable) and one arrow per connection, laid out by Graphviz's ``dot`` program through the
``pydot`` package. `plot_history` draws one panel per metric with matplotlib. Both are optional
extras (``pip install 'kerasette[plot]'``, plus Graphviz itself for `plot_model`); each says
exactly what to install when something is missing. Nothing here is imported by
``import kerasette``: pydot, matplotlib and the model classes are imported on first use.
"""

from __future__ import annotations

import html
import os

INSTALL_PYDOT = ("install pydot with `pip install pydot` (or `pip install 'kerasette[plot]'`), and Graphviz's "
                 "`dot` program from your system's packages (`apt-get install graphviz`, `dnf install graphviz`, "
                 "`brew install graphviz` or `conda install graphviz`; see https://graphviz.org/download/)")
INSTALL_GRAPHVIZ = ("install Graphviz, which provides the `dot` program, from your system's packages "
                    "(`apt-get install graphviz`, `dnf install graphviz`, `brew install graphviz` or "
                    "`conda install graphviz`; see https://graphviz.org/download/) and make sure `dot` is on "
                    "the PATH")
INSTALL_MATPLOTLIB = "install matplotlib with `pip install matplotlib` (or `pip install 'kerasette[plot]'`)"


def _pydot(caller: str):
    try:
        import pydot  # deferred: an optional extra, imported only to draw
    except ImportError as e:
        raise ImportError(f"{caller} needs the pydot package, which is not installed: {INSTALL_PYDOT}") from e
    return pydot


def _check_graphviz(pydot, caller: str) -> None:
    """Renders an empty graph, which fails when Graphviz's ``dot`` cannot be run."""
    try:
        pydot.Dot().create(format="png")
    except Exception as e:  # pydot raises OSError, FileNotFoundError or its own errors, by version
        raise ImportError(f"{caller} needs Graphviz's `dot` program, which could not be run ({e}): "
                          f"{INSTALL_GRAPHVIZ}") from e


def _model_classes():
    from kerasette.models import Model, Sequential  # deferred: utils sits below models

    return Model, Sequential


def _is_graph_model(layer) -> bool:
    Model, _ = _model_classes()
    return isinstance(layer, Model) and getattr(layer, "_graph", None) is not None


def _format_shape(shapes) -> str:
    if shapes is None or any(s is None for s in shapes):
        return "?"
    return str(shapes[0]) if len(shapes) == 1 else str(list(shapes))


def _activation_name(activation) -> str:
    return getattr(activation, "__name__", None) or getattr(activation, "name", None) or str(activation)


def _layer_label(layer, input_shapes, show_shapes: bool, show_dtype: bool, show_layer_names: bool,
                 show_layer_activations: bool, show_trainable: bool) -> str:
    """The box of one layer: a Graphviz HTML label as Keras 3 draws it."""
    class_name = type(layer).__name__
    columns = 2 * show_shapes + show_dtype + show_trainable
    span = max(1, columns)
    title = (f"<b>{html.escape(layer.name)}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>")
    rows = [f'<tr><td colspan="{span}" bgcolor="black"><font point-size="16" color="white">{title}</font></td></tr>']
    activation = getattr(layer, "activation", None)
    if show_layer_activations and activation is not None:
        rows.append(f'<tr><td bgcolor="white" colspan="{span}"><font point-size="14">Activation: '
                    f"<b>{html.escape(_activation_name(activation))}</b></font></td></tr>")
    cells = []
    if show_shapes:
        if class_name != "InputLayer":
            cells.append(f'<td bgcolor="white"><font point-size="14">Input shape: '
                         f"<b>{html.escape(_format_shape(input_shapes))}</b></font></td>")
        output_shape = getattr(layer, "output_shape", None)
        text = "?" if output_shape is None else str(output_shape)
        cells.append(f'<td bgcolor="white"><font point-size="14">Output shape: <b>{html.escape(text)}</b></font></td>')
    if show_dtype:
        outputs = getattr(layer, "_node_outputs", None)
        dtype = outputs[0].dtype if outputs else getattr(layer, "dtype", None)
        cells.append(f'<td bgcolor="white"><font point-size="14">Output dtype: <b>{dtype or "?"}</b></font></td>')
    if show_trainable and layer.weights:
        color, text = ("forestgreen", "Trainable") if layer.trainable else ("firebrick", "Non-trainable")
        cells.append(f'<td bgcolor="{color}"><font point-size="14" color="white"><b>{text}</b></font></td>')
    if cells:
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return '<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">' + "".join(rows) + "</table>>"


def _input_shapes(model) -> dict:
    """``{id(layer): [input shapes]}`` from each layer's first call inside ``model``."""
    shapes: dict[int, list] = {}
    graph = getattr(model, "_graph", None)
    if graph is not None:
        for layer, _, tensors in graph.node_keys():
            shapes.setdefault(id(layer), [t.shape for t in tensors])
    return shapes


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 splines="ortho"):
    """A model's layer graph as a ``pydot.Dot`` (Keras's ``model_to_dot``).

    Args:
        model: a built model: a functional model (every layer, inputs included, and every
            connection between them), a Sequential model (its layers as a chain), or a
            subclassed model (a single box).
        show_shapes: add each layer's input and output shapes.
        show_dtype: add each layer's output dtype.
        show_layer_names: title each box with the layer's name and class (else the class).
        rankdir: Graphviz's direction: ``'TB'`` (top to bottom) or ``'LR'`` (left to right).
        expand_nested: draw the layers of nested models inside a dashed cluster, and connect
            them, instead of one box per nested model.
        dpi: the image resolution.
        subgraph: return a ``pydot.Cluster`` (used for nested models) instead of a ``pydot.Dot``.
        show_layer_activations: add the activation of layers that have one.
        show_trainable: add whether each layer with weights is trainable.
        splines: how Graphviz draws the arrows (``'ortho'``, ``'curved'``, ``'polyline'``,
            ``'spline'``, ``'line'``).

    Raises:
        ValueError: the model is not built.
        ImportError: pydot is not installed (the message says how to install it).
    """
    pydot = _pydot("model_to_dot")
    if not model.built:
        raise ValueError(f"model_to_dot: model '{model.name}' has not yet been built; build it first (give its "
                         "first layer an input shape, call `build()`, or call it on a batch of data)")
    _, Sequential = _model_classes()
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    sequential = isinstance(model, Sequential)
    if not sequential and not _is_graph_model(model):  # a subclassed model: one box
        dot.add_node(_node(pydot, model, getattr(model, "input_shapes", None), options))
        return dot
    layers = model.layers
    input_shapes = _input_shapes(model)
    for layer in layers:
        if expand_nested and (isinstance(layer, Sequential) or _is_graph_model(layer)):
            dot.add_subgraph(model_to_dot(layer, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested,
                                          subgraph=True, show_layer_activations=show_layer_activations,
                                          show_trainable=show_trainable))
        else:
            shapes = input_shapes.get(id(layer))
            if shapes is None and getattr(layer, "input_shape", None) is not None:
                shapes = [layer.input_shape]
            dot.add_node(_node(pydot, layer, shapes, options))
    if sequential:
        for source, target in zip(layers, layers[1:]):
            _add_edge(pydot, dot, *_resolve(source, target, 0, 0, expand_nested))
        return dot
    for layer, _, tensors in model._graph.node_keys():
        for input_index, tensor in enumerate(tensors):
            source, _, output_index = tensor._keras_history
            _add_edge(pydot, dot, *_resolve(source, layer, output_index, input_index, expand_nested))
    return dot


def _node(pydot, layer, input_shapes, options):
    node = pydot.Node(str(id(layer)), label=_layer_label(layer, input_shapes, **options))
    node.set("fontname", "Helvetica")
    node.set("border", "0")
    node.set("margin", "0")
    return node


def _resolve(source, target, output_index: int, input_index: int, expand_nested: bool):
    """The boxes an arrow joins: with ``expand_nested``, a nested model's arrow starts at the
    layer giving its output and ends at its input layer (a Sequential: its first layer)."""
    if not expand_nested:
        return source, target
    _, Sequential = _model_classes()
    while isinstance(source, Sequential) or _is_graph_model(source):
        if isinstance(source, Sequential):
            source = source.layers[-1]
        else:
            source, _, output_index = source.outputs[output_index]._keras_history
    while isinstance(target, Sequential) or _is_graph_model(target):
        if isinstance(target, Sequential):
            target = target.layers[0]
        else:
            target = target.inputs[input_index]._keras_history[0]
            input_index = 0
    return source, target


def _add_edge(pydot, dot, source, target) -> None:
    source_id, target_id = str(id(source)), str(id(target))
    if not dot.get_edge(source_id, target_id):
        edge = pydot.Edge(source_id, target_id)
        edge.set("penwidth", "2")
        dot.add_edge(edge)


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, splines="ortho"):
    """Draws a model's layer graph into an image file (Keras's ``plot_model``).

    The format follows ``to_file``'s extension (``.png``, ``.svg``, ``.pdf``, ``.dot``, or any
    other format Graphviz knows; PNG without an extension). The arguments are those of
    `model_to_dot`.

    Returns:
        An ``IPython.display.Image`` of the file when IPython is installed (shown inline in a
        notebook) and the file is not a PDF, else None.

    Raises:
        ImportError: pydot is not installed, or Graphviz's ``dot`` program cannot be run; the
            message says how to install them.
        ValueError: the model is not built.
    """
    pydot = _pydot("plot_model")
    _check_graphviz(pydot, "plot_model")
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                       splines=splines)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    dot.write(to_file, format="raw" if extension == "dot" else extension)
    if extension != "pdf":
        try:
            from IPython import display  # deferred: only to show the picture in a notebook
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None


_LEARNING_RATE_KEYS = ("learning_rate", "lr")
_FORMATS = ("png", "svg", "pdf")


def plot_history(history, to_file=None, metrics=None):
    """Draws training curves: one panel per metric, its training and validation values per epoch.

    The learning rate, when logged (``learning_rate`` or Keras 2's ``lr``, e.g. by
    ``ReduceLROnPlateau`` or ``LearningRateScheduler``), is drawn on a second axis of the first
    panel (logarithmic when it spans more than a factor of ten).

    Args:
        history: the `History` object ``fit`` returns, or its ``history`` dict (metric name:
            one value per epoch).
        to_file: where to save the picture; its extension chooses the format (``.png``,
            ``.svg`` or ``.pdf``). None saves nothing.
        metrics: the metrics to draw (names without ``val_``); None draws every logged metric,
            ``loss`` first.

    Returns:
        The matplotlib ``Figure`` (for showing or further changes).

    Raises:
        ImportError: matplotlib is not installed (the message says how to install it).
        ValueError: nothing logged, an unknown metric, or an unsupported file extension.
    """
    try:
        from matplotlib.figure import Figure  # deferred: an optional extra, imported only to draw
        from matplotlib.ticker import MaxNLocator  # deferred: as above
    except ImportError as e:
        raise ImportError(f"plot_history needs matplotlib, which is not installed: {INSTALL_MATPLOTLIB}") from e
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("plot_history: `history` must be the History object fit returns or a non-empty dict of "
                         f"metric values per epoch; received {type(history).__name__}")
    logged = [k for k in logs if not k.startswith("val_") and k not in _LEARNING_RATE_KEYS]
    logged += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]  # validation-only metrics
    if metrics is None:
        metrics = sorted(logged, key=lambda k: k != "loss")
    else:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in metrics if m not in logged]
        if unknown:
            raise ValueError(f"plot_history: no values logged for {unknown}; logged metrics are {logged}")
    if not metrics:
        raise ValueError(f"plot_history: no metric to draw; logged keys are {list(logs)}")
    if to_file is not None:
        to_file = os.fspath(to_file)
        extension = os.path.splitext(to_file)[1][1:].lower()
        if extension not in _FORMATS:
            raise ValueError(f"plot_history: to_file must end in .png, .svg or .pdf; received {to_file!r}")
    epochs = getattr(history, "epoch", None)
    figure = Figure(figsize=(6.4, 3.2 * len(metrics)), layout="constrained")
    axes = figure.subplots(len(metrics), 1, squeeze=False)[:, 0]
    for ax, name in zip(axes, metrics):
        for key, label, style in ((name, "training", "-"), (f"val_{name}", "validation", "--")):
            if key in logs:
                values = list(logs[key])
                ax.plot(_epoch_axis(epochs, len(values)), values, style, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    axes[-1].set_xlabel("epoch")
    rate_key = next((k for k in _LEARNING_RATE_KEYS if k in logs), None)
    if rate_key is not None:
        rates = [float(r) for r in logs[rate_key]]
        twin = axes[0].twinx()
        twin.plot(_epoch_axis(epochs, len(rates)), rates, ":", color="gray", drawstyle="steps-post",
                  label="learning rate")
        twin.set_ylabel("learning rate")
        positive = [r for r in rates if r > 0]
        if positive and max(positive) > 10 * min(positive):
            twin.set_yscale("log")
        twin.legend(*_handles(axes[0], twin), loc="best")  # one legend for both axes, drawn above both
    for ax in axes[1 if rate_key is not None else 0:]:
        ax.legend(loc="best")
    if to_file is not None:
        figure.savefig(to_file, format=extension, dpi=100)
    return figure


def _handles(*axes) -> tuple[list, list]:
    handles, labels = [], []
    for ax in axes:
        h, label = ax.get_legend_handles_labels()
        handles += h
        labels += label
    return handles, labels


def _epoch_axis(epochs, n: int) -> list:
    """Epoch numbers from 1 (``History.epoch`` counts from 0, and from ``initial_epoch``)."""
    if epochs is not None and len(epochs) == n:
        return [e + 1 for e in epochs]
    return list(range(1, n + 1))
