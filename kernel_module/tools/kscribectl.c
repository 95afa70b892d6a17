// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribectl: control the kscribe tracer through /dev/kscribe and record
 * CTF traces (1.8, or 2 with --ctf 2), every event with the per-event
 * contexts asked for.
 *
 * Built statically, for each target architecture, against the uapi header
 * only (-I kernel_module/include); see kscribe/build/guest_programs.py.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uapi/linux/kscribe.h>

#define KSCRIBE_DEVICE		"/dev/kscribe"

/* CTF packets: header (magic, stream id) and context, then events. */
#define CTF_MAGIC		0xC1FC1FC1U
#define PACKET_MAX		65536
#define PACKET_HEADER_SIZE	(4 + 4)
#define PACKET_CONTEXT_SIZE	(8 + 8 + 8 + 8 + 8 + 4)
/*
 * Event header, in one of the two layouts of header_layouts[]: an id, then
 * the low bits of the timestamp when the id is below the layout's extended
 * one and the clock moved less than 2^ts_bits ns since the stream's previous
 * timestamp (CTF readers then take the high bits from it); else the extended
 * id, then, from the next byte, the 16-bit id and the whole 64-bit timestamp.
 */
#define EVENT_HEADER_MAX	(2 + 2 + 8)
/* a trace of at most this many events numbers them from 0: the compact layout */
#define COMPACT_EVENTS		31
#define READ_SIZE		(256 * 1024)
#define DRAIN_PERIOD_NS		(50 * 1000 * 1000)
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

/* The contexts of every event of a recording unless -c says otherwise: who did it. */
#define DEFAULT_CONTEXTS	"tid,pid,procname"

/* What the CTF clock is: the timestamps are those of the kernel's ring buffer. */
#define CLOCK_DESCRIPTION \
	"the kernel ring buffer's trace_clock_local(): sched_clock() of each CPU, " \
	"nanoseconds since boot, not CLOCK_MONOTONIC; the uuid is the boot's"

static const char progname[] = "kscribectl";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s COMMAND [ARGS]\n"
		"\n"
		"Commands:\n"
		"  version    print the version and ABI of the kscribe core module\n"
		"  list       list the registered events\n"
		"  status     print the state of the tracer\n"
		"  stats      print every event's hits and the current recording's counters\n"
		"  stop       stop the running recording, whoever started it\n"
		"  contexts   list the per-event contexts and whether they can be recorded\n"
		"  statedump  record the state dump (threads, open files, interrupts, network\n"
		"             interfaces, CPUs) again into the running recording\n"
		"  fields PATTERN\n"
		"             list the fields of the events PATTERN selects, as -f names them\n"
		"  pause PATTERN, resume PATTERN\n"
		"             stop or go on recording the events of the running recording\n"
		"             that PATTERN matches (as for record -e)\n"
		"  record [-e PATTERN [-f FILTER]]... [--all-syscalls] [-c CONTEXT[,CONTEXT]...]...\n"
		"         [-b BYTES_PER_CPU] [--overwrite] [--ctf 1.8|2] -o DIR -- COMMAND [ARGS]...\n"
		"             record the selected events (default: all) while COMMAND runs,\n"
		"             into a CTF trace in DIR; PATTERN is \"probe:event\" or \"event\",\n"
		"             with shell globs; a system call name selects its entry and exit;\n"
		"             every event carries the contexts named with -c (default:\n"
		"             " DEFAULT_CONTEXTS "; \"none\" for none); -f records only the\n"
		"             events of the -e before it for which FILTER holds, e.g.\n"
		"             'filename == \"/etc/*\" && tid != 1': fields and contexts compared\n"
		"             with numbers (== != < <= > >=) or text with \"globs\" (== !=),\n"
		"             joined with && || ! and parentheses; a recording of the statedump\n"
		"             events (as \"*\" selects) starts with a state dump\n"
		"\n"
		"Options:\n"
		"  -h, --help print this help\n",
		progname);
}

static int error(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", progname, what, strerror(errno));
	return 1;
}

static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int open_device(void)
{
	int fd = open(KSCRIBE_DEVICE, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		error(KSCRIBE_DEVICE);
	return fd;
}

static int get_version(int fd, struct kscribe_version *version)
{
	memset(version, 0, sizeof(*version));
	if (ioctl(fd, KSCRIBE_IOCTL_VERSION, version) < 0)
		return error("KSCRIBE_IOCTL_VERSION");
	if (version->abi != KSCRIBE_ABI_VERSION)
		return fail("kernel ABI %u, this tool supports ABI %u", version->abi,
			    KSCRIBE_ABI_VERSION);
	return 0;
}

/* The index-th event; 1 past the last one, -1 on error. */
static int event_info(int fd, unsigned int index, struct kscribe_event_info *info)
{
	memset(info, 0, sizeof(*info));
	info->index = index;
	if (ioctl(fd, KSCRIBE_IOCTL_EVENT_INFO, info) < 0) {
		if (errno == ENOENT)
			return 1;
		error("KSCRIBE_IOCTL_EVENT_INFO");
		return -1;
	}
	info->probe[sizeof(info->probe) - 1] = '\0';
	info->name[sizeof(info->name) - 1] = '\0';
	return 0;
}

static int cmd_version(int fd)
{
	struct kscribe_version version;

	if (get_version(fd, &version))
		return 1;
	printf("kscribe %u.%u.%u abi %u\n", version.major, version.minor,
	       version.patchlevel, version.abi);
	return 0;
}

static int cmd_list(int fd)
{
	struct kscribe_version version;
	struct kscribe_event_info info;
	unsigned int index;
	int ret;

	if (get_version(fd, &version))
		return 1;
	for (index = 0; ; index++) {
		ret = event_info(fd, index, &info);
		if (ret)
			break;
		printf("%5u %s:%s%s%s\n", info.id, info.probe, info.name,
		       info.event_flags & KSCRIBE_EVENT_SYSCALL_ENTRY ? " (syscall entry)" :
		       info.event_flags & KSCRIBE_EVENT_SYSCALL_EXIT ? " (syscall exit)" : "",
		       info.event_flags & KSCRIBE_EVENT_RECORDED ? " [recorded]" : "");
	}
	return ret < 0;
}

/*
 * The per-event contexts the core offers, by id, read once: CONTEXT_INFO
 * tries the perf counters each time it is asked.
 */
static struct kscribe_context_info contexts[64];
static unsigned int nr_contexts;
static bool contexts_read;

static int read_contexts(int fd)
{
	struct kscribe_context_info *info;

	for (; !contexts_read && nr_contexts < ARRAY_SIZE(contexts); nr_contexts++) {
		info = &contexts[nr_contexts];
		info->id = nr_contexts;
		if (ioctl(fd, KSCRIBE_IOCTL_CONTEXT_INFO, info) < 0) {
			if (errno != ENOENT)
				return error("KSCRIBE_IOCTL_CONTEXT_INFO");
			break;
		}
		info->name[sizeof(info->name) - 1] = '\0';
	}
	contexts_read = true;
	return 0;
}

/* The context called @name, or NULL. */
static const struct kscribe_context_info *find_context(const char *name)
{
	unsigned int id;

	for (id = 0; id < nr_contexts; id++) {
		if (!strcmp(contexts[id].name, name))
			return &contexts[id];
	}
	return NULL;
}

static const char *type_name(const struct kscribe_context_info *info)
{
	static char name[16];

	if (info->type == KSCRIBE_TYPE_TEXT)
		snprintf(name, sizeof(name), "text[%u]", info->size);
	else
		snprintf(name, sizeof(name), "%c%u", info->type == KSCRIBE_TYPE_SIGNED ? 's' : 'u',
			 info->size * 8);
	return name;
}

static int cmd_contexts(int fd)
{
	struct kscribe_version version;
	unsigned int id;

	if (get_version(fd, &version) || read_contexts(fd))
		return 1;
	for (id = 0; id < nr_contexts; id++)
		printf("%2u %-20s %-9s %s\n", id, contexts[id].name, type_name(&contexts[id]),
		       contexts[id].context_flags & KSCRIBE_CONTEXT_AVAILABLE ? "available" :
		       "not available");
	return 0;
}

/*
 * Add the contexts of a -c argument, comma-separated names, to @mask: 1
 * with a message naming the first unknown or unavailable one.
 */
static int parse_contexts(int fd, const char *arg, uint64_t *mask)
{
	const struct kscribe_context_info *info;
	char *names, *name, *save = NULL;
	int ret = 0;

	if (read_contexts(fd))
		return 1;
	names = strdup(arg);
	if (!names)
		return error("strdup");
	for (name = strtok_r(names, ",", &save); name && !ret;
	     name = strtok_r(NULL, ",", &save)) {
		if (!strcmp(name, "none")) {
			*mask = 0;
			continue;
		}
		info = find_context(name);
		if (!info)
			ret = fail("unknown context '%s': `kscribectl contexts` lists them", name);
		else if (!(info->context_flags & KSCRIBE_CONTEXT_AVAILABLE))
			ret = fail("context '%s' is not available: this CPU has no counter for it",
				   name);
		else
			*mask |= 1ULL << info->id;
	}
	free(names);
	return ret ? 1 : 0;
}

static const char *mode_name(unsigned int mode)
{
	return mode == KSCRIBE_MODE_OVERWRITE ? "overwrite" : "discard";
}

static int get_status(int fd, struct kscribe_status *status)
{
	memset(status, 0, sizeof(*status));
	if (ioctl(fd, KSCRIBE_IOCTL_STATUS, status) < 0)
		return error("KSCRIBE_IOCTL_STATUS");
	return 0;
}

static int cmd_status(int fd)
{
	static const char * const states[] = { "idle", "recording", "stopped" };
	struct kscribe_version version;
	struct kscribe_status status;

	if (get_version(fd, &version) || get_status(fd, &status))
		return 1;
	printf("state: %s\n", status.state < 3 ? states[status.state] : "unknown");
	printf("events: %u registered\n", status.nr_events);
	printf("cpus: %u\n", status.nr_cpus);
	if (status.state != KSCRIBE_STATE_IDLE) {
		printf("pid: %u\n", status.pid);
		printf("recorded events: %u\n", status.nr_recorded);
		printf("buffer: %llu bytes per CPU, %s mode\n",
		       (unsigned long long)status.buffer_size, mode_name(status.mode));
	}
	return 0;
}

static int cmd_stats(int fd)
{
	struct kscribe_version version;
	struct kscribe_event_info info;
	struct kscribe_cpu_stats stats;
	struct kscribe_status status;
	unsigned int count, cpu;
	int ret;

	if (get_version(fd, &version))
		return 1;

	for (count = 0; ; count++) {
		ret = event_info(fd, count, &info);
		if (ret < 0)
			return 1;
		if (ret)
			break;
		printf("%s:%s %llu\n", info.probe, info.name, (unsigned long long)info.hits);
	}
	printf("events: %u\n", count);

	if (get_status(fd, &status))
		return 1;
	if (status.state == KSCRIBE_STATE_IDLE)
		return 0;
	for (cpu = 0; cpu < status.nr_cpus; cpu++) {
		memset(&stats, 0, sizeof(stats));
		stats.cpu = cpu;
		if (ioctl(fd, KSCRIBE_IOCTL_CPU_STATS, &stats) < 0) {
			if (errno == EINVAL)
				continue;	/* not a possible CPU */
			return error("KSCRIBE_IOCTL_CPU_STATS");
		}
		printf("cpu%u written %llu lost %llu overrun %llu dropped %llu", cpu,
		       (unsigned long long)stats.written, (unsigned long long)stats.lost,
		       (unsigned long long)stats.overrun, (unsigned long long)stats.dropped);
		printf(" bytes %llu read %llu entries %llu unreadable %llu\n",
		       (unsigned long long)stats.bytes, (unsigned long long)stats.read,
		       (unsigned long long)stats.entries, (unsigned long long)stats.unreadable);
	}
	return 0;
}

static int cmd_stop(int fd)
{
	if (ioctl(fd, KSCRIBE_IOCTL_STOP, KSCRIBE_STOP_ANY) < 0) {
		if (errno == ENOENT)
			return fail("no recording is running");
		return error("KSCRIBE_IOCTL_STOP");
	}
	return 0;
}

/* pause/resume: deselect or reselect events of the running recording. */
static int toggle(int fd, const char *pattern, bool resume)
{
	struct kscribe_enable arg = {
		.flags = KSCRIBE_ENABLE_RUNNING | (resume ? 0 : KSCRIBE_ENABLE_DISABLE),
	};

	if (snprintf(arg.pattern, sizeof(arg.pattern), "%s", pattern) >=
	    (int)sizeof(arg.pattern))
		return fail("pattern too long: %s", pattern);
	if (ioctl(fd, KSCRIBE_IOCTL_ENABLE, &arg) < 0) {
		if (errno == ENOENT)
			return fail("no running recording records events matching '%s'",
				    pattern);
		return error("KSCRIBE_IOCTL_ENABLE");
	}
	printf("%s %u events\n", resume ? "resumed" : "paused", arg.count);
	return 0;
}

/* ---- record ---- */

struct event_desc {
	unsigned int id;	/* in the trace: the kernel's, or 0, 1... (compact header) */
	char name[KSCRIBE_NAME_LEN];
	char *fields;
};

/*
 * @id_bits:	the id's width: 16, or 5 packed with the timestamp's low bits
 *		in one 32-bit word
 * @ts_bits:	the width of the timestamp's low bits
 * @extended:	the id that says the header is extended
 */
struct header_layout {
	unsigned int id_bits;
	unsigned int ts_bits;
	unsigned int extended;
};

/*
 * The trace's event header: 4 bytes (LTTng's compact header) for a trace of
 * a few events, which then have ids 0 to 30; else 6, with the kernel's ids.
 */
static const struct header_layout header_layouts[] = {
	{ .id_bits = 16, .ts_bits = 32, .extended = 0xFFFF },
	{ .id_bits = 5, .ts_bits = 27, .extended = COMPACT_EVENTS },
};

struct recorder;

/*
 * One CPU: its kernel stream, the pages read from it, the CTF stream file
 * made of them, and the thread that does both. While the recording runs,
 * the thread only copies the pages to a spool file, as cheaply as it can,
 * since its time is taken from the traced CPUs; it makes the CTF events of
 * them once the stream has ended.
 */
struct cpu_stream {
	struct recorder *recorder;
	pthread_t reader;
	unsigned int cpu;
	int fd;			/* kernel stream, -1 once at its end */
	int spool;		/* its page records, in a file already unlinked */
	int out;		/* stream_<cpu> */
	unsigned char *packet;	/* the packet being filled */
	size_t len;		/* bytes used in it, header and context included */
	unsigned int nr_events;	/* events in it */
	uint64_t ts_begin;
	uint64_t last_ts;
	uint64_t discarded;	/* events lost so far on this CPU */
	uint64_t flushed;	/* discarded in the last packet written */
	uint64_t events;
	uint64_t bytes;
	uint64_t adjusted;	/* timestamps raised to keep the stream ordered */
	uint64_t unknown;	/* events without metadata or too large, skipped */
	unsigned char *readbuf;
	bool busy;		/* the last drain read a lot: drain again now */
};

struct recorder {
	int dev;
	uint64_t contexts;	/* KSCRIBE_CTX_* bits of every event */
	bool filtered;		/* some events have a filter */
	bool ctf2;		/* CTF 2 metadata instead of CTF 1.8 */
	const char *dir;
	int dirfd;		/* the output directory, opened without following links */
	struct kscribe_clock clock;
	struct kscribe_status status;
	struct event_desc *events;
	unsigned int nr_events;
	int *trace_id;		/* trace_id[kernel id]: the event's id in the trace, or -1 */
	const struct header_layout *header;
	struct cpu_stream *streams;
	unsigned int nr_streams;
	unsigned int nr_readers;	/* reader threads started */
	bool stopping;		/* the recording is stopped: readers drain without pausing */
	bool failed;		/* a reader failed: the recording ends */
	char trace_uuid[37];	/* this trace's, random */
	char clock_uuid[37];	/* the boot's: the trace clock counts from boot */
};

/*
 * SIGINT, SIGTERM and SIGHUP stay blocked in kscribectl. One sent to it alone
 * (kill(), not the terminal's signal to the whole foreground group, which
 * reaches COMMAND by itself) is passed on to COMMAND: the recording goes on
 * until COMMAND exits, and ends as it always does.
 */
static void forward(const siginfo_t *info, pid_t child)
{
	if (info->si_code == SI_USER || info->si_code == SI_QUEUE ||
	    info->si_code == SI_TKILL)
		kill(child, info->si_signo);
}

/* End COMMAND on an error path, so that kscribectl never leaves it behind. */
static void reap(pid_t child)
{
	kill(child, SIGTERM);
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static void put(unsigned char *p, size_t *len, const void *value, size_t size)
{
	memcpy(p + *len, value, size);
	*len += size;
}

static void packet_reset(struct cpu_stream *s)
{
	s->len = PACKET_HEADER_SIZE + PACKET_CONTEXT_SIZE;
	s->nr_events = 0;
	s->ts_begin = s->last_ts;
}

/* Write the current packet, even when empty, and start a new one. */
static int packet_flush(struct cpu_stream *s)
{
	uint32_t magic = CTF_MAGIC, stream_id = 0, cpu = s->cpu;
	uint64_t bits = (uint64_t)s->len * 8;
	size_t at = 0;

	put(s->packet, &at, &magic, 4);
	put(s->packet, &at, &stream_id, 4);
	put(s->packet, &at, &s->ts_begin, 8);
	put(s->packet, &at, &s->last_ts, 8);
	put(s->packet, &at, &bits, 8);		/* content_size */
	put(s->packet, &at, &bits, 8);		/* packet_size */
	put(s->packet, &at, &s->discarded, 8);
	put(s->packet, &at, &cpu, 4);
	if (write_all(s->out, s->packet, s->len))
		return error("stream file");
	s->flushed = s->discarded;
	s->bytes += s->len;
	packet_reset(s);
	return 0;
}

static bool little_endian(void)
{
	const unsigned int one = 1;

	return *(const unsigned char *)&one;
}

static const char *byte_order(void)
{
	return little_endian() ? "le" : "be";
}

/*
 * Write the header of an event of id @id at @ts: see header_layouts[]. CTF
 * packs bit fields from a byte's least significant bit in a little-endian
 * trace, from its most significant one in a big-endian trace.
 */
static void put_header(const struct header_layout *l, struct cpu_stream *s, uint16_t id,
		       uint64_t ts)
{
	uint64_t delta = s->nr_events ? ts - s->last_ts : 0;
	uint32_t low = ts & (uint32_t)((1ULL << l->ts_bits) - 1);
	bool le = little_endian();
	uint16_t extended = l->extended;
	uint8_t first;

	if (id < l->extended && !(delta >> l->ts_bits)) {
		if (l->id_bits == 16)
			put(s->packet, &s->len, &id, 2);
		else
			low = le ? low << l->id_bits | id : (uint32_t)id << l->ts_bits | low;
		put(s->packet, &s->len, &low, 4);
		return;
	}
	if (l->id_bits == 16) {
		put(s->packet, &s->len, &extended, 2);
	} else {
		first = le ? l->extended : l->extended << (8 - l->id_bits);
		put(s->packet, &s->len, &first, 1);
	}
	put(s->packet, &s->len, &id, 2);
	put(s->packet, &s->len, &ts, 8);
}

static int stream_event(struct recorder *r, struct cpu_stream *s, uint64_t ts,
			const struct kscribe_event_header *h)
{
	if (h->id >= KSCRIBE_MAX_EVENTS || r->trace_id[h->id] < 0 ||
	    h->size > KSCRIBE_PAYLOAD_MAX) {
		s->unknown++;
		return 0;
	}
	if (s->len + EVENT_HEADER_MAX + h->size > PACKET_MAX && packet_flush(s))
		return 1;
	if (ts < s->last_ts) {
		ts = s->last_ts;
		s->adjusted++;
	}
	if (!s->nr_events)
		s->ts_begin = ts;
	put_header(r->header, s, r->trace_id[h->id], ts);
	s->last_ts = ts;
	put(s->packet, &s->len, h + 1, h->size);
	s->nr_events++;
	s->events++;
	return 0;
}

static int stream_lost(struct cpu_stream *s, uint64_t count)
{
	/* Events lost after the ones of this packet: they belong to the next one. */
	if (s->nr_events && packet_flush(s))
		return 1;
	s->discarded += count;
	return 0;
}

/*
 * Copy what the kernel stream has to the spool, whole page records as
 * read() returns them. 1 on error.
 */
static int stream_drain(struct cpu_stream *s)
{
	ssize_t n;

	while (s->fd >= 0) {
		n = read(s->fd, s->readbuf, READ_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return error("stream read");
		}
		if (n == 0) {
			close(s->fd);
			s->fd = -1;
			return 0;
		}
		if (write_all(s->spool, s->readbuf, n))
			return error("spool file");
		/*
		 * A read that came back less than half full took what the
		 * buffer held: stop there. Reading on would chase the events
		 * of our own reads (when syscalls are traced) for ever; they
		 * wait for the next round.
		 */
		if (n <= READ_SIZE / 2)
			return 0;
		s->busy = true;
	}
	return 0;
}

/*
 * Take the next page record of the spool: its header into @page, its events
 * into the stream's read buffer. Return: 1, 0 at the end of the spool, -1
 * on an error, said.
 */
static int spool_next(struct cpu_stream *s, FILE *f, struct kscribe_page_header *page)
{
	size_t n = fread(page, 1, sizeof(*page), f), padded;

	if (!n && !ferror(f))
		return 0;
	if (n == sizeof(*page) && page->cpu == s->cpu &&
	    page->size <= READ_SIZE - sizeof(*page)) {
		padded = (page->size + KSCRIBE_STREAM_ALIGN - 1) & ~(KSCRIBE_STREAM_ALIGN - 1U);
		if (fread(s->readbuf, 1, padded, f) == padded)
			return 1;
	}
	if (ferror(f))
		error("spool file");
	else
		fail("cpu %u: a page record of the spool is cut or bad", s->cpu);
	return -1;
}

/* Make the CTF events of the page records of the spool. 1 on error. */
static int stream_convert(struct cpu_stream *s)
{
	const struct kscribe_event_header *h;
	struct kscribe_page_header page;
	uint32_t at, length;
	int more = 0, ret = 0;
	__u64 ts;
	FILE *f;

	if (lseek(s->spool, 0, SEEK_SET) < 0)
		return error("spool file");
	f = fdopen(s->spool, "r");
	if (!f)
		return error("spool file");
	s->spool = -1;
	while (!ret && (more = spool_next(s, f, &page)) > 0) {
		ret = page.lost && stream_lost(s, page.lost);
		ts = page.timestamp;
		for (at = 0; !ret; at += length) {
			length = kscribe_page_event(s->readbuf, page.size, at, &ts, &h);
			if (!length)
				break;
			ret = h && stream_event(s->recorder, s, ts, h);
		}
	}
	fclose(f);
	return ret || more < 0;
}

/*
 * A CPU's reader thread: drain its stream, then sleep one drain period
 * unless the stream had a lot to read, until it ends (the recording stopped
 * and every record is read); then make its CTF stream. A thread per CPU
 * keeps up with CPUs that all fill their buffers at once, as one reader of
 * every stream cannot. Waking on each readable stream instead of the period
 * would make the reader trace itself in a loop: its own reads and waits are
 * events too.
 */
static void *stream_reader(void *arg)
{
	struct cpu_stream *s = arg;
	const struct timespec period = { .tv_sec = 0, .tv_nsec = DRAIN_PERIOD_NS };

	while (s->fd >= 0) {
		s->busy = false;
		if (stream_drain(s))
			goto failed;
		if (!s->busy && !__atomic_load_n(&s->recorder->stopping, __ATOMIC_ACQUIRE))
			nanosleep(&period, NULL);
	}
	if (!stream_convert(s))
		return NULL;
failed:
	__atomic_store_n(&s->recorder->failed, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Start a reader thread per stream. 1 on error. */
static int start_readers(struct recorder *r)
{
	int err;

	for (; r->nr_readers < r->nr_streams; r->nr_readers++) {
		err = pthread_create(&r->streams[r->nr_readers].reader, NULL, stream_reader,
				     &r->streams[r->nr_readers]);
		if (err) {
			errno = err;
			return error("pthread_create");
		}
	}
	return 0;
}

/*
 * Wait for the reader threads to read their streams to the end, once the
 * recording is stopped. 1 if one of them failed.
 */
static int join_readers(struct recorder *r)
{
	unsigned int i;

	__atomic_store_n(&r->stopping, true, __ATOMIC_RELEASE);
	for (i = 0; i < r->nr_readers; i++)
		pthread_join(r->streams[i].reader, NULL);
	r->nr_readers = 0;
	return r->failed;
}

static int enable(int fd, const char *pattern, unsigned int flags)
{
	struct kscribe_enable arg;

	memset(&arg, 0, sizeof(arg));
	arg.flags = flags;
	if (snprintf(arg.pattern, sizeof(arg.pattern), "%s", pattern) >=
	    (int)sizeof(arg.pattern))
		return fail("pattern too long: %s", pattern);
	if (ioctl(fd, KSCRIBE_IOCTL_ENABLE, &arg) < 0) {
		if (errno == ENOENT)
			return fail("no event matches '%s'", pattern[0] ? pattern : "syscalls");
		if (errno == EINVAL)
			return fail("invalid event pattern '%s'", pattern);
		return error("KSCRIBE_IOCTL_ENABLE");
	}
	return 0;
}

/* Filters: compiled here, checked and run by the kernel. */

struct field_desc {
	char name[KSCRIBE_NAME_LEN];
	unsigned int kind;
	unsigned int size;
	bool is_signed;
};

struct filter_code {
	struct kscribe_filter_insn insns[KSCRIBE_FILTER_INSNS_MAX];
	unsigned int nr;
	char pool[KSCRIBE_FILTER_POOL_MAX];
	unsigned int pool_size;
};

/* One -f of record: the expression and the -e pattern whose events it filters. */
struct filter_arg {
	const char *pattern;
	const char *expr;
};

struct parser {
	int dev;
	const char *at;			/* the next character of the expression */
	const char *event;		/* for messages */
	const struct field_desc *fields;
	unsigned int nr_fields;
	struct filter_code *code;
	char error[320];
	bool unknown;			/* the error is a name the event does not have */
};

static int parse_error(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->error[0]) {
		va_start(ap, fmt);
		vsnprintf(p->error, sizeof(p->error), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void skip_space(struct parser *p)
{
	while (*p->at == ' ' || *p->at == '\t' || *p->at == '\n')
		p->at++;
}

/* Take @token if the expression goes on with it. */
static bool take(struct parser *p, const char *token)
{
	skip_space(p);
	if (strncmp(p->at, token, strlen(token)))
		return false;
	p->at += strlen(token);
	return true;
}

static int emit(struct parser *p, unsigned int op, unsigned int arg, unsigned int index,
		int32_t imm)
{
	struct kscribe_filter_insn *insn;

	if (p->code->nr == KSCRIBE_FILTER_INSNS_MAX)
		return parse_error(p, "the filter is too long: more than %u instructions",
				   KSCRIBE_FILTER_INSNS_MAX);
	insn = &p->code->insns[p->code->nr];
	insn->op = op;
	insn->arg = arg;
	insn->index = index;
	insn->imm = imm;
	return p->code->nr++;
}

static int pool_add(struct parser *p, const char *text, size_t len)
{
	struct filter_code *c = p->code;
	int at = c->pool_size;

	if (c->pool_size + len + 1 > sizeof(c->pool))
		return parse_error(p, "the filter's strings take more than %u bytes",
				   KSCRIBE_FILTER_POOL_MAX);
	memcpy(c->pool + c->pool_size, text, len);
	c->pool[c->pool_size + len] = '\0';
	c->pool_size += len + 1;
	return at;
}

/* A "quoted" glob into the pool: its offset, or -1. */
static int parse_string(struct parser *p)
{
	char text[KSCRIBE_FILTER_POOL_MAX];
	size_t len = 0;

	p->at++;	/* the opening quote */
	for (; *p->at && *p->at != '"'; p->at++) {
		if (*p->at == '\\' && p->at[1])
			p->at++;
		if (len == sizeof(text) - 1)
			return parse_error(p, "a string of the filter is too long");
		text[len++] = *p->at;
	}
	if (*p->at != '"')
		return parse_error(p, "unterminated string in the filter");
	p->at++;
	return pool_add(p, text, len);
}

static const char * const compare_ops[] = { "==", "!=", "<=", ">=", "<", ">" };
static const unsigned int compare_codes[] = {
	KSCRIBE_OP_EQ, KSCRIBE_OP_NE, KSCRIBE_OP_LE, KSCRIBE_OP_GE, KSCRIBE_OP_LT, KSCRIBE_OP_GT,
};

/*
 * What NAME is: a field of the event, else a context ("$ctx.NAME" is always
 * a context). 0 with *kind, *size, *is_signed and *index set; -1 if neither.
 */
static int resolve(struct parser *p, const char *name, unsigned int *kind, bool *context,
		   bool *is_signed, unsigned int *index)
{
	const struct kscribe_context_info *info;
	bool ctx_only = !strncmp(name, "$ctx.", 5);
	unsigned int i;

	if (ctx_only)
		name += 5;
	for (i = 0; !ctx_only && i < p->nr_fields; i++) {
		if (!strcmp(p->fields[i].name, name)) {
			*kind = p->fields[i].kind;
			*is_signed = p->fields[i].is_signed;
			*context = false;
			*index = i;
			return 0;
		}
	}
	info = read_contexts(p->dev) ? NULL : find_context(name);
	if (info && !strncmp(name, "perf_", 5))
		return parse_error(p, "context '%s' cannot be filtered on", name);
	if (info) {
		*kind = info->type == KSCRIBE_TYPE_TEXT ? KSCRIBE_FIELD_TEXT : KSCRIBE_FIELD_INT;
		*is_signed = info->type == KSCRIBE_TYPE_SIGNED;
		*context = true;
		*index = info->id;
		return 0;
	}
	p->unknown = true;
	return parse_error(p, "no field or context '%s' in %s (see kscribectl fields, contexts)",
			   name, p->event);
}

/* NAME OP VALUE */
static int parse_comparison(struct parser *p)
{
	unsigned int kind = 0, index = 0, op, i;
	bool context = false, is_signed = false;
	char name[KSCRIBE_NAME_LEN + 5];
	long long value;
	size_t len;
	char *end;
	int at;

	skip_space(p);
	len = strspn(p->at, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$.");
	if (!len)
		return parse_error(p, "expected a field name at '%s'", p->at);
	if (len >= sizeof(name))
		return parse_error(p, "name too long at '%.20s'", p->at);
	memcpy(name, p->at, len);
	name[len] = '\0';
	p->at += len;
	for (i = 0; i < ARRAY_SIZE(compare_ops) && !take(p, compare_ops[i]); i++)
		;
	if (i == ARRAY_SIZE(compare_ops))
		return parse_error(p, "expected a comparison (== != < <= > >=) after '%s'", name);
	op = compare_codes[i];
	if (resolve(p, name, &kind, &context, &is_signed, &index))
		return -1;
	skip_space(p);
	if (kind == KSCRIBE_FIELD_TEXT || kind == KSCRIBE_FIELD_STRING) {
		if (*p->at != '"')
			return parse_error(p, "type mismatch: '%s' is text, not a number",
					   name);
		if (op != KSCRIBE_OP_EQ && op != KSCRIBE_OP_NE)
			return parse_error(p, "text compares with == and != only: '%s'", name);
		at = parse_string(p);
		if (at < 0 || emit(p, KSCRIBE_OP_MATCH, context, index, at) < 0)
			return -1;
		return op == KSCRIBE_OP_NE && emit(p, KSCRIBE_OP_NOT, 0, 0, 0) < 0 ? -1 : 0;
	}
	if (kind != KSCRIBE_FIELD_INT)
		return parse_error(p, "type mismatch: '%s' of %s is an array or a structure",
				   name, p->event);
	if (*p->at == '"')
		return parse_error(p, "type mismatch: '%s' is an integer, compare it with a number",
				   name);
	errno = 0;
	value = strtoll(p->at, &end, 0);
	if (end == p->at || errno)
		return parse_error(p, "expected a number after '%s %s'", name, compare_ops[i]);
	p->at = end;
	if (emit(p, context ? KSCRIBE_OP_CONTEXT : KSCRIBE_OP_FIELD, 0, index, 0) < 0 ||
	    emit(p, KSCRIBE_OP_CONST, 0, 0, (int32_t)value) < 0)
		return -1;
	if (value != (int32_t)value &&
	    emit(p, KSCRIBE_OP_CONST_HI, 0, 0, (int32_t)((unsigned long long)value >> 32)) < 0)
		return -1;
	return emit(p, op, is_signed, 0, 0) < 0 ? -1 : 0;
}

static int parse_or(struct parser *p);

static int parse_unary(struct parser *p)
{
	if (take(p, "!")) {
		if (parse_unary(p))
			return -1;
		return emit(p, KSCRIBE_OP_NOT, 0, 0, 0) < 0 ? -1 : 0;
	}
	if (take(p, "(")) {
		if (parse_or(p))
			return -1;
		return take(p, ")") ? 0 : parse_error(p, "expected ')' at '%s'", p->at);
	}
	return parse_comparison(p);
}

/* LEFT (op RIGHT)*: a jump past RIGHT when LEFT decides (&&: false, ||: true). */
static int parse_chain(struct parser *p, const char *token, unsigned int op,
		       int (*operand)(struct parser *p))
{
	int jump;

	if (operand(p))
		return -1;
	while (take(p, token)) {
		jump = emit(p, op, 0, 0, 0);
		if (jump < 0 || operand(p))
			return -1;
		p->code->insns[jump].imm = p->code->nr - jump;
	}
	return 0;
}

static int parse_and(struct parser *p)
{
	return parse_chain(p, "&&", KSCRIBE_OP_AND, parse_unary);
}

static int parse_or(struct parser *p)
{
	return parse_chain(p, "||", KSCRIBE_OP_OR, parse_and);
}

/* The fields of event @id, from the kernel; -1 on error. */
static int event_fields(int fd, unsigned int id, struct field_desc **fields)
{
	struct kscribe_event_field f;
	struct field_desc *d;
	unsigned int n;

	*fields = NULL;
	for (n = 0; ; n++) {
		memset(&f, 0, sizeof(f));
		f.id = id;
		f.index = n;
		if (ioctl(fd, KSCRIBE_IOCTL_EVENT_FIELD, &f) < 0) {
			if (errno == ENOENT)
				return n;
			free(*fields);
			error("KSCRIBE_IOCTL_EVENT_FIELD");
			return -1;
		}
		d = realloc(*fields, (n + 1) * sizeof(*d));
		if (!d) {
			free(*fields);
			error("realloc");
			return -1;
		}
		*fields = d;
		memcpy(d[n].name, f.name, sizeof(d[n].name));
		d[n].name[sizeof(d[n].name) - 1] = '\0';
		d[n].kind = f.kind;
		d[n].size = f.size;
		d[n].is_signed = f.field_flags & KSCRIBE_FIELD_SIGNED;
	}
}

/* Compile @expr for event @id (@name): 0, or -1 with the reason in p->error. */
static int compile_filter(struct parser *p, const char *expr, unsigned int id,
			  const char *name, struct filter_code *code)
{
	struct field_desc *fields;
	int n = event_fields(p->dev, id, &fields);

	if (n < 0)
		return parse_error(p, "cannot read the fields of %s", name);
	memset(code, 0, sizeof(*code));
	p->at = expr;
	p->event = name;
	p->fields = fields;
	p->nr_fields = n;
	p->code = code;
	p->error[0] = '\0';
	p->unknown = false;
	if (!parse_or(p)) {
		skip_space(p);
		if (*p->at)
			parse_error(p, "unexpected '%s' in the filter", p->at);
		else
			emit(p, KSCRIBE_OP_RET, 0, 0, 0);
	}
	free(fields);
	return p->error[0] ? -1 : 0;
}

/* The next event @pattern selects in session @fd, from @index on: 0, 1 past the last, -1. */
static int next_selected(int fd, unsigned int *index, struct kscribe_event_info *info)
{
	int ret;

	while (!(ret = event_info(fd, (*index)++, info))) {
		if (info->event_flags & KSCRIBE_EVENT_SELECTED)
			return 0;
	}
	return ret;
}

/*
 * Set the filter of every event the -e pattern of @fa selects, compiled for
 * each one's fields. An event without a field the filter reads cannot pass
 * it: it is not recorded, and said so once.
 */
static int apply_filter(int fd, const struct filter_arg *fa)
{
	static struct filter_code code;
	struct parser p = { .dev = fd };
	struct kscribe_event_info info;
	struct kscribe_filter arg;
	char name[2 * KSCRIBE_NAME_LEN + 1], lacking[sizeof(p.error)] = "";
	unsigned int index = 0, applied = 0, skipped = 0;
	int matcher, ret;

	/* a session of its own says which events the pattern selects, as the kernel matches */
	matcher = open_device();
	if (matcher < 0)
		return 1;
	if (enable(matcher, fa->pattern, 0)) {
		close(matcher);
		return 1;
	}
	while (!(ret = next_selected(matcher, &index, &info))) {
		if (compile_filter(&p, fa->expr, info.id, info.name, &code)) {
			if (!p.unknown)
				break;
			snprintf(name, sizeof(name), "%s:%s", info.probe, info.name);
			if (!skipped++)
				memcpy(lacking, p.error, sizeof(lacking));
			if (enable(fd, name, KSCRIBE_ENABLE_DISABLE))
				break;
			continue;
		}
		memset(&arg, 0, sizeof(arg));
		arg.id = info.id;
		arg.nr_insns = code.nr;
		arg.pool_size = code.pool_size;
		arg.insns = (uintptr_t)code.insns;
		arg.pool = (uintptr_t)code.pool;
		if (ioctl(fd, KSCRIBE_IOCTL_SET_FILTER, &arg) < 0) {
			snprintf(p.error, sizeof(p.error), "the kernel refused it for %s: %s",
				 info.name, strerror(errno));
			break;
		}
		applied++;
	}
	close(matcher);
	if (ret < 0)
		return 1;
	if (!ret)	/* stopped at an error */
		return p.error[0] ? fail("-f '%s': %s", fa->expr, p.error) : 1;
	if (!applied)
		return fail("-f '%s': %s", fa->expr, lacking);
	if (skipped)
		fprintf(stderr, "%s: -f '%s': %u events of '%s' are not recorded: %s\n", progname,
			fa->expr, skipped, fa->pattern, lacking);
	return 0;
}

/* fields PATTERN: the fields of the events PATTERN selects, as filters name them. */
static int cmd_fields(int fd, const char *pattern)
{
	static const char * const kinds[] = { "int", "text", "bytes", "string", "sequence" };
	struct kscribe_event_info info;
	struct field_desc *fields;
	unsigned int index = 0;
	int ret, n, i;

	ret = enable(fd, pattern, 0);
	while (!ret && !(ret = next_selected(fd, &index, &info))) {
		n = event_fields(fd, info.id, &fields);
		if (n < 0)
			return 1;
		printf("%s:%s\n", info.probe, info.name);
		for (i = 0; i < n; i++)
			printf("  %-24s %s%u%s\n", fields[i].name,
			       fields[i].kind < ARRAY_SIZE(kinds) ? kinds[fields[i].kind] : "?",
			       fields[i].size * (fields[i].kind == KSCRIBE_FIELD_INT ? 8 : 1),
			       fields[i].kind == KSCRIBE_FIELD_INT && fields[i].is_signed ?
			       " signed" : "");
		free(fields);
	}
	return ret != 1;
}

/* Metadata of the events selected for the recording about to start. */
static int collect_events(struct recorder *r)
{
	struct kscribe_event_metadata meta;
	struct kscribe_event_info info;
	struct event_desc *d;
	unsigned int index;
	int ret;

	r->trace_id = malloc(KSCRIBE_MAX_EVENTS * sizeof(*r->trace_id));
	if (!r->trace_id)
		return error("malloc");
	memset(r->trace_id, -1, KSCRIBE_MAX_EVENTS * sizeof(*r->trace_id));
	for (index = 0; ; index++) {
		ret = event_info(r->dev, index, &info);
		if (ret < 0)
			return 1;
		if (ret)
			break;
		if (!(info.event_flags & KSCRIBE_EVENT_SELECTED) || info.id >= KSCRIBE_MAX_EVENTS)
			continue;

		memset(&meta, 0, sizeof(meta));
		meta.id = info.id;
		if (ioctl(r->dev, KSCRIBE_IOCTL_EVENT_METADATA, &meta) < 0)
			return error("KSCRIBE_IOCTL_EVENT_METADATA");
		d = realloc(r->events, (r->nr_events + 1) * sizeof(*d));
		if (!d)
			return error("realloc");
		r->events = d;
		d += r->nr_events;
		d->id = info.id;
		memcpy(d->name, info.name, sizeof(d->name));
		d->fields = calloc(1, meta.fields_size + 1);
		if (!d->fields)
			return error("calloc");
		meta.fields = (uintptr_t)d->fields;
		if (ioctl(r->dev, KSCRIBE_IOCTL_EVENT_METADATA, &meta) < 0)
			return error("KSCRIBE_IOCTL_EVENT_METADATA");
		r->trace_id[info.id] = info.id;
		r->nr_events++;
	}
	r->header = &header_layouts[r->nr_events <= COMPACT_EVENTS];
	if (r->header->id_bits == 16)
		return 0;
	for (index = 0; index < r->nr_events; index++) {
		r->trace_id[r->events[index].id] = index;
		r->events[index].id = index;
	}
	return 0;
}

/*
 * The trace holds what root may see and others may not (file names, addresses):
 * its directory is made 0700, or is an empty one that the caller owns and nobody
 * else can write to, and it is opened without following a symbolic link.
 */
static int prepare_dir(struct recorder *r)
{
	struct dirent *entry;
	struct stat st;
	DIR *d;

	if (mkdir(r->dir, 0700) && errno != EEXIST)
		return error(r->dir);
	r->dirfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (r->dirfd < 0)
		return error(r->dir);
	if (fstat(r->dirfd, &st))
		return error(r->dir);
	if (st.st_uid != geteuid())
		return fail("%s is not owned by the caller: record into a directory of your own",
			    r->dir);
	if (st.st_mode & 0022)
		return fail("%s can be written by others: record into one only you can write",
			    r->dir);
	d = fdopendir(dup(r->dirfd));
	if (!d)
		return error(r->dir);
	while ((entry = readdir(d))) {
		if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..")) {
			closedir(d);
			return fail("%s exists and is not empty", r->dir);
		}
	}
	closedir(d);
	return 0;
}

/*
 * A new file of the trace, 0600, opened with @access (O_WRONLY or O_RDWR):
 * never one that exists, never through a link.
 */
static int create_file(struct recorder *r, const char *name, int access)
{
	int fd = openat(r->dirfd, name, access | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);

	if (fd < 0)
		fprintf(stderr, "kscribectl: %s/%s: %s\n", r->dir, name, strerror(errno));
	return fd;
}

static int open_streams(struct recorder *r)
{
	struct kscribe_stream_open arg;
	struct cpu_stream *s;
	char path[4096];
	unsigned int cpu;
	int fd;

	if (sysconf(_SC_PAGESIZE) > READ_SIZE - (long)sizeof(struct kscribe_page_header))
		return fail("pages of %ld bytes do not fit in a read of %d", sysconf(_SC_PAGESIZE),
			    READ_SIZE);
	r->streams = calloc(r->status.nr_cpus, sizeof(*r->streams));
	if (!r->streams)
		return error("calloc");
	for (cpu = 0; cpu < r->status.nr_cpus; cpu++) {
		memset(&arg, 0, sizeof(arg));
		arg.cpu = cpu;
		arg.flags = KSCRIBE_STREAM_NONBLOCK | KSCRIBE_STREAM_CLOEXEC;
		fd = ioctl(r->dev, KSCRIBE_IOCTL_STREAM_OPEN, &arg);
		if (fd < 0) {
			if (errno == EINVAL)
				continue;	/* not a possible CPU */
			return error("KSCRIBE_IOCTL_STREAM_OPEN");
		}
		s = &r->streams[r->nr_streams++];
		s->recorder = r;
		s->cpu = cpu;
		s->fd = fd;
		s->last_ts = r->status.start_ts;
		s->packet = malloc(PACKET_MAX);
		s->readbuf = malloc(READ_SIZE);
		if (!s->packet || !s->readbuf)
			return error("malloc");
		snprintf(path, sizeof(path), "stream_%u", cpu);
		s->out = create_file(r, path, O_WRONLY);
		if (s->out < 0)
			return 1;
		/* the spool: unlinked at once, it goes with the last descriptor */
		snprintf(path, sizeof(path), ".stream_%u.pages", cpu);
		s->spool = create_file(r, path, O_RDWR);
		if (s->spool < 0)
			return 1;
		if (unlinkat(r->dirfd, path, 0))
			return error(path);
		/* An empty first packet: losses before the first event show up. */
		packet_reset(s);
		if (packet_flush(s))
			return 1;
	}
	return 0;
}

static void tsdl_string(FILE *f, const char *key, const char *value)
{
	fprintf(f, "\t%s = \"", key);
	for (; *value; value++) {
		if (*value == '"' || *value == '\\')
			fputc('\\', f);
		fputc(*value >= ' ' ? *value : ' ', f);
	}
	fprintf(f, "\";\n");
}

/*
 * A uuid the kernel gives as text: /proc/sys/kernel/random/uuid, a new random
 * one at each read (without waiting for entropy, unlike getrandom(), which
 * can hold a freshly booted machine for seconds), or .../boot_id, this boot's.
 */
static int read_uuid(const char *path, char text[37])
{
	FILE *f = fopen(path, "re");
	bool ok = f && fgets(text, 37, f) && strlen(text) == 36;

	if (f)
		fclose(f);
	return ok ? 0 : fail("cannot read a uuid from %s", path);
}

/* The stream's event.context: the recording's contexts, in id order, as the kernel lays them. */
static void write_event_context(const struct recorder *r, FILE *f)
{
	const struct kscribe_context_info *info;
	unsigned int id;

	fprintf(f, "\tevent.context := struct {\n");
	for (id = 0; id < nr_contexts; id++) {
		info = &contexts[id];
		if (!(r->contexts & (1ULL << id)))
			continue;
		if (info->type == KSCRIBE_TYPE_TEXT)
			fprintf(f, "\t\tinteger { size = 8; align = 8; signed = false; "
				"encoding = UTF8; } _%s[%u];\n", info->name, info->size);
		else
			fprintf(f, "\t\tinteger { size = %u; align = 8; signed = %s; } _%s;\n",
				info->size * 8,
				info->type == KSCRIBE_TYPE_SIGNED ? "true" : "false", info->name);
	}
	fprintf(f, "\t};\n");
}

/*
 * CTF 2 metadata: JSON fragments, each after a record separator, describing
 * the same streams as the CTF 1.8 metadata. The kernel describes an event's
 * fields in TSDL; the forms it writes (integers, enumerations, strings,
 * structures, arrays, variants on an enumeration) are translated here.
 */

#define JSON_RS		0x1e
/* the start of a structure field class, its member classes to follow */
#define JSON_STRUCT	"{\"type\":\"structure\",\"member-classes\":["
#define TSDL_SEEN	64

struct tsdl {
	const char *at;
	const char *error;	/* where the text stopped making sense */
	/* the enumerations read so far at the top level: variants select on them */
	char names[TSDL_SEEN][KSCRIBE_NAME_LEN];
	char *mappings[TSDL_SEEN];
	unsigned int nr_seen;
};

static const char *json_byte_order(void)
{
	return strcmp(byte_order(), "le") ? "big-endian" : "little-endian";
}

static void tsdl_space(struct tsdl *t)
{
	t->at += strspn(t->at, " \t\n");
}

static bool tsdl_take(struct tsdl *t, const char *token)
{
	tsdl_space(t);
	if (strncmp(t->at, token, strlen(token)))
		return false;
	t->at += strlen(token);
	return true;
}

/* Fail at the current place, unless an earlier failure was recorded. */
static bool tsdl_fail(struct tsdl *t)
{
	if (!t->error)
		t->error = t->at;
	return false;
}

static bool tsdl_expect(struct tsdl *t, const char *token)
{
	return tsdl_take(t, token) || tsdl_fail(t);
}

/* A name or a number into @out. */
static bool tsdl_word(struct tsdl *t, char *out, size_t size)
{
	size_t n;

	tsdl_space(t);
	n = strspn(t->at, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
	if (!n || n >= size)
		return tsdl_fail(t);
	memcpy(out, t->at, n);
	out[n] = '\0';
	t->at += n;
	return true;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc((unsigned char)*s >= ' ' ? *s : ' ', f);
	}
	fputc('"', f);
}

/* CTF 1.8 readers show names without their leading '_': so do these. */
static const char *ctf2_name(const char *name)
{
	return name[0] == '_' ? name + 1 : name;
}

static void json_integer(FILE *f, bool is_signed, unsigned int bits, unsigned int base,
			 const char *role, const char *mappings)
{
	fprintf(f, "{\"type\":\"fixed-length-%s-integer\",", is_signed ? "signed" : "unsigned");
	fprintf(f, "\"length\":%u,\"byte-order\":\"%s\",\"alignment\":8", bits, json_byte_order());
	if (base != 10)
		fprintf(f, ",\"preferred-display-base\":%u", base);
	if (role)
		fprintf(f, ",\"roles\":[\"%s\"]", role);
	if (mappings)
		fprintf(f, ",\"mappings\":%s", mappings);
	fputc('}', f);
}

struct tsdl_int {
	unsigned int bits;
	unsigned int base;
	bool is_signed;
	bool text;
};

/* { size = 32; align = 8; signed = 1; encoding = none; base = 10; } */
static bool tsdl_integer(struct tsdl *t, struct tsdl_int *i)
{
	char key[32], value[32];

	*i = (struct tsdl_int){ .base = 10 };
	if (!tsdl_expect(t, "{"))
		return false;
	while (!tsdl_take(t, "}")) {
		if (!tsdl_word(t, key, sizeof(key)) || !tsdl_expect(t, "=") ||
		    !tsdl_word(t, value, sizeof(value)) || !tsdl_expect(t, ";"))
			return false;
		if (!strcmp(key, "size"))
			i->bits = atoi(value);
		else if (!strcmp(key, "base"))
			i->base = atoi(value);
		else if (!strcmp(key, "signed"))
			i->is_signed = !strcmp(value, "1") || !strcmp(value, "true");
		else if (!strcmp(key, "encoding"))
			i->text = !strcmp(value, "UTF8");
	}
	return i->bits > 0 || tsdl_fail(t);
}

/* { "label" = 0, "other" = 1 ... 3 } as CTF 2 mappings, into a new string. */
static char *tsdl_mappings(struct tsdl *t)
{
	char label[KSCRIBE_NAME_LEN], from[24], to[24], *out = NULL;
	const char *end;
	size_t size;
	FILE *m = open_memstream(&out, &size);
	bool ok = m && tsdl_expect(t, "{");

	if (m)
		fputc('{', m);
	while (ok && !tsdl_take(t, "}")) {
		fputs(ftell(m) > 1 ? "," : "", m);
		end = tsdl_expect(t, "\"") ? strchr(t->at, '"') : NULL;
		if (!end || end - t->at >= (long)sizeof(label)) {
			ok = tsdl_fail(t);
			break;
		}
		snprintf(label, sizeof(label), "%.*s", (int)(end - t->at), t->at);
		t->at = end + 1;
		ok = tsdl_expect(t, "=") && tsdl_word(t, from, sizeof(from));
		snprintf(to, sizeof(to), "%s", from);
		if (ok && tsdl_take(t, "..."))
			ok = tsdl_word(t, to, sizeof(to));
		json_string(m, label);
		fprintf(m, ":[[%s,%s]]", from, to);
		tsdl_take(t, ",");
	}
	if (m) {
		fputc('}', m);
		fclose(m);
	}
	if (!ok) {
		free(out);
		return NULL;
	}
	return out;
}

static void tsdl_members(struct tsdl *t, FILE *f, const char *end, bool top);

/* Where a length or a selector is: a field @name of the event's payload. */
static void json_location(FILE *f, const char *name)
{
	fprintf(f, "{\"origin\":\"event-record-payload\",\"path\":[\"%s\"]}", ctf2_name(name));
}

/* An array (a string, of UTF-8 chars) of @length: a number, or the field counting it. */
static void json_array(FILE *f, bool text, const char *length, const char *element)
{
	bool dynamic = length[0] == '_';

	fprintf(f, "{\"type\":\"%s-length-%s\",", dynamic ? "dynamic" : "static",
		text ? "string" : "array");
	if (dynamic) {
		fprintf(f, "\"length-field-location\":");
		json_location(f, length);
	} else {
		fprintf(f, "\"length\":%s", length);
	}
	if (!text)
		fprintf(f, ",\"element-field-class\":%s", element);
	fputc('}', f);
}

/* Is there another declaration before @end ("" for the end of the text)? */
static bool tsdl_more(struct tsdl *t, const char *end)
{
	if (t->error)
		return false;
	if (*end)
		return !tsdl_take(t, end);
	tsdl_space(t);
	return *t->at;
}

/* The selector range of variant option @label: "lo,hi" of its enumeration's mapping. */
static bool tsdl_option_range(struct tsdl *t, const char *selector, const char *label,
			      char *range, size_t size)
{
	char key[KSCRIBE_NAME_LEN + 8];
	const char *found = NULL;
	unsigned int k;

	snprintf(key, sizeof(key), "\"%s\":[[", label);
	for (k = 0; k < t->nr_seen && !found; k++) {
		if (!strcmp(t->names[k], selector))
			found = strstr(t->mappings[k], key);
	}
	if (!found)
		return tsdl_fail(t);
	snprintf(range, size, "%.*s", (int)strcspn(found + strlen(key), "]"),
		 found + strlen(key));
	return true;
}

/*
 * The field class at t->at, as JSON into @f. @text: it is a UTF-8 char (an
 * array of them is a string); @mappings: an enumeration's, for variants.
 */
static void tsdl_class(struct tsdl *t, FILE *f, bool *text, char **mappings)
{
	char selector[KSCRIBE_NAME_LEN], label[KSCRIBE_NAME_LEN], range[64], *option;
	struct tsdl_int i;
	bool first;
	size_t size;
	FILE *o;

	*text = false;
	if (tsdl_take(t, "integer")) {
		if (tsdl_integer(t, &i))
			json_integer(f, i.is_signed, i.bits, i.base, NULL, NULL);
		*text = i.text && i.bits == 8;
	} else if (tsdl_take(t, "enum")) {
		if (!tsdl_expect(t, ":") || !tsdl_expect(t, "integer") || !tsdl_integer(t, &i))
			return;
		*mappings = tsdl_mappings(t);
		if (*mappings)
			json_integer(f, i.is_signed, i.bits, 10, NULL, *mappings);
	} else if (tsdl_take(t, "string")) {
		/* { encoding = UTF8; } or nothing */
		if (tsdl_take(t, "{")) {
			t->at += strcspn(t->at, "}");
			if (!tsdl_expect(t, "}"))
				return;
		}
		fprintf(f, "{\"type\":\"null-terminated-string\"}");
	} else if (tsdl_take(t, "struct")) {
		if (!tsdl_expect(t, "{"))
			return;
		fprintf(f, JSON_STRUCT);
		tsdl_members(t, f, "}", false);
		fprintf(f, "]}");
	} else if (tsdl_take(t, "variant")) {
		if (!tsdl_expect(t, "<") || !tsdl_word(t, selector, sizeof(selector)) ||
		    !tsdl_expect(t, ">") || !tsdl_expect(t, "{"))
			return;
		fprintf(f, "{\"type\":\"variant\",\"selector-field-location\":");
		json_location(f, selector);
		fprintf(f, ",\"options\":[");
		for (first = true; tsdl_more(t, "}"); first = false) {
			option = NULL;
			o = open_memstream(&option, &size);
			if (!o) {
				tsdl_fail(t);
				return;
			}
			tsdl_class(t, o, text, mappings);
			fclose(o);
			if (tsdl_word(t, label, sizeof(label)) && tsdl_expect(t, ";") &&
			    tsdl_option_range(t, selector, label, range, sizeof(range))) {
				fprintf(f, "%s{\"name\":\"%s\",", first ? "" : ",", label);
				fprintf(f, "\"selector-field-ranges\":[[%s]],", range);
				fprintf(f, "\"field-class\":%s}", option);
			}
			free(option);
		}
		fprintf(f, "]}");
	} else {
		tsdl_fail(t);
	}
}

/* Declarations up to @end as the member classes of a structure; @top: an event's own. */
static void tsdl_members(struct tsdl *t, FILE *f, const char *end, bool top)
{
	char name[KSCRIBE_NAME_LEN], length[KSCRIBE_NAME_LEN], *class, *mappings;
	bool text, first = true;
	size_t size;
	FILE *c;

	while (tsdl_more(t, end)) {
		class = NULL;
		mappings = NULL;
		c = open_memstream(&class, &size);
		if (!c) {
			tsdl_fail(t);
			return;
		}
		tsdl_class(t, c, &text, &mappings);
		fclose(c);
		if (!t->error && tsdl_word(t, name, sizeof(name))) {
			fprintf(f, "%s{\"name\":\"%s\",\"field-class\":", first ? "" : ",",
				ctf2_name(name));
			first = false;
			if (!tsdl_take(t, "["))
				fputs(class, f);
			else if (tsdl_word(t, length, sizeof(length)) && tsdl_expect(t, "]"))
				json_array(f, text, length, class);
			fputc('}', f);
			tsdl_expect(t, ";");
		}
		if (top && mappings && t->nr_seen < TSDL_SEEN) {
			snprintf(t->names[t->nr_seen], sizeof(t->names[0]), "%s", name);
			t->mappings[t->nr_seen++] = mappings;
		} else {
			free(mappings);
		}
		free(class);
	}
}

/* An event's TSDL fields as a CTF 2 structure; 1 with a message if they cannot be read. */
static int json_payload(FILE *f, const char *event, const char *fields)
{
	struct tsdl t = { .at = fields };
	unsigned int k;

	fprintf(f, JSON_STRUCT);
	tsdl_members(&t, f, "", true);
	fprintf(f, "]}");
	for (k = 0; k < t.nr_seen; k++)
		free(t.mappings[k]);
	if (t.error)
		return fail("%s: cannot translate its fields to CTF 2 at '%.40s'", event, t.error);
	return 0;
}

static void json_member(FILE *f, bool first, const char *name)
{
	fprintf(f, "%s{\"name\":", first ? "" : ",");
	json_string(f, name);
	fprintf(f, ",\"field-class\":");
}

/* An unsigned bit field of @bits: byte-aligned when a multiple of 8 wide. */
static void json_bits(FILE *f, unsigned int bits, const char *role, const char *mappings)
{
	fprintf(f, "{\"type\":\"fixed-length-unsigned-integer\",\"length\":%u,", bits);
	fprintf(f, "\"byte-order\":\"%s\",\"alignment\":%u,", json_byte_order(),
		bits % 8 ? 1 : 8);
	fprintf(f, "\"roles\":[\"%s\"]", role);
	if (mappings)
		fprintf(f, ",\"mappings\":%s", mappings);
	fputc('}', f);
}

/*
 * The event header's members (see header_layouts[]): the id, then a variant
 * on it of the compact and the extended forms.
 */
static void json_event_header(FILE *f, const struct header_layout *l)
{
	char compact[64], extended[64], mappings[160];

	snprintf(compact, sizeof(compact), "[[0,%u]]", l->extended - 1);
	snprintf(extended, sizeof(extended), "[[%u,%u]]", l->extended, l->extended);
	snprintf(mappings, sizeof(mappings), "{\"compact\":%s,\"extended\":%s}", compact,
		 extended);
	json_member(f, true, "id");
	json_bits(f, l->id_bits, "event-record-class-id", mappings);
	fputc('}', f);
	json_member(f, false, "v");
	fprintf(f, "{\"type\":\"variant\",\"selector-field-location\":");
	fprintf(f, "{\"origin\":\"event-record-header\",\"path\":[\"id\"]},\"options\":[");
	fprintf(f, "{\"name\":\"compact\",\"selector-field-ranges\":%s,", compact);
	fprintf(f, "\"field-class\":%s", JSON_STRUCT);
	json_member(f, true, "timestamp");
	json_bits(f, l->ts_bits, "default-clock-timestamp", NULL);
	fprintf(f, "}]}},{\"name\":\"extended\",\"selector-field-ranges\":%s,", extended);
	fprintf(f, "\"field-class\":%s", JSON_STRUCT);
	json_member(f, true, "id");
	json_integer(f, false, 16, 10, "event-record-class-id", NULL);
	fputc('}', f);
	json_member(f, false, "timestamp");
	json_integer(f, false, 64, 10, "default-clock-timestamp", NULL);
	fprintf(f, "}]}}]}}]}");
}

/* A fragment: the record separator, then @json. */
static void json_fragment(FILE *f, const char *json)
{
	fputc(JSON_RS, f);
	fputs(json, f);
}

static int write_metadata_ctf2(struct recorder *r, const struct kscribe_version *version,
			       FILE *f)
{
	static const struct { const char *name; unsigned int bits; const char *role; } packet[] = {
		{ "timestamp_begin", 64, "default-clock-timestamp" },
		{ "timestamp_end", 64, "packet-end-default-clock-timestamp" },
		{ "content_size", 64, "packet-content-length" },
		{ "packet_size", 64, "packet-total-length" },
		{ "events_discarded", 64, "discarded-event-record-counter-snapshot" },
		{ "cpu_id", 32, NULL },
	};
	int64_t offset = r->clock.realtime_offset_ns;
	const struct kscribe_context_info *info;
	struct utsname uts;
	unsigned int i;
	bool first;

	if (uname(&uts))
		memset(&uts, 0, sizeof(uts));
	json_fragment(f, "{\"type\":\"preamble\",\"version\":2}\n");

	json_fragment(f, "{\"type\":\"trace-class\",\"uid\":");
	json_string(f, r->trace_uuid);
	fprintf(f, ",\"environment\":{\"domain\":\"kernel\",\"sysname\":");
	json_string(f, uts.sysname);
	fprintf(f, ",\"hostname\":");
	json_string(f, uts.nodename);
	fprintf(f, ",\"kernel_release\":");
	json_string(f, uts.release);
	fprintf(f, ",\"kernel_version\":");
	json_string(f, uts.version);
	fprintf(f, ",\"machine\":");
	json_string(f, uts.machine);
	fprintf(f, ",\"tracer_name\":\"kscribe\",\"tracer_major\":%u,", version->major);
	fprintf(f, "\"tracer_minor\":%u,\"tracer_patchlevel\":%u,", version->minor,
		version->patchlevel);
	fprintf(f, "\"kscribe_abi\":%u,\"kscribe_buffer_size\":%llu,", version->abi,
		(unsigned long long)r->status.buffer_size);
	fprintf(f, "\"kscribe_buffer_mode\":\"%s\",", mode_name(r->status.mode));
	fprintf(f, "\"kscribe_kernel_addresses\":\"%s\"},",
		r->status.flags & KSCRIBE_STATUS_KPTRS_HIDDEN ? "hidden" : "shown");
	fprintf(f, "\"packet-header-field-class\":%s", JSON_STRUCT);
	json_member(f, true, "magic");
	json_integer(f, false, 32, 16, "packet-magic-number", NULL);
	fprintf(f, "},");
	json_member(f, true, "stream_id");
	json_integer(f, false, 32, 10, "data-stream-class-id", NULL);
	fprintf(f, "}]}}\n");

	json_fragment(f, "{\"type\":\"clock-class\",\"id\":\"trace_clock_local\",");
	fprintf(f, "\"name\":\"trace_clock_local\",\"description\":");
	json_string(f, CLOCK_DESCRIPTION);
	fprintf(f, ",\"frequency\":%llu,\"precision\":%llu,\"origin\":\"unix-epoch\",",
		(unsigned long long)r->clock.freq, (unsigned long long)r->clock.uncertainty_ns);
	fprintf(f, "\"offset-from-origin\":{\"seconds\":%lld,\"cycles\":%lld}}\n",
		(long long)(offset / 1000000000 - (offset % 1000000000 < 0)),
		(long long)((offset % 1000000000 + 1000000000) % 1000000000));

	json_fragment(f, "{\"type\":\"data-stream-class\",\"id\":0,");
	fprintf(f, "\"default-clock-class-id\":\"trace_clock_local\",");
	fprintf(f, "\"packet-context-field-class\":%s", JSON_STRUCT);
	for (i = 0; i < ARRAY_SIZE(packet); i++) {
		json_member(f, !i, packet[i].name);
		json_integer(f, false, packet[i].bits, 10, packet[i].role, NULL);
		fputc('}', f);
	}
	fprintf(f, "]},\"event-record-header-field-class\":%s", JSON_STRUCT);
	json_event_header(f, r->header);
	if (r->contexts) {
		fprintf(f, ",\"event-record-common-context-field-class\":%s", JSON_STRUCT);
		for (i = 0, first = true; i < nr_contexts; i++) {
			info = &contexts[i];
			if (!(r->contexts & (1ULL << i)))
				continue;
			json_member(f, first, info->name);
			first = false;
			if (info->type == KSCRIBE_TYPE_TEXT)
				fprintf(f, "{\"type\":\"static-length-string\",\"length\":%u}",
					info->size);
			else
				json_integer(f, info->type == KSCRIBE_TYPE_SIGNED,
					     info->size * 8, 10, NULL, NULL);
			fputc('}', f);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "}\n");

	for (i = 0; i < r->nr_events; i++) {
		json_fragment(f, "{\"type\":\"event-record-class\",\"name\":");
		json_string(f, r->events[i].name);
		fprintf(f, ",\"id\":%u,\"data-stream-class-id\":0,\"payload-field-class\":",
			r->events[i].id);
		if (json_payload(f, r->events[i].name, r->events[i].fields))
			return 1;
		fprintf(f, "}\n");
	}
	return 0;
}

/*
 * The integer classes of the events' fields, each declared once as a
 * typealias (int_0, int_1...) that the events name: the kernel describes
 * every field in full, and two thousand syscall events repeat a few classes.
 */
#define MAX_INT_CLASSES		256

struct int_classes {
	const char *spec[MAX_INT_CLASSES];	/* "integer { ... }" in an event's fields */
	size_t len[MAX_INT_CLASSES];
	unsigned int nr;
};

/* The alias number of the class spelt at @p (@len bytes), or -1: table full. */
static int int_class(struct int_classes *c, const char *p, size_t len)
{
	unsigned int i;

	for (i = 0; i < c->nr; i++)
		if (c->len[i] == len && !memcmp(c->spec[i], p, len))
			return i;
	if (c->nr == MAX_INT_CLASSES)
		return -1;
	c->spec[c->nr] = p;
	c->len[c->nr] = len;
	return c->nr++;
}

/* Collect the integer classes of @fields; with @f, also write @fields naming them. */
static void tsdl_fields(FILE *f, struct int_classes *c, const char *fields)
{
	const char *p = fields, *at, *end;
	int k;

	while ((at = strstr(p, "integer {")) && (end = strchr(at, '}'))) {
		k = int_class(c, at, end + 1 - at);
		if (f) {
			fwrite(p, 1, at - p, f);
			if (k < 0)
				fwrite(at, 1, end + 1 - at, f);
			else
				fprintf(f, "int_%d", k);
		}
		p = end + 1;
	}
	if (f)
		fputs(p, f);
}

static int write_metadata(struct recorder *r, const struct kscribe_version *version)
{
	int64_t offset = r->clock.realtime_offset_ns;
	int64_t offset_s = offset / 1000000000;
	int64_t offset_ns = offset % 1000000000;
	struct int_classes classes = { .nr = 0 };
	const struct header_layout *l = r->header;
	struct utsname uts;
	char path[4096];
	unsigned int i;
	const char *nl;
	FILE *f;
	int fd;

	if (offset_ns < 0) {
		offset_ns += 1000000000;
		offset_s--;
	}
	if (uname(&uts))
		memset(&uts, 0, sizeof(uts));
	snprintf(path, sizeof(path), "%s/metadata", r->dir);
	fd = create_file(r, "metadata", O_WRONLY);
	if (fd < 0)
		return 1;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return error(path);
	}
	if (r->ctf2) {
		if (write_metadata_ctf2(r, version, f))
			goto fail;
		if (fclose(f))
			return error(path);
		return 0;
	}

	fprintf(f, "/* CTF 1.8 */\n\n");
	fprintf(f, "typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n");
	fprintf(f, "typealias integer { size = 16; align = 8; signed = false; } := uint16_t;\n");
	fprintf(f, "typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n");
	fprintf(f, "typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n");
	fprintf(f, "typealias integer { size = 8; align = 8; signed = true; } := int8_t;\n");
	fprintf(f, "typealias integer { size = 16; align = 8; signed = true; } := int16_t;\n");
	fprintf(f, "typealias integer { size = 32; align = 8; signed = true; } := int32_t;\n");
	fprintf(f, "typealias integer { size = 64; align = 8; signed = true; } := int64_t;\n\n");
	fprintf(f, "trace {\n\tmajor = 1;\n\tminor = 8;\n\tuuid = \"%s\";\n", r->trace_uuid);
	fprintf(f, "\tbyte_order = %s;\n", byte_order());
	fprintf(f, "\tpacket.header := struct {\n\t\tuint32_t magic;\n");
	fprintf(f, "\t\tuint32_t stream_id;\n\t};\n};\n\n");

	fprintf(f, "env {\n");
	tsdl_string(f, "domain", "kernel");
	tsdl_string(f, "sysname", uts.sysname);
	tsdl_string(f, "hostname", uts.nodename);
	tsdl_string(f, "kernel_release", uts.release);
	tsdl_string(f, "kernel_version", uts.version);
	tsdl_string(f, "machine", uts.machine);
	tsdl_string(f, "tracer_name", "kscribe");
	fprintf(f, "\ttracer_major = %u;\n\ttracer_minor = %u;\n\ttracer_patchlevel = %u;\n",
		version->major, version->minor, version->patchlevel);
	fprintf(f, "\tkscribe_abi = %u;\n", version->abi);
	fprintf(f, "\tkscribe_buffer_size = %llu;\n",
		(unsigned long long)r->status.buffer_size);
	tsdl_string(f, "kscribe_buffer_mode", mode_name(r->status.mode));
	tsdl_string(f, "kscribe_kernel_addresses",
		    r->status.flags & KSCRIBE_STATUS_KPTRS_HIDDEN ? "hidden" : "shown");
	fprintf(f, "};\n\n");

	fprintf(f, "clock {\n\tname = \"trace_clock_local\";\n\tuuid = \"%s\";\n", r->clock_uuid);
	fprintf(f, "\tdescription = \"%s\";\n", CLOCK_DESCRIPTION);
	fprintf(f, "\tfreq = %llu;\n", (unsigned long long)r->clock.freq);
	fprintf(f, "\tprecision = %llu;\n", (unsigned long long)r->clock.uncertainty_ns);
	fprintf(f, "\toffset_s = %lld;\n\toffset = %lld;\n\tabsolute = false;\n};\n\n",
		(long long)offset_s, (long long)offset_ns);
	fprintf(f, "typealias integer {\n\tsize = 64; align = 8; signed = false;\n");
	fprintf(f, "\tmap = clock.trace_clock_local.value;\n} := uint64_clock_t;\n\n");

	fprintf(f, "stream {\n\tid = 0;\n\tpacket.context := struct {\n");
	fprintf(f, "\t\tuint64_clock_t timestamp_begin;\n");
	fprintf(f, "\t\tuint64_clock_t timestamp_end;\n");
	fprintf(f, "\t\tuint64_t content_size;\n\t\tuint64_t packet_size;\n");
	fprintf(f, "\t\tuint64_t events_discarded;\n\t\tuint32_t cpu_id;\n\t};\n");
	fprintf(f, "\tevent.header := struct {\n");
	fprintf(f, "\t\tenum : integer { size = %u; align = %u; signed = false; }\n",
		l->id_bits, l->id_bits % 8 ? 1 : 8);
	fprintf(f, "\t\t\t{ compact = 0 ... %u, extended = %u } id;\n", l->extended - 1,
		l->extended);
	fprintf(f, "\t\tvariant <id> {\n");
	fprintf(f, "\t\t\tstruct { integer { size = %u; align = %u; signed = false;\n",
		l->ts_bits, l->ts_bits % 8 ? 1 : 8);
	fprintf(f, "\t\t\t\tmap = clock.trace_clock_local.value; } timestamp; } compact;\n");
	fprintf(f, "\t\t\tstruct { uint16_t id; uint64_clock_t timestamp; } extended;\n");
	fprintf(f, "\t\t} v;\n\t};\n");
	if (r->contexts)
		write_event_context(r, f);
	fprintf(f, "};\n");

	for (i = 0; i < r->nr_events; i++)
		tsdl_fields(NULL, &classes, r->events[i].fields);
	for (i = 0; i < classes.nr; i++)
		fprintf(f, "\ntypealias %.*s := int_%u;", (int)classes.len[i], classes.spec[i], i);
	fputc('\n', f);
	/* no stream_id: CTF 1.8 needs none in a trace of one stream class */
	for (i = 0; i < r->nr_events; i++) {
		fprintf(f, "\nevent {\n\tname = \"%s\";\n\tid = %u;\n",
			r->events[i].name, r->events[i].id);
		fprintf(f, "\tfields := struct {\n");
		tsdl_fields(f, &classes, r->events[i].fields);
		nl = r->events[i].fields[0] &&
			r->events[i].fields[strlen(r->events[i].fields) - 1] != '\n' ? "\n" : "";
		fprintf(f, "%s\t};\n};\n", nl);
	}
	if (fclose(f))
		return error(path);
	return 0;

fail:
	fclose(f);
	return 1;
}

/* Does the recording hold the state dump's events? Then it starts with one. */
static bool dumps_state(const struct recorder *r)
{
	unsigned int i;

	for (i = 0; i < r->nr_events; i++) {
		if (!strncmp(r->events[i].name, "statedump_", strlen("statedump_")))
			return true;
	}
	return false;
}

static int statedump(int fd)
{
	if (ioctl(fd, KSCRIBE_IOCTL_STATEDUMP, 0) < 0) {
		if (errno == ENOENT)
			return fail("no recording is running");
		return error("KSCRIBE_IOCTL_STATEDUMP");
	}
	return 0;
}

static int cmd_statedump(int fd)
{
	return statedump(fd);
}

static int parse_size(const char *text, unsigned long long *size)
{
	unsigned long long value, unit = 1;
	char *end;

	errno = 0;
	value = strtoull(text, &end, 0);
	if (errno || end == text)
		return -1;
	if (*end == 'k' || *end == 'K')
		unit = 1ULL << 10;
	else if (*end == 'm' || *end == 'M')
		unit = 1ULL << 20;
	else if (*end == 'g' || *end == 'G')
		unit = 1ULL << 30;
	else if (*end)
		return -1;
	if (unit > 1 && end[1])
		return -1;
	if (value > ~0ULL / unit)
		return -1;
	*size = value * unit;
	return 0;
}

/*
 * Sleep one drain period, or less if COMMAND exits (SIGCHLD, blocked, wakes
 * sigtimedwait()) or a signal is to be passed on to it.
 */
static void wait_period(const sigset_t *signals, pid_t child)
{
	struct timespec period = { .tv_sec = 0, .tv_nsec = DRAIN_PERIOD_NS };
	siginfo_t info;

	while (sigtimedwait(signals, &info, &period) > 0) {
		if (info.si_signo != SIGCHLD)
			forward(&info, child);
		period.tv_nsec = 0;	/* take every pending signal, then look again */
	}
}

static pid_t spawn(char **argv, const sigset_t *mask)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigprocmask(SIG_SETMASK, mask, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "%s: %s: %s\n", progname, argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		error("fork");
	return pid;
}

static int wait_status(pid_t pid, bool block)
{
	int status;
	pid_t ret;

	do {
		ret = waitpid(pid, &status, block ? 0 : WNOHANG);
	} while (ret < 0 && errno == EINTR);
	if (ret <= 0)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* The events the filters left out, per CPU and in all: they are not lost. */
static int report_filtered(const struct recorder *r)
{
	struct kscribe_filter_stats stats;
	unsigned long long total = 0;
	unsigned int i;

	for (i = 0; i < r->nr_streams; i++) {
		memset(&stats, 0, sizeof(stats));
		stats.cpu = r->streams[i].cpu;
		if (ioctl(r->dev, KSCRIBE_IOCTL_FILTER_STATS, &stats) < 0)
			return error("KSCRIBE_IOCTL_FILTER_STATS");
		fprintf(stderr, "%s: cpu%u: %llu events filtered out\n", progname, stats.cpu,
			(unsigned long long)stats.filtered);
		total += stats.filtered;
	}
	fprintf(stderr, "%s: %llu events filtered out\n", progname, total);
	return 0;
}

/* Close the streams' last packets and compare with the kernel's counters. */
static int finish_streams(struct recorder *r)
{
	unsigned long long events = 0, lost = 0, bytes = 0;
	struct kscribe_cpu_stats stats;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < r->nr_streams; i++) {
		struct cpu_stream *s = &r->streams[i];

		if (s->nr_events || s->discarded != s->flushed) {
			if (packet_flush(s))
				return 1;
		}
		if (close(s->out))
			return error("stream file");
		memset(&stats, 0, sizeof(stats));
		stats.cpu = s->cpu;
		if (ioctl(r->dev, KSCRIBE_IOCTL_CPU_STATS, &stats) < 0)
			return error("KSCRIBE_IOCTL_CPU_STATS");
		fprintf(stderr,
			"%s: cpu%u: %llu events, %llu discarded (kernel: %llu written, %llu lost)%s\n",
			progname, s->cpu, (unsigned long long)s->events,
			(unsigned long long)s->discarded, (unsigned long long)stats.written,
			(unsigned long long)stats.lost,
			stats.lost == s->discarded ? "" : " MISMATCH");
		if (stats.unreadable)
			fprintf(stderr, "%s: cpu%u: %llu user strings not resident, not recorded\n",
				progname, s->cpu, (unsigned long long)stats.unreadable);
		if (s->adjusted)
			fprintf(stderr, "%s: cpu%u: %llu timestamps raised to keep order\n",
				progname, s->cpu, (unsigned long long)s->adjusted);
		if (s->unknown)
			fprintf(stderr, "%s: cpu%u: %llu events of unknown ids or sizes skipped\n",
				progname, s->cpu, (unsigned long long)s->unknown);
		if (stats.lost != s->discarded || s->unknown)
			ret = 1;
		events += s->events;
		lost += s->discarded;
		bytes += s->bytes;
	}
	fprintf(stderr, "%s: %llu events, %llu lost, %u CPUs, %llu bytes of streams in %s\n",
		progname, events, lost, r->nr_streams, bytes, r->dir);
	if (r->filtered && report_filtered(r))
		return 1;
	return ret;
}

static int cmd_record(int fd, int argc, char **argv)
{
	static const struct option options[] = {
		{ "event", required_argument, NULL, 'e' },
		{ "all-syscalls", no_argument, NULL, 'S' },
		{ "context", required_argument, NULL, 'c' },
		{ "filter", required_argument, NULL, 'f' },
		{ "ctf", required_argument, NULL, 'C' },
		{ "buffer-size", required_argument, NULL, 'b' },
		{ "overwrite", no_argument, NULL, 'O' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kscribe_buffer_config config = {
		.size = KSCRIBE_BUFFER_DEFAULT,
		.mode = KSCRIBE_MODE_DISCARD,
	};
	struct recorder r = { .dev = fd, .dirfd = -1 };
	struct kscribe_version version;
	sigset_t block, mask;
	unsigned long long size;
	bool all_syscalls = false, selected = false, contexts_given = false;
	struct kscribe_contexts contexts = { 0 };
	struct filter_arg filters[64];
	unsigned int nr_filters = 0, i;
	const char *pattern = NULL;
	int opt, status = -1, ret = 1;
	pid_t child;

	if (get_version(fd, &version))
		return 1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+e:c:f:b:o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'e':
			if (enable(fd, optarg, 0))
				return 1;
			selected = true;
			pattern = optarg;
			break;
		case 'f':
			if (!pattern)
				return fail("-f '%s' filters the events of an -e PATTERN before it",
					    optarg);
			if (nr_filters == ARRAY_SIZE(filters))
				return fail("at most %zu -f filters", ARRAY_SIZE(filters));
			filters[nr_filters].pattern = pattern;
			filters[nr_filters++].expr = optarg;
			break;
		case 'S':
			all_syscalls = true;
			break;
		case 'c':
			if (parse_contexts(fd, optarg, &r.contexts))
				return 1;
			contexts_given = true;
			break;
		case 'b':
			if (parse_size(optarg, &size))
				return fail("invalid buffer size '%s'", optarg);
			config.size = size;
			break;
		case 'O':
			config.mode = KSCRIBE_MODE_OVERWRITE;
			break;
		case 'C':
			if (strcmp(optarg, "2") && strcmp(optarg, "1.8"))
				return fail("--ctf %s: the trace format is 1.8 or 2", optarg);
			r.ctf2 = !strcmp(optarg, "2");
			break;
		case 'o':
			r.dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!r.dir || optind >= argc) {
		usage(stderr);
		return 1;
	}
	if (all_syscalls && enable(fd, "", KSCRIBE_ENABLE_ALL_SYSCALLS))
		return 1;
	if (!selected && !all_syscalls && enable(fd, "*", 0))
		return 1;
	for (i = 0; i < nr_filters; i++) {
		if (apply_filter(fd, &filters[i]))
			return 1;
	}
	r.filtered = nr_filters;
	if (!contexts_given && parse_contexts(fd, DEFAULT_CONTEXTS, &r.contexts))
		return 1;
	contexts.mask = r.contexts;
	if (ioctl(fd, KSCRIBE_IOCTL_SET_CONTEXTS, &contexts) < 0)
		return error("KSCRIBE_IOCTL_SET_CONTEXTS");
	if (ioctl(fd, KSCRIBE_IOCTL_SET_BUFFER, &config) < 0) {
		if (errno == EINVAL)
			return fail("buffer size must be %u to %u bytes per CPU",
				    KSCRIBE_BUFFER_MIN, KSCRIBE_BUFFER_MAX);
		return error("KSCRIBE_IOCTL_SET_BUFFER");
	}
	if (prepare_dir(&r))
		return 1;
	if (ioctl(fd, KSCRIBE_IOCTL_CLOCK, &r.clock) < 0)
		return error("KSCRIBE_IOCTL_CLOCK");
	if (read_uuid("/proc/sys/kernel/random/uuid", r.trace_uuid) ||
	    read_uuid("/proc/sys/kernel/random/boot_id", r.clock_uuid))
		return 1;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &mask);
	/*
	 * The metadata of the selected events is read before starting: the
	 * recording then holds what it records (a subset: those whose module
	 * is still loaded), not the thousands of ioctls that read it.
	 */
	if (collect_events(&r))
		return 1;
	if (ioctl(fd, KSCRIBE_IOCTL_START, 0) < 0) {
		if (errno == EBUSY)
			return fail("another recording is running");
		return error("KSCRIBE_IOCTL_START");
	}
	if (get_status(fd, &r.status) || open_streams(&r) || write_metadata(&r, &version) ||
	    (dumps_state(&r) && statedump(fd)))
		goto stop;

	child = spawn(argv + optind, &mask);
	if (child < 0)
		goto stop;
	if (start_readers(&r))
		goto reap;
	while (!__atomic_load_n(&r.failed, __ATOMIC_ACQUIRE)) {
		status = wait_status(child, false);
		if (status >= 0)
			break;
		wait_period(&block, child);
	}
	if (__atomic_load_n(&r.failed, __ATOMIC_ACQUIRE))
		goto reap;

	if (ioctl(fd, KSCRIBE_IOCTL_STOP, 0) < 0 && errno != ENOENT) {
		error("KSCRIBE_IOCTL_STOP");
		goto reap;
	}
	if (join_readers(&r))
		goto reap;
	ret = finish_streams(&r);
	if (status < 0)
		status = wait_status(child, true);
	if (!ret && status > 0)
		fprintf(stderr, "%s: %s exited with status %d\n", progname, argv[optind], status);
	return ret ? ret : status > 0 ? status : 0;

reap:
	if (status < 0)
		reap(child);
stop:
	ioctl(fd, KSCRIBE_IOCTL_STOP, 0);
	join_readers(&r);
	return 1;
}

int main(int argc, char **argv)
{
	int (*cmd)(int fd) = NULL;
	int fd, ret;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version")) {
		cmd = cmd_version;
	} else if (!strcmp(argv[1], "stats")) {
		cmd = cmd_stats;
	} else if (!strcmp(argv[1], "list")) {
		cmd = cmd_list;
	} else if (!strcmp(argv[1], "status")) {
		cmd = cmd_status;
	} else if (!strcmp(argv[1], "stop")) {
		cmd = cmd_stop;
	} else if (!strcmp(argv[1], "contexts")) {
		cmd = cmd_contexts;
	} else if (!strcmp(argv[1], "statedump")) {
		cmd = cmd_statedump;
	} else if (!strcmp(argv[1], "pause") || !strcmp(argv[1], "resume") ||
		   !strcmp(argv[1], "fields")) {
		if (argc != 3) {
			usage(stderr);
			return 1;
		}
	} else if (strcmp(argv[1], "record")) {
		fprintf(stderr, "%s: unknown command '%s'\n", progname, argv[1]);
		usage(stderr);
		return 1;
	}
	if (cmd && argc != 2) {
		usage(stderr);
		return 1;
	}

	fd = open_device();
	if (fd < 0)
		return 1;
	if (cmd)
		ret = cmd(fd);
	else if (argc == 3 && !strcmp(argv[1], "fields"))
		ret = cmd_fields(fd, argv[2]);
	else if (argc == 3 && strcmp(argv[1], "record"))
		ret = toggle(fd, argv[2], !strcmp(argv[1], "resume"));
	else
		ret = cmd_record(fd, argc - 1, argv + 1);
	close(fd);
	if (fflush(stdout) == EOF)
		return error("stdout");
	return ret;
}
