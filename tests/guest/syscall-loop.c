// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe-loop: make cheap system calls and say how long each took.
 *
 *   kscribe-loop N          N calls as fast as possible:
 *                           "LOOP calls=N ns_per_call=X"
 *   kscribe-loop -r RATE S  RATE calls per second for S seconds:
 *                           "LOOP rate=RATE calls=N"
 *   kscribe-loop -a RATE S  the same on every online CPU, one process pinned to each,
 *                           RATE in all (0: each as fast as it can): events from every
 *                           CPU at once, so that a tracer's consumer competes with them
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH_NS	1000000LL	/* ahead of the pace: sleep 1 ms */
#define CHUNK		100		/* calls between two reads of the clock */

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * RATE calls per second (0: no pause) for S seconds; the calls made. The clock
 * is read every CHUNK calls at most, so that a loop slower than RATE (a
 * tracer's cost) still stops after S seconds: it then makes fewer calls.
 */
static long long pace(long long rate, long long seconds)
{
	long long start = now_ns(), end = start + seconds * 1000000000LL;
	long long done = 0, due, t, n;
	struct timespec nap = { 0, BATCH_NS };

	while ((t = now_ns()) < end) {
		due = rate ? (t - start) * rate / 1000000000LL : done + CHUNK;
		if (done >= due) {
			nanosleep(&nap, NULL);
			continue;
		}
		for (n = due - done < CHUNK ? due - done : CHUNK; n; n--) {
			syscall(SYS_getppid);
			done++;
		}
	}
	return done;
}

static int pin(int cpu)
{
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus)) {
		perror("sched_setaffinity");
		return -1;
	}
	return 0;
}

/* pace() on every online CPU at once; the calls of all, summed through a pipe */
static int everywhere(long long rate, long long seconds)
{
	long cpu, ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	long long done, total = 0;
	int sums[2], status, failed = 0;

	if (ncpus < 1 || pipe(sums)) {
		perror("everywhere");
		return 1;
	}
	for (cpu = 0; cpu < ncpus; cpu++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			if (pin(cpu))
				_exit(1);
			done = pace(rate / ncpus, seconds);
			_exit(write(sums[1], &done, sizeof(done)) != sizeof(done));
		}
	}
	close(sums[1]);
	while (read(sums[0], &done, sizeof(done)) == sizeof(done))
		total += done;
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status);
	printf("LOOP rate=%lld calls=%lld cpus=%ld\n", rate, total, ncpus);
	return failed;
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
		if (argc > 3 && pin(atoi(argv[3])))
			return 1;
		for (;;)
			syscall(SYS_getppid);
	}
	if (argc > 3 && !strcmp(argv[1], "-r")) {
		n = atoll(argv[2]);
		printf("LOOP rate=%lld calls=%lld\n", n, pace(n, atoll(argv[3])));
		return 0;
	}
	if (argc > 3 && !strcmp(argv[1], "-a"))
		return everywhere(atoll(argv[2]), atoll(argv[3]));
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
