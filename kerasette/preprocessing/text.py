"""Keras 2's ``keras.preprocessing.text``: word splitting, hashing, and the `Tokenizer`."""

from kerasette.utils.text import Tokenizer, hashing_trick, one_hot, text_to_word_sequence, tokenizer_from_json
from kerasette.utils.text_dataset import text_dataset_from_directory

__all__ = ["Tokenizer", "hashing_trick", "one_hot", "text_dataset_from_directory", "text_to_word_sequence",
           "tokenizer_from_json"]
