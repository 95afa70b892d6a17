"""kscribe beside the tracers its users would otherwise run: LTTng, perf and ftrace, in one guest.

One boot of the target's kernel (kscribe.peers.guest) runs the same workloads untraced and
recorded by each tracer in turn, in interleaved rounds, then as many rounds of each tracer's
rate ladder:

- getppid():    every syscall traced, entry and exit, typed arguments where the tracer has
                them: overhead per traced syscall over the untraced loop;
- openat/read/close of a file in tmpfs (a string argument to copy): the same, per syscall;
- two threads ping-ponging a byte over two pipes, sched_switch and sched_wakeup recorded:
                overhead per event (the tracer's own event count per round trip);
- the highest rate of getppid() events each records without loss at its default buffer
  size, and what each reports lost beyond it: a ladder of rates made on every CPU at once,
  up to as fast as the CPUs can (the tracer's consumer then competes with the loops); the
  median over the rounds of each round's highest rate without loss;
- bytes of trace per event on disk (tmpfs), from the runs of round 1.

The three workloads run on CPU 0, each tracer's consumer on the other CPU. Ratios are each
peer's figure over kscribe's: above 1 means kscribe is ahead. QEMU runs without KVM here
(TCG, vCPUs in parallel), so absolute figures are slow; the ratios are the point. An x86
guest keeps time with the TSC, as hardware does (kscribe.peers.guest.CLOCK_ARGS).

With --profile, the same boot then samples every CPU (perf record -e cpu-clock -a) through
one run of that workload under each tracer, and prints where the time went.

Run: .venv/bin/python bench/peers.py [TARGET] [--rounds N] [--smoke] [--results DIR]
                                     [--profile WORKLOAD|flood]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.config.target import DEFAULT_TARGET
from kscribe.errors import KscribeError
from kscribe.peers import figures
from kscribe.peers.guest import FULL, SMOKE, WORKLOADS, run

PROFILE_LINE = re.compile(r"^\s+\d+\.\d+%\s")
PROFILE_TOP = 12  # lines of each profile printed


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.0f}{unit}" if abs(value) >= 10 else f"{value:.1f}{unit}"


def _ratio(peer: float | None, ours: float | None) -> str:
    if peer is None or ours is None or math.isnan(peer) or math.isnan(ours) or ours <= 0:
        return ""
    return f" (x{peer / ours:.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", nargs="?", default=DEFAULT_TARGET)
    ap.add_argument("--rounds", type=int, default=FULL.rounds, help="interleaved rounds")
    ap.add_argument("--smoke", action="store_true",
                    help="a short run that only proves every tracer loads and records")
    ap.add_argument("--results", type=Path, metavar="DIR",
                    help="read the results of an earlier run (out/<target>/peers/results)")
    ap.add_argument("--profile", choices=[*WORKLOADS, "flood"],
                    help="also profile one run of this workload under each tracer")
    args = ap.parse_args()
    plan = SMOKE if args.smoke else dataclasses.replace(FULL, rounds=args.rounds)
    if args.profile:
        plan = dataclasses.replace(plan, profile=args.profile)
    settings = Settings.from_env()
    fixes: list[str] = []
    try:
        results = args.results
        if results is None:
            done = run(args.target, settings, plan)
            if not done.verdict.ok:
                print(f"peers: {done.verdict.summary()} "
                      f"(console: {done.folder / 'console.log'})", file=sys.stderr)
                return 1
            results, fixes = done.results, done.lttng.fixes
        runs = figures.read_results(results)
    except KscribeError as e:
        print(f"kscribe: error: {e}", file=sys.stderr)
        return 2
    rows = {r.tracer: r for r in figures.table(runs, plan.rate_seconds)}
    ours = rows["kscribe"]
    versions = figures.versions(results)
    print(f"{args.target}: {', '.join(f'{k} {v}' for k, v in versions.items())}")
    if fixes:
        print(f"lttng-modules was patched to build for this kernel "
              f"(kscribe/data/lttng-fixes.toml): {'; '.join(fixes)}")
    print(f"one boot, {plan.rounds} interleaved round(s) and {max(plan.rounds, 1)} of the "
          f"ladder, medians; "
          f"calls {', '.join(f'{w} {n:,}' for w, n in plan.calls.items())}")
    head = ["tracer", "ns/syscall getppid", "ns/syscall files", "ns/event sched",
            *(f"B/event {w}" for w in WORKLOADS), "events/s no loss"]
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for tracer, r in rows.items():
        cells = [tracer]
        for w in ("getppid", "files"):
            cells.append(_fmt(r.per_syscall.get(w)) + _ratio(r.per_syscall.get(w),
                                                            ours.per_syscall.get(w)))
        cells.append(_fmt(r.per_event) + _ratio(r.per_event, ours.per_event))
        for w in WORKLOADS:
            size = r.bytes_per_event.get(w)
            cells.append(_fmt(size) + _ratio(size, ours.bytes_per_event.get(w)))
        cells.append(f"{r.clean_rate:,}" + (_ratio(ours.clean_rate, r.clean_rate)
                                            if r.clean_rate else ""))
        print(" | ".join(cells))
    print("losses beyond the clean rate (events/s made: events lost, and their share of the "
          "events the loop made), and what the count is:")
    for tracer, r in rows.items():
        lossy = ", ".join(f"{e:,}/s: {lost:,} ({lost / (e * plan.rate_seconds):.1%})"
                          for e, lost in r.lossy) or "none up to the top rate"
        print(f"  {tracer:8} {lossy}  [{figures.COUNTS[tracer].exact}]")
    for profile in sorted(results.glob("profile-*.txt")):
        lines = [line.rstrip() for line in profile.read_text(errors="replace").splitlines()
                 if PROFILE_LINE.match(line)]
        print(f"where the time went under {profile.stem.removeprefix('profile-')} "
              f"(share of the CPUs' samples: command, object, symbol):")
        print("\n".join(lines[:PROFILE_TOP]) or "  (no samples)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
