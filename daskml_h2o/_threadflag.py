"""A per-thread on/off switch: settings that models trained side by side (in threads) must not
share, such as silencing progress bars or reducing metrics on the driver."""
from __future__ import annotations

import contextlib
import threading

__all__ = ["ThreadFlag"]


class ThreadFlag:
    """Off unless this thread is inside ``with flag.on():``."""

    def __init__(self):
        self._local = threading.local()

    def __bool__(self) -> bool:
        return getattr(self._local, "on", False)

    @contextlib.contextmanager
    def on(self):
        before = bool(self)
        self._local.on = True
        try:
            yield
        finally:
            self._local.on = before
