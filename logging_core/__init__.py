"""The ExecutionLogger (the single sink), its stores, field maps and observers."""

from logging_core.fieldmap import FieldMap, FieldMapError
from logging_core.logger import ExecutionLogger
from logging_core.memory_store import MemoryStore
from logging_core.observers import BaseObserver, MetricsObserver, Observer, StructuredLogObserver
from logging_core.recorder import ExecutionRecorder, TransitionRefused
from logging_core.store import Chunk, ExecutionView, NotFound, Store

__all__ = [
    "BaseObserver", "Chunk", "ExecutionLogger", "ExecutionRecorder", "ExecutionView", "FieldMap",
    "FieldMapError", "MemoryStore", "MetricsObserver", "NotFound", "Observer", "Store",
    "StructuredLogObserver", "TransitionRefused",
]
