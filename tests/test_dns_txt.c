/*
 * NAME
 *	test_dns_txt - unit tests of common/dns_txt.c
 * DESCRIPTION
 *	tlsrpt_select_record() (R5) with exact outcomes and the record
 *	chosen, and the checks tlsrpt_lookup_all() makes before any query:
 *	the resolver setting and the domain names.  Real DNS answers are
 *	tested by t-dns-discovery.sh against a local unbound.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dns_txt.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define GOOD "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"

static void select_one_valid(void **state)
{
	const char *txt[] = { GOOD };
	const char *chosen = NULL;

	(void)state;
	assert_int_equal(tlsrpt_select_record(txt, N(txt), &chosen), LOOKUP_FOUND);
	assert_ptr_equal(chosen, txt[0]);
}

static void select_valid_next_to_spf(void **state)
{
	const char *txt[] = { "v=spf1 -all", GOOD };
	const char *chosen = NULL;

	(void)state;
	assert_int_equal(tlsrpt_select_record(txt, N(txt), &chosen), LOOKUP_FOUND);
	assert_ptr_equal(chosen, txt[1]);
}

static void select_space_before_semicolon(void **state)
{
	const char *txt[] = { "v=TLSRPTv1 \t; rua=mailto:a@example.com" };
	const char *chosen = NULL;

	(void)state;
	assert_int_equal(tlsrpt_select_record(txt, N(txt), &chosen), LOOKUP_FOUND);
	assert_ptr_equal(chosen, txt[0]);
}

static void select_two_valid_is_multiple(void **state)
{
	const char *txt[] = { GOOD, "v=TLSRPTv1;rua=https://example.com/r" };
	const char *chosen = "unset";

	(void)state;
	assert_int_equal(tlsrpt_select_record(txt, N(txt), &chosen), LOOKUP_MULTIPLE);
	assert_null(chosen);
}

static void select_discards_lookalikes(void **state)
{
	const char *txt[] = {
		"v=TLSRPTv1x; rua=mailto:a@example.com",
		"V=TLSRPTv1; rua=mailto:a@example.com",
		"v=TLSRPTv2; rua=mailto:a@example.com",
		" v=TLSRPTv1; rua=mailto:a@example.com",
		"v=TLSRPTv1",
		"v=TLSRPTv1 rua=mailto:a@example.com",
	};
	const char *chosen = "unset";

	(void)state;
	assert_int_equal(tlsrpt_select_record(txt, N(txt), &chosen), LOOKUP_NONE);
	assert_null(chosen);
}

static void select_lookalike_plus_valid(void **state)
{
	const char *txt[] = { "v=TLSRPTv1x; rua=mailto:a@example.com", GOOD,
		"V=TLSRPTv1; rua=mailto:a@example.com" };
	const char *chosen = NULL;

	(void)state;
	assert_int_equal(tlsrpt_select_record(txt, N(txt), &chosen), LOOKUP_FOUND);
	assert_ptr_equal(chosen, txt[1]);
}

static void select_none(void **state)
{
	const char *txt[] = { "v=spf1 -all", "google-site-verification=abc" };
	const char *chosen = "unset";

	(void)state;
	assert_int_equal(tlsrpt_select_record(txt, N(txt), &chosen), LOOKUP_NONE);
	assert_null(chosen);
	assert_int_equal(tlsrpt_select_record(NULL, 0, &chosen), LOOKUP_NONE);
	assert_null(chosen);
}

static void assert_bad_resolver(const char *resolver, const char *message)
{
	struct tlsrpt_lookup l = { .domain = "example.com" };
	char err[256] = "";

	assert_int_equal(tlsrpt_lookup_all(&l, 1, resolver, 1, 1000, err, sizeof(err)), -1);
	assert_string_equal(err, message);
	assert_null(l.text);
}

static void lookup_bad_resolver(void **state)
{
	(void)state;
	assert_bad_resolver("x", "bad resolver \"x\": not an IP address "
	    "(use ADDRESS, ADDRESS:PORT or [IPV6]:PORT)");
	assert_bad_resolver("1.2.3.4:99999", "bad resolver \"1.2.3.4:99999\": port must be 1-65535");
	assert_bad_resolver("1.2.3.4:0", "bad resolver \"1.2.3.4:0\": port must be 1-65535");
	assert_bad_resolver("1.2.3.4:", "bad resolver \"1.2.3.4:\": port must be 1-65535");
	assert_bad_resolver("[::1", "bad resolver \"[::1\": expected [IPV6]:PORT");
	assert_bad_resolver("1.2.3.400", "bad resolver \"1.2.3.400\": not an IP address "
	    "(use ADDRESS, ADDRESS:PORT or [IPV6]:PORT)");
}

/* Refused before any query, so the resolver address is never used. */
static void lookup_invalid_domains(void **state)
{
	struct tlsrpt_lookup l[] = {
		{ .domain = "bad_name.example" }, { .domain = "" }, { .domain = "a..example" },
		{ .domain = "-a.example" }, { .domain = "a-.example" }, { .domain = "a b.example" },
	};
	char err[256] = "";
	size_t i;

	(void)state;
	assert_int_equal(tlsrpt_lookup_all(l, N(l), "127.0.0.1:9", 2, 1000, err, sizeof(err)), 0);
	for (i = 0; i < N(l); i++) {
		char want[256];

		snprintf(want, sizeof(want), "invalid domain name \"%s\"", l[i].domain);
		assert_int_equal(l[i].status, LOOKUP_NONE);
		assert_string_equal(l[i].error, want);
		assert_null(l[i].text);
	}
	tlsrpt_lookup_free(l, N(l));
}

static void lookup_too_long_domain(void **state)
{
	char name[260];
	struct tlsrpt_lookup l = { .domain = name };
	char err[256] = "";

	(void)state;
	/* 243 bytes: "_smtp._tls." makes it 254, one over the DNS limit */
	memset(name, 'a', 243);
	name[60] = name[121] = name[182] = '.';
	name[243] = '\0';
	assert_int_equal(tlsrpt_lookup_all(&l, 1, "127.0.0.1:9", 1, 1000, err, sizeof(err)), 0);
	assert_int_equal(l.status, LOOKUP_NONE);
	assert_true(strncmp(l.error, "invalid domain name \"", 21) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(select_one_valid),
		cmocka_unit_test(select_valid_next_to_spf),
		cmocka_unit_test(select_space_before_semicolon),
		cmocka_unit_test(select_two_valid_is_multiple),
		cmocka_unit_test(select_discards_lookalikes),
		cmocka_unit_test(select_lookalike_plus_valid),
		cmocka_unit_test(select_none),
		cmocka_unit_test(lookup_bad_resolver),
		cmocka_unit_test(lookup_invalid_domains),
		cmocka_unit_test(lookup_too_long_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
