"""Gradient compression for the allreduce: `Compression.none` and `Compression.fp16`.

As in Horovod, a compressor turns an array into what travels (``compress`` returns it and a
context) and back (``decompress``). ``fp16`` sends floating-point values as float16: half the
bytes of float32, with float16's precision (about 3 decimal digits) and range (values beyond
65504 become infinite, below about 6e-8 become zero). The sum over the ranks is computed in
float16 too; the result is cast back to the original dtype, and the average's division by the
number of ranks is done after that cast. Integer arrays are sent as they are.

Example:
    >>> import numpy as np
    >>> from kerasette.distributed.compression import Compression
    >>> sent, ctx = Compression.fp16.compress(np.array([1.0, 2.5], np.float32))
    >>> sent.dtype, Compression.fp16.decompress(sent, ctx).dtype
    (dtype('float16'), dtype('float32'))
"""

from __future__ import annotations

import numpy as np


class NoneCompressor:
    """Sends values unchanged."""

    name = "none"

    @staticmethod
    def wire_dtype(dtype) -> np.dtype:
        return np.dtype(dtype)

    @staticmethod
    def compress(array: np.ndarray):
        return array, None

    @staticmethod
    def decompress(array: np.ndarray, ctx) -> np.ndarray:
        return array


class FP16Compressor:
    """Sends floating-point values as float16 and casts the result back."""

    name = "fp16"

    @staticmethod
    def wire_dtype(dtype) -> np.dtype:
        dtype = np.dtype(dtype)
        return np.dtype(np.float16) if dtype.kind == "f" else dtype

    @staticmethod
    def compress(array: np.ndarray):
        array = np.asarray(array)
        if array.dtype.kind != "f":
            return array, None
        return array.astype(np.float16), array.dtype

    @staticmethod
    def decompress(array: np.ndarray, ctx) -> np.ndarray:
        return array if ctx is None else array.astype(ctx)


class Compression:
    """The compressors: ``Compression.none`` (default) and ``Compression.fp16``."""

    none = NoneCompressor
    fp16 = FP16Compressor


def get(compression) -> type:
    """A compressor from a `Compression` member, its name ('none', 'fp16') or None."""
    if compression is None or compression is False:
        return NoneCompressor
    if isinstance(compression, str):
        found = {"none": NoneCompressor, "fp16": FP16Compressor}.get(compression.lower())
        if found is not None:
            return found
    elif compression in (NoneCompressor, FP16Compressor):
        return compression
    raise ValueError(f"argument `compression` must be hvd.Compression.none or hvd.Compression.fp16; "
                     f"received compression={compression!r}")
