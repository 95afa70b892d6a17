"""The guest: initramfs, QEMU, the console protocol and its verdicts, traces."""
