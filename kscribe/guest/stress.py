"""The robustness run: the tracer under stress in a booted kernel, judged from the console.

``templates/guest/stress.sh.j2`` is the guest's ``/init``: with a syscall load on every CPU it
loads, records and unloads the tracer many times, sends thousands of random ioctls and
random filter programs (the accepted ones then run on every event), records
into a tiny buffer (losses must be counted exactly and the trace still read), pauses and
resumes events while recording, and tries to unload while a recording runs. Any kernel
warning fails the run, as in the boot test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kscribe.guest.console import MARK, Verdict, checks, kernel_problems, lines, started, unfinished

CYCLES = 50  # load/record/unload cycles of a full run (kscribe stress); --cycles sets it
IOCTLS = 10_000
SCRIPT = "guest/stress.sh.j2"
_LOSS = re.compile(r"^kscribectl: cpu(\d+): (\d+) events, (\d+) discarded "
                   r"\(kernel: (\d+) written, (\d+) lost\)(.*)$", re.M)


@dataclass
class StressReport:
    """What the stress run printed, check by check."""

    checks: dict[str, str] = field(default_factory=dict)
    losses: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    # guest uptime (s) when each check, and the load ("start"), was reached
    at: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """One line per check: its value and how long its step took in the guest."""
        out, last = [], self.at.get("start")
        for name, value in self.checks.items():
            t = self.at.get(name)
            took = f" ({t - last:.1f} s)" if t is not None and last is not None else ""
            out.append(f"{name}: {value}{took}")
            last = t if t is not None else last
        return out


def report(console: str) -> StressReport:
    """The checks and per-CPU loss lines of a stress run's console."""
    at = {}
    for x in lines(console, MARK.at):
        name, _, seconds = x.partition(" ")
        try:
            at[name] = float(seconds)
        except ValueError:
            continue
    r = StressReport(checks=checks(console), at=at)
    r.losses = [(int(c), int(e), int(d), int(w), int(lost))
                for c, e, d, w, lost, _ in _LOSS.findall(console)]
    return r


def judge(console: str, cpus: int, cycles: int = CYCLES) -> Verdict:
    """Every check as expected (``cycles`` cycles, the load seen on all ``cpus``) and no
    kernel warning."""
    r = report(console)
    expected = {
        "cycles": f"{cycles}/{cycles}",
        "tiny-rc": "0",
        "toggle-rc": "0",
        "rmmod-probe-while-recording": "1",
        "rmmod-core-while-recording": "1",
        "recording-after-rmmod-attempts": "0",
        "unload": "0",
    }
    v = Verdict(ok=True)
    if started(console) is None:
        v.reasons.append("/init never ran")
    seen = r.checks.get("load-cpus", "").split("/")
    if seen != [str(cpus), str(cpus)]:
        v.reasons.append(f"check load-cpus: the syscall load was not seen on every CPU "
                         f"({r.checks.get('load-cpus', 'missing')})")
    for name, want in expected.items():
        got = r.checks.get(name)
        if got != want:
            v.reasons.append(f"check {name}: {got or 'missing'}, expected {want}")
    accepted = r.checks.get("fuzz-accepted", "")
    if not accepted.isdigit() or int(accepted) == 0:
        v.reasons.append(f"the ioctl fuzzer reached no valid command (accepted: "
                         f"{accepted or 'missing'})")
    accepted, _, refused = r.checks.get("filter-fuzz", "").partition("/")
    if not (accepted.isdigit() and refused.isdigit()) or not int(accepted) or not int(refused):
        v.reasons.append(f"the filter fuzzer did not both pass and fail the kernel's checks "
                         f"(accepted/refused: {r.checks.get('filter-fuzz', 'missing')})")
    if "load-failed" in r.checks:
        v.reasons.append("loading the modules failed after the cycles")
    tiny = r.losses[:2]
    if not tiny or not any(lost for *_, lost in tiny):
        v.reasons.append("the tiny buffer lost nothing: the loss path was not exercised")
    for cpu, events, discarded, written, lost in tiny:
        if discarded != lost or events != written:
            v.reasons.append(f"cpu{cpu}: trace says {events} events/{discarded} discarded, "
                             f"kernel {written} written/{lost} lost")
    v.reasons += kernel_problems(console)
    v.reasons += unfinished(console)
    return v.close()
