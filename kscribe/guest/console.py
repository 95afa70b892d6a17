"""The guest console protocol: marker lines the guest's ``/init`` prints and the host reads.

The serial console is the one channel every QEMU machine has. Every guest script
(``templates/guest/*.sh.j2``) gets :data:`MARK` as ``mark`` and prints these lines; the host
reads them back here and judges the run (:class:`Verdict`). A payload (a trace, the kernel's
format files) travels as base64 between ``KSCRIBE-<TAG>-BEGIN`` and ``-END`` lines.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from kscribe.errors import KscribeError


@dataclass(frozen=True)
class Markers:
    """The marker words, defined once for the templates and the readers."""

    begin: str = "KSCRIBE-BEGIN"  # /init runs: "<begin> <uname -r>"
    end: str = "KSCRIBE-END"  # /init finished
    rc: str = "KSCRIBE-RC"  # a step's exit status: "<rc> <status> <command>"
    nonroot: str = "KSCRIBE-NONROOT-RC"  # exit status of kscribectl as a non-root user
    check: str = "KSCRIBE-CHECK"  # a stress check's value: "<check> <name> <value>"
    at: str = "KSCRIBE-AT"  # guest uptime at a step: "<at> <name> <seconds>"
    bench: str = "KSCRIBE-BENCH"  # a benchmark figure
    toggles: str = "KSCRIBE-TOGGLES"  # tracing switches so far: "<toggles> <n> <uptime>"
    toggled: str = "KSCRIBE-TOGGLED"  # switches in all

    def payload_begin(self, tag: str) -> str:
        """The line before a base64 payload."""
        return f"KSCRIBE-{tag}-BEGIN"

    def payload_end(self, tag: str) -> str:
        """The line after a base64 payload."""
        return f"KSCRIBE-{tag}-END"


MARK = Markers()

# Console lines that fail a run whatever else happened.
KERNEL_PROBLEMS = re.compile(
    r"^.*(?:BUG:|WARNING:|Oops|Call Trace|Kernel panic|soft lockup|hung_task|"
    r"rcu_sched self-detected stall|general protection fault).*$", re.M)


def lines(console: str, marker: str) -> list[str]:
    """The rest of every line that starts with ``marker``, in order."""
    pattern = rf"^{re.escape(marker)}(?:[ \t]+(.*?))?\s*$"
    return [m.group(1) or "" for m in re.finditer(pattern, console, re.M)]


def checks(console: str) -> dict[str, str]:
    """The ``KSCRIBE-CHECK <name> <value>`` lines as name -> value."""
    out = {}
    for rest in lines(console, MARK.check):
        parts = rest.split()
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


def payload(console: str, tag: str) -> bytes:
    """The bytes sent between ``KSCRIBE-<tag>-BEGIN`` and ``-END`` lines, base64 decoded."""
    begin, end = MARK.payload_begin(tag), MARK.payload_end(tag)
    try:
        start = console.index(begin + "\n") + len(begin) + 1
        stop = console.index("\n" + end, start)
    except ValueError:
        raise KscribeError(f"the console carries no {tag.lower()} ({begin}/END lines)") from None
    try:
        return base64.b64decode("".join(console[start:stop].split()), validate=True)
    except binascii.Error as e:
        raise KscribeError(f"the {tag.lower()} on the console is damaged: {e}") from None


@dataclass
class Verdict:
    """The result of one guest run: ``ok`` and, when not, the reasons."""

    ok: bool
    reasons: list[str] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    kernel: str = ""

    def summary(self) -> str:
        """One line: PASS with the busiest probes, or FAIL with the reasons."""
        if self.ok:
            busiest = sorted(self.hits.items(), key=lambda kv: -kv[1])[:3]
            top = ", ".join(f"{k}={v}" for k, v in busiest)
            return f"PASS: loaded, traced ({top}), unloaded in {self.duration_s:.1f} s"
        return "FAIL: " + "; ".join(self.reasons)

    def close(self) -> Verdict:
        """Set ``ok`` from the reasons found."""
        self.ok = not self.reasons
        return self


def started(console: str) -> str | None:
    """The kernel release /init printed with its first marker, None if /init never ran."""
    found = lines(console, MARK.begin)
    return found[0].split()[0] if found and found[0] else ("" if found else None)


# A payload's lines between its BEGIN and END markers: base64 only, which can spell "Oops"
PAYLOAD = re.compile(r"^KSCRIBE-[A-Z0-9]+-BEGIN\n(?:[A-Za-z0-9+/=]*\n)*?KSCRIBE-[A-Z0-9]+-END$",
                     re.M)


def kernel_problems(console: str) -> list[str]:
    """A reason per console line that shows a kernel problem (warning, oops, lockup...);
    payloads are data, not kernel messages."""
    text = PAYLOAD.sub("", console)
    return [f"kernel: {ln.strip()}" for ln in KERNEL_PROBLEMS.findall(text)]


def unfinished(console: str, what: str = "/init did not finish") -> list[str]:
    """The reason of a run that did not reach its end marker, if it did not."""
    return [] if MARK.end in console else [f"{what} (no {MARK.end})"]


def judge_finished(console: str) -> Verdict:
    """The verdict of a guest run that only has to finish (``KSCRIBE-END``) with no kernel
    problem on the console: the benchmarks' runs."""
    v = Verdict(ok=True, reasons=unfinished(console, "the run did not finish"))
    v.reasons += kernel_problems(console)
    return v.close()
