"""Render the module sources of a build folder from templates, specs and the target's headers.

The output is the complete input of one ``make M=``: the hand-written core, the uapi header,
one generated probe module per instrumentation spec and the Kbuild file. Files are written
only when their content changes, so kbuild's own up-to-date checks stay quiet.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from kscribe import atomic, paths
from kscribe.errors import KscribeError
from kscribe.spec import SubsystemSpec, load_all
from kscribe.tracepoints import parse_header

CORE_FILES = {
    "core/kscribe_core.c": "kscribe_core.c",
    "core/kscribe_core.h": "kscribe_core.h",
    "include/uapi/linux/kscribe.h": "include/uapi/linux/kscribe.h",
}


def environment() -> jinja2.Environment:
    """The Jinja environment of ``templates/``: strict about undefined names."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths.TEMPLATES),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def _put(dest: Path, text: str) -> None:
    if dest.is_file() and dest.read_text() == text:
        return
    atomic.write_text(dest, text)


def probe_context(spec: SubsystemSpec, include_dir: Path) -> dict:
    """The template context of one probe module, with prototypes from ``include_dir``."""
    header = include_dir / spec.header
    if not header.is_file():
        raise KscribeError(f"{spec.path}: the target has no <{spec.header}> ({header})")
    known = parse_header(header)
    events = []
    for ev in spec.events:
        tp = known.get(ev.tracepoint)
        if tp is None:
            raise KscribeError(f"{spec.path}:{ev.line}: tracepoint {ev.tracepoint!r} is not "
                               f"defined in the target's <{spec.header}>")
        events.append({"name": tp.name,
                       "args": [{"type": a.type, "name": a.name} for a in tp.args]})
    return {"subsystem": spec.subsystem, "trace_header": spec.header, "events": events,
            "license": "GPL", "description": f"kscribe probes for {spec.subsystem} tracepoints"}


def render_sources(include_dir: Path, dest: Path) -> list[str]:
    """Write the build folder's sources into ``dest``; return the module names.

    ``include_dir`` is the target's ``include/`` folder (of the ``-common`` headers).
    """
    env = environment()
    dest.mkdir(parents=True, exist_ok=True)
    for src, rel in CORE_FILES.items():
        _put(dest / rel, (paths.KERNEL_MODULE / src).read_text())
    modules = ["kscribe_core"]
    wanted = set(CORE_FILES.values()) | {"Kbuild"}
    for spec in load_all(paths.INSTRUMENTATION / "events"):
        name = f"kscribe_probe_{spec.subsystem}"
        text = env.get_template("probe.c.j2").render(**probe_context(spec, include_dir))
        _put(dest / f"{name}.c", text)
        modules.append(name)
        wanted.add(f"{name}.c")
    _put(dest / "Kbuild", env.get_template("Kbuild.j2").render(modules=modules))
    # a spec removed since the last render must not leave its module behind
    for stale in dest.glob("kscribe_probe_*.c"):
        if stale.name not in wanted:
            stale.unlink()
    return modules



def generated_sources(src: Path) -> list[Path]:
    """The probe modules' C files rendered into a build folder (not kbuild's ``*.mod.c``)."""
    return sorted(p for p in src.glob("kscribe_probe_*.c") if not p.name.endswith(".mod.c"))
