"""Size of the syscall probe per matrix cell: lines and bytes of its C, and its .ko.

The syscall probe is the hand-written interpreter (kernel_module/probes/kscribe_syscalls.[ch])
plus the generated descriptor tables of the target. For every cell of ci/matrix.toml this
renders the sources (warm cache: headers provisioned) and prints events, lines of C, bytes of
C, and, where the cell was built (``kscribe build``), the .ko's size with and without debug
info. The goal, set against the one-function-per-syscall generator this replaced
(bookworm/amd64: 43,684 lines, 1,355,425 bytes of C, 2,220 events), is a fifth at most:
8.7k lines and 270 KB.

Run: .venv/bin/python bench/syscall_size.py [TARGET ...]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from kscribe.codegen.module import SYSCALL_FILES, SYSCALL_MODULE, SYSCALL_TABLES, render_sources
from kscribe.config import matrix
from kscribe.config.arches import host_arch
from kscribe.config.settings import Settings
from kscribe.instrument.syscalls import tables
from kscribe.kernel.tree import read_tree
from kscribe.pipeline import Layout, prepare
from kscribe.util import log, proc

BEFORE = {"target": "bookworm/amd64", "lines": 43_684, "bytes": 1_355_425}
GOAL = {"lines": 8_700, "bytes": 270_000}


def _ko(name: str, settings: Settings) -> tuple[int, int] | None:
    """Bytes of the cell's built syscall .ko, and without its debug info; None if not built."""
    target = prepare(name, settings).target
    ko = Layout.of(settings, target).folder / f"{SYSCALL_MODULE}.ko"
    if not ko.is_file():
        return None
    objcopy = "objcopy" if target.arch.name == host_arch().name else \
        f"{target.arch.triplet}-objcopy"
    with tempfile.TemporaryDirectory() as tmp:
        stripped = Path(tmp) / ko.name
        proc.run([objcopy, "--strip-debug", ko, stripped], why="to size the .ko without "
                 "its debug info")
        return ko.stat().st_size, stripped.stat().st_size


def measure(name: str, settings: Settings, dest: Path) -> dict[str, object]:
    """Events, lines and bytes of the syscall probe's C for one target."""
    p = prepare(name, settings)
    render_sources(read_tree(p.provisioned.kdir), dest, target=p.target.name,
                   arch=p.target.arch, syscalls=tables(p, settings))
    files = [dest / SYSCALL_TABLES, *(dest / f for f in SYSCALL_FILES.values())]
    text = [f.read_text() for f in files]
    events = re.search(r"^ \* (\d+) events\.$", text[0], re.M)
    return {"events": int(events.group(1)) if events else 0,
            "lines": sum(t.count("\n") for t in text),
            "bytes": sum(len(t.encode()) for t in text), "ko": _ko(name, settings)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="*", help="cells (default: every build cell of the matrix)")
    args = ap.parse_args()
    log.setup(-1)  # the figures only, not the generator's notes
    settings = Settings.from_env()
    cells = args.targets or matrix.load().build
    print(f"{'target':24} {'events':>6} {'lines':>7} {'bytes':>9} {'.ko':>10} "
          f"{'.ko -g0':>9}")
    worst = {"lines": 0, "bytes": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for name in cells:
            m = measure(name, settings, Path(tmp) / name.replace("/", "_"))
            ko = m["ko"]
            sizes = f"{ko[0]:>10,} {ko[1]:>9,}" if isinstance(ko, tuple) else \
                f"{'not built':>10} {'':>9}"
            print(f"{name:24} {m['events']:>6,} {m['lines']:>7,} {m['bytes']:>9,} {sizes}")
            for key in worst:
                worst[key] = max(worst[key], int(m[key]))  # type: ignore[call-overload]
            if name == BEFORE["target"]:
                print(f"  vs before ({BEFORE['lines']:,} lines, {BEFORE['bytes']:,} bytes): "
                      f"{m['lines'] / BEFORE['lines']:.3f} of the lines, "
                      f"{m['bytes'] / BEFORE['bytes']:.3f} of the bytes")
    met = all(worst[k] <= GOAL[k] for k in GOAL)
    print(f"largest cell: {worst['lines']:,} lines, {worst['bytes']:,} bytes; goal "
          f"<= {GOAL['lines']:,} lines and <= {GOAL['bytes']:,} bytes: "
          f"{'met' if met else 'missed'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
