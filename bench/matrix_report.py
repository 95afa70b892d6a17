"""The matrix report's own cost: reading every cell's results and writing report.html,
report.md and junit.xml, on a real run's output folder (goal: under 1 s).

Run: .venv/bin/python bench/matrix_report.py [OUT] [--runs N]   (OUT: default $KSCRIBE_OUT
or ./out, after `doit -n 2 matrix`)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kscribe.config import matrix
from kscribe.config.settings import Settings
from kscribe.matrix import report, results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, help="a run's output folder")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    out = args.out or Settings.from_env(read_apt=False).out_dir
    m = matrix.load()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            started = time.perf_counter()
            found = results.collect(m.build, m.boot, out)
            line = report.write(found, Path(tmp) / str(i))
            times.append(time.perf_counter() - started)
        size = sum(p.stat().st_size for p in (Path(tmp) / "0").iterdir())
    print(f"{len(m.build)} build and {len(m.boot)} boot cells of {out}: {line}")
    print(f"report (collect + html + md + junit): median {statistics.median(times) * 1000:.1f} ms,"
          f" max {max(times) * 1000:.1f} ms over {args.runs} runs; {size} bytes written; "
          f"goal < 1 s: {'met' if max(times) < 1 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
