"""Cost per traced syscall, kscribe against ftrace and no tracing, in one guest run.

Boots the default target (bookworm/amd64) under QEMU with templates/guest/bench.sh.j2 as /init:
the same getppid() loop untraced, with the kernel's own syscall events (tracefs), and
recorded by kscribe (all syscalls, overwrite mode like ftrace's default), three rounds each;
then the highest call rate kscribe records without losing an event at its default buffer
size. QEMU runs without KVM here, so absolute figures are slow; the ratios are the point.

The guest runs multi-threaded TCG, as on hardware: kscribectl drains the buffers on the other
CPU while the loop runs. Single-threaded TCG (how x86 guests boot for the tests, see
kernel_module/DESIGN.md) time-slices the two vCPUs, charging the consumer's work to the
loop's clock. Tracing is switched on here only while no other CPU spins in the code being
patched, so the hang that single-threaded TCG avoids cannot arise.

Run: .venv/bin/python bench/syscall_cost.py [TARGET] [--calls N]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys

from kscribe.config.settings import Settings
from kscribe.config.target import DEFAULT_TARGET
from kscribe.guest.console import MARK, judge_finished
from kscribe.pipeline import build_target, guest_run

RATES = [20_000, 40_000, 80_000, 160_000, 240_000, 320_000, 480_000]
SECONDS = 2  # per rate, as in templates/guest/bench.sh.j2
ACCEL = "tcg,thread=multi"  # vCPUs in parallel: see the module's docstring



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", nargs="?", default=DEFAULT_TARGET)
    ap.add_argument("--calls", type=int, default=200_000, help="calls per loop")
    args = ap.parse_args()
    settings = Settings.from_env()
    build_target(args.target, settings)
    v, run = guest_run(args.target, settings, "bench", script="guest/bench.sh.j2",
                       context={"calls": args.calls, "rates": RATES},
                       judge_console=judge_finished, timeout=1800, accel=ACCEL)
    console = (run / "console.log").read_text()
    if not v.ok:
        print(f"bench: {v.summary()} (console: {run / 'console.log'})", file=sys.stderr)
        return 1
    cost: dict[str, list[int]] = {}
    for mode, ns in re.findall(rf"^{MARK.bench} (\w+) LOOP calls=\d+ ns_per_call=(\d+)",
                               console, re.M):
        cost.setdefault(mode, []).append(int(ns))
    med = {mode: statistics.median(values) for mode, values in cost.items()}
    print(f"{args.target}, {args.calls} getppid() per loop, median of {len(cost['none'])} "
          f"rounds (QEMU {ACCEL}):")
    for mode in ("none", "ftrace", "kscribe"):
        extra = f"  (+{med[mode] - med['none']:.0f} ns per traced syscall)" \
            if mode != "none" else ""
        print(f"  {mode:8} {med[mode]:8.0f} ns per call{extra}")
    over_k, over_f = med["kscribe"] - med["none"], med["ftrace"] - med["none"]
    print(f"  kscribe / ftrace overhead ratio: {over_k / over_f:.2f} "
          f"({'no slower' if over_k <= over_f else 'slower'} than ftrace)")
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
