"""Per-event contexts in the guest: what the booted core offers, checked against abi.yaml.

``/init`` prints ``kscribectl contexts`` as ``context-<name> <type>/<available|not>`` checks,
then asks for an unknown context and for the cycle counter; the core must offer every context
abi.yaml declares, with its type, every one that needs no PMU available, and kscribectl must
refuse what it cannot record (an unknown name, a counter the CPU lacks) with its reason.
"""

from __future__ import annotations

import re
from functools import cache

from kscribe.codegen import uapi

PERF_PREFIX = "perf_"
UNKNOWN = "no_such_context"  # the name /init asks for (templates/guest/init.sh.j2)


@cache
def declared() -> dict[str, str]:
    """abi.yaml's contexts: name -> type."""
    return uapi.load().contexts()


def task_contexts() -> list[str]:
    """The contexts every kernel and CPU can record: all but the perf counters."""
    return [name for name in declared() if not name.startswith(PERF_PREFIX)]


def problems(checks: dict[str, str], console: str) -> list[str]:
    """What is wrong with the contexts the guest reported (empty when all is right)."""
    reasons = []
    for name, ctype in declared().items():
        got = checks.get(f"context-{name}")
        if got is None:
            reasons.append(f"context {name}: not offered by the core")
            continue
        offered, _, available = got.partition("/")
        if offered != ctype:
            reasons.append(f"context {name}: type {offered}, abi.yaml says {ctype}")
        if available != "available" and not name.startswith(PERF_PREFIX):
            reasons.append(f"context {name}: not available")
    if checks.get("context-unknown-rc") != "1" or \
            f"kscribectl: unknown context '{UNKNOWN}'" not in console:
        reasons.append(f"kscribectl did not refuse the unknown context {UNKNOWN!r} "
                       f"(rc {checks.get('context-unknown-rc')})")
    cycles = f"{PERF_PREFIX}cpu_cycles"
    counted = checks.get(f"context-{cycles}", "").endswith("/available")
    refused = re.search(rf"kscribectl: context '{cycles}' is not available", console)
    if checks.get("context-perf-rc") != ("0" if counted else "1") or (not counted and not refused):
        reasons.append(f"recording {cycles} ({'available' if counted else 'not available'}): "
                       f"rc {checks.get('context-perf-rc')}")
    return reasons
