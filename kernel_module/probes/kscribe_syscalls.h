/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kscribe: the descriptors of the system call probe.
 *
 * Every system call of every ABI of the target is one row of a table that
 * names it and points to the descriptors of its arguments: what is recorded
 * of each (its value, the user string, struct or array it points to), when
 * (at entry, at exit) and with which CTF type. The tables are generated per
 * target from its own syscall tables and prototypes
 * (kscribe_syscall_tables.c); one interpreter (kscribe_syscalls.c) records
 * any system call from them and describes its events.
 *
 * An event's payload is its fixed part, then its variable part:
 *
 *	exit only:		the return value ("ret", a long)
 *	each argument, in order:
 *	  KSCRIBE_ARG_VALUE	@size bytes of the value
 *	  KSCRIBE_ARG_STRING	a u8 enum kscribe_string_state, "<name>_state"
 *	  KSCRIBE_ARG_STRUCT	@size bytes of user memory (zeros if unreadable)
 *	  KSCRIBE_ARG_ARRAY	a u32 element count, "<name>_length"
 *	then each argument, in order:
 *	  KSCRIBE_ARG_STRING	the string, NUL-terminated, if its state is
 *				KSCRIBE_STRING_TEXT (a CTF variant on the state)
 *	  KSCRIBE_ARG_ARRAY	the elements, @size bytes each
 *
 * and its CTF fields are declared in the same order, "_<name>" each.
 */
#ifndef _KSCRIBE_SYSCALLS_H
#define _KSCRIBE_SYSCALLS_H

#include <linux/bits.h>
#include <linux/types.h>

/* Arguments of a system call, at most. */
#define KSCRIBE_SYSCALL_ARGS	6

/* Most bytes of a user string recorded, the terminating NUL included. */
#define KSCRIBE_STRING_MAX	256

/**
 * enum kscribe_arg_kind - what is recorded of a system call argument
 * @KSCRIBE_ARG_VALUE:	the value, an integer of @size bytes
 * @KSCRIBE_ARG_STRING:	the user string it points to
 * @KSCRIBE_ARG_STRUCT:	the @size bytes of user memory it points to
 * @KSCRIBE_ARG_ARRAY:	the user array it points to: @size bytes per element,
 *			as many elements as @count says, at most @max
 */
enum kscribe_arg_kind {
	KSCRIBE_ARG_VALUE,
	KSCRIBE_ARG_STRING,
	KSCRIBE_ARG_STRUCT,
	KSCRIBE_ARG_ARRAY,
};

/**
 * enum kscribe_count - where the element count of a KSCRIBE_ARG_ARRAY is
 * @KSCRIBE_COUNT_ARG:	the value of argument @count_arg
 * @KSCRIBE_COUNT_USER:	the u32 that argument @count_arg points to
 * @KSCRIBE_COUNT_RET:	the return value, when positive
 */
enum kscribe_count {
	KSCRIBE_COUNT_ARG,
	KSCRIBE_COUNT_USER,
	KSCRIBE_COUNT_RET,
};

/**
 * enum kscribe_exit_if - when user data is recorded at exit
 * @KSCRIBE_EXIT_IF_SUCCESS:	the call returned 0 or more
 * @KSCRIBE_EXIT_IF_EINTR:	the call returned -EINTR (the time left of a sleep)
 *
 * Otherwise the kernel did not write it: a struct records as zeros, an
 * array or a string as empty.
 */
enum kscribe_exit_if {
	KSCRIBE_EXIT_IF_SUCCESS,
	KSCRIBE_EXIT_IF_EINTR,
};

/**
 * enum kscribe_string_state - what became of a user string
 * @KSCRIBE_STRING_TEXT:	 it was read (cut at KSCRIBE_STRING_MAX - 1 bytes)
 * @KSCRIBE_STRING_NOT_RESIDENT: its memory was not resident when the event
 *				 fired (and a probe may not fault it in):
 *				 nothing was recorded, which is not "" and is
 *				 counted in kscribe_cpu_stats.unreadable
 */
enum kscribe_string_state {
	KSCRIBE_STRING_TEXT,
	KSCRIBE_STRING_NOT_RESIDENT,
};

/* When an argument is recorded: struct kscribe_syscall_arg.when */
#define KSCRIBE_AT_ENTRY	BIT(0)
#define KSCRIBE_AT_EXIT		BIT(1)
#define KSCRIBE_AT_BOTH		(KSCRIBE_AT_ENTRY | KSCRIBE_AT_EXIT)

/**
 * struct kscribe_syscall_arg - how one argument is recorded
 * @name:	field name, the argument's name in the kernel's prototype
 * @type:	CTF type of the value, of the struct, or of one array element
 * @kind:	enum kscribe_arg_kind
 * @when:	KSCRIBE_AT_ENTRY, KSCRIBE_AT_EXIT or KSCRIBE_AT_BOTH
 * @size:	bytes of the value, of the struct or of one array element
 * @count:	enum kscribe_count, for a KSCRIBE_ARG_ARRAY
 * @count_arg:	the argument that @count refers to
 * @max:	most elements of a KSCRIBE_ARG_ARRAY recorded
 * @exit_if:	enum kscribe_exit_if, for user data recorded at exit
 * @is_signed:	a KSCRIBE_ARG_VALUE that is a signed integer
 *
 * Every argument has a descriptor, at its position in the list.
 */
struct kscribe_syscall_arg {
	const char *name;
	const char *type;
	u8 kind;
	u8 when;
	u8 size;
	u8 count;
	u8 count_arg;
	u16 max;
	u8 exit_if;
	u8 is_signed;
};

/* Where an argument of a multiplexed call is: struct kscribe_syscall_op.from */
#define KSCRIBE_FROM_ARG(n)	(n)			/* argument n of the multiplexer */
#define KSCRIBE_FROM_WORD(n, i)	(0x80 | (n) << 4 | (i))	/* word i of the array at n */
#define KSCRIBE_FROM_ZERO	0x7f
#define KSCRIBE_FROM_IS_WORD(from)	((from) & 0x80)
#define KSCRIBE_FROM_ARRAY(from)	(((from) >> 4) & 0x7)	/* n of a _WORD */
#define KSCRIBE_FROM_INDEX(from)	((from) & 0xf)		/* i of a _WORD */

/**
 * struct kscribe_syscall_op - one operation of a multiplexer
 * @nr:		its number, the multiplexer's selector argument
 * @row:	the row of the system call it stands for, in the same table
 * @from:	where each argument of that call is: KSCRIBE_FROM_*()
 */
struct kscribe_syscall_op {
	u32 nr;
	u16 row;
	u8 from[KSCRIBE_SYSCALL_ARGS];
};

/**
 * struct kscribe_syscall_mux - a system call that carries another
 * @selector:	the argument that numbers the operation
 * @mask:	the bits of @selector that number it when no operation has its
 *		whole value (ipc(2)'s version is in the high half)
 * @ops:	the operations the ABI has a system call for
 * @nr_ops:	number of entries in @ops
 *
 * socketcall(2) and ipc(2): an operation is recorded as the events of the
 * system call it stands for, with that call's arguments (words of the ABI's
 * width, read without faulting from the array an argument points to); one
 * not in @ops as the multiplexer's own events.
 */
struct kscribe_syscall_mux {
	u8 selector;
	u32 mask;
	const struct kscribe_syscall_op *ops;
	unsigned int nr_ops;
};

/**
 * struct kscribe_syscall - one row of an ABI's system call table
 * @name:	the system call, as in the events "syscall_entry_<name>"
 * @args:	its arguments, ended by an entry with a NULL @name; NULL for a
 *		number the ABI does not implement
 * @mux:	what it carries, for socketcall(2) and ipc(2); else NULL
 */
struct kscribe_syscall {
	const char *name;
	const struct kscribe_syscall_arg *args;
	const struct kscribe_syscall_mux *mux;
};

struct kscribe_syscall_state;

/**
 * struct kscribe_syscall_abi - the system calls of one ABI
 * @prefix:	event name prefix, "" for the native ABI, e.g. "ia32_"
 * @compat:	the ABI's user pointers are compat_ptr() values
 * @table:	its rows, indexed by system call number less the ABI's base
 * @rows:	number of entries in @table
 * @state:	probe-owned: what the probe keeps of each row (its events),
 *		made at load
 */
struct kscribe_syscall_abi {
	const char *prefix;
	bool compat;
	const struct kscribe_syscall *table;
	unsigned int rows;
	struct kscribe_syscall_state *state;
};

/* The target's ABIs, its first the native one (generated). */
extern struct kscribe_syscall_abi kscribe_syscall_abis[];
extern const unsigned int kscribe_nr_syscall_abis;

/* The return value of every exit event (generated). */
extern const struct kscribe_syscall_arg kscribe_syscall_ret;

/* The CTF types of an array's element count and a string's state (generated). */
extern const char kscribe_syscall_count_type[];
extern const char kscribe_syscall_state_type[];

/*
 * The ABI of the current task's system call @nr, and @nr made its row in
 * that ABI's table (generated: the architecture's own test).
 */
struct kscribe_syscall_abi *kscribe_syscall_abi_of(long *nr);

#endif /* _KSCRIBE_SYSCALLS_H */
