"""Small objects :func:`fit` calls: Ctrl-C handling.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

__all__ = ["StopOnCtrlC"]


# ----------------------------------------------------------------------------------------
# 8. Ctrl-C: finish the step, then stop
# ----------------------------------------------------------------------------------------


class StopOnCtrlC:
    """Turn the first Ctrl-C (or Jupyter's "interrupt kernel") into a request to stop at
    the end of the current step, so the weights are never saved half-updated; a second
    Ctrl-C stops at once. Only in the main thread, and only if nobody else has replaced
    Python's default handler."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nInterrupt: stopping after this step (press again to stop at once)\n")

    def __enter__(self) -> StopOnCtrlC:
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
