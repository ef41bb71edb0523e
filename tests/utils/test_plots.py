"""Pictures: plot_model / model_to_dot (pydot and Graphviz) and plot_history (matplotlib).

The graph description is checked on a small residual model (boxes, labels with shapes, dtypes,
activations and trainability, arrows); real files are rendered when pydot, matplotlib and
Graphviz's ``dot`` are installed (``pip install 'kerasette[plot]'`` and the system's
``graphviz`` package) and skipped otherwise; the errors for each missing piece are checked by
hiding it.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import sys

import numpy as np
import pytest

from kerasette.callbacks import History
from kerasette.layers import Add, Conv2D, Dense, Flatten, Input
from kerasette.models import Model, Sequential
from kerasette.utils import model_to_dot, plot_history, plot_model

needs_pydot = pytest.mark.skipif(importlib.util.find_spec("pydot") is None,
                                 reason="pydot is not installed (pip install 'kerasette[plot]')")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None or importlib.util.find_spec("pydot") is None,
                               reason="pydot or Graphviz's dot program is not installed (pip install pydot; "
                                      "apt-get install graphviz)")


def residual_model():
    image = Input(shape=(8, 8, 3), name="image")
    a = Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(image)
    b = Conv2D(4, 3, padding="same", name="conv_b")(a)
    added = Add(name="residual")([a, b])
    flat = Flatten(name="flat")(added)
    return Model(image, Dense(2, activation="softmax", name="out")(flat), name="residual_net")


def described(dot):
    """({layer name: label}, {(source name, target name)}) of a pydot graph."""
    labels = {node.get_name(): node.get("label") for node in dot.get_nodes() if node.get("label")}
    names = {}
    for node_id, label in labels.items():
        title = label.split("<b>", 1)[1].split("</b>", 1)[0]
        names[node_id] = title
    edges = {(names[e.get_source()], names[e.get_destination()]) for e in dot.get_edges()}
    return {names[i]: label for i, label in labels.items()}, edges


@needs_pydot
def test_residual_graph_nodes_and_edges():
    labels, edges = described(model_to_dot(residual_model()))
    assert set(labels) == {"image", "conv_a", "conv_b", "residual", "flat", "out"}
    assert edges == {("image", "conv_a"), ("conv_a", "conv_b"), ("conv_a", "residual"), ("conv_b", "residual"),
                     ("residual", "flat"), ("flat", "out")}
    assert "<b>conv_a</b> (Conv2D)" in labels["conv_a"] and "<b>image</b> (InputLayer)" in labels["image"]
    assert "shape" not in labels["conv_a"]


@needs_pydot
def test_labels_with_shapes_dtype_activation_trainable():
    model = residual_model()
    model.get_layer("conv_b").trainable = False
    labels, _ = described(model_to_dot(model, show_shapes=True, show_dtype=True, show_layer_activations=True,
                                       show_trainable=True))
    assert "Input shape: <b>(None, 8, 8, 3)</b>" in labels["conv_a"]
    assert "Output shape: <b>(None, 8, 8, 4)</b>" in labels["conv_a"]
    assert "Input shape: <b>[(None, 8, 8, 4), (None, 8, 8, 4)]</b>" in labels["residual"]
    assert "Output shape: <b>(None, 256)</b>" in labels["flat"]
    assert "Input shape" not in labels["image"] and "Output shape: <b>(None, 8, 8, 3)</b>" in labels["image"]
    assert "Output dtype: <b>float32</b>" in labels["out"]
    assert "Activation: <b>relu</b>" in labels["conv_a"] and "Activation: <b>softmax</b>" in labels["out"]
    assert ">Trainable<" in labels["conv_a"] and ">Non-trainable<" in labels["conv_b"]
    assert "rainable" not in labels["residual"]  # no weights, nothing to say


@needs_pydot
def test_graph_settings_and_names_off():
    dot = model_to_dot(residual_model(), show_layer_names=False, rankdir="LR", dpi=96)
    assert dot.get("rankdir") == "LR" and str(dot.get("dpi")) == "96"
    labels = [n.get("label") for n in dot.get_nodes() if n.get("label")]
    assert any("<b>Conv2D</b>" in label for label in labels) and not any("conv_a" in label for label in labels)


@needs_pydot
def test_sequential_is_a_chain():
    model = Sequential([Dense(4, input_shape=(3,), name="d1"), Dense(2, name="d2"), Dense(1, name="d3")])
    labels, edges = described(model_to_dot(model, show_shapes=True))
    assert set(labels) == {"d1", "d2", "d3"} and edges == {("d1", "d2"), ("d2", "d3")}
    assert "Input shape: <b>(None, 3)</b>" in labels["d1"]


@needs_pydot
def test_nested_model_one_box_or_expanded():
    inner = Sequential([Dense(4, input_shape=(6,), name="inner_1"), Dense(3, name="inner_2")], name="inner")
    x = Input(shape=(6,), name="x")
    model = Model(x, Dense(2, name="head")(inner(x)))
    labels, edges = described(model_to_dot(model))
    assert set(labels) == {"x", "inner", "head"} and edges == {("x", "inner"), ("inner", "head")}
    dot = model_to_dot(model, expand_nested=True)
    clusters = dot.get_subgraphs()
    assert [c.get_name() for c in clusters] == ["cluster_inner"]
    inside, _ = described(clusters[0])
    assert set(inside) == {"inner_1", "inner_2"}
    names = {n.get_name(): n.get("label").split("<b>")[1].split("</b>")[0]
             for g in (dot, clusters[0]) for n in g.get_nodes() if n.get("label")}
    edges = {(names[e.get_source()], names[e.get_destination()]) for g in (dot, clusters[0]) for e in g.get_edges()}
    assert edges == {("x", "inner_1"), ("inner_1", "inner_2"), ("inner_2", "head")}


@needs_pydot
def test_names_are_escaped():
    x = Input(shape=(2,), name="a<b>&c")
    labels = [n.get("label") for n in model_to_dot(Model(x, Dense(1)(x))).get_nodes() if n.get("label")]
    assert any("a&lt;b&gt;&amp;c" in label for label in labels)


@needs_pydot
def test_unbuilt_model_error():
    with pytest.raises(ValueError, match=r"model_to_dot: model 'sequential_\d+' has not yet been built"):
        model_to_dot(Sequential([Dense(2)]))


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@needs_dot
def test_plot_model_writes_png(tmp_path):
    path = tmp_path / "model.png"
    plot_model(residual_model(), to_file=path, show_shapes=True, dpi=96)
    width, height = png_size(path)
    # six boxes stacked top to bottom, each a few hundred pixels wide at 96 dpi
    assert 300 < width < 3000 and 400 < height < 4000 and height > width / 2
    plot_model(residual_model(), to_file=tmp_path / "wide.png", rankdir="LR", dpi=96)
    wide_w, wide_h = png_size(tmp_path / "wide.png")
    assert wide_w > wide_h


@needs_dot
@pytest.mark.parametrize("extension, magic", [("svg", b"<svg"), ("pdf", b"%PDF"), ("dot", b"digraph")])
def test_plot_model_formats_by_extension(tmp_path, extension, magic):
    path = tmp_path / f"model.{extension}"
    plot_model(residual_model(), to_file=str(path))
    assert magic in path.read_bytes()[:400]


def test_missing_pydot_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)  # import pydot now raises ImportError
    for call in (plot_model, model_to_dot):
        with pytest.raises(ImportError, match=r"needs the pydot package, which is not installed: install pydot "
                                              r"with `pip install pydot` \(or `pip install 'kerasette\[plot\]'`\)"
                                              r".*apt-get install graphviz"):
            call(residual_model())


@needs_pydot
def test_missing_graphviz_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on the PATH
    with pytest.raises(ImportError, match=r"plot_model needs Graphviz's `dot` program, which could not be run .*"
                                          r"`apt-get install graphviz`.*on the PATH"):
        plot_model(residual_model(), to_file=tmp_path / "m.png")
    assert not (tmp_path / "m.png").exists()


# --- plot_history --------------------------------------------------------------------------------

def fitted_history():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 1)).astype("float32")
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse", metrics=["mae"])
    return model.fit(x, y, epochs=4, validation_split=0.25, verbose=0)


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = fitted_history()
    path = tmp_path / "curves.png"
    figure = plot_history(history, to_file=path)
    width, height = png_size(path)
    assert (width, height) == (640, 640)  # two panels (loss, mae) of 6.4 x 3.2 inches at 100 dpi
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["loss", "mae"]
    loss_axes = figure.axes[0]
    lines = {line.get_label(): line for line in loss_axes.get_lines()}
    assert set(lines) == {"training", "validation"}
    np.testing.assert_allclose(lines["training"].get_ydata(), history.history["loss"])
    np.testing.assert_allclose(lines["validation"].get_ydata(), history.history["val_loss"])
    assert list(lines["training"].get_xdata()) == [1, 2, 3, 4]


def test_plot_history_learning_rate_on_a_second_axis(tmp_path):
    pytest.importorskip("matplotlib")
    logs = {"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.7, 0.6], "accuracy": [0.5, 0.7, 0.8],
            "learning_rate": [0.1, 0.01, 0.001]}
    figure = plot_history(logs, metrics=["loss"])
    assert len(figure.axes) == 2  # the loss panel and its twin
    twin = figure.axes[1]
    assert twin.get_ylabel() == "learning rate" and twin.get_yscale() == "log"
    np.testing.assert_allclose(twin.get_lines()[0].get_ydata(), [0.1, 0.01, 0.001])


def test_plot_history_epochs_from_initial_epoch():
    pytest.importorskip("matplotlib")
    history = History()
    history.epoch, history.history = [3, 4], {"loss": [0.3, 0.2]}
    line = plot_history(history).axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [4, 5]


@pytest.mark.parametrize("extension, magic", [("svg", b"<svg"), ("pdf", b"%PDF")])
def test_plot_history_formats_by_extension(tmp_path, extension, magic):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"curves.{extension}"
    plot_history({"loss": [1.0, 0.5]}, to_file=str(path))
    assert magic in path.read_bytes()[:400]


@pytest.mark.parametrize("kwargs, message", [
    (dict(history={}), r"non-empty dict"),
    (dict(history={"loss": [1.0]}, metrics=["accuracy"]), r"no values logged for \['accuracy'\]; logged metrics "
                                                           r"are \['loss'\]"),
    (dict(history={"loss": [1.0]}, to_file="curves.jpg"), r"must end in .png, .svg or .pdf; received 'curves.jpg'"),
])
def test_plot_history_errors(kwargs, message):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match=message):
        plot_history(**kwargs)


def test_missing_matplotlib_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"plot_history needs matplotlib, which is not installed: install "
                                          r"matplotlib with `pip install matplotlib` \(or `pip install "
                                          r"'kerasette\[plot\]'`\)"):
        plot_history({"loss": [1.0]})
