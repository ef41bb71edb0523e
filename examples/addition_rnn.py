"""Sequence to sequence learning of addition (Keras's addition_rnn example, on generated data).

The model reads a question such as ``"535+61 "`` one character at a time and writes the answer
``"596 "`` one character at a time: an LSTM encodes the question into its final state,
`RepeatVector` hands that to every output step, a second LSTM decodes, and a `TimeDistributed`
Dense layer picks a character per step. The questions are written reversed (``" 16+535"``), which
shortens the paths between related digits, as in the original. Accuracy is per character.

Run:  python examples/addition_rnn.py [--epochs 30] [--samples 50000] [--digits 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import kerasette.backend as K
from kerasette.layers import LSTM, Dense, RepeatVector, TimeDistributed
from kerasette.models import Sequential
from kerasette.optimizers import Adam

CHARS = "0123456789+ "


class CharacterTable:
    """One-hot encoding of strings over ``CHARS`` and back."""

    def __init__(self, chars: str):
        self.chars = sorted(set(chars))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str, length: int) -> np.ndarray:
        out = np.zeros((length, len(self.chars)), "float32")
        for i, c in enumerate(text):
            out[i, self.index[c]] = 1
        return out

    def decode(self, rows: np.ndarray) -> str:
        return "".join(self.chars[i] for i in rows.argmax(axis=-1))


def make_data(samples: int, digits: int, rng: np.random.Generator):
    """``samples`` distinct questions ``a+b`` (numbers of up to ``digits`` digits), padded with
    spaces to ``2 * digits + 1`` characters and reversed, with their answers padded to
    ``digits + 1``."""
    maxlen = 2 * digits + 1
    seen, questions, answers = set(), [], []
    while len(questions) < samples:
        a, b = (int(rng.integers(0, 10 ** int(rng.integers(1, digits + 1)))) for _ in range(2))
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        question = f"{a}+{b}".ljust(maxlen)
        questions.append(question[::-1])
        answers.append(str(a + b).ljust(digits + 1))
    table = CharacterTable(CHARS)
    x = np.stack([table.encode(q, maxlen) for q in questions])
    y = np.stack([table.encode(a, digits + 1) for a in answers])
    return x, y, table


def build_model(digits: int, units: int = 128) -> Sequential:
    return Sequential([
        LSTM(units, input_shape=(2 * digits + 1, len(CHARS))),
        RepeatVector(digits + 1),
        LSTM(units, return_sequences=True),
        TimeDistributed(Dense(len(CHARS), activation="softmax")),
    ])


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=50000)
    parser.add_argument("--digits", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--target", type=float, default=0.99, help="stop once validation accuracy reaches this")
    args = parser.parse_args(argv)
    K.set_seed(0)
    rng = np.random.default_rng(0)
    x, y, table = make_data(args.samples, args.digits, rng)
    split = len(x) - len(x) // 10
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]

    model = build_model(args.digits)
    model.compile(loss="categorical_crossentropy", optimizer=Adam(learning_rate=3e-3), metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    accuracy = 0.0
    for epoch in range(1, args.epochs + 1):
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=1, verbose=0)
        _, accuracy = model.evaluate(x_val, y_val, batch_size=256, verbose=0)
        print(f"epoch {epoch:2d}: validation accuracy per character {accuracy:.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
        if accuracy >= args.target:
            break
    guesses = model.predict(x_val[:5], verbose=0)
    for question, answer, guess in zip(x_val[:5], y_val[:5], guesses):
        q, a, g = table.decode(question)[::-1], table.decode(answer), table.decode(guess)
        print(f"{q.strip():>9} = {a.strip():<5} {'ok' if a == g else 'no'} {g.strip()}")
    print(f"Validation accuracy per character: {accuracy:.4f} after {time.perf_counter() - start:.0f} s")
    return accuracy


if __name__ == "__main__":
    main()
