"""A strip's report: per file and in total, as text for people and JSON for tools."""

from __future__ import annotations

from typing import Any

from kscribe.strip.tree import Report
from kscribe.strip.verify import Verdict


def to_json(r: Report, verdict: Verdict | None = None) -> dict[str, Any]:
    """The report as one JSON object (``--json``)."""
    total = r.total()
    return {
        "tree": str(r.tree),
        "kernel": r.target.release,
        "distro": r.target.distro,
        "seconds": round(r.seconds, 3),
        "rounds": r.rounds,
        "total": {"removed": total.removed, "rewritten": total.rewritten, "kept": total.kept,
                  "lines_removed": r.lines_removed, "undecided": len(total.undecided)},
        "files": [{"file": f.rel, "lines_before": f.lines_before, "lines_after": f.lines_after,
                   "removed": f.counts.removed, "rewritten": f.counts.rewritten,
                   "kept": f.counts.kept,
                   "undecided": [{"line": s.line, "text": s.text, "why": s.why}
                                 for s in f.counts.undecided],
                   "kbuild_probes": [{"line": s.line, "text": s.text, "decided": s.why}
                                     for s in f.probes]}
                  for f in r.files],
        "forwarders": [{"file": f.file, "line": f.line, "name": f.name, "calls": f.callee,
                        "kind": f.kind} for f in r.forwarders],
        "macros_decided": r.decided,
        "macros_undecided": r.undecided_macros,
        "verify": None if verdict is None else {
            "ok": verdict.ok, "differences": verdict.differences,
            "modules": {rel: {"text": m.text, "symbols": len(m.symbols)}
                        for rel, m in verdict.original.modules.items()},
            "original_command": verdict.original.command,
        },
    }


def text(r: Report, verdict: Verdict | None = None) -> str:
    """The report as lines to read."""
    t = r.total()
    changed = [f for f in r.files if f.changed or f.counts.undecided or f.probes]
    width = max([len(f.rel) for f in changed] + [4])
    out = [f"{r.tree.name} for {r.target.release} ({r.target.distro}): "
           f"{t.removed + t.rewritten + t.kept} conditionals, {t.removed} removed, "
           f"{t.rewritten} rewritten, {t.kept} kept; {r.lines_removed} lines removed; "
           f"{len(t.undecided)} undecided sites; {r.seconds:.2f} s"]
    if changed:
        out.append(f"  {'file':{width}}  before  after  removed  rewritten  kept")
        out += [f"  {f.rel:{width}}  {f.lines_before:6}  {f.lines_after:5}  "
                f"{f.counts.removed:7}  {f.counts.rewritten:9}  {f.counts.kept:4}"
                for f in changed]
    sites = [(f.rel, s) for f in r.files for s in f.counts.undecided]
    if sites:
        out.append("undecided:")
        out += [f"  {rel}:{s.line}: {s.text}: {s.why}" for rel, s in sites]
    probes = [(f.rel, s) for f in r.files for s in f.probes]
    if probes:
        out.append("Kbuild version probes:")
        out += [f"  {rel}:{s.line}: {s.text}: {s.why}" for rel, s in probes]
    if r.undecided_macros:
        out.append("macros left undecided:")
        out += [f"  {name}: {why}" for name, why in r.undecided_macros.items()]
    if r.forwarders:
        out.append("forwarders (a semantic patch removes them: --cocci FILE):")
        out += [f"  {f.file}:{f.line}: {f.name}() calls {f.callee}()" for f in r.forwarders]
    if verdict is not None:
        if verdict.ok:
            mods = verdict.original.modules
            sizes = ", ".join(f"{rel} .text {m.text}" for rel, m in sorted(mods.items())) \
                if len(mods) <= 4 else f".text {sum(m.text for m in mods.values())} bytes in all"
            out.append(f"verify: PASS, the same {len(mods)} modules, the same .text and "
                       f"symbols ({sizes})")
        else:
            out.append("verify: FAIL")
            out += [f"  {d}" for d in verdict.differences]
    return "\n".join(out) + "\n"
