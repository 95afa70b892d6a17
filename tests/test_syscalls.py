"""Syscall tables from real Debian headers, checked against independent sources.

* numbers and names: Debian's ``linux-libc-dev`` of the same kernel version where the archive
  still has it (else the closest one, named in the failure message), read with the HOST gcc
  (``-E -dM`` over its uapi ``asm/unistd*.h``): a different package and a different
  preprocessor than the extraction, which uses the kernel headers and the target's cross gcc;
* entry symbols: the BTF of the ``vmlinux`` that 6.12+ header packages ship (function names
  of the real kernel);
* coverage: every native amd64/arm64 syscall typed; generic records listed, never dropped;
* argument names: those of the kernel's own ``SYSCALL_DEFINE<n>`` definitions (what it
  publishes in ``sys_enter_*/format``; tests/test_trace.py compares with a booted kernel's),
  not the header prototypes' (``add_key``'s ``ringid``, not ``destringid``).

These tests use the shared download cache (``settings``) and need Debian's archive once
(``network``); later runs work from the cache.
"""

from __future__ import annotations

import fnmatch
import json
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from debian.debian_support import Version

from kscribe.config.arches import arches
from kscribe.debian.archive import archive
from kscribe.debian.provision import fetch_deb
from kscribe.instrument.syscalls import abis, report, source
from kscribe.instrument.syscalls import assemble as core
from kscribe.instrument.syscalls.extract import evaluate
from kscribe.instrument.syscalls.prototypes import Origins, Param, Prototype, parse_param
from kscribe.instrument.syscalls.specs import ArgSpec, Where
from kscribe.pipeline import prepare

ROOT = Path(__file__).resolve().parent.parent

# (target arch, ABI) -> (libc-dev arch, uapi header, host gcc flags selecting the ABI): what
# a user-space program of that ABI sees. Compat ABIs check against the 32-bit arch's package.
REFERENCE = {
    ("amd64", "x86_64"): ("amd64", "asm/unistd.h", []),
    ("amd64", "ia32"): ("i386", "asm/unistd.h", ["-D__i386__"]),
    ("amd64", "x32"): ("amd64", "asm/unistd.h", ["-D__ILP32__"]),
    ("i386", "i386"): ("i386", "asm/unistd.h", ["-D__i386__"]),
    ("arm64", "arm64"): ("arm64", "asm/unistd.h", []),
    ("arm64", "arm32"): ("armhf", "asm/unistd.h", ["-D__ARM_EABI__"]),
    ("armhf", "arm32"): ("armhf", "asm/unistd.h", ["-D__ARM_EABI__"]),
    ("mips64el", "n64"): ("mips64el", "asm/unistd.h", ["-D_MIPS_SIM=_MIPS_SIM_ABI64"]),
    ("mips64el", "n32"): ("mips64el", "asm/unistd.h", ["-D_MIPS_SIM=_MIPS_SIM_NABI32"]),
    ("mips64el", "o32"): ("mips64el", "asm/unistd.h", ["-D_MIPS_SIM=_MIPS_SIM_ABI32"]),
    ("ppc64el", "ppc64"): ("ppc64el", "asm/unistd.h", ["-D__powerpc64__"]),
    ("s390x", "s390x"): ("s390x", "asm/unistd.h", ["-D__s390x__"]),
    ("s390x", "s390"): ("s390x", "asm/unistd.h", []),
    ("riscv64", "riscv64"): ("riscv64", "asm/unistd.h", []),
}
# every matrix architecture on at least one kernel, plus 5.10 and 7.2 for spread
TARGETS = ["bullseye/amd64", "bookworm/amd64", "bookworm/arm64", "bookworm/armhf",
           "bookworm/i386", "bookworm/ppc64el", "bookworm/mips64el", "bookworm/s390x",
           "trixie/riscv64", "trixie/arm64", "sid/amd64"]
CELLS = [(t, abi) for t in TARGETS for (arch, abi) in REFERENCE if t.endswith("/" + arch)]
# Known, explained differences (target, abi) -> {name: why}. arm64's 6.1 compat table is its
# own hand-kept asm/unistd32.h: it leaves 149 (_sysctl, not implemented on any 6.1 arm
# kernel either) unnamed, and names 341 only sync_file_range2 (arm's uapi also calls it
# arm_sync_file_range). 6.12 generates both tables from arm's syscall.tbl and agrees exactly.
KNOWN = {("bookworm/arm64", "arm32"): {
    "_sysctl": "not implemented (sys_ni_syscall) and unnamed in arm64's 6.1 unistd32.h",
    "arm_sync_file_range": "alias of sync_file_range2 (nr 341) in arm's uapi"}}

_PREPARED: dict[str, object] = {}


def prepared(name: str, settings):
    if name not in _PREPARED:
        _PREPARED[name] = prepare(name, settings)
    return _PREPARED[name]


def _libc_candidates(settings, p, arch: str):
    """linux-libc-dev of ``arch`` in the target's suite: the same version first, then newest."""
    found = []
    for ref in p.target.suite.archives:
        try:
            found += archive(settings, ref).index(arch).by_name.get("linux-libc-dev", [])
        except Exception:  # noqa: BLE001 - a mirror mid-sync: the other archive may have it
            continue
    exact = [d for d in found if d.version == p.resolved.version]
    rest = sorted((d for d in found if d.version != p.resolved.version),
                  key=lambda d: Version(d.version), reverse=True)
    return exact + rest


def libc_numbers(settings, p, abi: str) -> tuple[dict[str, int], str]:
    """__NR_ names and values of the reference linux-libc-dev, and which package it was."""
    arch, header, flags = REFERENCE[(p.target.arch.name, abi)]
    errors = []
    for deb in _libc_candidates(settings, p, arch):
        try:
            path = fetch_deb(settings, deb)
        except Exception as e:  # noqa: BLE001 - index lists a .deb the mirror lacks
            errors.append(f"{deb.version}: {e}")
            continue
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["dpkg-deb", "-x", str(path), d], check=True)
            inc = [Path(d) / "usr/include" / arches()[arch].multiarch, Path(d) / "usr/include"]
            out = subprocess.run(
                ["gcc", "-E", "-dM", "-nostdinc", *(f"-I{i}" for i in inc), *flags,
                 "-x", "c", "-"], input=f"#include <{header}>\n", capture_output=True,
                text=True, check=True).stdout
        macros = dict(re.findall(r"^#define (\w+) (.*)$", out, re.M))
        exclude = abis.types()["names"]["exclude"]
        nums = {k[5:]: evaluate(v, macros) for k, v in macros.items()
                if k.startswith("__NR_")
                and not any(fnmatch.fnmatchcase(k[5:], pat) for pat in exclude)}
        how = "same version" if deb.version == p.resolved.version else "closest version"
        return nums, f"{deb.name} {deb.version} ({deb.arch}, {how})"
    pytest.fail(f"no usable linux-libc-dev for {arch}: {'; '.join(errors) or 'none listed'}")


def table_of(settings, target: str, abi: str):
    p = prepared(target, settings)
    tables = core.tables(p, settings)
    found = [t for t in tables if t.abi == abi]
    assert found, f"{target}: no ABI {abi}; has {[t.abi for t in tables]}"
    return p, found[0]


@pytest.mark.network
@pytest.mark.parametrize("target,abi", CELLS, ids=[f"{t}:{a}" for t, a in CELLS])
def test_numbers_agree_with_linux_libc_dev(settings, network, target, abi):
    p, table = table_of(settings, target, abi)
    mine = {n: s.nr for s in table.syscalls for n in (s.name, *s.aliases)}
    ref, which = libc_numbers(settings, p, abi)
    known = KNOWN.get((target, abi), {})
    only_ref = sorted(set(ref) - set(mine) - set(known))
    only_mine = sorted(set(mine) - set(ref))
    differ = sorted(n for n in set(mine) & set(ref) if mine[n] != ref[n])
    assert not (only_ref or only_mine or differ), (
        f"{target} {abi} vs {which}: missing {only_ref}, extra {only_mine}, "
        f"different numbers {[(n, mine[n], ref[n]) for n in differ]}")
    for name in known:  # an explained difference must still be exactly that
        assert name in ref and name not in mine, name
        same_nr = [s for s in table.syscalls if s.nr == ref[name]]
        assert not same_nr or not same_nr[0].implemented or name in known, name
    print(f"{target} {abi}: {len(mine)} names agree with {which}")


def test_every_configured_abi_is_there(settings, network):
    """Compat ABIs follow the .config: ia32 and x32 on amd64, arm32 on arm64, o32/n32 on
    mips64el, s390 on s390x; none on ppc64el and riscv64 (CONFIG_COMPAT is off)."""
    want = {"bookworm/amd64": ["x86_64", "ia32", "x32"], "bullseye/amd64": ["x86_64", "ia32",
            "x32"], "bookworm/arm64": ["arm64", "arm32"], "bookworm/armhf": ["arm32"],
            "bookworm/i386": ["i386"], "bookworm/mips64el": ["n64", "n32", "o32"],
            "bookworm/ppc64el": ["ppc64"], "bookworm/s390x": ["s390x", "s390"],
            "trixie/riscv64": ["riscv64"]}
    for target, names in want.items():
        got = [t.abi for t in core.tables(prepared(target, settings), settings)]
        assert got == names, target


# --------------------------------------------------------------------------- entry symbols


def btf_functions(vmlinux: Path) -> set[str]:
    """Names of the FUNC entries of a (little-endian) vmlinux's .BTF section."""
    data = vmlinux.read_bytes()
    # ELF64 section headers: find .BTF by name
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    strtab_off = sections[shstrndx][4]
    btf = None
    for sh in sections:
        name = data[strtab_off + sh[0]:data.index(b"\0", strtab_off + sh[0])]
        if name == b".BTF":
            btf = data[sh[4]:sh[4] + sh[5]]
    assert btf is not None, f"{vmlinux} has no .BTF"
    magic, _, _, hdr_len, type_off, type_len, str_off, _ = struct.unpack_from("<HBBIIIII", btf)
    assert magic == 0xEB9F
    types = btf[hdr_len + type_off:hdr_len + type_off + type_len]
    strings = btf[hdr_len + str_off:]
    extra = {1: 4, 3: 12, 14: 4, 17: 4}
    per_member = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}
    names, pos = set(), 0
    while pos < len(types):
        name_off, info, _ = struct.unpack_from("<III", types, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind == 12:
            names.add(strings[name_off:strings.index(b"\0", name_off)].decode())
        pos += 12 + extra.get(kind, 0) + per_member.get(kind, 0) * vlen
    return names


@pytest.mark.network
@pytest.mark.parametrize("target", ["trixie/amd64", "trixie/arm64", "trixie/riscv64",
                                    "sid/amd64", "sid/arm64"])
def test_entry_symbols_are_kernel_functions(settings, network, target):
    """Every implemented entry (``__x64_sys_openat``, ``__ia32_compat_sys_open``,
    ``__arm64_compat_sys_...``) is a function of the target's own vmlinux (its BTF)."""
    p = prepared(target, settings)
    vmlinux = p.provisioned.kdir / "vmlinux"
    if not vmlinux.is_file():
        pytest.fail(f"{target}: its headers ship no vmlinux (6.12 and later do)")
    funcs = btf_functions(vmlinux)
    for table in core.tables(p, settings):
        entries = [s for s in table.syscalls if s.implemented]
        # x86's SYSCALL_DEFINE0 makes the entry an __alias of __do_sys_<name>: BTF only
        # describes the aliased function
        missing = [(s.name, s.entry) for s in entries if s.entry not in funcs
                   and not (not s.args and f"__do_{s.symbol}" in funcs)]
        assert not missing, f"{target} {table.abi}: not in vmlinux BTF: {missing}"
        assert len(entries) > 300


# ------------------------------------------------------------------------ argument names

# names the booted bookworm kernels publish (sys_enter_*/format) where linux/syscalls.h names
# the argument otherwise (header name in the comment)
PUBLISHED = {
    "add_key": (4, "ringid"),  # destringid
    "poll": (2, "timeout_msecs"),  # timeout
    "getxattr": (0, "pathname"),  # path
    "wait4": (0, "upid"),  # pid
    "getrandom": (0, "ubuf"),  # buf
    "io_setup": (1, "ctxp"),  # ctx
    "fsconfig": (2, "_key"),  # key
}


@pytest.mark.network
@pytest.mark.parametrize("target", ["bookworm/amd64", "bookworm/arm64"])
def test_argument_names_are_the_definitions(settings, network, target):
    """Names come from the target's SYSCALL_DEFINE<n>, types from its headers."""
    p = prepared(target, settings)
    full = core.result(p, settings).tables
    bare = core.result(p, settings, use_source=False).tables
    # arm64 has no poll: its arm32 compat ABI calls the same sys_poll
    calls = {**{s.name: s for s in full[-1].syscalls}, **full[0].by_name()}
    headers = {**{s.name: s for s in bare[-1].syscalls}, **bare[0].by_name()}
    for name, (i, want) in PUBLISHED.items():
        args = calls[name].args
        assert args[i].name == want, (name, [a.name for a in args])
        # same count and types as the header prototype alone, whose name differs
        assert [a.ctype for a in args] == [a.ctype for a in headers[name].args], name
        assert headers[name].args[i].name != want, name
    assert re.fullmatch(r"include/linux/syscalls\.h \(names: linux-source:fs/select\.c:\d+\)",
                        calls["poll"].origin)
    assert [a.name for a in calls["add_key"].args] == ["_type", "_description", "_payload",
                                                       "plen", "ringid"]
    ring = calls["add_key"].args[4]
    assert (ring.ctype, ring.bits, ring.signed) == ("key_serial_t", 32, True)
    # specs follow: accept4's length pointer and poll's count keep applying
    acc = {a.name: a for a in calls["accept4"].args}
    assert acc["upeer_sockaddr"].length == "*upeer_addrlen"
    assert calls["poll"].args[0].count == "nfds"
    assert calls["getrandom"].args[0].length == "return"


def test_merge_names_from_the_definition():
    def proto(text: str, origin: str) -> Prototype:
        return Prototype("sys_x", tuple(parse_param(t) for t in text.split(",")), origin)

    header = proto("struct pollfd __user *ufds, unsigned int nfds, int timeout", "h.h")
    define = proto("struct pollfd __user * ufds, unsigned int nfds, long timeout_msecs",
                   "linux-source:fs/select.c:1065")
    m = core._merge(header, None, define)
    assert [p.name for p in m.params] == ["ufds", "nfds", "timeout_msecs"]
    assert [p.ctype for p in m.params] == [p.ctype for p in header.params]  # header types
    assert m.origin == "h.h (names: linux-source:fs/select.c:1065)"
    # a definition of another argument count does not rename; none: the header as it is
    other = proto("int a, int b", "linux-source:x.c:1")
    assert core._merge(header, None, other) is header
    assert core._merge(header, None, None) is header
    # no header prototype: the definition, else a declaration of the source
    assert core._merge(None, other, define) is define
    assert core._merge(None, other, None) is other
    # an unnamed header argument takes a declaration's name (not a definition there)
    unnamed = Prototype("sys_x", (Param("int", "", ("int",)),), "h.h")
    named = proto("int fd", "linux-source:y.c:2")
    assert core._merge(unnamed, named).params[0].name == "fd"


def test_specs_accept_definition_and_header_names():
    """A spec names the definition's argument; a header's name (another kernel's definition,
    e.g. getrandom's buf before ubuf) still finds the same argument."""
    ubuf = Prototype("sys_getrandom", tuple(parse_param(t) for t in (
        "char __user *ubuf", "size_t len", "unsigned int flags")), "d")
    buf = Prototype("sys_getrandom", tuple(parse_param(t) for t in (
        "char __user *buf", "size_t count", "unsigned int flags")), "h")
    for name, length in (("ubuf", "len"), ("buf", "count")):
        spec = {name: ArgSpec("getrandom", name, Where(Path("io.yaml"), 1), "exit", length)}
        got = core._translate(spec, ubuf, ubuf, (buf,))
        assert list(got) == [0] and (got[0].arg, got[0].length) == ("ubuf", "len")


C_FILE = """\
// a comment
/* a comment
   over lines */
#include <linux/syscalls.h>

static int helper(void) { return 0; }

#ifdef __ARCH_WANT_SYS_CLONE
#ifdef CONFIG_CLONE_BACKWARDS
SYSCALL_DEFINE5(clone, unsigned long, clone_flags, unsigned long, newsp,
\t\t int __user *, parent_tidptr, unsigned long, tls, int __user *, child_tidptr)
{
\treturn 0;
}
#else
SYSCALL_DEFINE5(clone, unsigned long, clone_flags, unsigned long, newsp, /* x */
\t\t int __user *, parent_tidptr, int __user *, child_tidptr, unsigned long, tls)
{
\treturn 0;
}
#endif
#endif
#ifdef CONFIG_UNRELATED
static int other(void) { return 1; }
#endif
"""


def test_reduced_source_keeps_definitions_lines_and_conditionals(tmp_path):
    reduced = source._reduce(C_FILE)
    assert "helper" not in reduced and "CONFIG_UNRELATED" not in reduced
    lines = reduced.splitlines()
    assert lines[:3] == ["#ifdef __ARCH_WANT_SYS_CLONE", "#ifdef CONFIG_CLONE_BACKWARDS",
                         "#line 10"]
    assert lines[3].startswith("SYSCALL_DEFINE5(clone, unsigned long, clone_flags,")
    assert lines[4:6] == ["#else", "#line 16"]
    assert lines[7:] == ["#endif", "#endif"]
    # read back through gcc -E: the configuration picks the variant; file and line kept
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel/fork.c").write_text(reduced)
    for flags, tls, line in (([], 4, 16), (["-DCONFIG_CLONE_BACKWARDS"], 3, 10)):
        out = subprocess.run(["gcc", "-E", "-D__ARCH_WANT_SYS_CLONE", *flags, "-x", "c", "-"],
                             input=f'#include "{tmp_path}/kernel/fork.c"\n',
                             capture_output=True, text=True, check=True).stdout
        from kscribe.instrument.syscalls.prototypes import syscall_defines

        clone = syscall_defines(out, Origins(out, (str(tmp_path),), lines=True))["sys_clone"]
        assert clone.params[tls].name == "tls"
        assert clone.origin == f"kernel/fork.c:{line}"


def test_source_cache_has_a_format_and_files_for_an_arch(tmp_path):
    """A reduced extract of another layout is never read: the format is in its name."""
    old = tmp_path / "syscall-source" / f"6.1.1-1.f{source.FORMAT - 1}"
    old.mkdir(parents=True)
    (old / source.DONE).write_text("old\n")
    assert source.source_dir(tmp_path, "6.1.1-1") != old
    assert source.cached(tmp_path, "6.1.1-1") is None
    new = source.source_dir(tmp_path, "6.1.1-1")
    for rel in ("fs/open.c", "drivers/char/random.c", "arch/x86/kernel/process_32.c",
                "arch/x86/kernel/process_64.c", "arch/x86/um/tls_32.c", "arch/arm64/kernel/sys.c",
                "mm/nommu.c"):
        (new / rel).parent.mkdir(parents=True, exist_ok=True)
        (new / rel).write_text("")
    (new / source.DONE).write_text("new\n")
    assert source.cached(tmp_path, "6.1.1-1") == new
    rels = [p.relative_to(new).as_posix() for p in source.files_for(new, "x86", 64)]
    assert rels == ["arch/x86/kernel/process_64.c", "drivers/char/random.c", "fs/open.c",
                    "mm/nommu.c", "arch/x86/kernel/process_32.c"]
    files = source.files_for(new, "x86", 64)
    tu = core._source_tu(files, tmp_path, new)
    assert f'#if !IS_ENABLED(CONFIG_MMU)\n#include "{new}/mm/nommu.c"\n#endif' in tu


# -------------------------------------------------------------------- coverage and typing


@pytest.mark.network
@pytest.mark.parametrize("target", ["bookworm/amd64", "bookworm/arm64", "trixie/amd64",
                                    "trixie/arm64", "sid/amd64", "bullseye/amd64"])
def test_native_fully_typed(settings, network, target):
    table = next(t for t in core.tables(prepared(target, settings), settings) if t.native)
    cov = report.coverage(table)
    assert cov.percent == 100.0, [(s.name, s.reason) for s in cov.generic]


@pytest.mark.network
def test_generic_records_listed_not_dropped(settings, network):
    """Headers alone lack a few prototypes (x86's arch_prctl, mmap...): those syscalls keep
    their place with six raw arguments, a reason, and a line in the coverage report."""
    p = prepared("bookworm/amd64", settings)
    full = core.result(p, settings).tables
    bare = core.result(p, settings, use_source=False).tables
    for a, b in zip(full, bare, strict=True):
        assert [s.nr for s in a.syscalls] == [s.nr for s in b.syscalls]
    native = bare[0]
    generic = {s.name: s for s in native.generic}
    assert {"arch_prctl", "mmap", "rt_sigreturn"} <= set(generic)
    for s in generic.values():
        assert not s.typed and len(s.args) == 6 and s.reason
        assert all(a.ctype == "unsigned long" and a.kind == "int" for a in s.args)
    text = report.coverage_text(bare)
    assert "arch_prctl" in text and "x86_64" in text
    # with the source package, the same syscalls are typed, from the files that define them
    typed = {s.name: s for s in full[0].syscalls}
    assert typed["arch_prctl"].typed
    assert re.fullmatch(r"linux-source:arch/x86/kernel/process_64\.c:\d+",
                        typed["arch_prctl"].origin)
    assert [a.name for a in typed["arch_prctl"].args] == ["option", "arg2"]


def _args(table, name):
    s = table.by_name()[name]
    assert s.typed, (name, s.reason)
    return {a.name: a for a in s.args}


@pytest.mark.network
def test_argument_types_amd64(settings, network):
    tables = {t.abi: t for t in core.tables(prepared("bookworm/amd64", settings), settings)}
    t = tables["x86_64"]
    assert t.by_name()["openat"].entry == "__x64_sys_openat"
    a = _args(t, "openat")
    assert (a["filename"].kind, a["filename"].direction) == ("user_string", "entry")
    assert a["filename"].ctype == "const char __user *"
    assert (a["dfd"].bits, a["dfd"].signed) == (32, True)
    assert (a["mode"].ctype, a["mode"].bits, a["mode"].signed) == ("umode_t", 16, False)
    r = _args(t, "read")
    assert (r["buf"].kind, r["buf"].direction, r["buf"].length) == ("user_pointer", "exit",
                                                                     "return")
    assert (r["count"].ctype, r["count"].bits, r["count"].signed) == ("size_t", 64, False)
    w = _args(t, "write")
    assert (w["buf"].direction, w["buf"].length) == ("entry", "count")
    assert (_args(t, "lseek")["offset"].bits, _args(t, "lseek")["offset"].signed) == (64, True)
    assert _args(t, "kill")["pid"].ctype == "pid_t" and _args(t, "kill")["pid"].bits == 32
    ring = _args(t, "add_key")["ringid"]  # key_serial_t
    assert (ring.bits, ring.signed) == (32, True)
    assert _args(t, "io_setup")["ctxp"].kind == "user_pointer"
    assert _args(t, "io_destroy")["ctx"].bits == 64  # aio_context_t
    assert _args(t, "fadvise64")["offset"].ctype == "loff_t"
    c = _args(t, "connect")["uservaddr"]
    assert (c.kind, c.struct.tag, c.direction, c.length) == ("struct", "sockaddr", "entry",
                                                             "addrlen")
    assert c.struct.fields[0].name == "sa_family" and c.struct.fields[0].bits == 16
    for name, arg, length in (("accept", "upeer_sockaddr", "*upeer_addrlen"),
                              ("accept4", "upeer_sockaddr", "*upeer_addrlen"),
                              ("recvfrom", "addr", "*addr_len")):
        x = _args(t, name)[arg]
        assert (x.kind, x.direction, x.length) == ("struct", "exit", length), name
    assert _args(t, "sendto")["addr"].direction == "entry"
    assert _args(t, "bind")["umyaddr"].kind == "struct"
    tp = _args(t, "clock_gettime")["tp"]
    assert (tp.kind, tp.struct.tag, tp.direction) == ("struct", "__kernel_timespec", "exit")
    assert [(f.name, f.bits, f.signed) for f in tp.struct.fields] == [("tv_sec", 64, True),
                                                                      ("tv_nsec", 64, True)]
    assert _args(t, "clock_settime")["tp"].direction == "entry"
    ufds = _args(t, "poll")["ufds"]
    assert (ufds.kind, ufds.direction, ufds.count) == ("struct", "both", "nfds")
    assert [f.name for f in ufds.struct.fields] == ["fd", "events", "revents"]
    assert _args(t, "ppoll")["ufds"].count == "nfds"
    assert _args(t, "execve")["argv"].kind == "user_pointer"
    assert _args(t, "capget")["header"].kind == "user_pointer"  # a typedef'd __user pointer
    # ia32: compat entries, 32-bit time, and specs carried over by position
    i = tables["ia32"]
    assert i.by_name()["open"].entry == "__ia32_compat_sys_open"
    assert i.by_name()["read"].entry == "__ia32_sys_read"
    tp32 = _args(i, "clock_gettime")["tp"]
    assert tp32.struct.tag == "old_timespec32" and tp32.direction == "exit"
    assert [f.bits for f in tp32.struct.fields] == [32, 32]
    rf = i.by_name()["recvfrom"]
    assert rf.symbol == "compat_sys_recvfrom"
    rfa = {a.name: a for a in rf.args}
    assert (rfa["buf"].direction, rfa["buf"].length) == ("exit", "return")
    assert (rfa["addr"].kind, rfa["addr"].length) == ("struct", "*addrlen")
    # x32: 64-bit syscalls from x86-64's table plus x32's own compat ones
    x = tables["x32"]
    assert x.by_name()["read"].nr == 0x40000000
    assert x.by_name()["rt_sigaction"].entry == "__x64_compat_sys_rt_sigaction"


@pytest.mark.network
def test_argument_types_32bit_and_others(settings, network):
    arm = core.tables(prepared("bookworm/armhf", settings), settings)[0]
    assert arm.by_name()["read"].entry == "sys_read"  # no syscall wrappers on arm
    assert _args(arm, "read")["count"].bits == 32  # size_t on a 32-bit kernel
    assert _args(arm, "_llseek")["offset_high"].bits == 32
    assert _args(arm, "clock_gettime")["tp"].struct.tag == "old_timespec32"
    assert _args(arm, "clock_gettime64")["tp"].struct.tag == "__kernel_timespec"
    arm64 = {t.abi: t for t in core.tables(prepared("bookworm/arm64", settings), settings)}
    assert arm64["arm64"].by_name()["openat"].entry == "__arm64_sys_openat"
    assert arm64["arm32"].by_name()["open"].entry == "__arm64_compat_sys_open"
    assert arm64["arm32"].by_name()["pread64"].symbol == "compat_sys_aarch32_pread64"
    mips = {t.abi: t for t in core.tables(prepared("bookworm/mips64el", settings), settings)}
    assert mips["n64"].by_name()["read"].nr == 5000
    assert mips["o32"].by_name()["read"].nr == 4003
    assert mips["n64"].by_name()["clone"].symbol == "__sys_clone"
    assert mips["n64"].by_name()["clone"].typed  # the C function behind the asm stub
    s390 = {t.abi: t for t in core.tables(prepared("bookworm/s390x", settings), settings)}
    assert s390["s390x"].by_name()["read"].entry == "__s390x_sys_read"
    assert s390["s390"].by_name()["read"].entry == "__s390_compat_sys_s390_read"


# --------------------------------------------------------------------------- speed and CLI


def _kscribe(args, env):
    return subprocess.run([sys.executable, "-m", "kscribe", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)


@pytest.mark.network
def test_cli_table_and_coverage(settings, network, env):
    r = _kscribe(["syscalls", "bookworm/amd64", "--coverage"], env)
    assert r.returncode == 0, r.stderr
    assert re.search(r"bookworm/amd64\s+x86_64\s+362\s+346\s+346\s+0\s+100.0%", r.stdout)
    assert re.search(r"bookworm/amd64\s+ia32\s", r.stdout)
    r = _kscribe(["syscalls", "bookworm/amd64", "--abi", "x86_64", "--json"], env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [t["abi"] for t in data] == ["x86_64"]
    openat = next(s for s in data[0]["syscalls"] if s["name"] == "openat")
    assert openat["entry"] == "__x64_sys_openat" and openat["nr"] == 257
    assert openat["args"][1]["kind"] == "user_string"
    r = _kscribe(["syscalls", "bookworm/amd64", "--abi", "o32"], env)
    assert r.returncode == 2 and "no ABI 'o32'" in r.stderr
    r = _kscribe(["syscalls", "bookworm/arm64", "--abi", "arm32"], env)
    assert r.returncode == 0 and "__arm64_compat_sys_open(" in r.stdout


def test_an_arch_file_without_a_native_abi_is_refused(tmp_path, monkeypatch):
    """The arch loader checks what the syscall reader relies on: exactly one native ABI."""
    from kscribe.config import arches as arch_data
    from kscribe.errors import KscribeError
    from kscribe.util import tomldata

    good = tomldata.load("arches/riscv64.toml")
    good["syscalls"]["abis"][0]["native"] = False
    monkeypatch.setattr(tomldata, "load", lambda name: good)
    with pytest.raises(KscribeError, match=r"arches/riscv64.toml: \[top level.syscalls\] "
                                           r"abis: needs exactly one ABI with native = true"):
        arch_data.load("riscv64")

