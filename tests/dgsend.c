/*
 * NAME
 *	dgsend - send datagrams to a unix datagram socket (test helper)
 * SYNOPSIS
 *	dgsend -s socket [-n repeat] file...     each file is one datagram
 *	dgsend -s socket [-n repeat] -l file     each line is one datagram
 *	dgsend -s socket -u seconds [-d] [-r rate] [-l] file...
 * DESCRIPTION
 *	Blocking sends, so nothing is lost in the sender's queue: what the
 *	tests count is exactly what was sent.  One trailing newline of a
 *	file is not sent.  Prints the number of datagrams sent.
 *
 *	-u: send the files over and over until the socket refuses (EPIPE
 *	once the daemon shut it down, ECONNREFUSED once it is closed,
 *	ENOENT once it is gone) or the seconds pass; then print
 *	"sent=N full=M end=REASON": N the datagrams the kernel took.  With
 *	-d the sends are non-blocking, as libtlsrpt's: a full queue
 *	(EAGAIN) is a datagram not sent, counted in M, and sending goes on.
 *	-r: at most that many datagrams a second (default: as fast as the
 *	socket takes them).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static int sock = -1;
static struct sockaddr_un addr;
static unsigned long long sent, full;
static double until;		/* -u: monotonic end, 0: not in that mode */
static int nonblocking;		/* -d */
static const char *end_reason;	/* -u: why sending ended */
static double rate;		/* -r: datagrams a second, 0: no limit */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* -u: one send; false once the socket refuses. */
static bool send_until_refused(const char *buf, size_t len)
{
	static double start;

	if (rate > 0) {
		if (start == 0)
			start = now_s();
		while ((double)(sent + full) >= rate * (now_s() - start)) {
			struct timespec ts = {0, 500000};

			nanosleep(&ts, NULL);
		}
	}
	for (;;) {
		if (sendto(sock, buf, len, nonblocking ? MSG_DONTWAIT : 0,
		    (struct sockaddr *)&addr, sizeof(addr)) >= 0) {
			sent++;
			return true;
		}
		if (errno == EINTR || (errno == ENOBUFS && !nonblocking))
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
			full++;
			return true;
		}
		if (errno == EPIPE)
			end_reason = "refused_epipe";
		else if (errno == ECONNREFUSED)
			end_reason = "refused_closed";
		else if (errno == ENOENT)
			end_reason = "refused_gone";
		else {
			fprintf(stderr, "dgsend: sendto %s: %s\n", addr.sun_path, strerror(errno));
			exit(1);
		}
		return false;
	}
}

static void send_one(const char *buf, size_t len)
{
	for (int tries = 0; tries < 1000; tries++) {
		if (sendto(sock, buf, len, 0, (struct sockaddr *)&addr, sizeof(addr)) >= 0) {
			sent++;
			return;
		}
		if (errno != EINTR && errno != ENOBUFS && errno != EAGAIN) {
			fprintf(stderr, "dgsend: sendto %s: %s\n", addr.sun_path, strerror(errno));
			exit(1);
		}
		usleep(1000);
	}
	fprintf(stderr, "dgsend: gave up sending after 1000 attempts\n");
	exit(1);
}

static void read_file(const char *path, struct strbuf *sb)
{
	char buf[65536];
	size_t n;
	FILE *fp = fopen(path, "rb");

	if (fp == NULL) {
		fprintf(stderr, "dgsend: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	strbuf_reset(sb);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		strbuf_append(sb, buf, n);
	fclose(fp);
}

static void open_socket(const char *path)
{
	int sz = 1 << 20;

	sock = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sock < 0) {
		perror("dgsend: socket");
		exit(1);
	}
	setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
}

/* -u: every datagram of the files, over and over, until refused or the time is up. */
static int send_for(const char *path, int lines, int nfiles, char **files)
{
	struct strbuf *data = xcalloc((size_t)nfiles, sizeof(*data));
	double end;

	if (path == NULL || nfiles == 0 || strlen(path) >= sizeof(addr.sun_path) || until > 600) {
		fprintf(stderr, "usage: dgsend -s socket -u seconds(<=600) [-d] [-l] file...\n");
		return 2;
	}
	open_socket(path);
	for (int i = 0; i < nfiles; i++) {
		strbuf_init(&data[i]);
		read_file(files[i], &data[i]);
	}
	end_reason = "time_up";
	end = now_s() + until;
	while (now_s() < end && strcmp(end_reason, "time_up") == 0) {
		for (int i = 0; i < nfiles; i++) {
			struct strbuf *sb = &data[i];
			bool go = true;

			for (size_t pos = 0; go && pos < sb->len;) {
				char *nl = lines ? memchr(sb->data + pos, '\n', sb->len - pos) : NULL;
				size_t len = nl ? (size_t)(nl - (sb->data + pos)) : sb->len - pos;

				if (!lines && len && sb->data[pos + len - 1] == '\n')
					len--;
				if (len)
					go = send_until_refused(sb->data + pos, len);
				pos = nl ? pos + len + 1 : sb->len;
			}
			if (!go)
				break;
		}
	}
	printf("sent=%llu full=%llu end=%s\n", sent, full, end_reason);
	for (int i = 0; i < nfiles; i++)
		strbuf_free(&data[i]);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	unsigned long repeat = 1;
	int lines = 0, c;
	struct strbuf sb;

	while ((c = getopt(argc, argv, "s:n:lu:dr:")) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'n': repeat = strtoul(optarg, NULL, 10); break;
		case 'l': lines = 1; break;
		case 'u': until = atof(optarg); break;
		case 'd': nonblocking = 1; break;
		case 'r': rate = atof(optarg); break;
		default:
			fprintf(stderr, "usage: dgsend -s socket [-n repeat | -u seconds [-d] [-r rate]] "
			    "[-l] file...\n");
			return 2;
		}
	}
	if (until > 0)
		return send_for(path, lines, argc - optind, argv + optind);
	if (path == NULL || optind >= argc || strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: dgsend -s socket [-n repeat] [-l] file...\n");
		return 2;
	}
	open_socket(path);
	strbuf_init(&sb);
	for (unsigned long r = 0; r < repeat; r++) {
		for (int i = optind; i < argc; i++) {
			read_file(argv[i], &sb);
			if (!lines) {
				size_t len = sb.len;

				if (len && sb.data[len - 1] == '\n')
					len--;
				send_one(sb.data, len);
				continue;
			}
			for (size_t pos = 0; pos < sb.len;) {
				char *nl = memchr(sb.data + pos, '\n', sb.len - pos);
				size_t len = nl ? (size_t)(nl - (sb.data + pos)) : sb.len - pos;

				if (len)
					send_one(sb.data + pos, len);
				pos += len + 1;
			}
		}
	}
	strbuf_free(&sb);
	printf("%llu\n", sent);
	return 0;
}
