// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe selftest: the /dev/kscribe ABI as a tracer's client uses it.
 *
 * A recording of getppid() is started, fed, stopped and read back through
 * the per-CPU streams; the errors the ABI promises are checked on the way.
 * Needs CONFIG_KSCRIBE and CONFIG_KSCRIBE_PROBE_SYSCALLS, and root.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kscribe.h>

#include "../kselftest_harness.h"

#define CALLS		1000
#define EVENT		"syscall_entry_getppid"

FIXTURE(kscribe) {
	int fd;
};

FIXTURE_SETUP(kscribe)
{
	self->fd = open("/dev/kscribe", O_RDWR | O_CLOEXEC);
	if (self->fd < 0 && errno == ENOENT)
		SKIP(return, "no /dev/kscribe: load kscribe_core");
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(kscribe)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(kscribe, version)
{
	struct kscribe_version v;

	ASSERT_EQ(0, ioctl(self->fd, KSCRIBE_IOCTL_VERSION, &v));
	EXPECT_EQ(KSCRIBE_ABI_VERSION, v.abi);
}

/* The id of the event named @name, or -1; events are listed by index. */
static int event_id(int fd, const char *name)
{
	struct kscribe_event_info info = { 0 };

	for (info.index = 0; ioctl(fd, KSCRIBE_IOCTL_EVENT_INFO, &info) == 0; info.index++)
		if (!strcmp(info.name, name))
			return info.id;
	return -1;
}

TEST_F(kscribe, unknown_requests_are_refused)
{
	struct kscribe_event_info info = { .index = UINT32_MAX };
	struct kscribe_enable none = { .pattern = "no_such_probe:*" };

	EXPECT_EQ(-1, ioctl(self->fd, _IO(KSCRIBE_IOC_MAGIC, 0x1f)));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, KSCRIBE_IOCTL_EVENT_INFO, &info));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, KSCRIBE_IOCTL_ENABLE, &none));
	EXPECT_EQ(ENOENT, errno);
	info.index = 0;
	info.flags = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KSCRIBE_IOCTL_EVENT_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
}

/* Records of event @id in the stream of @cpu, read until its end. */
static long count_records(struct __test_metadata *_metadata, int fd, unsigned int cpu, int id)
{
	struct kscribe_stream_open so = { .cpu = cpu, .flags = KSCRIBE_STREAM_CLOEXEC };
	static char buf[1 << 18];
	long found = 0;
	ssize_t n;
	int stream;

	stream = ioctl(fd, KSCRIBE_IOCTL_STREAM_OPEN, &so);
	if (stream < 0)
		return 0;	/* a possible CPU that is not online has no stream */
	while ((n = read(stream, buf, sizeof(buf))) > 0) {
		const struct kscribe_event_header *h;
		struct kscribe_page_header page;
		__u32 at, length;
		ssize_t next = 0;
		__u64 time;

		while (next < n) {
			memcpy(&page, buf + next, sizeof(page));
			next += sizeof(page);
			time = page.timestamp;
			for (at = 0; (length = kscribe_page_event(buf + next, page.size, at,
								  &time, &h)); at += length)
				found += h && h->id == id;
			next += (page.size + 7) & ~7U;
		}
		EXPECT_EQ(n, next);
	}
	EXPECT_EQ(0, n);
	close(stream);
	return found;
}

TEST_F(kscribe, record_read_stop)
{
	struct kscribe_enable e = { .pattern = "syscalls:" EVENT };
	struct kscribe_status st;
	long found = 0;
	unsigned int cpu;
	int id, i;

	id = event_id(self->fd, EVENT);
	if (id < 0)
		SKIP(return, "no " EVENT ": load kscribe_probe_syscalls");
	ASSERT_EQ(0, ioctl(self->fd, KSCRIBE_IOCTL_ENABLE, &e));
	ASSERT_EQ(1, e.count);
	ASSERT_EQ(0, ioctl(self->fd, KSCRIBE_IOCTL_START));
	EXPECT_EQ(-1, ioctl(self->fd, KSCRIBE_IOCTL_START));
	EXPECT_EQ(EBUSY, errno);
	ASSERT_EQ(0, ioctl(self->fd, KSCRIBE_IOCTL_STATUS, &st));
	EXPECT_EQ(KSCRIBE_STATE_RECORDING, st.state);
	for (i = 0; i < CALLS; i++)
		syscall(SYS_getppid);
	ASSERT_EQ(0, ioctl(self->fd, KSCRIBE_IOCTL_STOP, 0));
	ASSERT_EQ(0, ioctl(self->fd, KSCRIBE_IOCTL_STATUS, &st));
	EXPECT_EQ(KSCRIBE_STATE_STOPPED, st.state);
	for (cpu = 0; cpu < st.nr_cpus; cpu++)
		found += count_records(_metadata, self->fd, cpu, id);
	EXPECT_LE(CALLS, found);
}

TEST_HARNESS_MAIN
