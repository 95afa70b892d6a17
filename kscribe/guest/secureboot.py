"""A UEFI Secure Boot machine under QEMU: OVMF with Microsoft's keys, the distribution's
signed shim and grub, its signed kernel, and a certificate of ours enrolled as a Machine
Owner Key, so that the kernel trusts what that key signs.

The boot chain's files come from Debian packages of the kernel's suite (which and where:
``kscribe/data/secureboot.toml``), fetched and checked like every package. The MOK goes
into the firmware's variables before the first boot (``virt-fw-vars --add-mok``, from
PyPI's virt-firmware), as MokManager would put it there after ``mokutil --import`` and a
confirmed reboot. The EFI system partition is a folder QEMU serves as a FAT disk.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from kscribe.config.settings import Settings
from kscribe.config.suites import Suite
from kscribe.debian.debfile import extract_each
from kscribe.debian.provision import fetch_deb
from kscribe.debian.resolve import newest
from kscribe.errors import KscribeError
from kscribe.util import atomic, proc, tomldata

DATA = "secureboot.toml"
# shim's vendor GUID for MOK entries (the MokList variable)
SHIM_GUID = "605dab50-e046-4300-abb6-3dd810dd8b23"
GRUB_CFG = """\
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry "kscribe" {{
	linux /vmlinuz {cmdline}
	initrd /initrd.gz
}}
"""


@dataclass(frozen=True)
class Firmware:
    """What a Secure Boot machine boots from: flash images, ESP files, the signed kernel."""

    qemu: tuple[str, ...]
    code: Path
    vars: Path
    esp: dict[str, Path]        # path on the ESP -> file
    kernel: Path


def _file(settings: Settings, suite: Suite, arch: str, package: str, path: str,
          dest: Path) -> Path:
    found = newest(settings, suite.archives, arch, package)
    if found is None:
        raise KscribeError(f"{package}: not in {suite.name} for {arch} (needed for the Secure "
                           f"Boot machine, kscribe/data/{DATA})")
    deb = found[0]
    folder = dest / f"{deb.name}_{deb.version.replace(':', '%3a')}"
    out = folder / path
    if not out.is_file():
        with atomic.atomic_path(out) as tmp:
            got = extract_each(fetch_deb(settings, deb), {path: tmp.name}, tmp.parent)
            if not got:
                raise KscribeError(f"{deb.name} {deb.version} has no file {path} "
                                   f"(kscribe/data/{DATA})")
    return out


def machines() -> tuple[str, ...]:
    """The architectures with a Secure Boot machine in the data file."""
    return tuple(sorted(tomldata.load(DATA)))


def firmware(settings: Settings, suite: Suite, arch: str, abi: str) -> Firmware:
    """The Secure Boot machine of ``arch`` with the kernel ``abi`` of ``suite``."""
    data = tomldata.load(DATA)
    if arch not in data:
        raise KscribeError(f"kscribe/data/{DATA}: no Secure Boot machine for {arch} "
                           f"(known: {', '.join(sorted(data))})")
    row = tomldata.Row(DATA, arch, data[arch])
    dest = settings.cache_dir / "secureboot"

    def get(entry: dict[str, str], path: str | None = None) -> Path:
        return _file(settings, suite, arch, entry["package"], path or entry["path"], dest)

    esp = {e.data["to"]: get(e.data) for e in row.rows("esp")}
    kernel = get({"package": f"linux-image-{abi}"}, row.text("kernel").format(abi=abi))
    return Firmware(row.strings("qemu"), get(row.table("code")), get(row.table("vars")), esp,
                    kernel)


def enrolled_vars(fw: Firmware, cert: Path, dest: Path) -> Path:
    """The firmware's variables with ``cert`` enrolled as a MOK."""
    with atomic.atomic_path(dest) as tmp:
        # virt-firmware is one of kscribe's Python dependencies: run its module
        proc.run([sys.executable, "-m", "virt.firmware.vars", "-i", fw.vars, "-o", tmp,
                  "--add-mok", SHIM_GUID, cert], why="to enroll a certificate as a MOK")
    return dest


def esp_folder(fw: Firmware, initrd: Path, cmdline: str, dest: Path) -> Path:
    """The EFI system partition: shim as the default loader, grub, its configuration, the
    signed kernel and the initramfs."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel, src in fw.esp.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest / rel)
    cfg = GRUB_CFG.format(cmdline=cmdline)
    for rel in ("EFI/BOOT/grub.cfg", "EFI/debian/grub.cfg", "boot/grub/grub.cfg"):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(cfg)
    shutil.copyfile(fw.kernel, dest / "vmlinuz")
    shutil.copyfile(initrd, dest / "initrd.gz")
    return dest


def argv(fw: Firmware, binary: str, variables: Path, esp: Path, memory: int, cpus: int
         ) -> list[str]:
    """QEMU booting the ESP folder with the firmware (its variables writable)."""
    return [binary, *fw.qemu, "-m", str(memory), "-smp", str(cpus), "-nographic",
            "-no-reboot",
            "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={fw.code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={variables}",
            "-drive", f"file=fat:{esp},format=raw,if=virtio,readonly=on"]
