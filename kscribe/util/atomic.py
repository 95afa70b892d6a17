"""Atomic writes: a reader sees the old state or the whole new one, never a half-written file.

Every file and folder that kscribe leaves in a cache or output folder goes through here: the
content is made under a temporary name in the same folder and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(dest: Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``dest``; on success rename it over ``dest``.

    On an exception the temporary file or folder is removed and ``dest`` is left as it was.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory and dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
            tmp.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_bytes(dest: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
        tmp.chmod(mode)


def write_text(dest: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``dest`` atomically."""
    write_bytes(dest, text.encode(), mode)


def json_text(obj: object) -> str:
    """``obj`` as kscribe writes JSON: indented, keys sorted, a final newline."""
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def write_json(dest: Path, obj: object) -> None:
    """Write ``obj`` as indented, key-sorted JSON to ``dest`` atomically."""
    write_text(dest, json_text(obj))
