"""The peers benchmark's guest: kscribe, LTTng, perf and ftrace in turn in one boot.

The target's own kernel boots with a small initramfs that mounts a Debian root of the
target's suite shared over 9p (:mod:`kscribe.guest.rootfs`). The root holds Debian's
``lttng-tools``, ``linux-perf`` and ``trace-cmd``; the ``lttng-modules`` Debian ships
(``lttng-modules-dkms``) built for this very kernel by the target's toolchain, as dkms
would; and kscribe's modules and programs. ``templates/guest/peers.sh.j2`` runs the
workloads; each run's output comes back through the share and is kept in ``results/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kscribe.build import metadata
from kscribe.codegen.env import environment
from kscribe.config.settings import Settings
from kscribe.debian.provision import module_closure, module_indexes
from kscribe.guest import rootfs
from kscribe.guest.console import MARK, Verdict, judge_finished
from kscribe.guest.qemu import STUCK as STUCK_REASON
from kscribe.guest.qemu import boot, qemu_argv
from kscribe.peers import lttng
from kscribe.pipeline import Prepared, build_target, outdir, prepare, programs_of
from kscribe.util import atomic, log

# what the root holds besides libc-bin and kmod: the peers' user-space tools
PACKAGES = ("lttng-tools", "linux-perf", "trace-cmd")
# in the order of the first round (the others: orders()); ftrace is
# recorded by trace-cmd, as its users record it to disk
TRACERS = ("kscribe", "lttng", "perf", "ftrace")
# tracer -> event set -> how the tracer selects it. Syscalls: every one, entry and exit,
# with typed arguments where the tracer has them; sched: a switch and a wake-up.
SELECTIONS = {
    "kscribe": {"syscalls": "-e syscalls:*", "sched": "-e sched_switch -e sched_wakeup"},
    "lttng": {"syscalls": "--syscall -a", "sched": "sched_switch,sched_wakeup"},
    "perf": {"syscalls": "-e syscalls:*",
             "sched": "-e sched:sched_switch -e sched:sched_wakeup"},
    "ftrace": {"syscalls": "-e syscalls",
               "sched": "-e sched:sched_switch -e sched:sched_wakeup"},
}
# workload -> (event set, command); {calls} is the plan's count for it. Each runs on CPU 0
# (both ping-pong threads too: every round trip is then two switches and two wake-ups,
# with no migration between vCPUs to blur it), a tracer's consumer on the other CPUs.
WORKLOADS = {
    "getppid": ("syscalls", "taskset 1 kscribe-loop {calls}"),
    "files": ("syscalls", "taskset 1 kscribe-loop -o /tmp/file {calls}"),
    "pingpong": ("sched", "taskset 1 kscribe-loop -p {calls}"),
}
# a rung of the rate ladder: every CPU making getppid() calls, {rate} per second together
# (0: as fast as they can) for {seconds}
LADDER = "kscribe-loop -a {rate} {seconds}"
# what --profile may name besides a workload: the ladder's top rung
FLOOD = ("syscalls", LADDER.format(rate=0, seconds="{seconds}"))
# syscalls each call of a syscall workload makes (openat, read, close)
SYSCALLS_PER_CALL = {"getppid": 1, "files": 3}
RESULTS = "/kscribe/results"
# what depmod reads of the kernel package besides the modules
MODULE_INDEXES = ("modules.builtin", "modules.builtin.modinfo", "modules.order")
SCRIPT = "/kscribe/run.sh"
# A guest that prints one of these will not finish: under multi-threaded TCG an x86 vCPU
# can loop for ever on the int3 of a jump label another vCPU is patching, when a tracer
# switches its events on (kernel_module/DESIGN.md, "Testing under TCG"). The run is then
# stopped and made again from a new boot, the figures of the stuck one thrown away.
STUCK = re.compile(r"self-detected stall on CPU|soft lockup - CPU#\d+ stuck")
ATTEMPTS = 3
# vCPUs in parallel, as on hardware: each tracer's consumer runs beside the loop
# (bench/syscall_cost.py says why this is safe for the benchmarks)
ACCEL = "tcg,thread=multi"
MEMORY_MB = 2048
# kernel arguments per kbuild arch that give the guest the clock a tracer reads on hardware.
# Under TCG an x86 kernel finds the TSC unstable and keeps time with the HPET, whose every
# read is an emulated MMIO access: LTTng reads that clock (ktime_get_mono_fast_ns()) for
# each event, where kscribe, ftrace and perf read the TSC (sched_clock()).
CLOCK_ARGS = {"x86": "clocksource=tsc tsc=reliable"}


@dataclass(frozen=True)
class Plan:
    """How much one run does: calls per workload, rounds, the rate ladder (getppid() calls
    per second on all CPUs together; 0 is as fast as they can)."""

    calls: dict[str, int]
    rounds: int
    rates: tuple[int, ...]
    rate_seconds: int
    timeout: int = 3600
    workloads: tuple[str, ...] = field(default=tuple(WORKLOADS))
    profile: str | None = None  # a workload or "flood", profiled under each tracer


# untraced runs of about 0.4, 0.4 and 0.9 s on amd64, 3 to 7 s on arm64: at 0.1 to 0.2 s
# on amd64, a timer tick or a consumer's wake-up moved a run as much as the gaps between
# the tracers
FULL = Plan(calls={"getppid": 300_000, "files": 60_000, "pingpong": 40_000}, rounds=5,
            rates=(80_000, 160_000, 320_000, 480_000, 640_000, 0), rate_seconds=2)
# CI's: every tracer loads and records each workload once, and is profiled once
SMOKE = Plan(calls={"getppid": 2_000, "files": 500, "pingpong": 500}, rounds=1,
             rates=(0,), rate_seconds=1, timeout=1200, profile="flood")


def profiled(plan: Plan) -> tuple[str, str] | None:
    """The event set and command that ``plan.profile`` names, or None."""
    if plan.profile is None:
        return None
    if plan.profile == "flood":
        return FLOOD[0], FLOOD[1].format(seconds=plan.rate_seconds)
    events, command = WORKLOADS[plan.profile]
    return events, command.format(calls=plan.calls[plan.profile])


def orders(runs: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of ``runs`` in each round, a Williams design: the first round runs them as
    given but for its tail, which alternates between the far and the near end (a, b, e, c,
    d), and each round after moves every run one further along the list. Over as many rounds
    as runs each takes every place once, and where they are even in number each follows
    every other once: a drift within the rounds, or what a run leaves behind for the next,
    favours none (a fixed turn always ran kscribe right after ftrace's ladder)."""
    n = len(runs)
    near, far, first = 1, n - 1, [0]
    while near <= far:
        first.append(near)
        near += 1
        if near <= far:
            first.append(far)
            far -= 1
    return [[runs[(i + r) % n] for i in first] for r in range(rounds)]


def _script(plan: Plan, modules: list[Path]) -> str:
    return environment().get_template("guest/peers.sh.j2").render(
        mark=MARK, modules=[m.stem for m in modules], tracers=TRACERS,
        selections=SELECTIONS, results=RESULTS, rates=plan.rates,
        orders=orders(("none", *TRACERS), plan.rounds),
        ladder_orders=orders(TRACERS, max(plan.rounds, 1)),
        ladder=LADDER.format(rate="$rate", seconds=plan.rate_seconds),
        profile=plan.profile, profiled=profiled(plan),
        workloads={w: (WORKLOADS[w][0], WORKLOADS[w][1].format(calls=plan.calls[w]))
                   for w in plan.workloads})


def _fill(settings: Settings, root: Path, p: Prepared, built: Path, peers: lttng.Built,
          folder: Path, plan: Plan) -> None:
    """Put the peers' modules, kscribe's and the run's script into a fresh root."""
    for d in ("proc", "sys", "tmp", "run", "root", "kscribe/modules", "kscribe/bin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    if not (root / "var/run").exists():  # base-files' link, which the root may lack
        (root / "var/run").symlink_to("/run")
    kernel_dir = root / "lib/modules" / p.resolved.abi
    indexes = module_indexes(settings, p.resolved, MODULE_INDEXES)
    kernel_dir.mkdir(parents=True, exist_ok=True)
    for name in MODULE_INDEXES:  # what depmod and libkmod need beside the modules
        shutil.copyfile(indexes / name, kernel_dir / name)
    extra = kernel_dir / "extra"
    base = folder / "lttng-modules"
    for ko in peers.modules:
        dest = extra / ko.relative_to(base)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ko, dest)
    modules = metadata.modules(built)
    for ko in modules:
        shutil.copyfile(ko, root / "kscribe/modules" / ko.name)
    programs = {**programs_of(built, p.target.arch), "busybox": p.provisioned.busybox}
    for name, path in programs.items():
        shutil.copyfile(path, root / "kscribe/bin" / name)
        (root / "kscribe/bin" / name).chmod(0o755)
    atomic.write_text(root / SCRIPT.lstrip("/"), _script(plan, modules), mode=0o755)


@dataclass(frozen=True)
class Outcome:
    """A run: the guest's verdict, where its results are, and the lttng-modules it loaded."""

    verdict: Verdict
    folder: Path   # <out>/<target>/peers: console.log, boot.json
    results: Path  # <folder>/results: what the guest left in the share's results folder
    lttng: lttng.Built


def run(name: str, settings: Settings, plan: Plan = FULL, accel: str = ACCEL) -> Outcome:
    """Boot the target once with every tracer and the workloads of ``plan``."""
    p = prepare(name, settings)
    build_target(name, settings)
    built = outdir(settings, p.target)
    folder = built / "peers"
    peers = lttng.build(settings, p, folder)
    share = module_closure(settings, p.resolved, rootfs.SHARE_MODULES, "9p")
    arch = p.target.arch
    root = folder / "root"

    def machine(initrd: Path) -> list[str]:
        argv = qemu_argv(arch, p.provisioned.kernel, initrd,
                         append=CLOCK_ARGS.get(arch.kbuild_arch, ""), accel=accel)
        argv[argv.index("-m") + 1] = str(MEMORY_MB)
        return [*argv, *rootfs.virtfs(root)]

    for attempt in range(1, ATTEMPTS + 1):
        rootfs.fresh(settings, p.target.suite, arch, PACKAGES, root)
        _fill(settings, root, p, built, peers, folder, plan)
        v = boot(arch=arch, kernel=p.provisioned.kernel, busybox=p.provisioned.busybox,
                 modules=[], programs={}, outdir=folder, script="guest/share-init.sh.j2",
                 context={"share_modules": [m.stem for m in share], "tag": rootfs.TAG,
                          "script": SCRIPT},
                 kernel_modules={m.stem: m for m in share}, judge_console=judge_finished,
                 timeout=plan.timeout, machine=machine, stuck=STUCK)
        if STUCK_REASON not in v.reasons or attempt == ATTEMPTS:
            break
        found = STUCK.search((folder / "console.log").read_text(errors="replace"))
        log.progress(f"{name}: the guest got stuck ({found[0].strip() if found else '?'}); "
                     f"the whole run again, from a new boot ({attempt + 1} of {ATTEMPTS})")
    # out of the root, which the next run replaces, into the run's folder
    results = folder / "results"
    if results.exists():
        shutil.rmtree(results)
    shared = root / RESULTS.lstrip("/")
    if shared.is_dir():
        shutil.move(shared, results)
    else:
        results.mkdir()
    return Outcome(v, folder, results, peers)
