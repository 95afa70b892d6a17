"""Cost per traced syscall, kscribe against ftrace and no tracing, in one guest run.

Boots the default target (bookworm/amd64) under QEMU with templates/bench.sh.j2 as /init:
the same getppid() loop untraced, with the kernel's own syscall events (tracefs), and
recorded by kscribe (all syscalls, overwrite mode like ftrace's default), three rounds each;
then the highest call rate kscribe records without losing an event at its default buffer
size. QEMU runs without KVM here, so absolute figures are slow; the ratios are the point.

Run: .venv/bin/python bench/syscall_cost.py [TARGET] [--calls N]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys

from kscribe.boot import KERNEL_PROBLEMS, Verdict, boot
from kscribe.pipeline import _built_modules, _programs, build_target, outdir, prepare
from kscribe.settings import Settings

RATES = [5_000, 10_000, 20_000, 40_000, 80_000, 160_000]


def _judge(console: str) -> Verdict:
    v = Verdict(ok="KSCRIBE-END" in console)
    if not v.ok:
        v.reasons.append("the benchmark did not finish")
    v.reasons += [f"kernel: {ln}" for ln in KERNEL_PROBLEMS.findall(console)]
    v.ok = not v.reasons
    return v


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", nargs="?", default="bookworm/amd64")
    ap.add_argument("--calls", type=int, default=200_000, help="calls per loop")
    args = ap.parse_args()
    settings = Settings.from_env()
    build_target(args.target, settings)
    p = prepare(args.target, settings)
    folder = outdir(settings, p.target)
    run = folder / "bench"
    run.mkdir(parents=True, exist_ok=True)
    v = boot(arch=p.target.arch, kernel=p.provisioned.kernel, busybox=p.provisioned.busybox,
             modules=_built_modules(folder), programs=_programs(folder), outdir=run,
             script="bench.sh.j2", context={"calls": args.calls, "rates": RATES},
             judge_console=_judge, timeout=1800)
    console = (run / "console.log").read_text()
    if not v.ok:
        print(f"bench: {v.summary()} (console: {run / 'console.log'})", file=sys.stderr)
        return 1
    cost: dict[str, list[int]] = {}
    for mode, ns in re.findall(r"^KSCRIBE-BENCH (\w+) LOOP calls=\d+ ns_per_call=(\d+)",
                               console, re.M):
        cost.setdefault(mode, []).append(int(ns))
    med = {mode: statistics.median(values) for mode, values in cost.items()}
    print(f"{args.target}, {args.calls} getppid() per loop, median of {len(cost['none'])} "
          "rounds (QEMU TCG):")
    for mode in ("none", "ftrace", "kscribe"):
        extra = f"  (+{med[mode] - med['none']:.0f} ns per traced syscall)" \
            if mode != "none" else ""
        print(f"  {mode:8} {med[mode]:8.0f} ns per call{extra}")
    over_k, over_f = med["kscribe"] - med["none"], med["ftrace"] - med["none"]
    print(f"  kscribe / ftrace overhead ratio: {over_k / over_f:.2f} "
          f"({'no slower' if over_k <= over_f else 'slower'} than ftrace)")
    rates = [(int(r), int(lost or -1)) for r, lost in
             re.findall(r"^KSCRIBE-BENCH rate (\d+) lost=(\d*)", console, re.M)]
    clean = [r for r, lost in rates if lost == 0]
    for r, lost in rates:
        print(f"  {r:7} calls/s = {2 * r:7} events/s: {lost} lost")
    best = max(clean, default=0)
    print(f"  sustained without loss at the default buffer: {2 * best} events/s "
          f"({best} syscalls/s, the highest rate tried{' with no loss' if best else ''})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
