/*
 * NAME
 *	test_dns_txt - unit tests of common/dns_txt.c
 * DESCRIPTION
 *	tlsrpt_select_record() (R5) with exact outcomes and the record
 *	chosen, the checks tlsrpt_lookup_all() makes before any query (the
 *	resolver setting, the time-out and the domain names), and
 *	dns_parse_answer() on answer messages built here byte by byte
 *	(joined strings, CNAME chains, foreign owners, refused and malformed
 *	records).  Real DNS answers are tested by t-dns-discovery.sh against
 *	a local unbound, stalled name servers there and in t-stalled-dns.sh.
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

static void lookup_bad_timeout(void **state)
{
	struct tlsrpt_lookup l = { .domain = "example.com" };
	struct dns_answer a;
	char err[256] = "";

	(void)state;
	assert_int_equal(tlsrpt_lookup_all(&l, 1, NULL, 1, 0, err, sizeof(err)), -1);
	assert_string_equal(err, "bad DNS timeout 0 ms: must be positive");
	assert_int_equal(dns_query_addr("example.com", "127.0.0.1:9", -5, &a, err, sizeof(err)), -1);
	assert_string_equal(err, "bad DNS timeout -5 ms: must be positive");
	assert_int_equal(a.n, 0);
}

/* Settled without a query: IP addresses, bad names. */
static void addr_without_query(void **state)
{
	const char *names[] = { "192.0.2.1", "2001:db8::1", "bad name", "" };
	struct dns_answer a[4];
	char err[256] = "";

	(void)state;
	/* a closed port: any query would be "connection refused" */
	assert_int_equal(dns_query_addr_all(names, a, 4, "127.0.0.1:9", 2, 1000, err, sizeof(err)), 0);
	assert_int_equal(a[0].status, LOOKUP_FOUND);
	assert_int_equal(a[0].n, 1);
	assert_string_equal(a[0].item[0], "192.0.2.1");
	assert_int_equal(a[1].status, LOOKUP_FOUND);
	assert_string_equal(a[1].item[0], "2001:db8::1");
	assert_int_equal(a[2].status, LOOKUP_NONE);
	assert_string_equal(a[2].error, "invalid domain name \"bad name\"");
	assert_int_equal(a[3].status, LOOKUP_NONE);
	for (int i = 0; i < 4; i++)
		dns_answer_free(&a[i]);
}

/* ---- dns_parse_answer: messages built byte by byte ---------------------- */

#define Q "_smtp._tls.example.com"

struct msg {
	unsigned char b[8192];
	size_t len;
};

static void put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void put16(struct msg *m, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(m, b, 2);
}

static void put_name(struct msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);
		unsigned char len = (unsigned char)n;

		put(m, &len, 1);
		put(m, name, n);
		name += n + (dot ? 1 : 0);
	}
	put(m, "", 1);
}

/* Header (ancount answers), the question for Q of type. */
static void start(struct msg *m, int type, unsigned ancount)
{
	m->len = 0;
	put16(m, 0x1234);
	put16(m, 0x8180);
	put16(m, 1);
	put16(m, ancount);
	put16(m, 0);
	put16(m, 0);
	put_name(m, Q);
	put16(m, (unsigned)type);
	put16(m, 1);
}

/* One record; owner NULL: a pointer to the question's name. */
static void record(struct msg *m, const char *owner, int type, const void *rdata, size_t rdlen)
{
	if (owner == NULL)
		put(m, "\xc0\x0c", 2);
	else
		put_name(m, owner);
	put16(m, (unsigned)type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	put16(m, (unsigned)rdlen);
	put(m, rdata, rdlen);
}

/* TXT rdata of the strings given (each shorter than 256 bytes). */
static size_t txt_rdata(unsigned char *out, const char *const *strings, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t sl = strlen(strings[i]);

		out[len++] = (unsigned char)sl;
		memcpy(out + len, strings[i], sl);
		len += sl;
	}
	return len;
}

static void parse(const struct msg *m, int type, struct dns_answer *a, char next[1025])
{
	dns_parse_answer(m->b, m->len, Q, type, a, next);
}

static void parse_txt_joined(void **state)
{
	const char *strings[] = { "v=TLSRPTv1; rua=mailto:a@", "example.com" };
	unsigned char rd[300];
	struct msg m;
	struct dns_answer a;
	char next[1025];

	(void)state;
	start(&m, 16, 2);
	record(&m, NULL, 16, rd, txt_rdata(rd, strings, 2));
	record(&m, NULL, 16, rd, txt_rdata(rd, (const char *const[]){ "v=spf1 -all" }, 1));
	parse(&m, 16, &a, next);
	assert_int_equal(a.status, LOOKUP_FOUND);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.item[0], "v=TLSRPTv1; rua=mailto:a@example.com");
	assert_string_equal(a.item[1], "v=spf1 -all");
	assert_string_equal(next, Q);
	dns_answer_free(&a);
}

static void parse_cname_chain(void **state)
{
	unsigned char rd[300], target[64];
	struct msg m;
	struct dns_answer a;
	char next[1025];
	size_t tl = 0;

	(void)state;
	/* Q CNAME rpt.example.net; rpt.example.net TXT; a foreign owner's TXT is left out */
	memcpy(target, "\3rpt\7example\3net", 16);
	tl = 17;
	target[16] = 0;
	start(&m, 16, 3);
	record(&m, NULL, 5, target, tl);
	record(&m, "rpt.example.net", 16, rd,
	    txt_rdata(rd, (const char *const[]){ "v=TLSRPTv1; rua=mailto:r@example.net" }, 1));
	record(&m, "other.example.org", 16, rd,
	    txt_rdata(rd, (const char *const[]){ "v=TLSRPTv1; rua=mailto:x@example.org" }, 1));
	parse(&m, 16, &a, next);
	assert_int_equal(a.status, LOOKUP_FOUND);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.item[0], "v=TLSRPTv1; rua=mailto:r@example.net");
	assert_string_equal(next, "rpt.example.net");
	dns_answer_free(&a);

	/* only the CNAME: no record, and next is where to ask */
	start(&m, 16, 1);
	record(&m, NULL, 5, target, tl);
	parse(&m, 16, &a, next);
	assert_int_equal(a.status, LOOKUP_NONE);
	assert_string_equal(a.error, "no TXT record at " Q);
	assert_string_equal(next, "rpt.example.net");
}

static void parse_refused_records(void **state)
{
	unsigned char rd[8192];
	char big[256];
	const char *strings[18];
	struct msg m;
	struct dns_answer a;
	char next[1025];

	(void)state;
	/* a NUL byte, and 17 x 255 bytes: neither is kept; an empty rdata is "" */
	start(&m, 16, 3);
	record(&m, NULL, 16, "\x10v=TLSRPTv1;\0abcd", 17);
	memset(big, 'x', 255);
	big[255] = '\0';
	strings[0] = "v=TLSRPTv1;";
	for (int i = 1; i < 18; i++)
		strings[i] = big;
	record(&m, NULL, 16, rd, txt_rdata(rd, strings, 18));
	record(&m, NULL, 16, "", 0);
	parse(&m, 16, &a, next);
	assert_int_equal(a.status, LOOKUP_FOUND);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.item[0], "");
	dns_answer_free(&a);
}

static void parse_malformed(void **state)
{
	struct msg m;
	struct dns_answer a;
	char next[1025];

	(void)state;
	/* a string longer than its rdata */
	start(&m, 16, 1);
	record(&m, NULL, 16, "\x40v=TLSRPTv1;", 12);
	parse(&m, 16, &a, next);
	assert_int_equal(a.status, LOOKUP_TEMPORARY);
	assert_string_equal(a.error, "malformed DNS answer for " Q);
	assert_int_equal(a.n, 0);
	/* cut short: the header promises a record that is not there */
	start(&m, 16, 1);
	parse(&m, 16, &a, next);
	assert_int_equal(a.status, LOOKUP_TEMPORARY);
	/* not even a header */
	dns_parse_answer((const unsigned char *)"\x12\x34", 2, Q, 16, &a, next);
	assert_int_equal(a.status, LOOKUP_TEMPORARY);
	/* an A record of 5 bytes */
	start(&m, 1, 1);
	record(&m, NULL, 1, "\xc0\x00\x02\x01\x05", 5);
	parse(&m, 1, &a, next);
	assert_int_equal(a.status, LOOKUP_TEMPORARY);
}

static void parse_addresses(void **state)
{
	struct msg m;
	struct dns_answer a;
	char next[1025];

	(void)state;
	start(&m, 28, 2);
	record(&m, NULL, 28, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	record(&m, NULL, 1, "\xc0\x00\x02\x01", 4);	/* not the type asked for */
	parse(&m, 28, &a, next);
	assert_int_equal(a.status, LOOKUP_FOUND);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.item[0], "2001:db8::1");
	dns_answer_free(&a);
	parse(&m, 1, &a, next);
	assert_int_equal(a.status, LOOKUP_FOUND);
	assert_string_equal(a.item[0], "192.0.2.1");
	dns_answer_free(&a);
	start(&m, 1, 0);
	parse(&m, 1, &a, next);
	assert_int_equal(a.status, LOOKUP_NONE);
	assert_string_equal(a.error, "no A record at " Q);
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
		cmocka_unit_test(lookup_bad_timeout),
		cmocka_unit_test(addr_without_query),
		cmocka_unit_test(parse_txt_joined),
		cmocka_unit_test(parse_cname_chain),
		cmocka_unit_test(parse_refused_records),
		cmocka_unit_test(parse_malformed),
		cmocka_unit_test(parse_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
