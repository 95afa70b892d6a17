"""Time of kscribe strip on real -dkms trees, and what each strip did.

For each tree (Debian -dkms packages of a suite, default trixie) and each kernel (Debian
targets, default bookworm/amd64 and trixie/amd64): the strip's own time (median of
--runs, the tree already read from the cache), its conditionals removed, rewritten and
kept, lines removed and SLOC before -> after; with --verify, the time of building both
trees and the verdict. The goal is a strip of the largest tree under 5 s.

Run: .venv/bin/python bench/strip.py [--verify] [--runs N] [--package P ...] [--kernel T ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.debian.dkms_source import dkms_tree
from kscribe.pipeline import prepare, strip_target_of, strip_tree
from kscribe.sloc import facets
from kscribe.strip import rules, target
from kscribe.strip.tree import strip

HERE = Path(__file__).resolve().parent
RULES = {"evdi-dkms": HERE.parent / "tests/strip/evdi.toml",
         "dahdi-dkms": HERE.parent / "tests/strip/dahdi.toml"}
PACKAGES = ["vhba-dkms", "evdi-dkms", "openvpn-dco-dkms", "dahdi-dkms"]
GOAL_S = 5.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", nargs="+", default=PACKAGES)
    ap.add_argument("--kernel", nargs="+", default=["bookworm/amd64", "trixie/amd64"])
    ap.add_argument("--suite", default="trixie", help="where the -dkms packages come from")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--verify", action="store_true", help="also build both trees and compare")
    args = ap.parse_args()
    settings = Settings.from_env()
    slowest = 0.0
    print(f"{'tree':28} {'kernel':16} {'strip s':>8} {'rm':>4} {'rw':>4} {'kept':>5} "
          f"{'lines -':>8} {'SLOC before -> after':>22}  verify")
    for package in args.package:
        deb, tree = dkms_tree(settings, args.suite, package)
        the_rules = rules.load(RULES.get(package))
        for name in args.kernel:
            version, distro, headers = strip_target_of(prepare(name, settings))
            t = target.make(version, distro, headers)
            strip(tree, t, the_rules)          # the kernel's headers asked once, as a run would
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                report = strip(tree, t, the_rules)
                times.append(time.perf_counter() - started)
            took = statistics.median(times)
            slowest = max(slowest, took)
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "stripped"
                verdict_text = "-"
                if args.verify:
                    started = time.perf_counter()
                    _, verdict = strip_tree(tree, out, settings, target=name,
                                            rules=RULES.get(package), verify=True)
                    assert verdict is not None
                    verdict_text = (f"{'PASS' if verdict.ok else 'FAIL'} "
                                    f"({len(verdict.original.modules)} .ko, "
                                    f"{time.perf_counter() - started:.0f} s)")
                else:
                    strip_tree(tree, out, settings, kernel=version, distro=distro,
                               rules=RULES.get(package))
                rows = facets.measure([tree, out], None)
            before, after = (sum(r.sloc[i] for r in rows) for i in (0, 1))
            c = report.total()
            print(f"{deb.name + ' ' + deb.version:28.28} {version + ' ' + name.split('/')[0]:16} "
                  f"{took:8.2f} {c.removed:4} {c.rewritten:4} {c.kept:5} "
                  f"{report.lines_removed:8} {before:>10,} -> {after:<9,}  {verdict_text}")
    print(f"slowest strip: {slowest:.2f} s (goal under {GOAL_S:.0f} s: "
          f"{'met' if slowest < GOAL_S else 'NOT met'})")
    return 0 if slowest < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
