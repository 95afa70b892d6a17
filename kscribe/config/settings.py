"""Where kscribe keeps things and which Debian mirror it talks to.

The mirror is never written in the repository: it comes from ``KSCRIBE_MIRROR`` /
``KSCRIBE_SECURITY_MIRROR`` or from the machine's own apt sources.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from debian.deb822 import Deb822

from kscribe.config.suites import suites
from kscribe.errors import KscribeError

APT_SOURCES = Path("/etc/apt")
DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_ONE_LINE = re.compile(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)")


def _apt_entries(root: Path) -> list[tuple[str, list[str]]]:
    """(URI, suites) of every enabled binary source in apt's configuration under ``root``."""
    entries: list[tuple[str, list[str]]] = []
    files = [root / "sources.list"] + sorted((root / "sources.list.d").glob("*.list"))
    for path in files:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                m = _ONE_LINE.match(line.strip())
                if m:
                    entries.append((m.group(1), [m.group(2)]))
    for path in sorted((root / "sources.list.d").glob("*.sources")):
        for para in Deb822.iter_paragraphs(path.read_text(errors="replace")):
            if "deb" not in para.get("Types", "").split():
                continue
            if para.get("Enabled", "yes").lower() == "no":
                continue
            for uri in para.get("URIs", "").split():
                entries.append((uri, para.get("Suites", "").split()))
    return entries


def mirrors_from_apt(root: Path = APT_SOURCES) -> dict[str, str]:
    """The Debian archive and security mirrors that this machine's apt uses.

    A source whose suites all end in ``-security`` is the security mirror; the first source
    carrying a plain Debian suite (``bookworm``, ``bookworm-updates``, ``sid``...) is the
    archive mirror. Sources of other vendors (no Debian suite name) are ignored.
    """


    known = {s.codename for s in suites().values()} | {"stable", "testing", "unstable", "sid"}
    found: dict[str, str] = {}
    for uri, dists in _apt_entries(root):
        bases = {d.split("-")[0].split("/")[0] for d in dists}
        if not bases & known:
            continue
        kind = "security" if all(d.endswith("-security") for d in dists) else "debian"
        found.setdefault(kind, uri.rstrip("/"))
    return found


@dataclass
class Settings:
    """Paths and mirrors for one run; every field can be overridden by the environment."""

    cache_dir: Path
    out_dir: Path
    lock_path: Path
    keyring: Path
    mirrors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, cwd: Path | None = None, read_apt: bool = True) -> Settings:
        """Settings from ``KSCRIBE_*`` variables, falling back to apt's sources and defaults.

        ``read_apt=False`` leaves the mirrors to the environment (for callers that never
        talk to the archive, such as the doit task list).
        """
        cwd = cwd or Path.cwd()
        env = os.environ
        cache = Path(env.get("KSCRIBE_CACHE", Path.home() / ".cache" / "kscribe"))
        mirrors = {}
        if read_apt and ("KSCRIBE_MIRROR" not in env or "KSCRIBE_SECURITY_MIRROR" not in env):
            mirrors = mirrors_from_apt()
        if env.get("KSCRIBE_MIRROR"):
            mirrors["debian"] = env["KSCRIBE_MIRROR"].rstrip("/")
        if env.get("KSCRIBE_SECURITY_MIRROR"):
            mirrors["security"] = env["KSCRIBE_SECURITY_MIRROR"].rstrip("/")
        return cls(
            cache_dir=cache,
            out_dir=Path(env.get("KSCRIBE_OUT", cwd / "out")),
            lock_path=Path(env.get("KSCRIBE_LOCK", cwd / "kscribe.lock")),
            keyring=Path(env.get("KSCRIBE_KEYRING", DEFAULT_KEYRING)),
            mirrors=mirrors,
        )

    def mirror(self, archive: str) -> str:
        """The base URL of ``archive`` ("debian" or "security"), or an error saying how to
        set it."""
        try:
            return self.mirrors[archive]
        except KeyError:
            var = "KSCRIBE_MIRROR" if archive == "debian" else "KSCRIBE_SECURITY_MIRROR"
            raise KscribeError(
                f"no {archive} mirror in /etc/apt/sources.list*: set {var} to its URL"
            ) from None
