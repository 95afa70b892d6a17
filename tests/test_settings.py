"""Mirrors come from apt's configuration or the environment, never from the repository."""

import re
from pathlib import Path

from kscribe.config.settings import Settings, mirrors_from_apt


def test_deb822_and_one_line_sources(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://mirror.example/debian-security "
        "bookworm-security main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: https://vendor.example/apt\nSuites: stable-x\n"
        "Components: main\n")
    (tmp_path / "sources.list.d" / "off.list.disabled").write_text(
        "deb http://other.example/debian sid main\n")
    assert mirrors_from_apt(tmp_path) == {"security": "http://mirror.example/debian-security",
                                          "debian": "http://mirror.example/debian"}


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("KSCRIBE_MIRROR", "http://m.example/debian/")
    monkeypatch.setenv("KSCRIBE_SECURITY_MIRROR", "http://m.example/sec")
    monkeypatch.setenv("KSCRIBE_CACHE", str(tmp_path / "c"))
    s = Settings.from_env(cwd=tmp_path)
    assert s.mirror("debian") == "http://m.example/debian"
    assert s.mirror("security") == "http://m.example/sec"
    assert s.cache_dir == tmp_path / "c"
    assert s.lock_path == tmp_path / "kscribe.lock"


# a host that serves Debian's archive (deb., ftp.xx., security., snapshot.debian.org); the
# DEP-5 copyright format's own address (www.debian.org) names a specification, not a mirror
ARCHIVE_HOST = re.compile(r"(?<![\w.-])(?!www\.)[\w.-]*debian\.org")


def test_no_host_name_in_the_package():
    root = Path(__file__).resolve().parent.parent
    assert ARCHIVE_HOST.search("http://deb.debian.org/debian")
    for path in [*root.glob("kscribe/**/*.py"), *root.glob("kscribe/data/**/*.toml"),
                 root / "dodo.py"]:
        assert not ARCHIVE_HOST.search(path.read_text()), path
