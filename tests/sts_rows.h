/*
 * NAME
 *	sts_rows.h - cached MTA-STS policies and a policy map for the cmocka
 *	unit tests
 * SYNOPSIS
 *	#include "sts_rows.h"
 * DESCRIPTION
 *	For the tests of the policy map and its file export
 *	(test_policymap.c, test_sts_export.c): ENFORCE_TEXT and TESTING_TEXT
 *	are policies both use; put_sts_row() writes one sts_policy row as
 *	the fetch thread would have stored it (checked 100 s ago; with a
 *	policy, fetched then too); open_policymap() opens the policy map on
 *	a store file with the test settings (a second's timeouts, no
 *	resolver or CA file of its own), listening on ENDPOINT, or on no
 *	socket when ENDPOINT is "".
 *
 *	Static functions only: each test program includes it once.
 */
#ifndef STS_ROWS_H
#define STS_ROWS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "mta_sts.h"
#include "policymap_input.h"
#include "store.h"

#define ENFORCE_TEXT "version: STSv1\nmode: enforce\nmx: mx1.enforce.example\n" \
	"mx: *.enforce.net\nmax_age: 86400"
#define TESTING_TEXT "version: STSv1\nmode: testing\nmx: mx.testing.example\nmax_age: 604800"

struct sts_row {
	const char *domain;
	enum sts_status status;
	const char *text;	/* policy, or NULL */
	long long expires_in;	/* seconds from now */
	long long next_try_in;
	const char *error;
};

static void put_sts_row(struct store *st, const struct sts_row *r, long long now)
{
	struct sts_cached c;
	char err[256] = "";

	memset(&c, 0, sizeof(c));
	snprintf(c.domain, sizeof(c.domain), "%s", r->domain);
	c.status = r->status;
	snprintf(c.id, sizeof(c.id), "20240101T000000");
	if (r->text != NULL) {
		if (!sts_parse_policy(r->text, strlen(r->text), &c.policy, err, sizeof(err)))
			fail_msg("policy of %s refused: %s", r->domain, err);
		c.fetched = now - 100;
		c.expires = now + r->expires_in;
	}
	c.checked = now - 100;
	c.next_try = now + r->next_try_in;
	snprintf(c.error, sizeof(c.error), "%s", r->error);
	if (store_sts_put(st, &c, err, sizeof(err)) != 0)
		fail_msg("store_sts_put %s: %s", r->domain, err);
	sts_cached_free(&c);
}

static struct policymap_input *open_policymap(const char *db, const char *endpoint,
    char *err, size_t errlen)
{
	struct tlsrpt_conf conf;

	memset(&conf, 0, sizeof(conf));
	conf.policy_map_socket = (char *)endpoint;
	conf.policy_map_socket_mode = 0600;
	conf.store_path = (char *)db;
	conf.resolver = (char *)"";
	conf.https_ca_file = (char *)"";
	conf.store_busy_timeout_ms = 1000;
	conf.sts_fetch_timeout_ms = 1000;
	conf.sts_max_policy_size = 65536;
	return policymap_input_open(&conf, getuid(), getgid(), err, errlen);
}

#endif
