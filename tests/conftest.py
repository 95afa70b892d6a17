"""Shared fixtures: real settings, and gates for tests that need the archive, root or QEMU.

Such tests skip, with the reason, only where the resource is truly absent on a developer's
machine; under CI (``CI=true``) a missing resource is a failure, never a skip.
"""

from __future__ import annotations

import functools
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kscribe.config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)


@functools.cache
def _archive_error() -> str | None:
    try:
        mirror = Settings.from_env().mirror("debian")
        urllib.request.urlopen(f"{mirror}/dists/bookworm/InRelease", timeout=15).close()
        return None
    except Exception as e:  # noqa: BLE001 - any failure means no archive here
        return f"Debian's archive is unreachable ({e})"


# The test suite's own git identity, as tests make their own keys: a fresh machine has none
# configured, and kscribe itself never makes one up (tests/test_upstream.py checks that it
# refuses to sign without one).
TEST_IDENTITY = {"user.name": "kscribe test suite", "user.email": "tests@kscribe.invalid"}


@pytest.fixture(scope="session", autouse=True)
def git_identity() -> Iterator[None]:
    """Every git command of the session, and of the commands it runs, sees TEST_IDENTITY
    (git's ``GIT_CONFIG_COUNT`` variables, above any configuration file)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GIT_CONFIG_COUNT", str(len(TEST_IDENTITY)))
    for i, (key, value) in enumerate(TEST_IDENTITY.items()):
        mp.setenv(f"GIT_CONFIG_KEY_{i}", key)
        mp.setenv(f"GIT_CONFIG_VALUE_{i}", value)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def network() -> None:
    """Skip (or fail, in CI) when Debian's archive cannot be reached."""
    err = _archive_error()
    if err:
        _unavailable(err)


@pytest.fixture(scope="session")
def root() -> None:
    """Skip (or fail, in CI) when not root: chroots need it."""
    if os.geteuid() != 0:
        _unavailable("this test needs root (debootstrap, mount namespaces)")


def path_without(tmp_path: Path, *programs: str) -> str:
    """A PATH that has every program of the real PATH except ``programs``."""
    bindir = tmp_path / f"bin-without-{'-'.join(programs)}"
    bindir.mkdir()
    for d in os.environ["PATH"].split(":"):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            link = bindir / name
            if name not in programs and not link.exists():
                link.symlink_to(os.path.join(d, name))
    return str(bindir)


# the project's own inputs, what KSCRIBE_SOURCE points a copy of
SOURCES = ("templates", "instrumentation", "kernel_module", "tests/guest", "patches")


def copy_sources(dest: Path, parts: tuple[str, ...] = SOURCES) -> Path:
    """A copy of the project's ``parts`` under ``dest``, for a test to edit."""
    for part in parts:
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def linked_cache(settings: Settings, dest: Path, shared: tuple[str, ...]) -> Path:
    """A cache folder whose ``shared`` parts (downloads) link to the real cache; the rest
    (extracted kernels) is made anew there."""
    dest.mkdir(parents=True)
    for name in shared:
        (settings.cache_dir / name).mkdir(parents=True, exist_ok=True)
        (dest / name).symlink_to(settings.cache_dir / name)
    return dest


def need_tool(name: str) -> None:
    if shutil.which(name) is None:
        _unavailable(f"{name} is not installed (.ci/run installs it)")


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    """Real settings: the shared download cache, a private output folder and lock file."""
    s = Settings.from_env(cwd=ROOT)
    work = tmp_path_factory.mktemp("kscribe")
    s.out_dir = work / "out"
    s.lock_path = work / "kscribe.lock"
    return s


@pytest.fixture(scope="session")
def env(settings) -> dict[str, str]:
    """The environment for running the ``kscribe`` command with those settings."""
    return {**os.environ, "KSCRIBE_OUT": str(settings.out_dir),
            "KSCRIBE_LOCK": str(settings.lock_path), "KSCRIBE_CACHE": str(settings.cache_dir)}


@pytest.fixture(scope="session")
def bulk(settings, tmp_path_factory):
    """The bulk series of the plan, made and gated once (the upstream and history tests)."""
    from kscribe.pipeline import upstream_series

    out = tmp_path_factory.mktemp("bulk") / "patches"
    return upstream_series("bulk", settings, out), out


@pytest.fixture(scope="session")
def proof(bulk, settings):
    from kscribe.pipeline import upstream_proof

    need_tool("qemu-system-x86_64")
    need_tool("babeltrace2")
    return upstream_proof("bulk", settings, bulk[1])


# Two workers (pyproject: ``-n 2 --dist loadscope``) take whole groups: a test file, or files
# that share a session fixture (the bulk series and its proof). The slowest groups are handed
# out first, so that the two workers finish together.
SHARED = {"test_upstream": "upstream", "test_history": "upstream"}
SLOWEST_FIRST = ("upstream", "test_peers", "test_robustness", "test_package", "test_pipeline",
                 "test_trace", "test_reroll", "test_matrix", "test_syscalls", "test_strip_trees",
                 "test_doit", "test_checkpatch", "test_reproducible")


def _group(path: str) -> str:
    module = Path(path.split("::", 1)[0]).stem
    return SHARED.get(module, module)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slowest groups first (the order the workers are given them in)."""
    rank = {g: i for i, g in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(_group(item.nodeid), len(rank)))  # stable


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scope scheduling, with a scope per group rather than per file."""
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return ByGroup(config, log)
