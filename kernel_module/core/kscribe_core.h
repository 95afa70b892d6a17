/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kscribe: in-kernel API between the core module and the probe modules.
 *
 * A probe module describes what it records (events: name, fields) and where
 * it hooks in (hooks: kernel tracepoint, probe function, data), apart,
 * because one hook may record many events (raw sys_enter for every
 * syscall_entry_<name>) and one event may be fed by several hooks. It hands
 * a struct kscribe_probe to kscribe_probe_register() in its init function
 * and to kscribe_probe_unregister() in its exit function.
 *
 * The core numbers the events, attaches the hooks only while a recording
 * that selected one of the probe's events runs, and gives the probe
 * functions a record API that is safe in any context:
 *
 *	struct kscribe_record rec;
 *
 *	if (!kscribe_record_begin(event, size, &rec))
 *		return;
 *	... write size bytes at rec.payload ...
 *	kscribe_record_end(&rec);
 */
#ifndef _KSCRIBE_CORE_H
#define _KSCRIBE_CORE_H

#include <linux/build_bug.h>
#include <linux/compiler.h>
#include <linux/list.h>
#include <linux/percpu.h>
#include <linux/types.h>
#include <uapi/linux/kscribe.h>

/* ---- older kernels: the in-tree rendering leaves this section out ---- */

/*
 * kzalloc_obj() is 7.0's form of kzalloc(sizeof(*p), gfp), which the newest
 * checkpatch asks for; before it, the same allocation spelled out.
 */
#ifndef kzalloc_obj
#define kzalloc_obj(p, gfp)	kzalloc(sizeof(p), gfp)
#endif

/*
 * 6.8's accessor of a ring buffer read page's data, declared for the older
 * kernels whose read pages are their data: kscribe_rb_page_data() names it
 * in a branch they never compile to a call.
 */
struct buffer_data_read_page;
void *ring_buffer_read_page_data(struct buffer_data_read_page *page);

/* ---- the probe API ---- */

#define KSCRIBE_VERSION_MAJOR		0
#define KSCRIBE_VERSION_MINOR		2
#define KSCRIBE_VERSION_PATCHLEVEL	0

/* Bytes of the buffer returned by kscribe_scratch_get(). */
#define KSCRIBE_SCRATCH_SIZE		4096

struct module;
struct ring_buffer_event;
struct tracepoint;
struct kscribe_filter_prog;
struct kscribe_probe;
struct kscribe_recording;

/**
 * struct kscribe_field - one field of an event's payload, as filters read it
 * @name:	the field's CTF name, without its leading '_'
 * @kind:	KSCRIBE_FIELD_INT, _TEXT, _BYTES (fixed part), _STRING or
 *		_SEQUENCE (variable part, after every fixed field)
 * @is_signed:	a signed KSCRIBE_FIELD_INT
 * @size:	bytes of a fixed field, of one element of a sequence
 * @ref:	_STRING: 1 + index of the u8 field that says whether it was
 *		recorded (0: it was), 0 if always recorded; _SEQUENCE: index of
 *		the integer field that counts its elements
 */
struct kscribe_field {
	const char *name;
	u8 kind;
	u8 is_signed;
	u16 size;
	u16 ref;
};

/**
 * struct kscribe_event - one kind of record
 * @name:	CTF event name, e.g. "sched_switch", "syscall_entry_openat"
 * @fields:	TSDL of the payload's fields (the inside of "struct { ... }"),
 *		"" when the payload is empty
 * @flags:	KSCRIBE_EVENT_SYSCALL_ENTRY or _EXIT for the events of a system
 *		call, whose @name is then "syscall_entry_<syscall>" or
 *		"syscall_exit_<syscall>"; else 0
 * @layout:	the payload's fields in payload order (the order of @fields)
 * @nr_fields:	number of entries in @layout
 * @recording:	core-owned: the recording this event is written to, NULL when
 *		it is not recorded
 * @id:		core-owned: event id (CTF event.header.id), while registered
 * @probe:	core-owned: the probe this event belongs to
 * @hits:	core-owned: per-CPU count of the times the event fired while
 *		recorded
 * @filter:	core-owned: the running recording's filter of this event, or NULL
 *
 * The probe module fills @name, @fields, @flags, @layout and @nr_fields.
 */
struct kscribe_event {
	const char *name;
	const char *fields;
	unsigned int flags;
	const struct kscribe_field *layout;
	unsigned int nr_fields;
	struct kscribe_recording *recording;
	unsigned int id;
	struct kscribe_probe *probe;
	u64 __percpu *hits;
	const struct kscribe_filter_prog *filter;
};

/**
 * struct kscribe_hook - one probe function on one kernel tracepoint
 * @tracepoint:	name of the kernel tracepoint, e.g. "sched_switch"
 * @probe:	"void fn(void *data, <the tracepoint's TP_PROTO>)"
 * @data:	first argument of @probe; when it points to an event of the
 *		same probe, the hook is attached only if that event is recorded
 * @tp:		core-owned: the tracepoint, resolved at registration
 * @attached:	core-owned: @probe is registered on @tp
 *
 * The probe module fills @tracepoint, @probe and @data.
 */
struct kscribe_hook {
	const char *tracepoint;
	void *probe;
	void *data;
	struct tracepoint *tp;
	bool attached;
};

/*
 * KSCRIBE_CHECK_PROBE() - fail the build unless a probe fits its tracepoint
 * @name: the tracepoint, as in register_trace_<name>()
 * @probe: the probe function that a hook attaches to it through void *
 *
 * Not evaluated: it emits no reference to the tracepoint.
 */
#define KSCRIBE_CHECK_PROBE(name, probe) \
	BUILD_BUG_ON(sizeof(register_trace_##name(probe, NULL)) != sizeof(int))

/**
 * struct kscribe_probe - the events and hooks of one probe module
 * @name:	probe name; events are selected as "<name>:<event name>"
 * @events:	events of this probe
 * @nr_events:	number of entries in @events
 * @hooks:	hooks of this probe
 * @nr_hooks:	number of entries in @hooks
 * @owner:	module providing the probe functions (THIS_MODULE)
 * @list:	core-owned: entry in the core's probe list
 * @pinned:	core-owned: a running recording holds a reference to @owner
 */
struct kscribe_probe {
	const char *name;
	struct kscribe_event *events;
	unsigned int nr_events;
	struct kscribe_hook *hooks;
	unsigned int nr_hooks;
	struct module *owner;
	struct list_head list;
	bool pinned;
};

/**
 * struct kscribe_record - a record being written
 * @payload:	where the probe writes the payload, set by kscribe_record_begin()
 * @recording:	core-private
 * @rb_event:	core-private
 * @size:	core-private
 * @event:	core-private
 * @filter:	core-private: the event's filter, which kscribe_record_end() runs
 *		on the payload staged at @payload before reserving the record
 */
struct kscribe_record {
	void *payload;
	struct kscribe_recording *recording;
	struct ring_buffer_event *rb_event;
	unsigned int size;
	struct kscribe_event *event;
	const struct kscribe_filter_prog *filter;
};

int kscribe_probe_register(struct kscribe_probe *probe);
void kscribe_probe_unregister(struct kscribe_probe *probe);

bool __kscribe_record_begin(struct kscribe_event *event,
			    struct kscribe_recording *recording, size_t size,
			    struct kscribe_record *rec);
void kscribe_record_end(struct kscribe_record *rec);
void kscribe_event_lost(struct kscribe_event *event);
void kscribe_count_unreadable(struct kscribe_record *rec, unsigned int n);
void *kscribe_scratch_get(void);
void kscribe_scratch_put(void *buf);
bool kscribe_copy_user(void *dst, const void __user *src, size_t len);
size_t kscribe_copy_user_string(char *dst, const char __user *src, size_t size);

/**
 * kscribe_event_recorded - is the event recorded right now?
 * @event: the event
 *
 * Lets a probe skip costly preparation (copying user memory into
 * kscribe_scratch_get()) for an event that kscribe_record_begin() would refuse.
 *
 * Return: true while a running recording records @event.
 */
static __always_inline bool kscribe_event_recorded(const struct kscribe_event *event)
{
	return READ_ONCE(event->recording);
}

/**
 * kscribe_record_begin - reserve a record of an event
 * @event:	the event
 * @size:	payload bytes, at most KSCRIBE_PAYLOAD_MAX
 * @rec:	the record, filled in on success
 *
 * Called from probe functions, in the context of the traced code: process,
 * softirq, hardirq or NMI. Returns false, first thing and cheaply, when
 * @event is not recorded, and false when the buffer of this CPU has no room
 * (the event is counted as lost). On true, the probe writes @size bytes at
 * @rec->payload and calls kscribe_record_end(@rec) in the same context, soon
 * and without sleeping: preemption is disabled in between.
 *
 * Return: true if a record was reserved.
 */
static __always_inline bool kscribe_record_begin(struct kscribe_event *event,
						 size_t size,
						 struct kscribe_record *rec)
{
	struct kscribe_recording *recording = READ_ONCE(event->recording);

	if (!recording)
		return false;
	return __kscribe_record_begin(event, recording, size, rec);
}

extern bool kscribe_kptrs_hidden;

/**
 * kscribe_kptr - a kernel address as the running recording may record it
 * @addr: a pointer's value or a code address
 *
 * Kernel addresses defeat KASLR: a recording keeps them only if its starter
 * may read them in /proc/kallsyms (CAP_SYSLOG, kptr_restrict below 2), else
 * they are recorded as 0, as "%pK" prints them.
 *
 * Return: @addr, or 0.
 */
static __always_inline unsigned long kscribe_kptr(unsigned long addr)
{
	return READ_ONCE(kscribe_kptrs_hidden) ? 0 : addr;
}

/**
 * kscribe_string_or_null - a kernel string to record, or "(null)"
 * @s: the string, may be NULL
 *
 * A function rather than "s ?: ..." in generated code: @s may be an array
 * there, whose address is never NULL.
 *
 * Return: @s, or "(null)" when @s is NULL.
 */
static inline const char *kscribe_string_or_null(const char *s)
{
	return s ?: "(null)";
}

#endif /* _KSCRIBE_CORE_H */
