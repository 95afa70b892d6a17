"""Cost of the state dump with many threads, in one guest run.

Boots the target (default bookworm/amd64) with templates/guest/statedump.sh.j2 as /init: for
each thread count, kscribe-threads (tests/guest/threads.c) starts that many waiting threads
and asks for a state dump (kscribectl statedump) during a recording of the statedump events.
The dump reports its own cost in its statedump_end event: how long it took, and the longest
time it held a lock or an RCU read section (a walk of the task list, a file table, an
interrupt descriptor). Prints both per thread count, and per thread. QEMU runs without KVM
here: absolute figures are slow, the growth with the thread count is the point.

Run: .venv/bin/python bench/statedump.py [TARGET] [--threads N ...]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.config.target import DEFAULT_TARGET
from kscribe.guest.console import judge_finished
from kscribe.guest.trace import babeltrace, extract, parse
from kscribe.pipeline import build_target, guest_run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", nargs="?", default=DEFAULT_TARGET)
    ap.add_argument("--threads", type=int, nargs="+", default=[0, 1000, 3000])
    args = ap.parse_args()
    settings = Settings.from_env()
    build_target(args.target, settings)
    v, run = guest_run(args.target, settings, "statedump", script="guest/statedump.sh.j2",
                       context={"threads": args.threads}, judge_console=judge_finished,
                       timeout=1800)
    if not v.ok:
        print(f"bench: {v.summary()} (console: {run / 'console.log'})")
        return 1
    console = (run / "console.log").read_text()
    print(f"{args.target}: state dumps asked for by a process with N waiting threads")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.threads:
            events = parse(babeltrace(extract(console, Path(tmp) / f"d{n}", tag=f"DUMP{n}")))
            end = [e.fields for e in events if e.name == "statedump_end"][-1]
            threads, fds = end["threads"], end["fds"]
            took, longest = end["duration_ns"] / 1e6, end["longest_ns"] / 1e3
            print(f"  {n:5} threads asked: {threads:5} threads, {fds:5} files dumped in "
                  f"{took:8.1f} ms ({end['duration_ns'] / max(threads, 1) / 1e3:5.1f} us per "
                  f"thread); longest lock/RCU hold {longest:8.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
