/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * kscribe: in-kernel API between the core module and the probe modules.
 *
 * A probe module instruments the tracepoints of one subsystem. It owns a
 * static array of struct kscribe_event inside a struct kscribe_probe and
 * hands it to kscribe_probe_register() in its init function and to
 * kscribe_probe_unregister() in its exit function. The core resolves the
 * tracepoints, allocates the per-CPU counters and attaches the probes.
 */
#ifndef _KSCRIBE_CORE_H
#define _KSCRIBE_CORE_H

#include <linux/list.h>
#include <linux/percpu.h>
#include <linux/types.h>

#define KSCRIBE_VERSION_MAJOR		0
#define KSCRIBE_VERSION_MINOR		1
#define KSCRIBE_VERSION_PATCHLEVEL	0

struct module;
struct tracepoint;

/**
 * struct kscribe_event - one tracepoint instrumented by a probe module
 * @name:	tracepoint name without the subsystem, e.g. "sched_switch"
 * @probe:	probe function: "void fn(void *data, <the tracepoint's TP_PROTO>)";
 *		the core registers it with @data pointing to this structure
 * @hits:	per-CPU hit counter; set by the core while registered
 * @tp:		the kernel's tracepoint; set by the core while registered
 *
 * The probe module only fills in @name and @probe.
 */
struct kscribe_event {
	const char *name;
	void *probe;
	u64 __percpu *hits;
	struct tracepoint *tp;
};

/**
 * struct kscribe_probe - the events of one tracepoint subsystem
 * @subsystem:	tracepoint subsystem (TRACE_SYSTEM), e.g. "sched"
 * @events:	events of this probe
 * @nr_events:	number of entries in @events
 * @owner:	module providing @events and the probe functions (THIS_MODULE)
 * @list:	entry in the core's probe list; owned by the core
 */
struct kscribe_probe {
	const char *subsystem;
	struct kscribe_event *events;
	unsigned int nr_events;
	struct module *owner;
	struct list_head list;
};

int kscribe_probe_register(struct kscribe_probe *probe);
void kscribe_probe_unregister(struct kscribe_probe *probe);

/**
 * kscribe_event_hit - count one hit of an event
 * @data: the data argument of the probe function
 *
 * Called from probe functions, in the context of the traced code: this
 * may be any context (NMI included), so no sleeping, no allocation and no
 * locks here, only a per-CPU increment.
 */
static inline void kscribe_event_hit(void *data)
{
	struct kscribe_event *event = data;

	this_cpu_inc(*event->hits);
}

#endif /* _KSCRIBE_CORE_H */
