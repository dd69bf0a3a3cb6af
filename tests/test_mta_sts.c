/*
 * NAME
 *	test_mta_sts - unit tests of common/mta_sts.c and common/store_sts.c
 * DESCRIPTION
 *	The pure parts of MTA-STS (RFC 8461) with exact outcomes: the TXT
 *	record (3.1) and policy (3.2) parsers over real-world and malformed
 *	inputs and their boundaries, MX pattern matching (4.1), the RFC 8460
 *	JSON views, the Postfix answer, the status names and result types,
 *	and the cache rules of sts_cache_update() (5.1) step by step.  Then
 *	the store rows (round trip, upsert, listing), and the checks
 *	discovery makes before it goes to the network.  Real DNS and HTTPS
 *	are tested by t-sts-fetch.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mta_sts.h"
#include "session.h"
#include "store.h"
#include "util.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the TXT record -------------------------------------------------------- */

struct txt_case {
	const char *txt[3];
	bool ok;
	const char *want;	/* the id, or the error */
};

static void txt_records(void **state)
{
	static const struct txt_case cases[] = {
		{{"v=STSv1; id=20160831085700Z;"}, true, "20160831085700Z"},
		{{"v=STSv1;id=abc"}, true, "abc"},
		{{"v=STSv1 ;\tid=abc ; "}, true, "abc"},
		{{"v=STSv1; id=abc; ext=val"}, true, "abc"},
		{{"v=STSv1; foo.bar-x_y=!#~; id=X1"}, true, "X1"},
		{{"v=spf1 -all", "v=STSv1; id=a1"}, true, "a1"},
		{{"v=STSv1; id=12345678901234567890123456789012"}, true,
		    "12345678901234567890123456789012"},
		{{"v=STSv1; id=123456789012345678901234567890123"}, false,
		    "invalid v=STSv1 record: id must be 1-32 letters and digits"},
		{{"v=STSv1; id="}, false, "invalid v=STSv1 record: id must be 1-32 letters and digits"},
		{{"v=STSv1; id=ab-c"}, false, "invalid v=STSv1 record: bad character in field \"id=ab-c\""},
		{{"v=STSv1"}, false, "invalid v=STSv1 record: no id field"},
		{{"v=STSv1;"}, false, "invalid v=STSv1 record: no id field"},
		{{"v=STSv1; ID=abc"}, false, "invalid v=STSv1 record: no id field"},
		{{"v=STSv1; id=a; id=b"}, false, "invalid v=STSv1 record: more than one id field"},
		{{"v=STSv1 id=a"}, false, "invalid v=STSv1 record: expected \";\" before \"id=a\""},
		{{"v=STSv1; id=a;;"}, false, "invalid v=STSv1 record: bad field \";\""},
		{{"v=STSv1; id=a; x=a=b"}, false,
		    "invalid v=STSv1 record: bad character in field \"x=a=b\""},
		{{"v=STSv1; id=a; x="}, false, "invalid v=STSv1 record: empty value of field \"x=\""},
		{{"v=STSv1; =a; id=a"}, false, "invalid v=STSv1 record: bad field \"=a; id=a\""},
		{{"v=STSv10; id=a"}, false, "no record starting with \"v=STSv1\" among 1 TXT records"},
		{{"V=STSv1; id=a", "v=spf1"}, false,
		    "no record starting with \"v=STSv1\" among 2 TXT records"},
		{{"v=STSv1; id=a", "v=STSv1; id=b"}, false,
		    "2 v=STSv1 records (RFC 8461 requires exactly one)"},
		{{"v=STSv1; id=a", "v=STSv1; junk", "v=STSv1"}, false,
		    "3 v=STSv1 records (RFC 8461 requires exactly one)"},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const struct txt_case *c = &cases[i];
		size_t n = 0;
		char id[STS_ID_MAX + 1] = "junk", err[256] = "";
		bool ok;

		while (n < 3 && c->txt[n] != NULL)
			n++;
		ok = sts_parse_record(c->txt, n, id, err, sizeof(err));
		if (ok != c->ok || strcmp(ok ? id : err, c->want) != 0)
			fail_msg("case %zu (%s): ok=%d id=\"%s\" err=\"%s\", want %d \"%s\"", i, c->txt[0],
			    ok, id, err, c->ok, c->want);
		if (!ok)
			assert_string_equal(id, "");
	}
}

static void txt_no_records(void **state)
{
	char id[STS_ID_MAX + 1], err[256];

	(void)state;
	assert_false(sts_parse_record(NULL, 0, id, err, sizeof(err)));
	assert_string_equal(err, "no record starting with \"v=STSv1\" among 0 TXT records");
}

/* ---- the policy ------------------------------------------------------------ */

static const char GOOGLE[] =
	"version: STSv1\nmode: enforce\nmx: gmail-smtp-in.l.google.com\n"
	"mx: *.gmail-smtp-in.l.google.com\nmax_age: 86400\n";
static const char OUTLOOK_CRLF[] =
	"version: STSv1\r\nmode: enforce\r\nmx: *.mail.protection.outlook.com\r\n"
	"max_age: 604800\r\n";

static void parse_ok(const char *body, size_t len, struct sts_policy *p)
{
	char err[256] = "";

	if (!sts_parse_policy(body, len, p, err, sizeof(err)))
		fail_msg("policy refused: %s\n%s", err, body);
}

static void policy_google(void **state)
{
	struct sts_policy p;

	(void)state;
	parse_ok(GOOGLE, strlen(GOOGLE), &p);
	assert_int_equal(p.mode, STS_MODE_ENFORCE);
	assert_int_equal(p.max_age, 86400);
	assert_int_equal(p.nmx, 2);
	assert_string_equal(p.mx[0], "gmail-smtp-in.l.google.com");
	assert_string_equal(p.mx[1], "*.gmail-smtp-in.l.google.com");
	assert_string_equal(p.text, "version: STSv1\nmode: enforce\nmx: gmail-smtp-in.l.google.com\n"
	    "mx: *.gmail-smtp-in.l.google.com\nmax_age: 86400");
	sts_policy_free(&p);
	assert_null(p.text);
	assert_int_equal(p.nmx, 0);
}

static void policy_crlf(void **state)
{
	struct sts_policy p;

	(void)state;
	parse_ok(OUTLOOK_CRLF, strlen(OUTLOOK_CRLF), &p);
	assert_int_equal(p.max_age, 604800);
	assert_int_equal(p.nmx, 1);
	assert_string_equal(p.mx[0], "*.mail.protection.outlook.com");
	assert_string_equal(p.text, "version: STSv1\nmode: enforce\n"
	    "mx: *.mail.protection.outlook.com\nmax_age: 604800");
	sts_policy_free(&p);
}

struct policy_ok_case {
	const char *body;
	enum sts_mode mode;
	long long max_age;
	size_t nmx;
	const char *text;
};

static void policy_accepted(void **state)
{
	static const struct policy_ok_case cases[] = {
		/* mode none needs no mx */
		{"version: STSv1\nmode: none\nmax_age: 86400", STS_MODE_NONE, 86400, 0,
		    "version: STSv1\nmode: none\nmax_age: 86400"},
		/* testing, keys in any order after version, no final newline */
		{"version: STSv1\nmax_age: 0\nmx: mx.example.com\nmode: testing", STS_MODE_TESTING, 0, 1,
		    "version: STSv1\nmax_age: 0\nmx: mx.example.com\nmode: testing"},
		/* optional whitespace after ':' and at the end; no space at all */
		{"version:STSv1\nmode:\tenforce  \nmx:  a.example \t\nmax_age: 31557600\n",
		    STS_MODE_ENFORCE, 31557600, 1,
		    "version:STSv1\nmode:\tenforce  \nmx:  a.example \t\nmax_age: 31557600"},
		/* extensions are ignored, but stay in the text (policy-string) */
		{"version: STSv1\nmode: enforce\nx-ext_1.2: some value; here\nmx: a.example\n"
		    "max_age: 10\nfoo: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", STS_MODE_ENFORCE, 10, 1,
		    "version: STSv1\nmode: enforce\nx-ext_1.2: some value; here\nmx: a.example\n"
		    "max_age: 10\nfoo: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
		/* trailing empty lines are dropped, CRLF or LF or blanks */
		{"version: STSv1\r\nmode: none\r\nmax_age: 5\r\n\r\n\n  \n", STS_MODE_NONE, 5, 0,
		    "version: STSv1\nmode: none\nmax_age: 5"},
		/* leading zeros, ten digits */
		{"version: STSv1\nmode: none\nmax_age: 0000086400", STS_MODE_NONE, 86400, 0,
		    "version: STSv1\nmode: none\nmax_age: 0000086400"},
		/* repeated and mixed-case mx, a 63-byte label, single-label host */
		{"version: STSv1\nmode: enforce\nmx: MX.Example.COM\nmx: MX.Example.COM\n"
		    "mx: a23456789012345678901234567890123456789012345678901234567890123.example\n"
		    "mx: localhost\nmx: *.x1.example\nmax_age: 1", STS_MODE_ENFORCE, 1, 5, NULL},
		/* mode none may still list mx */
		{"version: STSv1\nmode: none\nmx: a.example\nmax_age: 1", STS_MODE_NONE, 1, 1, NULL},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const struct policy_ok_case *c = &cases[i];
		struct sts_policy p;
		char err[256] = "";

		if (!sts_parse_policy(c->body, strlen(c->body), &p, err, sizeof(err)))
			fail_msg("case %zu refused: %s", i, err);
		assert_int_equal(p.mode, c->mode);
		assert_int_equal(p.max_age, c->max_age);
		assert_int_equal(p.nmx, c->nmx);
		if (c->text != NULL)
			assert_string_equal(p.text, c->text);
		sts_policy_free(&p);
	}
}

struct policy_bad_case {
	const char *body;
	size_t len;	/* 0: strlen */
	const char *err;
};

static void policy_refused(void **state)
{
	static const struct policy_bad_case cases[] = {
		{"", 0, "empty policy"},
		{"\n\r\n  \n", 0, "empty policy"},
		{"mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 1", 0,
		    "line 1: expected \"version: STSv1\""},
		{"version: STSv2\nmode: none\nmax_age: 1", 0, "line 1: expected \"version: STSv1\""},
		{"Version: STSv1\nmode: none\nmax_age: 1", 0, "line 1: expected \"version: STSv1\""},
		{"version: stsv1\nmode: none\nmax_age: 1", 0, "line 1: expected \"version: STSv1\""},
		{"version : STSv1\nmode: none\nmax_age: 1", 0, "line 1: not \"key: value\""},
		{"\nversion: STSv1\nmode: none\nmax_age: 1", 0, "line 1: not \"key: value\""},
		{"version: STSv1\nversion: STSv1\nmode: none\nmax_age: 1", 0,
		    "line 2: version given twice"},
		{"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1", 0,
		    "line 2: mode \"Enforce\" is not enforce, testing or none"},
		{"version: STSv1\nmode: enforcing\nmx: a.example\nmax_age: 1", 0,
		    "line 2: mode \"enforcing\" is not enforce, testing or none"},
		{"version: STSv1\nmode: none\nmode: none\nmax_age: 1", 0, "line 3: mode given twice"},
		{"version: STSv1\nmode:\nmax_age: 1", 0, "line 2: empty value of mode"},
		{"version: STSv1\nmode:   \t\nmax_age: 1", 0, "line 2: empty value of mode"},
		{"version: STSv1\nmax_age: 1", 0, "no mode field"},
		{"version: STSv1\nmode: none", 0, "no max_age field"},
		{"version: STSv1\nmode: enforce\nmax_age: 1", 0,
		    "no mx field (required unless mode is none)"},
		{"version: STSv1\nmode: testing\nmax_age: 1\n", 0,
		    "no mx field (required unless mode is none)"},
		{"version: STSv1\nmode: none\nmax_age: 31557601", 0,
		    "line 3: max_age 31557601 is above 31557600"},
		{"version: STSv1\nmode: none\nmax_age: 9999999999", 0,
		    "line 3: max_age 9999999999 is above 31557600"},
		{"version: STSv1\nmode: none\nmax_age: 00000000001", 0,
		    "line 3: max_age \"00000000001\" is not 1-10 digits"},
		{"version: STSv1\nmode: none\nmax_age: -1", 0,
		    "line 3: max_age \"-1\" is not 1-10 digits"},
		{"version: STSv1\nmode: none\nmax_age: 86400s", 0,
		    "line 3: max_age \"86400s\" is not 1-10 digits"},
		{"version: STSv1\nmode: none\nmax_age: 1\nmax_age: 2", 0, "line 4: max_age given twice"},
		{"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1", 0,
		    "line 3: mx \"*\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1", 0,
		    "line 3: mx \"*.\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 1", 0,
		    "line 3: mx \"*.*.example.com\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: a*.example.com\nmax_age: 1", 0,
		    "line 3: mx \"a*.example.com\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: a..example.com\nmax_age: 1", 0,
		    "line 3: mx \"a..example.com\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: mail.example.com.\nmax_age: 1", 0,
		    "line 3: mx \"mail.example.com.\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: -a.example.com\nmax_age: 1", 0,
		    "line 3: mx \"-a.example.com\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: a-.example.com\nmax_age: 1", 0,
		    "line 3: mx \"a-.example.com\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: a_b.example.com\nmax_age: 1", 0,
		    "line 3: mx \"a_b.example.com\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: a b.example.com\nmax_age: 1", 0,
		    "line 3: mx \"a b.example.com\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: mx1.example.com, mx2.example.com\nmax_age: 1", 0,
		    "line 3: mx \"mx1.example.com, mx2.example.com\" is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\n"
		    "mx: a234567890123456789012345678901234567890123456789012345678901234.example\n"
		    "max_age: 1", 0, "line 3: mx \"a234567890123456789012345678901234567890123456789012345678901234\" "
		    "is not a host name or *.domain"},
		{"version: STSv1\nmode: enforce\nmx: b\xc3\xbc" "cher.example\nmax_age: 1", 0,
		    "line 3: mx \"b??cher.example\" is not a host name or *.domain"},
		{"version: STSv1\nmode: none\n\nmax_age: 1", 0, "line 3: not \"key: value\""},
		{"version: STSv1\n mode: none\nmax_age: 1", 0, "line 2: not \"key: value\""},
		{"version: STSv1\nmode : none\nmax_age: 1", 0, "line 2: not \"key: value\""},
		{"version: STSv1\nmode none\nmax_age: 1", 0, "line 2: not \"key: value\""},
		{"version: STSv1\n_x: y\nmode: none\nmax_age: 1", 0, "line 2: not \"key: value\""},
		{"version: STSv1\nabcdefghijabcdefghijabcdefghijabc: y\nmode: none\nmax_age: 1", 0,
		    "line 2: not \"key: value\""},
		{"version: STSv1\nx:\nmode: none\nmax_age: 1", 0, "line 2: empty value of x"},
		{"version: STSv1\nmode: no\0ne\nmax_age: 1", 38, "line 2: NUL byte"},
		{"version: STSv1\nmode: en\rforce\nmax_age: 1", 0, "line 2: CR not followed by LF"},
		{"version: STSv1\r\r\nmode: none\nmax_age: 1", 0, "line 1: CR not followed by LF"},
		{"version: STSv1\nmode: none\nmax_age: 1\nx: a\x01" "b", 0, "line 4: control character"},
		{"version: STSv1\nmode: none\nmax_age: 1\nx: a\x7f", 0, "line 4: control character"},
		{"version: STSv1\nmode: none\nmax_age: 1\nx: \xff", 0, "line 4: invalid UTF-8"},
		{"version: STSv1\nmode: none\nmax_age: 1\nx: \xc3", 0, "line 4: invalid UTF-8"},
		{"version: STSv1\nmode: none\nmax_age: 1\nx: \xc0\xaf", 0, "line 4: invalid UTF-8"},
		{"version: STSv1\nmode: none\nmax_age: 1\nx: \xed\xa0\x80", 0, "line 4: invalid UTF-8"},
		{"version: STSv1\r\nmode: none\r\nmax_age: 1\r\nx: \xf4\x90\x80\x80\r\n", 0,
		    "line 4: invalid UTF-8"},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const struct policy_bad_case *c = &cases[i];
		struct sts_policy p;
		char err[256] = "";
		size_t len = c->len ? c->len : strlen(c->body);

		if (sts_parse_policy(c->body, len, &p, err, sizeof(err)))
			fail_msg("case %zu accepted: %s", i, c->body);
		if (strcmp(err, c->err) != 0)
			fail_msg("case %zu: error \"%s\", want \"%s\"", i, err, c->err);
		assert_null(p.text);
		assert_null(p.mx);
		assert_int_equal(p.nmx, 0);
	}
}

static void policy_copy(void **state)
{
	struct sts_policy p, q;

	(void)state;
	parse_ok(GOOGLE, strlen(GOOGLE), &p);
	sts_policy_copy(&q, &p);
	sts_policy_free(&p);
	assert_int_equal(q.nmx, 2);
	assert_string_equal(q.mx[1], "*.gmail-smtp-in.l.google.com");
	assert_int_equal(q.max_age, 86400);
	assert_int_equal(q.mode, STS_MODE_ENFORCE);
	assert_non_null(strstr(q.text, "max_age: 86400"));
	sts_policy_free(&q);
	memset(&p, 0, sizeof(p));
	sts_policy_copy(&q, &p);
	assert_null(q.text);
	assert_null(q.mx);
}

/* ---- views ----------------------------------------------------------------- */

static void mx_matching(void **state)
{
	static const struct { const char *host; bool match; } cases[] = {
		{"mail.example.com", true},
		{"MAIL.Example.COM", true},
		{"mail.example.com.", true},
		{"mail.example.com..", false},
		{"mail.example.co", false},
		{"xmail.example.com", false},
		{"a.mail.example.com", false},
		{"a.example.net", true},
		{"A-1.EXAMPLE.NET.", true},
		{"example.net", false},
		{".example.net", false},
		{"a.b.example.net", false},
		{"aexample.net", false},
		{"a.example.net.x", false},
		{"", false},
		{".", false},
	};
	const char *body = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.Example.Net\n"
	    "max_age: 1";
	struct sts_policy p;

	(void)state;
	parse_ok(body, strlen(body), &p);
	for (size_t i = 0; i < N(cases); i++)
		if (sts_mx_match(&p, cases[i].host) != cases[i].match)
			fail_msg("\"%s\": want %d", cases[i].host, cases[i].match);
	assert_false(sts_mx_match(&p, NULL));
	sts_policy_free(&p);
	memset(&p, 0, sizeof(p));
	assert_false(sts_mx_match(&p, "mail.example.com"));
}

static void postfix_answer(void **state)
{
	const char *enforce = "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.example.net\n"
	    "mx: MX2.Example.ORG\nmax_age: 1";
	const char *testing = "version: STSv1\nmode: testing\nmx: mx1.example.com\nmax_age: 1";
	const char *none = "version: STSv1\nmode: none\nmx: mx1.example.com\nmax_age: 1";
	struct sts_policy p;
	char *a;

	(void)state;
	parse_ok(enforce, strlen(enforce), &p);
	a = sts_postfix_answer(&p);
	assert_string_equal(a, "secure match=mx1.example.com:.example.net:mx2.example.org");
	free(a);
	sts_policy_free(&p);
	parse_ok(GOOGLE, strlen(GOOGLE), &p);
	a = sts_postfix_answer(&p);
	assert_string_equal(a, "secure match=gmail-smtp-in.l.google.com:.gmail-smtp-in.l.google.com");
	free(a);
	sts_policy_free(&p);
	parse_ok(testing, strlen(testing), &p);
	assert_null(sts_postfix_answer(&p));
	sts_policy_free(&p);
	parse_ok(none, strlen(none), &p);
	assert_null(sts_postfix_answer(&p));
	sts_policy_free(&p);
}

static void json_views(void **state)
{
	const char *odd = "version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 60\r\n"
	    "note: a \"quoted\" \\ back\tslash caf\xc3\xa9\r\n";
	struct sts_policy p;
	char *j;

	(void)state;
	parse_ok(GOOGLE, strlen(GOOGLE), &p);
	j = sts_policy_strings_json(&p);
	assert_string_equal(j, "[\"version: STSv1\",\"mode: enforce\",\"mx: gmail-smtp-in.l.google.com\","
	    "\"mx: *.gmail-smtp-in.l.google.com\",\"max_age: 86400\"]");
	free(j);
	j = sts_mx_json(&p);
	assert_string_equal(j, "[\"gmail-smtp-in.l.google.com\",\"*.gmail-smtp-in.l.google.com\"]");
	free(j);
	sts_policy_free(&p);

	parse_ok(odd, strlen(odd), &p);
	j = sts_policy_strings_json(&p);
	assert_string_equal(j, "[\"version: STSv1\",\"mode: testing\",\"mx: mx.example.com\","
	    "\"max_age: 60\",\"note: a \\\"quoted\\\" \\\\ back\\tslash caf\xc3\xa9\"]");
	free(j);
	sts_policy_free(&p);

	memset(&p, 0, sizeof(p));
	j = sts_policy_strings_json(&p);
	assert_string_equal(j, "[]");
	free(j);
	j = sts_mx_json(&p);
	assert_string_equal(j, "[]");
	free(j);
}

static void names_and_result_types(void **state)
{
	static const char *const names[] = {"ok", "none", "fetch-error", "invalid", "webpki-invalid",
	    "temporary"};
	enum sts_status s;

	(void)state;
	for (size_t i = 0; i < N(names); i++) {
		assert_string_equal(sts_status_name((enum sts_status)i), names[i]);
		assert_true(sts_status_from_name(names[i], &s));
		assert_int_equal(s, (enum sts_status)i);
	}
	assert_false(sts_status_from_name("OK", &s));
	assert_false(sts_status_from_name("", &s));
	assert_false(sts_status_from_name(NULL, &s));
	assert_string_equal(sts_status_name((enum sts_status)99), "unknown");
	assert_int_equal(sts_result_type(STS_OK), 0);
	assert_int_equal(sts_result_type(STS_NONE), 0);
	assert_int_equal(sts_result_type(STS_TEMPORARY), 0);
	assert_int_equal(sts_result_type(STS_FETCH_ERROR), RESULT_STS_POLICY_FETCH_ERROR);
	assert_int_equal(sts_result_type(STS_INVALID), RESULT_STS_POLICY_INVALID);
	assert_int_equal(sts_result_type(STS_WEBPKI_INVALID), RESULT_STS_WEBPKI_INVALID);
	assert_string_equal(result_type_name(sts_result_type(STS_FETCH_ERROR)), "sts-policy-fetch-error");
	assert_string_equal(result_type_name(sts_result_type(STS_INVALID)), "sts-policy-invalid");
	assert_string_equal(result_type_name(sts_result_type(STS_WEBPKI_INVALID)), "sts-webpki-invalid");
	assert_string_equal(sts_mode_name(STS_MODE_ENFORCE), "enforce");
	assert_string_equal(sts_mode_name(STS_MODE_TESTING), "testing");
	assert_string_equal(sts_mode_name(STS_MODE_NONE), "none");
}

/* ---- the cache rules ------------------------------------------------------ */

#define T0 1000000LL

static void result_ok(struct sts_result *r, const char *id, const char *mode, long long max_age)
{
	char body[256];

	memset(r, 0, sizeof(*r));
	snprintf(body, sizeof(body), "version: STSv1\nmode: %s\nmx: mx.example.com\nmax_age: %lld",
	    mode, max_age);
	parse_ok(body, strlen(body), &r->policy);
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->status = STS_OK;
}

static void result_fail(struct sts_result *r, enum sts_status s, const char *id, const char *err)
{
	memset(r, 0, sizeof(*r));
	r->status = s;
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->error, sizeof(r->error), "%s", err);
}

static void result_unchanged(struct sts_result *r, const char *id)
{
	memset(r, 0, sizeof(*r));
	r->status = STS_OK;
	r->unchanged = true;
	snprintf(r->id, sizeof(r->id), "%s", id);
}

/* c holds an OK policy fetched at T0 with max_age. */
static void cache_with(struct sts_cached *c, long long max_age)
{
	struct sts_result r;

	memset(c, 0, sizeof(*c));
	snprintf(c->domain, sizeof(c->domain), "example.com");
	result_ok(&r, "id1", "enforce", max_age);
	sts_cache_update(c, &r, T0);
	sts_result_free(&r);
}

static void cache_first_fetch(void **state)
{
	struct sts_cached c;

	(void)state;
	cache_with(&c, 86400);
	assert_int_equal(c.status, STS_OK);
	assert_string_equal(c.domain, "example.com");
	assert_string_equal(c.id, "id1");
	assert_int_equal(c.policy.mode, STS_MODE_ENFORCE);
	assert_int_equal(c.fetched, T0);
	assert_int_equal(c.expires, T0 + 86400);
	assert_int_equal(c.checked, T0);
	assert_int_equal(c.next_try, T0 + 69120);	/* 80% of max_age */
	assert_string_equal(c.error, "");
	assert_true(sts_cached_usable(&c, T0));
	assert_true(sts_cached_usable(&c, T0 + 86399));
	assert_false(sts_cached_usable(&c, T0 + 86400));
	sts_cached_free(&c);
}

static void cache_next_try_rules(void **state)
{
	static const struct { long long max_age, next; } cases[] = {
		{604800, 86400},	/* the daily id check comes first */
		{86400, 69120},		/* 80% */
		{14400, 10800},		/* 80% is 11520, but one hour before expiry */
		{3600, 300},		/* never sooner than 5 min */
		{0, 300},
		{31557600, 86400},
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		struct sts_cached c;

		cache_with(&c, cases[i].max_age);
		if (c.next_try != T0 + cases[i].next)
			fail_msg("max_age %lld: next_try +%lld, want +%lld", cases[i].max_age,
			    c.next_try - T0, cases[i].next);
		sts_cached_free(&c);
	}
}

static void cache_id_unchanged(void **state)
{
	struct sts_cached c;
	struct sts_result r;

	(void)state;
	cache_with(&c, 604800);
	result_unchanged(&r, "id1");
	sts_cache_update(&c, &r, T0 + 86400);
	assert_int_equal(c.status, STS_OK);
	assert_int_equal(c.fetched, T0);		/* not refetched */
	assert_int_equal(c.expires, T0 + 604800);
	assert_int_equal(c.checked, T0 + 86400);
	assert_int_equal(c.next_try, T0 + 2 * 86400);
	assert_string_equal(c.id, "id1");
	assert_non_null(c.policy.text);
	/* near the refetch point the next check is that point */
	sts_cache_update(&c, &r, T0 + 480000);
	assert_int_equal(c.next_try, T0 + 483840);
	sts_cached_free(&c);
}

static void cache_id_changed(void **state)
{
	struct sts_cached c;
	struct sts_result r;

	(void)state;
	cache_with(&c, 604800);
	result_ok(&r, "id2", "testing", 3600 * 48);
	sts_cache_update(&c, &r, T0 + 5000);
	sts_result_free(&r);
	assert_int_equal(c.status, STS_OK);
	assert_string_equal(c.id, "id2");
	assert_int_equal(c.policy.mode, STS_MODE_TESTING);
	assert_int_equal(c.policy.max_age, 172800);
	assert_int_equal(c.fetched, T0 + 5000);
	assert_int_equal(c.expires, T0 + 5000 + 172800);
	assert_string_equal(c.error, "");
	sts_cached_free(&c);
}

static void cache_failed_refresh_keeps_policy(void **state)
{
	static const long long delays[] = {300, 600, 1200, 2400, 4800, 9600, 19200, 21600, 21600};
	struct sts_cached c;
	struct sts_result r;
	long long now = T0 + 1000;

	(void)state;
	cache_with(&c, 604800);
	for (size_t i = 0; i < N(delays); i++) {
		result_fail(&r, i % 2 ? STS_TEMPORARY : STS_FETCH_ERROR, "id1",
		    i % 2 ? "_mta-sts.example.com: SERVFAIL" : "HTTP 500");
		sts_cache_update(&c, &r, now);
		assert_int_equal(c.status, STS_OK);
		assert_non_null(c.policy.text);
		assert_int_equal(c.fetched, T0);
		assert_int_equal(c.expires, T0 + 604800);
		assert_int_equal(c.checked, now);
		assert_string_equal(c.error, i % 2 ? "_mta-sts.example.com: SERVFAIL" : "HTTP 500");
		if (c.next_try - now != delays[i])
			fail_msg("failure %zu: retry after %lld, want %lld", i, c.next_try - now, delays[i]);
		now = c.next_try;
	}
	/* a success ends the back-off */
	result_unchanged(&r, "id1");
	sts_cache_update(&c, &r, now);
	assert_string_equal(c.error, "");
	result_fail(&r, STS_INVALID, "id1", "line 2: mode \"x\" is not enforce, testing or none");
	sts_cache_update(&c, &r, now + 10);
	assert_int_equal(c.next_try, now + 10 + 300);
	assert_int_equal(c.status, STS_OK);
	sts_cached_free(&c);
}

static void cache_record_gone_keeps_policy(void **state)
{
	struct sts_cached c;
	struct sts_result r;

	(void)state;
	cache_with(&c, 86400);
	result_fail(&r, STS_NONE, "", "_mta-sts.example.com: NXDOMAIN");
	sts_cache_update(&c, &r, T0 + 100);
	assert_int_equal(c.status, STS_OK);		/* 5.1: a valid cached policy stays */
	assert_string_equal(c.id, "id1");
	assert_string_equal(c.error, "_mta-sts.example.com: NXDOMAIN");
	assert_int_equal(c.next_try, T0 + 400);
	sts_cached_free(&c);
}

static void cache_failure_near_expiry(void **state)
{
	struct sts_cached c;
	struct sts_result r;

	(void)state;
	cache_with(&c, 86400);
	result_fail(&r, STS_FETCH_ERROR, "id1", "HTTP 503");
	sts_cache_update(&c, &r, T0 + 86300);
	assert_int_equal(c.status, STS_OK);
	assert_int_equal(c.next_try, T0 + 86400);	/* not after expiry */
	/* at expiry the policy is gone and the failure shows */
	sts_cache_update(&c, &r, T0 + 86400);
	assert_int_equal(c.status, STS_FETCH_ERROR);
	assert_null(c.policy.text);
	assert_int_equal(c.policy.nmx, 0);
	assert_int_equal(c.fetched, 0);
	assert_int_equal(c.expires, 0);
	assert_string_equal(c.id, "id1");
	assert_false(sts_cached_usable(&c, T0 + 86400));
	sts_cached_free(&c);
}

static void cache_failure_without_policy(void **state)
{
	struct sts_cached c;
	struct sts_result r;

	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.domain, sizeof(c.domain), "example.org");
	result_fail(&r, STS_WEBPKI_INVALID, "abc",
	    "SSL: no alternative certificate subject name matches target host name 'mta-sts.example.org'");
	sts_cache_update(&c, &r, T0);
	assert_int_equal(c.status, STS_WEBPKI_INVALID);
	assert_string_equal(c.id, "abc");
	assert_int_equal(c.next_try, T0 + 300);
	assert_int_equal(c.checked, T0);
	assert_int_equal(c.fetched, 0);
	assert_string_equal(c.error, r.error);
	/* consecutive failures back off */
	result_fail(&r, STS_INVALID, "abc", "policy larger than 65536 bytes");
	sts_cache_update(&c, &r, T0 + 300);
	assert_int_equal(c.status, STS_INVALID);
	assert_int_equal(c.next_try, T0 + 900);
	/* then it works */
	result_ok(&r, "abc", "enforce", 86400);
	sts_cache_update(&c, &r, T0 + 900);
	sts_result_free(&r);
	assert_int_equal(c.status, STS_OK);
	assert_string_equal(c.error, "");
	assert_int_equal(c.fetched, T0 + 900);
	sts_cached_free(&c);
}

static void cache_no_record(void **state)
{
	struct sts_cached c;
	struct sts_result r;

	(void)state;
	memset(&c, 0, sizeof(c));
	snprintf(c.domain, sizeof(c.domain), "example.org");
	result_fail(&r, STS_NONE, "", "_mta-sts.example.org: NXDOMAIN");
	sts_cache_update(&c, &r, T0);
	assert_int_equal(c.status, STS_NONE);
	assert_int_equal(c.next_try, T0 + 3600);
	assert_string_equal(c.id, "");
	/* a later failure does not double NONE's hour */
	result_fail(&r, STS_TEMPORARY, "", "_mta-sts.example.org: SERVFAIL");
	sts_cache_update(&c, &r, T0 + 3600);
	assert_int_equal(c.status, STS_TEMPORARY);
	assert_int_equal(c.next_try, T0 + 3600 + 300);
	sts_cached_free(&c);
}

static void cache_unchanged_without_policy(void **state)
{
	struct sts_cached c;
	struct sts_result r;

	(void)state;
	cache_with(&c, 600);
	result_unchanged(&r, "id1");
	sts_cache_update(&c, &r, T0 + 600);		/* expired meanwhile */
	assert_int_equal(c.status, STS_TEMPORARY);
	assert_null(c.policy.text);
	assert_string_equal(c.error, "id unchanged but no usable cached policy");
	sts_cached_free(&c);
}

/* ---- discovery before the network -------------------------------------- */

static void discover_refusals(void **state)
{
	struct sts_fetch_opts o = { .resolver = "127.0.0.1:1", .timeout_ms = 1000, .max_size = 65536 };
	struct sts_result r;
	char id[STS_ID_MAX + 1], err[256];

	(void)state;
	sts_discover("bad_name..example", &o, &r);
	assert_int_equal(r.status, STS_NONE);
	assert_string_equal(r.error, "invalid domain name \"bad_name..example\"");
	sts_result_free(&r);
	assert_int_equal(sts_lookup_id("a b.example", &o, id, err, sizeof(err)), STS_NONE);
	assert_string_equal(err, "invalid domain name \"a b.example\"");
	o.resolver = "1.2.3.4:99999";
	assert_int_equal(sts_lookup_id("example.com", &o, id, err, sizeof(err)), STS_TEMPORARY);
	assert_string_equal(err, "bad resolver \"1.2.3.4:99999\": port must be 1-65535");
	assert_string_equal(id, "");
}

/* ---- the store rows ------------------------------------------------------- */

struct fixture {
	char dir[64];
	char path[128];
	struct store *st;
};

static int store_setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_mta_sts-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/tlsrpt.db", f->dir);
	f->st = store_open(f->path, 1000, err, sizeof(err));
	if (f->st == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int store_teardown(void **state)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	struct fixture *f = *state;
	char p[160];
	int rc;

	store_close(f->st);
	for (size_t i = 0; i < N(suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rc = rmdir(f->dir);
	free(f);
	return rc;
}

static void put_ok(struct store *st, const struct sts_cached *c)
{
	char err[256] = "";

	if (store_sts_put(st, c, err, sizeof(err)) != 0)
		fail_msg("store_sts_put: %s", err);
}

/* One column of the row, read with SQL of our own (not the module's). */
static char *raw_column(const char *path, const char *domain, const char *column)
{
	char sql[160];
	sqlite3 *db;
	sqlite3_stmt *s;
	char *v = NULL;

	snprintf(sql, sizeof(sql), "SELECT %s FROM sts_policy WHERE domain = ?1", column);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void assert_column(const char *path, const char *domain, const char *column, const char *want)
{
	char *v = raw_column(path, domain, column);

	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

static void store_round_trip(void **state)
{
	struct fixture *f = *state;
	struct sts_cached c, got;

	cache_with(&c, 86400);
	snprintf(c.error, sizeof(c.error), "HTTP 500");
	c.checked = T0 + 7;
	c.next_try = T0 + 307;
	put_ok(f->st, &c);
	assert_int_equal(store_sts_get(f->st, "example.com", &got), 1);
	assert_string_equal(got.domain, "example.com");
	assert_int_equal(got.status, STS_OK);
	assert_string_equal(got.id, "id1");
	assert_int_equal(got.policy.mode, STS_MODE_ENFORCE);
	assert_int_equal(got.policy.max_age, 86400);
	assert_int_equal(got.policy.nmx, 1);
	assert_string_equal(got.policy.mx[0], "mx.example.com");
	assert_string_equal(got.policy.text, c.policy.text);
	assert_int_equal(got.fetched, T0);
	assert_int_equal(got.expires, T0 + 86400);
	assert_int_equal(got.checked, T0 + 7);
	assert_int_equal(got.next_try, T0 + 307);
	assert_string_equal(got.error, "HTTP 500");
	sts_cached_free(&got);

	assert_column(f->path, "example.com", "status", "ok");
	assert_column(f->path, "example.com", "mode", "enforce");
	assert_column(f->path, "example.com", "mx", "[\"mx.example.com\"]");
	assert_column(f->path, "example.com", "policy",
	    "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400");
	sts_cached_free(&c);
}

static void store_row_without_policy(void **state)
{
	struct fixture *f = *state;
	struct sts_cached c, got;
	struct sts_result r;

	memset(&c, 0, sizeof(c));
	snprintf(c.domain, sizeof(c.domain), "nope.example");
	result_fail(&r, STS_NONE, "", "_mta-sts.nope.example: NXDOMAIN");
	sts_cache_update(&c, &r, T0);
	put_ok(f->st, &c);
	assert_int_equal(store_sts_get(f->st, "nope.example", &got), 1);
	assert_int_equal(got.status, STS_NONE);
	assert_null(got.policy.text);
	assert_null(got.policy.mx);
	assert_int_equal(got.policy.nmx, 0);
	assert_string_equal(got.error, "_mta-sts.nope.example: NXDOMAIN");
	assert_int_equal(got.next_try, T0 + 3600);
	sts_cached_free(&got);
	assert_column(f->path, "nope.example", "status", "none");
	assert_column(f->path, "nope.example", "mode", "");
	assert_column(f->path, "nope.example", "mx", "[]");
	assert_column(f->path, "nope.example", "policy", "");
	assert_column(f->path, "nope.example", "max_age", "0");
	sts_cached_free(&c);
}

static void store_upsert_and_missing(void **state)
{
	struct fixture *f = *state;
	struct sts_cached c, got;
	struct sts_result r;

	assert_int_equal(store_sts_get(f->st, "example.com", &got), 0);
	assert_string_equal(got.domain, "example.com");
	assert_null(got.policy.text);
	cache_with(&c, 86400);
	put_ok(f->st, &c);
	result_ok(&r, "id2", "testing", 600);
	sts_cache_update(&c, &r, T0 + 50);
	sts_result_free(&r);
	put_ok(f->st, &c);
	assert_int_equal(store_sts_get(f->st, "example.com", &got), 1);
	assert_string_equal(got.id, "id2");
	assert_int_equal(got.policy.mode, STS_MODE_TESTING);
	assert_int_equal(got.policy.max_age, 600);
	assert_int_equal(got.fetched, T0 + 50);
	sts_cached_free(&got);
	sts_cached_free(&c);
}

struct listing {
	char domains[256];
	size_t n;
};

static void collect(void *ctx, const struct sts_cached *c)
{
	struct listing *l = ctx;

	l->n++;
	strcat(l->domains, c->domain);
	strcat(l->domains, c->policy.text ? "+ " : "- ");
}

static void store_listing(void **state)
{
	static const char *const domains[] = {"b.example", "a.example", "c.example"};
	struct fixture *f = *state;
	struct listing l = {"", 0};
	struct sts_cached c;
	struct sts_result r;

	for (size_t i = 0; i < N(domains); i++) {
		memset(&c, 0, sizeof(c));
		snprintf(c.domain, sizeof(c.domain), "%s", domains[i]);
		if (i == 1)
			result_fail(&r, STS_FETCH_ERROR, "x", "HTTP 404");
		else
			result_ok(&r, "x", "enforce", 86400);
		sts_cache_update(&c, &r, T0);
		sts_result_free(&r);
		put_ok(f->st, &c);
		sts_cached_free(&c);
	}
	assert_int_equal(store_sts_each(f->st, collect, &l), 3);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.domains, "a.example- b.example+ c.example+ ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(txt_records),
		cmocka_unit_test(txt_no_records),
		cmocka_unit_test(policy_google),
		cmocka_unit_test(policy_crlf),
		cmocka_unit_test(policy_accepted),
		cmocka_unit_test(policy_refused),
		cmocka_unit_test(policy_copy),
		cmocka_unit_test(mx_matching),
		cmocka_unit_test(postfix_answer),
		cmocka_unit_test(json_views),
		cmocka_unit_test(names_and_result_types),
		cmocka_unit_test(cache_first_fetch),
		cmocka_unit_test(cache_next_try_rules),
		cmocka_unit_test(cache_id_unchanged),
		cmocka_unit_test(cache_id_changed),
		cmocka_unit_test(cache_failed_refresh_keeps_policy),
		cmocka_unit_test(cache_record_gone_keeps_policy),
		cmocka_unit_test(cache_failure_near_expiry),
		cmocka_unit_test(cache_failure_without_policy),
		cmocka_unit_test(cache_no_record),
		cmocka_unit_test(cache_unchanged_without_policy),
		cmocka_unit_test(discover_refusals),
		cmocka_unit_test_setup_teardown(store_round_trip, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(store_row_without_policy, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(store_upsert_and_missing, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(store_listing, store_setup, store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
