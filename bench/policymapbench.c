/*
 * NAME
 *	policymapbench - lookup latency of tlsrpt-milter's MTA-STS policy map
 * SYNOPSIS
 *	policymapbench [-n lookups] [-d domains] MILTER
 *	policymapbench [-n lookups] -s SOCKET DOMAIN...
 * DESCRIPTION
 *	The first form makes a scratch store with -d cached enforce policies
 *	(default 10000; written with store_sts_put, as the fetch thread
 *	writes them), starts MILTER (the tlsrpt-milter binary) in the
 *	foreground with only policy_map_socket configured, and measures
 *	against that warm cache.  The second form measures a daemon that
 *	is already running, looking up the DOMAINs given.
 *
 *	After 1000 warm-up lookups it sends -n lookups (default 100000),
 *	one at a time as Postfix does, over one connection, cycling through
 *	the domains, and times each from the request's first byte to the
 *	answer's last.  Every answer must be "OK secure match=..." (first
 *	form) or a well-formed netstring (second form).  Prints one line:
 *	lookups, domains, mean, p50, p99 and max latency in microseconds
 *	and whether the mean meets the 1 ms target.  Exit status 0, or 1
 *	when the daemon cannot be started or an answer is wrong (never for
 *	a missed target: benchmarks do not fail the build).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mta_sts.h"
#include "store.h"
#include "util.h"

#define WARMUP 1000
#define TARGET_US 1000.0

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char *domain_name(unsigned i)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "d%u.bench.example", i);
	return xstrdup(buf);
}

/* Cached enforce policies for every domain, as the fetch thread writes them. */
static int fill_store(const char *path, char **domains, unsigned n)
{
	char err[512];
	struct store *st = store_open(path, 5000, err, sizeof(err));
	long long now = (long long)time(NULL);

	if (st == NULL) {
		fprintf(stderr, "policymapbench: %s\n", err);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		struct sts_cached c;
		char text[256];
		int len;

		memset(&c, 0, sizeof(c));
		len = snprintf(text, sizeof(text), "version: STSv1\nmode: enforce\nmx: mx1.%s\n"
		    "mx: *.mx.%s\nmax_age: 604800\n", domains[i], domains[i]);
		if (!sts_parse_policy(text, (size_t)len, &c.policy, err, sizeof(err))) {
			fprintf(stderr, "policymapbench: policy: %s\n", err);
			store_close(st);
			return -1;
		}
		snprintf(c.domain, sizeof(c.domain), "%s", domains[i]);
		snprintf(c.id, sizeof(c.id), "bench1");
		c.status = STS_OK;
		c.fetched = c.checked = now;
		c.expires = now + 604800;
		c.next_try = now + 86400;
		if (store_sts_put(st, &c, err, sizeof(err)) != 0) {
			fprintf(stderr, "policymapbench: store_sts_put: %s\n", err);
			sts_cached_free(&c);
			store_close(st);
			return -1;
		}
		sts_cached_free(&c);
	}
	store_close(st);
	return 0;
}

static pid_t start_daemon(const char *milter, const char *dir, const char *sock)
{
	char conf[512], log[512], store[512];
	FILE *fp;
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/tlsrpt.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(store, sizeof(store), "%s/store.db", dir);
	if ((fp = fopen(conf, "w")) == NULL) {
		perror(conf);
		return -1;
	}
	fprintf(fp, "store_path %s\ndatagram_socket none\npid_file none\nrun_as_user %s\n"
	    "policy_map_socket unix:%s\nlog_level notice\n", store,
	    getenv("USER") && *getenv("USER") ? getenv("USER") : "root", sock);
	fclose(fp);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
		execl(milter, milter, "-f", "-c", conf, (char *)NULL);
		dprintf(2, "cannot execute %s: %s\n", milter, strerror(errno));
		_exit(127);
	}
	return pid;
}

static int connect_to(const char *path, int tries)
{
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < tries; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		usleep(50000);
	}
	return -1;
}

/* One netstring answer into buf (NUL-terminated); -1 on a broken stream. */
static int read_answer(int fd, char *buf, size_t buflen)
{
	size_t want = 0, got = 0;
	char c;

	for (;;) {
		if (read(fd, &c, 1) != 1)
			return -1;
		if (c == ':')
			break;
		if (c < '0' || c > '9' || want > buflen)
			return -1;
		want = want * 10 + (size_t)(c - '0');
	}
	if (want + 1 >= buflen)
		return -1;
	while (got < want + 1) {
		ssize_t n = read(fd, buf + got, want + 1 - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	if (buf[want] != ',')
		return -1;
	buf[want] = '\0';
	return 0;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* -1 on a broken stream or (want_ok) an answer that is not an enforced policy. */
static int lookup(int fd, const char *domain, bool want_ok)
{
	char req[300], out[320], ans[4096];
	int len = snprintf(req, sizeof(req), "postfix %s", domain);
	int olen = snprintf(out, sizeof(out), "%d:%s,", len, req);

	if (write(fd, out, (size_t)olen) != olen || read_answer(fd, ans, sizeof(ans)) != 0)
		return -1;
	if (want_ok && strncmp(ans, "OK secure match=", 16) != 0) {
		fprintf(stderr, "policymapbench: %s: unexpected answer \"%s\"\n", domain, ans);
		return -1;
	}
	return 0;
}

static int run(int fd, char **domains, unsigned ndomains, unsigned long n, bool want_ok)
{
	long long *lat = xcalloc(n, sizeof(*lat)), sum = 0;

	for (unsigned i = 0; i < WARMUP; i++)
		if (lookup(fd, domains[i % ndomains], want_ok) != 0) {
			free(lat);
			return -1;
		}
	for (unsigned long i = 0; i < n; i++) {
		long long t0 = now_ns();

		if (lookup(fd, domains[i % ndomains], want_ok) != 0) {
			free(lat);
			return -1;
		}
		lat[i] = now_ns() - t0;
		sum += lat[i];
	}
	qsort(lat, n, sizeof(*lat), cmp_ll);
	printf("policymap: %lu lookups over one connection, %u cached domains: mean %.1f us, "
	    "p50 %.1f us, p99 %.1f us, max %.1f us (target: mean under %.0f us: %s)\n", n,
	    ndomains, (double)sum / (double)n / 1000.0, (double)lat[n / 2] / 1000.0,
	    (double)lat[(n * 99) / 100] / 1000.0, (double)lat[n - 1] / 1000.0, TARGET_US,
	    (double)sum / (double)n / 1000.0 < TARGET_US ? "met" : "MISSED");
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long n = 100000;
	unsigned ndomains = 10000;
	const char *sock = NULL;
	char dir[] = "/tmp/policymapbench.XXXXXX", path[512];
	char **domains;
	pid_t pid = -1;
	int c, fd, rc = 0;

	while ((c = getopt(argc, argv, "n:d:s:")) != -1) {
		switch (c) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			ndomains = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			sock = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (n == 0 || ndomains == 0 || (sock == NULL && optind != argc - 1) ||
	    (sock != NULL && optind == argc))
		goto usage;
	signal(SIGPIPE, SIG_IGN);

	if (sock != NULL) {
		if ((fd = connect_to(sock, 1)) < 0) {
			fprintf(stderr, "policymapbench: cannot connect to %s: %s\n", sock,
			    strerror(errno));
			return 1;
		}
		rc = run(fd, argv + optind, (unsigned)(argc - optind), n, false);
		close(fd);
		return rc == 0 ? 0 : 1;
	}

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	domains = xcalloc(ndomains, sizeof(*domains));
	for (unsigned i = 0; i < ndomains; i++)
		domains[i] = domain_name(i);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	if (fill_store(path, domains, ndomains) != 0) {
		rc = 1;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/policy.sock", dir);
	if ((pid = start_daemon(argv[optind], dir, path)) < 0 || (fd = connect_to(path, 200)) < 0) {
		fprintf(stderr, "policymapbench: the daemon did not start (log in %s/log)\n", dir);
		rc = 1;
		goto out;
	}
	if (run(fd, domains, ndomains, n, true) != 0)
		rc = 1;
	close(fd);
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	for (unsigned i = 0; i < ndomains; i++)
		free(domains[i]);
	free(domains);
	if (rc == 0) {
		const char *files[] = {"tlsrpt.conf", "log", "store.db", "store.db-wal",
		    "store.db-shm", "policy.sock"};

		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
			unlink(path);
		}
		rmdir(dir);
	}
	return rc;
usage:
	fprintf(stderr, "usage: policymapbench [-n lookups] [-d domains] MILTER\n"
	    "       policymapbench [-n lookups] -s SOCKET DOMAIN...\n");
	return 2;
}
