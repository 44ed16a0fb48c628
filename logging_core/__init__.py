"""The ExecutionLogger (the single sink), its stores, field maps and observers."""

from runwright.logging_core.fieldmap import FieldMap, FieldMapError
from runwright.logging_core.logger import ExecutionLogger
from runwright.logging_core.memory_store import MemoryStore
from runwright.logging_core.observers import BaseObserver, MetricsObserver, Observer, StructuredLogObserver
from runwright.logging_core.recorder import ExecutionRecorder, TransitionRefused
from runwright.logging_core.store import Chunk, ExecutionView, NotFound, Store

__all__ = [
    "BaseObserver", "Chunk", "ExecutionLogger", "ExecutionRecorder", "ExecutionView", "FieldMap",
    "FieldMapError", "MemoryStore", "MetricsObserver", "NotFound", "Observer", "Store",
    "StructuredLogObserver", "TransitionRefused",
]
