"""Debian's archive: signed indexes, verified downloads, the lock file, provisioned kernels."""
