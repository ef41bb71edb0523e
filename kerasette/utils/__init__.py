"""Helpers: shape arithmetic, argument validation, to_categorical, Sequence."""

from kerasette.utils.data_utils import get_file
from kerasette.utils.image_dataset import image_dataset_from_directory
from kerasette.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from kerasette.utils.np_utils import normalize, to_categorical
from kerasette.utils.rng_utils import set_random_seed
from kerasette.utils.sequence import PyDataset, Sequence
from kerasette.utils.sequence_utils import pad_sequences
from kerasette.utils.text_dataset import text_dataset_from_directory
from kerasette.utils.timeseries import timeseries_dataset_from_array
from kerasette.utils.vis_utils import model_to_dot, plot_history, plot_model

__all__ = ["PyDataset", "Sequence", "get_file", "normalize", "pad_sequences", "text_dataset_from_directory",
           "timeseries_dataset_from_array", "to_categorical"]
__all__ += ["array_to_img", "image_dataset_from_directory", "img_to_array", "load_img", "save_img"]  # images
__all__ += ["set_random_seed"]
__all__ += ["model_to_dot", "plot_history", "plot_model"]  # pictures
