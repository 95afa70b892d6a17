"""Downloads from Debian's archive: verified, atomic, retried, with progress.

A file is fetched under a temporary name, hashed while it streams, checked against the
SHA256 and size that the signed index promised, and only then renamed into the cache.
"""

from __future__ import annotations

import hashlib
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from kscribe.errors import KscribeError
from kscribe.util import log
from kscribe.util.atomic import atomic_path

RETRIES = 2
CHUNK = 1 << 16


class _Stream:
    """Copies a response into a file, hashing and reporting progress as it goes."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self.tty = sys.stderr.isatty()

    def copy(self, resp: IO[bytes], out: IO[bytes]) -> tuple[str, int]:
        h = hashlib.sha256()
        done = 0
        started = time.monotonic()
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            transient=True,
            disable=not self.tty,
        )
        with progress:
            task = progress.add_task(self.label, total=self.total)
            while block := resp.read(CHUNK):
                out.write(block)
                h.update(block)
                done += len(block)
                progress.update(task, completed=done)
        took = time.monotonic() - started
        log.progress(f"fetched {self.label} ({done / 1e6:.1f} MB, {took:.1f} s)")
        return h.hexdigest(), done


def fetch(url: str, dest: Path, *, sha256: str | None = None, size: int | None = None,
          label: str | None = None, retry_delay: float = 1.0) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``sha256`` and ``size`` if given.

    Network errors and checksum mismatches (a mirror in the middle of a sync) are retried;
    after the last try a :class:`KscribeError` names the URL and the cause. ``dest`` is
    never left half-written. The n-th retry waits ``n * retry_delay`` seconds.
    """
    label = label or url.rsplit("/", 1)[-1]
    last = ""
    for attempt in range(1, RETRIES + 1):
        try:
            with atomic_path(dest) as tmp:
                with urllib.request.urlopen(url, timeout=60) as resp, tmp.open("wb") as out:
                    total = int(resp.headers.get("Content-Length") or 0) or size
                    digest, got = _Stream(label, total).copy(resp, out)
                if size is not None and got != size:
                    raise _Mismatch(f"size {got}, expected {size}")
                if sha256 is not None and digest != sha256:
                    raise _Mismatch(f"sha256 {digest}, expected {sha256}")
            return dest
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
            if e.code == 404:
                break
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            last = str(getattr(e, "reason", e))
        except _Mismatch as e:
            last = f"corrupted download: {e} (mirror sync in progress?)"
        if attempt < RETRIES:
            log.progress(f"retrying {label}: {last}")
            time.sleep(attempt * retry_delay)
    raise KscribeError(f"cannot download {url}: {last}")


class _Mismatch(Exception):
    pass
