"""Syscall tables of a target kernel, read from its own headers, with typed arguments.

``tables(prepared)`` gives one :class:`SyscallTable` per ABI the kernel is configured with
(the native one first, then compat ABIs such as ia32, x32, arm32, o32/n32): every syscall's
number, name, entry symbol and arguments (C type and name from the kernel's prototypes,
classified for recording). Which headers and macros each architecture uses is data:
each architecture's ``kscribe/data/arches/<arch>.toml``; how arguments are recorded:
``instrumentation/syscalls``.
"""

from kscribe.instrument.syscalls.assemble import abis_of, result, tables
from kscribe.instrument.syscalls.model import (
                                    StructField,
                                    StructSpec,
                                    Syscall,
                                    SyscallArg,
                                    SyscallTable,
)

__all__ = ["StructField", "StructSpec", "Syscall", "SyscallArg", "SyscallTable", "abis_of",
           "result", "tables"]
