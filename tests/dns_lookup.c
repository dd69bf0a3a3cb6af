/*
 * NAME
 *	dns_lookup - test driver for common/dns_txt.c
 * SYNOPSIS
 *	dns_lookup [--resolver ADDR[:PORT]] [--timeout-ms N] [--parallel N]
 *	    [--txt | --addr] NAME...
 * DESCRIPTION
 *	Looks up the TLSRPT record of every NAME (a policy domain) with
 *	tlsrpt_lookup_all() and prints one line per name, in argument
 *	order: "NAME found RECORD" or "NAME none|multiple|temporary ERROR".
 *	With --txt, every TXT record at NAME (dns_query_txt(), one name
 *	after the other); with --addr, the addresses of all NAMEs at once
 *	(dns_query_addr_all()): "NAME found ITEM ITEM..." or "NAME
 *	none|temporary ERROR".  Exit status 0, or 2 for usage and
 *	resolver-setting errors.
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
	    "[--parallel N] [--txt | --addr] NAME...\n");
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

static void print_answer(const char *name, const struct dns_answer *a)
{
	printf("%s %s", name, status_name(a->status));
	if (a->status != LOOKUP_FOUND)
		printf(" %s", a->error);
	for (size_t k = 0; k < a->n; k++)
		printf(" %s", a->item[k]);
	printf("\n");
}

static int records(char **names, size_t n, const char *resolver, long parallel, long timeout_ms,
    int mode)
{
	struct dns_answer *a = xcalloc(n, sizeof(*a));
	char err[256];
	int rc = 0;

	if (mode == 'a') {
		rc = dns_query_addr_all((const char *const *)names, a, n, resolver, (int)parallel,
		    timeout_ms, err, sizeof(err));
	} else {
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = dns_query_txt(names[i], resolver, timeout_ms, &a[i], err, sizeof(err));
	}
	if (rc != 0) {
		fprintf(stderr, "dns_lookup: %s\n", err);
		rc = 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			print_answer(names[i], &a[i]);
		dns_answer_free(&a[i]);
	}
	free(a);
	return rc;
}

int main(int argc, char **argv)
{
	const char *resolver = NULL;
	long timeout_ms = 5000, parallel = 4;
	struct tlsrpt_lookup *l;
	char err[256];
	size_t n, i;
	int a = 1, mode = 't';

	for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
		if (strcmp(argv[a], "--resolver") == 0 && a + 1 < argc)
			resolver = argv[++a];
		else if (strcmp(argv[a], "--timeout-ms") == 0 && number(argv[a + 1], &timeout_ms) == 0)
			a++;
		else if (strcmp(argv[a], "--parallel") == 0 && number(argv[a + 1], &parallel) == 0)
			a++;
		else if (strcmp(argv[a], "--txt") == 0)
			mode = 'x';
		else if (strcmp(argv[a], "--addr") == 0)
			mode = 'a';
		else
			return usage();
	}
	if (a >= argc)
		return usage();
	n = (size_t)(argc - a);
	if (mode != 't')
		return records(argv + a, n, resolver, parallel, timeout_ms, mode);
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
