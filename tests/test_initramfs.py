"""The Python cpio writer produces archives the real cpio tool reads, byte-reproducibly."""

import gzip
import subprocess

from kscribe.guest import initramfs as ir

from .conftest import need_tool


def test_cpio_lists_and_extracts(tmp_path):
    need_tool("cpio")
    entries = [ir.folder("bin"), ir.folder("dev"), ir.chardev("dev/console", 5, 1),
               ir.file("bin/hello", b"#!/bin/sh\necho hi\n", 0o755),
               ir.symlink("bin/sh", "hello"), ir.file("odd", b"x" * 5)]
    dest = tmp_path / "i.cpio.gz"
    ir.write(dest, entries)
    raw = gzip.decompress(dest.read_bytes())
    listing = subprocess.run(["cpio", "-itv"], input=raw, capture_output=True, check=True)
    text = listing.stdout.decode()
    assert "crw-------" in text and "dev/console" in text
    assert "lrwxrwxrwx" in text and "bin/sh -> hello" in text
    files = subprocess.run(["cpio", "-i", "--to-stdout", "odd", "bin/hello"], input=raw,
                           capture_output=True, check=True).stdout
    assert files == b"#!/bin/sh\necho hi\n" + b"x" * 5  # archive order


def test_same_inputs_same_bytes(tmp_path):
    entries = [ir.folder("a"), ir.file("a/b", b"data")]
    ir.write(tmp_path / "1", entries)
    ir.write(tmp_path / "2", entries)
    assert (tmp_path / "1").read_bytes() == (tmp_path / "2").read_bytes()
