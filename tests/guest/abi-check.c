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
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uapi/linux/kscribe.h>

#define PATTERN "syscalls:openat"

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
	if (ioctl(owner, KSCRIBE_IOCTL_ENABLE, &e) < 0 ||
	    ioctl(owner, KSCRIBE_IOCTL_START, 0) < 0) {
		perror("kscribe-abi-check: START");
		return 2;
	}
	failed += verdict("status-pid", check_status_pid(other));
	failed += verdict("stop-other", check_stop_other(owner, other));
	ioctl(owner, KSCRIBE_IOCTL_STOP, 0);
	return failed ? 1 : 0;
}
