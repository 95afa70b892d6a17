"""The review view of a series: every version, each patch with its size, its gates and what
changed since the version before, as text and as one self-contained HTML page.

The versions are the series' folder (the newest) and the ``v<N>/`` folders a reroll keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kscribe.codegen.env import environment
from kscribe.upstream.series import Patch, Series, load
from kscribe.util import atomic

TEMPLATE = "upstream/status.html.j2"


@dataclass(frozen=True)
class Version:
    series: Series
    cover: str             # the cover letter as written


def versions(folder: Path) -> list[Version]:
    """The versions of the series in ``folder``, oldest first."""
    found = [load(d / "series.json") for d in folder.glob("v[0-9]*") if d.is_dir()]
    found.append(load(folder / "series.json"))
    found.sort(key=lambda s: s.version)
    return [Version(s, Path(s.cover).read_text() if s.cover else "") for s in found]


def gates(p: Patch) -> str:
    """The gates a patch passed, in a few words: am, checkpatch E/W/C, builds."""
    out = []
    if "am" in p.gates:
        out.append("am ok" if p.gates["am"] else "am FAILED")
    cp = p.gates.get("checkpatch")
    if isinstance(cp, dict):
        out.append(f"checkpatch {cp['errors']}/{cp['warnings']}/{cp['checks']}")
    build = p.gates.get("build")
    if isinstance(build, dict):
        out.append("built " + "/".join(v for v in ("m", "y", "n") if v in build)
                   if "skipped" not in build else "no build yet")
    return ", ".join(out) or "not gated"


def since(p: Patch, version: int) -> str:
    """What changed in a patch since the version before."""
    if version == 1:
        return "first version"
    words = {"unchanged": "unchanged", "message": "commit message changed, code the same",
             "changed": "code changed", "new": "new patch"}
    text = words.get(p.since, p.since or "?")
    if p.trailers:
        text += f"; keeps {', '.join(p.trailers)}"
    if p.dropped:
        text += f"; dropped {', '.join(p.dropped)}"
    return text


def series_gates(s: Series) -> str:
    """The series' own gates, in a few words."""
    out = []
    rt = s.gates.get("round_trip")
    if isinstance(rt, dict):
        out.append(f"b4 am + git am: {'identical tree' if rt.get('identical') else 'DIFFERS'}")
    if "uapi" in s.gates:
        out.append("uapi header test passed")
    if "exports" in s.gates:
        out.append("every export used in tree")
    return "; ".join(out)


def text(vs: list[Version]) -> str:
    """The review view as text, one block per version."""
    lines = []
    for v in vs:
        s = v.series
        lines.append(f"v{s.version}: {len(s.patches)} patches on {s.base}, change-id "
                     f"{s.change_id}, {len(s.mail)} messages; {series_gates(s)}")
        for p in s.patches:
            lines.append(f"  {p.number:2}/{len(s.patches)} {p.subject}: +{p.added} "
                         f"-{p.removed}, {p.bytes} bytes; {gates(p)}; "
                         f"{since(p, s.version)}")
        for note in s.changes.get(str(s.version), []):
            lines.append(f"    - {note}")
    return "\n".join(lines) + "\n"


def write_html(vs: list[Version], dest: Path) -> Path:
    """The review view as one page (no outside file: its style is inline) at ``dest``."""
    page = environment(html=True).get_template(TEMPLATE).render(
        versions=vs, gates=gates, since=since, series_gates=series_gates,
        newest=vs[-1].series)
    atomic.write_text(dest, page)
    return dest
