"""``kerasette.applications.resnet50``, as Keras's ``keras.applications.resnet50``: ResNet50 and
its preprocessing (defined in `kerasette.applications.resnet`)."""

from kerasette.applications.resnet import ResNet50, decode_predictions, preprocess_input

__all__ = ["ResNet50", "decode_predictions", "preprocess_input"]
