// SPDX-License-Identifier: GPL-2.0-only
/*
 * kscribe-workload: a guest program that makes known system calls, so that
 * a trace of it can be checked field by field.
 *
 * It prints what it did as "WORKLOAD <key>=<value>" lines on stdout; the
 * host compares them with the recorded events.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define WRITE_BYTES	4242
#define SEND_BYTES	1234
/* a path read in three pieces, the last one ending a page; one longer than the tracer keeps */
#define EDGE_BYTES	150
#define LONG_BYTES	300

static char buf[WRITE_BYTES];

static void fail(const char *what)
{
	perror(what);
	exit(1);
}

/*
 * Ask for a state dump while the file is open: it must list this process
 * (and its parent) and the file at its descriptor.
 */
static void statedump(int fd)
{
	pid_t child;
	int status;

	fflush(stdout);
	child = fork();
	if (child < 0)
		fail("fork");
	if (child == 0) {
		execlp("kscribectl", "kscribectl", "statedump", (char *)NULL);
		_exit(127);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status))
		fail("waitpid");
	printf("WORKLOAD statedump_fd=%d\n", fd);
	printf("WORKLOAD statedump_rc=%d\n", WEXITSTATUS(status));
}

/* Who this process is, as the events' contexts must say it. */
static void print_identity(void)
{
	static const char * const namespaces[] = { "pid", "mnt", "net", "cgroup" };
	char name[17] = "", path[32];
	struct stat st;
	unsigned int i;

	if (prctl(PR_GET_NAME, name))
		fail("prctl");
	printf("WORKLOAD tid=%ld\n", (long)syscall(SYS_gettid));
	printf("WORKLOAD procname=%s\n", name);
	printf("WORKLOAD ppid=%d\n", getppid());
	printf("WORKLOAD prio=%d\n", getpriority(PRIO_PROCESS, 0) + 20);
	printf("WORKLOAD uid=%u\nWORKLOAD euid=%u\nWORKLOAD gid=%u\n", getuid(), geteuid(),
	       getgid());
	for (i = 0; i < ARRAY_SIZE(namespaces); i++) {
		snprintf(path, sizeof(path), "/proc/self/ns/%s", namespaces[i]);
		if (stat(path, &st))
			fail(path);
		printf("WORKLOAD %s_ns=%lu\n", namespaces[i], (unsigned long)st.st_ino);
	}
}

/* A path of @len bytes at @at: "/tmp/" and then @fill. */
static char *make_path(char *at, size_t len, char fill)
{
	memset(at, fill, len);
	memcpy(at, "/tmp/", 5);
	at[len] = '\0';
	return at;
}

/*
 * Open two paths that do not exist: one whose NUL is the last byte of a
 * page before an unmapped one (it must be recorded whole), and one longer
 * than a recorded string (it is cut).
 */
static void long_paths(void)
{
	static char longer[LONG_BYTES + 1];
	long page = sysconf(_SC_PAGESIZE);
	char *area, *edge;

	area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		fail("mmap");
	if (munmap(area + page, page))
		fail("munmap");
	edge = make_path(area + page - EDGE_BYTES - 1, EDGE_BYTES, 'e');
	if (openat(AT_FDCWD, edge, O_RDONLY) >= 0)
		fail("openat of a path at a page's end");
	printf("WORKLOAD edge_path=%s\n", edge);
	make_path(longer, LONG_BYTES, 'l');
	if (openat(AT_FDCWD, longer, O_RDONLY) >= 0)
		fail("openat of a long path");
	printf("WORKLOAD long_path=%s\n", longer);
	munmap(area, page);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/tmp/kscribe-workload.dat";
	struct timespec nap = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };
	/* the kernel writes these only on success (addr) or -EINTR (left) */
	struct timespec left = { .tv_sec = 7, .tv_nsec = 7 };
	struct sockaddr_storage addr;
	socklen_t addrlen = 16;
	int fd, sv[2], status;
	pid_t child;

	printf("WORKLOAD pid=%d\n", getpid());
	print_identity();
	printf("WORKLOAD file=%s\n", path);
	memset(buf, 'k', sizeof(buf));

	fd = openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail("openat");
	if (write(fd, buf, WRITE_BYTES) != WRITE_BYTES)
		fail("write");
	printf("WORKLOAD write=%d\n", WRITE_BYTES);
	if (getenv("KSCRIBE_STATEDUMP"))
		statedump(fd);
	memset(&addr, 0xab, sizeof(addr));
	if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) == 0)
		fail("getsockname of a file");
	printf("WORKLOAD getsockname=%d\n", -errno);
	close(fd);
	long_paths();

	fflush(stdout);
	child = fork();
	if (child < 0)
		fail("fork");
	if (child == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	printf("WORKLOAD fork parent=%d child=%d\n", getpid(), child);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fail("child");

	nanosleep(&nap, &left);
	printf("WORKLOAD sleep_ns=%ld\n", nap.tv_nsec);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		fail("socketpair");
	if (send(sv[0], buf, SEND_BYTES, 0) != SEND_BYTES)
		fail("send");
	if (recv(sv[1], buf, SEND_BYTES, MSG_WAITALL) != SEND_BYTES)
		fail("recv");
	printf("WORKLOAD send=%d\n", SEND_BYTES);
#ifdef SYS_ipc
	/* where there is one, through ipc(2): semget(IPC_PRIVATE, 1, 0600), then IPC_RMID */
	status = syscall(SYS_ipc, 2, 0, 1, 0600, NULL, 0);
	if (status < 0 || syscall(SYS_ipc, 3, status, 0, 0, &(long){ 0 }, 0) < 0)
		fail("ipc");
	printf("WORKLOAD ipc_semget=%d\n", status);
#endif
	close(sv[0]);
	close(sv[1]);
	/*
	 * An address longer than the caller's buffer: the kernel copies what fits and writes
	 * the whole length back. Only what it copied is the caller's address.
	 */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&addr, 0, sizeof(addr));
	addr.ss_family = AF_UNIX;
	snprintf(((struct sockaddr_un *)&addr)->sun_path, sizeof(struct sockaddr_un) - 2,
		 "%s.sock", path);
	unlink(((struct sockaddr_un *)&addr)->sun_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(struct sockaddr_un)) < 0)
		fail("bind");
	memset(&addr, 0xab, sizeof(addr));
	addrlen = 4;
	if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) < 0 || addrlen <= 4)
		fail("getsockname");
	printf("WORKLOAD getsockname_buffer=4\n");
	printf("WORKLOAD getsockname_length=%u\n", (unsigned int)addrlen);
	close(fd);
	printf("WORKLOAD done\n");
	return 0;
}
