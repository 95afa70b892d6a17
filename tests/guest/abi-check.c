// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe-abi-check: the promises of the /dev/kscribe ABI that a caller
 * relies on, checked against the running core.
 *
 * Prints one line per check, "<name> ok" or "<name> fail:<what>":
 *   features	  VERSION announces KSCRIBE_FEATURE_STOP_ANY
 *   enable-reuse ENABLE writes back the count only: the same structure
 *		  selects, then deselects, the same events (an entry and an
 *		  exit per ABI)
 *   stop-other	  STOP from a second session leaves the first one's recording
 *		  running (-EBUSY) unless it passes KSCRIBE_STOP_ANY
 *   status-pid	  STATUS gives the starter's pid as the caller sees it: its
 *		  own pid in this namespace, 0 from a new pid namespace
 *   filters	  SET_FILTER takes a well-formed program and refuses with
 *		  -EINVAL every malformed one (no RET, stack out of bounds,
 *		  backward or overlong jumps, untyped or out-of-range field and
 *		  context reads, globs outside the pool, oversized programs)
 *   stream-reads a stream's read() returns whole page records only; a buffer
 *		  too small for the next record gets -EINVAL, one the kernel
 *		  cannot write to -EFAULT, and the records wait for the next
 *		  read(); every event the CPU's buffer took is read once, and
 *		  every loss counted once, in reads of any size
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uapi/linux/kscribe.h>

#define PATTERN "syscalls:openat"
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static int verdict(const char *name, const char *failure)
{
	if (failure)
		printf("%s fail:%s\n", name, failure);
	else
		printf("%s ok\n", name);
	return !!failure;
}

static int open_session(void)
{
	return open("/dev/kscribe", O_RDWR | O_CLOEXEC);
}

static const char *check_features(int fd)
{
	struct kscribe_version v;

	if (ioctl(fd, KSCRIBE_IOCTL_VERSION, &v) < 0)
		return "VERSION";
	return v.features & KSCRIBE_FEATURE_STOP_ANY ? NULL : "no-STOP_ANY";
}

static const char *check_enable_reuse(int fd)
{
	struct kscribe_enable e = { .pattern = PATTERN };
	unsigned int selected;

	if (ioctl(fd, KSCRIBE_IOCTL_ENABLE, &e) < 0 || e.count < 2)
		return "select";
	if (strcmp(e.pattern, PATTERN))
		return "pattern-rewritten";
	selected = e.count;
	e.flags = KSCRIBE_ENABLE_DISABLE;
	if (ioctl(fd, KSCRIBE_IOCTL_ENABLE, &e) < 0 || e.count != selected)
		return "deselect-with-the-same-structure";
	return NULL;
}

/* The id of event @name and the indices of two of its fields, or -1. */
static int find_event(int fd, const char *name, const char *f1, const char *f2,
		      unsigned int *id, unsigned int *i1, unsigned int *i2)
{
	struct kscribe_event_info info = { 0 };
	struct kscribe_event_field field;
	int found = 0;

	for (info.index = 0; !ioctl(fd, KSCRIBE_IOCTL_EVENT_INFO, &info); info.index++) {
		if (!strcmp(info.name, name))
			break;
	}
	if (strcmp(info.name, name))
		return -1;
	*id = info.id;
	memset(&field, 0, sizeof(field));
	field.id = info.id;
	for (; !ioctl(fd, KSCRIBE_IOCTL_EVENT_FIELD, &field); field.index++) {
		if (!strcmp(field.name, f1) && field.kind == KSCRIBE_FIELD_INT && ++found)
			*i1 = field.index;
		if (!strcmp(field.name, f2) && field.kind == KSCRIBE_FIELD_STRING && ++found)
			*i2 = field.index;
	}
	return found == 2 ? 0 : -1;
}

#define INSN(o, a, i, v)	{ .op = KSCRIBE_OP_##o, .arg = (a), .index = (i), .imm = (v) }

struct program {
	const char *name;
	struct kscribe_filter_insn insns[20];
	unsigned int nr;
	int error;		/* 0, or the errno SET_FILTER must fail with */
};

static const char *check_filters(int fd)
{
	static struct kscribe_filter_insn many[KSCRIBE_FILTER_INSNS_MAX + 1];
	unsigned int id, dfd = 0, filename = 0, i;
	struct kscribe_filter arg;
	static const char pool[] = "/tmp/*";
	static const char unterminated[3] = "abc";
	static char failure[96];
	int ret;

	if (find_event(fd, "syscall_entry_openat", "dfd", "filename", &id, &dfd, &filename))
		return "no-openat-fields";
	{
		const struct program programs[] = {
			{ "good", { INSN(FIELD, 0, dfd, 0), INSN(CONST, 0, 0, -100),
				    INSN(EQ, 1, 0, 0), INSN(OR, 0, 0, 3),
				    INSN(MATCH, 0, filename, 0), INSN(NOT, 0, 0, 0),
				    INSN(RET, 0, 0, 0) },
			  7, 0 },
			{ "no-ret", { INSN(CONST, 0, 0, 1) }, 1, EINVAL },
			{ "two-values", { INSN(CONST, 0, 0, 1), INSN(CONST, 0, 0, 1),
					  INSN(RET, 0, 0, 0) }, 3, EINVAL },
			{ "underflow", { INSN(EQ, 0, 0, 0), INSN(RET, 0, 0, 0) }, 2, EINVAL },
			{ "ret-early", { INSN(CONST, 0, 0, 1), INSN(RET, 0, 0, 0),
					 INSN(RET, 0, 0, 0) }, 3, EINVAL },
			{ "backward", { INSN(CONST, 0, 0, 1), INSN(AND, 0, 0, -1),
					INSN(RET, 0, 0, 0) }, 3, EINVAL },
			{ "past-end", { INSN(CONST, 0, 0, 1), INSN(AND, 0, 0, 5),
					INSN(RET, 0, 0, 0) }, 3, EINVAL },
			{ "depth", { INSN(CONST, 0, 0, 1), INSN(AND, 0, 0, 3), INSN(CONST, 0, 0, 2),
				     INSN(CONST, 0, 0, 3), INSN(EQ, 0, 0, 0), INSN(RET, 0, 0, 0) },
			  6, EINVAL },
			{ "field-range", { INSN(FIELD, 0, 99, 0), INSN(RET, 0, 0, 0) }, 2, EINVAL },
			{ "field-type", { INSN(FIELD, 0, filename, 0), INSN(RET, 0, 0, 0) }, 2,
			  EINVAL },
			{ "match-type", { INSN(MATCH, 0, dfd, 0), INSN(RET, 0, 0, 0) }, 2, EINVAL },
			{ "match-pool", { INSN(MATCH, 0, filename, 40), INSN(RET, 0, 0, 0) }, 2,
			  EINVAL },
			{ "context-perf", { INSN(CONTEXT, 0, KSCRIBE_CTX_PERF_CPU_CYCLES, 0),
					    INSN(RET, 0, 0, 0) }, 2, EINVAL },
			{ "context-text", { INSN(CONTEXT, 0, KSCRIBE_CTX_PROCNAME, 0),
					    INSN(RET, 0, 0, 0) }, 2, EINVAL },
			{ "opcode", { INSN(CONST, 0, 0, 1), { .op = 99 }, INSN(RET, 0, 0, 0) }, 3,
			  EINVAL },
			{ "reserved", { INSN(CONST, 1, 0, 1), INSN(RET, 0, 0, 0) }, 2, EINVAL },
		};

		for (i = 0; i < ARRAY_SIZE(programs); i++) {
			memset(&arg, 0, sizeof(arg));
			arg.id = id;
			arg.nr_insns = programs[i].nr;
			arg.insns = (uintptr_t)programs[i].insns;
			arg.pool = (uintptr_t)pool;
			arg.pool_size = sizeof(pool);
			ret = ioctl(fd, KSCRIBE_IOCTL_SET_FILTER, &arg) < 0 ? errno : 0;
			if (ret != programs[i].error) {
				snprintf(failure, sizeof(failure), "%s:%s", programs[i].name,
					 ret ? strerror(ret) : "accepted");
				return failure;
			}
		}
	}
	/* stack overflow, too many instructions, a glob without its NUL, flags, no event */
	for (i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (struct kscribe_filter_insn)INSN(CONST, 0, 0, 1);
	memset(&arg, 0, sizeof(arg));
	arg.id = id;
	arg.insns = (uintptr_t)many;
	arg.nr_insns = KSCRIBE_FILTER_STACK_MAX + 2;
	many[arg.nr_insns - 1] = (struct kscribe_filter_insn)INSN(RET, 0, 0, 0);
	if (ioctl(fd, KSCRIBE_IOCTL_SET_FILTER, &arg) == 0 || errno != EINVAL)
		return "stack-overflow";
	arg.nr_insns = ARRAY_SIZE(many);
	if (ioctl(fd, KSCRIBE_IOCTL_SET_FILTER, &arg) == 0 || errno != EINVAL)
		return "oversized";
	many[0] = (struct kscribe_filter_insn)INSN(MATCH, 0, filename, 0);
	many[1] = (struct kscribe_filter_insn)INSN(RET, 0, 0, 0);
	arg.nr_insns = 2;
	arg.pool = (uintptr_t)unterminated;
	arg.pool_size = sizeof(unterminated);
	if (ioctl(fd, KSCRIBE_IOCTL_SET_FILTER, &arg) == 0 || errno != EINVAL)
		return "unterminated-glob";
	arg.pool = (uintptr_t)pool;
	arg.pool_size = sizeof(pool);
	arg.flags = 1;
	if (ioctl(fd, KSCRIBE_IOCTL_SET_FILTER, &arg) == 0 || errno != EINVAL)
		return "flags";
	arg.flags = 0;
	arg.id = KSCRIBE_MAX_EVENTS;
	if (ioctl(fd, KSCRIBE_IOCTL_SET_FILTER, &arg) == 0 || errno != ENOENT)
		return "no-event";
	/* and the good one cleared again: nr_insns 0 */
	arg.id = id;
	arg.nr_insns = 0;
	return ioctl(fd, KSCRIBE_IOCTL_SET_FILTER, &arg) ? "clear" : NULL;
}

static int state_of(int fd, struct kscribe_status *status)
{
	return ioctl(fd, KSCRIBE_IOCTL_STATUS, status) < 0 ? -1 : (int)status->state;
}

/* From a child in a new pid namespace: the starter's pid as it sees it. */
static int pid_in_new_namespace(void)
{
	struct kscribe_status status;
	pid_t child;
	int wstatus, fd;

	if (unshare(CLONE_NEWPID) < 0)
		return -1;
	child = fork();
	if (child == 0) {
		fd = open_session();
		_exit(fd < 0 || state_of(fd, &status) < 0 ? 255 : status.pid != 0);
	}
	if (child < 0 || waitpid(child, &wstatus, 0) < 0 || !WIFEXITED(wstatus))
		return -1;
	return WEXITSTATUS(wstatus);
}

static const char *check_status_pid(int other)
{
	struct kscribe_status status;
	pid_t helper;
	int wstatus;

	if (state_of(other, &status) != KSCRIBE_STATE_RECORDING)
		return "not-recording";
	if (status.pid != (unsigned int)getpid())
		return "pid-in-own-namespace";
	helper = fork();	/* unshare() changes the namespace of later children only */
	if (helper == 0)
		_exit(pid_in_new_namespace());
	if (helper < 0 || waitpid(helper, &wstatus, 0) < 0 || !WIFEXITED(wstatus))
		return "helper";
	switch (WEXITSTATUS(wstatus)) {
	case 0:
		return NULL;
	case 1:
		return "pid-visible-from-another-namespace";
	default:
		return "new-namespace";
	}
}

static const char *check_stop_other(int owner, int other)
{
	struct kscribe_status status;

	if (ioctl(other, KSCRIBE_IOCTL_STOP, 0) == 0 || errno != EBUSY)
		return "stopped-by-another-session";
	if (state_of(owner, &status) != KSCRIBE_STATE_RECORDING)
		return "not-recording-after-refusal";
	if (ioctl(other, KSCRIBE_IOCTL_STOP, KSCRIBE_STOP_ANY) < 0)
		return "STOP_ANY-refused";
	if (state_of(owner, &status) != KSCRIBE_STATE_STOPPED)
		return "not-stopped-by-STOP_ANY";
	return NULL;
}

/*
 * The page records of @buf[0..@len): whole ones, their events added to
 * @events and their losses to @lost; -1 if the last one is cut.
 */
static int count_records(const unsigned char *buf, size_t len,
			 unsigned long long *events, unsigned long long *lost)
{
	const struct kscribe_event_header *h;
	struct kscribe_page_header page;
	__u32 at, length;
	size_t next = 0, padded;
	__u64 time;

	while (next < len) {
		if (len - next < sizeof(page))
			return -1;
		memcpy(&page, buf + next, sizeof(page));
		next += sizeof(page);
		padded = (page.size + KSCRIBE_STREAM_ALIGN - 1) & ~(KSCRIBE_STREAM_ALIGN - 1U);
		if (padded > len - next)
			return -1;
		*lost += page.lost;
		time = page.timestamp;
		for (at = 0; (length = kscribe_page_event(buf + next, page.size, at, &time, &h));
		     at += length)
			if (h)
				(*events)++;
		next += padded;
	}
	return 0;
}

static const char *check_stream_reads(int fd)
{
	struct kscribe_stream_open arg = { .cpu = 0 };
	struct kscribe_cpu_stats stats = { .cpu = 0 };
	static unsigned char buf[256 * 1024];
	unsigned long long events = 0, lost = 0;
	void *unwritable;
	cpu_set_t cpu0;
	int stream, i, opened;
	ssize_t n;

	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0) < 0)
		return "affinity";
	if (ioctl(fd, KSCRIBE_IOCTL_START, 0) < 0)
		return "START";
	stream = ioctl(fd, KSCRIBE_IOCTL_STREAM_OPEN, &arg);
	if (stream < 0)
		return "STREAM_OPEN";
	for (i = 0; i < 300; i++) {	/* an entry and an exit each, on CPU 0 */
		opened = open("/dev/null", O_RDONLY);
		if (opened >= 0)
			close(opened);
	}
	if (ioctl(fd, KSCRIBE_IOCTL_STOP, 0) < 0)
		return "STOP";
	if (read(stream, buf, 8) >= 0 || errno != EINVAL)
		return "short-buffer-not-EINVAL";
	unwritable = mmap(NULL, sizeof(buf), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (unwritable == MAP_FAILED)
		return "mmap";
	n = read(stream, unwritable, sizeof(buf));
	munmap(unwritable, sizeof(buf));
	if (n >= 0 || errno != EFAULT)
		return "bad-buffer-not-EFAULT";
	/*
	 * reads with room for a record of losses alone and whole ones in turn,
	 * until the stopped stream is drained: a page waits for the next
	 */
	for (i = 0; ; i++) {
		n = read(stream, buf, i % 2 ? sizeof(buf) : sizeof(struct kscribe_page_header));
		if (n < 0 && errno == EINVAL && i % 2 == 0)
			continue;
		if (n < 0)
			return "read";
		if (n == 0)
			break;
		if (count_records(buf, n, &events, &lost))
			return "cut-record";
	}
	if (ioctl(fd, KSCRIBE_IOCTL_CPU_STATS, &stats) < 0)
		return "CPU_STATS";
	close(stream);
	if (events < 600)
		return "too-few-events";
	if (events != stats.written || lost != stats.lost)
		return "events-read-differ-from-written";
	return NULL;
}

int main(void)
{
	struct kscribe_enable e = { .pattern = PATTERN };
	int owner = open_session(), other = open_session(), failed = 0;

	if (owner < 0 || other < 0) {
		perror("kscribe-abi-check: /dev/kscribe");
		return 2;
	}
	failed += verdict("features", check_features(owner));
	failed += verdict("enable-reuse", check_enable_reuse(owner));
	failed += verdict("filters", check_filters(owner));
	if (ioctl(owner, KSCRIBE_IOCTL_ENABLE, &e) < 0 ||
	    ioctl(owner, KSCRIBE_IOCTL_START, 0) < 0) {
		perror("kscribe-abi-check: START");
		return 2;
	}
	failed += verdict("status-pid", check_status_pid(other));
	failed += verdict("stop-other", check_stop_other(owner, other));
	ioctl(owner, KSCRIBE_IOCTL_STOP, 0);
	failed += verdict("stream-reads", check_stream_reads(owner));
	return failed ? 1 : 0;
}
