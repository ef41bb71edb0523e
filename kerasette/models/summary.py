"""The ``model.summary()`` table, in Keras's layout."""

from __future__ import annotations

from kerasette.utils.validation import shape_str


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(shape_str(s) for s in shape)
    return shape_str(shape)


def _row(fields, positions) -> str:
    line = ""
    for i, field in enumerate(fields):
        if i:
            line = line[:-1] + " "
        line += str(field)
        line = line[: positions[i]]
        line += " " * (positions[i] - len(line))
    return line


def format_summary(model, line_length: int | None = None, connections: bool = False) -> str:
    """The summary as a string: one row per layer, then the parameter totals."""
    if connections:
        line_length = line_length or 98
        positions = [int(line_length * p) for p in (0.33, 0.55, 0.67, 1.0)]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    else:
        line_length = line_length or 65
        positions = [int(line_length * p) for p in (0.45, 0.85, 1.0)]
        header = ["Layer (type)", "Output Shape", "Param #"]
    lines = [f'Model: "{model.name}"', "_" * line_length, _row(header, positions), "=" * line_length]
    rows = model.summary_rows()
    for i, row in enumerate(rows):
        name, cls, shape, params, inbound = row
        fields = [f"{name} ({cls})", _shape_text(shape), f"{params}"]
        if connections:
            fields.append(inbound[0] if inbound else "")
        lines.append(_row(fields, positions))
        for extra in (inbound[1:] if connections else []):
            lines.append(_row(["", "", "", extra], positions))
        lines.append(("=" if i == len(rows) - 1 else "_") * line_length)
    trainable = sum(w.size for w in model.trainable_weights)
    total = sum(w.size for w in model.weights)
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * line_length]
    return "\n".join(lines)
