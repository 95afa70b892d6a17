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
 */

#define _GNU_SOURCE

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
	n = argc > 1 ? atoll(argv[1]) : 100000;
	start = now_ns();
	for (i = 0; i < n; i++)
		syscall(SYS_getppid);
	printf("LOOP calls=%lld ns_per_call=%lld\n", n, (now_ns() - start) / n);
	return 0;
}
