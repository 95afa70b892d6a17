"""The upstream series of every mode of patches/plan.yaml: made, gated and proven, with figures.

For each mode (or those given) and each ABI choice (keep, new; or the one given): patches,
lines added, the largest patch in bytes, checkpatch totals, per-patch build results
(CONFIG_KSCRIBE=m, =y, =n, W=1), the exports and their in-tree users, the uapi header test,
the time to generate, to apply and check, to build, and the proof's boot in the Debian
kernel. The goals of the upstreaming plan are checked on the way: the whole tracer under
12k added lines, no patch over 300 kB, at most 15 patches per posting. Each mode's work
folder (kernel worktrees and builds, 3.6 GB) is removed once it is measured.

Run: .venv/bin/python bench/upstream.py [--abi keep|new] [MODE...]
"""

from __future__ import annotations

import argparse
import shutil
import sys

from kscribe.config.settings import Settings
from kscribe.pipeline import ABI_CHOICES, upstream_label, upstream_proof, upstream_series
from kscribe.upstream import plan

MAX_LINES = 12_000
MAX_BYTES = 300_000
MAX_PATCHES = 15


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modes", nargs="*", help="modes to run (default: all of the plan)")
    ap.add_argument("--abi", choices=ABI_CHOICES, help="only this ABI choice (default: both)")
    args = ap.parse_args()
    settings = Settings.from_env()
    runs = [(mode, abi) for mode in args.modes or list(plan.load().modes)
            for abi in ([args.abi] if args.abi else ABI_CHOICES)]
    met = True
    for mode, abi in runs:
        label = upstream_label(mode, abi)
        out = settings.out_dir / "upstream" / f"{label}-patches"
        s = upstream_series(mode, settings, out, abi=abi)
        proof = upstream_proof(mode, settings, out, abi=abi)
        # the mode's kernel worktrees and builds (3.6 GB each); its patches stay in out
        shutil.rmtree(settings.out_dir / "upstream" / label, ignore_errors=True)
        added = sum(p.added for p in s.patches)
        largest = max(s.patches, key=lambda p: p.bytes)
        totals = [sum(p.gates["checkpatch"][k] for p in s.patches)  # type: ignore[index]
                  for k in ("errors", "warnings", "checks")]
        print(f"{label}: {len(s.patches)} patches on {s.base}, ioctls {s.abi['magic']!r} "
              f"{s.abi['first']:02X}-{s.abi['last']:02X} ABI {s.abi['version']}, +{added} "
              f"lines, largest "
              f"{largest.bytes} bytes (patch {largest.number}), checkpatch "
              f"{totals[0]}/{totals[1]}/{totals[2]} (errors/warnings/checks; warnings allowed: "
              f"{sorted({a for p in s.patches for a in p.gates['checkpatch']['allowed']})})")  # type: ignore[index]
        for p in s.patches:
            b: dict = p.gates["build"]  # type: ignore[assignment]
            print(f"  {p.number:2} {p.subject[:60]:60} +{p.added:5} {p.bytes:7} B  "
                  f"m {len(b['m'])} modules {b['m_s']:5.1f} s, y {len(b['y'])} objects "
                  f"{b['y_s']:5.1f} s, n {len(b['n'])} {b['n_s']:5.1f} s")
        if s.out_of_tree:
            print(f"  out of tree, built against the tree: {len(s.out_of_tree)} modules")
        uapi: dict = s.gates["uapi"]  # type: ignore[assignment]
        exports: dict = s.gates["exports"]  # type: ignore[assignment]
        print(f"  exports, each with an in-tree user: {len(exports)}; uapi header test: "
              f"{uapi['headers_tested']} headers, {uapi['s']} s")
        print(f"  seconds: generate {s.seconds['generate']}, git am + checkpatch "
              f"{s.seconds['am_checkpatch']}, builds {s.seconds['build']}; proof: "
              f"{proof.verdict.summary()}, {len(proof.events)} events")
        goals = {f"under {MAX_LINES} lines": added < MAX_LINES,
                 f"no patch over {MAX_BYTES} bytes": largest.bytes <= MAX_BYTES,
                 f"at most {MAX_PATCHES} patches": len(s.patches) <= MAX_PATCHES}
        print("  goals: " + ", ".join(f"{k}: {'met' if v else 'NOT met'}"
                                      for k, v in goals.items()))
        met = met and all(goals.values())
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
