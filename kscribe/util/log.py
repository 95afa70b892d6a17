"""kscribe's diagnostics on stderr: notes and progress, quieter with ``-q``, more with ``-v``.

One logger (``kscribe``) for every module; results go to stdout, everything else here.
Lines are indented two spaces so they stand apart from a command's own output.
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("kscribe")


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return f"  note: {text}" if record.levelno == NOTE else f"  {text}"


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted."""

    @property
    def stream(self):  # noqa: ANN201 - the logging module's attribute
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


NOTE = logging.INFO + 1
logging.addLevelName(NOTE, "NOTE")


def setup(verbosity: int = 0) -> None:
    """Send diagnostics to stderr: -1 quiet (warnings only), 0 progress and notes, 1 debug."""
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    if not any(getattr(h, "_kscribe", False) for h in LOGGER.handlers):
        handler = _Stderr()
        handler.setFormatter(_Format())
        handler._kscribe = True  # type: ignore[attr-defined]
        LOGGER.addHandler(handler)
        LOGGER.propagate = False
    LOGGER.setLevel(level)


def progress(message: str) -> None:
    """A step of long work: what is being fetched, made or built, and how long it took."""
    _emit(logging.INFO, message)


def note(message: str) -> None:
    """Something the user may want to know: a part left out, a fallback taken."""
    _emit(NOTE, message)


def debug(message: str) -> None:
    """Detail for ``-v``: timings, command lines."""
    _emit(logging.DEBUG, message)


def _emit(level: int, message: str) -> None:
    if not LOGGER.handlers:
        setup()
    LOGGER.log(level, message)
