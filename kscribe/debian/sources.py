"""apt's sources of a suite, on the configured mirrors: what a Debian root made for a target
(a user's machine, the peers' guest) installs from."""

from __future__ import annotations

from kscribe.config.settings import Settings
from kscribe.config.suites import Suite


def sources_list(settings: Settings, suite: Suite) -> str:
    """apt's sources of ``suite``: each of its archives, on the configured mirrors."""
    lines = []
    for ref in suite.archives:
        lines.append(f"deb {settings.mirror(ref.archive)} {ref.suite} main")
        if ref.archive == "debian" and ref.suite not in ("sid", "unstable") and \
                not ref.suite.endswith(("-backports", "-security")):
            lines.append(f"deb {settings.mirror('debian')} {ref.suite}-updates main")
    return "\n".join(dict.fromkeys(lines)) + "\n"
