"""Does live code patching hang an x86 guest under QEMU's multi-threaded TCG?

Boots the target (default bookworm/amd64) with templates/guest/textpoke.sh.j2 as /init: no kscribe
module, only ftrace's raw_syscalls events switched on and off while getppid() spins on every
CPU, for a fixed time. Each switch patches live code with text_poke_bp() (int3, IPIs, the
new bytes). Under multi-threaded TCG a vCPU can keep running its stale translation of the int3
and loop in the int3 handler for ever (kernel_module/DESIGN.md, "Testing under TCG"); under
single-threaded TCG it cannot, but each IPI then waits for the other vCPU's time slice.
Prints, per mode and run, the switches made, their rate, and whether the guest hung.

Run: .venv/bin/python bench/tcg_text_poke.py [TARGET] [--seconds S] [--runs N]
"""

from __future__ import annotations

import argparse
import re

from kscribe.config.settings import Settings
from kscribe.config.target import DEFAULT_TARGET
from kscribe.guest.console import MARK, judge_finished
from kscribe.pipeline import build_target, guest_run

MODES = {"multi-threaded": "tcg,thread=multi", "single-threaded": "tcg,thread=single"}



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", nargs="?", default=DEFAULT_TARGET)
    ap.add_argument("--seconds", type=int, default=120, help="guest seconds of switching")
    ap.add_argument("--runs", type=int, default=2, help="runs per TCG mode")
    args = ap.parse_args()
    settings = Settings.from_env()
    build_target(args.target, settings)
    print(f"{args.target}: ftrace raw_syscalls on/off for {args.seconds} s under a getppid() "
          "load on every CPU")
    for mode, accel in MODES.items():
        for n in range(1, args.runs + 1):
            v, run = guest_run(args.target, settings, f"textpoke-{accel.split('=')[1]}-{n}",
                               script="guest/textpoke.sh.j2", context={"seconds": args.seconds},
                               judge_console=judge_finished, timeout=args.seconds + 180,
                               accel=accel)
            console = (run / "console.log").read_text(errors="replace")
            done = re.findall(rf"^{MARK.toggles} (\d+) ([0-9.]+)", console, re.M)
            count, at = (int(done[-1][0]), float(done[-1][1])) if done else (0, 0.0)
            first = next((r.split("] ", 1)[-1] for r in v.reasons
                          if "lockup" in r or "stall" in r), "no kernel message")
            state = "finished" if v.ok else f"hung after {at:.0f} s of uptime ({first})"
            rate = count / args.seconds if v.ok else 0
            print(f"  {mode:16} run {n}: {count:>5} switches ({rate:.1f}/s), {state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
