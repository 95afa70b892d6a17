"""The doit tasks behind ``dodo.py``: provision, build and boot, one subtask per target.

Task names are ``provision:SUITE/ARCH``, ``build:SUITE/ARCH`` and ``boot:SUITE/ARCH``; the
default task boots the default target. Actions are ``kscribe`` command lines, so ``doit -n N``
can run cells in parallel processes. Up-to-date checks are doit's own: a build depends on
every project input (templates, specs, C sources, the Python package), a boot on the build's
artifacts; a rerun with nothing changed runs nothing.
"""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path

from kscribe import paths
from kscribe.settings import Settings
from kscribe.target import Target, all_targets

DEFAULT_TARGET = "bookworm/amd64"
KSCRIBE = f"{shlex.quote(sys.executable)} -m kscribe"


@functools.cache
def _settings() -> Settings:
    return Settings.from_env(cwd=paths.ROOT)


def _provisioned(target_name: str) -> bool:
    """True when the lock pins the target and its cache folder is complete."""
    import json

    from kscribe.provision import kernel_dir
    from kscribe.resolve import Resolved

    s = _settings()
    if not s.lock_path.is_file():
        return False
    entry = json.loads(s.lock_path.read_text()).get("targets", {}).get(target_name)
    if not entry:
        return False
    return (kernel_dir(s, Resolved.from_lock(target_name, entry)) / "provision.json").is_file()


def _out(t: Target) -> Path:
    return _settings().out_dir / t.slug


@functools.cache
def _module_names() -> tuple[str, ...]:
    """The core and one probe module per spec file (names only: no spec is parsed)."""
    specs = sorted(p.stem for p in (paths.INSTRUMENTATION / "events").glob("*.yaml"))
    return ("kscribe_core", *(f"kscribe_probe_{s}" for s in specs))


def _artifacts(t: Target) -> list[str]:
    from kscribe.build import GUEST_PROGRAMS

    out = _out(t)
    return [str(out / f"{n}.ko") for n in _module_names()] + [str(out / p)
                                                              for p in GUEST_PROGRAMS]


def task_provision():
    """Resolve a target to exact Debian packages and fetch, verify, extract them."""
    for t in all_targets():
        yield {
            "name": t.name,
            "actions": [f"{KSCRIBE} provision {t.name}"],
            "uptodate": [(_provisioned, (t.name,))],
            "verbosity": 2,
        }


def task_build():
    """Build the tracer's modules and kscribectl for a target (metadata.json, build.log)."""
    inputs = [str(p) for p in paths.inputs()]
    for t in all_targets():
        yield {
            "name": t.name,
            "actions": [f"{KSCRIBE} build {t.name}"],
            "task_dep": [f"provision:{t.name}"],
            "file_dep": inputs,
            "targets": [str(_out(t) / "metadata.json"), *_artifacts(t)],
            "verbosity": 2,
        }


def task_boot():
    """Boot the target's own kernel under QEMU, load and exercise the tracer, judge."""
    boot_inputs = [str(paths.TEMPLATES / "init.sh.j2"), str(paths.ROOT / "kscribe/boot.py"),
                   str(paths.ROOT / "kscribe/initramfs.py")]
    for t in all_targets():
        yield {
            "name": t.name,
            "actions": [f"{KSCRIBE} boot {t.name}"],
            "task_dep": [f"build:{t.name}"],
            "file_dep": [str(_out(t) / "metadata.json"), *_artifacts(t), *boot_inputs],
            "targets": [str(_out(t) / "boot.json"), str(_out(t) / "console.log")],
            "verbosity": 2,
        }


def _print_trace_summary(target_name: str) -> None:
    """Events per type of a target's last trace (``trace.json``), for the default task."""
    import json

    data = json.loads((_out(parse_target_name(target_name)) / "trace.json").read_text())
    print(f"{target_name}: {data['events']} events traced ({data['boot']})")
    busiest = sorted(data["per_type"].items(), key=lambda kv: (-kv[1], kv[0]))
    for name, count in busiest[:12]:
        print(f"  {count:8} {name}")


def parse_target_name(name: str) -> Target:
    from kscribe.target import parse_target

    return parse_target(name)


def task_trace():
    """Record the guest workload under QEMU and read the CTF trace with babeltrace2."""
    for t in all_targets():
        yield {
            "name": t.name,
            "actions": [f"{KSCRIBE} trace {t.name}"],
            "task_dep": [f"boot:{t.name}"],
            "file_dep": [str(_out(t) / "metadata.json"), *_artifacts(t),
                         str(paths.TEMPLATES / "init.sh.j2")],
            "targets": [str(_out(t) / "trace.json"), str(_out(t) / "trace.txt")],
            "verbosity": 2,
        }


def task_summary():
    """The default target's trace, events per type (the end of a plain `doit`)."""
    return {
        "actions": [(_print_trace_summary, (DEFAULT_TARGET,))],
        "task_dep": [f"trace:{DEFAULT_TARGET}"],
        "uptodate": [False],
        "verbosity": 2,
    }


def matrix() -> dict[str, list[str]]:
    """The CI matrix of ``ci/matrix.toml``: cells to build and cells to boot."""
    import tomllib

    from kscribe.target import parse_target

    data = tomllib.loads((paths.ROOT / "ci/matrix.toml").read_text())
    return {k: [parse_target(n).name for n in data[k]] for k in ("build", "boot")}


def task_matrix():
    """The CI matrix of ci/matrix.toml: every build cell built, every boot cell booted."""
    m = matrix()
    yield {"name": "build", "actions": None, "task_dep": [f"build:{n}" for n in m["build"]]}
    yield {"name": "boot", "actions": None, "task_dep": [f"boot:{n}" for n in m["boot"]]}


DOIT_CONFIG = {
    "default_tasks": ["summary"],
    "dep_file": str(_settings().out_dir / ".doit.db"),
    "backend": "json",
}
