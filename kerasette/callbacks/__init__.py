"""Callbacks: hooks into training with Keras's names and ``logs`` dicts."""

from kerasette.callbacks.backup import BackupAndRestore
from kerasette.callbacks.base import Callback, CallbackList, History, resolve_mode
from kerasette.callbacks.checkpoint import ModelCheckpoint
from kerasette.callbacks.csv_logger import CSVLogger
from kerasette.callbacks.early_stopping import EarlyStopping
from kerasette.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from kerasette.callbacks.progbar import ProgbarLogger
from kerasette.callbacks.simple import LambdaCallback, TerminateOnNaN
from kerasette.callbacks.tensorboard import TensorBoard

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN",
           "resolve_mode"]
