"""The CI matrix: ``ci/matrix.toml``, the cells built and the cells also booted."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from kscribe.config import paths
from kscribe.config.target import parse_target
from kscribe.errors import KscribeError

FILE = paths.ROOT / "ci/matrix.toml"


def default_file() -> Path:
    """The matrix doit runs and ``kscribe ci`` reads: ``KSCRIBE_MATRIX`` or ci/matrix.toml."""
    return Path(os.environ.get("KSCRIBE_MATRIX") or FILE)


@dataclass(frozen=True)
class Matrix:
    """Target names to build, and the subset to boot."""

    build: tuple[str, ...]
    boot: tuple[str, ...]


def load(path: Path | None = None) -> Matrix:
    """Read and check the matrix (``path``, else :func:`default_file`): every cell a known
    target, every boot cell also built."""
    path = path or default_file()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise KscribeError(f"{path}: {e}") from None
    cells = {}
    for key in ("build", "boot"):
        names = data.get(key)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise KscribeError(f"{path}: [{key}] must be a list of targets")
        try:
            cells[key] = tuple(parse_target(n).name for n in names)
        except KscribeError as e:
            raise KscribeError(f"{path}: {key}: {e}") from None
    missing = sorted(set(cells["boot"]) - set(cells["build"]))
    if missing:
        raise KscribeError(f"{path}: boot cells not built: {', '.join(missing)}")
    return Matrix(build=cells["build"], boot=cells["boot"])
