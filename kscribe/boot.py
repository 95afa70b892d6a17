"""Boot a target's own kernel under QEMU (TCG), load the tracer in it and judge the console.

The initramfs holds the target arch's static busybox, the modules, ``kscribectl`` and an
``/init`` (``templates/init.sh.j2``) that loads the modules, queries the device, runs a small
workload, checks that a non-root user is refused, unloads and powers off. The verdict is
read from the console: every step's exit status, the module's own messages, and the absence
of kernel warnings. The console log and ``boot.json`` are kept beside ``metadata.json``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kscribe import atomic, initramfs
from kscribe.errors import KscribeError
from kscribe.hosttools import require
from kscribe.render import environment
from kscribe.tables import Arch

# Console lines that fail a boot whatever else happened.
KERNEL_PROBLEMS = re.compile(
    r"^.*(?:BUG:|WARNING:|Oops|Call Trace|Kernel panic|soft lockup|hung_task|"
    r"rcu_sched self-detected stall|general protection fault).*$", re.M)
_RC = re.compile(r"^KSCRIBE-RC (\d+) (.*?)\s*$", re.M)
_STAT = re.compile(r"^(\w+):(\w+) (\d+)\s*$", re.M)
_UNLOAD = re.compile(r"kscribe: (\w+):(\w+) hits=(\d+)")
TIMEOUT_S = 300


@dataclass
class Verdict:
    """The result of one boot: ``ok`` and, when not, the reasons."""

    ok: bool
    reasons: list[str] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    kernel: str = ""

    def summary(self) -> str:
        if self.ok:
            busiest = sorted(self.hits.items(), key=lambda kv: -kv[1])[:3]
            top = ", ".join(f"{k}={v}" for k, v in busiest)
            return f"PASS: loaded, traced ({top}), unloaded in {self.duration_s:.1f} s"
        return "FAIL: " + "; ".join(self.reasons)


def make_initramfs(dest: Path, busybox: Path, modules: list[Path], programs: dict[str, Path],
                   *, record: list[str] | None = None, dump_formats: bool = False,
                   script: str = "init.sh.j2", context: dict | None = None) -> None:
    """Write the boot test's initramfs to ``dest``: busybox, ``programs`` in /bin, modules.

    With ``record`` (``kscribectl record`` options), ``/init`` also records the workload
    and writes the trace to the console between ``KSCRIBE-TRACE-BEGIN``/``-END`` lines
    (a gzipped tar, base64): the serial line is the one channel every machine has. With
    ``dump_formats`` it also sends the kernel's ``sys_enter_*/format`` files. ``script``
    names another /init template (the robustness and benchmark runs).
    """
    names = [m.stem for m in modules]
    init = environment().get_template(script).render(
        modules=names, record=shlex.join(record) if record is not None else None,
        dump_formats=dump_formats, **(context or {}))
    e = initramfs
    entries = [e.folder(d) for d in ("bin", "dev", "etc", "lib", "lib/kscribe", "proc",
                                      "sys", "tmp", "root")]
    entries += [
        e.chardev("dev/console", 5, 1),
        e.chardev("dev/null", 1, 3, 0o666),
        e.file("init", init.encode(), 0o755),
        e.file("bin/busybox", busybox.read_bytes(), 0o755),
        e.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                             b"nobody:x:65534:65534:nobody:/:/bin/sh\n"),
        e.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
    ]
    entries += [e.file(f"bin/{name}", path.read_bytes(), 0o755)
                for name, path in sorted(programs.items())]
    entries += [e.file(f"lib/kscribe/{m.name}", m.read_bytes()) for m in modules]
    initramfs.write(dest, entries)


def qemu_argv(arch: Arch, kernel: Path, initrd: Path, append: str = "",
              accel: str | None = None) -> list[str]:
    """The QEMU command line that boots ``kernel`` with ``initrd`` on ``arch``'s machine;
    ``accel`` replaces the arch's ``-accel`` value (e.g. to compare TCG threading modes)."""
    cmdline = f"console={arch.console} panic=-1 {append}".strip()
    args = list(arch.qemu_args)
    if accel is not None:
        args[args.index("-accel") + 1] = accel
    return [arch.qemu_binary, *args, "-m", "1024", "-smp", "2", "-nographic",
            "-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline]


def judge(console: str) -> Verdict:
    """Read a boot console: did every step succeed, did the probes count, no warnings?"""
    v = Verdict(ok=True)
    begin = re.search(r"^KSCRIBE-BEGIN (\S+)", console, re.M)
    if not begin:
        v.reasons.append("/init never ran (no KSCRIBE-BEGIN on the console)")
    else:
        v.kernel = begin.group(1)
    for rc, cmd in _RC.findall(console):
        if rc != "0":
            detail = re.search(rf"^{re.escape(cmd.split()[0])}: .*$", console, re.M)
            v.reasons.append(f"`{cmd}` exited {rc}" + (f" ({detail.group(0)})" if detail else ""))
    steps = {cmd.split()[0] for _, cmd in _RC.findall(console)}
    for need in ("insmod", "kscribectl", "rmmod"):
        if begin and need not in steps:
            v.reasons.append(f"no {need} step ran")
    if begin and not re.search(r"kscribe: core \S+ loaded", console):
        v.reasons.append("the core module never said it loaded")
    v.hits = {f"{s}:{e}": int(n) for s, e, n in _STAT.findall(console)}
    if begin and not any(v.hits.values()):
        v.reasons.append("no probe counted any hit")
    unload = {f"{s}:{e}": int(n) for s, e, n in _UNLOAD.findall(console)}
    if begin and "rmmod" in steps and not unload:
        v.reasons.append("no hit counts reported on unload")
    nonroot = re.search(r"^KSCRIBE-NONROOT-RC (\d+)", console, re.M)
    if begin and (not nonroot or nonroot.group(1) == "0"):
        v.reasons.append("a non-root user was not refused by /dev/kscribe")
    for line in KERNEL_PROBLEMS.findall(console):
        v.reasons.append(f"kernel: {line.strip()}")
    if begin and "KSCRIBE-END" not in console:
        v.reasons.append("/init did not finish (no KSCRIBE-END)")
    v.ok = not v.reasons
    return v


def judge_finished(console: str) -> Verdict:
    """The verdict of a guest run that only has to finish (``KSCRIBE-END``) with no kernel
    problem on the console: the benchmarks' runs."""
    v = Verdict(ok=True)
    if "KSCRIBE-END" not in console:
        v.reasons.append("the run did not finish (no KSCRIBE-END)")
    v.reasons += [f"kernel: {ln.strip()}" for ln in KERNEL_PROBLEMS.findall(console)]
    v.ok = not v.reasons
    return v


def boot(*, arch: Arch, kernel: Path, busybox: Path, modules: list[Path],
         programs: dict[str, Path], outdir: Path, append: str = "", timeout: int = TIMEOUT_S,
         record: list[str] | None = None, dump_formats: bool = False,
         script: str = "init.sh.j2", context: dict | None = None,
         judge_console=None, accel: str | None = None) -> Verdict:
    """Boot, run ``/init``, write ``console.log`` and ``boot.json`` into ``outdir``.

    ``judge_console`` (default :func:`judge`) turns the console into the verdict.
    """
    require(arch.qemu_binary, arch.qemu_package, f"to boot {arch.name} kernels")
    initrd = outdir / "initrd.cpio.gz"
    make_initramfs(initrd, busybox, modules, programs, record=record,
                   dump_formats=dump_formats, script=script, context=context)
    argv = qemu_argv(arch, kernel, initrd, append, accel)
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
        console = proc.stdout.decode(errors="replace").replace("\r\n", "\n")
        timed_out = False
    except subprocess.TimeoutExpired as e:
        console = (e.stdout or b"").decode(errors="replace").replace("\r\n", "\n")
        timed_out = True
    took = time.monotonic() - started
    atomic.write_text(outdir / "console.log", console)
    v = (judge_console or judge)(console)
    if timed_out:
        v.ok = False
        v.reasons.append(f"QEMU did not power off within {timeout} s")
    v.duration_s = round(took, 2)
    atomic.write_json(outdir / "boot.json", {**asdict(v), "qemu": argv,
                                             "summary": v.summary()})
    print(f"  boot {arch.name}: {v.summary()}", file=sys.stderr)
    return v
