"""Up-to-date checks of the doit tasks that files cannot express.

doit compares file dependencies by content; these add what is not a file of the project:
the pin of the lock file, the completeness of the cache and of a build folder, and the
toolchain a build runs with. Each is computed only when doit checks the task, so listing
tasks stays cheap and a damaged lock file makes the task run (and its command report the
damage in one line) instead of breaking doit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kscribe.build import metadata
from kscribe.build.kbuild import REPRODUCIBLE_ENV
from kscribe.config.settings import Settings
from kscribe.config.target import parse_target
from kscribe.debian import lock
from kscribe.debian.provision import headers_tree, is_provisioned
from kscribe.errors import KscribeError
from kscribe.kernel.tree import read_tree
from kscribe.pipeline import Layout
from kscribe.toolchain.select import select
from kscribe.util import atomic


def pinned_and_provisioned(settings: Settings, name: str) -> bool:
    """The lock pins ``name``, its pin file beside the outputs says the same, and the cache
    folder of that pin is complete."""
    try:
        resolved = lock.pinned(settings.lock_path, name)
    except KscribeError:
        return False
    if resolved is None:
        return False
    pin = Layout.of(settings, parse_target(name)).pin
    if not pin.is_file() or pin.read_text() != atomic.json_text(resolved.to_lock()):
        return False
    return is_provisioned(settings, resolved)


def built(settings: Settings, name: str) -> bool:
    """The target's last build succeeded and its artifacts are all there."""
    return metadata.intact(Layout.of(settings, parse_target(name)).folder)


def build_environment(settings: Settings, name: str) -> dict[str, Any]:
    """What a build depends on besides files: the toolchain and the build environment."""
    env: dict[str, Any] = {"env": REPRODUCIBLE_ENV}
    try:
        resolved = lock.pinned(settings.lock_path, name)
        if resolved is None:
            return env
        target = parse_target(name)
        tree = read_tree(headers_tree(settings, resolved))
        tc = select(settings, tree, target.arch, target.suite.codename,
                    resolved.debs["kbuild"])
        env["toolchain"] = tc.identity()
        if tc.chroot is None:
            env["toolchain"]["version"] = tc.version(tree.path)
    except KscribeError as e:
        env["unknown"] = str(e)  # not comparable: the build runs and reports it
    return env


class Unchanged:
    """A doit ``uptodate`` item: True when ``compute()`` gives what it gave at the last
    successful run; computed once, when doit asks."""

    def __init__(self, key: str, compute: Callable[[], dict[str, Any]]) -> None:
        self.key = key
        self.compute = compute
        self._value: str | None = None
        self._comparable = True

    def _current(self) -> str:
        if self._value is None:
            data = self.compute()
            self._comparable = "unknown" not in data
            self._value = atomic.json_text(data)
        return self._value

    def configure_task(self, task: Any) -> None:
        task.value_savers.append(lambda: {self.key: self._current()})

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        last = values.get(self.key)
        return last is not None and last == self._current() and self._comparable
