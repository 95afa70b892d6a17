"""Benchmark of the main job on the default target (bookworm/amd64); prints figures.

- cold: `doit` with an empty cache, output folder and lock (downloads, extract, build, boot)
- warm: `doit` with the cache kept but a fresh output folder and lock
- no-op: `doit` again with nothing changed, beside kbuild's own no-op: the build's exact
  `make -C <headers> M=<dir>` command (metadata.json's "make") on the same, already built
  tree; their ratio is measured in one run.

Run: .venv/bin/python bench/pipeline.py [--skip-cold] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kscribe.config.target import DEFAULT_TARGET, parse_target

ROOT = Path(__file__).resolve().parent.parent
SLUG = parse_target(DEFAULT_TARGET).slug


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed:\n{proc.stdout}{proc.stderr}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-cold", action="store_true", help="do not measure an empty cache")
    ap.add_argument("--repeat", type=int, default=5, help="no-op repetitions (default 5)")
    args = ap.parse_args()
    doit = [sys.executable, "-m", "doit"]
    work = Path(tempfile.mkdtemp(prefix="kscribe-bench-"))
    base = {**os.environ, "KSCRIBE_OUT": str(work / "out"),
            "KSCRIBE_LOCK": str(work / "kscribe.lock")}
    try:
        if not args.skip_cold:
            cold_env = {**base, "KSCRIBE_CACHE": str(work / "cache")}
            print(f"cold  doit (empty cache, provision + build + boot): "
                  f"{timed(doit, cold_env):6.2f} s")
            shutil.rmtree(work / "out")
            os.unlink(work / "kscribe.lock")
        print(f"warm  doit (cache kept, fresh output):             {timed(doit, base):6.2f} s")
        meta = json.loads((work / "out" / SLUG / "metadata.json").read_text())
        make = shlex.split(meta["make"])
        noop, kbuild = [], []
        for _ in range(args.repeat):
            noop.append(timed(doit, base))
            kbuild.append(timed(make, base))
        d, k = statistics.median(noop), statistics.median(kbuild)
        print(f"no-op doit rerun (median of {args.repeat}):              {d:6.3f} s")
        print(f"no-op kbuild, the build's own `make -C <headers> M=<dir>` (median): {k:6.3f} s")
        print(f"ratio doit / kbuild no-op:                          {d / k:6.2f} "
              f"({'faster' if d < k else 'slower'} than kbuild)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
