/*
 * NAME
 *	https_post - command-line driver of submit_https, for the tests
 * SYNOPSIS
 *	https_post [--allow-private] [--ca FILE] [--timeout-ms N]
 *	    [--max-response N] [--parallel N] [--resolver ADDR[:PORT]]
 *	    [--dns-timeout-ms N] FILE URL...
 *	https_post --check-address ADDR...
 * DESCRIPTION
 *	The first form posts the bytes of FILE to every URL at once (one
 *	https_post_all() call) and prints one line per URL, in argument
 *	order:
 *
 *	    URL delivered|temporary|permanent STATUS [ERROR]
 *
 *	--timeout-ms sets the total time limit of each transfer (default
 *	10000) and caps the connect time limit; --max-response the response
 *	bytes accepted (default 65536); --parallel the concurrent transfers
 *	(default 16); --resolver the DNS server for the host names (default:
 *	resolv.conf) and --dns-timeout-ms the time-out of each (default
 *	5000).
 *
 *	The second form prints "ADDR public" or "ADDR private" for each
 *	numeric IPv4 or IPv6 address, as https_address_public() judges it.
 *
 *	Exit 0 when every line was printed, 1 when curl could not start or
 *	an address does not parse, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "submit_https.h"
#include "util.h"

static void usage(void)
{
	fprintf(stderr, "usage: https_post [--allow-private] [--ca FILE] [--timeout-ms N]"
	    " [--max-response N] [--parallel N] [--resolver ADDR[:PORT]]"
	    " [--dns-timeout-ms N] FILE URL...\n"
	    "       https_post --check-address ADDR...\n");
	exit(2);
}

static long long number(const char *opt, const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 0) {
		fprintf(stderr, "https_post: %s: \"%s\" is not a number\n", opt, s);
		exit(2);
	}
	return v;
}

static int check_addresses(char **addrs, int n)
{
	int rc = 0;

	for (int i = 0; i < n; i++) {
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
		bool pub;

		memset(&sin, 0, sizeof(sin));
		memset(&sin6, 0, sizeof(sin6));
		if (inet_pton(AF_INET, addrs[i], &sin.sin_addr) == 1) {
			sin.sin_family = AF_INET;
			pub = https_address_public((struct sockaddr *)&sin, sizeof(sin));
		} else if (inet_pton(AF_INET6, addrs[i], &sin6.sin6_addr) == 1) {
			sin6.sin6_family = AF_INET6;
			pub = https_address_public((struct sockaddr *)&sin6, sizeof(sin6));
		} else {
			fprintf(stderr, "https_post: \"%s\" is not an IPv4 or IPv6 address\n", addrs[i]);
			rc = 1;
			continue;
		}
		printf("%s %s\n", addrs[i], pub ? "public" : "private");
	}
	return rc;
}

static unsigned char *read_file(const char *path, size_t *len)
{
	struct strbuf sb;
	char buf[8192];
	size_t got;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		fprintf(stderr, "https_post: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	strbuf_init(&sb);
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_append(&sb, buf, got);
	if (ferror(f)) {
		fprintf(stderr, "https_post: %s: read error\n", path);
		exit(1);
	}
	fclose(f);
	*len = sb.len;
	return (unsigned char *)sb.data;
}

static const char *result_name(enum https_result r)
{
	switch (r) {
	case HTTPS_DELIVERED: return "delivered";
	case HTTPS_TEMPORARY: return "temporary";
	case HTTPS_PERMANENT: return "permanent";
	}
	return "?";
}

int main(int argc, char **argv)
{
	struct https_options o = {10000, 10000, 65536, false, NULL, 16, NULL, 5000};
	struct https_job *jobs;
	unsigned char *body;
	size_t body_len, n;
	int i = 1, rc = 0;

	if (argc >= 2 && strcmp(argv[1], "--check-address") == 0)
		return check_addresses(argv + 2, argc - 2);
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--allow-private") == 0)
			o.allow_private = true;
		else if (i + 1 >= argc)
			usage();
		else if (strcmp(argv[i], "--ca") == 0)
			o.ca_file = argv[++i];
		else if (strcmp(argv[i], "--timeout-ms") == 0)
			o.total_timeout_ms = (long)number(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--max-response") == 0)
			o.max_response = (size_t)number(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--parallel") == 0)
			o.max_parallel = (int)number(argv[i], argv[i + 1]), i++;
		else if (strcmp(argv[i], "--resolver") == 0)
			o.resolver = argv[++i];
		else if (strcmp(argv[i], "--dns-timeout-ms") == 0)
			o.dns_timeout_ms = (long)number(argv[i], argv[i + 1]), i++;
		else
			usage();
	}
	if (argc - i < 2)
		usage();
	if (o.connect_timeout_ms > o.total_timeout_ms)
		o.connect_timeout_ms = o.total_timeout_ms;
	body = read_file(argv[i++], &body_len);
	n = (size_t)(argc - i);
	jobs = xcalloc(n, sizeof(*jobs));
	for (size_t j = 0; j < n; j++) {
		jobs[j].url = argv[i + (int)j];
		jobs[j].body = body;
		jobs[j].body_len = body_len;
	}
	if (https_post_all(jobs, n, &o) != 0) {
		fprintf(stderr, "https_post: libcurl could not start\n");
		rc = 1;
	} else {
		for (size_t j = 0; j < n; j++)
			printf("%s %s %ld%s%s\n", jobs[j].url, result_name(jobs[j].result),
			    jobs[j].status, jobs[j].error[0] ? " " : "", jobs[j].error);
	}
	free(jobs);
	free(body);
	curl_global_cleanup();
	return rc;
}
