/*
 * NAME
 *	dgsend - send datagrams to a unix datagram socket (test helper)
 * SYNOPSIS
 *	dgsend -s socket [-n repeat] file...     each file is one datagram
 *	dgsend -s socket [-n repeat] -l file     each line is one datagram
 * DESCRIPTION
 *	Blocking sends, so nothing is lost in the sender's queue: what the
 *	tests count is exactly what was sent.  One trailing newline of a
 *	file is not sent.  Prints the number of datagrams sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

static int sock = -1;
static struct sockaddr_un addr;
static unsigned long long sent;

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

int main(int argc, char **argv)
{
	const char *path = NULL;
	unsigned long repeat = 1;
	int lines = 0, c;
	struct strbuf sb;

	while ((c = getopt(argc, argv, "s:n:l")) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'n': repeat = strtoul(optarg, NULL, 10); break;
		case 'l': lines = 1; break;
		default:
			fprintf(stderr, "usage: dgsend -s socket [-n repeat] [-l] file...\n");
			return 2;
		}
	}
	if (path == NULL || optind >= argc || strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: dgsend -s socket [-n repeat] [-l] file...\n");
		return 2;
	}
	sock = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sock < 0) {
		perror("dgsend: socket");
		return 1;
	}
	{
		int sz = 1 << 20;

		setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
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
