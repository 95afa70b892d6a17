"""Generation time: specs + syscall tables + templates -> C, per target and for the matrix.

Measures ``kscribe generate`` work in-process from a warm cache (headers provisioned,
linux-source extracts cached): syscall tables of every ABI, tracepoint prototypes, rendering
of every module. Goal: under 1 s per target.

Run: .venv/bin/python bench/generate.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kscribe.codegen.module import render_sources
from kscribe.config import matrix
from kscribe.config.settings import Settings
from kscribe.instrument.syscalls import assemble as core
from kscribe.kernel.tree import read_tree
from kscribe.pipeline import prepare
from kscribe.util import log


def generate_once(name: str, settings: Settings, dest: Path) -> float:
    """Seconds to extract the syscall tables and render every module of one target."""
    p = prepare(name, settings)
    core.clear_cache()  # measure the extraction, not the in-memory cache
    started = time.perf_counter()
    tables = core.tables(p, settings)
    render_sources(read_tree(p.provisioned.kdir), dest, target=p.target.name,
                   arch=p.target.arch, syscalls=tables)
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per target (median)")
    args = ap.parse_args()
    log.setup(-1)  # the figures only, not the generator's notes
    settings = Settings.from_env()
    cells = matrix.load().build
    total = 0.0
    worst = ("", 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in cells:
            generate_once(name, settings, Path(tmp) / "warm")  # warm the disk caches
            runs = [generate_once(name, settings, Path(tmp) / f"{name.replace('/', '_')}{i}")
                    for i in range(args.repeat)]
            t = statistics.median(runs)
            total += t
            worst = max(worst, (name, t), key=lambda x: x[1])
            print(f"  {name:24} {t:6.3f} s")
    print(f"whole matrix ({len(cells)} targets): {total:.2f} s; slowest {worst[0]} "
          f"{worst[1]:.3f} s; goal < 1 s per target: {'met' if worst[1] < 1 else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
