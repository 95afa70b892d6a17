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

#define pr_fmt(fmt) "kscribe: syscalls: " fmt

#include <linux/compat.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/seq_buf.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <asm/syscall.h>
#include <trace/events/syscalls.h>

#include "kscribe_core.h"
#include "kscribe_syscalls.h"

/* Longest CTF field list of one event: a page holds any system call's. */
#define KSCRIBE_FIELDS_SIZE	PAGE_SIZE

static const void __user *kscribe_user(const struct kscribe_syscall_abi *abi,
				       unsigned long value)
{
#ifdef CONFIG_COMPAT
	if (abi->compat)
		return compat_ptr(value);
#endif
	return (const void __user *)value;
}

/* Store the low @size bytes of @value at @dst, in the CPU's byte order. */
static void kscribe_put_value(u8 *dst, unsigned long value, unsigned int size)
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

static unsigned long kscribe_count_of(const struct kscribe_syscall_abi *abi,
				      const struct kscribe_syscall_arg *arg,
				      const unsigned long *values, long ret)
{
	u32 n;

	switch (arg->count) {
	case KSCRIBE_COUNT_USER:
		kscribe_copy_user(&n, kscribe_user(abi, values[arg->count_arg]),
				  sizeof(n));
		return n;
	case KSCRIBE_COUNT_RET:
		return ret > 0 ? ret : 0;
	default:
		return values[arg->count_arg];
	}
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
				arg->kind == KSCRIBE_ARG_STRING ? 0 : arg->size;
	}
	return size;
}

/*
 * Record one event of a system call: @values are its arguments, @ret its
 * return value at exit. Called with preemption disabled.
 */
static void kscribe_syscall_record(struct kscribe_event *event,
				   const struct kscribe_syscall_abi *abi,
				   const struct kscribe_syscall_arg *args,
				   const unsigned long *values, long ret,
				   unsigned int at)
{
	const struct kscribe_syscall_arg *arg;
	struct kscribe_record rec;
	u8 *buf, *fixed, *var, *end;
	unsigned long n;

	buf = kscribe_scratch_get();
	if (!buf) {
		kscribe_event_lost(event);
		return;
	}
	end = buf + KSCRIBE_SCRATCH_SIZE;
	fixed = buf;
	var = buf + kscribe_fixed_size(args, at);
	if (at == KSCRIBE_AT_EXIT) {
		kscribe_put_value(fixed, ret, kscribe_syscall_ret.size);
		fixed += kscribe_syscall_ret.size;
	}
	for (arg = args; arg->name; arg++) {
		unsigned long value = values[arg - args];

		if (!(arg->when & at))
			continue;
		switch (arg->kind) {
		case KSCRIBE_ARG_VALUE:
			kscribe_put_value(fixed, value, arg->size);
			fixed += arg->size;
			break;
		case KSCRIBE_ARG_STRING:
			var += kscribe_copy_user_string(var, kscribe_user(abi, value),
							min_t(size_t, end - var,
							      KSCRIBE_STRING_MAX));
			break;
		case KSCRIBE_ARG_STRUCT:
			kscribe_copy_user(fixed, kscribe_user(abi, value), arg->size);
			fixed += arg->size;
			break;
		case KSCRIBE_ARG_ARRAY:
			n = min3(kscribe_count_of(abi, arg, values, ret),
				 (unsigned long)arg->max,
				 (unsigned long)(end - var) / arg->size);
			kscribe_put_value(fixed, n, sizeof(u32));
			fixed += sizeof(u32);
			kscribe_copy_user(var, kscribe_user(abi, value), n * arg->size);
			var += n * arg->size;
			break;
		}
	}
	if (kscribe_record_begin(event, var - buf, &rec)) {
		memcpy(rec.payload, buf, var - buf);
		kscribe_record_end(&rec);
	}
	kscribe_scratch_put(buf);
}

/*
 * The entry event of system call @nr of the current task and the
 * descriptors of its arguments, or NULL.
 */
static struct kscribe_event *
kscribe_syscall_event(long nr, const struct kscribe_syscall_abi **abi,
		      const struct kscribe_syscall_arg **args)
{
	struct kscribe_syscall_abi *found = kscribe_syscall_abi_of(&nr);

	if (nr < 0 || (unsigned long)nr >= found->rows || !found->table[nr].args)
		return NULL;
	*abi = found;
	*args = found->table[nr].args;
	return found->events[nr];
}

/*
 * Syscall tracepoints may run preemptible (faultable since 6.13): the
 * scratch buffer is per CPU, so preemption is off around its use.
 */
static void kscribe_sys_enter(void *data, struct pt_regs *regs, long id)
{
	unsigned long values[KSCRIBE_SYSCALL_ARGS];
	const struct kscribe_syscall_arg *args;
	const struct kscribe_syscall_abi *abi;
	struct kscribe_event *event;

	event = kscribe_syscall_event(id, &abi, &args);
	if (!event || !kscribe_event_recorded(event))
		return;
	syscall_get_arguments(current, regs, values);
	preempt_disable_notrace();
	kscribe_syscall_record(event, abi, args, values, 0, KSCRIBE_AT_ENTRY);
	preempt_enable_notrace();
}

static void kscribe_sys_exit(void *data, struct pt_regs *regs, long ret)
{
	unsigned long values[KSCRIBE_SYSCALL_ARGS];
	const struct kscribe_syscall_arg *args;
	const struct kscribe_syscall_abi *abi;
	struct kscribe_event *event;

	event = kscribe_syscall_event(syscall_get_nr(current, regs), &abi, &args);
	if (!event || !kscribe_event_recorded(++event))
		return;
	syscall_get_arguments(current, regs, values);
	preempt_disable_notrace();
	kscribe_syscall_record(event, abi, args, values, ret, KSCRIBE_AT_EXIT);
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
		if (!(arg->when & at) || arg->kind == KSCRIBE_ARG_STRING)
			continue;
		if (arg->kind == KSCRIBE_ARG_ARRAY)
			seq_buf_printf(s, "%s _%s_length;\n",
				       kscribe_syscall_count_type, arg->name);
		else
			seq_buf_printf(s, "%s _%s;\n", arg->type, arg->name);
	}
	for (arg = args; arg->name; arg++) {
		if (!(arg->when & at))
			continue;
		if (arg->kind == KSCRIBE_ARG_STRING)
			seq_buf_printf(s, "%s _%s;\n", arg->type, arg->name);
		else if (arg->kind == KSCRIBE_ARG_ARRAY)
			seq_buf_printf(s, "%s _%s[_%s_length];\n", arg->type,
				       arg->name, arg->name);
	}
}

/* The CTF fields of the events of @args, made once per argument list. */
static char *kscribe_fields_of(const struct kscribe_syscall_arg *args,
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
	}
	return f->fields[i];
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
	}
	for (i = 0; i < kscribe_nr_syscall_abis; i++)
		kfree(kscribe_syscall_abis[i].events);
	kfree(kscribe_fields_cache);
	kfree(events);
}

static int kscribe_event_init(struct kscribe_event *event,
			      const struct kscribe_syscall_abi *abi,
			      const struct kscribe_syscall *sc, unsigned int at,
			      char *buf)
{
	bool entry = at == KSCRIBE_AT_ENTRY;

	event->flags = entry ? KSCRIBE_EVENT_SYSCALL_ENTRY : KSCRIBE_EVENT_SYSCALL_EXIT;
	event->name = kasprintf(GFP_KERNEL, "%ssyscall_%s_%s", abi->prefix,
				entry ? "entry" : "exit", sc->name);
	event->fields = kscribe_fields_of(sc->args, at, buf);
	return event->name && event->fields ? 0 : -ENOMEM;
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

		abi->events = kcalloc(abi->rows, sizeof(*abi->events), GFP_KERNEL);
		if (!abi->events)
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
			abi->events[row] = event;
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
