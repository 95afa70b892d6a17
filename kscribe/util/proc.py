"""The one way kscribe runs a program: missing programs and failures become one-line errors.

:func:`run` runs to completion; :func:`stream` reads a program's output as it comes (the
data archive of a package, a decompressor) and still checks how it ended; :func:`watch`
reads a long run's output as it comes and ends it early on a line that says it is stuck.
A program that is not installed is a :class:`~kscribe.errors.ToolMissing` naming its
Debian package (from :mod:`kscribe.util.hosttools`); a non-zero exit or a time-out is a
:class:`~kscribe.errors.CommandFailed` with the command line and the last line of stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from kscribe.errors import CommandFailed
from kscribe.util import hosttools

Argv = Sequence[str | Path]


def _resolve(argv: Argv, why: str) -> list[str]:
    """``argv`` as strings with its program checked: a bare name must be on PATH."""
    args = [str(a) for a in argv]
    if "/" not in args[0]:
        hosttools.require(args[0], why=why)
    elif not os.access(args[0], os.X_OK):
        raise CommandFailed(args, "cannot run: the program is missing or not executable")
    return args


def tail(text: str | bytes, limit: int = 300) -> str:
    """The last non-empty line of a program's output, for an error message."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else "no message")[:limit]


def run(argv: Argv, *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        input: str | bytes | None = None, timeout: float | None = None, check: bool = True,
        text: bool = True, capture: bool = True, why: str = "",
        keep_on_timeout: bool = False) -> subprocess.CompletedProcess:
    """Run ``argv`` to completion; with ``check``, a non-zero exit raises CommandFailed.

    ``why`` says what the program is needed for, in the error when it is not installed.
    Output is captured unless ``capture`` is False. A time-out raises CommandFailed, or with
    ``keep_on_timeout`` returns what was output so far with ``returncode`` None.
    """
    args = _resolve(argv, why)
    try:
        proc = subprocess.run(args, cwd=cwd, env=dict(env) if env is not None else None,
                              input=input, timeout=timeout, text=text,
                              errors="replace" if text else None, capture_output=capture,
                              stdin=subprocess.DEVNULL if input is None else None)
    except subprocess.TimeoutExpired as e:
        if keep_on_timeout:
            empty = "" if text else b""
            return subprocess.CompletedProcess(args, None, e.stdout or empty,  # type: ignore[arg-type]
                                               e.stderr or empty)
        raise CommandFailed(args, f"did not finish within {timeout:g} s") from None
    except OSError as e:
        raise CommandFailed(args, f"cannot run: {e.strerror}") from None
    if check and proc.returncode != 0:
        raise CommandFailed(args, f"exited {proc.returncode}: {tail(proc.stderr or '')}",
                            proc.returncode)
    return proc


def watch(argv: Argv, *, timeout: float, stop_when: Callable[[bytes], bool],
          why: str = "") -> tuple[subprocess.CompletedProcess, bool]:
    """Run ``argv`` reading its stdout line by line as it comes, and kill it at the first
    line that makes ``stop_when`` true (a guest that can no longer finish). Returns what it
    printed, with ``returncode`` None if it was killed or timed out, and whether a line
    stopped it. Nothing is checked: the caller judges the output."""
    args = _resolve(argv, why)
    lines: list[bytes] = []
    stopped = threading.Event()
    with tempfile.TemporaryFile() as errors:
        try:
            # a session of its own: ending it ends what it started, which may hold stdout
            p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            raise CommandFailed(args, f"cannot run: {e.strerror}") from None

        def end() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)

        def read() -> None:
            assert p.stdout is not None
            for line in p.stdout:
                lines.append(line)
                if not stopped.is_set() and stop_when(line):
                    stopped.set()
                    end()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            rc: int | None = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            end()
            p.wait()
            rc = None
        except BaseException:  # interrupted: not left running on its own
            end()
            raise
        reader.join()
        errors.seek(0)
        err = errors.read()
    return subprocess.CompletedProcess(args, None if stopped.is_set() else rc,  # type: ignore[arg-type]
                                       b"".join(lines), err), stopped.is_set()


class Stream:
    """A running program whose stdout is read as a stream (see :func:`stream`)."""

    def __init__(self, proc: subprocess.Popen, args: list[str], errors: IO[bytes]) -> None:
        self.proc = proc
        self.args = args
        self._errors = errors
        self._stopped = False

    @property
    def stdout(self) -> IO[bytes]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    @property
    def stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    def stop(self) -> None:
        """End the program early: enough was read, its exit status does not matter."""
        self._stopped = True
        self.proc.kill()

    def finish(self) -> None:
        """Wait for the program; unless stopped, a non-zero exit raises CommandFailed."""
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        rc = self.proc.wait()
        if rc != 0 and not self._stopped:
            self._errors.seek(0)
            raise CommandFailed(self.args, f"exited {rc}: {tail(self._errors.read())}", rc)


@contextlib.contextmanager
def stream(argv: Argv, *, stdin: bool = False, why: str = "") -> Iterator[Stream]:
    """Start ``argv`` with its stdout (and, with ``stdin``, its stdin) as pipes.

    At the end of the block the program is waited for and its exit status checked, unless
    :meth:`Stream.stop` ended it; on an exception in the block it is killed.
    """
    args = _resolve(argv, why)
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors,
                                    stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        except OSError as e:
            raise CommandFailed(args, f"cannot run: {e.strerror}") from None
        s = Stream(proc, args, errors)
        try:
            yield s
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        s.finish()


class Job:
    """A program started with :func:`start`, running beside others until :meth:`wait`."""

    def __init__(self, proc: subprocess.Popen, args: list[str], input: str) -> None:
        self.proc = proc
        self.args = args
        self.input = input

    def wait(self) -> subprocess.CompletedProcess:
        """Send the input, wait, and return the outcome (exit status not checked)."""
        out, err = self.proc.communicate(self.input)
        return subprocess.CompletedProcess(self.args, self.proc.returncode, out, err)


def start(argv: Argv, input: str, why: str = "") -> Job:
    """Start ``argv`` with ``input`` for its stdin, text captured: several run at once."""
    args = _resolve(argv, why)
    try:
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace")
    except OSError as e:
        raise CommandFailed(args, f"cannot run: {e.strerror}") from None
    return Job(p, args, input)


def require(program: str, package: str | None = None, why: str = "") -> str:
    """The path of ``program``, or a ToolMissing naming its package (see hosttools)."""
    return hosttools.require(program, package, why)


def installed(name: str) -> str:
    """The program ``name`` installed beside the Python that runs kscribe (a virtual
    environment's ``bin/``, where pip puts b4 and git-filter-repo), else ``name`` on PATH."""
    import sys

    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.is_file() else name
