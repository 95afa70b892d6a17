"""A client of Debian's archive indexes: signed InRelease, then Packages, then .deb files.

Trust flows from the keyring: ``InRelease`` is checked with ``gpgv`` against Debian's archive
keyring and only its signed text is read; it gives the SHA256 of each ``Packages.xz``, and
each Packages entry the SHA256 of a ``.deb``. Indexes are cached by their hash so that a run
without network reuses what the last run verified.
"""

from __future__ import annotations

import hashlib
import lzma
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debian.deb822 import Packages, Release
from debian.debian_support import Version

from kscribe.config.settings import Settings
from kscribe.config.suites import ArchiveRef
from kscribe.debian.download import fetch
from kscribe.errors import KscribeError
from kscribe.util import atomic, proc
from kscribe.util.digest import is_intact

# Only these packages are kept from a Packages index (a whole one is 50-65 MB of text).
KEPT_PREFIXES = ("linux-headers-", "linux-image-", "linux-binary-", "linux-modules-",
                 "linux-kbuild-", "linux-source-", "busybox-static", "linux-libc-dev",
                 # the Secure Boot chain (kscribe/data/secureboot.toml)
                 "ovmf", "shim-signed", "shim-helpers-", "grub-efi-")
# and the out-of-tree module trees that dkms builds (kscribe strip's inputs)
KEPT_SUFFIXES = ("-dkms",)
_KEPT = re.compile(r"^Package: (?:(?:" + "|".join(map(re.escape, KEPT_PREFIXES)) +
                   r")\S*|\S*(?:" + "|".join(map(re.escape, KEPT_SUFFIXES)) + "))$", re.M)


@dataclass(frozen=True)
class Deb:
    """One binary package of the archive, with what is needed to fetch and verify it."""

    name: str
    version: str
    arch: str
    filename: str
    sha256: str
    size: int
    depends: tuple[str, ...]
    base_url: str

    @property
    def url(self) -> str:
        """Where the package is downloaded from."""
        return f"{self.base_url}/{self.filename}"

    def to_lock(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "arch": self.arch,
                "filename": self.filename, "sha256": self.sha256, "size": self.size,
                "depends": list(self.depends), "base_url": self.base_url}

    @classmethod
    def from_lock(cls, d: dict[str, Any]) -> Deb:
        return cls(**{**d, "depends": tuple(d["depends"])})


def _depends(para: Packages) -> tuple[str, ...]:
    """Package names of the Depends field, first alternative of each."""
    out = []
    for alts in para.relations.get("depends", []):
        if alts:
            out.append(alts[0]["name"])
    return tuple(out)


class Index:
    """The kept packages of one (mirror, suite, arch) Packages index."""

    def __init__(self, debs: list[Deb]) -> None:
        self.by_name: dict[str, list[Deb]] = {}
        for d in debs:
            self.by_name.setdefault(d.name, []).append(d)

    def get(self, name: str, version: str | None = None) -> Deb | None:
        """The newest ``name`` (or exactly ``version`` of it), or None."""
        cands = [d for d in self.by_name.get(name, []) if version in (None, d.version)]
        return max(cands, key=lambda d: Version(d.version), default=None)


class Archive:
    """One dists/ suite on one mirror, verified against a keyring, cached under ``cache``."""

    def __init__(self, base_url: str, suite: str, keyring: Path, cache: Path) -> None:
        self.base_url = base_url
        self.suite = suite
        self.keyring = keyring
        key = base_url.split("://", 1)[-1].replace("/", "_")
        self.cache = cache / "indexes" / key / suite
        self._release: Release | None = None
        self._indexes: dict[str, Index | KscribeError] = {}

    def _signed_release(self, offline: bool) -> Release:
        if self._release is None:
            self._release = self._fetch_release(offline)
        return self._release

    def _fetch_release(self, offline: bool) -> Release:
        path = self.cache / "InRelease"
        if not offline:
            fetch(f"{self.base_url}/dists/{self.suite}/InRelease", path,
                  label=f"{self.suite}/InRelease")
        if not path.is_file():
            raise KscribeError(f"no cached index of {self.suite} and no network: run online once")
        return Release(self._verify(path))

    def _verify(self, path: Path) -> str:
        """The signed text of an InRelease file, after gpgv found a good signature."""
        if not self.keyring.is_file():
            raise KscribeError(f"keyring {self.keyring} missing: apt-get install "
                               "debian-archive-keyring, or set KSCRIBE_KEYRING")
        gpgv = proc.run(["gpgv", "--keyring", self.keyring, "--status-fd", "2", "--output", "-",
                         path], check=False, text=False)
        status = gpgv.stderr.decode(errors="replace")
        if gpgv.returncode != 0 or "[GNUPG:] VALIDSIG" not in status:
            path.unlink(missing_ok=True)
            lines = [ln for ln in status.splitlines() if ln.startswith("[GNUPG:]")]
            raise KscribeError(f"{self.suite}/InRelease from {self.base_url} fails signature "
                               f"check against {self.keyring}: {' '.join(lines[-2:])}")
        return gpgv.stdout.decode()

    def index(self, arch: str, offline: bool = False) -> Index:
        """The kept packages of ``main/binary-<arch>``, verified through the signed Release."""
        if arch not in self._indexes:
            try:
                self._indexes[arch] = self._load_index(arch, offline)
            except KscribeError as e:
                self._indexes[arch] = e  # do not ask a broken mirror twice in one run
        found = self._indexes[arch]
        if isinstance(found, KscribeError):
            raise found
        return found

    def _fetch_index(self, release: Release, want: str, dest: Path, sha: str, size: int) -> None:
        """Fetch an index file, by its hash where the archive offers that.

        ``by-hash`` names never change content, so a mirror in the middle of a sync cannot
        hand out a file that disagrees with the Release just read; the plain name is the
        fallback.
        """
        folder = want.rsplit("/", 1)[0]
        urls = [f"{self.base_url}/dists/{self.suite}/{want}"]
        if release.get("Acquire-By-Hash", "no") == "yes":
            urls.insert(0, f"{self.base_url}/dists/{self.suite}/{folder}/by-hash/SHA256/{sha}")
        for i, url in enumerate(urls):
            try:
                fetch(url, dest, sha256=sha, size=size, label=f"{self.suite}/{want}")
                return
            except KscribeError:
                if i == len(urls) - 1:
                    raise

    def _load_index(self, arch: str, offline: bool) -> Index:
        release = self._signed_release(offline)
        want = f"main/binary-{arch}/Packages.xz"
        entry = next((e for e in release.get("SHA256", []) if e["name"] == want), None)
        if entry is None:
            raise KscribeError(f"{self.suite} on {self.base_url} has no {want}")
        sha, size = entry["sha256"], int(entry["size"])
        # named by the index's hash and by what is kept of it
        what = hashlib.sha256(_KEPT.pattern.encode()).hexdigest()[:8]
        kept = self.cache / f"kept-{arch}-{sha[:16]}-{what}.txt"
        if not kept.is_file():
            xz = self.cache / f"Packages-{arch}.xz"
            if not is_intact(xz, sha, size):
                self._fetch_index(release, want, xz, sha, size)
            text = lzma.decompress(xz.read_bytes()).decode("utf-8", errors="replace")
            paras = [p for p in text.split("\n\n") if _KEPT.match(p)]
            atomic.write_text(kept, "\n\n".join(paras) + "\n")
            xz.unlink()
            for old in self.cache.glob(f"kept-{arch}-*.txt"):
                if old != kept:
                    old.unlink()
        debs = []
        for p in Packages.iter_paragraphs(kept.read_text(), use_apt_pkg=False):
            debs.append(Deb(name=p["Package"], version=p["Version"], arch=p["Architecture"],
                            filename=p["Filename"], sha256=p["SHA256"], size=int(p["Size"]),
                            depends=_depends(p), base_url=self.base_url))
        return Index(debs)


_ARCHIVES: dict[tuple[str, str, str], Archive] = {}


def archive(settings: Settings, ref: ArchiveRef) -> Archive:
    """The Archive of ``ref`` on the configured mirror, one per process so that each index
    is read and verified once."""
    key = (settings.mirror(ref.archive), ref.suite, str(settings.cache_dir))
    if key not in _ARCHIVES:
        _ARCHIVES[key] = Archive(key[0], ref.suite, settings.keyring, settings.cache_dir)
    return _ARCHIVES[key]


def mirror_name(settings: Settings, deb: Deb) -> str:
    """Which configured mirror ("debian" or "security") a pinned package came from."""
    return next((k for k, v in settings.mirrors.items() if v == deb.base_url), "debian")
