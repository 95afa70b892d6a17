// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribectl: query the kscribe core module through /dev/kscribe.
 *
 * Built statically, for each target architecture, against the uapi header
 * only (-I kernel_module/include); see kscribe/build.py.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uapi/linux/kscribe.h>

#define KSCRIBE_DEVICE	"/dev/kscribe"

static const char progname[] = "kscribectl";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s COMMAND\n"
		"\n"
		"Commands:\n"
		"  version    print the version and ABI of the kscribe core module\n"
		"  stats      print every registered event and its number of hits\n"
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
	if (version->abi != KSCRIBE_ABI_VERSION) {
		fprintf(stderr, "%s: kernel ABI %u, this tool supports ABI %u\n",
			progname, version->abi, KSCRIBE_ABI_VERSION);
		return 1;
	}
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

static int cmd_stats(int fd)
{
	struct kscribe_version version;
	struct kscribe_event_info info;
	unsigned int count;

	if (get_version(fd, &version))
		return 1;

	for (count = 0; ; count++) {
		memset(&info, 0, sizeof(info));
		info.index = count;
		if (ioctl(fd, KSCRIBE_IOCTL_EVENT_INFO, &info) < 0) {
			if (errno == ENOENT)
				break;
			return error("KSCRIBE_IOCTL_EVENT_INFO");
		}
		info.name[sizeof(info.name) - 1] = '\0';
		printf("%s %llu\n", info.name, (unsigned long long)info.hits);
	}
	printf("events: %u\n", count);
	return 0;
}

int main(int argc, char **argv)
{
	int (*cmd)(int fd);
	int fd, ret;

	if (argc != 2) {
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
	} else {
		fprintf(stderr, "%s: unknown command '%s'\n", progname, argv[1]);
		usage(stderr);
		return 1;
	}

	fd = open_device();
	if (fd < 0)
		return 1;
	ret = cmd(fd);
	close(fd);
	if (fflush(stdout) == EOF)
		return error("stdout");
	return ret;
}
