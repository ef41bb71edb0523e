"""kerasette's version, written into every file it saves (``keras_version``)."""

__version__ = "0.1.0"
