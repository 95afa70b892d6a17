"""Boot a target's own kernel under QEMU (TCG) with an initramfs, and keep the console.

The initramfs holds the target arch's static busybox, the modules, the guest programs and
an ``/init`` rendered from ``templates/guest/`` (the boot test by default; the robustness
run, benchmarks and the trace run use other scripts or options). The verdict is read from
the console by a judge (:mod:`kscribe.guest.boot` by default); the console log and
``boot.json`` are kept in the run's folder.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kscribe.codegen.env import environment
from kscribe.config.arches import Arch
from kscribe.guest import boot as boot_check
from kscribe.guest import contexts, filters, initramfs
from kscribe.guest.console import MARK, Verdict
from kscribe.util import atomic, log, proc

TIMEOUT_S = 300
INIT = "guest/init.sh.j2"
STUCK = "stopped: the guest is stuck (see console.log)"


def render_init(modules: list[Path], *, record: list[str] | None = None,
                dump_formats: bool = False, script: str = INIT,
                context: dict[str, Any] | None = None) -> str:
    """The guest's ``/init``: ``script`` rendered with the modules to load and the markers.

    With ``record`` (``kscribectl record`` options) the boot test also records the workload
    and sends the trace over the console; with ``dump_formats`` it sends the kernel's
    ``sys_enter_*/format`` files.
    """
    return environment().get_template(script).render(
        modules=[m.stem for m in modules], mark=MARK, unknown_context=contexts.UNKNOWN,
        record=shlex.join(record) if record is not None else None,
        dump_formats=dump_formats, **filters.template_context(), **(context or {}))


def qemu_argv(arch: Arch, kernel: Path, initrd: Path, append: str = "",
              accel: str | None = None) -> list[str]:
    """The QEMU command line that boots ``kernel`` with ``initrd`` on ``arch``'s machine;
    ``accel`` replaces the arch's ``-accel`` value (e.g. to compare TCG threading modes)."""
    q = arch.qemu
    cmdline = f"console={q.console} panic=-1 {append}".strip()
    args = list(q.args)
    if accel is not None:
        args[args.index("-accel") + 1] = accel
    return [q.binary, *args, "-m", str(q.memory), "-smp", str(q.cpus), "-nographic",
            "-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline]


def boot(*, arch: Arch, kernel: Path, busybox: Path, modules: list[Path],
         programs: dict[str, Path], outdir: Path, append: str = "", timeout: int = TIMEOUT_S,
         record: list[str] | None = None, dump_formats: bool = False,
         script: str = INIT, context: dict[str, Any] | None = None,
         judge_console: Callable[[str], Verdict] = boot_check.judge,
         accel: str | None = None, kernel_modules: dict[str, Path] | None = None,
         machine: Callable[[Path], list[str]] | None = None,
         stuck: re.Pattern[str] | None = None) -> Verdict:
    """Boot, run ``/init``, write ``console.log`` and ``boot.json`` into ``outdir``;
    ``kernel_modules`` (name -> .ko of the kernel's package) go to /lib/modules.
    ``machine(initrd)`` gives another QEMU command line (firmware that boots a disk).
    A console line matching ``stuck`` ends the run there, with :data:`STUCK` among the
    reasons, instead of at the time-out."""
    proc.require(arch.qemu.binary, why=f"to boot {arch.name} kernels")
    initrd = outdir / "initrd.cpio.gz"
    init = render_init(modules, record=record, dump_formats=dump_formats, script=script,
                       context={"programs": sorted(programs),
                                "kernel_modules": sorted(kernel_modules or {}),
                                **(context or {})})
    initramfs.make(initrd, busybox, modules, programs, init, kernel_modules)
    argv = machine(initrd) if machine is not None else \
        qemu_argv(arch, kernel, initrd, append, accel)
    started = time.monotonic()
    done, stopped = proc.watch(argv, timeout=timeout, why=f"to boot {arch.name} kernels",
                               stop_when=lambda line: stuck is not None and
                               stuck.search(line.decode(errors="replace")) is not None)
    console = done.stdout.decode(errors="replace").replace("\r\n", "\n")
    timed_out = done.returncode is None and not stopped
    took = time.monotonic() - started
    atomic.write_text(outdir / "console.log", console)
    v = judge_console(console)
    if timed_out:
        v.ok = False
        v.reasons.append(f"QEMU did not power off within {timeout} s")
    if stopped:
        v.ok = False
        v.reasons.append(STUCK)
    v.duration_s = round(took, 2)
    atomic.write_json(outdir / "boot.json", {**asdict(v), "qemu": argv,
                                             "summary": v.summary()})
    log.progress(f"boot {arch.name}: {v.summary()}")
    return v
