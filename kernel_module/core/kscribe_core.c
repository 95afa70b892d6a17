// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe core: probe registry, recordings into the kernel's ring buffer,
 * and the /dev/kscribe device.
 *
 * Probe modules register events (what is recorded) and hooks (which
 * tracepoint calls which probe function). Every open file of /dev/kscribe
 * is a session with its own event selection and buffer settings; one
 * session at a time records. A recording owns one kernel ring buffer (one
 * buffer per CPU); the hooks of the probes it needs are attached when it
 * starts and detached when it stops, so an idle tracer costs nothing.
 * Userspace drains each CPU's buffer through a stream file descriptor,
 * also while the recording runs.
 */

#define pr_fmt(fmt) "kscribe: " fmt

#include <linux/anon_inodes.h>
#include <linux/bitmap.h>
#include <linux/blkdev.h>
#include <linux/capability.h>
#include <linux/cgroup.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/cred.h>
#include <linux/ctype.h>
#include <linux/dcache.h>
#include <linux/fcntl.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/glob.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/irqdesc.h>
#include <linux/kernel.h>
#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/nospec.h>
#include <linux/nsproxy.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/perf_event.h>
#include <linux/pid_namespace.h>
#include <linux/poll.h>
#include <linux/preempt.h>
#include <linux/ring_buffer.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/security.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/stringify.h>
#include <linux/timekeeping.h>
#include <linux/topology.h>
#include <linux/trace_clock.h>
#include <linux/tracepoint.h>
#include <linux/uaccess.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <asm/local64.h>
#include <net/net_namespace.h>
#include <uapi/linux/kscribe.h>

#include "kscribe_core.h"

#define KSCRIBE_VERSION_STRING				\
	__stringify(KSCRIBE_VERSION_MAJOR) "."		\
	__stringify(KSCRIBE_VERSION_MINOR) "."		\
	__stringify(KSCRIBE_VERSION_PATCHLEVEL)

/* Scratch buffers per CPU: task, softirq, hardirq, NMI. */
#define KSCRIBE_CONTEXTS	4

/* How often stream readers waiting in poll() or read() are woken up. */
#define KSCRIBE_TICK_MS		20

/* What probe and event names are made of. */
#define KSCRIBE_NAME_CHARS	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

/* Longest TSDL accepted for the fields of one event. */
#define KSCRIBE_FIELDS_MAX	65536

#define KSCRIBE_SYSCALL_FLAGS	(KSCRIBE_EVENT_SYSCALL_ENTRY | KSCRIBE_EVENT_SYSCALL_EXIT)
#define KSCRIBE_ENTRY_PREFIX	"syscall_entry_"
#define KSCRIBE_EXIT_PREFIX	"syscall_exit_"

/*
 * A page of the ring buffer as ring_buffer_read_page() hands it out, in the
 * layout tracefs gives user space in events/header_page: the timestamp its
 * events' deltas add to, the bytes of events (the high two bits flag lost
 * events, which the stream counts itself), then the events, aligned to 8
 * bytes on architectures without efficient unaligned 64-bit access and to 4
 * bytes elsewhere. A stream hands the events to its reader as they are,
 * each a struct kscribe_rb_event of the uapi header.
 */
#define KSCRIBE_RB_ALIGN	(IS_ENABLED(CONFIG_HAVE_64BIT_ALIGNED_ACCESS) ? 8 : 4)
#define KSCRIBE_RB_COMMIT_MASK	(BIT(30) - 1)
#define KSCRIBE_RB_DATA_MAX	(PAGE_SIZE - offsetof(struct kscribe_rb_page, data))

struct kscribe_rb_page {
	u64 time_stamp;
	local_t commit;
	u8 data[] __aligned(KSCRIBE_RB_ALIGN);
};

/*
 * The per-event contexts, KSCRIBE_CTX_* of the ABI: the name, type and size
 * KSCRIBE_IOCTL_CONTEXT_INFO reports, the C type kscribe_context_write()
 * stores.
 */
struct kscribe_context_desc {
	const char *name;
	u8 type;
	u8 size;
};

#define KSCRIBE_CTX(id, name, type, ctype)					\
	[KSCRIBE_CTX_##id] = { #name, KSCRIBE_TYPE_##type, sizeof(ctype) }

static const struct kscribe_context_desc kscribe_contexts[KSCRIBE_NR_CONTEXTS] = {
	KSCRIBE_CTX(TID, tid, SIGNED, s32),
	KSCRIBE_CTX(PID, pid, SIGNED, s32),
	KSCRIBE_CTX(PPID, ppid, SIGNED, s32),
	KSCRIBE_CTX(PROCNAME, procname, TEXT, char[TASK_COMM_LEN]),
	KSCRIBE_CTX(PRIO, prio, SIGNED, s32),
	KSCRIBE_CTX(UID, uid, UNSIGNED, u32),
	KSCRIBE_CTX(EUID, euid, UNSIGNED, u32),
	KSCRIBE_CTX(GID, gid, UNSIGNED, u32),
	KSCRIBE_CTX(PID_NS, pid_ns, UNSIGNED, u32),
	KSCRIBE_CTX(MNT_NS, mnt_ns, UNSIGNED, u32),
	KSCRIBE_CTX(NET_NS, net_ns, UNSIGNED, u32),
	KSCRIBE_CTX(CGROUP_NS, cgroup_ns, UNSIGNED, u32),
	KSCRIBE_CTX(IRQ_STATE, irq_state, UNSIGNED, u8),
	KSCRIBE_CTX(PREEMPT_COUNT, preempt_count, UNSIGNED, u32),
	KSCRIBE_CTX(NEED_RESCHED, need_resched, UNSIGNED, u8),
	KSCRIBE_CTX(PERF_CPU_CYCLES, perf_cpu_cycles, UNSIGNED, u64),
	KSCRIBE_CTX(PERF_INSTRUCTIONS, perf_instructions, UNSIGNED, u64),
	KSCRIBE_CTX(PERF_CACHE_MISSES, perf_cache_misses, UNSIGNED, u64),
	KSCRIBE_CTX(PERF_BRANCH_MISSES, perf_branch_misses, UNSIGNED, u64),
};

/* The perf counter contexts, the last ones, and the hardware event of each. */
#define KSCRIBE_CTX_PERF_FIRST	KSCRIBE_CTX_PERF_CPU_CYCLES
#define KSCRIBE_NR_PERF		(KSCRIBE_NR_CONTEXTS - KSCRIBE_CTX_PERF_FIRST)

static const u64 kscribe_perf_config[KSCRIBE_NR_PERF] = {
	PERF_COUNT_HW_CPU_CYCLES,
	PERF_COUNT_HW_INSTRUCTIONS,
	PERF_COUNT_HW_CACHE_MISSES,
	PERF_COUNT_HW_BRANCH_MISSES,
};

/*
 * Per-CPU counters of a recording; local64_t is NMI-safe on its own CPU.
 * @filtered counts the events a filter left out: they are not lost.
 */
struct kscribe_cpu_counters {
	local64_t written;
	local64_t dropped;
	local64_t bytes;
	local64_t unreadable;
	local64_t filtered;
};

/**
 * struct kscribe_recording - one recording and its buffers
 * @ref:	held by the session that started it and by each open stream
 * @buffer:	one kernel ring buffer per CPU
 * @counters:	events written, events that found no room, bytes written
 * @recorded:	ids of the recorded events (KSCRIBE_MAX_EVENTS bits)
 * @nr_recorded: number of bits set in @recorded
 * @streams:	CPUs with an open stream (nr_cpu_ids bits)
 * @wait:	stream readers wait here
 * @tick:	wakes the readers up while the recording runs
 * @size:	bytes per CPU
 * @mode:	KSCRIBE_MODE_DISCARD or KSCRIBE_MODE_OVERWRITE
 * @pid:	process that started it (a reference)
 * @start_ts:	trace clock at start
 * @stop_ts:	trace clock at stop
 * @stopped:	set, with release semantics, once no probe writes any more
 * @kptrs_hidden: kernel addresses are recorded as 0 (see kscribe_kptr())
 * @contexts:	the KSCRIBE_CTX_* bits recorded in every record
 * @context_size: their bytes in a record
 * @perf:	per-CPU counter of each perf context recorded, else NULL
 */
struct kscribe_recording {
	struct kref ref;
	struct trace_buffer *buffer;
	struct kscribe_cpu_counters __percpu *counters;
	unsigned long *recorded;
	unsigned int nr_recorded;
	unsigned long *streams;
	wait_queue_head_t wait;
	struct delayed_work tick;
	unsigned long size;
	u32 mode;
	struct pid *pid;
	u64 start_ts;
	u64 stop_ts;
	bool stopped;
	bool kptrs_hidden;
	u64 contexts;
	unsigned int context_size;
	struct perf_event * __percpu *perf[KSCRIBE_NR_PERF];
};

/**
 * struct kscribe_session - one open file of /dev/kscribe
 * @list:	entry in kscribe_sessions
 * @selected:	ids of the selected events (KSCRIBE_MAX_EVENTS bits)
 * @buffer_size: bytes per CPU of the next recording
 * @mode:	KSCRIBE_MODE_* of the next recording
 * @contexts:	KSCRIBE_CTX_* bits of the next recording
 * @filters:	its struct kscribe_filter_prog, one per filtered event
 * @recording:	the last recording this session started, or NULL
 */
struct kscribe_session {
	struct list_head list;
	unsigned long *selected;
	unsigned long buffer_size;
	u32 mode;
	u64 contexts;
	struct list_head filters;
	struct kscribe_recording *recording;
};

/**
 * struct kscribe_stream - reader of one CPU's buffer of a recording
 * @recording:	the recording (a reference is held)
 * @cpu:	the CPU
 * @lock:	serializes readers of this file
 * @dropped_seen: the recording's dropped count of @cpu already reported
 * @overrun_seen: the ring buffer's overrun count of @cpu already reported
 * @page:	the last ring buffer page taken out of @cpu's buffer: a page at
 *		a time, since taking one event at a time out of the buffer
 *		(ring_buffer_consume()) costs a locked, interrupts-off call per
 *		event, and handed to the reader as is, since formatting each
 *		event costs more than copying it. NULL until the first read
 * @events:	@page's events
 * @held:	the header of the record of @page and the losses before it,
 *		when a read() had no room for it or could not write it: the next
 *		read() starts with it
 * @holding:	@held is still to read
 */
struct kscribe_stream {
	struct kscribe_recording *recording;
	unsigned int cpu;
	struct mutex lock;		/* serializes the readers of this stream */
	u64 dropped_seen;
	unsigned long overrun_seen;
	struct buffer_data_read_page *page;
	const u8 *events;
	struct kscribe_page_header held;
	bool holding;
};

/*
 * kscribe_lock protects the probe list, the sessions and their selections,
 * the event ids, the running recording and the attached state of hooks.
 * Nothing on the record path takes it.
 */
static DEFINE_MUTEX(kscribe_lock);
static LIST_HEAD(kscribe_probes);
static LIST_HEAD(kscribe_sessions);
static DEFINE_IDA(kscribe_ids);
static struct kscribe_recording *kscribe_running;
static struct kscribe_session *kscribe_running_session;

/*
 * A CPU's scratch buffers, two per context: the probes' (kscribe_scratch_get())
 * and the core's, where a filtered event's payload is staged. Which are taken.
 */
struct kscribe_scratch {
	u8 *area;
	bool busy[2 * KSCRIBE_CONTEXTS];
};

static DEFINE_PER_CPU(struct kscribe_scratch, kscribe_scratch);

/* Kernel addresses are recorded as 0 by the running recording: kscribe_kptr(). */
bool kscribe_kptrs_hidden;
EXPORT_SYMBOL_GPL(kscribe_kptrs_hidden);

/* ---- older kernels: the in-tree rendering leaves this section out ---- */

/*
 * ring_buffer_unlock_commit() takes the event up to 6.1 and only the buffer
 * since: call it with the arguments of the prototype at hand. This tests
 * the type of the function, not the kernel version; the call that does not
 * match is discarded unevaluated, and the other compiles to a direct call.
 */
#define KSCRIBE_COMMIT_TAKES_EVENT						\
	__builtin_types_compatible_p(typeof(ring_buffer_unlock_commit),			\
				     int (struct trace_buffer *, struct ring_buffer_event *))

static __always_inline void kscribe_rb_commit(struct trace_buffer *buffer,
					      struct ring_buffer_event *event)
{
	void *commit = ring_buffer_unlock_commit;

	__builtin_choose_expr(KSCRIBE_COMMIT_TAKES_EVENT,
			      ((int (*)(struct trace_buffer *, struct ring_buffer_event *))
			       commit)(buffer, event),
			      ((int (*)(struct trace_buffer *))commit)(buffer));
}

/*
 * The ring buffer's page reader up to 6.7: a read page is its data, which
 * ring_buffer_read_page() may swap for another through a void **. Since
 * 6.8 it is a descriptor (struct buffer_data_read_page), allocated into a
 * pointer and passed as is, whose data ring_buffer_read_page_data() gives.
 * As above, the type of a function picks the call, not the version; the
 * stream holds either kind as a struct buffer_data_read_page *.
 */
#define KSCRIBE_READ_PAGE_IS_DATA						\
	__builtin_types_compatible_p(typeof(ring_buffer_alloc_read_page),		\
				     void *(struct trace_buffer *, int))
#define KSCRIBE_READ_PAGE_IS_DESCRIPTOR						\
	__builtin_types_compatible_p(typeof(ring_buffer_alloc_read_page),		\
				     int (struct trace_buffer *, int,			\
					  struct buffer_data_read_page **))

static int kscribe_rb_page_alloc(struct trace_buffer *buffer, int cpu,
				 struct buffer_data_read_page **page)
{
	void *alloc = ring_buffer_alloc_read_page;
	void *data;

	BUILD_BUG_ON(!KSCRIBE_READ_PAGE_IS_DATA && !KSCRIBE_READ_PAGE_IS_DESCRIPTOR);
	if (KSCRIBE_READ_PAGE_IS_DESCRIPTOR)
		return ((int (*)(struct trace_buffer *, int, struct buffer_data_read_page **))
			alloc)(buffer, cpu, page);
	data = ((void *(*)(struct trace_buffer *, int))alloc)(buffer, cpu);
	if (IS_ERR(data))
		return PTR_ERR(data);
	*page = data;
	return 0;
}

static int kscribe_rb_page_read(struct trace_buffer *buffer,
				struct buffer_data_read_page **page, size_t len, int cpu,
				int full)
{
	void *read = ring_buffer_read_page;

	if (KSCRIBE_READ_PAGE_IS_DESCRIPTOR)
		return ((int (*)(struct trace_buffer *, struct buffer_data_read_page *, size_t,
				 int, int))read)(buffer, *page, len, cpu, full);
	return ((int (*)(struct trace_buffer *, void **, size_t, int, int))read)
		(buffer, (void **)page, len, cpu, full);
}

static void *kscribe_rb_page_data(struct buffer_data_read_page *page)
{
	return __builtin_choose_expr(KSCRIBE_READ_PAGE_IS_DESCRIPTOR,
				     ring_buffer_read_page_data(page), (void *)page);
}

/* ---- record path: any context, no locks, no allocation, no sleeping ---- */

static unsigned int notrace kscribe_context(void)
{
	if (in_nmi())
		return 3;
	if (hardirq_count())
		return 2;
	if (in_serving_softirq())
		return 1;
	return 0;
}

/* ---- per-event contexts: read as the record is reserved, in any context ---- */

#ifdef CONFIG_PERF_EVENTS
/* A pinned counter of perf context @k on @cpu (may sleep). */
static struct perf_event *kscribe_perf_create(unsigned int k, int cpu)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_HARDWARE,
		.size = sizeof(attr),
		.config = kscribe_perf_config[k],
		.pinned = 1,
	};

	return perf_event_create_kernel_counter(&attr, cpu, NULL, NULL, NULL);
}

/*
 * The count of perf context @k on this CPU. The counter is pinned to the
 * CPU, so its PMU reads it here without locks, also in NMI.
 */
static u64 notrace kscribe_perf_read(const struct kscribe_recording *recording,
				     unsigned int k)
{
	struct perf_event *event = *this_cpu_ptr(recording->perf[k]);

	if (!event)
		return 0;
	event->pmu->read(event);
	return local64_read(&event->count);
}

static void kscribe_perf_release(struct perf_event *event)
{
	perf_event_release_kernel(event);
}
#else
static struct perf_event *kscribe_perf_create(unsigned int k, int cpu)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static u64 notrace kscribe_perf_read(const struct kscribe_recording *recording,
				     unsigned int k)
{
	return 0;
}

static void kscribe_perf_release(struct perf_event *event)
{
}
#endif

/* Can context @id be recorded here? A perf one needs the CPU's PMU to count it. */
static bool kscribe_context_available(unsigned int id)
{
	struct perf_event *event;

	if (id < KSCRIBE_CTX_PERF_FIRST)
		return true;
	event = kscribe_perf_create(id - KSCRIBE_CTX_PERF_FIRST, raw_smp_processor_id());
	if (IS_ERR(event))
		return false;
	kscribe_perf_release(event);
	return true;
}

/* The inode number of the pid namespace of @task, 0 once it has exited. */
static u32 notrace kscribe_pid_ns_inum(struct task_struct *task)
{
	struct pid_namespace *pid_ns = task_active_pid_ns(task);

	return pid_ns ? pid_ns->ns.inum : 0;
}

/* The inode number of namespace @id (mount, network, cgroup) of @nsproxy, if any. */
static u32 notrace kscribe_nsproxy_inum(const struct nsproxy *nsproxy, unsigned int id)
{
	if (!nsproxy)
		return 0;
	switch (id) {
	case KSCRIBE_CTX_MNT_NS:
		/* struct mnt_namespace is private to fs/; it starts with its ns_common */
		return nsproxy->mnt_ns ? ((struct ns_common *)nsproxy->mnt_ns)->inum : 0;
	case KSCRIBE_CTX_NET_NS:
		return nsproxy->net_ns->ns.inum;
	default:
		return nsproxy->cgroup_ns->ns.inum;
	}
}

/*
 * The inode number of a namespace of the current task. Only the task
 * itself replaces its nsproxy, so its own are stable here; they are gone
 * (NULL) once it exits.
 */
static u32 notrace kscribe_ns_inum(unsigned int id)
{
	if (id == KSCRIBE_CTX_PID_NS)
		return kscribe_pid_ns_inum(current);
	return kscribe_nsproxy_inum(current->nsproxy, id);
}

/* Store the low @size bytes' worth of @value at @dst, in CPU byte order. */
static __always_inline void kscribe_put(u8 *dst, u64 value, unsigned int size)
{
	u32 v32 = value;

	if (size == sizeof(u64))
		memcpy(dst, &value, sizeof(value));
	else if (size == sizeof(u32))
		memcpy(dst, &v32, sizeof(v32));
	else
		*dst = value;
}

/*
 * The value of integer context @id of the current task: its own fields, RCU
 * for its parent, its counters (the recording's, for a perf context).
 */
static u64 notrace kscribe_context_value(const struct kscribe_recording *recording,
					 unsigned int id)
{
	struct task_struct *task = current;
	u64 value;

	switch (id) {
	case KSCRIBE_CTX_TID:
		return task_pid_nr(task);
	case KSCRIBE_CTX_PID:
		return task_tgid_nr(task);
	case KSCRIBE_CTX_PPID:
		rcu_read_lock();
		value = task_tgid_nr(rcu_dereference(task->real_parent));
		rcu_read_unlock();
		return value;
	case KSCRIBE_CTX_PRIO:
		return task->prio - MAX_RT_PRIO;
	case KSCRIBE_CTX_UID:
		return from_kuid_munged(&init_user_ns, current_uid());
	case KSCRIBE_CTX_EUID:
		return from_kuid_munged(&init_user_ns, current_euid());
	case KSCRIBE_CTX_GID:
		return from_kgid_munged(&init_user_ns, current_gid());
	case KSCRIBE_CTX_PID_NS:
	case KSCRIBE_CTX_MNT_NS:
	case KSCRIBE_CTX_NET_NS:
	case KSCRIBE_CTX_CGROUP_NS:
		return kscribe_ns_inum(id);
	case KSCRIBE_CTX_IRQ_STATE:
		return kscribe_context();
	case KSCRIBE_CTX_PREEMPT_COUNT:
		/* less the record path's own preempt_disable_notrace() */
		return preempt_count() - IS_ENABLED(CONFIG_PREEMPT_COUNT);
	case KSCRIBE_CTX_NEED_RESCHED:
		return test_tsk_need_resched(task);
	default:
		return kscribe_perf_read(recording, id - KSCRIBE_CTX_PERF_FIRST);
	}
}

/* @task's name, NUL-terminated, at @dst (TASK_COMM_LEN bytes). */
static __always_inline void kscribe_procname(char *dst, const struct task_struct *task)
{
	memcpy(dst, task->comm, TASK_COMM_LEN - 1);
	dst[TASK_COMM_LEN - 1] = '\0';
}

/*
 * Write the recording's contexts at @dst, in KSCRIBE_CTX_* order, packed.
 * They describe the current task (the interrupted one in an interrupt) and
 * are read without locks.
 */
static void notrace kscribe_context_write(const struct kscribe_recording *recording, u8 *dst)
{
	u64 mask = recording->contexts;
	unsigned int id;

	for (; mask; mask &= mask - 1, dst += kscribe_contexts[id].size) {
		id = __ffs64(mask);
		if (id == KSCRIBE_CTX_PROCNAME)
			kscribe_procname(dst, current);
		else
			kscribe_put(dst, kscribe_context_value(recording, id),
				    kscribe_contexts[id].size);
	}
}

/* Take scratch slot @first + this context of this CPU, or NULL if taken. */
static notrace void *kscribe_slot_get(unsigned int first)
{
	struct kscribe_scratch *scratch = this_cpu_ptr(&kscribe_scratch);
	unsigned int slot = first + kscribe_context();

	if (scratch->busy[slot])
		return NULL;
	scratch->busy[slot] = true;
	barrier();
	return scratch->area + slot * KSCRIBE_SCRATCH_SIZE;
}

/**
 * kscribe_scratch_get - take the scratch buffer of this CPU and context
 *
 * Returns KSCRIBE_SCRATCH_SIZE bytes that belong to the current CPU and
 * context (task, softirq, hardirq, NMI) until kscribe_scratch_put(), e.g.
 * to copy user memory with copy_from_user_nofault() before reserving a
 * record of the exact size. The caller must not be preemptible: probes of
 * faultable syscall tracepoints (6.13+), and from 7.2 of every tracepoint,
 * run preemptible and must disable preemption around the use (a warning,
 * and NULL, otherwise).
 *
 * A probe that runs while another probe of the same context on this CPU
 * holds the buffer (a tracepoint hit from inside a probe) gets NULL: the
 * buffer is never handed out twice.
 *
 * Return: the buffer, or NULL when it is in use.
 */
notrace void *kscribe_scratch_get(void)
{
	/* 7.2 runs even ordinary tracepoints preemptible: the caller must not be */
	if (WARN_ON_ONCE(preemptible()))
		return NULL;
	return kscribe_slot_get(0);
}
EXPORT_SYMBOL_GPL(kscribe_scratch_get);

/**
 * kscribe_scratch_put - give back a buffer of kscribe_scratch_get()
 * @buf: the buffer, in the same context and on the same CPU
 */
void notrace kscribe_scratch_put(void *buf)
{
	struct kscribe_scratch *scratch = this_cpu_ptr(&kscribe_scratch);

	barrier();
	scratch->busy[((u8 *)buf - scratch->area) / KSCRIBE_SCRATCH_SIZE] = false;
}
EXPORT_SYMBOL_GPL(kscribe_scratch_put);

/**
 * kscribe_copy_user - copy user memory in any context, zeros if it faults
 * @dst:	kernel buffer of @len bytes
 * @src:	user address
 * @len:	bytes to copy
 *
 * For probe functions: never sleeps, never takes a page fault. Memory that
 * is not mapped right now reads as zeros, so that the record stays well
 * formed.
 *
 * Return: true if the bytes were copied, false if @dst was zeroed.
 */
bool notrace kscribe_copy_user(void *dst, const void __user *src, size_t len)
{
	if (!copy_from_user_nofault(dst, src, len))
		return true;
	memset(dst, 0, len);
	return false;
}
EXPORT_SYMBOL_GPL(kscribe_copy_user);

/* A user string is copied in pieces of this many bytes: paths and names are mostly shorter. */
#define KSCRIBE_STRING_PIECE	64

/**
 * kscribe_copy_user_string - copy a user string in any context, bounded
 * @dst:	kernel buffer of @size bytes
 * @src:	user address of a NUL-terminated string
 * @size:	most bytes stored in @dst, the terminating NUL included
 *
 * strncpy_from_user_nofault() is not exported to modules: this copies
 * with copy_from_user_nofault() in pieces of KSCRIBE_STRING_PIECE bytes
 * that never cross a page, and stops at the piece that holds the NUL. A
 * short string costs one small copy, and one ending just before an
 * unmapped page is still read whole. A string longer than @size - 1 bytes
 * is cut there, as is one that runs into a page that is not resident.
 *
 * Return: bytes stored in @dst, the terminating NUL included, or 0 when
 * not even the first byte was resident (@dst is then "").
 */
size_t notrace kscribe_copy_user_string(char *dst, const char __user *src, size_t size)
{
	size_t done = 0;

	if (!size)
		return 0;
	while (done < size) {
		size_t piece = min3(size - done, (size_t)KSCRIBE_STRING_PIECE,
				    (size_t)(PAGE_SIZE - offset_in_page(src + done)));
		char *end;

		if (copy_from_user_nofault(dst + done, src + done, piece))
			break;
		end = memchr(dst + done, '\0', piece);
		if (end)
			return end - dst + 1;
		done += piece;
	}
	if (!done) {
		/* not even the first byte is resident */
		dst[0] = '\0';
		return 0;
	}
	/* too long, or cut by a page that is not resident */
	if (done == size)
		done--;
	dst[done] = '\0';
	return done + 1;
}
EXPORT_SYMBOL_GPL(kscribe_copy_user_string);

/* ---- filters: checked once when set, run before a record is reserved ---- */

/**
 * struct kscribe_filter_prog - the checked filter program of one event
 * @list:	entry in its session's filters
 * @id:		the event's id
 * @nr_insns:	instructions in @insns, the last one the only KSCRIBE_OP_RET
 * @pool_size:	bytes of @pool
 * @pool:	the globs KSCRIBE_OP_MATCH reads, after @insns
 * @insns:	the program
 */
struct kscribe_filter_prog {
	struct list_head list;
	u32 id;
	u32 nr_insns;
	u32 pool_size;
	const char *pool;
	struct kscribe_filter_insn insns[];
};

static bool kscribe_is_fixed(const struct kscribe_field *f)
{
	return f->kind == KSCRIBE_FIELD_INT || f->kind == KSCRIBE_FIELD_TEXT ||
	       f->kind == KSCRIBE_FIELD_BYTES;
}

/* An integer field of @size bytes, sign-extended if signed. */
static u64 notrace kscribe_load_int(const u8 *p, const struct kscribe_field *f)
{
	u16 v16;
	u32 v32;
	u64 v64;

	switch (f->size) {
	case 1:
		return f->is_signed ? (u64)(s8)*p : *p;
	case 2:
		memcpy(&v16, p, sizeof(v16));
		return f->is_signed ? (u64)(s16)v16 : v16;
	case 4:
		memcpy(&v32, p, sizeof(v32));
		return f->is_signed ? (u64)(s32)v32 : v32;
	default:
		memcpy(&v64, p, sizeof(v64));
		return v64;
	}
}

/* Integer field @index of the fixed part: checked to be one when the filter was set. */
static u64 notrace kscribe_fixed_int(const struct kscribe_event *event, const u8 *payload,
				     size_t size, unsigned int index)
{
	size_t at = 0;
	unsigned int i;

	for (i = 0; i < index; i++)
		at += event->layout[i].size;
	if (at + event->layout[index].size > size)
		return 0;
	return kscribe_load_int(payload + at, &event->layout[index]);
}

/*
 * Where field @index is in a payload of @size bytes, with its length in
 * @len; NULL if the record does not hold it (a string not recorded, or a
 * payload shorter than its layout says).
 */
static const u8 *notrace kscribe_field_at(const struct kscribe_event *event, const u8 *payload,
					  size_t size, unsigned int index, size_t *len)
{
	const struct kscribe_field *f;
	size_t at = 0, n = 0;
	unsigned int i;

	for (i = 0; i <= index; i++, at += n) {
		f = &event->layout[i];
		if (f->kind == KSCRIBE_FIELD_STRING) {
			if (f->ref && kscribe_fixed_int(event, payload, size, f->ref - 1))
				n = 0;
			else if (at < size)
				n = strnlen((const char *)payload + at, size - at) + 1;
			else
				return NULL;
		} else if (f->kind == KSCRIBE_FIELD_SEQUENCE) {
			n = kscribe_fixed_int(event, payload, size, f->ref) * f->size;
		} else {
			n = f->size;
		}
		if (at + n > size)
			return NULL;
	}
	*len = n;
	return n || f->kind != KSCRIBE_FIELD_STRING ? payload + at - n : NULL;
}

/* Does the text that @insn names match the glob at its pool offset? */
static bool notrace kscribe_filter_match(const struct kscribe_filter_prog *prog,
					 const struct kscribe_filter_insn *insn,
					 const struct kscribe_event *event,
					 const u8 *payload, size_t size)
{
	char text[KSCRIBE_NAME_LEN];
	const char *str = text;
	const u8 *p;
	size_t len;

	if (insn->arg) {
		kscribe_procname(text, current);
	} else {
		p = kscribe_field_at(event, payload, size, insn->index, &len);
		if (!p)
			return false;
		if (event->layout[insn->index].kind == KSCRIBE_FIELD_STRING) {
			str = (const char *)p;
		} else {
			/* a text array is NUL-padded, not always NUL-terminated */
			len = strnlen((const char *)p, min(len, sizeof(text) - 1));
			memcpy(text, p, len);
			text[len] = '\0';
		}
	}
	return glob_match(prog->pool + insn->imm, str);
}

static bool notrace kscribe_compare(u8 op, bool is_signed, u64 a, u64 b)
{
	switch (op) {
	case KSCRIBE_OP_EQ:
		return a == b;
	case KSCRIBE_OP_NE:
		return a != b;
	case KSCRIBE_OP_LT:
		return is_signed ? (s64)a < (s64)b : a < b;
	case KSCRIBE_OP_LE:
		return is_signed ? (s64)a <= (s64)b : a <= b;
	case KSCRIBE_OP_GT:
		return is_signed ? (s64)a > (s64)b : a > b;
	default:
		return is_signed ? (s64)a >= (s64)b : a >= b;
	}
}

/*
 * Run @prog over a staged payload of @event. The program was checked when
 * it was set (kscribe_filter_check()): every access is typed and in range,
 * the stack stays within bounds and the jumps go forward, so this ends after
 * at most nr_insns steps.
 */
static bool notrace kscribe_filter_run(const struct kscribe_filter_prog *prog,
				       const struct kscribe_event *event,
				       const u8 *payload, size_t size)
{
	u64 stack[KSCRIBE_FILTER_STACK_MAX];
	const struct kscribe_filter_insn *insn;
	unsigned int pc, sp = 0;
	const u8 *p;
	size_t len;
	bool jump;

	for (pc = 0; pc < prog->nr_insns; pc++) {
		insn = &prog->insns[pc];
		switch (insn->op) {
		case KSCRIBE_OP_RET:
			return stack[0];
		case KSCRIBE_OP_FIELD:
			p = kscribe_field_at(event, payload, size, insn->index, &len);
			stack[sp++] = p ? kscribe_load_int(p, &event->layout[insn->index]) : 0;
			break;
		case KSCRIBE_OP_CONTEXT:
			stack[sp++] = kscribe_context_value(NULL, insn->index);
			break;
		case KSCRIBE_OP_CONST:
			stack[sp++] = (s64)insn->imm;
			break;
		case KSCRIBE_OP_CONST_HI:
			stack[sp - 1] = lower_32_bits(stack[sp - 1]) | (u64)(u32)insn->imm << 32;
			break;
		case KSCRIBE_OP_MATCH:
			stack[sp++] = kscribe_filter_match(prog, insn, event, payload, size);
			break;
		case KSCRIBE_OP_NOT:
			stack[sp - 1] = !stack[sp - 1];
			break;
		case KSCRIBE_OP_AND:
		case KSCRIBE_OP_OR:
			jump = insn->op == KSCRIBE_OP_AND ? !stack[sp - 1] : stack[sp - 1];
			if (jump)
				pc += insn->imm - 1;	/* the result: leave it */
			else
				sp--;
			break;
		default:
			sp--;
			stack[sp - 1] = kscribe_compare(insn->op, insn->arg, stack[sp - 1],
							stack[sp]);
			break;
		}
	}
	return false;
}

/* Fixed fields first, integers of 1, 2, 4 or 8 bytes, references to earlier integers. */
static bool kscribe_layout_ok(const struct kscribe_event *event)
{
	const struct kscribe_field *f;
	bool variable = false;
	unsigned int i, ref;

	for (i = 0; i < event->nr_fields; i++) {
		f = &event->layout[i];
		if (f->kind > KSCRIBE_FIELD_SEQUENCE)
			return false;
		if (!kscribe_is_fixed(f))
			variable = true;
		else if (variable)
			return false;
		if (f->kind == KSCRIBE_FIELD_INT && (f->size > 8 || !is_power_of_2(f->size)))
			return false;
		if (f->kind == KSCRIBE_FIELD_SEQUENCE)
			ref = f->ref;
		else if (f->kind == KSCRIBE_FIELD_STRING && f->ref)
			ref = f->ref - 1;
		else
			continue;
		if (ref >= i || event->layout[ref].kind != KSCRIBE_FIELD_INT)
			return false;
	}
	return true;
}

/* Is @insn's text a field or the procname context, and its glob in the pool? */
static bool kscribe_match_ok(const struct kscribe_filter_prog *prog,
			     const struct kscribe_filter_insn *insn,
			     const struct kscribe_event *event)
{
	u8 kind;

	if (insn->imm < 0 || insn->imm >= prog->pool_size ||
	    strnlen(prog->pool + insn->imm, prog->pool_size - insn->imm) ==
	    prog->pool_size - insn->imm)
		return false;
	if (insn->arg > 1)
		return false;
	if (insn->arg)
		return insn->index == KSCRIBE_CTX_PROCNAME;
	if (insn->index >= event->nr_fields)
		return false;
	kind = event->layout[insn->index].kind;
	return kind == KSCRIBE_FIELD_STRING || kind == KSCRIBE_FIELD_TEXT;
}

/*
 * Check @prog against @event's fields once, when it is set, so that
 * kscribe_filter_run() needs no checks: known opcodes, typed field and
 * context reads in range, globs inside the pool, a stack within
 * KSCRIBE_FILTER_STACK_MAX that holds one value at the RET (the last
 * instruction, and the only one), forward jumps that land where the stack
 * has the depth it has when jumping.
 */
static int kscribe_filter_check(const struct kscribe_filter_prog *prog,
				const struct kscribe_event *event)
{
	u8 depth[KSCRIBE_FILTER_INSNS_MAX] = { };	/* 1 + the depth a jump lands with */
	const struct kscribe_filter_insn *insn;
	unsigned int pc, sp = 0, pops, pushes;
	bool ok;

	if (!kscribe_layout_ok(event))
		return -EINVAL;
	for (pc = 0; pc < prog->nr_insns; pc++) {
		insn = &prog->insns[pc];
		if (depth[pc] && depth[pc] - 1 != sp)
			return -EINVAL;
		pops = 0;
		pushes = 1;
		ok = !insn->arg && !insn->index;
		switch (insn->op) {
		case KSCRIBE_OP_RET:
			ok &= pc == prog->nr_insns - 1 && sp == 1 && !insn->imm;
			pushes = 0;
			break;
		case KSCRIBE_OP_FIELD:
			ok = !insn->arg && !insn->imm && insn->index < event->nr_fields &&
			     event->layout[insn->index].kind == KSCRIBE_FIELD_INT;
			break;
		case KSCRIBE_OP_CONTEXT:
			ok = !insn->arg && !insn->imm && insn->index < KSCRIBE_CTX_PERF_FIRST &&
			     kscribe_contexts[insn->index].type != KSCRIBE_TYPE_TEXT;
			break;
		case KSCRIBE_OP_CONST:
			break;
		case KSCRIBE_OP_CONST_HI:
		case KSCRIBE_OP_NOT:
			ok &= insn->op == KSCRIBE_OP_CONST_HI || !insn->imm;
			pops = 1;
			break;
		case KSCRIBE_OP_EQ:
		case KSCRIBE_OP_NE:
		case KSCRIBE_OP_LT:
		case KSCRIBE_OP_LE:
		case KSCRIBE_OP_GT:
		case KSCRIBE_OP_GE:
			ok = insn->arg <= 1 && !insn->index && !insn->imm;
			pops = 2;
			break;
		case KSCRIBE_OP_MATCH:
			ok = kscribe_match_ok(prog, insn, event);
			break;
		case KSCRIBE_OP_AND:
		case KSCRIBE_OP_OR:
			/* the jump keeps the value; going on pops it */
			ok &= insn->imm > 0 && insn->imm < prog->nr_insns - pc && sp >= 1;
			if (!ok || (depth[pc + insn->imm] && depth[pc + insn->imm] != sp + 1))
				return -EINVAL;
			depth[pc + insn->imm] = sp + 1;
			pops = 1;
			pushes = 0;
			break;
		default:
			return -EINVAL;
		}
		if (!ok || sp < pops || sp - pops + pushes > KSCRIBE_FILTER_STACK_MAX)
			return -EINVAL;
		sp += pushes - pops;
	}
	/* the last instruction is a RET: it alone checked for sp == 1 */
	return prog->nr_insns && prog->insns[prog->nr_insns - 1].op == KSCRIBE_OP_RET ?
	       0 : -EINVAL;
}

/* The session's filter of event @id, or NULL. */
static struct kscribe_filter_prog *kscribe_session_filter(const struct kscribe_session *session,
							  u32 id)
{
	struct kscribe_filter_prog *prog;

	list_for_each_entry(prog, &session->filters, list) {
		if (prog->id == id)
			return prog;
	}
	return NULL;
}

static void kscribe_filter_drop(struct kscribe_session *session, u32 id)
{
	struct kscribe_filter_prog *prog = kscribe_session_filter(session, id);

	if (prog) {
		list_del(&prog->list);
		kfree(prog);
	}
}

/**
 * __kscribe_record_begin - reserve a record; see kscribe_record_begin()
 * @event:	the event, recorded by @recording
 * @recording:	the running recording
 * @size:	payload bytes
 * @rec:	the record, filled in on success
 *
 * The recording's contexts go first, then @size bytes for the probe. The
 * payload of an event with a filter is staged in this CPU's scratch instead,
 * for kscribe_record_end() to filter.
 *
 * Return: true with preemption disabled if a record was reserved, else
 * false (the event is counted as lost on this CPU).
 */
bool notrace __kscribe_record_begin(struct kscribe_event *event,
				    struct kscribe_recording *recording, size_t size,
				    struct kscribe_record *rec)
{
	struct kscribe_event_header *header;
	struct ring_buffer_event *rb_event;

	size_t total = recording->context_size + size;
	const struct kscribe_filter_prog *filter;

	preempt_disable_notrace();
	this_cpu_inc(*event->hits);
	if (unlikely(total > KSCRIBE_PAYLOAD_MAX))
		goto lost;
	/* a filtered event is staged: one its filter leaves out takes no space */
	filter = READ_ONCE(event->filter);
	if (filter) {
		rec->payload = kscribe_slot_get(KSCRIBE_CONTEXTS);
		if (unlikely(!rec->payload))
			goto lost;
		rec->filter = filter;
		rec->event = event;
		rec->recording = recording;
		rec->size = size;
		return true;
	}
	rec->filter = NULL;
	/* NULL when full (discard mode), too deeply nested, or in NMI where unsafe */
	rb_event = ring_buffer_lock_reserve(recording->buffer, sizeof(*header) + total);
	if (unlikely(!rb_event))
		goto lost;
	header = ring_buffer_event_data(rb_event);
	header->id = event->id;
	header->size = total;
	if (recording->contexts)
		kscribe_context_write(recording, (u8 *)(header + 1));
	rec->payload = (u8 *)(header + 1) + recording->context_size;
	rec->recording = recording;
	rec->rb_event = rb_event;
	rec->size = sizeof(*header) + total;
	return true;

lost:
	local64_inc(&this_cpu_ptr(recording->counters)->dropped);
	preempt_enable_notrace();
	return false;
}
EXPORT_SYMBOL_GPL(__kscribe_record_begin);

/**
 * kscribe_event_lost - count a hit of an event that could not be recorded
 * @event: the event, e.g. its probe found the scratch buffer taken
 *
 * Counted as kscribe_record_begin() counts a record the buffer had no room
 * for, so that the loss counts stay exact.
 */
void notrace kscribe_event_lost(struct kscribe_event *event)
{
	struct kscribe_recording *recording = READ_ONCE(event->recording);

	if (!recording)
		return;
	preempt_disable_notrace();
	this_cpu_inc(*event->hits);
	local64_inc(&this_cpu_ptr(recording->counters)->dropped);
	preempt_enable_notrace();
}
EXPORT_SYMBOL_GPL(kscribe_event_lost);

/**
 * kscribe_count_unreadable - count the user strings a record marks as not resident
 * @rec:	the record, between kscribe_record_begin() and kscribe_record_end()
 * @n:		how many of its strings could not be read
 */
void notrace kscribe_count_unreadable(struct kscribe_record *rec, unsigned int n)
{
	local64_add(n, &this_cpu_ptr(rec->recording->counters)->unreadable);
}
EXPORT_SYMBOL_GPL(kscribe_count_unreadable);

/*
 * Filter a staged record, then reserve it with the recording's contexts and
 * copy the payload in. Return: true if it is reserved, to be committed.
 */
static bool notrace kscribe_record_staged(struct kscribe_record *rec,
					  struct kscribe_cpu_counters *counters)
{
	struct kscribe_recording *recording = rec->recording;
	size_t total = recording->context_size + rec->size;
	struct kscribe_event_header *header;
	bool reserved = false;

	if (!kscribe_filter_run(rec->filter, rec->event, rec->payload, rec->size)) {
		local64_inc(&counters->filtered);
		goto out;
	}
	rec->rb_event = ring_buffer_lock_reserve(recording->buffer, sizeof(*header) + total);
	if (unlikely(!rec->rb_event)) {
		local64_inc(&counters->dropped);
		goto out;
	}
	header = ring_buffer_event_data(rec->rb_event);
	header->id = rec->event->id;
	header->size = total;
	if (recording->contexts)
		kscribe_context_write(recording, (u8 *)(header + 1));
	memcpy((u8 *)(header + 1) + recording->context_size, rec->payload, rec->size);
	rec->size = sizeof(*header) + total;
	reserved = true;
out:
	kscribe_scratch_put(rec->payload);
	return reserved;
}

/**
 * kscribe_record_end - commit a record reserved by kscribe_record_begin()
 * @rec: the record
 */
void notrace kscribe_record_end(struct kscribe_record *rec)
{
	struct kscribe_cpu_counters *counters = this_cpu_ptr(rec->recording->counters);

	if (rec->filter && !kscribe_record_staged(rec, counters)) {
		preempt_enable_notrace();
		return;
	}
	kscribe_rb_commit(rec->recording->buffer, rec->rb_event);
	local64_inc(&counters->written);
	local64_add(rec->size, &counters->bytes);
	preempt_enable_notrace();
}
EXPORT_SYMBOL_GPL(kscribe_record_end);

/* ---- probe registry ---- */

static u64 kscribe_event_hits(const struct kscribe_event *event)
{
	u64 total = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		total += *per_cpu_ptr(event->hits, cpu);
	return total;
}

/* "syscall_entry_" or "syscall_exit_" for a syscall event, else NULL. */
static const char *kscribe_syscall_prefix(const struct kscribe_event *event)
{
	if (event->flags & KSCRIBE_EVENT_SYSCALL_ENTRY)
		return KSCRIBE_ENTRY_PREFIX;
	if (event->flags & KSCRIBE_EVENT_SYSCALL_EXIT)
		return KSCRIBE_EXIT_PREFIX;
	return NULL;
}

/*
 * The system call name of a syscall event, else NULL. Events of a compat
 * ABI put the ABI first: "ia32_syscall_entry_openat" is "openat" too.
 */
static const char *kscribe_syscall_name(const struct kscribe_event *event)
{
	const char *prefix = kscribe_syscall_prefix(event);
	const char *at;

	if (!prefix)
		return NULL;
	at = strstr(event->name, prefix);
	return at ? at + strlen(prefix) : NULL;
}

/* A C identifier that fits in KSCRIBE_NAME_LEN: safe in TSDL and in patterns. */
static bool kscribe_name_ok(const char *name)
{
	size_t len;

	if (!name || !name[0] || isdigit(name[0]))
		return false;
	len = strnlen(name, KSCRIBE_NAME_LEN);
	return len < KSCRIBE_NAME_LEN && strspn(name, KSCRIBE_NAME_CHARS) == len;
}

static int kscribe_event_check(const struct kscribe_event *event)
{
	const char *syscall;

	if (!kscribe_name_ok(event->name) || !event->fields ||
	    strnlen(event->fields, KSCRIBE_FIELDS_MAX) >= KSCRIBE_FIELDS_MAX ||
	    (event->flags & ~KSCRIBE_SYSCALL_FLAGS) ||
	    (event->flags & KSCRIBE_SYSCALL_FLAGS) == KSCRIBE_SYSCALL_FLAGS)
		return -EINVAL;
	syscall = kscribe_syscall_name(event);
	if (kscribe_syscall_prefix(event) && (!syscall || !syscall[0]))
		return -EINVAL;
	return 0;
}

static int kscribe_probe_check(const struct kscribe_probe *probe)
{
	unsigned int i, j;

	if (!probe || !kscribe_name_ok(probe->name) || !probe->events ||
	    !probe->nr_events || probe->nr_events > KSCRIBE_MAX_EVENTS ||
	    (probe->nr_hooks && !probe->hooks))
		return -EINVAL;

	for (i = 0; i < probe->nr_events; i++) {
		const struct kscribe_event *event = &probe->events[i];

		if (kscribe_event_check(event)) {
			pr_err("%s: event %u is malformed\n", probe->name, i);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (!strcmp(probe->events[j].name, event->name)) {
				pr_err("%s:%s: duplicate event\n", probe->name, event->name);
				return -EINVAL;
			}
		}
	}
	for (i = 0; i < probe->nr_hooks; i++) {
		const struct kscribe_hook *hook = &probe->hooks[i];

		if (!hook->tracepoint || !hook->tracepoint[0] || !hook->probe) {
			pr_err("%s: hook %u is malformed\n", probe->name, i);
			return -EINVAL;
		}
	}
	return 0;
}

static void kscribe_lookup_tracepoint(struct tracepoint *tp, void *priv)
{
	struct kscribe_probe *probe = priv;
	unsigned int i;

	for (i = 0; i < probe->nr_hooks; i++) {
		struct kscribe_hook *hook = &probe->hooks[i];

		if (!hook->tp && !strcmp(tp->name, hook->tracepoint))
			hook->tp = tp;
	}
}

static struct kscribe_probe *kscribe_find_probe(const char *name)
{
	struct kscribe_probe *probe;

	lockdep_assert_held(&kscribe_lock);
	list_for_each_entry(probe, &kscribe_probes, list) {
		if (!strcmp(probe->name, name))
			return probe;
	}
	return NULL;
}

/* Free the ids and counters of the first @nr events of @probe. */
static void kscribe_probe_release(struct kscribe_probe *probe, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct kscribe_event *event = &probe->events[i];

		ida_free(&kscribe_ids, event->id);
		free_percpu(event->hits);
		event->hits = NULL;
	}
}

/**
 * kscribe_probe_register - make the events of a probe module available
 * @probe: the probe; must stay valid until kscribe_probe_unregister()
 *
 * Numbers the events and resolves the hooks' tracepoints; attaches nothing
 * (hooks are attached while a recording needs them). All or nothing.
 *
 * Return: 0, -EINVAL for a malformed @probe, -EEXIST when a probe of the
 * same name is registered, -ENOENT when a tracepoint does not exist,
 * -ENOSPC when event ids run out, -ENOMEM.
 */
int kscribe_probe_register(struct kscribe_probe *probe)
{
	unsigned int i;
	int ret;

	ret = kscribe_probe_check(probe);
	if (ret)
		return ret;

	mutex_lock(&kscribe_lock);
	if (kscribe_find_probe(probe->name)) {
		pr_err("%s: probe already registered\n", probe->name);
		ret = -EEXIST;
		goto unlock;
	}

	probe->pinned = false;
	for (i = 0; i < probe->nr_hooks; i++) {
		probe->hooks[i].tp = NULL;
		probe->hooks[i].attached = false;
	}
	for_each_kernel_tracepoint(kscribe_lookup_tracepoint, probe);
	for (i = 0; i < probe->nr_hooks; i++) {
		if (!probe->hooks[i].tp) {
			pr_err("%s: tracepoint %s not found\n", probe->name,
			       probe->hooks[i].tracepoint);
			ret = -ENOENT;
		}
	}
	if (ret)
		goto unlock;

	for (i = 0; i < probe->nr_events; i++) {
		struct kscribe_event *event = &probe->events[i];

		event->recording = NULL;
		event->probe = probe;
		event->hits = alloc_percpu(u64);
		if (!event->hits) {
			ret = -ENOMEM;
			break;
		}
		ret = ida_alloc_max(&kscribe_ids, KSCRIBE_MAX_EVENTS - 1, GFP_KERNEL);
		if (ret < 0) {
			free_percpu(event->hits);
			event->hits = NULL;
			break;
		}
		event->id = ret;
		ret = 0;
	}
	if (ret) {
		kscribe_probe_release(probe, i);
		goto unlock;
	}

	list_add_tail(&probe->list, &kscribe_probes);
unlock:
	mutex_unlock(&kscribe_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(kscribe_probe_register);

/**
 * kscribe_probe_unregister - remove the events of a probe module
 * @probe: a probe registered with kscribe_probe_register()
 *
 * A running recording pins the modules whose hooks it attached, so no hook
 * of @probe is attached here. One line sums up the probe's hit counts.
 */
void kscribe_probe_unregister(struct kscribe_probe *probe)
{
	struct kscribe_session *session;
	unsigned int i, fired = 0;
	u64 hits = 0;

	mutex_lock(&kscribe_lock);
	list_del(&probe->list);
	WARN_ON_ONCE(probe->pinned);
	for (i = 0; i < probe->nr_events; i++) {
		struct kscribe_event *event = &probe->events[i];
		u64 n = kscribe_event_hits(event);

		list_for_each_entry(session, &kscribe_sessions, list) {
			clear_bit(event->id, session->selected);
			kscribe_filter_drop(session, event->id);
			if (session->recording)
				clear_bit(event->id, session->recording->recorded);
		}
		hits += n;
		fired += n != 0;
	}
	pr_info("%s: %u events, %u fired, %llu hits\n", probe->name,
		probe->nr_events, fired, hits);
	kscribe_probe_release(probe, probe->nr_events);
	mutex_unlock(&kscribe_lock);
}
EXPORT_SYMBOL_GPL(kscribe_probe_unregister);

/* ---- recordings ---- */

/* Open a pinned counter on every online CPU for each perf context recorded. */
static int kscribe_perf_open(struct kscribe_recording *recording)
{
	struct perf_event *event;
	unsigned int k;
	int cpu;

	for (k = 0; k < KSCRIBE_NR_PERF; k++) {
		if (!(recording->contexts & BIT_ULL(KSCRIBE_CTX_PERF_FIRST + k)))
			continue;
		recording->perf[k] = alloc_percpu(struct perf_event *);
		if (!recording->perf[k])
			return -ENOMEM;
		for_each_online_cpu(cpu) {
			event = kscribe_perf_create(k, cpu);
			if (IS_ERR(event))
				return PTR_ERR(event);
			*per_cpu_ptr(recording->perf[k], cpu) = event;
		}
	}
	return 0;
}

/* Release the perf counters, once no probe reads them. */
static void kscribe_perf_close(struct kscribe_recording *recording)
{
	struct perf_event *event;
	unsigned int k;
	int cpu;

	for (k = 0; k < KSCRIBE_NR_PERF; k++) {
		if (!recording->perf[k])
			continue;
		for_each_possible_cpu(cpu) {
			event = *per_cpu_ptr(recording->perf[k], cpu);
			if (event)
				kscribe_perf_release(event);
		}
		free_percpu(recording->perf[k]);
		recording->perf[k] = NULL;
	}
}

static void kscribe_recording_release(struct kref *ref)
{
	struct kscribe_recording *recording =
		container_of(ref, struct kscribe_recording, ref);

	kscribe_perf_close(recording);
	if (recording->buffer)
		ring_buffer_free(recording->buffer);
	free_percpu(recording->counters);
	bitmap_free(recording->streams);
	bitmap_free(recording->recorded);
	put_pid(recording->pid);
	kfree(recording);
}

static void kscribe_recording_put(struct kscribe_recording *recording)
{
	if (recording)
		kref_put(&recording->ref, kscribe_recording_release);
}

static void kscribe_tick(struct work_struct *work)
{
	struct kscribe_recording *recording =
		container_of(to_delayed_work(work), struct kscribe_recording, tick);

	if (wq_has_sleeper(&recording->wait))
		wake_up_interruptible_all(&recording->wait);
	if (!READ_ONCE(recording->stopped))
		schedule_delayed_work(&recording->tick, msecs_to_jiffies(KSCRIBE_TICK_MS));
}

static struct kscribe_recording *kscribe_recording_alloc(const struct kscribe_session *session)
{
	struct kscribe_recording *recording;
	unsigned int flags = session->mode == KSCRIBE_MODE_OVERWRITE ? RB_FL_OVERWRITE : 0;
	unsigned int id;

	recording = kzalloc_obj(*recording, GFP_KERNEL);
	if (!recording)
		return NULL;
	recording->contexts = session->contexts;
	for (id = 0; id < KSCRIBE_NR_CONTEXTS; id++) {
		if (recording->contexts & BIT_ULL(id))
			recording->context_size += kscribe_contexts[id].size;
	}
	kref_init(&recording->ref);
	init_waitqueue_head(&recording->wait);
	INIT_DELAYED_WORK(&recording->tick, kscribe_tick);
	recording->size = session->buffer_size;
	recording->mode = session->mode;
	recording->pid = get_pid(task_tgid(current));
	recording->recorded = bitmap_zalloc(KSCRIBE_MAX_EVENTS, GFP_KERNEL);
	recording->streams = bitmap_zalloc(nr_cpu_ids, GFP_KERNEL);
	recording->counters = alloc_percpu(struct kscribe_cpu_counters);
	if (recording->recorded && recording->streams && recording->counters)
		recording->buffer = ring_buffer_alloc(recording->size, flags);
	if (!recording->buffer) {
		kscribe_recording_put(recording);
		return NULL;
	}
	return recording;
}

/* Is @hook needed by a recording of the events in @ids? */
static bool kscribe_hook_wanted(const struct kscribe_probe *probe,
				const struct kscribe_hook *hook,
				const unsigned long *ids)
{
	unsigned int i;

	for (i = 0; i < probe->nr_events; i++) {
		if (hook->data == &probe->events[i])
			return test_bit(probe->events[i].id, ids);
	}
	return true;
}

/*
 * Stop every probe writing: unpublish the recording from the events, detach
 * the hooks, wait until no probe function runs any more, unpin the modules.
 */
static void kscribe_detach_all(void)
{
	struct kscribe_probe *probe;
	unsigned int i;

	lockdep_assert_held(&kscribe_lock);
	list_for_each_entry(probe, &kscribe_probes, list) {
		if (!probe->pinned)
			continue;
		for (i = 0; i < probe->nr_events; i++) {
			WRITE_ONCE(probe->events[i].recording, NULL);
			WRITE_ONCE(probe->events[i].filter, NULL);
		}
		for (i = 0; i < probe->nr_hooks; i++) {
			struct kscribe_hook *hook = &probe->hooks[i];

			if (!hook->attached)
				continue;
			WARN_ON_ONCE(tracepoint_probe_unregister(hook->tp, hook->probe,
								 hook->data));
			hook->attached = false;
		}
	}
	tracepoint_synchronize_unregister();
	list_for_each_entry(probe, &kscribe_probes, list) {
		if (!probe->pinned)
			continue;
		probe->pinned = false;
		module_put(probe->owner);
	}
}

/* Pin the probes with selected events and note which events get recorded. */
static void kscribe_pin_probes(struct kscribe_recording *recording,
			       const unsigned long *selected)
{
	struct kscribe_probe *probe;
	unsigned int i;

	list_for_each_entry(probe, &kscribe_probes, list) {
		bool wanted = false;

		for (i = 0; i < probe->nr_events; i++)
			wanted |= test_bit(probe->events[i].id, selected);
		if (!wanted || !try_module_get(probe->owner))
			continue;
		probe->pinned = true;
		for (i = 0; i < probe->nr_events; i++) {
			if (test_bit(probe->events[i].id, selected)) {
				set_bit(probe->events[i].id, recording->recorded);
				recording->nr_recorded++;
			}
		}
	}
}

static int kscribe_attach_probes(struct kscribe_recording *recording)
{
	struct kscribe_probe *probe;
	unsigned int i;
	int ret;

	/* Publish first: the initialized recording, then the hooks that use it. */
	list_for_each_entry(probe, &kscribe_probes, list) {
		if (!probe->pinned)
			continue;
		for (i = 0; i < probe->nr_events; i++) {
			struct kscribe_event *event = &probe->events[i];

			if (!test_bit(event->id, recording->recorded))
				continue;
			/* pairs with READ_ONCE() in kscribe_record_begin() */
			smp_store_release(&event->recording, recording);
		}
	}
	list_for_each_entry(probe, &kscribe_probes, list) {
		if (!probe->pinned)
			continue;
		for (i = 0; i < probe->nr_hooks; i++) {
			struct kscribe_hook *hook = &probe->hooks[i];

			if (!kscribe_hook_wanted(probe, hook, recording->recorded))
				continue;
			ret = tracepoint_probe_register(hook->tp, hook->probe, hook->data);
			if (ret) {
				pr_err("%s: cannot attach to %s (%d)\n", probe->name,
				       hook->tracepoint, ret);
				return ret;
			}
			hook->attached = true;
		}
	}
	return 0;
}

/*
 * Does the process starting a recording get to see kernel addresses? As
 * /proc/kallsyms decides (kallsyms_show_value()): with CAP_SYSLOG, unless
 * kptr_restrict is 2. kptr_restrict is not exported to modules before 7.2,
 * so "%pK" reads it: it prints zeros at 2, hashes at 0 and shows at 1.
 */
static bool kscribe_kptrs_shown(void)
{
	char text[2 * sizeof(void *) + 1];

	if (!ns_capable_noaudit(&init_user_ns, CAP_SYSLOG))
		return false;
	snprintf(text, sizeof(text), "%pK", &kscribe_lock);
	return text[strspn(text, "0")] != '\0';
}

/* The registered event of id @id, or NULL. */
static struct kscribe_event *kscribe_find_event(u32 id)
{
	struct kscribe_probe *probe;
	unsigned int i;

	lockdep_assert_held(&kscribe_lock);
	list_for_each_entry(probe, &kscribe_probes, list) {
		for (i = 0; i < probe->nr_events; i++) {
			if (probe->events[i].id == id)
				return &probe->events[i];
		}
	}
	return NULL;
}

/*
 * Give the recorded events their filters. A probe reads an event's filter
 * once it reaches the event through its hook, attached after this.
 */
static void kscribe_publish_filters(const struct kscribe_session *session,
				    const struct kscribe_recording *recording)
{
	struct kscribe_filter_prog *prog;
	struct kscribe_event *event;

	list_for_each_entry(prog, &session->filters, list) {
		event = kscribe_find_event(prog->id);
		if (event && test_bit(prog->id, recording->recorded))
			WRITE_ONCE(event->filter, prog);
	}
}

static int kscribe_start(struct kscribe_session *session)
{
	struct kscribe_recording *recording;
	int ret;

	lockdep_assert_held(&kscribe_lock);
	if (kscribe_running)
		return -EBUSY;
	if (bitmap_empty(session->selected, KSCRIBE_MAX_EVENTS))
		return -EINVAL;

	recording = kscribe_recording_alloc(session);
	if (!recording)
		return -ENOMEM;
	ret = kscribe_perf_open(recording);
	if (ret) {
		kscribe_recording_put(recording);
		return ret;
	}
	kscribe_pin_probes(recording, session->selected);
	if (!recording->nr_recorded) {
		/* the selected probes are being unloaded */
		ret = -ENOENT;
		goto fail;
	}
	recording->kptrs_hidden = !kscribe_kptrs_shown();
	/* no probe is attached: none reads it until kscribe_attach_probes() */
	WRITE_ONCE(kscribe_kptrs_hidden, recording->kptrs_hidden);
	recording->start_ts = trace_clock_local();
	kscribe_publish_filters(session, recording);
	ret = kscribe_attach_probes(recording);
	if (ret)
		goto fail;

	kscribe_running = recording;
	kscribe_running_session = session;
	kscribe_recording_put(session->recording);
	session->recording = recording;
	schedule_delayed_work(&recording->tick, msecs_to_jiffies(KSCRIBE_TICK_MS));
	return 0;

fail:
	kscribe_detach_all();
	kscribe_recording_put(recording);
	return ret;
}

static void kscribe_stop(void)
{
	struct kscribe_recording *recording = kscribe_running;

	lockdep_assert_held(&kscribe_lock);
	if (!recording)
		return;
	kscribe_detach_all();
	kscribe_perf_close(recording);
	recording->stop_ts = trace_clock_local();
	/* pairs with smp_load_acquire() in the streams: then they see the final counters */
	smp_store_release(&recording->stopped, true);
	kscribe_running = NULL;
	kscribe_running_session = NULL;
	cancel_delayed_work_sync(&recording->tick);
	wake_up_interruptible_all(&recording->wait);
}

/* The session's own recording, else the running one, else NULL. */
static struct kscribe_recording *kscribe_current(const struct kscribe_session *session)
{
	lockdep_assert_held(&kscribe_lock);
	return session->recording ? session->recording : kscribe_running;
}

/* ---- streams ---- */

static u64 kscribe_dropped(const struct kscribe_recording *recording, unsigned int cpu)
{
	return local64_read(&per_cpu_ptr(recording->counters, cpu)->dropped);
}

static bool kscribe_stream_lost(const struct kscribe_stream *stream)
{
	const struct kscribe_recording *recording = stream->recording;

	return kscribe_dropped(recording, stream->cpu) != READ_ONCE(stream->dropped_seen) ||
	       ring_buffer_overrun_cpu(recording->buffer, stream->cpu) !=
	       READ_ONCE(stream->overrun_seen);
}

static bool kscribe_stream_ready(const struct kscribe_stream *stream)
{
	const struct kscribe_recording *recording = stream->recording;

	/* pairs with smp_store_release() in kscribe_stop() */
	return READ_ONCE(stream->holding) || smp_load_acquire(&recording->stopped) ||
	       !ring_buffer_empty_cpu(recording->buffer, stream->cpu) ||
	       kscribe_stream_lost(stream);
}

/*
 * Take the next page of events out of @stream's CPU buffer into
 * @stream->page and describe it in @held.
 * Return: false when the buffer has none.
 */
static bool kscribe_stream_next_page(struct kscribe_stream *stream,
				     struct kscribe_page_header *held)
{
	struct trace_buffer *buffer = stream->recording->buffer;
	struct kscribe_rb_page *page;

	/* a CPU without a buffer (offline since the start) has no page */
	if (!stream->page && kscribe_rb_page_alloc(buffer, stream->cpu, &stream->page)) {
		stream->page = NULL;
		return false;
	}
	/* the events start the page: it was swapped whole or copied to its start */
	if (kscribe_rb_page_read(buffer, &stream->page, PAGE_SIZE, stream->cpu, 0) < 0)
		return false;
	page = kscribe_rb_page_data(stream->page);
	stream->events = page->data;
	held->timestamp = page->time_stamp;
	held->size = min_t(unsigned int, local_read(&page->commit) & KSCRIBE_RB_COMMIT_MASK,
			   KSCRIBE_RB_DATA_MAX);
	return true;
}

/*
 * Hold @stream's next record: the events lost since the last one, then the
 * next page of its CPU buffer, if any. Losses are counted at page
 * boundaries: the events of the pages before were written before them.
 * Return: false when there is nothing to read.
 */
static bool kscribe_stream_fetch(struct kscribe_stream *stream)
{
	struct kscribe_recording *recording = stream->recording;
	struct kscribe_page_header *held = &stream->held;
	unsigned long overrun;
	u64 dropped;

	dropped = kscribe_dropped(recording, stream->cpu);
	overrun = ring_buffer_overrun_cpu(recording->buffer, stream->cpu);
	memset(held, 0, sizeof(*held));
	held->cpu = stream->cpu;
	held->lost = (dropped - stream->dropped_seen) +
		     (unsigned long)(overrun - stream->overrun_seen);
	WRITE_ONCE(stream->dropped_seen, dropped);
	WRITE_ONCE(stream->overrun_seen, overrun);
	if (!kscribe_stream_next_page(stream, held) && !held->lost)
		return false;
	WRITE_ONCE(stream->holding, true);
	return true;
}

/*
 * Write @stream's held record to @ubuf: its header, its page's events and
 * the zeros that pad them to KSCRIBE_STREAM_ALIGN. Return: 0, or -EFAULT.
 */
static int kscribe_stream_put(struct kscribe_stream *stream, char __user *ubuf)
{
	const struct kscribe_page_header *held = &stream->held;

	if (copy_to_user(ubuf, held, sizeof(*held)))
		return -EFAULT;
	ubuf += sizeof(*held);
	if (!held->size)
		return 0;
	if (copy_to_user(ubuf, stream->events, held->size) ||
	    clear_user(ubuf + held->size, ALIGN(held->size, KSCRIBE_STREAM_ALIGN) - held->size))
		return -EFAULT;
	return 0;
}

/*
 * Copy whole records to @ubuf, at most @count bytes. Stops early at a
 * pending signal, to give the caller back soon against a fast writer.
 * Return: the bytes copied, or -EFAULT if none could be; a record not
 * copied is held for the next read().
 */
static ssize_t kscribe_stream_copy(struct kscribe_stream *stream, char __user *ubuf,
				   size_t count)
{
	size_t copied = 0, len;

	for (;;) {
		if (!stream->holding && !kscribe_stream_fetch(stream))
			break;
		len = sizeof(stream->held) + ALIGN(stream->held.size, KSCRIBE_STREAM_ALIGN);
		if (len > count - copied)
			break;
		if (kscribe_stream_put(stream, ubuf + copied))
			return copied ? copied : -EFAULT;
		WRITE_ONCE(stream->holding, false);
		copied += len;
		if (signal_pending(current))
			break;
		cond_resched();
	}
	return copied;
}

static ssize_t kscribe_stream_read(struct file *file, char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	struct kscribe_stream *stream = file->private_data;
	ssize_t ret;
	bool stopped;

	if (mutex_lock_interruptible(&stream->lock))
		return -ERESTARTSYS;
	for (;;) {
		/* pairs with smp_store_release() in kscribe_stop() */
		stopped = smp_load_acquire(&stream->recording->stopped);
		ret = kscribe_stream_copy(stream, ubuf, count);
		if (ret)
			break;
		if (stream->holding) {
			/* the buffer cannot hold the next record */
			ret = -EINVAL;
			break;
		}
		if (stopped) {
			ret = 0;
			break;
		}
		if (file->f_flags & O_NONBLOCK) {
			ret = -EAGAIN;
			break;
		}
		mutex_unlock(&stream->lock);
		ret = wait_event_interruptible(stream->recording->wait,
					       kscribe_stream_ready(stream));
		if (ret)
			return ret;
		if (mutex_lock_interruptible(&stream->lock))
			return -ERESTARTSYS;
	}
	mutex_unlock(&stream->lock);
	return ret;
}

static __poll_t kscribe_stream_poll(struct file *file, poll_table *wait)
{
	struct kscribe_stream *stream = file->private_data;

	struct kscribe_recording *recording = stream->recording;

	poll_wait(file, &recording->wait, wait);
	if (!kscribe_stream_ready(stream))
		return 0;
	/* stopped and drained: read() returns 0 from now on */
	if (smp_load_acquire(&recording->stopped) && !READ_ONCE(stream->holding) &&
	    ring_buffer_empty_cpu(recording->buffer, stream->cpu) && !kscribe_stream_lost(stream))
		return EPOLLIN | EPOLLRDNORM | EPOLLHUP;
	return EPOLLIN | EPOLLRDNORM;
}

/* Free @stream, before the reference it holds on its recording is dropped */
static void kscribe_stream_free(struct kscribe_stream *stream)
{
	if (stream->page)
		ring_buffer_free_read_page(stream->recording->buffer, stream->cpu, stream->page);
	kfree(stream);
}

static int kscribe_stream_release(struct inode *inode, struct file *file)
{
	struct kscribe_stream *stream = file->private_data;
	struct kscribe_recording *recording = stream->recording;

	clear_bit(stream->cpu, recording->streams);
	kscribe_stream_free(stream);
	kscribe_recording_put(recording);
	return 0;
}

static const struct file_operations kscribe_stream_fops = {
	.owner = THIS_MODULE,
	.read = kscribe_stream_read,
	.poll = kscribe_stream_poll,
	.release = kscribe_stream_release,
	.llseek = noop_llseek,
};

/* ---- state dump: what the trace starts in, recorded from process context ---- */

/* Threads or processes taken per walk of the task list, under RCU. */
#define KSCRIBE_DUMP_BATCH	64

/* File descriptors listed per hold of a process's file table lock. */
#define KSCRIBE_DUMP_FDS	64

/* Longest path recorded of an open file, its NUL included. */
#define KSCRIBE_DUMP_PATH	256

/* The fixed part of the statedump events' payloads, packed as their fields say. */
struct kscribe_dump_thread {
	s32 tid;
	s32 pid;
	s32 ppid;
	s32 prio;
	u32 pid_ns;
	u32 mnt_ns;
	u32 net_ns;
	u32 cgroup_ns;
	char procname[TASK_COMM_LEN];
} __packed;

struct kscribe_dump_fd {
	s32 pid;
	s32 fd;
	u32 flags;
	char path[KSCRIBE_DUMP_PATH];
} __packed;

struct kscribe_dump_irq {
	u32 irq;
	char name[KSCRIBE_NAME_LEN];
} __packed;

struct kscribe_dump_blockdev {
	u32 major;
	u32 minor;
	u64 sectors;
	char name[BDEVNAME_SIZE];
} __packed;

struct kscribe_dump_netif {
	u32 net_ns;
	s32 ifindex;
	u32 flags;
	char name[IFNAMSIZ];
} __packed;

struct kscribe_dump_cpu {
	u32 cpu;
	s32 package;
	s32 core;
	s32 node;
} __packed;

struct kscribe_dump_end {
	u64 duration_ns;
	u64 longest_ns;
	u32 threads;
	u32 fds;
} __packed;

#define KSCRIBE_S32(n)		{ .name = n, .kind = KSCRIBE_FIELD_INT, .is_signed = 1, .size = 4 }
#define KSCRIBE_U32(n)		{ .name = n, .kind = KSCRIBE_FIELD_INT, .size = 4 }
#define KSCRIBE_U64(n)		{ .name = n, .kind = KSCRIBE_FIELD_INT, .size = 8 }
#define KSCRIBE_TEXT(n, len)	{ .name = n, .kind = KSCRIBE_FIELD_TEXT, .size = len }
#define KSCRIBE_STRING(n)	{ .name = n, .kind = KSCRIBE_FIELD_STRING }

#define KSCRIBE_TSDL_S32	"integer { size = 32; align = 8; signed = 1; base = 10; }"
#define KSCRIBE_TSDL_U32	"integer { size = 32; align = 8; signed = 0; base = 10; }"
#define KSCRIBE_TSDL_X32	"integer { size = 32; align = 8; signed = 0; base = 16; }"
#define KSCRIBE_TSDL_U64	"integer { size = 64; align = 8; signed = 0; base = 10; }"
#define KSCRIBE_TSDL_TEXT	"integer { size = 8; align = 8; signed = 0; encoding = UTF8; }"
#define KSCRIBE_TSDL_STRING	"string { encoding = UTF8; }"

static const struct kscribe_field kscribe_dump_thread_layout[] = {
	KSCRIBE_S32("tid"), KSCRIBE_S32("pid"), KSCRIBE_S32("ppid"), KSCRIBE_S32("prio"),
	KSCRIBE_U32("pid_ns"), KSCRIBE_U32("mnt_ns"), KSCRIBE_U32("net_ns"),
	KSCRIBE_U32("cgroup_ns"), KSCRIBE_TEXT("procname", TASK_COMM_LEN),
};

static const struct kscribe_field kscribe_dump_fd_layout[] = {
	KSCRIBE_S32("pid"), KSCRIBE_S32("fd"), KSCRIBE_U32("flags"), KSCRIBE_STRING("path"),
};

static const struct kscribe_field kscribe_dump_irq_layout[] = {
	KSCRIBE_U32("irq"), KSCRIBE_STRING("name"),
};

static const struct kscribe_field kscribe_dump_blockdev_layout[] = {
	KSCRIBE_U32("major"), KSCRIBE_U32("minor"), KSCRIBE_U64("sectors"),
	KSCRIBE_STRING("name"),
};

static const struct kscribe_field kscribe_dump_netif_layout[] = {
	KSCRIBE_U32("net_ns"), KSCRIBE_S32("ifindex"), KSCRIBE_U32("flags"),
	KSCRIBE_STRING("name"),
};

static const struct kscribe_field kscribe_dump_cpu_layout[] = {
	KSCRIBE_U32("cpu"), KSCRIBE_S32("package"), KSCRIBE_S32("core"), KSCRIBE_S32("node"),
};

static const struct kscribe_field kscribe_dump_end_layout[] = {
	KSCRIBE_U64("duration_ns"), KSCRIBE_U64("longest_ns"), KSCRIBE_U32("threads"),
	KSCRIBE_U32("fds"),
};

enum {
	KSCRIBE_DUMP_START,
	KSCRIBE_DUMP_THREAD,
	KSCRIBE_DUMP_FD,
	KSCRIBE_DUMP_IRQ,
	KSCRIBE_DUMP_BLOCKDEV,
	KSCRIBE_DUMP_NETIF,
	KSCRIBE_DUMP_CPU,
	KSCRIBE_DUMP_END,
};

/* Event statedump_@what, with the payload layout kscribe_dump_@what_layout. */
#define KSCRIBE_DUMP_EVENT(what, tsdl)							\
	{										\
		.name = "statedump_" #what, .fields = tsdl,				\
		.layout = kscribe_dump_ ## what ## _layout,				\
		.nr_fields = ARRAY_SIZE(kscribe_dump_ ## what ## _layout),		\
	}

static struct kscribe_event kscribe_dump_events[] = {
	[KSCRIBE_DUMP_START] = { .name = "statedump_start", .fields = "" },
	[KSCRIBE_DUMP_THREAD] =
		KSCRIBE_DUMP_EVENT(thread,
				   KSCRIBE_TSDL_S32 " _tid;\n" KSCRIBE_TSDL_S32 " _pid;\n"
				   KSCRIBE_TSDL_S32 " _ppid;\n" KSCRIBE_TSDL_S32 " _prio;\n"
				   KSCRIBE_TSDL_U32 " _pid_ns;\n" KSCRIBE_TSDL_U32 " _mnt_ns;\n"
				   KSCRIBE_TSDL_U32 " _net_ns;\n" KSCRIBE_TSDL_U32 " _cgroup_ns;\n"
				   KSCRIBE_TSDL_TEXT " _procname[16];\n"),
	[KSCRIBE_DUMP_FD] =
		KSCRIBE_DUMP_EVENT(fd,
				   KSCRIBE_TSDL_S32 " _pid;\n" KSCRIBE_TSDL_S32 " _fd;\n"
				   KSCRIBE_TSDL_X32 " _flags;\n" KSCRIBE_TSDL_STRING " _path;\n"),
	[KSCRIBE_DUMP_IRQ] =
		KSCRIBE_DUMP_EVENT(irq,
				   KSCRIBE_TSDL_U32 " _irq;\n" KSCRIBE_TSDL_STRING " _name;\n"),
	[KSCRIBE_DUMP_BLOCKDEV] =
		KSCRIBE_DUMP_EVENT(blockdev,
				   KSCRIBE_TSDL_U32 " _major;\n" KSCRIBE_TSDL_U32 " _minor;\n"
				   KSCRIBE_TSDL_U64 " _sectors;\n" KSCRIBE_TSDL_STRING " _name;\n"),
	[KSCRIBE_DUMP_NETIF] =
		KSCRIBE_DUMP_EVENT(netif,
				   KSCRIBE_TSDL_U32 " _net_ns;\n" KSCRIBE_TSDL_S32 " _ifindex;\n"
				   KSCRIBE_TSDL_X32 " _flags;\n" KSCRIBE_TSDL_STRING " _name;\n"),
	[KSCRIBE_DUMP_CPU] =
		KSCRIBE_DUMP_EVENT(cpu,
				   KSCRIBE_TSDL_U32 " _cpu;\n" KSCRIBE_TSDL_S32 " _package;\n"
				   KSCRIBE_TSDL_S32 " _core;\n" KSCRIBE_TSDL_S32 " _node;\n"),
	[KSCRIBE_DUMP_END] =
		KSCRIBE_DUMP_EVENT(end,
				   KSCRIBE_TSDL_U64 " _duration_ns;\n"
				   KSCRIBE_TSDL_U64 " _longest_ns;\n"
				   KSCRIBE_TSDL_U32 " _threads;\n" KSCRIBE_TSDL_U32 " _fds;\n"),
};

/* The core's own probe: its events are recorded by KSCRIBE_IOCTL_STATEDUMP, hooked nowhere. */
static struct kscribe_probe kscribe_dump_probe = {
	.name = "statedump",
	.events = kscribe_dump_events,
	.nr_events = ARRAY_SIZE(kscribe_dump_events),
	.owner = THIS_MODULE,
};

/**
 * struct kscribe_dump - one state dump in progress
 * @start:	when it started (ns, CLOCK_MONOTONIC)
 * @longest:	the longest time a lock or RCU read section was held for it
 * @threads:	threads recorded
 * @fds:	open files recorded
 * @pid:	the process whose files are being listed
 * @next_fd:	the descriptor to go on from
 * @path:	a page for d_path()
 */
struct kscribe_dump {
	u64 start;
	u64 longest;
	u32 threads;
	u32 fds;
	pid_t pid;
	unsigned int next_fd;
	char *path;
};

/*
 * Record an event of the dump. The record path runs with preemption
 * disabled throughout, the read of the event's recording included, so STOP
 * (which waits for an RCU grace period after unpublishing) never frees
 * what a record in progress uses.
 */
static void kscribe_dump_record(unsigned int which, const void *payload, size_t size)
{
	struct kscribe_record rec;

	preempt_disable();
	if (kscribe_record_begin(&kscribe_dump_events[which], size, &rec)) {
		if (size)
			memcpy(rec.payload, payload, size);
		kscribe_record_end(&rec);
	}
	preempt_enable();
}

static void kscribe_dump_held(struct kscribe_dump *dump, u64 since)
{
	dump->longest = max(dump->longest, ktime_get_ns() - since);
}

/*
 * Take references to up to KSCRIBE_DUMP_BATCH threads (leaders only: processes)
 * with the smallest ids from @cursor on, in one walk under RCU. Return: how many.
 */
static unsigned int kscribe_dump_collect(struct kscribe_dump *dump, pid_t cursor,
					 bool leaders, struct task_struct **batch)
{
	struct task_struct *g, *t;
	unsigned int n = 0, i;
	u64 since = ktime_get_ns();
	pid_t id;

	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (leaders && t != g)
			continue;
		id = task_pid_nr(t);
		if (id < cursor || (n == KSCRIBE_DUMP_BATCH && id > task_pid_nr(batch[n - 1])))
			continue;
		i = n < KSCRIBE_DUMP_BATCH ? n++ : n - 1;
		for (; i && task_pid_nr(batch[i - 1]) > id; i--)
			batch[i] = batch[i - 1];
		batch[i] = t;
	}
	for (i = 0; i < n; i++)
		get_task_struct(batch[i]);
	rcu_read_unlock();
	kscribe_dump_held(dump, since);
	return n;
}

static void kscribe_dump_thread(struct kscribe_dump *dump, struct task_struct *t)
{
	struct kscribe_dump_thread p = {
		.tid = task_pid_nr(t),
		.pid = task_tgid_nr(t),
		.prio = t->prio - MAX_RT_PRIO,
	};
	u64 since;

	rcu_read_lock();
	p.ppid = task_tgid_nr(rcu_dereference(t->real_parent));
	p.pid_ns = kscribe_pid_ns_inum(t);
	rcu_read_unlock();
	since = ktime_get_ns();
	/* another task's name and nsproxy are read under its lock */
	task_lock(t);
	kscribe_procname(p.procname, t);
	p.mnt_ns = kscribe_nsproxy_inum(t->nsproxy, KSCRIBE_CTX_MNT_NS);
	p.net_ns = kscribe_nsproxy_inum(t->nsproxy, KSCRIBE_CTX_NET_NS);
	p.cgroup_ns = kscribe_nsproxy_inum(t->nsproxy, KSCRIBE_CTX_CGROUP_NS);
	task_unlock(t);
	kscribe_dump_held(dump, since);
	kscribe_dump_record(KSCRIBE_DUMP_THREAD, &p, sizeof(p));
	dump->threads++;
}

/* iterate_fd() callback, under the file table's lock: KSCRIBE_DUMP_FDS at a time. */
static int kscribe_dump_fd(const void *arg, struct file *file, unsigned int fd)
{
	struct kscribe_dump *dump = (struct kscribe_dump *)arg;
	struct kscribe_dump_fd p = { .pid = dump->pid, .fd = fd, .flags = file->f_flags };
	const char *path = d_path(&file->f_path, dump->path, PAGE_SIZE);

	strscpy(p.path, IS_ERR(path) ? "?" : path, sizeof(p.path));
	kscribe_dump_record(KSCRIBE_DUMP_FD, &p, offsetof(typeof(p), path) + strlen(p.path) + 1);
	dump->fds++;
	dump->next_fd = fd + 1;
	return dump->next_fd % KSCRIBE_DUMP_FDS == 0;
}

static void kscribe_dump_files(struct kscribe_dump *dump, struct task_struct *t)
{
	int more = 1;
	u64 since;

	dump->pid = task_tgid_nr(t);
	dump->next_fd = 0;
	while (more) {
		since = ktime_get_ns();
		task_lock(t);
		more = t->files ? iterate_fd(t->files, dump->next_fd, kscribe_dump_fd, dump) : 0;
		task_unlock(t);
		kscribe_dump_held(dump, since);
		cond_resched();
	}
}

/* Every thread, then every process's open files, a batch at a time. */
static void kscribe_dump_tasks(struct kscribe_dump *dump, bool files)
{
	struct task_struct *batch[KSCRIBE_DUMP_BATCH];
	unsigned int n, i;
	pid_t cursor = 0;

	do {
		n = kscribe_dump_collect(dump, cursor, files, batch);
		for (i = 0; i < n; i++) {
			if (files)
				kscribe_dump_files(dump, batch[i]);
			else
				kscribe_dump_thread(dump, batch[i]);
			cursor = task_pid_nr(batch[i]) + 1;
			put_task_struct(batch[i]);
		}
		cond_resched();
	} while (n == KSCRIBE_DUMP_BATCH);
}

static void kscribe_dump_irqs(struct kscribe_dump *dump)
{
	struct kscribe_dump_irq p;
	struct irqaction *action;
	struct irq_data *data;
	struct irq_desc *desc;
	unsigned long flags;
	unsigned int irq;
	u64 since;

	for_each_irq_nr(irq) {
		since = ktime_get_ns();
		/* descriptors are freed after an RCU grace period */
		rcu_read_lock();
		data = irq_get_irq_data(irq);
		if (data) {
			desc = irq_data_to_desc(data);
			raw_spin_lock_irqsave(&desc->lock, flags);
			for (action = desc->action; action; action = action->next) {
				p.irq = irq;
				/* a handler registered without a name is said to be one */
				strscpy(p.name, action->name && *action->name ? action->name :
					"(unnamed)", sizeof(p.name));
				kscribe_dump_record(KSCRIBE_DUMP_IRQ, &p,
						    offsetof(typeof(p), name) + strlen(p.name) + 1);
			}
			raw_spin_unlock_irqrestore(&desc->lock, flags);
		}
		rcu_read_unlock();
		kscribe_dump_held(dump, since);
	}
}

/*
 * Every block device added to the system, found as sync_bdevs() finds them:
 * on the inode list of the block device pseudo-filesystem. Each one is
 * pinned by igrab() (which refuses an inode being freed) and recorded with
 * no lock held; the pinned inode keeps its place in the list for the walk
 * to go on from.
 */
static void kscribe_dump_blockdevs(struct kscribe_dump *dump)
{
	struct super_block *sb = blockdev_superblock;
	struct inode *inode, *pinned = NULL;
	struct kscribe_dump_blockdev p;
	struct block_device *bdev;
	u64 since = ktime_get_ns();

	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		/* a device is hashed from its addition to its removal */
		if (!S_ISBLK(inode->i_mode) || inode_unhashed(inode) || !igrab(inode))
			continue;
		spin_unlock(&sb->s_inode_list_lock);
		kscribe_dump_held(dump, since);
		iput(pinned);
		pinned = inode;
		bdev = I_BDEV(inode);
		if (bdev->bd_disk) {
			p.major = MAJOR(inode->i_rdev);
			p.minor = MINOR(inode->i_rdev);
			p.sectors = i_size_read(inode) >> SECTOR_SHIFT;
			snprintf(p.name, sizeof(p.name), "%pg", bdev);
			kscribe_dump_record(KSCRIBE_DUMP_BLOCKDEV, &p,
					    offsetof(typeof(p), name) + strlen(p.name) + 1);
		}
		cond_resched();
		since = ktime_get_ns();
		spin_lock(&sb->s_inode_list_lock);
	}
	spin_unlock(&sb->s_inode_list_lock);
	kscribe_dump_held(dump, since);
	iput(pinned);
}

/* The interfaces of every network namespace, in one RCU read section. */
static void kscribe_dump_netifs(struct kscribe_dump *dump)
{
	struct kscribe_dump_netif p;
	struct net_device *dev;
	u64 since = ktime_get_ns();
	struct net *net;

	rcu_read_lock();
	for_each_net_rcu(net) {
		for_each_netdev_rcu(net, dev) {
			p.net_ns = net->ns.inum;
			p.ifindex = dev->ifindex;
			p.flags = dev->flags;
			strscpy(p.name, dev->name, sizeof(p.name));
			kscribe_dump_record(KSCRIBE_DUMP_NETIF, &p,
					    offsetof(typeof(p), name) + strlen(p.name) + 1);
		}
	}
	rcu_read_unlock();
	kscribe_dump_held(dump, since);
}

static void kscribe_dump_cpus(void)
{
	struct kscribe_dump_cpu p;
	unsigned int cpu;

	cpus_read_lock();
	for_each_online_cpu(cpu) {
		p.cpu = cpu;
		p.package = topology_physical_package_id(cpu);
		p.core = topology_core_id(cpu);
		p.node = cpu_to_node(cpu);
		kscribe_dump_record(KSCRIBE_DUMP_CPU, &p, sizeof(p));
	}
	cpus_read_unlock();
}

/*
 * Record the state the running recording starts in: CPUs, network
 * interfaces, block devices, interrupt handlers, threads, open files. Process context; it
 * sleeps between batches and holds no lock for more than one batch.
 */
static int kscribe_statedump(void)
{
	struct kscribe_dump dump = { .start = ktime_get_ns() };
	struct kscribe_dump_end end;

	dump.path = (char *)__get_free_page(GFP_KERNEL);
	if (!dump.path)
		return -ENOMEM;
	kscribe_dump_record(KSCRIBE_DUMP_START, NULL, 0);
	kscribe_dump_cpus();
	kscribe_dump_netifs(&dump);
	kscribe_dump_blockdevs(&dump);
	kscribe_dump_irqs(&dump);
	kscribe_dump_tasks(&dump, false);
	kscribe_dump_tasks(&dump, true);
	end.duration_ns = ktime_get_ns() - dump.start;
	end.longest_ns = dump.longest;
	end.threads = dump.threads;
	end.fds = dump.fds;
	kscribe_dump_record(KSCRIBE_DUMP_END, &end, sizeof(end));
	free_page((unsigned long)dump.path);
	return 0;
}

/* ---- ioctls ---- */

static bool kscribe_cpu_ok(u32 cpu)
{
	return cpu < nr_cpu_ids && cpu_possible(cpu);
}

static long kscribe_ioctl_version(void __user *uarg)
{
	const struct kscribe_version version = {
		.major = KSCRIBE_VERSION_MAJOR,
		.minor = KSCRIBE_VERSION_MINOR,
		.patchlevel = KSCRIBE_VERSION_PATCHLEVEL,
		.abi = KSCRIBE_ABI_VERSION,
		.features = KSCRIBE_FEATURE_STOP_ANY | KSCRIBE_FEATURE_CONTEXTS |
			    KSCRIBE_FEATURE_FILTERS | KSCRIBE_FEATURE_STATEDUMP,
	};

	if (copy_to_user(uarg, &version, sizeof(version)))
		return -EFAULT;
	return 0;
}

static u32 kscribe_event_flags(const struct kscribe_session *session,
			       const struct kscribe_event *event)
{
	const struct kscribe_recording *recording = kscribe_current(session);
	u32 flags = event->flags & KSCRIBE_SYSCALL_FLAGS;

	if (test_bit(event->id, session->selected))
		flags |= KSCRIBE_EVENT_SELECTED;
	if (recording && test_bit(event->id, recording->recorded))
		flags |= KSCRIBE_EVENT_RECORDED;
	return flags;
}

static long kscribe_ioctl_event_info(struct kscribe_session *session, void __user *uarg)
{
	struct kscribe_event_info info;
	struct kscribe_probe *probe;
	u32 index;
	int ret = -ENOENT;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	if (info.flags)
		return -EINVAL;

	index = info.index;
	memset(&info, 0, sizeof(info));
	info.index = index;

	mutex_lock(&kscribe_lock);
	list_for_each_entry(probe, &kscribe_probes, list) {
		if (index < probe->nr_events) {
			const struct kscribe_event *event = &probe->events[index];

			info.id = event->id;
			info.event_flags = kscribe_event_flags(session, event);
			info.hits = kscribe_event_hits(event);
			strscpy(info.probe, probe->name, sizeof(info.probe));
			strscpy(info.name, event->name, sizeof(info.name));
			ret = 0;
			break;
		}
		index -= probe->nr_events;
	}
	mutex_unlock(&kscribe_lock);

	if (ret)
		return ret;
	if (copy_to_user(uarg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long kscribe_ioctl_event_metadata(struct kscribe_session *session,
					 void __user *uarg)
{
	struct kscribe_event_metadata meta;
	struct kscribe_event *event;
	u32 size;
	long ret = 0;

	if (copy_from_user(&meta, uarg, sizeof(meta)))
		return -EFAULT;
	if (meta.flags)
		return -EINVAL;

	mutex_lock(&kscribe_lock);
	event = kscribe_find_event(meta.id);
	if (!event) {
		ret = -ENOENT;
		goto unlock;
	}
	size = strlen(event->fields) + 1;
	if (meta.fields) {
		if (meta.fields_size < size)
			ret = -ENOSPC;
		else if (copy_to_user(u64_to_user_ptr(meta.fields), event->fields, size))
			ret = -EFAULT;
	}
	meta.fields_size = size;
	meta.event_flags = kscribe_event_flags(session, event);
	memset(meta.probe, 0, sizeof(meta.probe));
	memset(meta.name, 0, sizeof(meta.name));
	strscpy(meta.probe, event->probe->name, sizeof(meta.probe));
	strscpy(meta.name, event->name, sizeof(meta.name));
unlock:
	mutex_unlock(&kscribe_lock);

	if (ret && ret != -ENOSPC)
		return ret;
	if (copy_to_user(uarg, &meta, sizeof(meta)))
		return -EFAULT;
	return ret;
}

/* @event matches "probe:event" (@probe_pattern set) or "event" (NULL). */
static bool kscribe_event_match(const struct kscribe_event *event,
				const char *probe_pattern, const char *pattern)
{
	const char *syscall = kscribe_syscall_name(event);

	if (probe_pattern && !glob_match(probe_pattern, event->probe->name))
		return false;
	return glob_match(pattern, event->name) || (syscall && glob_match(pattern, syscall));
}

static long kscribe_ioctl_enable(struct kscribe_session *session, void __user *uarg)
{
	const u32 known = KSCRIBE_ENABLE_DISABLE | KSCRIBE_ENABLE_ALL_SYSCALLS |
			  KSCRIBE_ENABLE_RUNNING;
	struct kscribe_recording *recording = NULL;
	struct kscribe_enable arg;
	struct kscribe_probe *probe;
	char *probe_pattern = NULL, *pattern, *colon;
	bool all_syscalls, disable, running;
	unsigned int i;
	u32 count = 0;
	long ret = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	all_syscalls = arg.flags & KSCRIBE_ENABLE_ALL_SYSCALLS;
	disable = arg.flags & KSCRIBE_ENABLE_DISABLE;
	running = arg.flags & KSCRIBE_ENABLE_RUNNING;
	if ((arg.flags & ~known) ||
	    strnlen(arg.pattern, sizeof(arg.pattern)) == sizeof(arg.pattern) ||
	    all_syscalls == !!arg.pattern[0])
		return -EINVAL;

	pattern = arg.pattern;
	colon = strchr(pattern, ':');
	if (colon) {
		*colon = '\0';
		probe_pattern = pattern;
		pattern = colon + 1;
		if (!probe_pattern[0] || !pattern[0] || strchr(pattern, ':'))
			return -EINVAL;
	}

	mutex_lock(&kscribe_lock);
	if (running) {
		/* only what the recording records: its metadata is already written */
		recording = kscribe_running;
		if (!recording) {
			ret = -ENOENT;
			goto unlock;
		}
	} else if (kscribe_running_session == session) {
		ret = -EBUSY;
		goto unlock;
	}
	list_for_each_entry(probe, &kscribe_probes, list) {
		for (i = 0; i < probe->nr_events; i++) {
			struct kscribe_event *event = &probe->events[i];

			if (all_syscalls ? !(event->flags & KSCRIBE_SYSCALL_FLAGS) :
			    !kscribe_event_match(event, probe_pattern, pattern))
				continue;
			if (recording) {
				if (!test_bit(event->id, recording->recorded))
					continue;
				/* the probe sees it at its next kscribe_record_begin() */
				smp_store_release(&event->recording,
						  disable ? NULL : recording);
			} else if (disable) {
				clear_bit(event->id, session->selected);
			} else {
				set_bit(event->id, session->selected);
			}
			count++;
		}
	}
unlock:
	mutex_unlock(&kscribe_lock);

	if (ret)
		return ret;
	if (!count)
		return -ENOENT;
	/* only the count: the pattern was cut at its ':' above */
	if (put_user(count, &((struct kscribe_enable __user *)uarg)->count))
		return -EFAULT;
	return 0;
}

static long kscribe_ioctl_set_buffer(struct kscribe_session *session, void __user *uarg)
{
	struct kscribe_buffer_config config;
	long ret = 0;

	if (copy_from_user(&config, uarg, sizeof(config)))
		return -EFAULT;
	if (config.flags || config.size < KSCRIBE_BUFFER_MIN ||
	    config.size > KSCRIBE_BUFFER_MAX ||
	    (config.mode != KSCRIBE_MODE_DISCARD && config.mode != KSCRIBE_MODE_OVERWRITE))
		return -EINVAL;

	mutex_lock(&kscribe_lock);
	if (kscribe_running_session == session) {
		ret = -EBUSY;
	} else {
		session->buffer_size = config.size;
		session->mode = config.mode;
	}
	mutex_unlock(&kscribe_lock);
	return ret;
}

static long kscribe_ioctl_context_info(void __user *uarg)
{
	const struct kscribe_context_desc *desc;
	struct kscribe_context_info info;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	if (info.flags)
		return -EINVAL;
	if (info.id >= KSCRIBE_NR_CONTEXTS)
		return -ENOENT;
	desc = &kscribe_contexts[array_index_nospec(info.id, KSCRIBE_NR_CONTEXTS)];
	info.type = desc->type;
	info.size = desc->size;
	info.context_flags = kscribe_context_available(info.id) ? KSCRIBE_CONTEXT_AVAILABLE : 0;
	info.reserved = 0;
	strscpy_pad(info.name, desc->name, sizeof(info.name));
	if (copy_to_user(uarg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long kscribe_ioctl_set_contexts(struct kscribe_session *session, void __user *uarg)
{
	struct kscribe_contexts config;
	unsigned int id;
	long ret = 0;

	if (copy_from_user(&config, uarg, sizeof(config)))
		return -EFAULT;
	if (config.flags || config.reserved ||
	    config.mask & ~GENMASK_ULL(KSCRIBE_NR_CONTEXTS - 1, 0))
		return -EINVAL;
	for (id = KSCRIBE_CTX_PERF_FIRST; id < KSCRIBE_NR_CONTEXTS; id++) {
		if ((config.mask & BIT_ULL(id)) && !kscribe_context_available(id))
			return -EOPNOTSUPP;
	}

	mutex_lock(&kscribe_lock);
	if (kscribe_running_session == session)
		ret = -EBUSY;
	else
		session->contexts = config.mask;
	mutex_unlock(&kscribe_lock);
	return ret;
}

static long kscribe_ioctl_event_field(void __user *uarg)
{
	const struct kscribe_field *f = NULL;
	struct kscribe_event_field info;
	struct kscribe_event *event;

	if (copy_from_user(&info, uarg, sizeof(info)))
		return -EFAULT;
	mutex_lock(&kscribe_lock);
	event = kscribe_find_event(info.id);
	if (event && info.index < event->nr_fields) {
		f = &event->layout[array_index_nospec(info.index, event->nr_fields)];
		info.kind = f->kind;
		info.size = f->size;
		info.field_flags = f->is_signed ? KSCRIBE_FIELD_SIGNED : 0;
		info.ref = f->ref;
		strscpy_pad(info.name, f->name, sizeof(info.name));
	}
	mutex_unlock(&kscribe_lock);
	if (!f)
		return -ENOENT;
	if (copy_to_user(uarg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long kscribe_ioctl_set_filter(struct kscribe_session *session, void __user *uarg)
{
	struct kscribe_filter_prog *prog = NULL;
	struct kscribe_event *event;
	struct kscribe_filter arg;
	long ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.nr_insns > KSCRIBE_FILTER_INSNS_MAX ||
	    arg.pool_size > KSCRIBE_FILTER_POOL_MAX)
		return -EINVAL;
	if (arg.nr_insns) {
		prog = kzalloc(struct_size(prog, insns, arg.nr_insns) + arg.pool_size, GFP_KERNEL);
		if (!prog)
			return -ENOMEM;
		prog->id = arg.id;
		prog->nr_insns = arg.nr_insns;
		prog->pool_size = arg.pool_size;
		prog->pool = (const char *)&prog->insns[arg.nr_insns];
		if (copy_from_user(prog->insns, u64_to_user_ptr(arg.insns),
				   array_size(arg.nr_insns, sizeof(prog->insns[0]))) ||
		    copy_from_user(&prog->insns[arg.nr_insns], u64_to_user_ptr(arg.pool),
				   arg.pool_size)) {
			kfree(prog);
			return -EFAULT;
		}
	}

	mutex_lock(&kscribe_lock);
	event = kscribe_find_event(arg.id);
	if (!event) {
		ret = -ENOENT;
	} else if (kscribe_running_session == session) {
		ret = -EBUSY;
	} else if (prog && kscribe_filter_check(prog, event)) {
		ret = -EINVAL;
	} else {
		kscribe_filter_drop(session, arg.id);
		if (prog)
			list_add_tail(&prog->list, &session->filters);
		prog = NULL;
		ret = 0;
	}
	mutex_unlock(&kscribe_lock);
	kfree(prog);
	return ret;
}

static long kscribe_ioctl_filter_stats(struct kscribe_session *session, void __user *uarg)
{
	const struct kscribe_recording *recording;
	struct kscribe_filter_stats stats;
	long ret = 0;

	if (copy_from_user(&stats, uarg, sizeof(stats)))
		return -EFAULT;
	if (stats.flags || !kscribe_cpu_ok(stats.cpu))
		return -EINVAL;
	mutex_lock(&kscribe_lock);
	recording = kscribe_current(session);
	if (recording)
		stats.filtered = local64_read(&per_cpu_ptr(recording->counters,
							   stats.cpu)->filtered);
	else
		ret = -ENOENT;
	mutex_unlock(&kscribe_lock);
	if (!ret && copy_to_user(uarg, &stats, sizeof(stats)))
		ret = -EFAULT;
	return ret;
}

static long kscribe_ioctl_statedump(unsigned long arg)
{
	struct kscribe_recording *recording;
	long ret;

	if (arg)
		return -EINVAL;
	mutex_lock(&kscribe_lock);
	recording = kscribe_running;
	if (recording)
		kref_get(&recording->ref);
	mutex_unlock(&kscribe_lock);
	if (!recording)
		return -ENOENT;
	ret = kscribe_statedump();
	kscribe_recording_put(recording);
	return ret;
}

static long kscribe_ioctl_status(struct kscribe_session *session, void __user *uarg)
{
	struct kscribe_recording *recording;
	struct kscribe_status status = {
		.nr_cpus = nr_cpu_ids,
	};
	struct kscribe_probe *probe;

	mutex_lock(&kscribe_lock);
	list_for_each_entry(probe, &kscribe_probes, list)
		status.nr_events += probe->nr_events;
	status.nr_selected = bitmap_weight(session->selected, KSCRIBE_MAX_EVENTS);
	if (kscribe_running)
		status.flags |= KSCRIBE_STATUS_ACTIVE;
	if (kscribe_running_session == session)
		status.flags |= KSCRIBE_STATUS_OWNER;
	recording = kscribe_current(session);
	if (recording) {
		status.state = recording->stopped ? KSCRIBE_STATE_STOPPED :
						    KSCRIBE_STATE_RECORDING;
		status.nr_recorded = recording->nr_recorded;
		status.pid = pid_vnr(recording->pid);
		if (recording->kptrs_hidden)
			status.flags |= KSCRIBE_STATUS_KPTRS_HIDDEN;
		status.mode = recording->mode;
		status.buffer_size = recording->size;
		status.start_ts = recording->start_ts;
		status.stop_ts = recording->stop_ts;
	} else {
		status.state = KSCRIBE_STATE_IDLE;
		status.mode = session->mode;
		status.buffer_size = session->buffer_size;
	}
	mutex_unlock(&kscribe_lock);

	if (copy_to_user(uarg, &status, sizeof(status)))
		return -EFAULT;
	return 0;
}

static long kscribe_ioctl_cpu_stats(struct kscribe_session *session, void __user *uarg)
{
	struct kscribe_recording *recording;
	struct kscribe_cpu_counters *counters;
	struct kscribe_cpu_stats stats;
	u32 cpu;

	if (copy_from_user(&stats, uarg, sizeof(stats)))
		return -EFAULT;
	if (stats.flags || !kscribe_cpu_ok(stats.cpu))
		return -EINVAL;

	cpu = stats.cpu;
	memset(&stats, 0, sizeof(stats));
	stats.cpu = cpu;

	mutex_lock(&kscribe_lock);
	recording = kscribe_current(session);
	if (!recording) {
		mutex_unlock(&kscribe_lock);
		return -ENOENT;
	}
	counters = per_cpu_ptr(recording->counters, cpu);
	stats.written = local64_read(&counters->written);
	stats.dropped = local64_read(&counters->dropped);
	stats.bytes = local64_read(&counters->bytes);
	stats.unreadable = local64_read(&counters->unreadable);
	stats.overrun = ring_buffer_overrun_cpu(recording->buffer, cpu);
	stats.lost = stats.overrun + stats.dropped;
	stats.read = ring_buffer_read_events_cpu(recording->buffer, cpu);
	stats.entries = ring_buffer_entries_cpu(recording->buffer, cpu);
	mutex_unlock(&kscribe_lock);

	if (copy_to_user(uarg, &stats, sizeof(stats)))
		return -EFAULT;
	return 0;
}

static long kscribe_ioctl_clock(void __user *uarg)
{
	struct kscribe_clock clock = {
		.freq = KSCRIBE_CLOCK_FREQ,
	};
	u64 best = U64_MAX;
	unsigned long flags;
	int i;

	/* The narrowest of a few windows bracketing the two system clocks. */
	for (i = 0; i < 8; i++) {
		u64 before, after, realtime, monotonic;

		local_irq_save(flags);
		before = trace_clock_local();
		realtime = ktime_get_real_ns();
		monotonic = ktime_get_ns();
		after = trace_clock_local();
		local_irq_restore(flags);
		if (after - before < best) {
			best = after - before;
			clock.trace_ns = before + best / 2;
			clock.realtime_ns = realtime;
			clock.monotonic_ns = monotonic;
		}
	}
	clock.uncertainty_ns = best;
	clock.realtime_offset_ns = clock.realtime_ns - clock.trace_ns;
	clock.monotonic_offset_ns = clock.monotonic_ns - clock.trace_ns;

	if (copy_to_user(uarg, &clock, sizeof(clock)))
		return -EFAULT;
	return 0;
}

static long kscribe_ioctl_stream_open(struct kscribe_session *session, void __user *uarg)
{
	const u32 known = KSCRIBE_STREAM_NONBLOCK | KSCRIBE_STREAM_CLOEXEC;
	struct kscribe_recording *recording;
	struct kscribe_stream_open arg;
	struct kscribe_stream *stream;
	int flags = O_RDONLY;
	int fd;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if ((arg.flags & ~known) || !kscribe_cpu_ok(arg.cpu))
		return -EINVAL;
	if (arg.flags & KSCRIBE_STREAM_NONBLOCK)
		flags |= O_NONBLOCK;
	if (arg.flags & KSCRIBE_STREAM_CLOEXEC)
		flags |= O_CLOEXEC;

	stream = kzalloc_obj(*stream, GFP_KERNEL);
	if (!stream)
		return -ENOMEM;
	mutex_init(&stream->lock);
	stream->cpu = arg.cpu;

	mutex_lock(&kscribe_lock);
	recording = kscribe_current(session);
	if (!recording) {
		fd = -ENOENT;
	} else if (test_and_set_bit(arg.cpu, recording->streams)) {
		fd = -EBUSY;
	} else {
		kref_get(&recording->ref);
		stream->recording = recording;
		fd = 0;
	}
	mutex_unlock(&kscribe_lock);
	if (fd) {
		kscribe_stream_free(stream);
		return fd;
	}

	fd = anon_inode_getfd("[kscribe-stream]", &kscribe_stream_fops, stream, flags);
	if (fd < 0) {
		clear_bit(arg.cpu, recording->streams);
		kscribe_stream_free(stream);
		kscribe_recording_put(recording);
	}
	return fd;
}

/*
 * STOP acts on the caller's own recording: stopping the one another session
 * started takes KSCRIBE_STOP_ANY, so that no tool stops a recording it did
 * not mean to.
 */
static long kscribe_ioctl_stop(struct kscribe_session *session, unsigned long flags)
{
	long ret = 0;

	if (flags & ~(unsigned long)KSCRIBE_STOP_ANY)
		return -EINVAL;
	mutex_lock(&kscribe_lock);
	if (!kscribe_running)
		ret = -ENOENT;
	else if (kscribe_running_session != session && !(flags & KSCRIBE_STOP_ANY))
		ret = -EBUSY;
	else
		kscribe_stop();
	mutex_unlock(&kscribe_lock);
	return ret;
}

static long kscribe_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kscribe_session *session = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	switch (cmd) {
	case KSCRIBE_IOCTL_VERSION:
		return kscribe_ioctl_version(uarg);
	case KSCRIBE_IOCTL_EVENT_INFO:
		return kscribe_ioctl_event_info(session, uarg);
	case KSCRIBE_IOCTL_EVENT_METADATA:
		return kscribe_ioctl_event_metadata(session, uarg);
	case KSCRIBE_IOCTL_ENABLE:
		return kscribe_ioctl_enable(session, uarg);
	case KSCRIBE_IOCTL_SET_BUFFER:
		return kscribe_ioctl_set_buffer(session, uarg);
	case KSCRIBE_IOCTL_STATUS:
		return kscribe_ioctl_status(session, uarg);
	case KSCRIBE_IOCTL_CPU_STATS:
		return kscribe_ioctl_cpu_stats(session, uarg);
	case KSCRIBE_IOCTL_CLOCK:
		return kscribe_ioctl_clock(uarg);
	case KSCRIBE_IOCTL_STREAM_OPEN:
		return kscribe_ioctl_stream_open(session, uarg);
	case KSCRIBE_IOCTL_STOP:
		return kscribe_ioctl_stop(session, arg);
	case KSCRIBE_IOCTL_CONTEXT_INFO:
		return kscribe_ioctl_context_info(uarg);
	case KSCRIBE_IOCTL_SET_CONTEXTS:
		return kscribe_ioctl_set_contexts(session, uarg);
	case KSCRIBE_IOCTL_EVENT_FIELD:
		return kscribe_ioctl_event_field(uarg);
	case KSCRIBE_IOCTL_SET_FILTER:
		return kscribe_ioctl_set_filter(session, uarg);
	case KSCRIBE_IOCTL_FILTER_STATS:
		return kscribe_ioctl_filter_stats(session, uarg);
	case KSCRIBE_IOCTL_STATEDUMP:
		return kscribe_ioctl_statedump(arg);
	case KSCRIBE_IOCTL_START:
	case KSCRIBE_IOCTL_FLUSH:
		break;
	default:
		return -ENOTTY;
	}

	/* START and FLUSH take no argument. */
	if (arg)
		return -EINVAL;
	mutex_lock(&kscribe_lock);
	if (cmd == KSCRIBE_IOCTL_START) {
		ret = kscribe_start(session);
	} else {
		/* FLUSH: a stream reads every commit, the writer's page too */
		ret = kscribe_current(session) ? 0 : -ENOENT;
		if (!ret)
			wake_up_interruptible_all(&kscribe_current(session)->wait);
	}
	mutex_unlock(&kscribe_lock);
	return ret;
}

static int kscribe_open(struct inode *inode, struct file *file)
{
	struct kscribe_session *session;
	int ret;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	/* a trace shows kernel data: refused in lockdown, as tracefs is */
	ret = security_locked_down(LOCKDOWN_TRACEFS);
	if (ret)
		return ret;
	ret = nonseekable_open(inode, file);
	if (ret)
		return ret;

	session = kzalloc_obj(*session, GFP_KERNEL);
	if (!session)
		return -ENOMEM;
	session->selected = bitmap_zalloc(KSCRIBE_MAX_EVENTS, GFP_KERNEL);
	if (!session->selected) {
		kfree(session);
		return -ENOMEM;
	}
	session->buffer_size = KSCRIBE_BUFFER_DEFAULT;
	session->mode = KSCRIBE_MODE_DISCARD;
	INIT_LIST_HEAD(&session->filters);

	mutex_lock(&kscribe_lock);
	list_add_tail(&session->list, &kscribe_sessions);
	mutex_unlock(&kscribe_lock);
	file->private_data = session;
	return 0;
}

static int kscribe_release(struct inode *inode, struct file *file)
{
	struct kscribe_session *session = file->private_data;
	struct kscribe_filter_prog *prog, *next;

	mutex_lock(&kscribe_lock);
	/* A recording does not outlive the session that started it. */
	if (kscribe_running_session == session)
		kscribe_stop();
	list_del(&session->list);
	kscribe_recording_put(session->recording);
	mutex_unlock(&kscribe_lock);

	list_for_each_entry_safe(prog, next, &session->filters, list)
		kfree(prog);
	bitmap_free(session->selected);
	kfree(session);
	return 0;
}

static const struct file_operations kscribe_fops = {
	.owner = THIS_MODULE,
	.open = kscribe_open,
	.release = kscribe_release,
	.unlocked_ioctl = kscribe_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice kscribe_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kscribe",
	.fops = &kscribe_fops,
	.mode = 0600,
};

static void kscribe_scratch_free(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		kfree(per_cpu(kscribe_scratch, cpu).area);
		per_cpu(kscribe_scratch, cpu).area = NULL;
	}
}

static int __init kscribe_init(void)
{
	int cpu, ret;

	BUILD_BUG_ON(ARRAY_SIZE(kscribe_perf_config) != KSCRIBE_NR_PERF);
	BUILD_BUG_ON(KSCRIBE_SCRATCH_SIZE < KSCRIBE_PAYLOAD_MAX);
	BUILD_BUG_ON(TASK_COMM_LEN != 16);	/* the procname of statedump_thread */
	BUILD_BUG_ON(KSCRIBE_FILTER_STACK_MAX + 1 > U8_MAX);
	BUILD_BUG_ON(KSCRIBE_MAX_EVENTS - 1 > U16_MAX);
	BUILD_BUG_ON(KSCRIBE_PAYLOAD_MAX > U16_MAX);
	BUILD_BUG_ON(sizeof(struct kscribe_rb_event) != sizeof(struct ring_buffer_event));
	BUILD_BUG_ON(KSCRIBE_EVENT_PADDING != RINGBUF_TYPE_PADDING);
	BUILD_BUG_ON(KSCRIBE_EVENT_TIME_EXTEND != RINGBUF_TYPE_TIME_EXTEND);
	BUILD_BUG_ON(KSCRIBE_EVENT_TIME_STAMP != RINGBUF_TYPE_TIME_STAMP);

	for_each_possible_cpu(cpu) {
		per_cpu(kscribe_scratch, cpu).area =
			kmalloc_node(2 * KSCRIBE_CONTEXTS * KSCRIBE_SCRATCH_SIZE, GFP_KERNEL,
				     cpu_to_node(cpu));
		if (!per_cpu(kscribe_scratch, cpu).area) {
			kscribe_scratch_free();
			return -ENOMEM;
		}
	}

	ret = kscribe_probe_register(&kscribe_dump_probe);
	if (ret) {
		kscribe_scratch_free();
		return ret;
	}
	ret = misc_register(&kscribe_miscdev);
	if (ret) {
		pr_err("cannot register /dev/%s (%d)\n", kscribe_miscdev.name, ret);
		kscribe_probe_unregister(&kscribe_dump_probe);
		kscribe_scratch_free();
		return ret;
	}

	pr_info("core %s loaded (abi %d)\n", KSCRIBE_VERSION_STRING,
		KSCRIBE_ABI_VERSION);
	return 0;
}
module_init(kscribe_init);

static void __exit kscribe_exit(void)
{
	misc_deregister(&kscribe_miscdev);
	kscribe_probe_unregister(&kscribe_dump_probe);
	/* Probe modules and open files hold references: none can be left. */
	WARN_ON(!list_empty(&kscribe_probes));
	WARN_ON(kscribe_running);
	kscribe_scratch_free();
	pr_info("core unloaded\n");
}
module_exit(kscribe_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kscribe tracer core: probe registry, ring buffers and control device");
MODULE_VERSION(KSCRIBE_VERSION_STRING);
