"""Event filters in the guest: the recordings ``/init`` filters, and the filters it must refuse.

``/init`` records the workload twice more with filters (:data:`RECORDINGS`), so that the host
can compare each filtered trace with the unfiltered one filtered on the host, and asks
kscribectl for each of :data:`BAD` expecting exit status 1 and the message, never a trace.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Recording:
    """A filtered recording of the workload: its name (payload tag, in lower case the folder
    under /tmp) and its ``kscribectl record`` selection, ``-e``/``-f`` pairs."""

    name: str
    selection: tuple[tuple[str, str], ...]

    def options(self) -> list[str]:
        return [word for pattern, expr in self.selection for word in ("-e", pattern, "-f", expr)]


# the workload opens a file under /tmp/kscribe-*, writes 4242 bytes; its name is
# kscribe-workload, cut to the 15 characters of a task's comm
PROCNAME = "kscribe-workloa"
RECORDINGS = (
    Recording("FILTER", (("syscalls:openat", 'filename == "/tmp/kscribe-*" && tid != 1'),
                         ("syscalls:write", "count >= 4000 && count < 5000 && "
                                            f'!(procname != "{PROCNAME}")'))),
    Recording("WHO", (("syscalls:*", f'procname == "{PROCNAME}"'),)),
)


@dataclass(frozen=True)
class Bad:
    """A filter kscribectl must refuse, with the words its message must hold."""

    name: str
    pattern: str
    expr: str
    says: str


BAD = (
    Bad("syntax", "syscalls:openat", "tid ==", "expected a number after 'tid =='"),
    Bad("parenthesis", "syscalls:openat", "(tid == 1", "expected ')'"),
    Bad("unknown-field", "syscalls:openat", "no_such_field == 1",
        "no field or context 'no_such_field' in syscall_"),
    Bad("type-mismatch", "syscalls:openat", "filename == 3",
        "type mismatch: 'filename' is text"),
    Bad("text-order", "syscalls:openat", 'filename < "a"', "text compares with == and != only"),
    Bad("oversized", "syscalls:openat", " || ".join(f"tid == {n}" for n in range(80)),
        "the filter is too long"),
)


def template_context() -> dict[str, list[tuple[str, str]]]:
    """What ``/init`` runs: each recording's and each bad filter's options, shell-quoted."""
    return {"filter_recordings": [(r.name.lower(), shlex.join(r.options()))
                                  for r in RECORDINGS],
            "bad_filters": [(b.name, shlex.join(["-e", b.pattern, "-f", b.expr]))
                            for b in BAD]}


def problems(checks: dict[str, str], console: str) -> list[str]:
    """Each bad filter refused (exit status 1) with its message, where the syscall probe (the
    events they name) was loaded."""
    reasons: list[str] = []
    if not re.search(r" 0 insmod \S*/kscribe_probe_syscalls\.ko$", console, re.M):
        return reasons
    for bad in BAD:
        rc = checks.get(f"filter-{bad.name}-rc")
        if rc != "1" or f"kscribectl: -f '{bad.expr}': {bad.says}" not in console:
            reasons.append(f"kscribectl did not refuse the {bad.name} filter {bad.expr[:40]!r} "
                           f"saying {bad.says!r} (rc {rc})")
    return reasons
