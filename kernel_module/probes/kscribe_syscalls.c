// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe probes for system calls: one interpreter for the descriptor
 * tables of kscribe_syscalls.h.
 *
 * Two hooks on the raw sys_enter and sys_exit tracepoints find the current
 * system call's ABI and row, and record its entry or exit event as its
 * argument descriptors say. User memory is copied without faulting into
 * this CPU's scratch buffer first; the record is reserved once its size is
 * known, and filled with one copy.
 */

#include <linux/compat.h>
#include <linux/hash.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/seq_buf.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <asm/syscall.h>
#include <trace/events/syscalls.h>

#include "kscribe_core.h"
#include "kscribe_syscalls.h"

/* Longest CTF field list of one event: a page holds any system call's. */
#define KSCRIBE_FIELDS_SIZE	PAGE_SIZE

/* Calls between their entry and exit whose entry-time buffer size is kept. */
#define KSCRIBE_PENDING_BITS	8
#define KSCRIBE_PENDING_PROBES	8	/* slots tried from a task's hash */

/**
 * struct kscribe_syscall_state - what the probe keeps of one row, made at load
 * @event:	the row's entry event; its exit event follows it
 * @fixed:	bytes of the fixed part of the entry and of the exit payload
 * @user:	KSCRIBE_AT_* of the payloads that hold user memory
 * @reads:	KSCRIBE_AT_* where argument values are needed: a call that
 *		records none (getppid(), any exit of values only) reads none
 * @capped:	the argument of a buffer the kernel fills and whose length it
 *		writes back through a pointer (accept()'s address), or -1: the
 *		length the caller gave at entry bounds what is recorded at exit
 */
struct kscribe_syscall_state {
	struct kscribe_event *event;
	u16 fixed[2];
	u8 user;
	u8 reads;
	s8 capped;
};

/*
 * The caller's buffer size of a call in progress, from its entry to its
 * exit, for the one task making it. Slots are taken with cmpxchg(), in any
 * context; a full table only loses the bound (the record then stops at the
 * length the kernel wrote back, at most the argument's maximum).
 */
struct kscribe_pending {
	struct task_struct *task;
	const struct kscribe_syscall_state *state;
	unsigned long size;
};

static struct kscribe_pending kscribe_pending[1 << KSCRIBE_PENDING_BITS];

/* One system call being recorded, at entry or at exit. */
struct kscribe_call {
	const struct kscribe_syscall_abi *abi;
	const struct kscribe_syscall_arg *args;
	const struct kscribe_syscall_state *state;
	const struct kscribe_syscall_mux *mux;
	unsigned long values[KSCRIBE_SYSCALL_ARGS];
	unsigned long cap;
	long ret;
	unsigned int at;
};

static const void __user *kscribe_user(const struct kscribe_call *call,
				       unsigned long value)
{
#ifdef CONFIG_COMPAT
	if (call->abi->compat)
		return compat_ptr(value);
#endif
	return (const void __user *)value;
}

/* Store the low @size bytes of @value at @dst, in the CPU's byte order. */
static __always_inline void kscribe_put_value(u8 *dst, unsigned long value, unsigned int size)
{
	u8 v8 = value;
	u16 v16 = value;
	u32 v32 = value;
	u64 v64 = value;

	switch (size) {
	case 1:
		memcpy(dst, &v8, 1);
		break;
	case 2:
		memcpy(dst, &v16, 2);
		break;
	case 4:
		memcpy(dst, &v32, 4);
		break;
	default:
		memcpy(dst, &v64, 8);
		break;
	}
}

static unsigned long kscribe_count_of(const struct kscribe_call *call,
				      const struct kscribe_syscall_arg *arg)
{
	u32 n;

	switch (arg->count) {
	case KSCRIBE_COUNT_USER:
		kscribe_copy_user(&n, kscribe_user(call, call->values[arg->count_arg]),
				  sizeof(n));
		return arg - call->args == call->state->capped ? min_t(unsigned long, n, call->cap)
							       : n;
	case KSCRIBE_COUNT_RET:
		return call->ret > 0 ? call->ret : 0;
	default:
		return call->values[arg->count_arg];
	}
}

/* Did the kernel write @arg's user data by now? Always at entry. */
static bool kscribe_written(const struct kscribe_call *call,
			    const struct kscribe_syscall_arg *arg)
{
	if (call->at == KSCRIBE_AT_ENTRY)
		return true;
	if (arg->exit_if == KSCRIBE_EXIT_IF_EINTR)
		return call->ret == -EINTR;
	return call->ret >= 0;
}

/* At exit (@at), store the return value at @p, which the payload starts with. */
static __always_inline u8 *kscribe_put_ret(const struct kscribe_call *call, u8 *p,
					   unsigned int at)
{
	if (at != KSCRIBE_AT_EXIT)
		return p;
	kscribe_put_value(p, call->ret, kscribe_syscall_ret.size);
	return p + kscribe_syscall_ret.size;
}

/*
 * Write the payload of @call at @p when it holds values only (no user
 * memory): most exits, and calls such as getppid() or close().
 */
static __always_inline void kscribe_put_values(const struct kscribe_call *call, u8 *p,
					       unsigned int at)
{
	const struct kscribe_syscall_arg *arg;

	p = kscribe_put_ret(call, p, at);
	for (arg = call->args; arg->name; arg++) {
		if (!(arg->when & at))
			continue;
		kscribe_put_value(p, call->values[arg - call->args], arg->size);
		p += arg->size;
	}
}

/*
 * Write the payload of @call at @buf: its fixed part (@call->state says how
 * long), then its variable part, up to @end. Return its size; add the
 * strings recorded as not resident to @unreadable.
 */
static size_t kscribe_payload(const struct kscribe_call *call, u8 *buf, const u8 *end,
			      unsigned int *unreadable)
{
	const struct kscribe_syscall_arg *arg;
	u8 *fixed, *var;
	unsigned long n;

	var = buf + call->state->fixed[call->at == KSCRIBE_AT_EXIT];
	fixed = kscribe_put_ret(call, buf, call->at);
	for (arg = call->args; arg->name; arg++) {
		unsigned long value;
		bool written;

		if (!(arg->when & call->at))
			continue;
		value = call->values[arg - call->args];
		written = arg->kind == KSCRIBE_ARG_VALUE || kscribe_written(call, arg);
		switch (arg->kind) {
		case KSCRIBE_ARG_VALUE:
			kscribe_put_value(fixed, value, arg->size);
			fixed += arg->size;
			break;
		case KSCRIBE_ARG_STRING:
			n = !written ? 0 :
			    kscribe_copy_user_string(var, kscribe_user(call, value),
						     min_t(size_t, end - var, KSCRIBE_STRING_MAX));
			*fixed++ = n ? KSCRIBE_STRING_TEXT : KSCRIBE_STRING_NOT_RESIDENT;
			var += n;
			*unreadable += written && !n;
			break;
		case KSCRIBE_ARG_STRUCT:
			if (written)
				kscribe_copy_user(fixed, kscribe_user(call, value), arg->size);
			else
				memset(fixed, 0, arg->size);
			fixed += arg->size;
			break;
		case KSCRIBE_ARG_ARRAY:
			n = !written ? 0 :
			    min3(kscribe_count_of(call, arg), (unsigned long)arg->max,
				 (unsigned long)(end - var) / arg->size);
			kscribe_put_value(fixed, n, sizeof(u32));
			fixed += sizeof(u32);
			if (n)
				kscribe_copy_user(var, kscribe_user(call, value), n * arg->size);
			var += n * arg->size;
			break;
		}
	}
	return var - buf;
}

/*
 * Record @call, whose payload holds user memory: it is built in the scratch
 * buffer first, so that the record is reserved at its exact size and no copy
 * from user space runs while it is. Called with preemption disabled.
 */
static void kscribe_syscall_record_user(const struct kscribe_call *call)
{
	struct kscribe_event *event = call->state->event + (call->at == KSCRIBE_AT_EXIT);
	unsigned int unreadable = 0;
	struct kscribe_record rec;
	size_t size;
	u8 *buf;

	buf = kscribe_scratch_get();
	if (!buf) {
		kscribe_event_lost(event);
		return;
	}
	size = kscribe_payload(call, buf, buf + KSCRIBE_SCRATCH_SIZE, &unreadable);
	if (kscribe_record_begin(event, size, &rec)) {
		memcpy(rec.payload, buf, size);
		if (unreadable)
			kscribe_count_unreadable(&rec, unreadable);
		kscribe_record_end(&rec);
	}
	kscribe_scratch_put(buf);
}

/*
 * Record @call at @at (a constant in each hook, so that this folds). A
 * payload of values only, the common case, is written straight into the
 * record. Called with preemption disabled.
 */
static __always_inline void kscribe_syscall_record(const struct kscribe_call *call,
						   unsigned int at)
{
	struct kscribe_event *event = call->state->event + (at == KSCRIBE_AT_EXIT);
	struct kscribe_record rec __uninitialized;	/* filled by kscribe_record_begin() */

	if (call->state->user & at) {
		kscribe_syscall_record_user(call);
		return;
	}
	if (kscribe_record_begin(event, call->state->fixed[at == KSCRIBE_AT_EXIT], &rec)) {
		kscribe_put_values(call, rec.payload, at);
		kscribe_record_end(&rec);
	}
}

#ifdef CONFIG_MIPS
/*
 * syscall_get_arguments() reads the fifth and later arguments of an o32 call
 * from the user stack with get_user(), which may fault and sleep: never in
 * a probe. These are the same slots, read without faulting (as zeros when
 * not resident), sign-extended as get_user() of an int does.
 */
static void kscribe_get_arguments(struct pt_regs *regs, unsigned long *values)
{
	const int __user *usp = (const int __user *)regs->regs[29];
	unsigned int i, n;
	int slot;

	if (!IS_ENABLED(CONFIG_32BIT) && !test_thread_flag(TIF_32BIT_REGS)) {
		syscall_get_arguments(current, regs, values);
		return;
	}
	n = mips_syscall_is_indirect(current, regs);	/* syscall(nr, ...) */
	for (i = 0; i < KSCRIBE_SYSCALL_ARGS; i++, n++) {
		if (n < 4)
			values[i] = regs->regs[4 + n];
		else if (!copy_from_user_nofault(&slot, usp + n, sizeof(slot)))
			values[i] = slot;
		else
			values[i] = 0;
	}
}
#else
static void kscribe_get_arguments(struct pt_regs *regs, unsigned long *values)
{
	syscall_get_arguments(current, regs, values);
}
#endif

static struct kscribe_pending *kscribe_pending_slot(unsigned int i)
{
	return &kscribe_pending[(hash_ptr(current, KSCRIBE_PENDING_BITS) + i) &
				((1 << KSCRIBE_PENDING_BITS) - 1)];
}

/* At entry: keep the caller's buffer size for the exit of this call. */
static void kscribe_pending_put(const struct kscribe_call *call)
{
	const struct kscribe_syscall_arg *arg = &call->args[call->state->capped];
	struct kscribe_pending *slot;
	unsigned int i;
	u32 size;

	kscribe_copy_user(&size, kscribe_user(call, call->values[arg->count_arg]), sizeof(size));
	for (i = 0; i < KSCRIBE_PENDING_PROBES; i++) {
		slot = kscribe_pending_slot(i);
		if (READ_ONCE(slot->task) == current ||
		    !cmpxchg(&slot->task, NULL, current)) {
			slot->state = call->state;
			slot->size = size;
			return;
		}
	}
}

/* At exit: the caller's buffer size kept at entry, or no bound. */
static unsigned long kscribe_pending_take(const struct kscribe_call *call)
{
	struct kscribe_pending *slot;
	unsigned long size;
	unsigned int i;

	for (i = 0; i < KSCRIBE_PENDING_PROBES; i++) {
		slot = kscribe_pending_slot(i);
		if (READ_ONCE(slot->task) != current)
			continue;
		size = slot->state == call->state ? slot->size : ULONG_MAX;
		/* the reads above before the slot is free for another task's cmpxchg() */
		smp_store_release(&slot->task, NULL);
		return size;
	}
	return ULONG_MAX;
}

/* Find system call @nr of the current task: false if it is not traced. */
static __always_inline bool kscribe_syscall_find(long nr, struct kscribe_call *call)
{
	const struct kscribe_syscall_abi *abi = kscribe_syscall_abi_of(&nr);

	if (nr < 0 || (unsigned long)nr >= abi->rows || !abi->table[nr].args)
		return false;
	call->abi = abi;
	call->args = abi->table[nr].args;
	call->state = &abi->state[nr];
	call->mux = abi->table[nr].mux;
	return true;
}

/* Word @i of the user array at @addr, of the ABI's width; 0 if unreadable. */
static unsigned long kscribe_user_word(const struct kscribe_call *call,
				       unsigned long addr, unsigned int i)
{
	const void __user *array = kscribe_user(call, addr);
	unsigned long word;
	u32 word32;

	if (call->abi->compat)
		return copy_from_user_nofault(&word32, (const u32 __user *)array + i,
					      sizeof(word32)) ? 0 : word32;
	return copy_from_user_nofault(&word, (const unsigned long __user *)array + i,
				      sizeof(word)) ? 0 : word;
}

static const struct kscribe_syscall_op *
kscribe_operation(const struct kscribe_syscall_mux *mux, u32 nr)
{
	const struct kscribe_syscall_op *op;

	for (op = mux->ops; op < mux->ops + mux->nr_ops; op++)
		if (op->nr == nr)
			return op;
	for (op = mux->ops; op < mux->ops + mux->nr_ops; op++)
		if (op->nr == (nr & mux->mask))
			return op;
	return NULL;
}

/*
 * A socketcall() or ipc() becomes the call it carries, with that call's
 * arguments, as strace shows it; an operation the table does not know stays
 * the multiplexer's own event.
 */
static void kscribe_demux(struct kscribe_call *call)
{
	const struct kscribe_syscall_op *op;
	unsigned long values[KSCRIBE_SYSCALL_ARGS];
	unsigned int i;

	op = kscribe_operation(call->mux, call->values[call->mux->selector]);
	if (!op)
		return;
	for (i = 0; i < KSCRIBE_SYSCALL_ARGS; i++) {
		u8 from = op->from[i];

		if (from == KSCRIBE_FROM_ZERO)
			values[i] = 0;
		else if (KSCRIBE_FROM_IS_WORD(from))
			values[i] = kscribe_user_word(call,
						      call->values[KSCRIBE_FROM_ARRAY(from)],
						      KSCRIBE_FROM_INDEX(from));
		else
			values[i] = call->values[from];
	}
	memcpy(call->values, values, sizeof(values));
	call->args = call->abi->table[op->row].args;
	call->state = &call->abi->state[op->row];
}

/* Is anything to be done at entry: its event, or the bound for its exit? */
static bool kscribe_wanted_at_entry(const struct kscribe_syscall_state *state)
{
	return kscribe_event_recorded(state->event) ||
	       (state->capped >= 0 && kscribe_event_recorded(state->event + 1));
}

/*
 * Where syscall tracepoints are faultable (6.13+: the probe runs
 * preemptible, and may take page faults), fault in the pages of the strings
 * to record: a path the task has not touched yet (execve's, in a child
 * fresh from fork) is then recorded whole by the nofault copy below.
 */
static void kscribe_fault_in_strings(const struct kscribe_call *call)
{
	const struct kscribe_syscall_arg *arg;

	for (arg = call->args; arg->name; arg++) {
		if (arg->kind != KSCRIBE_ARG_STRING || !(arg->when & KSCRIBE_AT_ENTRY))
			continue;
		/* 0: unreadable even with faults; the copy marks it not resident */
		if (!strnlen_user(kscribe_user(call, call->values[arg - call->args]),
				  KSCRIBE_STRING_MAX))
			continue;
	}
}

/*
 * Syscall tracepoints may run preemptible (faultable since 6.13): the
 * scratch buffer is per CPU, so preemption is off around its use.
 */
static void kscribe_sys_enter(void *data, struct pt_regs *regs, long id)
{
	/* filled as needed: values only where @state->reads says */
	struct kscribe_call call __uninitialized;

	if (!kscribe_syscall_find(id, &call) ||
	    (!call.mux && !kscribe_wanted_at_entry(call.state)))
		return;
	call.at = KSCRIBE_AT_ENTRY;
	call.ret = 0;
	call.cap = ULONG_MAX;
	if (call.mux || (call.state->reads & KSCRIBE_AT_ENTRY))
		kscribe_get_arguments(regs, call.values);
	if (call.mux) {
		kscribe_demux(&call);
		if (!kscribe_wanted_at_entry(call.state))
			return;
	}
	if (call.state->capped >= 0 && kscribe_event_recorded(call.state->event + 1))
		kscribe_pending_put(&call);
	if (!kscribe_event_recorded(call.state->event))
		return;
	if (preemptible() && (call.state->user & KSCRIBE_AT_ENTRY))
		kscribe_fault_in_strings(&call);
	preempt_disable_notrace();
	kscribe_syscall_record(&call, KSCRIBE_AT_ENTRY);
	preempt_enable_notrace();
}

static void kscribe_sys_exit(void *data, struct pt_regs *regs, long ret)
{
	/* filled as needed: values only where @state->reads says */
	struct kscribe_call call __uninitialized;

	if (!kscribe_syscall_find(syscall_get_nr(current, regs), &call) ||
	    (!call.mux && !kscribe_event_recorded(call.state->event + 1)))
		return;
	call.at = KSCRIBE_AT_EXIT;
	call.ret = ret;
	call.cap = ULONG_MAX;
	if (call.mux || (call.state->reads & KSCRIBE_AT_EXIT))
		kscribe_get_arguments(regs, call.values);
	if (call.mux) {
		kscribe_demux(&call);
		if (!kscribe_event_recorded(call.state->event + 1))
			return;
	}
	if (call.state->capped >= 0)
		call.cap = kscribe_pending_take(&call);
	preempt_disable_notrace();
	kscribe_syscall_record(&call, KSCRIBE_AT_EXIT);
	preempt_enable_notrace();
}

static struct kscribe_hook kscribe_syscalls_hooks[] = {
	{ .tracepoint = "sys_enter", .probe = kscribe_sys_enter },
	{ .tracepoint = "sys_exit", .probe = kscribe_sys_exit },
};

static struct kscribe_probe kscribe_syscalls_probe = {
	.name = "syscalls",
	.hooks = kscribe_syscalls_hooks,
	.nr_hooks = ARRAY_SIZE(kscribe_syscalls_hooks),
	.owner = THIS_MODULE,
};

/* ---- the events, described from the tables at init ---- */

/*
 * The CTF fields of the events of one argument list, entry and exit:
 * events whose arguments are described alike share them.
 */
struct kscribe_fields {
	const struct kscribe_syscall_arg *args;
	char *fields[2];
	struct kscribe_layout *layout[2];
};

/*
 * The fields of the events of one argument list at entry or exit, as
 * filters read them: the return value, one field per argument in the fixed
 * part (a string's state, an array's count, named "<arg>_state" and
 * "<arg>_length" as in the CTF fields), then the strings and arrays.
 */
struct kscribe_layout {
	struct kscribe_field field[1 + 2 * KSCRIBE_SYSCALL_ARGS];
	char names[KSCRIBE_SYSCALL_ARGS][KSCRIBE_NAME_LEN];
	unsigned int nr;
};

static struct kscribe_fields *kscribe_fields_cache;
static unsigned int kscribe_nr_fields;

static void kscribe_describe(struct seq_buf *s,
			     const struct kscribe_syscall_arg *args,
			     unsigned int at)
{
	const struct kscribe_syscall_arg *arg;

	if (at == KSCRIBE_AT_EXIT)
		seq_buf_printf(s, "%s _%s;\n", kscribe_syscall_ret.type,
			       kscribe_syscall_ret.name);
	for (arg = args; arg->name; arg++) {
		if (!(arg->when & at))
			continue;
		if (arg->kind == KSCRIBE_ARG_ARRAY)
			seq_buf_printf(s, "%s _%s_length;\n",
				       kscribe_syscall_count_type, arg->name);
		else if (arg->kind == KSCRIBE_ARG_STRING)
			seq_buf_printf(s, "%s _%s_state;\n",
				       kscribe_syscall_state_type, arg->name);
		else
			seq_buf_printf(s, "%s _%s;\n", arg->type, arg->name);
	}
	for (arg = args; arg->name; arg++) {
		if (!(arg->when & at))
			continue;
		if (arg->kind == KSCRIBE_ARG_STRING)
			seq_buf_printf(s,
				       "variant <_%s_state> { %s text; struct { } not_resident; } _%s;\n",
				       arg->name, arg->type, arg->name);
		else if (arg->kind == KSCRIBE_ARG_ARRAY)
			seq_buf_printf(s, "%s _%s[_%s_length];\n", arg->type,
				       arg->name, arg->name);
	}
}

static struct kscribe_field *kscribe_layout_add(struct kscribe_layout *l,
						const char *name, u8 kind, u16 size)
{
	struct kscribe_field *f = &l->field[l->nr++];

	f->name = name;
	f->kind = kind;
	f->size = size;
	return f;
}

static struct kscribe_layout *kscribe_describe_layout(const struct kscribe_syscall_arg *args,
						      unsigned int at)
{
	const struct kscribe_syscall_arg *arg;
	u16 fixed[KSCRIBE_SYSCALL_ARGS];
	struct kscribe_layout *l;
	unsigned int n = 0;
	char *name;

	l = kzalloc_obj(*l, GFP_KERNEL);
	if (!l)
		return NULL;
	if (at == KSCRIBE_AT_EXIT)
		kscribe_layout_add(l, kscribe_syscall_ret.name, KSCRIBE_FIELD_INT,
				   kscribe_syscall_ret.size)->is_signed = 1;
	for (arg = args; arg->name; arg++, n++) {
		fixed[n] = l->nr;
		if (!(arg->when & at))
			continue;
		name = l->names[n];
		switch (arg->kind) {
		case KSCRIBE_ARG_VALUE:
			kscribe_layout_add(l, arg->name, KSCRIBE_FIELD_INT,
					   arg->size)->is_signed = arg->is_signed;
			break;
		case KSCRIBE_ARG_STRING:
			snprintf(name, KSCRIBE_NAME_LEN, "%s_state", arg->name);
			kscribe_layout_add(l, name, KSCRIBE_FIELD_INT, sizeof(u8));
			break;
		case KSCRIBE_ARG_STRUCT:
			kscribe_layout_add(l, arg->name, KSCRIBE_FIELD_BYTES, arg->size);
			break;
		case KSCRIBE_ARG_ARRAY:
			snprintf(name, KSCRIBE_NAME_LEN, "%s_length", arg->name);
			kscribe_layout_add(l, name, KSCRIBE_FIELD_INT, sizeof(u32));
			break;
		}
	}
	for (arg = args, n = 0; arg->name; arg++, n++) {
		if (!(arg->when & at))
			continue;
		if (arg->kind == KSCRIBE_ARG_STRING)
			kscribe_layout_add(l, arg->name, KSCRIBE_FIELD_STRING,
					   0)->ref = fixed[n] + 1;
		else if (arg->kind == KSCRIBE_ARG_ARRAY)
			kscribe_layout_add(l, arg->name, KSCRIBE_FIELD_SEQUENCE,
					   arg->size)->ref = fixed[n];
	}
	return l;
}

/* The fields of the events of @args, made once per argument list. */
static struct kscribe_fields *kscribe_fields_of(const struct kscribe_syscall_arg *args,
						unsigned int at, char *buf)
{
	struct kscribe_fields *f = kscribe_fields_cache;
	struct seq_buf s;
	unsigned int i;

	while (f < kscribe_fields_cache + kscribe_nr_fields && f->args != args)
		f++;
	if (f == kscribe_fields_cache + kscribe_nr_fields) {
		f->args = args;
		kscribe_nr_fields++;
	}
	i = at == KSCRIBE_AT_EXIT;
	if (!f->fields[i]) {
		seq_buf_init(&s, buf, KSCRIBE_FIELDS_SIZE);
		kscribe_describe(&s, args, at);
		if (seq_buf_has_overflowed(&s))
			return NULL;
		f->fields[i] = kmemdup_nul(buf, seq_buf_used(&s), GFP_KERNEL);
		f->layout[i] = kscribe_describe_layout(args, at);
		if (!f->layout[i])
			return NULL;
	}
	return f;
}

/* Bytes of the fixed part of a payload recorded @at entry or exit. */
static size_t kscribe_fixed_size(const struct kscribe_syscall_arg *args,
				 unsigned int at)
{
	const struct kscribe_syscall_arg *arg;
	size_t size = at == KSCRIBE_AT_EXIT ? kscribe_syscall_ret.size : 0;

	for (arg = args; arg->name; arg++) {
		if (arg->when & at)
			size += arg->kind == KSCRIBE_ARG_ARRAY ? sizeof(u32) :
				arg->kind == KSCRIBE_ARG_STRING ? sizeof(u8) : arg->size;
	}
	return size;
}

static void kscribe_state_init(struct kscribe_syscall_state *state,
			       const struct kscribe_syscall_arg *args)
{
	const struct kscribe_syscall_arg *arg;

	state->fixed[0] = kscribe_fixed_size(args, KSCRIBE_AT_ENTRY);
	state->fixed[1] = kscribe_fixed_size(args, KSCRIBE_AT_EXIT);
	state->capped = -1;
	for (arg = args; arg->name; arg++) {
		state->reads |= arg->when;
		if (arg->kind != KSCRIBE_ARG_VALUE)
			state->user |= arg->when;
		if (arg->kind == KSCRIBE_ARG_ARRAY && arg->count == KSCRIBE_COUNT_USER &&
		    arg->when == KSCRIBE_AT_EXIT) {
			state->capped = arg - args;
			state->reads |= KSCRIBE_AT_ENTRY;	/* the size it had */
		}
	}
}

static void kscribe_events_free(void)
{
	struct kscribe_event *events = kscribe_syscalls_probe.events;
	unsigned int i;

	for (i = 0; events && i < kscribe_syscalls_probe.nr_events; i++)
		kfree(events[i].name);
	for (i = 0; kscribe_fields_cache && i < kscribe_nr_fields; i++) {
		kfree(kscribe_fields_cache[i].fields[0]);
		kfree(kscribe_fields_cache[i].fields[1]);
		kfree(kscribe_fields_cache[i].layout[0]);
		kfree(kscribe_fields_cache[i].layout[1]);
	}
	for (i = 0; i < kscribe_nr_syscall_abis; i++)
		kfree(kscribe_syscall_abis[i].state);
	kfree(kscribe_fields_cache);
	kfree(events);
}

static int kscribe_event_init(struct kscribe_event *event,
			      const struct kscribe_syscall_abi *abi,
			      const struct kscribe_syscall *sc, unsigned int at,
			      char *buf)
{
	bool entry = at == KSCRIBE_AT_ENTRY;
	struct kscribe_fields *f;

	event->flags = entry ? KSCRIBE_EVENT_SYSCALL_ENTRY : KSCRIBE_EVENT_SYSCALL_EXIT;
	event->name = kasprintf(GFP_KERNEL, "%ssyscall_%s_%s", abi->prefix,
				entry ? "entry" : "exit", sc->name);
	f = kscribe_fields_of(sc->args, at, buf);
	if (!event->name || !f || !f->fields[!entry])
		return -ENOMEM;
	event->fields = f->fields[!entry];
	event->layout = f->layout[!entry]->field;
	event->nr_fields = f->layout[!entry]->nr;
	return 0;
}

/* Two events (entry, exit) for each system call of each ABI. */
static int kscribe_events_init(void)
{
	struct kscribe_event *events;
	unsigned int i, row, n = 0;
	char *buf;
	int ret = -ENOMEM;

	for (i = 0; i < kscribe_nr_syscall_abis; i++)
		for (row = 0; row < kscribe_syscall_abis[i].rows; row++)
			n += !!kscribe_syscall_abis[i].table[row].args;
	buf = kmalloc(KSCRIBE_FIELDS_SIZE, GFP_KERNEL);
	events = kcalloc(2 * n, sizeof(*events), GFP_KERNEL);
	kscribe_fields_cache = kcalloc(n, sizeof(*kscribe_fields_cache), GFP_KERNEL);
	kscribe_syscalls_probe.events = events;
	if (!buf || !events || !kscribe_fields_cache)
		goto out;
	for (i = 0; i < kscribe_nr_syscall_abis; i++) {
		struct kscribe_syscall_abi *abi = &kscribe_syscall_abis[i];

		abi->state = kcalloc(abi->rows, sizeof(*abi->state), GFP_KERNEL);
		if (!abi->state)
			goto out;
		for (row = 0; row < abi->rows; row++) {
			const struct kscribe_syscall *sc = &abi->table[row];
			struct kscribe_event *event = &events[kscribe_syscalls_probe.nr_events];

			if (!sc->args)
				continue;
			kscribe_syscalls_probe.nr_events += 2;
			if (kscribe_event_init(event, abi, sc, KSCRIBE_AT_ENTRY, buf) ||
			    kscribe_event_init(event + 1, abi, sc, KSCRIBE_AT_EXIT, buf))
				goto out;
			abi->state[row].event = event;
			kscribe_state_init(&abi->state[row], sc->args);
		}
	}
	ret = 0;
out:
	kfree(buf);
	return ret;
}

static int __init kscribe_syscalls_init(void)
{
	int ret;

	KSCRIBE_CHECK_PROBE(sys_enter, kscribe_sys_enter);
	KSCRIBE_CHECK_PROBE(sys_exit, kscribe_sys_exit);

	ret = kscribe_events_init();
	if (!ret)
		ret = kscribe_probe_register(&kscribe_syscalls_probe);
	if (ret)
		kscribe_events_free();
	return ret;
}
module_init(kscribe_syscalls_init);

static void __exit kscribe_syscalls_exit(void)
{
	kscribe_probe_unregister(&kscribe_syscalls_probe);
	kscribe_events_free();
}
module_exit(kscribe_syscalls_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kscribe probes for system calls");
