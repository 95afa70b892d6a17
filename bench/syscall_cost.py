"""Cost per traced syscall, kscribe against ftrace and no tracing, in one guest run.

Boots the default target (bookworm/amd64) under QEMU with templates/guest/bench.sh.j2 as /init:
the same getppid() loop untraced, with the kernel's own syscall events (tracefs), and
recorded by kscribe (all syscalls, overwrite mode like ftrace's default: without contexts, with
kscribectl's default contexts, with a filter that rejects every event and one that accepts
every one), three rounds each, the cost per event beside the no-context figure;
then the highest call rate kscribe records without losing an event at its default buffer
size. QEMU runs without KVM here, so absolute figures are slow; the ratios are the point.

The guest runs multi-threaded TCG, as on hardware: kscribectl drains the buffers on the other
CPU while the loop runs. Single-threaded TCG (how x86 guests boot for the tests, see
kernel_module/DESIGN.md) time-slices the two vCPUs, charging the consumer's work to the
loop's clock. Tracing is switched on here only while no other CPU spins in the code being
patched, so the hang that single-threaded TCG avoids cannot arise.

Run: .venv/bin/python bench/syscall_cost.py [TARGET] [--calls N] [--boots N]
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import sys

from kscribe.config.settings import Settings
from kscribe.config.target import DEFAULT_TARGET
from kscribe.guest.console import MARK, judge_finished
from kscribe.pipeline import build_target, guest_run

RATES = [20_000, 40_000, 80_000, 160_000, 240_000, 320_000, 480_000]
SECONDS = 2  # per rate, as in templates/guest/bench.sh.j2
ACCEL = "tcg,thread=multi"  # vCPUs in parallel: see the module's docstring



# kscribe's rows: all syscall events, without contexts, with kscribectl's default ones, and
# with a filter that rejects every event (the loop's tid is never 1) or accepts every one
MODES = {"kscribe": ["-c", "none"], "contexts": [],
         "reject": ["-f", "tid == 1", "-c", "none"], "accept": ["-f", "tid != 1", "-c", "none"]}


def _boot(target: str, settings: Settings, calls: int) -> str | None:
    """One benchmark boot's console, or None (with the reason on stderr) if it failed."""
    v, run = guest_run(target, settings, "bench", script="guest/bench.sh.j2",
                       context={"calls": calls, "rates": RATES,
                                "kscribe_modes": [(m, shlex.join(o)) for m, o in MODES.items()]},
                       judge_console=judge_finished, timeout=1800, accel=ACCEL)
    if not v.ok:
        print(f"bench: {v.summary()} (console: {run / 'console.log'})", file=sys.stderr)
        return None
    return (run / "console.log").read_text()


def _costs(console: str) -> dict[str, float]:
    """ns per call of each mode, median of the boot's interleaved rounds."""
    cost: dict[str, list[int]] = {}
    for mode, ns in re.findall(rf"^{MARK.bench} (\w+) LOOP calls=\d+ ns_per_call=(\d+)",
                               console, re.M):
        cost.setdefault(mode, []).append(int(ns))
    return {mode: statistics.median(values) for mode, values in cost.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", nargs="?", default=DEFAULT_TARGET)
    ap.add_argument("--calls", type=int, default=200_000, help="calls per loop")
    ap.add_argument("--boots", type=int, default=1,
                    help="boots to take the median of (TCG timings vary between boots)")
    args = ap.parse_args()
    settings = Settings.from_env()
    build_target(args.target, settings)
    consoles = []
    for _ in range(args.boots):
        console = _boot(args.target, settings, args.calls)
        if console is None:
            return 1
        consoles.append(console)
    boots = [_costs(c) for c in consoles]
    ratios = [(b["kscribe"] - b["none"]) / (b["ftrace"] - b["none"]) for b in boots]
    per_event = {m: [(b[m] - b["none"]) / 2 for b in boots] for m in MODES}
    med = {mode: statistics.median(b[mode] for b in boots) for mode in boots[0]}
    print(f"{args.target}, {args.calls} getppid() per loop, rounds interleaved in each boot, "
          f"median of {args.boots} boot(s) (QEMU {ACCEL}):")
    for mode in ("none", "ftrace", *MODES):
        extra = f"  (+{med[mode] - med['none']:.0f} ns per traced syscall)" \
            if mode != "none" else ""
        print(f"  {mode:8} {med[mode]:8.0f} ns per call{extra}")
    base = statistics.median(per_event["kscribe"])
    print("  per event (entry and exit: half a traced syscall), against no context:")
    for mode, options in MODES.items():
        cost = statistics.median(per_event[mode])
        print(f"    {mode:8} {cost:6.0f} ns  x{cost / base:4.2f}  ({shlex.join(options)})")
    ratio = statistics.median(ratios)
    spread = f" (boots: {min(ratios):.2f} to {max(ratios):.2f})" if len(ratios) > 1 else ""
    print(f"  kscribe / ftrace overhead ratio: {ratio:.2f}{spread} "
          f"({'no slower' if ratio <= 1 else 'slower'} than ftrace)")
    console = consoles[-1]
    rates = [(int(r), int(lost) if lost else -1, int(calls or 0)) for r, lost, calls in
             re.findall(rf"^{MARK.bench} rate (\d+) lost=(\d*) calls=(\d*)", console, re.M)]
    for r, lost, calls in rates:
        achieved = 2 * calls // SECONDS
        print(f"  asked {r:7} calls/s, made {calls // SECONDS:7}/s = {achieved:7} events/s: "
              f"{lost} lost")
    clean = [2 * calls // SECONDS for _, lost, calls in rates if lost == 0]
    lossy = [2 * calls // SECONDS for _, lost, calls in rates if lost > 0]
    print(f"  sustained without loss at the default buffer: {max(clean, default=0)} events/s"
          + (f"; loss from {min(lossy)} events/s" if lossy else
             " (the highest rate the guest could produce)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
