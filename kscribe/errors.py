"""The errors the command line turns into one line: ``kscribe: error: <message>``, exit 2.

Every failure a user can act on is a :class:`KscribeError` whose message names the file,
line, value or program at fault and what to do about it. The subclasses carry what they
are about, for callers that react to one kind (a missing program, a failed command).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path


class KscribeError(Exception):
    """A failure the user can act on; the message is a single line."""


class ToolMissing(KscribeError):
    """A host program is not installed: the message names its Debian package."""

    def __init__(self, program: str, package: str, why: str = "") -> None:
        self.program = program
        self.package = package
        reason = f" (needed {why})" if why else ""
        super().__init__(f"{program} not found{reason}: install it with "
                         f"`apt-get install {package}` (./setup installs everything)")


class CommandFailed(KscribeError):
    """A program exited non-zero or did not finish: argv and the tail of its stderr."""

    def __init__(self, argv: Sequence[str | Path], detail: str, returncode: int | None = None
                 ) -> None:
        self.argv = [str(a) for a in argv]
        self.returncode = returncode
        cmd = shlex.join(self.argv)
        if len(cmd) > 160:
            cmd = cmd[:157] + "..."
        super().__init__(f"`{cmd}` {detail}")
