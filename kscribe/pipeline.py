"""The steps a user runs, end to end: resolve, provision, pick a toolchain, build, boot.

The command line and the doit tasks both call these; each step reuses what the previous run
left (lock file, cache, build folder) unless told to refresh.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

from kscribe import atomic
from kscribe.boot import Verdict, boot
from kscribe.build import GUEST_PROGRAMS, BuildResult, build
from kscribe.errors import KscribeError
from kscribe.kconfig import read_tree
from kscribe.provision import Provisioned, provision
from kscribe.resolve import Resolved, resolve
from kscribe.settings import Settings
from kscribe.syscalls import tables as syscall_tables
from kscribe.tables import Arch, get_arch
from kscribe.target import Target, parse_target
from kscribe.toolchain import HOST_ARCH, select
from kscribe.trace import Event as TraceEvent
from kscribe.trace import babeltrace, console_payload, extract, parse
from kscribe.trace import summary as event_summary


@dataclass(frozen=True)
class Prepared:
    """A target resolved and provisioned."""

    target: Target
    resolved: Resolved
    provisioned: Provisioned


def prepare(name: str, settings: Settings, refresh: bool = False) -> Prepared:
    """Resolve (or read the lock of) ``name`` and make sure its files are in the cache."""
    target = parse_target(name)
    resolved = resolve(target, settings, refresh=refresh)
    return Prepared(target, resolved, provision(settings, resolved))


def outdir(settings: Settings, target: Target) -> Path:
    """The build folder of a target."""
    return settings.out_dir / target.slug


def build_target(name: str, settings: Settings, toolchain: str = "auto",
                 clean: bool = False) -> BuildResult:
    """Build the tracer for a Debian target."""
    p = prepare(name, settings)
    tree = read_tree(p.provisioned.kdir)
    tc = select(settings, tree, p.target.arch, p.target.suite.codename,
                p.resolved.debs["kbuild"], toolchain)
    packages = {role: f"{d.name} {d.version}" for role, d in p.resolved.debs.items()}
    return build(tree=tree, arch=p.target.arch, toolchain=tc,
                 outdir=outdir(settings, p.target), target=p.target.name, packages=packages,
                 binds=(p.provisioned.root,), syscalls=syscall_tables(p, settings),
                 clean=clean)


def build_kdir(kdir: Path, settings: Settings, arch: str | None = None,
               clean: bool = False) -> BuildResult:
    """Build the tracer against a local, already prepared kernel tree (host toolchain)."""
    tree = read_tree(kdir)
    arch_row: Arch = get_arch(arch or HOST_ARCH)
    tc = select(settings, tree, arch_row, None, None, "host")
    return build(tree=tree, arch=arch_row, toolchain=tc, outdir=settings.out_dir / "local",
                 target=f"kdir:{kdir}", clean=clean)


def _built_modules(folder: Path) -> list[Path]:
    meta_path = folder / "metadata.json"
    if not meta_path.is_file():
        raise KscribeError(f"{folder}: nothing built yet; run `kscribe build` first")
    meta = json.loads(meta_path.read_text())
    if meta.get("status") != "ok":
        raise KscribeError(f"{meta_path}: the last build did not succeed")
    return [folder / f"{m}.ko" for m in meta["modules"]]


def guest_run(name: str, settings: Settings, run: str, **kw) -> tuple[Verdict, Path]:
    """Boot the target with its built tracer, ``boot()`` options ``kw``, console and
    verdict in ``out/<target>/<run>``; returns the verdict and that folder."""
    p = prepare(name, settings)
    folder = outdir(settings, p.target)
    dest = folder / run
    dest.mkdir(parents=True, exist_ok=True)
    v = boot(arch=p.target.arch, kernel=p.provisioned.kernel, busybox=p.provisioned.busybox,
             modules=_built_modules(folder), programs=_programs(folder), outdir=dest, **kw)
    return v, dest


def _programs(folder: Path) -> dict[str, Path]:
    """The static guest programs built beside the modules."""
    return {name: folder / name for name in GUEST_PROGRAMS}


def boot_target(name: str, settings: Settings, modules_from: str | None = None,
                append: str = "") -> Verdict:
    """Boot the target's kernel with the tracer built for it (or for ``modules_from``)."""
    p = prepare(name, settings)
    folder = outdir(settings, p.target)
    src = outdir(settings, parse_target(modules_from)) if modules_from else folder
    modules = _built_modules(src)
    dest = folder if not modules_from else folder / f"with-{parse_target(modules_from).slug}"
    dest.mkdir(parents=True, exist_ok=True)
    return boot(arch=p.target.arch, kernel=p.provisioned.kernel,
                busybox=p.provisioned.busybox, modules=modules, programs=_programs(src),
                outdir=dest, append=append)


# What the end-to-end trace records by default: every tracepoint event and every syscall.
DEFAULT_RECORD = ["-e", "*"]


@dataclass(frozen=True)
class TraceResult:
    """An end-to-end trace of the guest workload, read back on the host."""

    verdict: Verdict
    trace: Path
    text: Path
    events: list[TraceEvent]
    summary: dict[str, int]


def trace_target(name: str, settings: Settings, record: list[str] | None = None,
                 append: str = "") -> TraceResult:
    """Boot the target, record the workload, bring the trace out, read it with babeltrace2.

    Leaves ``trace/`` (CTF), ``trace.txt`` (babeltrace2's text) and ``trace.json`` (the
    boot verdict and events per type) beside the build's ``metadata.json``.
    """
    v, run = guest_run(name, settings, "trace-boot", append=append,
                       record=record or DEFAULT_RECORD)
    folder = run.parent
    if not v.ok:
        raise KscribeError(f"{name}: the traced boot failed: {'; '.join(v.reasons)} "
                           f"(console: {run / 'console.log'})")
    trace_dir = extract((run / "console.log").read_text(), folder / "trace")
    text = babeltrace(trace_dir)
    atomic.write_text(folder / "trace.txt", text)
    events = parse(text)
    summary = event_summary(events)
    atomic.write_json(folder / "trace.json", {"target": name, "events": len(events),
                                              "per_type": summary, "boot": v.summary()})
    return TraceResult(v, trace_dir, folder / "trace.txt", events, summary)


def syscall_formats(name: str, settings: Settings) -> dict[str, list[str]]:
    """The argument names of every ``sys_enter_<syscall>`` event the booted kernel publishes.

    Boots the target with the tracer loaded and reads
    ``/sys/kernel/tracing/events/syscalls/sys_enter_*/format`` from the console: the
    kernel's own account of its syscalls, to check the extracted tables against.
    """
    v, run = guest_run(name, settings, "formats-boot", dump_formats=True)
    if not v.ok:
        raise KscribeError(f"{name}: the boot failed: {'; '.join(v.reasons)}")
    text = gzip.decompress(console_payload((run / "console.log").read_text(), "FORMATS"))
    formats: dict[str, list[str]] = {}
    for block in text.decode(errors="replace").split("== ")[1:]:
        header, _, body = block.partition("\n")
        syscall = header.split("/")[-2].removeprefix("sys_enter_")
        fields = re.findall(r"field:[^;]*?(\w+)(?:\[\d*\])?;", body)
        formats[syscall] = [f for f in fields if not f.startswith("common_")
                            and f != "__syscall_nr"]
    return formats


def stress_target(name: str, settings: Settings) -> tuple[Verdict, Path | None]:
    """The robustness run of :mod:`kscribe.robustness` on the target; its tiny-buffer
    trace is unpacked into ``stress/trace`` and must read with babeltrace2."""
    from kscribe import robustness

    v, run = guest_run(name, settings, "stress", script="stress.sh.j2",
                       judge_console=robustness.judge, timeout=900,
                       context={"cycles": robustness.CYCLES, "ioctls": robustness.IOCTLS})
    try:
        trace = extract((run / "console.log").read_text(), run / "trace")
        babeltrace(trace)
    except KscribeError as e:
        v.ok = False
        v.reasons.append(f"tiny-buffer trace: {e}")
        return v, None
    return v, trace
