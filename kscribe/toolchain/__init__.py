"""The compiler a target kernel needs: the host's, or a chroot of the kernel's suite."""
