/*
 * NAME
 *	dns_lookup - test driver for common/dns_txt.c
 * SYNOPSIS
 *	dns_lookup [--resolver ADDR[:PORT]] [--timeout-ms N] [--parallel N] DOMAIN...
 * DESCRIPTION
 *	Looks up the TLSRPT record of every DOMAIN with tlsrpt_lookup_all()
 *	and prints one line per domain, in argument order:
 *	"DOMAIN found RECORD" or "DOMAIN none|multiple|temporary ERROR".
 *	Exit status 0, or 2 for usage and resolver-setting errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_txt.h"
#include "util.h"

static const char *status_name(enum tlsrpt_lookup_status s)
{
	switch (s) {
	case LOOKUP_FOUND: return "found";
	case LOOKUP_NONE: return "none";
	case LOOKUP_MULTIPLE: return "multiple";
	case LOOKUP_TEMPORARY: return "temporary";
	}
	return "?";
}

static int usage(void)
{
	fprintf(stderr, "usage: dns_lookup [--resolver ADDR[:PORT]] [--timeout-ms N] "
	    "[--parallel N] DOMAIN...\n");
	return 2;
}

static int number(const char *s, long *out)
{
	uint64_t v;

	if (s == NULL || !parse_u64(s, &v) || v < 1 || v > 3600000)
		return -1;
	*out = (long)v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *resolver = NULL;
	long timeout_ms = 5000, parallel = 4;
	struct tlsrpt_lookup *l;
	char err[256];
	size_t n, i;
	int a = 1;

	for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
		if (strcmp(argv[a], "--resolver") == 0 && a + 1 < argc)
			resolver = argv[++a];
		else if (strcmp(argv[a], "--timeout-ms") == 0 && number(argv[a + 1], &timeout_ms) == 0)
			a++;
		else if (strcmp(argv[a], "--parallel") == 0 && number(argv[a + 1], &parallel) == 0)
			a++;
		else
			return usage();
	}
	if (a >= argc)
		return usage();
	n = (size_t)(argc - a);
	l = xcalloc(n, sizeof(*l));
	for (i = 0; i < n; i++)
		l[i].domain = argv[a + (int)i];
	if (tlsrpt_lookup_all(l, n, resolver, (int)parallel, timeout_ms, err, sizeof(err)) != 0) {
		fprintf(stderr, "dns_lookup: %s\n", err);
		free(l);
		return 2;
	}
	for (i = 0; i < n; i++)
		printf("%s %s %s\n", l[i].domain, status_name(l[i].status),
		    l[i].status == LOOKUP_FOUND ? l[i].text : l[i].error);
	tlsrpt_lookup_free(l, n);
	free(l);
	return 0;
}
