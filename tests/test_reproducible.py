"""Builds are reproducible wherever the checkout and the cache live: two checkouts at
different paths, with caches at different paths, build bit-identical modules and guest
programs (bookworm/amd64 with the host's gcc, trixie/amd64 in a toolchain chroot)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import copy_sources, linked_cache

pytestmark = pytest.mark.usefixtures("network")
SHARED = ("debs", "indexes", "syscall-source", "checkpatch", "chroots")


def _checkout(base: Path, settings) -> dict[str, str]:
    """A copy of the sources under ``base`` and a cache of its own there: the downloads
    are shared (links), the extracted kernel trees are not."""
    src = copy_sources(base / "kscribe-checkout")
    cache = linked_cache(settings, base / "cache", SHARED)
    return {"KSCRIBE_SOURCE": str(src), "KSCRIBE_CACHE": str(cache),
            "KSCRIBE_OUT": str(base / "out")}


@pytest.mark.parametrize("target", ["bookworm/amd64", "trixie/amd64"])
def test_two_checkouts_build_the_same_bytes(request, settings, env, tmp_path, target):
    if target.startswith("trixie"):
        request.getfixturevalue("root")
    artifacts = []
    for base in (tmp_path / "a", tmp_path / "elsewhere/b/deeper"):
        base.mkdir(parents=True)
        run_env = {**env, **_checkout(base, settings)}
        p = subprocess.run([sys.executable, "-m", "kscribe", "build", target], env=run_env,
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        meta = json.loads((base / "out" / target.replace("/", "_") / "metadata.json")
                          .read_text())
        assert str(base) in meta["kdir"]  # the tree really lives elsewhere
        for ko in (base / "out").rglob("*.ko"):
            assert str(base).encode() not in ko.read_bytes(), ko
        artifacts.append({k: v["sha256"] for k, v in meta["artifacts"].items()})
    assert len(artifacts[0]) >= 14 and any(k.endswith(".ko") for k in artifacts[0])
    differ = sorted(k for k in artifacts[0] if artifacts[0][k] != artifacts[1].get(k))
    assert not differ, f"{target}: {len(differ)} of {len(artifacts[0])} differ: {differ}"
