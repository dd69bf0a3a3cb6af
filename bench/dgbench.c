/*
 * NAME
 *	dgbench - offer libtlsrpt-style datagrams to a collector socket
 * SYNOPSIS
 *	dgbench -s socket [-r rate] [-t seconds] [-D domains] [-S senders]
 * DESCRIPTION
 *	Sends the way libtlsrpt does: non-blocking (MSG_DONTWAIT), so a full
 *	socket queue means a lost datagram, exactly what an MTA would lose.
 *	-r 0 sends at full speed.  The datagrams are realistic: a rotating
 *	mix of success and failure shapes (TLSA, STS, no-policy-found, with
 *	and without failure details) over -D recipient domains.  Prints one
 *	line: sent, lost, elapsed seconds and offered rate.  A socket nobody
 *	reads (the collector killed, or not there) loses the datagram, as
 *	libtlsrpt's would: counted as lost and as refused, as is one the
 *	collector refuses while it stops (EPIPE: socket shut down).
 *
 *	-S spreads the datagrams round-robin over that many sending sockets
 *	(default 16), as Postfix's smtp processes each send from their own:
 *	an unread unix datagram counts against its sender's send buffer
 *	(about 160 typical datagrams in the default 208 KB), so a single
 *	socket at 30,000/s would measure its own buffer, not the collector.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *const shapes[] = {
	"{\"dpv\":\"1\",\"d\":\"d%u.example\",\"pr\":\"v=TLSRPTv1; rua=mailto:tlsrpt@d%u.example\","
	"\"policies\":[{\"policy-type\":1,\"policy-domain\":\"mx1.d%u.example\",\"policy-string\":"
	"[\"3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6\","
	"\"2 1 1 8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\"],\"t\":0,\"f\":0}]}",
	"{\"dpv\":\"1\",\"d\":\"d%u.example\",\"pr\":\"v=TLSRPTv1; rua=mailto:tlsrpt@d%u.example,"
	"https://reports.d%u.example/tlsrpt\",\"policies\":[{\"policy-type\":2,\"policy-domain\":"
	"\"d%u.example\",\"policy-string\":[\"version: STSv1\",\"mode: enforce\",\"mx: mail.d%u.example\","
	"\"max_age: 604800\"],\"mx-host\":[\"mail.d%u.example\"],\"failure-details\":[{\"c\":205,"
	"\"s\":\"192.0.2.10\",\"n\":\"mail.d%u.example\",\"h\":\"250 mail.d%u.example\",\"r\":"
	"\"198.51.100.7\",\"f\":\"self-signed_certificate\"}],\"t\":1,\"f\":1}]}",
	"{\"dpv\":\"1\",\"d\":\"d%u.example\",\"pr\":\"v=TLSRPTv1;rua=mailto:reports@d%u.example\","
	"\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}",
	"{\"dpv\":\"1\",\"d\":\"d%u.example\",\"pr\":\"v=TLSRPTv1;rua=mailto:reports@d%u.example\","
	"\"policies\":[{\"policy-type\":9,\"failure-details\":[{\"c\":201,\"s\":\"2001:db8::25\","
	"\"n\":\"mx.d%u.example\",\"h\":\"250 mx.d%u.example\",\"r\":\"2001:db8:1::1\"}],\"t\":1,\"f\":1}]}",
};

#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr;
	const char *path = NULL;
	double rate = 0, seconds = 5, start, end;
	unsigned domains = 1000, c, nsenders = 16;
	int fds[64];
	unsigned long long sent = 0, lost = 0, refused = 0, i = 0;
	char buf[2048];
	int fd, opt;

	while ((opt = getopt(argc, argv, "s:r:t:D:S:")) != -1) {
		switch (opt) {
		case 's': path = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'D': domains = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'S': nsenders = (unsigned)strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: dgbench -s socket [-r rate] [-t seconds] [-D domains] [-S senders<=64]\n");
			return 2;
		}
	}
	if (path == NULL || domains == 0 || seconds <= 0 || seconds > 600 ||
	    nsenders == 0 || nsenders > 64 ||
	    strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: dgbench -s socket [-r rate] [-t seconds<=600] [-D domains] [-S senders<=64]\n");
		return 2;
	}
	for (unsigned k = 0; k < nsenders; k++)
		if ((fds[k] = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0) {
			perror("dgbench: socket");
			return 1;
		}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, path);
	start = now_s();
	end = start + seconds;
	for (;;) {
		double t = now_s();

		if (t >= end)
			break;
		/* paced: catch up to rate * elapsed, then yield briefly */
		if (rate > 0 && (double)i >= rate * (t - start)) {
			struct timespec ts = {0, 100000};

			nanosleep(&ts, NULL);
			continue;
		}
		for (int burst = 0; burst < 64; burst++) {
			unsigned d = (unsigned)(i % domains);
			int n;

			c = (unsigned)((i / domains) % NSHAPES);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			n = snprintf(buf, sizeof(buf), shapes[c], d, d, d, d, d, d, d, d);
#pragma GCC diagnostic pop
			fd = fds[i % nsenders];
			if (sendto(fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&addr,
			    sizeof(addr)) < 0) {
				if (errno == ECONNREFUSED || errno == ENOENT || errno == EPIPE) {
					refused++;
				} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
					perror("dgbench: sendto");
					return 1;
				}
				lost++;
			} else {
				sent++;
			}
			i++;
			if (rate > 0 && (double)i >= rate * (now_s() - start))
				break;
		}
	}
	printf("offered=%llu sent=%llu lost=%llu seconds=%.2f offered_rate=%.0f refused=%llu\n",
	    sent + lost, sent, lost, now_s() - start, (double)(sent + lost) / (now_s() - start),
	    refused);
	return 0;
}
