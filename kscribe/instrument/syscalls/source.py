"""Syscall definitions of the target's own ``linux-source-<v>`` package.

The kernel names a syscall's arguments where it defines it, ``SYSCALL_DEFINE<n>(name, type,
arg, ...)`` or ``COMPAT_SYSCALL_DEFINE<n>``, and those are the names the booted kernel
publishes (``/sys/kernel/tracing/events/syscalls/sys_enter_*/format``); the prototypes of
``linux/syscalls.h`` often name them otherwise (``add_key``'s ``destringid`` is ``ringid``),
leave them unnamed (``sys_connect(int, struct sockaddr __user *, int)``), or lack the syscall
(``arch_prctl``, ``rt_sigreturn``, ``mmap`` on x86...). So the source package of exactly the
target's version is streamed once, and every C file of the kernel tree that defines a syscall
(whatever its folder: fs/, mm/, kernel/, net/, drivers/char/random.c, arch/*/...) is reduced to
its conditional directives and its definitions, each after a ``#line`` giving its line in the
original file; the reduced files are cached (about 0.4 MB per version, whatever the
architecture). Reading them then goes through the target's preprocessor with its
configuration, so ``#ifdef CONFIG_CLONE_BACKWARDS`` picks the right ``clone``.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kscribe.config.settings import Settings
from kscribe.errors import KscribeError
from kscribe.util import atomic, log
from kscribe.util.ctext import COMMENT, closing

if TYPE_CHECKING:  # the archive is not read where only headers are (a dkms build)
    from kscribe.debian.lock import Resolved

_COND = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b.*?(?<!\\)$", re.M | re.S)
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+).*?(?<!\\)$", re.M | re.S)
_START = re.compile(r"\b(?:COMPAT_)?SYSCALL(?:32)?_DEFINE\d\s*\(|^asmlinkage\s[^;{(]*\bsys\w*\s*\(",
                    re.M)
# folders of the source package that are not part of a kernel image
_SKIP_DIRS = ("Documentation/", "tools/", "samples/", "scripts/")
DONE = ".complete"
# the layout of the reduced files; a change of it makes every cached extract stale
FORMAT = 2


def header_macros(paths: list[Path], used: set[str]) -> str:
    """The ``#define``s of ``used`` names in kernel headers, with their conditionals.

    The reduced C files use helper macros of ``linux/syscalls.h`` and ``linux/compat.h``
    (``SYSCALL32_DEFINE0`` is ``COMPAT_SYSCALL_DEFINE0`` under CONFIG_COMPAT, ``SC_ARG64(pos)``
    two u32 halves); these are given to the preprocessor without the headers' other content.
    """
    return "".join(_reduce(p.read_text(errors="replace"), used) for p in paths if p.is_file())


def used_names(files: list[Path]) -> set[str]:
    """Identifiers of the syscall definitions in reduced files."""
    out: set[str] = set()
    for p in files:
        for line in p.read_text().splitlines():
            if not line.startswith("#"):
                out.update(re.findall(r"\b[A-Za-z_]\w*", line))
    return {n for n in out if not re.fullmatch(r"(COMPAT_)?SYSCALL_DEFINE\d|asmlinkage", n)}


def _uncomment(text: str) -> tuple[str, Callable[[int], int]]:
    """``text`` with each comment replaced by a space, and a function giving the line (in
    ``text``) of a position of the result."""
    parts, removed, pos, size = [], [(0, 0)], 0, 0
    for m in COMMENT.finditer(text):
        parts += [text[pos:m.start()], " "]
        size += m.start() - pos + 1
        removed.append((size, removed[-1][1] + text.count("\n", m.start(), m.end())))
        pos = m.end()
    parts.append(text[pos:])
    out = "".join(parts)
    newlines = [m.start() for m in re.finditer("\n", out)]
    starts = [r[0] for r in removed]

    def line(at: int) -> int:
        hidden = removed[bisect.bisect_right(starts, at) - 1][1]
        return bisect.bisect_left(newlines, at) + hidden + 1

    return out, line


def _reduce(text: str, only_macros: set[str] | None = None) -> str:
    """A C file cut down to its conditionals, syscall definitions (as declarations, each
    after a ``#line`` of its place in the file) and the macros those use (``arg_u32p(pos)``,
    ``#define SYSCALL_DEFINE0 COMPAT_SYSCALL_DEFINE0``); empty when it defines no syscall."""
    text, line_of = _uncomment(text)
    events = [(m.start(), m.end(), "c") for m in _COND.finditer(text)]
    used: set[str] = set(only_macros or ())
    for m in (_START.finditer(text) if only_macros is None else ()):
        try:
            i = closing(text, m.end(), depth=1)
        except ValueError:
            i = len(text)
        events.append((m.start(), i, "d"))
        used.update(re.findall(r"\w+", text[m.start():i]))
    if not used:
        return ""
    macros = []
    for m in _DEFINE.finditer(text):
        if m.group(1) in used:
            events.append((m.start(), m.end(), "m"))
            macros.append(m.group(1))
    # conditional groups that hold no definition are dropped
    stack: list[list[str]] = [[]]
    keep: list[bool] = [True]
    for start, end, kind in sorted(events):
        chunk = text[start:end].strip()
        if kind in ("d", "m"):
            stack[-1].append(f"#line {line_of(start)}\n" + " ".join(chunk.split()) + ";"
                             if kind == "d" else chunk)
            keep[-1] = True
            continue
        directive = re.match(r"#\s*(\w+)", chunk)
        word = directive.group(1) if directive else ""
        if word.startswith("if"):
            stack.append([chunk])
            keep.append(False)
        elif len(stack) == 1:  # unbalanced: a directive closing nothing
            continue
        elif word in ("elif", "else"):
            stack[-1].append(chunk)
        else:
            group, kept = stack.pop(), keep.pop()
            if kept:
                stack[-1] += [*group, chunk]
                keep[-1] = True
    while len(stack) > 1:  # unbalanced file: keep what is open
        group, kept = stack.pop(), keep.pop()
        if kept:
            stack[-1] += [*group, "#endif"]
    # the file's macros end with it (all reduced files are read in one translation unit)
    if only_macros is None:
        stack[0] += [f"#undef {name}" for name in dict.fromkeys(macros)]
    return "\n".join(stack[0]) + "\n"


def source_dir(cache: Path, version: str) -> Path:
    """Where the reduced sources of ``version`` are cached; the layout's FORMAT is in the
    name, so an extract of another layout is never read."""
    return cache / "syscall-source" / f"{version.replace(':', '_')}.f{FORMAT}"


def cached(cache: Path, version: str) -> Path | None:
    """The folder of reduced sources of ``version`` if complete."""
    d = source_dir(cache, version)
    return d if (d / DONE).is_file() else None


def fetch(settings: Settings, resolved: Resolved) -> Path:
    """The reduced sources of the target's kernel version: cached, or made now."""
    done = cached(settings.cache_dir, resolved.version)
    if done:
        return done
    from kscribe.debian import linux_source

    deb = linux_source.fetch(settings, resolved)
    dest = source_dir(settings.cache_dir, resolved.version)
    started = time.monotonic()
    with atomic.atomic_path(dest, directory=True) as tmp:
        count = reduce_package(deb, tmp)
        (tmp / DONE).write_text(f"{deb.name}: {count} files, format {FORMAT}\n")
    log.progress(f"{deb.name}: {count} C files with syscall definitions reduced "
                 f"({time.monotonic() - started:.1f} s)")
    return dest


def reduce_package(deb: Path, dest: Path) -> int:
    """Reduce every C file of the source package ``deb`` that defines a syscall into
    ``dest``; the number of files written."""
    from kscribe.debian import linux_source

    count = 0
    for rel, m, tar in linux_source.files(deb):
        if not (m.isfile() and rel.endswith(".c")) or rel.startswith(_SKIP_DIRS):
            continue
        f = tar.extractfile(m)
        assert f is not None
        data = f.read()
        if b"SYSCALL" not in data and b"asmlinkage" not in data:
            continue
        reduced = _reduce(data.decode("utf-8", errors="replace"))
        if not reduced:
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(reduced)
        count += 1
    if not count:
        raise KscribeError(f"{deb.name}: no syscall definitions found in its source tarball")
    return count


def files_for(folder: Path, kbuild_arch: str, bits: int) -> list[Path]:
    """The reduced files that can define syscalls of ``kbuild_arch``: all but other arches'.

    Where an arch has ``foo_32.c`` and ``foo_64.c`` (kbuild picks ``foo_$(BITS).o``), the
    one of the kernel's word size comes first, so its definition is the one kept; the arch's
    folders come before the generic ones (an arch's own ``sigaction`` replaces the generic
    one). ``arch/<arch>/um`` is user-mode Linux's, not the arch's.
    """
    own: list[Path] = []
    other: list[Path] = []
    for p in sorted(folder.rglob("*.c")):  # "arch/" sorts first
        rel = p.relative_to(folder).as_posix()
        if rel.startswith("arch/") and not rel.startswith(f"arch/{kbuild_arch}/") \
                or rel.startswith(f"arch/{kbuild_arch}/um/"):
            continue
        (other if rel.endswith(f"_{96 - bits}.c") else own).append(p)
    return own + other
