"""What each doit task's output depends on, as files: the up-to-date checks' inputs.

A build depends on what feeds it: the module templates, the instrumentation specs, the
tracer's C sources, the guest programs, the target architecture's data and the code that
generates and builds; not on documentation (README.md, DESIGN.md) nor on the command line
or the guest's code. A boot depends on the build, the guest scripts and the guest code.
Patterns are relative to the source root (templates...) or to the package (code, data).
"""

from __future__ import annotations

import functools
from pathlib import Path

from kscribe.config import paths
from kscribe.config.target import Target

BUILD_SOURCES = ("templates/module/*.j2", "instrumentation/**/*.yaml",
                 "kernel_module/**/*.[ch]", "tests/guest/*.c")
BUILD_CODE = ("codegen/*.py", "instrument/**/*.py", "kernel/*.py", "build/*.py",
              "toolchain/*.py", "util/ctext.py", "util/yamlspec.py", "data/syscalls.toml")
GUEST_CODE = ("guest/*.py",)


def _glob(base: Path, patterns: tuple[str, ...]) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in base.glob(pattern) if p.is_file())
    return sorted(found)


def arch_file(target: Target) -> Path:
    """The data file of the target's architecture."""
    return paths.PACKAGE / "data/arches" / f"{target.arch.name}.toml"


@functools.cache
def _shared(base: Path, patterns: tuple[str, ...]) -> tuple[Path, ...]:
    """The files of ``patterns`` under ``base``, globbed once for every target."""
    return tuple(_glob(base, patterns))


def build_inputs(target: Target) -> list[Path]:
    """The files a target's build output depends on."""
    return [*_shared(paths.ROOT, BUILD_SOURCES), *_shared(paths.PACKAGE, BUILD_CODE),
            arch_file(target)]


def guest_inputs(target: Target, script: str) -> list[Path]:
    """The files a guest run with ``templates/guest/<script>`` depends on (besides the
    build): the script, the guest code and the architecture's QEMU data."""
    return [paths.TEMPLATES / "guest" / script, *_shared(paths.PACKAGE, GUEST_CODE),
            arch_file(target)]
