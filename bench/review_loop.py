"""The review loop of one mode, timed phase by phase in one run: v1, then rerolls, then the
history import, each written as mail and taken back with b4 and git am.

v1 and every reroll are made without the in-tree builds (`--no-build`: the builds are the
figures of bench/upstream.py); each reroll is of unchanged sources, so its range-diff must
be all "=" and every trailer kept. Printed: the seconds of each phase (generate, am and
checkpatch, mail and round trip), a reroll's time against v1's, the size of the posting,
and history mode's import, merge and hook-up (without builds).

Run: .venv/bin/python bench/review_loop.py [MODE] [--rerolls N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from kscribe.config.settings import Settings
from kscribe.pipeline import upstream_history, upstream_series


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", default="bulk", help="the mode (default: bulk)")
    ap.add_argument("--rerolls", type=int, default=2, help="rerolls after v1 (default: 2)")
    args = ap.parse_args()
    settings = Settings.from_env()
    out = settings.out_dir / "upstream" / f"{args.mode}-review-loop"
    shutil.rmtree(out, ignore_errors=True)
    walls = []
    met = True
    for n in range(args.rerolls + 1):
        started = time.monotonic()
        s = upstream_series(args.mode, settings, out, reroll=n > 0, build=False)
        walls.append(time.monotonic() - started)
        size = sum(p.bytes for p in s.patches)
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in s.seconds.items())
        print(f"{args.mode} v{s.version}: {walls[-1]:.1f} s ({phases}); {len(s.mail)} "
              f"messages, {size} bytes of patches; round trip "
              f"{'identical' if s.gates['round_trip']['identical'] else 'DIFFERS'}")  # type: ignore[index]
        if n:
            same = all(ln.split()[2] == "=" for ln in s.range_diff.splitlines()
                       if ln[:1].isdigit())
            unchanged = all(p.since == "unchanged" for p in s.patches)
            print(f"  range-diff versus v{s.version - 1}: "
                  f"{'all =' if same else 'CHANGED'}; patches "
                  f"{'all unchanged' if unchanged else 'CHANGED'}; this reroll / v1 = "
                  f"{walls[-1] / walls[0]:.2f}")
            met &= same and unchanged
    started = time.monotonic()
    h = upstream_history(settings, settings.out_dir / "upstream" / "history-review-loop",
                         build=False)
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in h.seconds.items())
    print(f"history: {time.monotonic() - started:.1f} s ({phases}); "
          f"{h.imported} commits, merge {h.merge[:12]}, hook-up {h.hookup[:12]}, "
          f"{len(h.confinement)} paths outside, {len(h.without_signoff)} without "
          f"Signed-off-by")
    print("goals: " + ("met" if met else "NOT met: an unchanged reroll changed"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
