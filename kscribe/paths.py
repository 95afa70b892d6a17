"""Where the project's own inputs are: templates, instrumentation specs, hand-written C."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("KSCRIBE_SOURCE", Path(__file__).resolve().parent.parent))
TEMPLATES = ROOT / "templates"
INSTRUMENTATION = ROOT / "instrumentation"
KERNEL_MODULE = ROOT / "kernel_module"


def inputs() -> list[Path]:
    """Every file a build's output depends on (for up-to-date checks)."""
    files = []
    for base in (TEMPLATES, INSTRUMENTATION, KERNEL_MODULE, ROOT / "kscribe", ROOT / "tests/guest"):
        files += [p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(files)
