"""The dkms build on a user's machine beside the pipeline's own build of the same cell.

For each target (default bookworm/amd64): the pipeline's build from a clean build folder
(generation with the target's linux-source, then kbuild with W=1), and on a fresh machine
of the target's suite with only the kernel's headers, kscribe-dkms installed without
building (``/etc/dkms/no-autoinstall``), then ``dkms build`` timed alone (generation from
the headers, then kbuild) and ``dkms install``. One run each, wall time, and the ratio.

Run: .venv/bin/python bench/package.py [TARGET ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kscribe import __version__
from kscribe.config.settings import Settings
from kscribe.package import dkms
from kscribe.package.machine import Machine
from kscribe.packaging import dkms_package
from kscribe.pipeline import build_target, prepare


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="*", default=["bookworm/amd64"])
    args = ap.parse_args()
    settings = Settings.from_env()
    with tempfile.TemporaryDirectory() as tmp:
        package = dkms_package(settings, Path(tmp) / "debs")
        print(f"{'target':18} {'pipeline build':>15} {'dkms build':>11} {'ratio':>6} "
              f"{'dkms install':>13}  modules")
        for name in args.targets:
            p = prepare(name, settings)
            started = time.monotonic()
            res = build_target(name, settings, clean=True)
            pipeline_s = time.monotonic() - started
            m = Machine.fresh(settings, p.target.suite, p.resolved.abi, Path(tmp) / "root")
            m.run(["sh", "-c", "mkdir -p /etc/dkms && touch /etc/dkms/no-autoinstall"])
            m.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                   m.put(package)])
            module = f"{dkms.NAME}/{__version__}"
            _, build_s = m.timed(["dkms", "build", module, "-k", p.resolved.abi])
            _, install_s = m.timed(["dkms", "install", module, "-k", p.resolved.abi])
            made = sorted(k.name for k in m.path(f"/lib/modules/{p.resolved.abi}/updates/dkms")
                          .glob("*.ko*"))
            print(f"{name:18} {pipeline_s:13.1f} s {build_s:9.1f} s {build_s / pipeline_s:6.2f} "
                  f"{install_s:11.1f} s  {len(made)} (pipeline: "
                  f"{len(res.metadata['modules'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
