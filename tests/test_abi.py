"""The uapi header is the rendering of abi.yaml, and its layout is the same for every ABI."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from kscribe.codegen import uapi as abi
from kscribe.config import paths
from kscribe.config.arches import arches, host_arch
from kscribe.errors import KscribeError

from .conftest import copy_sources, need_tool

# A compiler per data model: LP64, ILP32 with 4-byte-aligned u64 (i386), ILP32 with
# 8-byte-aligned u64 (armhf), and every other architecture kscribe builds for.
COMPILERS = sorted({"gcc" if a.name == host_arch().name else f"{a.triplet}-gcc"
                    for a in arches().values()})


def test_committed_header_is_the_rendering():
    assert abi.HEADER.read_text() == abi.render(abi.load()), \
        "run `kscribe uapi` and commit kernel_module/include/uapi/linux/kscribe.h"


def test_uapi_check_fails_on_a_stale_header(tmp_path):
    """`kscribe uapi --check` compares the committed header; `kscribe uapi` rewrites it."""
    copy_sources(tmp_path, ("templates", "kernel_module"))
    header = tmp_path / "kernel_module/include/uapi/linux/kscribe.h"
    env = {"KSCRIBE_SOURCE": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def uapi(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kscribe", "uapi", *args], env=env,
                              capture_output=True, text=True)

    assert uapi("--check").returncode == 0
    header.write_text(header.read_text().replace("#define KSCRIBE_", "#define KSCRIBE_X", 1))
    stale = uapi("--check")
    assert stale.returncode == 1 and "is not the rendering of" in stale.stdout
    assert uapi().returncode == 0 and uapi("--check").returncode == 0


def test_header_lines_fit_checkpatch():
    for n, line in enumerate(abi.HEADER.read_text().splitlines(), 1):
        assert len(line.expandtabs(8)) <= 100, f"line {n} is too long: {line!r}"
        assert line == line.rstrip(), f"line {n} has trailing whitespace"


@pytest.mark.parametrize("cc", COMPILERS)
def test_compilers_agree_with_the_layout(cc, tmp_path):
    need_tool(cc)
    src = tmp_path / "layout.c"
    src.write_text(abi.static_asserts(abi.load()))
    proc = subprocess.run([cc, "-std=gnu11", "-fsyntax-only", "-Wall", "-Werror",
                           "-I", str(paths.KERNEL_MODULE / "include"), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_ioctl_numbers(tmp_path):
    """The macros encode direction, magic, number and size as <linux/ioctl.h> does (x86)."""
    spec = abi.load()
    prog = ["#include <stdio.h>", "#include <uapi/linux/kscribe.h>", "int main(void) {"]
    for i in spec.ioctls:
        prog.append(f'printf("{i.name} %u\\n", (unsigned int)KSCRIBE_IOCTL_{i.name});')
    prog.append("return 0; }")
    src = tmp_path / "numbers.c"
    src.write_text("\n".join(prog) + "\n")
    exe = tmp_path / "numbers"
    subprocess.run(["gcc", "-I", str(paths.KERNEL_MODULE / "include"), "-o", str(exe),
                    str(src)], check=True)
    got = dict(line.split() for line in subprocess.run(
        [str(exe)], capture_output=True, text=True, check=True).stdout.splitlines())
    dirs = {"none": 0, "write": 1, "read": 2, "readwrite": 3}
    for i in spec.ioctls:
        size = i.struct.size if i.struct else 0
        want = dirs[i.dir] << 30 | size << 16 | ord(spec.magic) << 8 | i.nr
        assert int(got[i.name]) == want, i.name


BASE = """
name: t
abi_version: 1
magic: "Q"
magic_range: [0, 31]
constants: [{name: LEN, value: 8}]
structs:
  - name: s
    fields: FIELDS
ioctls:
  - {name: A, nr: 1, dir: readwrite, struct: s}
"""


@pytest.mark.parametrize("fields, error", [
    ("[{name: a, type: u32}, {name: b, type: u64}]", "offset 4"),
    ("[{name: a, type: u64}, {name: b, type: u32}]", "size 12 is not a multiple of 8"),
    ("[{name: a, type: u32}, {name: b, type: u16}]", "size 6 is not a multiple of 4"),
    ("[{name: a, type: long}]", "unknown type"),
    ("[{name: a, type: 'char[NOPE]'}]", "unknown constant"),
    ("[{name: a, type: u64}, {name: a, type: u64}]", "duplicate"),
])
def test_bad_layouts_are_refused(tmp_path, fields, error):
    spec = tmp_path / "abi.yaml"
    spec.write_text(BASE.replace("FIELDS", fields))
    with pytest.raises(KscribeError, match=re.escape(error)):
        abi.load(spec)


def test_bad_ioctls_are_refused(tmp_path):
    spec = tmp_path / "abi.yaml"
    good = BASE.replace("FIELDS", "[{name: a, type: u64}, {name: n, type: 'char[LEN]'}]")
    assert abi.load(_write(spec, good)).struct("s").size == 16
    for text, error in [
        (good.replace("nr: 1,", "nr: 40,"), "outside"),
        (good + "  - {name: B, nr: 1, dir: none}\n", "already used"),
        (good.replace("dir: readwrite", "dir: sideways"), "direction"),
        (good + "  - {name: C, nr: 2, dir: none, struct: s}\n", "no structure"),
    ]:
        with pytest.raises(KscribeError, match=error):
            abi.load(_write(spec, text))


@pytest.mark.parametrize("text, error", [
    ("name: t\nabi_version: 1\nmagic: Q\nmagic_range: [0, 31]\nflags:\n  - {name: f}\n",
     "abi.yaml: flags f: missing 'values'"),
    ("name: t\nabi_version: 1\nmagic: Q\nmagic_range: [0, 31]\n"
     "flags:\n  - {name: f, values: [{name: F_A}]}\n", "abi.yaml: flag F_A: missing 'bit'"),
    ("name: t\nabi_version: [1\n", "abi.yaml:3: YAML syntax error"),
])
def test_malformed_descriptions_name_the_item(tmp_path, text, error):
    spec = _write(tmp_path / "abi.yaml", text)
    with pytest.raises(KscribeError, match=re.escape(error)):
        abi.load(spec)


_CONTEXTS = ("name: t\nabi_version: 1\nmagic: Q\nmagic_range: [0, 31]\n"
             "constants:\n  - {name: NR_CONTEXTS, value: 2, doc: d}\n"
             "enums:\n  - group: context\n    values:\n"
             "      - {name: CTX_TID, value: 0, type: s32, doc: d}\n"
             "      - {name: CTX_COMM, value: 1, type: 'text[16]', doc: d}\n")


@pytest.mark.parametrize("text, error", [
    (_CONTEXTS.replace("type: s32, ", ""), "enum CTX_TID: needs a type"),
    (_CONTEXTS.replace("type: s32", "type: int"), "enum CTX_TID: needs a type"),
    (_CONTEXTS.replace("value: 1, type", "value: 2, type"), "0 to NR_CONTEXTS - 1"),
    (_CONTEXTS.replace("value: 2, doc", "value: 3, doc"), "0 to NR_CONTEXTS - 1"),
])
def test_contexts_are_numbered_and_typed(tmp_path, text, error):
    """The per-event contexts are bits of a mask and the kernel reports each one's type:
    abi.yaml numbers them 0 to NR_CONTEXTS - 1 and types every one."""
    assert abi.load(_write(tmp_path / "good.yaml", _CONTEXTS)).contexts() == {
        "tid": "s32", "comm": "text[16]"}
    with pytest.raises(KscribeError, match=re.escape(error)):
        abi.load(_write(tmp_path / "abi.yaml", text))


def _write(path, text):
    path.write_text(text)
    return path


# A page as the ring buffer lays it out, built event by event with the header's own
# struct kscribe_rb_event (so in the compiler's bit-field order), and decoded back.
_PAGE_DECODER = r"""
#include <stdio.h>
#include <string.h>
#include <uapi/linux/kscribe.h>

static unsigned char events[256] __attribute__((aligned(8)));
static __u32 end;

static struct kscribe_rb_event *add(__u32 type_len, __u32 delta, __u32 length)
{
	struct kscribe_rb_event *e = (void *)(events + end);

	e->type_len = type_len;
	e->time_delta = delta;
	end += length;
	return e;
}

static void data(__u32 delta, __u16 id, __u16 size, int long_form)
{
	struct kscribe_event_header h = { .id = id, .size = size };
	__u32 words = (sizeof(h) + size + 3) / 4;
	struct kscribe_rb_event *e;

	if (long_form) {
		e = add(0, delta, 8 + words * 4);
		e->array[0] = 4 + words * 4;
		memcpy(&e->array[1], &h, sizeof(h));
	} else {
		e = add(words, delta, 4 + words * 4);
		memcpy(&e->array[0], &h, sizeof(h));
	}
}

int main(void)
{
	struct kscribe_event_header claim = { .id = 10, .size = 100 };
	const struct kscribe_event_header *h;
	__u64 time = 1000;
	__u32 at, length;

	data(5, 7, 4, 0);			/* 1005 */
	add(KSCRIBE_EVENT_TIME_EXTEND, 3, 8)->array[0] = 2;	/* + (2 << 27) + 3 */
	data(1, 8, 100, 1);			/* a long one */
	add(KSCRIBE_EVENT_PADDING, 1, 12)->array[0] = 8;	/* a discarded event */
	data(2, 9, 0, 0);
	add(KSCRIBE_EVENT_TIME_STAMP, 50, 8)->array[0] = 1;	/* (1 << 27) + 50 */
	/* a header that claims more than its event's 8 bytes: skipped */
	memcpy(&add(2, 0, 12)->array[0], &claim, sizeof(claim));
	data(4, 11, 2, 0);
	add(KSCRIBE_EVENT_PADDING, 0, 0);	/* the end of the events */
	at = 0;
	while ((length = kscribe_page_event(events, sizeof(events), at, &time, &h))) {
		printf("%u %llu %d %d\n", at, time, h ? h->id : -1, h ? h->size : -1);
		at += length;
	}
	return 0;
}
"""


def test_page_events_decode_as_the_ring_buffer_wrote_them(tmp_path):
    """kscribe_page_event() walks data in both length forms, time extends, absolute times
    and discarded events, and stops at the padding that ends a page's events."""
    src, exe = tmp_path / "page.c", tmp_path / "page"
    src.write_text(_PAGE_DECODER)
    subprocess.run(["gcc", "-Wall", "-Werror", "-I", str(paths.KERNEL_MODULE / "include"),
                    "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    extended = 1005 + (2 << 27) + 3
    assert [line.split() for line in out.splitlines()] == [
        [str(at), str(time), str(id_), str(size)] for at, time, id_, size in (
            (0, 1005, 7, 4),
            (12, extended, -1, -1),
            (20, extended + 1, 8, 100),
            (132, extended + 1, -1, -1),
            (144, extended + 3, 9, 0),
            (152, (1 << 27) + 50, -1, -1),
            (160, (1 << 27) + 50, -1, -1),
            (172, (1 << 27) + 54, 11, 2),
        )]
