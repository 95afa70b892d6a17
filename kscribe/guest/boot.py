"""The boot test's verdict: did every step of ``templates/guest/init.sh.j2`` succeed?

``/init`` loads the modules, records a small workload, checks that a non-root user is
refused, unloads and powers off; the console must show every step's exit status 0, the
core's own messages, hit counts, and no kernel warning.
"""

from __future__ import annotations

import re
import signal

from kscribe.guest import contexts, filters
from kscribe.guest.console import MARK, Verdict, checks, kernel_problems, lines, started, unfinished

_STAT = re.compile(r"^(\w+):(\w+) (\d+)\s*$", re.M)
_UNLOAD = re.compile(r"kscribe: (\w+): (\d+) events, (\d+) fired, (\d+) hits$", re.M)
STEPS = ("insmod", "kscribectl", "rmmod")


UNSAFE_DIRS = ("shared", "theirs", "link")
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # forwarded by kscribectl to COMMAND
# what tests/guest/abi-check.c checks
ABI_PROMISES = ("features", "enable-reuse", "filters", "status-pid", "stop-other",
                "stream-reads")


def _trace_safety(checks: dict[str, str]) -> list[str]:
    """The trace's modes, and the refusal of output directories others could tamper with."""
    reasons = []
    if checks.get("trace-modes") != "700/600":
        reasons.append(f"trace directory/files not 700/600 but {checks.get('trace-modes')}")
    for name in UNSAFE_DIRS:
        if checks.get(f"unsafe-dir-{name}") in (None, "0"):
            reasons.append(f"kscribectl recorded into the unsafe directory /tmp/{name} "
                           f"(rc {checks.get(f'unsafe-dir-{name}')})")
    if checks.get("victim-files") != "0":
        reasons.append(f"kscribectl wrote through a symbolic link "
                       f"({checks.get('victim-files')} files in its target)")
    return reasons


def _signals(checks: dict[str, str]) -> list[str]:
    """kscribectl passed each signal on to COMMAND, wrote its trace and left nothing behind."""
    reasons = []
    for sig in SIGNALS:
        name, number = sig.name.removeprefix("SIG"), sig.value
        rc, files, left = (checks.get(f"signal-{name}", "").split("/") + ["?"] * 3)[:3]
        if rc != str(128 + number) or not files.isdigit() or int(files) < 2 or left != "0":
            reasons.append(f"SIG{name} to kscribectl: exit {rc} (COMMAND killed by it: "
                           f"{128 + number}), {files} trace files, {left} COMMAND left")
    return reasons


def _lockdown(checks: dict[str, str]) -> list[str]:
    """/dev/kscribe refused once the kernel is locked down (confidentiality)."""
    if checks.get("lockdown") != "confidentiality":
        return [f"the kernel could not be locked down (lockdown: {checks.get('lockdown')})"]
    if checks.get("lockdown-refused") in (None, "0"):
        return ["/dev/kscribe was not refused under lockdown"]
    return []


def _abi_promises(checks: dict[str, str]) -> list[str]:
    """What kscribe-abi-check found: every promise of the ABI kept."""
    return [f"ABI check {name}: {checks.get(f'abi-{name}', 'did not run')}"
            for name in ABI_PROMISES if checks.get(f"abi-{name}") != "ok"]


def judge(console: str) -> Verdict:
    """Read a boot console: did every step succeed, did the probes count, no warnings?"""
    v = Verdict(ok=True)
    kernel = started(console)
    ran = kernel is not None
    if not ran:
        v.reasons.append(f"/init never ran (no {MARK.begin} on the console)")
    else:
        v.kernel = kernel or ""
    steps = []
    for rest in lines(console, MARK.rc):
        rc, _, cmd = rest.partition(" ")
        steps.append(cmd.split()[0] if cmd else "")
        if rc != "0":
            detail = re.search(rf"^{re.escape(cmd.split()[0])}: .*$", console, re.M) \
                if cmd else None
            v.reasons.append(f"`{cmd}` exited {rc}" + (f" ({detail.group(0)})" if detail else ""))
    for need in STEPS:
        if ran and need not in steps:
            v.reasons.append(f"no {need} step ran")
    if ran and not re.search(r"kscribe: core \S+ loaded", console):
        v.reasons.append("the core module never said it loaded")
    v.hits = {f"{s}:{e}": int(n) for s, e, n in _STAT.findall(console)}
    if ran and not any(v.hits.values()):
        v.reasons.append("no probe counted any hit")
    unload = _UNLOAD.findall(console)
    if ran and "rmmod" in steps and not unload:
        v.reasons.append("no hit counts reported on unload")
    nonroot = lines(console, MARK.nonroot)
    if ran and (not nonroot or nonroot[0] == "0"):
        v.reasons.append("a non-root user was not refused by /dev/kscribe")
    if ran:
        found = checks(console)
        v.reasons += _trace_safety(found) + _abi_promises(found) + _signals(found)
        v.reasons += _lockdown(found) + contexts.problems(found, console)
        v.reasons += filters.problems(found, console)
    v.reasons += kernel_problems(console)
    if ran:
        v.reasons += unfinished(console)
    return v.close()
