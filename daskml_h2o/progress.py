"""H2O's job progress bar (``<job> progress: |████| (done) 100%``) and the global on/off switch."""
from __future__ import annotations

import sys
import time

from daskml_h2o._threadflag import ThreadFlag

__all__ = ["no_progress", "show_progress", "progress_enabled", "quiet", "ProgressBar"]

_enabled = True
_quiet = ThreadFlag()  # per-thread silence: models trained side by side must not interleave bars
_BAR_WIDTH = 60


def no_progress():
    """Stop printing progress bars (H2O's ``h2o.no_progress``)."""
    global _enabled
    _enabled = False


def show_progress():
    """Print progress bars again (H2O's ``h2o.show_progress``)."""
    global _enabled
    _enabled = True


def progress_enabled() -> bool:
    return _enabled and not _quiet


def quiet():
    """No progress bars from this thread inside the block (fold models, grid members)."""
    return _quiet.on()


class ProgressBar:
    """One job's bar. On a terminal it redraws in place; elsewhere it only appends new blocks,
    as H2O's client does when stdout is not a TTY, so logs and notebooks stay readable."""

    def __init__(self, title: str, stream=None, enabled: bool | None = None):
        self.title = title
        self.stream = stream if stream is not None else sys.stdout
        self.enabled = progress_enabled() if enabled is None else (enabled and not _quiet)
        self._drawn = 0
        self._started = time.monotonic()
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._open = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        elif self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

    def update(self, fraction: float) -> None:
        if not self.enabled:
            return
        fraction = min(max(float(fraction), 0.0), 1.0)
        blocks = int(round(fraction * _BAR_WIDTH))
        if self._tty:
            bar = "█" * blocks + " " * (_BAR_WIDTH - blocks)
            self.stream.write(f"\r{self.title} progress: |{bar}| {fraction * 100:3.0f}%")
        else:
            if not self._open:
                self.stream.write(f"{self.title} progress: |")
            self.stream.write("█" * max(0, blocks - self._drawn))
        self._open = True
        self._drawn = max(self._drawn, blocks)
        self.stream.flush()

    def finish(self) -> None:
        if not self.enabled:
            return
        self.update(1.0)
        elapsed = time.monotonic() - self._started
        tail = f" ({elapsed:.1f}s)" if self._tty else "| (done) 100%"
        self.stream.write(tail + "\n")
        self.stream.flush()
        self._open = False
