// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe-fuzz: throw N random ioctls at /dev/kscribe.
 *
 * Commands are random numbers, random kscribe magic/number/size/direction
 * combinations and the real commands; arguments are NULL, unmapped, kernel
 * and valid buffers full of random bytes. Return values do not matter: the
 * kernel must survive. Prints "FUZZ ioctls=N ok=A errors=B" at the end.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uapi/linux/kscribe.h>

static unsigned char buf[8192];

static unsigned long rnd(void)
{
	return ((unsigned long)random() << 31) ^ (unsigned long)random();
}

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const unsigned long commands[] = {
	KSCRIBE_IOCTL_VERSION, KSCRIBE_IOCTL_EVENT_INFO, KSCRIBE_IOCTL_EVENT_METADATA,
	KSCRIBE_IOCTL_ENABLE, KSCRIBE_IOCTL_SET_BUFFER, KSCRIBE_IOCTL_START,
	KSCRIBE_IOCTL_STOP, KSCRIBE_IOCTL_FLUSH, KSCRIBE_IOCTL_STATUS,
	KSCRIBE_IOCTL_CPU_STATS, KSCRIBE_IOCTL_CLOCK, KSCRIBE_IOCTL_STREAM_OPEN,
};

static unsigned long command(void)
{
	static const unsigned int dirs[] = { _IOC_NONE, _IOC_READ, _IOC_WRITE,
					     _IOC_READ | _IOC_WRITE };

	switch (random() % 4) {
	case 3:
		return commands[random() % ARRAY_SIZE(commands)];
	case 0:
		return rnd() & 0xffffffffUL;
	case 1:
		return _IOC(dirs[random() % 4], KSCRIBE_IOC_MAGIC, random() % 0x20,
			    random() % 512);
	default:
		return _IOC(dirs[random() % 4], KSCRIBE_IOC_MAGIC, random() % 0x10,
			    random() % 2 ? 0 : 64 * (random() % 8));
	}
}

static unsigned long argument(void)
{
	size_t i;

	switch (random() % 5) {
	case 0:
		return 0;
	case 1:
		return 0x10;			/* unmapped */
	case 2:
		return ~0UL - 4095;		/* kernel space */
	case 3:
		return rnd() % 64;		/* small integers (flags, cpu) */
	default:
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = random();
		if (random() % 2)		/* a plausible string */
			memcpy(buf, "sched:*", 8);
		return (unsigned long)buf;
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;
	long i, ok = 0, errors = 0;
	int fd = open("/dev/kscribe", O_RDWR);

	if (fd < 0) {
		perror("/dev/kscribe");
		return 1;
	}
	srandom(argc > 2 ? atoi(argv[2]) : 1);
	for (i = 0; i < n; i++) {
		unsigned long cmd = command();
		long ret = ioctl(fd, cmd, argument());

		if (ret < 0) {
			errors++;
			continue;
		}
		ok++;
		if (cmd == KSCRIBE_IOCTL_STREAM_OPEN)
			close(ret);		/* a stream fd */
	}
	ioctl(fd, KSCRIBE_IOCTL_STOP, 0);
	close(fd);
	printf("FUZZ ioctls=%ld ok=%ld errors=%ld\n", n, ok, errors);
	return 0;
}
