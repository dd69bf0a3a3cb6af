/*
 * NAME
 *	submitbench - fill a store for the HTTPS submission benchmark
 * SYNOPSIS
 *	submitbench DIR PORT [DOMAINS]
 * DESCRIPTION
 *	Writes DIR/tlsrpt.conf (with DIR made absolute) and fills DIR/store.db with one UTC day
 *	(2026-01-15) of session results for DOMAINS recipient domains
 *	(default 10,000), through the same aggregate/store API the daemon
 *	uses.  Every domain publishes "v=TLSRPTv1;
 *	rua=https://127.0.0.1:PORT/ok", so every report built from the store
 *	gets exactly one https destination, on the loopback sink that
 *	bench/submit.sh starts.  Each domain gets a few sessions: 60% with no
 *	policy, 30% MTA-STS, 10% DANE, and every 20th domain one failure, so
 *	the reports are of a realistic, small size.
 *
 *	The configuration allows private targets (https_allow_private yes)
 *	and trusts DIR/ca.pem, the benchmark's own CA.
 *
 *	Prints the fill time.  Exits non-zero only when it could not set up.
 *	bench/submit.sh runs "tlsrpt-report build" and "run" with TLSRPT_NOW
 *	pinned to 2026-01-16T02:00:00Z (1768528800).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregate.h"
#include "session.h"
#include "bench_store.h"
#include "store.h"

#define BENCH_DAY_START 1768435200LL	/* 2026-01-15T00:00:00Z */
#define SESSIONS_PER_DOMAIN 3
#define MAX_DOMAINS 1000000UL

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct gen {
	char domain[64], record[128], strings[256], mx[128], mx_name[96], rip[48];
	struct tlsrpt_failure fail;
	struct tlsrpt_policy_result pol;
	struct tlsrpt_session s;
};

/* Session k (0..SESSIONS_PER_DOMAIN-1) to domain d; strings live in g. */
static void make_session(struct gen *g, unsigned d, unsigned k, unsigned port, long long when)
{
	unsigned m = d % 10;

	memset(&g->pol, 0, sizeof(g->pol));
	memset(&g->s, 0, sizeof(g->s));
	snprintf(g->domain, sizeof(g->domain), "d%u.submitbench.example", d);
	snprintf(g->record, sizeof(g->record), "v=TLSRPTv1; rua=https://127.0.0.1:%u/ok", port);
	g->s.when = when;
	g->s.domain = g->domain;
	g->s.record = g->record;
	g->s.npolicies = 1;
	g->s.policies = &g->pol;
	g->pol.policy_domain = g->domain;
	if (m < 6) {
		g->pol.type = POLICY_NONE;
		g->pol.policy_strings = (char *)"[]";
		g->pol.mx_hosts = (char *)"[]";
	} else if (m < 9) {
		g->pol.type = POLICY_STS;
		snprintf(g->strings, sizeof(g->strings), "[\"version: STSv1\",\"mode: enforce\","
		    "\"mx: mx1.%s\",\"max_age: 604800\"]", g->domain);
		snprintf(g->mx, sizeof(g->mx), "[\"mx1.%s\"]", g->domain);
		g->pol.policy_strings = g->strings;
		g->pol.mx_hosts = g->mx;
	} else {
		g->pol.type = POLICY_TLSA;
		snprintf(g->strings, sizeof(g->strings),
		    "[\"3 1 1 %016llX0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB\"]",
		    (unsigned long long)d * 0x9e3779b97f4aULL);
		g->pol.policy_strings = g->strings;
		g->pol.mx_hosts = (char *)"[]";
	}
	if (d % 20 != 0 || k != 0)
		return;
	/* one failed session for every 20th domain */
	memset(&g->fail, 0, sizeof(g->fail));
	g->pol.failed = true;
	g->fail.result_type = m < 6 ? RESULT_STARTTLS_NOT_SUPPORTED :
	    m < 9 ? RESULT_CERTIFICATE_NOT_TRUSTED : RESULT_TLSA_INVALID;
	g->fail.sending_ip = (char *)"192.0.2.10";
	snprintf(g->mx_name, sizeof(g->mx_name), "mx1.%s", g->domain);
	g->fail.mx_name = g->mx_name;
	snprintf(g->rip, sizeof(g->rip), "203.0.113.%u", d & 255);
	g->fail.receiving_ip = g->rip;
	g->pol.nfailures = 1;
	g->pol.failures = &g->fail;
}

static int write_conf(const char *path, const char *dir)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return -1;
	fprintf(fp, "organization_name \"tlsrpt-milter submitbench\"\n"
	    "contact_info mailto:tlsrpt@bench.example\n"
	    "store_path %s/store.db\n"
	    "https_allow_private yes\n"
	    "https_ca_file %s/ca.pem\n"
	    "https_timeout 60s\n", dir, dir);
	return fclose(fp) == 0 ? 0 : -1;
}

struct fill_ctx {
	struct gen g;
	unsigned long long n;
	unsigned ndomains, port;
};

static const struct tlsrpt_session *next_session(void *arg, unsigned long long i)
{
	struct fill_ctx *f = arg;

	make_session(&f->g, (unsigned)(i % f->ndomains), (unsigned)(i / f->ndomains), f->port,
	    BENCH_DAY_START + (long long)(i * 86399ULL / f->n));
	return &f->g.s;
}

static int fill(const char *store_path, unsigned ndomains, unsigned port)
{
	static struct fill_ctx f;
	unsigned long long commits;
	double t0 = now_mono();

	f.n = (unsigned long long)ndomains * SESSIONS_PER_DOMAIN;
	f.ndomains = ndomains;
	f.port = port;
	if (bench_fill("submitbench", store_path, f.n, next_session, &f, &commits) != 0)
		return -1;
	printf("fill: %llu sessions across %u domains (rua https://127.0.0.1:%u/ok) "
	    "in %llu commits, %.2f s\n", f.n, ndomains, port, commits, now_mono() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long v, port, ndomains = 10000;
	char conf[4096], store[4096];
	char *end, *dir;

	if (argc < 3 || argc > 4)
		goto usage;
	errno = 0;
	port = strtoul(argv[2], &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		goto usage;
	if (argc == 4) {
		errno = 0;
		v = strtoul(argv[3], &end, 10);
		if (errno || *end || v == 0 || v > MAX_DOMAINS)
			goto usage;
		ndomains = v;
	}
	/* the configuration wants absolute paths */
	if ((dir = realpath(argv[1], NULL)) == NULL) {
		fprintf(stderr, "submitbench: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if ((size_t)snprintf(conf, sizeof(conf), "%s/tlsrpt.conf", dir) >= sizeof(conf) ||
	    (size_t)snprintf(store, sizeof(store), "%s/store.db", dir) >= sizeof(store)) {
		fprintf(stderr, "submitbench: directory name too long\n");
		free(dir);
		return 1;
	}
	if (write_conf(conf, dir) != 0) {
		fprintf(stderr, "submitbench: cannot write %s: %s\n", conf, strerror(errno));
		free(dir);
		return 1;
	}
	free(dir);
	if (fill(store, (unsigned)ndomains, (unsigned)port) != 0)
		return 1;
	return 0;
usage:
	fprintf(stderr, "usage: submitbench DIR PORT [DOMAINS]\n");
	return 2;
}
