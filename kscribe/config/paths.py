"""Where the project's own inputs are: templates, instrumentation specs, hand-written C.

In a checkout (or an editable install) they are the repository's top-level folders. A wheel
carries them as package data under ``kscribe/_source/`` (pyproject.toml maps them there),
so that an installed kscribe can still generate and build. ``KSCRIBE_SOURCE`` points at
another copy (a test that breaks a template on purpose).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
_INSTALLED = PACKAGE / "_source"
ROOT = Path(os.environ.get("KSCRIBE_SOURCE") or
            (_INSTALLED if _INSTALLED.is_dir() else PACKAGE.parent))
TEMPLATES = ROOT / "templates"
INSTRUMENTATION = ROOT / "instrumentation"
KERNEL_MODULE = ROOT / "kernel_module"
GUEST_SOURCES = ROOT / "tests/guest"
