"""The steps a user runs, end to end: resolve, provision, pick a toolchain, build, boot.

The command line and the doit tasks both call these; each step reuses what the previous run
left (lock file, cache, build folder) unless told to refresh. Where each step leaves its
files is :class:`Layout`, defined once.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kscribe.build import guest_programs, metadata
from kscribe.build.kbuild import REPRODUCIBLE_ENV, BuildResult, build
from kscribe.config import paths
from kscribe.config.arches import Arch, get_arch, host_arch
from kscribe.config.settings import Settings
from kscribe.config.target import Target, parse_target
from kscribe.debian.lock import Resolved
from kscribe.debian.provision import Provisioned, guest_modules, provision
from kscribe.debian.resolve import resolve
from kscribe.errors import KscribeError
from kscribe.guest import contexts, stress
from kscribe.guest.console import Verdict, checks, payload
from kscribe.guest.qemu import boot
from kscribe.guest.trace import Event as TraceEvent
from kscribe.guest.trace import babeltrace, extract, parse
from kscribe.guest.trace import summary as event_summary
from kscribe.instrument.syscalls import tables as syscall_tables
from kscribe.kernel.tree import read_tree
from kscribe.strip.tree import Report as StripReport
from kscribe.strip.verify import Build as StripBuild
from kscribe.strip.verify import Verdict as StripVerdict
from kscribe.toolchain.select import Toolchain, select
from kscribe.upstream.series import Series
from kscribe.util import atomic, log


@dataclass(frozen=True)
class Prepared:
    """A target resolved and provisioned."""

    target: Target
    resolved: Resolved
    provisioned: Provisioned


@dataclass(frozen=True)
class Layout:
    """Where a target's outputs are: ``<out>/<target-slug>/``."""

    folder: Path

    @classmethod
    def of(cls, settings: Settings, target: Target) -> Layout:
        return cls(settings.out_dir / target.slug)

    @property
    def metadata(self) -> Path:
        return self.folder / metadata.NAME

    @property
    def pin(self) -> Path:
        """The target's lock entry as provisioned (what a build depends on)."""
        return self.folder / "pin.json"

    @property
    def boot(self) -> Path:
        return self.folder / "boot.json"

    @property
    def console(self) -> Path:
        return self.folder / "console.log"

    @property
    def trace_json(self) -> Path:
        return self.folder / "trace.json"

    @property
    def trace_txt(self) -> Path:
        return self.folder / "trace.txt"

    def run(self, name: str) -> Path:
        """The folder of one guest run (``trace-boot``, ``stress``...)."""
        return self.folder / name


def prepare(name: str, settings: Settings, refresh: bool = False) -> Prepared:
    """Resolve (or read the lock of) ``name`` and make sure its files are in the cache."""
    target = parse_target(name)
    resolved = resolve(target, settings, refresh=refresh)
    return Prepared(target, resolved, provision(settings, resolved))


def write_pin(settings: Settings, p: Prepared) -> Path:
    """Write the target's pin beside its outputs, only when it changed (so that an
    unchanged pin leaves what depends on it up to date)."""
    path = Layout.of(settings, p.target).pin
    text = atomic.json_text(p.resolved.to_lock())
    if not path.is_file() or path.read_text() != text:
        atomic.write_text(path, text)
    return path


def outdir(settings: Settings, target: Target) -> Path:
    """The build folder of a target."""
    return Layout.of(settings, target).folder


def toolchain_of(settings: Settings, p: Prepared, mode: str = "auto") -> Toolchain:
    """The toolchain that builds the target's modules."""
    return select(settings, read_tree(p.provisioned.kdir), p.target.arch,
                  p.target.suite.codename, p.resolved.debs["kbuild"], mode)


def build_target(name: str, settings: Settings, toolchain: str = "auto",
                 clean: bool = False) -> BuildResult:
    """Build the tracer for a Debian target."""
    p = prepare(name, settings)
    tree = read_tree(p.provisioned.kdir)
    tc = toolchain_of(settings, p, toolchain)
    packages = {role: f"{d.name} {d.version}" for role, d in p.resolved.debs.items()}
    return build(tree=tree, arch=p.target.arch, toolchain=tc,
                 outdir=outdir(settings, p.target), target=p.target.name, packages=packages,
                 binds=(p.provisioned.root,), tree_prefix=p.provisioned.root / "prefix",
                 syscalls=syscall_tables(p, settings), clean=clean)


def build_kdir(kdir: Path, settings: Settings, arch: str | None = None,
               clean: bool = False) -> BuildResult:
    """Build the tracer against a local, already prepared kernel tree (host toolchain)."""
    tree = read_tree(kdir)
    arch_row = get_arch(arch) if arch else host_arch()
    tc = select(settings, tree, arch_row, None, None, "host")
    return build(tree=tree, arch=arch_row, toolchain=tc, outdir=settings.out_dir / "local",
                 target=f"kdir:{kdir}", clean=clean)


def programs_of(folder: Path, arch: Arch) -> dict[str, Path]:
    """The static guest programs built beside the modules."""
    return {name: folder / name for name in guest_programs.programs(arch)}


def _boot(settings: Settings, p: Prepared, **kw: Any) -> Verdict:
    """Boot ``p``'s own kernel with its busybox and kernel modules, ``boot()`` options ``kw``."""
    return boot(arch=p.target.arch, kernel=p.provisioned.kernel, busybox=p.provisioned.busybox,
                kernel_modules=guest_modules(settings, p.resolved), **kw)


def guest_run(name: str, settings: Settings, run: str, **kw: Any) -> tuple[Verdict, Path]:
    """Boot the target with its built tracer, ``boot()`` options ``kw``, console and
    verdict in ``out/<target>/<run>``; returns the verdict and that folder."""
    p = prepare(name, settings)
    folder = outdir(settings, p.target)
    dest = folder / run
    dest.mkdir(parents=True, exist_ok=True)
    v = _boot(settings, p, modules=metadata.modules(folder),
              programs=programs_of(folder, p.target.arch),
              outdir=dest, **kw)
    return v, dest


def boot_target(name: str, settings: Settings, modules_from: str | None = None,
                append: str = "") -> Verdict:
    """Boot the target's kernel with the tracer built for it (or for ``modules_from``)."""
    p = prepare(name, settings)
    folder = outdir(settings, p.target)
    src = outdir(settings, parse_target(modules_from)) if modules_from else folder
    modules = metadata.modules(src)
    dest = folder if not modules_from else folder / f"with-{parse_target(modules_from).slug}"
    dest.mkdir(parents=True, exist_ok=True)
    return _boot(settings, p, modules=modules, programs=programs_of(src, p.target.arch),
                 outdir=dest,
                 append=append)


def default_record() -> list[str]:
    """What the end-to-end trace records by default: every tracepoint event and every
    syscall, each with every context a CPU without a PMU can record."""
    return ["-e", "*", "-c", ",".join(contexts.task_contexts())]


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
                       record=record or default_record())
    if not v.ok:
        raise KscribeError(f"{name}: the traced boot failed: {'; '.join(v.reasons)} "
                           f"(console: {run / 'console.log'})")
    return _read_trace(v, run, Layout(run.parent), {"target": name})


def boot_with(name: str, settings: Settings, modules: list[Path], run: str, **kw: Any
              ) -> tuple[Verdict, Path]:
    """Boot the target's kernel with ``modules`` made elsewhere (by dkms, or signed) and the
    pipeline's guest programs, ``boot()`` options ``kw``, in ``out/<target>/<run>``."""
    p = prepare(name, settings)
    build_target(name, settings)
    folder = outdir(settings, p.target)
    dest = folder / run
    dest.mkdir(parents=True, exist_ok=True)
    v = _boot(settings, p, modules=modules, programs=programs_of(folder, p.target.arch),
              outdir=dest, **kw)
    return v, dest


def trace_with(name: str, settings: Settings, modules: list[Path], run: str,
               about: dict[str, Any]) -> TraceResult:
    """Record the workload as :func:`trace_target` does, with ``modules`` built elsewhere."""
    v, dest = boot_with(name, settings, modules, run, record=default_record())
    if not v.ok:
        raise KscribeError(f"{name}: the traced boot with the {run} modules failed: "
                           f"{'; '.join(v.reasons)} (console: {dest / 'console.log'})")
    return _read_trace(v, dest, Layout(dest), {"target": name, **about})


def _read_trace(v: Verdict, run: Path, layout: Layout, about: dict[str, Any]) -> TraceResult:
    """The trace a passed boot sent over its console, read with babeltrace2; its events per
    type go to ``trace.json`` with ``about``."""
    trace_dir = extract((run / "console.log").read_text(), layout.folder / "trace")
    text = babeltrace(trace_dir)
    atomic.write_text(layout.trace_txt, text)
    events = parse(text)
    summary = event_summary(events)
    atomic.write_json(layout.trace_json, {**about, "events": len(events), "per_type": summary,
                                          "boot": v.summary()})
    return TraceResult(v, trace_dir, layout.trace_txt, events, summary)


def syscall_formats(name: str, settings: Settings) -> dict[str, list[str]]:
    """The argument names of every ``sys_enter_<syscall>`` event the booted kernel publishes.

    Boots the target with the tracer loaded and reads
    ``/sys/kernel/tracing/events/syscalls/sys_enter_*/format`` from the console: the
    kernel's own account of its syscalls, to check the extracted tables against.
    """
    v, run = guest_run(name, settings, "formats-boot", dump_formats=True)
    if not v.ok:
        raise KscribeError(f"{name}: the boot failed: {'; '.join(v.reasons)}")
    text = gzip.decompress(payload((run / "console.log").read_text(), "FORMATS"))
    formats: dict[str, list[str]] = {}
    for block in text.decode(errors="replace").split("== ")[1:]:
        header, _, body = block.partition("\n")
        syscall = header.split("/")[-2].removeprefix("sys_enter_")
        fields = re.findall(r"field:[^;]*?(\w+)(?:\[\d*\])?;", body)
        formats[syscall] = [f for f in fields if not f.startswith("common_")
                            and f != "__syscall_nr"]
    return formats


def stress_target(name: str, settings: Settings, cycles: int = stress.CYCLES
                  ) -> tuple[Verdict, Path | None]:
    """The robustness run of :mod:`kscribe.guest.stress` on the target, with ``cycles``
    load/record/unload cycles; its tiny-buffer trace is unpacked into ``stress/trace`` and
    must read with babeltrace2."""
    if cycles < 1:
        raise KscribeError(f"--cycles {cycles}: give at least 1")
    cpus = parse_target(name).arch.qemu.cpus
    v, run = guest_run(name, settings, "stress", script=stress.SCRIPT,
                       judge_console=lambda console: stress.judge(console, cpus, cycles),
                       timeout=900, context={"cycles": cycles, "ioctls": stress.IOCTLS})
    try:
        trace = extract((run / "console.log").read_text(), run / "trace")
        babeltrace(trace)
    except KscribeError as e:
        v.ok = False
        v.reasons.append(f"tiny-buffer trace: {e}")
        return v, None
    return v, trace


def uapi_version(include: Path) -> int:
    """KSCRIBE_ABI_VERSION of the uapi header under ``include`` (``uapi/linux/kscribe.h``)."""
    header = include / "uapi" / "linux" / "kscribe.h"
    m = re.search(r"^#define KSCRIBE_ABI_VERSION\s+(\d+)$", header.read_text(), re.M)
    if m is None:
        raise KscribeError(f"{header}: no KSCRIBE_ABI_VERSION")
    return int(m.group(1))


def _refused(console: str, tool: str) -> str:
    """Why the guest did not show ``tool version`` refused with ENOTTY ('' if it did)."""
    rc = checks(console).get("earlier-abi-rc")
    if rc is None:
        return f"{tool} version: never ran"
    if rc == "0" or "kscribectl: KSCRIBE_IOCTL_VERSION: Inappropriate ioctl for device" \
            not in console:
        return f"{tool} version: exit {rc}, not refused with ENOTTY"
    return ""


def _intree_sources(p: Prepared, settings: Settings, dest: Path, uapi_header: str,
                    maintainer: str, release: str) -> Any:
    """The tracer's files for the tree of ``p``'s kernel, rendered into ``dest``
    (a :class:`kscribe.upstream.render.Sources`)."""
    from kscribe.codegen.module import SYSCALL_MODULE, render_sources
    from kscribe.upstream import render

    # in a tree the tables are of its architecture, not of a Debian target
    modules = render_sources(read_tree(p.provisioned.kdir), dest,
                             target=p.target.arch.kbuild_arch, arch=p.target.arch,
                             syscalls=syscall_tables(p, settings))
    return render.Sources(build=dest,
                          probes=tuple(m.removeprefix("kscribe_probe_") for m in modules
                                       if m.startswith("kscribe_probe_")
                                       and m != SYSCALL_MODULE),
                          syscalls=SYSCALL_MODULE in modules, uapi=uapi_header,
                          maintainer=maintainer, release=release)


def _intree_kbuild(p: Prepared, settings: Settings, tree: Path, binds: list[Path]) -> Any:
    """The kbuild of the kernel tree ``tree`` as ``p``'s Debian kernel, with the compiler
    that kernel needs (an :class:`kscribe.upstream.intree.Tree`)."""
    from kscribe.upstream import intree

    tc = select(settings, read_tree(p.provisioned.kdir), p.target.arch,
                p.target.suite.codename, p.resolved.debs["kbuild"],
                extra=intree.SOURCE_TREE_PACKAGES)
    if tc.chroot is not None:
        tc.chroot.ensure()
        tc.binds = [tree, *binds]
    return intree.Tree(path=tree, headers=p.provisioned.kdir, arch=p.target.arch,
                       toolchain=tc, release=p.resolved.abi)


@contextlib.contextmanager
def _recorded(out: Path, record: str, what: Any) -> Iterator[None]:
    """Run gates on ``what``: a gate that fails leaves its output in
    ``out/gate-failure.txt``, and ``out/record`` describes ``what`` either way."""
    from kscribe.upstream.gates import GateFailed

    try:
        yield
    except GateFailed as e:
        atomic.write_text(out / "gate-failure.txt", e.output)
        raise
    finally:
        atomic.write_json(out / record, asdict(what))


UPSTREAM_TARGET = "sid/amd64"  # the newest Debian kernel: series are made and proven on it
ABI_CHOICES = ("keep", "new")


def upstream_label(mode: str, abi: str) -> str:
    """The name of a series' folders: the mode, and the ABI choice when it is not ``keep``."""
    return mode if abi == "keep" else f"{mode}-abi-{abi}"


def upstream_series(mode: str, settings: Settings, out: Path, tree: Path | None = None,
                    abi: str = "keep", target: str = UPSTREAM_TARGET, reroll: bool = False,
                    trailers: Path | None = None, build: bool = True) -> Series:
    """Make the plan's series ``mode`` on the base tree, write it to ``out``, and gate it.

    ``abi`` ``keep`` registers today's ioctl block; ``new`` moves the ABI to a free block of
    the base tree as the next ABI version. ``reroll`` makes the next version of the series
    in ``out`` (the earlier ones move to ``out/v<N>/``), keeping the ``trailers`` received
    (an mbox of replies or a file) where a patch's code is the same. The posting is
    written as ``out/mail/*.eml`` and taken back with b4 and git am; ``build`` off skips the
    in-tree builds (a reroll of the text only).
    """
    import tempfile

    from kscribe.codegen import uapi
    from kscribe.upstream import base as bases
    from kscribe.upstream import gates, intree, ioctls, mail, plan, render, series
    from kscribe.upstream import reroll as rerolls
    from kscribe.util.git import git, identity

    the_plan = plan.load()
    if mode not in the_plan.modes:
        raise KscribeError(f"no mode {mode!r} in {the_plan.path} (modes: "
                           f"{', '.join(the_plan.modes)})")
    if abi not in ABI_CHOICES:
        raise KscribeError(f"--abi {abi!r}: choose {' or '.join(ABI_CHOICES)}")
    if trailers is not None and not reroll:
        raise KscribeError("--trailers are taken into a reroll: give --reroll too")
    previous = series.load(out / "series.json") if reroll else None
    if previous is not None and (previous.mode != mode or
                                 ("moved_from" in previous.abi) != (abi == "new")):
        was = upstream_label(previous.mode, "new" if "moved_from" in previous.abi else "keep")
        raise KscribeError(f"{out}: holds the series {was}, not {upstream_label(mode, abi)}; "
                           f"a reroll keeps the mode and the ABI choice")
    given = rerolls.received(trailers, previous) if previous and trailers else {}
    p = prepare(target, settings)
    base = bases.from_checkout(tree) if tree else bases.debian_source(settings, p.resolved)
    if previous is not None and previous.base_commit != base.commit:
        raise KscribeError(f"{out}: v{previous.version} is on {previous.base}, not on "
                           f"{base.tag or base.commit}: a reroll keeps the base")
    who = identity(base.repo)
    the_abi = uapi.load()
    block = today = ioctls.Block(the_abi.magic, *the_abi.magic_range)
    if abi == "new":
        table = git(base.repo, "show", f"{base.commit}:{ioctls.TABLE}")
        block = ioctls.free_block(table, the_plan.ioctl_new_size, the_plan.ioctl_new_magics,
                                  avoid=block)
        the_abi = uapi.renumbered(the_abi, block.magic, block.first, block.last)
    placement = the_plan.placements[the_plan.modes[mode].placement]
    work = settings.out_dir / "upstream" / upstream_label(mode, abi)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kscribe-intree-") as tmp:
        src = _intree_sources(p, settings, Path(tmp), uapi.render(the_abi), who.line,
                              base.release)
        inputs = ["kernel_module/", "instrumentation/", "patches/plan.yaml",
                  f"the headers of Debian's {p.resolved.abi} kernel ({p.resolved.version})"]
        version = previous.version + 1 if previous else 1
        made = series.make(the_plan, mode, base, bases.worktree(base, work / "series"), src,
                           who, block, the_abi.abi_version, inputs, out,
                           moved_from=today if abi == "new" else None, previous=previous,
                           given=given, notes=rerolls.notes(upstream_label(mode, abi),
                                                            version))
        outside = work / "outside"
        shutil.rmtree(outside, ignore_errors=True)
        for name, text in render.outside(src, placement, made.out_of_tree).items():
            atomic.write_text(outside / name, text)
    made.seconds["generate"] = round(time.monotonic() - started, 1)
    with _recorded(out, "series.json", made):
        started = time.monotonic()
        applied = gates.am(base, made, work / "am")
        gates.checkpatch(applied, made, gates.allowlist())
        where = {**the_plan.maintainers, **placement.maintainers}
        gates.maintainers(applied, made, where["title"], [who.line, where["list"]])
        made.seconds["am_checkpatch"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        made.mail = mail.write(applied, [Path(made.cover), *(Path(x.file) for x in made.patches)],
                               out / "mail", made.change_id, made.version, who.line)
        gates.round_trip(base, made, made.mail, work / "round-trip")
        made.seconds["mail_round_trip"] = round(time.monotonic() - started, 1)
        if not build:
            return made
        started = time.monotonic()
        kernel = _intree_kbuild(p, settings, work / "series", [outside])
        intree.gate(kernel, made, placement.dir, intree.Outputs.of(out),
                    outside if made.out_of_tree else None)
        made.seconds["build"] = round(time.monotonic() - started, 1)
    return made


def upstream_history(settings: Settings, out: Path, tree: Path | None = None,
                     source: Path | None = None, url: str | None = None, build: bool = True,
                     target: str = UPSTREAM_TARGET) -> Any:
    """History mode: the tracer's own history (of ``source``, this checkout by default)
    rewritten into the tree's paths and merged into the base, then the hook-up commit that
    makes the tree the plan's ``history.mode`` series' final tree. Checks confinement (C1)
    and the base tag (C2), reports the DCO and the licenses (C3), writes the pull request
    text for ``url`` (default: the tree's folder) and, with ``build``, builds the tip (C4).
    The report (:class:`kscribe.upstream.history.Report`) goes to ``out/history.json``."""
    import tempfile

    from kscribe.codegen import uapi
    from kscribe.upstream import base as bases
    from kscribe.upstream import gates, history, intree, ioctls, plan, render
    from kscribe.util.git import git, identity

    the_plan = plan.load()
    h = the_plan.history
    mode = the_plan.modes[h.mode]
    placement = the_plan.placements[mode.placement]
    p = prepare(target, settings)
    base = bases.from_checkout(tree) if tree else bases.debian_source(settings, p.resolved)
    who = identity(base.repo)
    src_repo = source or history.checkout()
    work = settings.out_dir / "upstream" / "history"
    prefixes = tuple(dict.fromkeys(new for _, new in h.renames))
    started = time.monotonic()
    rewritten = history.rewrite(src_repo, h.renames, work / "rewritten")
    rep = history.report(src_repo, rewritten, h.renames, base.repo, base.commit)
    rep.seconds["import"] = round(time.monotonic() - started, 1)
    with _recorded(out, "history.json", rep):
        kernel = bases.worktree(base, work / "tree")
        epoch = max(int(git(kernel, "log", "-1", "--format=%ct", base.commit)),
                    int(git(rewritten, "log", "-1", "--format=%ct", "HEAD"))) + 60
        log.progress(f"history: merging {rep.imported} commits into {base.tag or base.commit}")
        rep.merge = history.merge(kernel, rewritten, h.merge_subject, h.merge_body, epoch)
        rep.parents = git(kernel, "rev-parse", f"{rep.merge}^1", f"{rep.merge}^2").split()
        rep.base_tag = git(kernel, "describe", "--tags", "--exact-match", rep.parents[0],
                           check=False)
        if not rep.base_tag:
            raise gates.GateFailed(f"C2: the merge's first parent {rep.parents[0][:12]} is "
                                   f"no release tag; merge into a tagged release")
        rep.confinement = history.confined(kernel, rep.merge, prefixes)
        if rep.confinement:
            raise gates.GateFailed(f"C1: imported commits touch paths outside "
                                   f"{', '.join(prefixes)}: {rep.confinement[0]}",
                                   "\n".join(rep.confinement))
        the_abi = uapi.load()
        block = ioctls.Block(the_abi.magic, *the_abi.magic_range)
        facets = list(dict.fromkeys(f for c in mode.commits for f in c.facets))

        def base_file(path: str) -> str:
            return git(base.repo, "show", f"{base.commit}:{path}") + "\n"
        with tempfile.TemporaryDirectory(prefix="kscribe-intree-") as tmp:
            src = _intree_sources(p, settings, Path(tmp), uapi.render(the_abi), who.line,
                                  base.release)
            st = render.state(the_plan, src, placement, facets, base_file, block)
            message = (f"{placement.prefix}: {h.hookup_subject}\n\n"
                       f"{plan.wrap(h.hookup_body)}\nSigned-off-by: {who.line}\n")
            rep.hookup = history.hookup(kernel, st.files,
                                        git(rewritten, "ls-files").split("\n"), message,
                                        epoch + 60)
        git(kernel, "branch", "-f", HISTORY_BRANCH, rep.hookup)
        atomic.write_text(out / "pull-request.txt", history.request_pull(
            kernel, rep.base_tag, url or str(kernel), HISTORY_BRANCH) + "\n")
        rep.seconds["merge_hookup"] = round(time.monotonic() - started, 1)
        if build:
            started = time.monotonic()
            t = _intree_kbuild(p, settings, kernel, [])
            rep.gates["build"] = intree.build_commit(t, placement.dir, "the tip")
            intree.tip(t, placement.dir, rep.gates, intree.Outputs.of(out))
            rep.seconds["build"] = round(time.monotonic() - started, 1)
    return rep


HISTORY_BRANCH = "kscribe-history"


def upstream_proof(mode: str, settings: Settings, series_dir: Path, abi: str = "keep",
                   target: str = UPSTREAM_TARGET) -> TraceResult:
    """Boot the Debian kernel the series was made for with the modules built in and against
    its tree (``series_dir/modules``), run the tree's selftest (``series_dir/kscribe_test``,
    when the mode has one), record the workload, read the trace.

    kscribectl and the guest workload come from the target's out-of-tree build: they are the
    tracer's users, unchanged. With a new ABI they are rebuilt against the tree's uapi header
    (``series_dir/include``), and today's kscribectl must be refused with ENOTTY.
    """
    import json

    p = prepare(target, settings)
    build_target(target, settings)
    folder = outdir(settings, p.target)
    order = [m for m in (f.stem for f in metadata.modules(folder))]
    built = {f.stem: f for f in (series_dir / "modules").glob("*.ko")}
    if "kscribe_core" not in built:
        raise KscribeError(f"{series_dir}/modules: no kscribe_core.ko; run `kscribe upstream "
                           f"{mode}` first")
    modules = [built[m] for m in order if m in built] + \
        [built[m] for m in sorted(built) if m not in order]
    selftest = series_dir / "kscribe_test"
    programs = programs_of(folder, p.target.arch)
    dest = settings.out_dir / "upstream" / upstream_label(mode, abi) / "proof"
    dest.mkdir(parents=True, exist_ok=True)
    earlier = ""
    if abi != "keep":
        earlier = f"kscribectl-abi{uapi_version(paths.KERNEL_MODULE / 'include')}"
        rebuilt = dest / "programs"
        rebuilt.mkdir(exist_ok=True)
        programs = {**{f.name: f for f in guest_programs.build_all(
            p.target.arch, rebuilt, include=series_dir / "include")},
            earlier: programs["kscribectl"]}
    if selftest.is_file():
        programs["kscribe_test"] = selftest
    v = _boot(settings, p, modules=modules, programs=programs, outdir=dest, record=default_record())
    if earlier:
        refused = _refused((dest / "console.log").read_text(errors="replace"), earlier)
        if refused:
            v.ok = False
            v.reasons.append(refused)
    if not v.ok:
        raise KscribeError(f"{mode}: the in-tree modules failed in {p.resolved.abi}: "
                           f"{'; '.join(v.reasons)} (console: {dest / 'console.log'})")
    about = {"target": target, "kernel": p.resolved.abi, "mode": mode, "abi": abi,
             "boot_s": v.duration_s, "modules": [m.name for m in modules]}
    if earlier:
        about["earlier_abi_refused"] = earlier
    r = _read_trace(v, dest, Layout(dest), about)
    record = next((series_dir / n for n in ("series.json", "history.json")
                   if (series_dir / n).is_file()), series_dir / "series.json")
    if record.is_file():
        proof = {**about, "events": len(r.events), "per_type": r.summary,
                 "boot": v.summary()}
        atomic.write_json(record, {**json.loads(record.read_text()), "proof": proof})
    return r


def strip_target_of(p: Prepared) -> tuple[str, str, tuple[Path, ...]]:
    """The kernel version, ``--distro`` and header trees a Debian target gives a strip:
    6.1.192 from package version 6.1.192-3, debian:6.1.0-57 from ABI 6.1.0-57-amd64."""
    m = re.match(r"\d+\.\d+(?:\.\d+)?", p.resolved.version)
    if m is None:
        raise KscribeError(f"{p.target}: cannot read a kernel version in {p.resolved.version}")
    abi = p.resolved.abi.removesuffix(f"-{p.target.flavour}")
    tree = read_tree(p.provisioned.kdir)
    return m.group(), f"debian:{abi}", (tree.path, tree.srctree)


def build_as_dkms(settings: Settings, p: Prepared, tree: Path, work: Path, label: str,
                  make: str | None = None) -> StripBuild:
    """Copy the out-of-tree ``tree`` to ``work`` and build it against ``p``'s kernel with
    the target's toolchain, as dkms would (its ``dkms.conf`` ``MAKE``, or ``make``); the
    :class:`kscribe.strip.verify.Build`, or an error naming the first error line."""
    from kscribe.strip import verify as proof

    tc = toolchain_of(settings, p)
    if tc.chroot is not None:
        tc.chroot.ensure()
        tc.binds = [p.provisioned.root, work.parent.resolve()]
    env = dict(REPRODUCIBLE_ENV)
    if tc.cross_compile:
        env.update(ARCH=p.target.arch.kbuild_arch, CROSS_COMPILE=tc.cross_compile)
    copy = proof.copy_tree(tree, work)
    command = proof.make_command(copy, read_tree(p.provisioned.kdir).path, p.resolved.abi, make)
    log.progress(f"building the {label} tree against {p.resolved.abi}: {command}")
    return proof.build(copy, command, tc.run, env, label)


def strip_tree(tree: Path, out: Path, settings: Settings, *, target: str | None = None,
               kernel: str | None = None, distro: str | None = None,
               rules: Path | None = None, verify: bool = False
               ) -> tuple[StripReport, StripVerdict | None]:
    """``kscribe strip``: ``tree`` rewritten for a kernel into ``out``.

    With ``target`` (a Debian target) the kernel, distribution and headers are the
    target's; ``verify`` then builds the original tree first (a tree that does not build
    is an error, and nothing is written), then the stripped one, and compares their modules.
    """
    from kscribe.strip import rules as strip_rules
    from kscribe.strip import target as strip_target
    from kscribe.strip import tree as strip_run
    from kscribe.strip import verify as proof

    headers: tuple[Path, ...] = ()
    p = None
    if target is not None:
        p = prepare(target, settings)
        version, debian, headers = strip_target_of(p)
        kernel, distro = kernel or version, distro or debian
    elif verify:
        raise KscribeError("strip --verify builds against a target's headers: give --target "
                           "SUITE/ARCH (e.g. bookworm/amd64)")
    if kernel is None:
        raise KscribeError("strip: give --kernel X.Y.Z (and --distro), or --target SUITE/ARCH")
    the_rules = strip_rules.load(rules)
    report = strip_run.strip(tree, strip_target.make(kernel, distro or "vanilla", headers),
                             the_rules)
    if not verify or p is None:
        strip_run.write(report, out)
        return report, None
    work = settings.out_dir / "strip" / f"{report.tree.name}-{p.target.slug}"
    started = time.monotonic()
    target_p = p

    def built(folder: Path, label: str) -> proof.Build:
        return build_as_dkms(settings, target_p, folder, work / label, label, the_rules.make)

    original = built(report.tree, "original")
    strip_run.write(report, out)
    stripped = built(out.resolve(), "stripped")
    verdict = proof.Verdict(original, stripped, proof.compare(original, stripped))
    log.progress(f"strip: both trees built and compared in {time.monotonic() - started:.1f} s")
    return report, verdict
