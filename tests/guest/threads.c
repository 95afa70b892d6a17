// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe-threads N: start N threads that wait, then ask for a state dump
 * (kscribectl statedump) while they exist, so that the dump's cost can be
 * measured on a machine with many threads. Prints "THREADS started=N rc=R".
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int gate[2];

static void *wait_at_gate(void *arg)
{
	char c;

	(void)arg;
	return read(gate[0], &c, 1) < 0 ? NULL : arg;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0, started;
	pthread_attr_t attr;
	pthread_t thread;
	int status = -1;
	pid_t child;

	if (pipe(gate) || pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, 65536))
		return 1;
	for (started = 0; started < n; started++) {
		if (pthread_create(&thread, &attr, wait_at_gate, NULL))
			break;
	}
	fflush(stdout);
	child = fork();
	if (child == 0) {
		execlp("kscribectl", "kscribectl", "statedump", (char *)NULL);
		_exit(127);
	}
	if (child < 0 || waitpid(child, &status, 0) != child)
		return 1;
	printf("THREADS started=%ld rc=%d\n", started,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}
