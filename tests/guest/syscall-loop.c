// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe-loop: make cheap system calls and say how long each took.
 *
 *   kscribe-loop N          N calls as fast as possible:
 *                           "LOOP calls=N ns_per_call=X"
 *   kscribe-loop -r RATE S  RATE calls per second for S seconds:
 *                           "LOOP rate=RATE calls=N"
 *   kscribe-loop -f NICE [CPU]
 *                           for ever, at priority NICE, on CPU if given (a background
 *                           load that stays on its CPU whatever the scheduler does)
 *   kscribe-loop -o FILE N  N rounds of openat(FILE), read, close (a string argument
 *                           to copy): "LOOP calls=N ns_per_call=X", X per round
 *   kscribe-loop -p N       two threads pass a byte back and forth over two pipes N
 *                           times (scheduler events): "LOOP calls=N ns_per_call=X",
 *                           X per round trip
 */

#define _GNU_SOURCE

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCH_NS	1000000LL	/* pace in 1 ms batches */

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void paced(long long rate, long long seconds)
{
	long long start = now_ns(), end = start + seconds * 1000000000LL;
	long long done = 0, due, t;
	struct timespec nap = { 0, 0 };

	while ((t = now_ns()) < end) {
		due = (t - start) * rate / 1000000000LL;
		while (done < due) {
			syscall(SYS_getppid);
			done++;
		}
		nap.tv_nsec = BATCH_NS;
		nanosleep(&nap, NULL);
	}
	printf("LOOP rate=%lld calls=%lld\n", rate, done);
}

static void files(const char *path, long long n)
{
	long long start = now_ns(), i;
	char buf[64];
	int fd;

	for (i = 0; i < n; i++) {
		fd = openat(AT_FDCWD, path, O_RDONLY);
		if (fd < 0) {
			perror(path);
			exit(1);
		}
		if (read(fd, buf, sizeof(buf)) < 0)
			perror("read");
		close(fd);
	}
	printf("LOOP calls=%lld ns_per_call=%lld\n", n, (now_ns() - start) / n);
}

static int ping[2], pong[2];

static void *answer(void *arg)
{
	char c;

	while (read(ping[0], &c, 1) == 1 && c)
		if (write(pong[1], &c, 1) != 1)
			break;
	return arg;
}

static int ping_pong(long long n)
{
	long long start, i;
	pthread_t thread;
	char c = 1;

	if (pipe(ping) || pipe(pong) || pthread_create(&thread, NULL, answer, NULL)) {
		perror("ping-pong");
		return 1;
	}
	start = now_ns();
	for (i = 0; i < n; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) {
			perror("ping-pong");
			return 1;
		}
	printf("LOOP calls=%lld ns_per_call=%lld\n", n, (now_ns() - start) / n);
	c = 0;
	if (write(ping[1], &c, 1) != 1)
		perror("ping-pong");
	return pthread_join(thread, NULL);
}

int main(int argc, char **argv)
{
	long long start, n, i;

	if (argc > 1 && !strcmp(argv[1], "-f")) {
		if (argc > 2 && nice(atoi(argv[2])) == -1)
			perror("nice");
		if (argc > 3) {
			cpu_set_t cpus;

			CPU_ZERO(&cpus);
			CPU_SET(atoi(argv[3]), &cpus);
			if (sched_setaffinity(0, sizeof(cpus), &cpus)) {
				perror("sched_setaffinity");
				return 1;
			}
		}
		for (;;)
			syscall(SYS_getppid);
	}
	if (argc > 3 && !strcmp(argv[1], "-r")) {
		paced(atoll(argv[2]), atoll(argv[3]));
		return 0;
	}
	if (argc > 3 && !strcmp(argv[1], "-o")) {
		files(argv[2], atoll(argv[3]));
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "-p"))
		return ping_pong(atoll(argv[2]));
	n = argc > 1 ? atoll(argv[1]) : 100000;
	start = now_ns();
	for (i = 0; i < n; i++)
		syscall(SYS_getppid);
	printf("LOOP calls=%lld ns_per_call=%lld\n", n, (now_ns() - start) / n);
	return 0;
}
