/*
 * NAME
 *	session_capture.h - capture emitted sessions in the cmocka unit tests
 * SYNOPSIS
 *	#define SESSION_CAPTURE_ALL			(optional)
 *	#include "session_capture.h"
 * DESCRIPTION
 *	For the tests of the log correlators (test_sendmail_log.c,
 *	test_postfix_sessions.c): collect() is a session callback that
 *	deep-copies what each emitted session says into a struct got (the
 *	first MAX_RECS sessions, in order); check_success() and
 *	check_failure() assert one such record exactly, as the log followers
 *	emit it: no TLSRPT record string, one policy of type no-policy-found
 *	for the session's domain, and for a failure one failure detail with
 *	neither HELO nor sending IP.  Absent strings are copied as NONE.
 *
 *	collect() asserts that every session has exactly one policy, and by
 *	default that no more than MAX_RECS are emitted.  With
 *	SESSION_CAPTURE_ALL (the fuzzing tests) it counts every session in
 *	got.total, also asserts that each has a domain, and keeps only the
 *	first MAX_RECS.
 *
 *	Static functions only: each test program includes it once.
 */
#ifndef SESSION_CAPTURE_H
#define SESSION_CAPTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

#define NONE "(none)"

/* A deep copy of what one emitted session says. */
struct rec {
	long long when;
	int trust;		/* enum tls_trust */
	char domain[256];
	char record[16];
	size_t npolicies;
	int ptype;
	char pdomain[256];
	char pstrings[16];
	char mxhosts[16];
	int failed;
	size_t nfail;
	int rtype;
	char mx[256];
	char ip[64];
	char reason[256];
	char helo[16];
	char sending_ip[16];
};

#define MAX_RECS 64

struct got {
	size_t n;
	size_t total;		/* all emitted, also beyond MAX_RECS (SESSION_CAPTURE_ALL) */
	struct rec r[MAX_RECS];
};

static void copy_opt(char *dst, size_t size, const char *s)
{
	snprintf(dst, size, "%s", s != NULL ? s : NONE);
}

static void collect(void *ctx, const struct tlsrpt_session *s)
{
	struct got *g = ctx;
	struct rec *r;

#ifdef SESSION_CAPTURE_ALL
	g->total++;
	assert_int_equal(s->npolicies, 1);
	assert_non_null(s->domain);
	if (g->n >= MAX_RECS)
		return;
#else
	assert_true(g->n < MAX_RECS);
	assert_int_equal(s->npolicies, 1);
#endif
	r = &g->r[g->n++];
	memset(r, 0, sizeof(*r));
	r->when = s->when;
	r->trust = s->tls_trust;
	copy_opt(r->domain, sizeof(r->domain), s->domain);
	copy_opt(r->record, sizeof(r->record), s->record);
	r->npolicies = s->npolicies;
	r->ptype = s->policies[0].type;
	copy_opt(r->pdomain, sizeof(r->pdomain), s->policies[0].policy_domain);
	copy_opt(r->pstrings, sizeof(r->pstrings), s->policies[0].policy_strings);
	copy_opt(r->mxhosts, sizeof(r->mxhosts), s->policies[0].mx_hosts);
	r->failed = s->policies[0].failed;
	r->nfail = s->policies[0].nfailures;
	if (r->nfail > 0) {
		const struct tlsrpt_failure *f = &s->policies[0].failures[0];

		r->rtype = f->result_type;
		copy_opt(r->mx, sizeof(r->mx), f->mx_name);
		copy_opt(r->ip, sizeof(r->ip), f->receiving_ip);
		copy_opt(r->reason, sizeof(r->reason), f->reason);
		copy_opt(r->helo, sizeof(r->helo), f->helo);
		copy_opt(r->sending_ip, sizeof(r->sending_ip), f->sending_ip);
	}
}

static struct got *new_got(void)
{
	struct got *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	return g;
}

static void check_success(const struct rec *r, const char *domain, long long when)
{
	assert_int_equal(r->when, when);
	assert_string_equal(r->domain, domain);
	assert_string_equal(r->record, NONE);
	assert_int_equal(r->ptype, POLICY_NONE);
	assert_string_equal(r->pdomain, domain);
	assert_string_equal(r->pstrings, "[]");
	assert_string_equal(r->mxhosts, "[]");
	assert_false(r->failed);
	assert_int_equal(r->nfail, 0);
}

static void check_failure(const struct rec *r, const char *domain, long long when, int rtype,
    const char *mx, const char *ip, const char *reason)
{
	assert_int_equal(r->when, when);
	assert_string_equal(r->domain, domain);
	assert_string_equal(r->record, NONE);
	assert_int_equal(r->ptype, POLICY_NONE);
	assert_string_equal(r->pdomain, domain);
	assert_string_equal(r->pstrings, "[]");
	assert_string_equal(r->mxhosts, "[]");
	assert_true(r->failed);
	assert_int_equal(r->nfail, 1);
	assert_int_equal(r->rtype, rtype);
	assert_string_equal(r->mx, mx);
	assert_string_equal(r->ip, ip);
	assert_string_equal(r->reason, reason);
	assert_string_equal(r->helo, NONE);
	assert_string_equal(r->sending_ip, NONE);
}

#endif
