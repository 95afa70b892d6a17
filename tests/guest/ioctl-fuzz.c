// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe-fuzz: throw N random ioctls at /dev/kscribe.
 *
 * Commands are random numbers, random kscribe magic/number/size/direction
 * combinations and the real commands; arguments are NULL, unmapped, kernel
 * and valid buffers full of random bytes. Return values do not matter: the
 * kernel must survive. Prints "FUZZ ioctls=N ok=A errors=B" at the end.
 *
 * "kscribe-fuzz filters N SEED" sets N random filter programs instead, on
 * random events: random expressions (some with a byte changed) and random
 * bytes, with random string pools. The programs the kernel accepts then run:
 * a recording of every event filtered by them, while this process makes
 * system calls. Prints "FUZZ filters=N accepted=A refused=B".
 */

#include <errno.h>
#include <stdbool.h>
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
	KSCRIBE_IOCTL_CONTEXT_INFO, KSCRIBE_IOCTL_SET_CONTEXTS, KSCRIBE_IOCTL_EVENT_FIELD,
	KSCRIBE_IOCTL_SET_FILTER, KSCRIBE_IOCTL_FILTER_STATS, KSCRIBE_IOCTL_STATEDUMP,
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

static struct kscribe_filter_insn insns[KSCRIBE_FILTER_INSNS_MAX + 8];
static const char globs[] = "*\0/tmp/*\0a?c\0[a-z]*\0kscribe*\0";
static char pool[64];

static void put(unsigned int *at, unsigned int op, unsigned int arg, unsigned int index,
		long imm)
{
	if (*at < ARRAY_SIZE(insns))
		insns[(*at)++] = (struct kscribe_filter_insn){ .op = op, .arg = arg,
							       .index = index, .imm = imm };
}

/* A random well-formed expression at insns[*at]: comparisons, globs, ! && ||. */
static void random_expr(unsigned int *at, int depth)
{
	unsigned int jump, kind = random() % (depth > 4 ? 3 : 6);

	switch (kind) {
	case 0:
	case 1:
		put(at, kind ? KSCRIBE_OP_CONTEXT : KSCRIBE_OP_FIELD, 0,
		    kind ? random() % (KSCRIBE_CTX_PERF_CPU_CYCLES + 1) : random() % 8, 0);
		put(at, KSCRIBE_OP_CONST, 0, 0, (long)(random() % 512) - 128);
		if (!(random() % 4))
			put(at, KSCRIBE_OP_CONST_HI, 0, 0, (long)rnd());
		put(at, KSCRIBE_OP_EQ + random() % 6, random() % 2, 0, 0);
		break;
	case 2:
		kind = random() % 2;
		put(at, KSCRIBE_OP_MATCH, kind, kind ? KSCRIBE_CTX_PROCNAME : random() % 8,
		    random() % sizeof(globs));
		break;
	case 3:
		random_expr(at, depth + 1);
		put(at, KSCRIBE_OP_NOT, 0, 0, 0);
		break;
	default:
		random_expr(at, depth + 1);
		jump = *at;
		put(at, kind == 4 ? KSCRIBE_OP_AND : KSCRIBE_OP_OR, 0, 0, 0);
		random_expr(at, depth + 1);
		if (jump < ARRAY_SIZE(insns))
			insns[jump].imm = *at - jump;
		break;
	}
}

/*
 * A random program for SET_FILTER, in insns[] and pool[]: a third random
 * bytes, the rest well-formed expressions, half of those with one byte
 * changed.
 */
static void random_program(struct kscribe_filter *arg)
{
	unsigned int i, nr = 0;

	memset(arg, 0, sizeof(*arg));
	if (random() % 3) {
		random_expr(&nr, 0);
		put(&nr, KSCRIBE_OP_RET, 0, 0, 0);
		if (random() % 2)
			((unsigned char *)insns)[random() % (nr * sizeof(insns[0]))] = random();
		memcpy(pool, globs, sizeof(globs));
		arg->pool_size = sizeof(globs);
	} else {
		nr = 1 + random() % (random() % 8 ? 24 : ARRAY_SIZE(insns));
		for (i = 0; i < nr; i++)
			memcpy(&insns[i], &(uint64_t){ rnd() }, sizeof(insns[i]));
		for (i = 0; i < sizeof(pool); i++)
			pool[i] = random() % 4 ? "*?[]/tmp-ab"[random() % 11] : '\0';
		arg->pool_size = random() % (sizeof(pool) + 1);
	}
	arg->nr_insns = nr;
	arg->insns = (uintptr_t)insns;
	arg->pool = (uintptr_t)pool;
	if (!(random() % 16))
		arg->flags = rnd();
}

static int fuzz_filters(int fd, long n)
{
	static unsigned int ids[KSCRIBE_MAX_EVENTS];
	struct kscribe_event_info info = { 0 };
	struct kscribe_enable all = { .pattern = "*" };
	struct kscribe_filter arg;
	unsigned int nr_ids = 0;
	long i, accepted = 0, refused = 0;

	for (; !ioctl(fd, KSCRIBE_IOCTL_EVENT_INFO, &info); info.index++)
		ids[nr_ids++] = info.id;
	if (!nr_ids)
		return 1;
	for (i = 0; i < n; i++) {
		random_program(&arg);
		arg.id = random() % 64 ? ids[random() % nr_ids] : rnd();
		if (ioctl(fd, KSCRIBE_IOCTL_SET_FILTER, &arg) == 0)
			accepted++;
		else
			refused++;
	}
	/* run what was accepted: on every event, while this makes system calls */
	if (ioctl(fd, KSCRIBE_IOCTL_ENABLE, &all) || ioctl(fd, KSCRIBE_IOCTL_START, 0))
		return 1;
	for (i = 0; i < 2000; i++)
		close(open(i % 2 ? "/tmp" : "/nonexistent", O_RDONLY));
	ioctl(fd, KSCRIBE_IOCTL_STOP, 0);
	printf("FUZZ filters=%ld accepted=%ld refused=%ld\n", n, accepted, refused);
	return 0;
}

int main(int argc, char **argv)
{
	bool filters = argc > 1 && !strcmp(argv[1], "filters");
	long n;
	long i, ok = 0, errors = 0;
	int fd = open("/dev/kscribe", O_RDWR);

	if (fd < 0) {
		perror("/dev/kscribe");
		return 1;
	}
	if (filters) {
		argv++;
		argc--;
	}
	n = argc > 1 ? atol(argv[1]) : 10000;
	srandom(argc > 2 ? atoi(argv[2]) : 1);
	if (filters)
		return fuzz_filters(fd, n);
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
