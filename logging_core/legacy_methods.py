"""The API existing platforms call (``start_execution``, ``complete_execution``, ...) as methods
of an ExecutionLogger instance. The behaviour lives in :mod:`runwright.logging_core.legacy`
(whose ExecutionLogger class offers it called on the class, as platforms do); these record
through the instance's store and sink instead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from runwright.runners.status import Status

if TYPE_CHECKING:
    from runwright.logging_core.legacy import ExecutionContext, LegacyAPI
    from runwright.logging_core.logger import ExecutionLogger


class LegacyMethods:
    """Mixed into :class:`~runwright.logging_core.logger.ExecutionLogger`."""

    # The behaviour lives in runwright.logging_core.legacy (whose ExecutionLogger offers it
    # called on the class, as platforms do); these record through this logger instead.
    def start_execution(self, execution: Any, log_message: str | None = None) -> bool:
        return self._legacy().start_execution(execution, log_message)

    def complete_execution(
        self, execution: Any, result: Any = None, status: Status | str | None = None, error_message: str | None = None,
        timeout_message: str | None = None, custom_logs: str | bytes | None = None, log_message: str | None = None,
    ) -> bool:
        return self._legacy().complete_execution(execution, result, status, error_message, timeout_message, custom_logs,
                                                 log_message)

    def fail_execution(
        self, execution: Any, error_message: str, return_code: int | None = -1, log_message: str | None = None,
    ) -> bool:
        return self._legacy().fail_execution(execution, error_message, return_code, log_message)

    def timeout_execution(
        self, execution: Any, timeout_message: str = "Execution timed out", timeout_seconds: float | None = None,
        log_message: str | None = None,
    ) -> bool:
        return self._legacy().timeout_execution(execution, timeout_message, timeout_seconds, log_message)

    def cancel_execution(
        self, execution: Any, cancel_message: str = "Execution cancelled", log_message: str | None = None
    ) -> bool:
        return self._legacy().cancel_execution(execution, cancel_message, log_message)

    def update_execution_logs(self, execution: Any, logs: str | bytes | None, append: bool = False) -> bool:
        return self._legacy().update_execution_logs(execution, logs, append)

    def log_execution_info(self, execution: Any, message: str | None, level: str = "info") -> bool:
        return self._legacy().log_execution_info(execution, message, level)

    def track(self, execution: Any, log_message: str | None = None) -> ExecutionContext:
        """An ExecutionContext recording through this logger: started on entry, completed on
        leaving (or failed/timed out/cancelled by the exception, which is re-raised)."""
        from runwright.logging_core.legacy import ExecutionContext

        return ExecutionContext(execution, log_message, logger=cast("ExecutionLogger", self))

    def _legacy(self) -> LegacyAPI:
        from runwright.logging_core.legacy import LegacyAPI

        return LegacyAPI(cast("ExecutionLogger", self))  # only ever mixed into ExecutionLogger
