"""Keras 2's ``keras.preprocessing.sequence``: padding, skip-grams and time-series windows."""

from kerasette.utils.sequence_utils import make_sampling_table, pad_sequences, skipgrams
from kerasette.utils.timeseries import (
    TimeseriesGenerator,
    timeseries_dataset_from_array,
    timeseries_generator_from_json,
)

__all__ = ["TimeseriesGenerator", "make_sampling_table", "pad_sequences", "skipgrams", "timeseries_dataset_from_array",
           "timeseries_generator_from_json"]
