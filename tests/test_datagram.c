/*
 * NAME
 *	test_datagram - unit tests of milter/datagram.c and common/json_read.c
 * DESCRIPTION
 *	dg_parse() on the real libtlsrpt datagrams of shared/spec/datagrams
 *	(found through $TLSRPT_SHARED_DIR; skipped when it is not there),
 *	one minimal datagram per rejection reason with its exact message,
 *	and json_read()/json_get()/json_quote() on their own.  One arena is
 *	shared by every test, so every call also proves that reset works.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datagram.h"
#include "json_read.h"
#include "session.h"
#include "util.h"

#define WHEN 1710028800LL	/* 2024-03-10T00:00:00Z */

static struct json_arena arena;

static int arena_setup(void **state)
{
	(void)state;
	json_arena_init(&arena);
	return 0;
}

static int arena_teardown(void **state)
{
	(void)state;
	json_arena_free(&arena);
	return 0;
}

/* Read shared/spec/datagrams/<name>, or skip the test when it is not there. */
static char *read_spec_datagram(const char *name, size_t *len)
{
	const char *dir = getenv("TLSRPT_SHARED_DIR");
	char path[4096];
	struct strbuf sb;
	char buf[4096];
	size_t n;
	FILE *fp;

	if (dir == NULL || *dir == '\0')
		skip();
	snprintf(path, sizeof(path), "%s/spec/datagrams/%s", dir, name);
	if ((fp = fopen(path, "rb")) == NULL)
		skip();
	strbuf_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		strbuf_append(&sb, buf, n);
	fclose(fp);
	*len = sb.len;
	return sb.data;
}

/* Parse one real datagram; it must be accepted. */
static void parse_spec(const char *name, struct tlsrpt_session *s)
{
	char err[256] = "x";
	size_t len = 0;
	char *text = read_spec_datagram(name, &len);
	enum dg_status st = dg_parse(&arena, text, len, WHEN, s, err, sizeof(err));

	free(text);
	if (st != DG_OK)
		fail_msg("%s rejected: %s: %s", name, dg_status_name(st), err);
	assert_string_equal(err, "");
	assert_int_equal(s->when, WHEN);
}

static enum dg_status parse_n(const char *text, size_t len, struct tlsrpt_session *s,
    char *err, size_t errlen)
{
	return dg_parse(&arena, text, len, WHEN, s, err, errlen);
}

/* Parse text that must be accepted. */
static void parse_ok(const char *text, struct tlsrpt_session *s)
{
	char err[256] = "";
	enum dg_status st = parse_n(text, strlen(text), s, err, sizeof(err));

	if (st != DG_OK)
		fail_msg("rejected: %s: %s", dg_status_name(st), err);
}

/* Bytes that must be rejected with status "want" and exactly message "msg". */
static void reject_n(const char *text, size_t len, enum dg_status want, const char *msg)
{
	struct tlsrpt_session s;
	char err[256] = "";
	enum dg_status st;

	memset(&s, 0x5a, sizeof(s));
	st = parse_n(text, len, &s, err, sizeof(err));
	if (st != want)
		fail_msg("got %s (%s), wanted %s", dg_status_name(st), err, dg_status_name(want));
	assert_string_equal(err, msg);
	/* a rejected datagram leaves nothing behind */
	assert_null(s.domain);
	assert_null(s.record);
	assert_null(s.policies);
	assert_int_equal(s.npolicies, 0);
	assert_int_equal(s.when, 0);
}

static void reject(const char *text, enum dg_status want, const char *msg)
{
	reject_n(text, strlen(text), want, msg);
}

/* A datagram with one policy whose body is given. */
#define DG(pol) "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[{" pol "}]}"

/* ---- the real datagrams ------------------------------------------- */

static void test_dg01_tlsa_success(void **state)
{
	struct tlsrpt_session s;
	const struct tlsrpt_policy_result *p;

	(void)state;
	parse_spec("dg01.json", &s);
	assert_string_equal(s.domain, "example.com");
	assert_string_equal(s.record, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
	assert_int_equal(s.npolicies, 1);
	p = &s.policies[0];
	assert_int_equal(p->type, POLICY_TLSA);
	assert_string_equal(p->policy_domain, "mx1.example.com");
	assert_string_equal(p->policy_strings,
	    "[\"3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6\","
	    "\"2 1 1 8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D\"]");
	assert_string_equal(p->mx_hosts, "[]");
	assert_false(p->failed);
	assert_int_equal(p->nfailures, 0);
	assert_null(p->failures);
	session_free(&s);
}

static void test_dg02_sts_failure(void **state)
{
	struct tlsrpt_session s;
	const struct tlsrpt_policy_result *p;
	const struct tlsrpt_failure *f;

	(void)state;
	parse_spec("dg02.json", &s);
	assert_string_equal(s.domain, "example.net");
	assert_string_equal(s.record,
	    "v=TLSRPTv1; rua=mailto:tlsrpt@example.net,https://reports.example.net/tlsrpt");
	assert_int_equal(s.npolicies, 1);
	p = &s.policies[0];
	assert_int_equal(p->type, POLICY_STS);
	assert_string_equal(p->policy_domain, "example.net");
	assert_string_equal(p->policy_strings, "[\"version: STSv1\",\"mode: enforce\","
	    "\"mx: mail.example.net\",\"mx: *.example.org\",\"max_age: 604800\"]");
	assert_string_equal(p->mx_hosts, "[\"mail.example.net\",\"*.example.org\"]");
	assert_true(p->failed);
	assert_int_equal(p->nfailures, 1);
	f = &p->failures[0];
	assert_int_equal(f->result_type, RESULT_VALIDATION_FAILURE);
	assert_string_equal(f->sending_ip, "192.0.2.10");
	assert_string_equal(f->mx_name, "mail.example.net");
	assert_string_equal(f->helo, "250-mail.example.net\r\n250-PIPELINING\r\n250 STARTTLS");
	assert_string_equal(f->receiving_ip, "198.51.100.7");
	assert_null(f->additional);
	assert_string_equal(f->reason, "self-signed_certificate");
	session_free(&s);
}

static void test_dg03_no_policy_starttls(void **state)
{
	struct tlsrpt_session s;
	const struct tlsrpt_policy_result *p;
	const struct tlsrpt_failure *f;

	(void)state;
	parse_spec("dg03.json", &s);
	assert_string_equal(s.domain, "example.org");
	assert_string_equal(s.record, "v=TLSRPTv1;rua=mailto:reports@example.org");
	assert_int_equal(s.npolicies, 1);
	p = &s.policies[0];
	assert_int_equal(p->type, POLICY_NONE);
	assert_string_equal(p->policy_domain, "example.org");	/* defaults to d */
	assert_string_equal(p->policy_strings, "[]");
	assert_string_equal(p->mx_hosts, "[]");
	assert_true(p->failed);
	assert_int_equal(p->nfailures, 1);
	f = &p->failures[0];
	assert_int_equal(f->result_type, RESULT_STARTTLS_NOT_SUPPORTED);
	assert_string_equal(f->sending_ip, "2001:db8::25");
	assert_string_equal(f->mx_name, "mx.example.org");
	assert_string_equal(f->helo, "250 mx.example.org");
	assert_string_equal(f->receiving_ip, "2001:db8:1::1");
	assert_null(f->additional);
	assert_null(f->reason);
	session_free(&s);
}

static void test_dg04_domain_normalised(void **state)
{
	struct tlsrpt_session s;

	(void)state;
	parse_spec("dg04.json", &s);
	assert_string_equal(s.domain, "example.com");
	assert_string_equal(s.record, "v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
	assert_int_equal(s.npolicies, 1);
	assert_int_equal(s.policies[0].type, POLICY_NONE);
	assert_string_equal(s.policies[0].policy_domain, "example.com");
	assert_false(s.policies[0].failed);
	assert_int_equal(s.policies[0].nfailures, 0);
	session_free(&s);
}

static void test_dg05_escapes_and_utf8(void **state)
{
	struct tlsrpt_session s;
	const struct tlsrpt_policy_result *p;

	(void)state;
	parse_spec("dg05.json", &s);
	assert_string_equal(s.domain, "company-y.example");
	assert_string_equal(s.record, "v=TLSRPTv1;rua=mailto:reports@company-y.example");
	assert_int_equal(s.npolicies, 2);
	p = &s.policies[0];
	assert_int_equal(p->type, POLICY_STS);
	assert_string_equal(p->policy_strings, "[\"version: STSv1\",\"mode: testing\"]");
	assert_string_equal(p->mx_hosts, "[\"*.mail.company-y.example\"]");
	assert_true(p->failed);
	assert_int_equal(p->nfailures, 2);
	assert_string_equal(p->failures[0].additional,
	    "quote\" backslash\\ tab\t nl\n ctl\x01 utf8 \xc3\xa4");
	session_free(&s);
}

static void test_dg05_failures_exact(void **state)
{
	struct tlsrpt_session s;
	const struct tlsrpt_failure *f;

	(void)state;
	parse_spec("dg05.json", &s);
	f = &s.policies[0].failures[0];
	assert_int_equal(f->result_type, RESULT_STS_POLICY_INVALID);
	assert_string_equal(f->sending_ip, "1.2.3.4");
	assert_string_equal(f->mx_name, "mailin.example.com");
	assert_string_equal(f->helo, "test-ehlo.example.com");
	assert_string_equal(f->receiving_ip, "11.22.33.44");
	assert_string_equal(f->reason, "999 TEST ERROR");
	f = &s.policies[0].failures[1];
	assert_int_equal(f->result_type, RESULT_STS_WEBPKI_INVALID);
	assert_string_equal(f->sending_ip, "1.2.3.5");
	assert_null(f->mx_name);
	assert_null(f->helo);
	assert_null(f->receiving_ip);
	assert_null(f->additional);
	assert_null(f->reason);
	assert_int_equal(s.policies[1].type, POLICY_TLSA);
	assert_string_equal(s.policies[1].policy_domain, "company-y.example");
	assert_string_equal(s.policies[1].policy_strings,
	    "[\"3 0 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D\"]");
	assert_false(s.policies[1].failed);
	assert_int_equal(s.policies[1].nfailures, 0);
	session_free(&s);
}

/* ---- accepted variations ------------------------------------------ */

static void test_policy_strings_canonical(void **state)
{
	struct tlsrpt_session s;

	(void)state;
	parse_ok(DG("\"policy-type\":2, \"policy-string\" : [ \"a\\\"b\" , \"t\\tc\","
	    " \"\\u00e4\\u20ac\", \"\\u0001\\u001f\", \"x\\/y\", \"b\\\\s\", \"\" ],"
	    "\"mx-host\":[],\"t\":0,\"f\":0"), &s);
	assert_string_equal(s.policies[0].policy_strings,
	    "[\"a\\\"b\",\"t\\tc\",\"\xc3\xa4\xe2\x82\xac\",\"\\u0001\\u001f\",\"x/y\","
	    "\"b\\\\s\",\"\"]");
	assert_string_equal(s.policies[0].mx_hosts, "[]");
	session_free(&s);
}

static void test_policy_domain_default_and_normalised(void **state)
{
	struct tlsrpt_session s;

	(void)state;
	parse_ok("{\"dpv\":\"1\",\"d\":\"MX.Example.ORG.\",\"policies\":["
	    "{\"policy-type\":9,\"t\":0,\"f\":0},"
	    "{\"policy-type\":1,\"policy-domain\":\"MX1.Example.COM.\",\"t\":0,\"f\":1}]}", &s);
	assert_string_equal(s.domain, "mx.example.org");
	assert_null(s.record);
	assert_int_equal(s.npolicies, 2);
	assert_string_equal(s.policies[0].policy_domain, "mx.example.org");
	assert_string_equal(s.policies[1].policy_domain, "mx1.example.com");
	assert_true(s.policies[1].failed);
	session_free(&s);
}

static void test_result_901_accepted(void **state)
{
	struct tlsrpt_session s;

	(void)state;
	parse_ok(DG("\"policy-type\":2,\"failure-details\":[{\"c\":901},{\"c\":306,"
	    "\"a\":null}],\"t\":2,\"f\":1"), &s);
	assert_int_equal(s.policies[0].nfailures, 2);
	assert_int_equal(s.policies[0].failures[0].result_type, RESULT_INTERNAL_UNFINISHED);
	assert_int_equal(s.policies[0].failures[1].result_type, RESULT_DANE_REQUIRED);
	assert_null(s.policies[0].failures[1].additional);
	session_free(&s);
}

static void test_nulls_unknown_keys_duplicates(void **state)
{
	struct tlsrpt_session s;

	(void)state;
	parse_ok("{\"future\":{\"x\":[1,2.5,true,null]},\"dpv\":\"1\",\"pr\":null,"
	    "\"d\":\"first.example\",\"d\":\"second.example\",\"policies\":["
	    "{\"policy-type\":9,\"failure-details\":null,\"policy-string\":null,"
	    "\"t\":0,\"f\":0,\"extra\":\"ignored\"}]}", &s);
	assert_string_equal(s.domain, "second.example");	/* the last duplicate wins */
	assert_null(s.record);
	assert_string_equal(s.policies[0].policy_strings, "[]");
	assert_int_equal(s.policies[0].nfailures, 0);
	session_free(&s);
}

static void test_whitespace_around(void **state)
{
	struct tlsrpt_session s;

	(void)state;
	parse_ok(" \t\r\n" DG("\"policy-type\":9,\"t\":0,\"f\":0") "\n \r\t", &s);
	assert_string_equal(s.domain, "x.example");
	session_free(&s);
}

/* Many policies and details: more than the arena's first block. */
static void test_large_datagram(void **state)
{
	struct tlsrpt_session s;
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb);
	strbuf_appends(&sb, "{\"dpv\":\"1\",\"d\":\"big.example\",\"policies\":[");
	for (int i = 0; i < 200; i++)
		strbuf_printf(&sb, "%s{\"policy-type\":2,\"policy-string\":[\"mx: m%d.example\"],"
		    "\"failure-details\":[{\"c\":202,\"n\":\"m%d.example\",\"a\":\"%0200d\"}],"
		    "\"t\":1,\"f\":1}", i ? "," : "", i, i, i);
	strbuf_appends(&sb, "]}");
	assert_true(sb.len > 50000);
	parse_ok(sb.data, &s);
	strbuf_free(&sb);
	assert_int_equal(s.npolicies, 200);
	assert_string_equal(s.policies[199].policy_strings, "[\"mx: m199.example\"]");
	assert_string_equal(s.policies[199].failures[0].mx_name, "m199.example");
	assert_int_equal(strlen(s.policies[199].failures[0].additional), 200);
	session_free(&s);
	/* the same arena then serves a small one */
	parse_ok(DG("\"policy-type\":9,\"t\":0,\"f\":0"), &s);
	assert_string_equal(s.domain, "x.example");
	session_free(&s);
}

/* ---- rejections --------------------------------------------------- */

static void test_reject_not_json(void **state)
{
	(void)state;
	reject("this is not json", DG_ERR_JSON, "not JSON: syntax error at byte 0");
	reject("", DG_ERR_JSON, "not JSON: syntax error at byte 0");
	reject("[1,2,3]", DG_ERR_JSON, "top level: expected a JSON object");
	reject("\"string\"", DG_ERR_JSON, "top level: expected a JSON object");
	reject("{\"dpv\":\"1\",\"d\":\"x.example\"", DG_ERR_JSON,
	    "not JSON: syntax error at byte 26");
	reject(DG("\"policy-type\":9,\"t\":0,\"f\":0") "x", DG_ERR_JSON,
	    "not JSON: syntax error at byte 70");
	reject(DG("\"policy-type\":9,\"t\":0,\"f\":0") "{}", DG_ERR_JSON,
	    "not JSON: syntax error at byte 70");
}

static void test_reject_bad_utf8(void **state)
{
	(void)state;
	reject("{\"dpv\":\"1\",\"d\":\"x\xff.example\"}", DG_ERR_UTF8,
	    "invalid UTF-8 at byte 17");
	reject("{\"d\":\"\xc0\xaf\"}", DG_ERR_UTF8, "invalid UTF-8 at byte 6");
	reject("{\"d\":\"\xed\xa0\x80\"}", DG_ERR_UTF8, "invalid UTF-8 at byte 6");
	reject("{\"d\":\"\xe0\x80\xaf\"}", DG_ERR_UTF8, "invalid UTF-8 at byte 6");
	reject("{\"d\":\"\xf0\x80\x80\xaf\"}", DG_ERR_UTF8, "invalid UTF-8 at byte 6");
	reject("{\"d\":\"\xf4\x90\x80\x80\"}", DG_ERR_UTF8, "invalid UTF-8 at byte 6");
	reject("{\"d\":\"\x80\"}", DG_ERR_UTF8, "invalid UTF-8 at byte 6");
	reject("{\"d\":\"ab\xc3", DG_ERR_UTF8, "invalid UTF-8 at byte 8");
}

static void test_reject_missing_keys(void **state)
{
	(void)state;
	reject("{\"d\":\"x.example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}",
	    DG_ERR_MISSING_KEY, "dpv: missing");
	reject("{\"dpv\":\"1\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}",
	    DG_ERR_MISSING_KEY, "d: missing");
	reject("{\"dpv\":\"1\",\"d\":\"x.example\"}", DG_ERR_MISSING_KEY, "policies: missing");
	reject(DG("\"t\":0,\"f\":0"), DG_ERR_MISSING_KEY, "policies[0].policy-type: missing");
	reject(DG("\"policy-type\":9,\"f\":0"), DG_ERR_MISSING_KEY, "policies[0].t: missing");
	reject(DG("\"policy-type\":9,\"t\":0"), DG_ERR_MISSING_KEY, "policies[0].f: missing");
	reject(DG("\"policy-type\":9,\"failure-details\":[{\"s\":\"1.2.3.4\"}],\"t\":1,\"f\":1"),
	    DG_ERR_MISSING_KEY, "policies[0].failure-details[0].c: missing");
}

static void test_reject_missing_key_in_second_policy(void **state)
{
	(void)state;
	reject("{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":["
	    "{\"policy-type\":2,\"policy-string\":[\"a\"],\"failure-details\":[{\"c\":201,"
	    "\"s\":\"1.2.3.4\"}],\"t\":1,\"f\":1},{\"policy-type\":9,\"f\":0}]}",
	    DG_ERR_MISSING_KEY, "policies[1].t: missing");
}

static void test_reject_wrong_types_top(void **state)
{
	(void)state;
	reject("{\"dpv\":1,\"d\":\"x.example\",\"policies\":[]}", DG_ERR_TYPE,
	    "dpv: expected a string");
	reject("{\"dpv\":\"1\",\"d\":[\"x.example\"],\"policies\":[]}", DG_ERR_TYPE,
	    "d: expected a string");
	reject("{\"dpv\":\"1\",\"d\":\"x.example\",\"pr\":7,\"policies\":[]}", DG_ERR_TYPE,
	    "pr: expected a string");
	reject("{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":{\"policy-type\":9}}",
	    DG_ERR_TYPE, "policies: expected an array");
	reject("{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[9]}", DG_ERR_TYPE,
	    "policies[0]: expected an object");
}

static void test_reject_wrong_types_policy(void **state)
{
	(void)state;
	reject(DG("\"policy-type\":\"9\",\"t\":0,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].policy-type: expected an integer");
	reject(DG("\"policy-type\":9,\"t\":false,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].t: expected an integer");
	reject(DG("\"policy-type\":9,\"t\":0,\"f\":null"), DG_ERR_TYPE,
	    "policies[0].f: expected an integer");
	reject(DG("\"policy-type\":9,\"policy-domain\":5,\"t\":0,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].policy-domain: expected a string");
	reject(DG("\"policy-type\":2,\"policy-string\":\"a\",\"t\":0,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].policy-string: expected an array of strings");
	reject(DG("\"policy-type\":2,\"policy-string\":[1],\"t\":0,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].policy-string[0]: expected a string");
	reject(DG("\"policy-type\":2,\"mx-host\":[\"a\",[]],\"t\":0,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].mx-host[1]: expected a string");
	reject(DG("\"policy-type\":2,\"failure-details\":{},\"t\":0,\"f\":1"), DG_ERR_TYPE,
	    "policies[0].failure-details: expected an array");
}

static void test_reject_wrong_types_failure(void **state)
{
	(void)state;
	reject(DG("\"policy-type\":2,\"failure-details\":[5],\"t\":1,\"f\":1"), DG_ERR_TYPE,
	    "policies[0].failure-details[0]: expected an object");
	reject(DG("\"policy-type\":2,\"failure-details\":[{\"c\":\"201\"}],\"t\":1,\"f\":1"),
	    DG_ERR_TYPE, "policies[0].failure-details[0].c: expected an integer");
	reject(DG("\"policy-type\":2,\"failure-details\":[{\"c\":201},{\"c\":202,\"s\":4}],"
	    "\"t\":2,\"f\":1"), DG_ERR_TYPE, "policies[0].failure-details[1].s: expected a string");
	reject(DG("\"policy-type\":2,\"failure-details\":[{\"c\":201,\"f\":{}}],\"t\":1,\"f\":1"),
	    DG_ERR_TYPE, "policies[0].failure-details[0].f: expected a string");
}

static void test_reject_numbers(void **state)
{
	(void)state;
	reject(DG("\"policy-type\":9,\"t\":1.5,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].t: expected an integer");
	reject(DG("\"policy-type\":9,\"t\":0e0,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].t: expected an integer");
	reject(DG("\"policy-type\":9,\"t\":99999999999999999999,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].t: expected an integer");
	reject(DG("\"policy-type\":99999999999999999999,\"t\":0,\"f\":0"), DG_ERR_TYPE,
	    "policies[0].policy-type: expected an integer");
	reject(DG("\"policy-type\":9,\"t\":01,\"f\":0"), DG_ERR_JSON,
	    "not JSON: syntax error at byte 61");
}

static void test_reject_version(void **state)
{
	(void)state;
	reject("{\"dpv\":\"2\",\"d\":\"x.example\",\"policies\":[]}", DG_ERR_VERSION,
	    "dpv: unsupported protocol version 2");
	reject("{\"dpv\":\"1.0\",\"d\":\"x.example\",\"policies\":[]}", DG_ERR_VERSION,
	    "dpv: unsupported protocol version 1.0");
	reject("{\"dpv\":\"\",\"d\":\"x.example\",\"policies\":[]}", DG_ERR_VERSION,
	    "dpv: unsupported protocol version ");
	/* hostile text is shown printable, no quotes, at most 16 bytes */
	reject("{\"dpv\":\"a\\\"b\\nc d\xc3\xa4\\\\0123456789\"}", DG_ERR_VERSION,
	    "dpv: unsupported protocol version a?b?c?d???012345");
}

static void test_reject_policy_type(void **state)
{
	(void)state;
	reject(DG("\"policy-type\":3,\"t\":0,\"f\":0"), DG_ERR_POLICY_TYPE,
	    "policies[0].policy-type: unknown value 3");
	reject(DG("\"policy-type\":0,\"t\":0,\"f\":0"), DG_ERR_POLICY_TYPE,
	    "policies[0].policy-type: unknown value 0");
	reject(DG("\"policy-type\":-1,\"t\":0,\"f\":0"), DG_ERR_POLICY_TYPE,
	    "policies[0].policy-type: unknown value -1");
	reject(DG("\"policy-type\":4294967298,\"t\":0,\"f\":0"), DG_ERR_POLICY_TYPE,
	    "policies[0].policy-type: unknown value 4294967298");
}

static void test_reject_result_code(void **state)
{
	(void)state;
	reject(DG("\"policy-type\":9,\"failure-details\":[{\"c\":207}],\"t\":1,\"f\":1"),
	    DG_ERR_RESULT_CODE, "policies[0].failure-details[0].c: unknown result code 207");
	reject(DG("\"policy-type\":9,\"failure-details\":[{\"c\":201},{\"c\":0}],\"t\":2,\"f\":1"),
	    DG_ERR_RESULT_CODE, "policies[0].failure-details[1].c: unknown result code 0");
	reject(DG("\"policy-type\":9,\"failure-details\":[{\"c\":4294967497}],\"t\":1,\"f\":1"),
	    DG_ERR_RESULT_CODE, "policies[0].failure-details[0].c: unknown result code 4294967497");
}

static void test_reject_t_mismatch(void **state)
{
	(void)state;
	reject(DG("\"policy-type\":9,\"t\":1,\"f\":1"), DG_ERR_T_MISMATCH,
	    "policies[0].t: is 1 but failure-details has 0");
	reject(DG("\"policy-type\":9,\"failure-details\":[{\"c\":201},{\"c\":202}],\"t\":0,\"f\":1"),
	    DG_ERR_T_MISMATCH, "policies[0].t: is 0 but failure-details has 2");
	reject(DG("\"policy-type\":9,\"failure-details\":[],\"t\":-1,\"f\":1"),
	    DG_ERR_T_MISMATCH, "policies[0].t: is -1 but failure-details has 0");
}

static void test_reject_values(void **state)
{
	(void)state;
	reject(DG("\"policy-type\":9,\"t\":0,\"f\":2"), DG_ERR_VALUE,
	    "policies[0].f: expected 0 or 1, got 2");
	reject(DG("\"policy-type\":9,\"t\":0,\"f\":-1"), DG_ERR_VALUE,
	    "policies[0].f: expected 0 or 1, got -1");
	reject("{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[]}", DG_ERR_VALUE,
	    "policies: empty");
	reject(DG("\"policy-type\":1,\"policy-domain\":\"mx..example\",\"t\":0,\"f\":0"),
	    DG_ERR_VALUE, "policies[0].policy-domain: not a domain name");
}

static void test_reject_bad_domains(void **state)
{
	static const char *const bad[] = {
		"a..b", "", ".", "..", ".example", "ex ample.com", "ex\\\"ample",
		"\xc3\xa4.example", "a/b", "x.example..",
	};
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"dpv\":\"1\",\"d\":\"%s\",\"policies\":"
		    "[{\"policy-type\":9,\"t\":0,\"f\":0}]}", bad[i]);
		reject(text, DG_ERR_VALUE, "d: not a domain name");
	}
}

static void test_reject_label_lengths(void **state)
{
	struct tlsrpt_session s;
	char label[64], text[256];

	(void)state;
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(text, sizeof(text), "{\"dpv\":\"1\",\"d\":\"%s.example\",\"policies\":"
	    "[{\"policy-type\":9,\"t\":0,\"f\":0}]}", label);
	parse_ok(text, &s);
	assert_int_equal(strlen(s.domain), 71);
	session_free(&s);
	snprintf(text, sizeof(text), "{\"dpv\":\"1\",\"d\":\"%sa.example\",\"policies\":"
	    "[{\"policy-type\":9,\"t\":0,\"f\":0}]}", label);
	reject(text, DG_ERR_VALUE, "d: not a domain name");
}

static void test_reject_bad_strings(void **state)
{
	(void)state;
	reject("{\"dpv\":\"1\",\"d\":\"x\\u0000y\"}", DG_ERR_JSON,
	    "not JSON: syntax error at byte 23");
	reject("{\"dpv\":\"1\",\"d\":\"x\\ud800\"}", DG_ERR_JSON,
	    "not JSON: syntax error at byte 23");
	reject("{\"dpv\":\"1\",\"d\":\"x\\udc00\"}", DG_ERR_JSON,
	    "not JSON: syntax error at byte 23");
	reject("{\"dpv\":\"1\",\"d\":\"x\ty\"}", DG_ERR_JSON,
	    "not JSON: syntax error at byte 17");
}

/* {"x": then n arrays, then a valid datagram's keys */
static char *nested(int arrays)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_appends(&sb, "{\"x\":");
	for (int i = 0; i < arrays; i++)
		strbuf_appendc(&sb, '[');
	for (int i = 0; i < arrays; i++)
		strbuf_appendc(&sb, ']');
	strbuf_appends(&sb, ",\"dpv\":\"1\",\"d\":\"x.example\","
	    "\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
	return sb.data;
}

static void test_nesting_depth(void **state)
{
	struct tlsrpt_session s;
	char *text;

	(void)state;
	/* the object is level 1, so 31 arrays make JSON_MAX_DEPTH levels */
	text = nested(JSON_MAX_DEPTH - 1);
	parse_ok(text, &s);
	free(text);
	session_free(&s);
	text = nested(JSON_MAX_DEPTH);
	reject(text, DG_ERR_JSON, "not JSON: nested deeper than 32 at byte 36");
	free(text);
	text = nested(5000);
	reject(text, DG_ERR_JSON, "not JSON: nested deeper than 32 at byte 36");
	free(text);
}

static void test_error_buffer(void **state)
{
	struct tlsrpt_session s;
	char err[8];
	const char *bad = "{\"dpv\":\"1\",\"d\":\"x.example\",\"policies\":[]}";

	(void)state;
	memset(err, 'z', sizeof(err));
	assert_int_equal(parse_n(bad, strlen(bad), &s, err, sizeof(err)), DG_ERR_VALUE);
	assert_string_equal(err, "policie");
	memset(err, 'z', sizeof(err));
	assert_int_equal(parse_n(bad, strlen(bad), &s, err, 0), DG_ERR_VALUE);
	assert_int_equal(err[0], 'z');
}

static void test_status_names(void **state)
{
	static const char *const names[DG_STATUS_COUNT] = {
		"ok", "oversize", "invalid_utf8", "not_json", "missing_key", "wrong_type",
		"unknown_version", "unknown_policy_type", "unknown_result_code",
		"t_mismatch", "bad_value",
	};

	(void)state;
	for (int i = 0; i < DG_STATUS_COUNT; i++)
		assert_string_equal(dg_status_name((enum dg_status)i), names[i]);
	assert_string_equal(dg_status_name(DG_STATUS_COUNT), "unknown");
	assert_string_equal(dg_status_name((enum dg_status)-1), "unknown");
}

/* ---- json_read ------------------------------------------------------ */

/* Read text (reset first); returns the status, *root and *pos filled. */
static enum json_error jread(const char *text, size_t len, struct json_node **root, size_t *pos)
{
	json_arena_reset(&arena);
	return json_read(&arena, text, len, root, pos);
}

/* The string value of a JSON text that must be one string. */
static const struct json_node *jstring(const char *text)
{
	struct json_node *root;
	size_t pos = 99;

	if (jread(text, strlen(text), &root, &pos) != JSON_OK)
		fail_msg("%s: rejected at %zu", text, pos);
	assert_int_equal(root->kind, JSON_STRING);
	assert_int_equal(pos, 0);
	return root;
}

static void jerr(const char *text, enum json_error want, size_t wantpos)
{
	struct json_node *root = (struct json_node *)&root;
	size_t pos = 9999;
	enum json_error e = jread(text, strlen(text), &root, &pos);

	if (e != want || pos != wantpos)
		fail_msg("%s: error %d at %zu, wanted %d at %zu", text, e, pos, want, wantpos);
	assert_null(root);
}

static void test_json_unicode_escapes(void **state)
{
	(void)state;
	assert_string_equal(jstring("\"\\u0041\"")->u.str.s, "A");
	assert_string_equal(jstring("\"\\u00e4\"")->u.str.s, "\xc3\xa4");
	assert_string_equal(jstring("\"\\u07FF\"")->u.str.s, "\xdf\xbf");
	assert_string_equal(jstring("\"\\u0800\"")->u.str.s, "\xe0\xa0\x80");
	assert_string_equal(jstring("\"\\u20ac\"")->u.str.s, "\xe2\x82\xac");
	assert_string_equal(jstring("\"\\uffff\"")->u.str.s, "\xef\xbf\xbf");
	assert_string_equal(jstring("\"\\ud83d\\ude00\"")->u.str.s, "\xf0\x9f\x98\x80");
	assert_string_equal(jstring("\"\\uD834\\uDD1E\"")->u.str.s, "\xf0\x9d\x84\x9e");
	assert_string_equal(jstring("\"\\ud800\\udc00\"")->u.str.s, "\xf0\x90\x80\x80");
	assert_string_equal(jstring("\"\\udbff\\udfff\"")->u.str.s, "\xf4\x8f\xbf\xbf");
	assert_int_equal(jstring("\"x\\ud83d\\ude00y\"")->u.str.len, 6);
}

static void test_json_simple_escapes(void **state)
{
	const struct json_node *n;

	(void)state;
	n = jstring("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
	assert_int_equal(n->u.str.len, 8);
	assert_memory_equal(n->u.str.s, "\"\\/\b\f\n\r\t", 9);
	n = jstring("\"raw \xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80 \x7f\"");
	assert_string_equal(n->u.str.s, "raw \xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80 \x7f");
	n = jstring("\"\"");
	assert_int_equal(n->u.str.len, 0);
	assert_string_equal(n->u.str.s, "");
}

static void test_json_bad_strings(void **state)
{
	(void)state;
	jerr("\"\\x\"", JSON_ERR_SYNTAX, 2);
	jerr("\"\\'\"", JSON_ERR_SYNTAX, 2);
	jerr("\"\\u12\"", JSON_ERR_SYNTAX, 3);
	jerr("\"\\u12G4\"", JSON_ERR_SYNTAX, 3);
	jerr("\"\\u0000\"", JSON_ERR_SYNTAX, 7);
	jerr("\"\\ud800\"", JSON_ERR_SYNTAX, 7);
	jerr("\"\\ud800\\u0041\"", JSON_ERR_SYNTAX, 7);
	jerr("\"\\ud800\\ud800\"", JSON_ERR_SYNTAX, 7);
	jerr("\"\\udfff\"", JSON_ERR_SYNTAX, 7);
	jerr("\"a\nb\"", JSON_ERR_SYNTAX, 2);
	jerr("\"\x1f\"", JSON_ERR_SYNTAX, 1);
	jerr("\"abc", JSON_ERR_SYNTAX, 4);
	jerr("\"abc\\\"", JSON_ERR_SYNTAX, 6);
}

static void jint(const char *text, int64_t want)
{
	struct json_node *root;
	size_t pos;

	if (jread(text, strlen(text), &root, &pos) != JSON_OK)
		fail_msg("%s: rejected at %zu", text, pos);
	if (root->kind != JSON_INT)
		fail_msg("%s: kind %d, not JSON_INT", text, root->kind);
	assert_int_equal(root->u.i, want);
}

static void jreal(const char *text)
{
	struct json_node *root;
	size_t pos;

	if (jread(text, strlen(text), &root, &pos) != JSON_OK)
		fail_msg("%s: rejected at %zu", text, pos);
	if (root->kind != JSON_REAL)
		fail_msg("%s: kind %d, not JSON_REAL", text, root->kind);
}

static void test_json_numbers(void **state)
{
	(void)state;
	jint("0", 0);
	jint("-0", 0);
	jint("7", 7);
	jint("-123", -123);
	jint("9223372036854775807", INT64_MAX);
	jint("-9223372036854775807", -INT64_MAX);
	jint("-9223372036854775808", INT64_MIN);
	jreal("9223372036854775808");
	jreal("-9223372036854775809");
	jreal("18446744073709551615");
	jreal("18446744073709551616");
	jreal("99999999999999999999");
	jreal("1e5");
	jreal("1E+5");
	jreal("2e-3");
	jreal("1.0");
	jreal("-0.0");
	jreal("-1.5e-3");
}

static void test_json_bad_numbers(void **state)
{
	(void)state;
	jerr("01", JSON_ERR_SYNTAX, 1);
	jerr("-01", JSON_ERR_SYNTAX, 2);
	jerr("-", JSON_ERR_SYNTAX, 1);
	jerr("--1", JSON_ERR_SYNTAX, 1);
	jerr("+1", JSON_ERR_SYNTAX, 0);
	jerr(".5", JSON_ERR_SYNTAX, 0);
	jerr("1.", JSON_ERR_SYNTAX, 2);
	jerr("1.e5", JSON_ERR_SYNTAX, 2);
	jerr("1e", JSON_ERR_SYNTAX, 2);
	jerr("1e+", JSON_ERR_SYNTAX, 3);
	jerr("0x10", JSON_ERR_SYNTAX, 1);
	jerr("NaN", JSON_ERR_SYNTAX, 0);
	jerr("Infinity", JSON_ERR_SYNTAX, 0);
	jerr("[1 2]", JSON_ERR_SYNTAX, 3);
}

static void test_json_literals_and_whitespace(void **state)
{
	struct json_node *root;
	size_t pos;

	(void)state;
	assert_int_equal(jread(" \t\r\n[true,false,null]\n\r\t ", 24, &root, &pos), JSON_OK);
	assert_int_equal(root->kind, JSON_ARRAY);
	assert_int_equal(root->u.kids.n, 3);
	assert_int_equal(root->u.kids.first->kind, JSON_TRUE);
	assert_int_equal(root->u.kids.first->next->kind, JSON_FALSE);
	assert_int_equal(root->u.kids.first->next->next->kind, JSON_NULL);
	assert_null(root->u.kids.first->next->next->next);
	jerr("tru", JSON_ERR_SYNTAX, 0);
	jerr("nulll", JSON_ERR_SYNTAX, 4);
	jerr("True", JSON_ERR_SYNTAX, 0);
	jerr("", JSON_ERR_SYNTAX, 0);
	jerr(" \n\t", JSON_ERR_SYNTAX, 3);
	jerr("\f1", JSON_ERR_SYNTAX, 0);
	jerr("1\v", JSON_ERR_SYNTAX, 1);
	jerr("1 2", JSON_ERR_SYNTAX, 2);
}

static void test_json_containers(void **state)
{
	struct json_node *root;
	size_t pos;

	(void)state;
	assert_int_equal(jread("{ \"a\" : [ ] , \"b\" : { } }", 25, &root, &pos), JSON_OK);
	assert_int_equal(root->kind, JSON_OBJECT);
	assert_int_equal(root->u.kids.n, 2);
	assert_int_equal(json_get(root, "a")->kind, JSON_ARRAY);
	assert_int_equal(json_get(root, "a")->u.kids.n, 0);
	assert_null(json_get(root, "a")->u.kids.first);
	assert_int_equal(json_get(root, "b")->kind, JSON_OBJECT);
	assert_int_equal(json_get(root, "b")->keylen, 1);
	jerr("{\"a\":1,}", JSON_ERR_SYNTAX, 7);
	jerr("[1,]", JSON_ERR_SYNTAX, 3);
	jerr("{\"a\" 1}", JSON_ERR_SYNTAX, 5);
	jerr("{1:2}", JSON_ERR_SYNTAX, 1);
	jerr("{'a':2}", JSON_ERR_SYNTAX, 1);
	jerr("[", JSON_ERR_SYNTAX, 1);
	jerr("{\"a\":1", JSON_ERR_SYNTAX, 6);
	jerr("[]]", JSON_ERR_SYNTAX, 2);
}

static void test_json_get(void **state)
{
	struct json_node *root;
	const char *text = "{\"k\":1,\"ab\":2,\"k\":3,\"a\\u0062c\":4,\"k\":5}";
	size_t pos;

	(void)state;
	assert_int_equal(jread(text, strlen(text), &root, &pos), JSON_OK);
	assert_int_equal(root->u.kids.n, 5);
	assert_int_equal(json_get(root, "k")->u.i, 5);	/* the last duplicate */
	assert_int_equal(json_get(root, "ab")->u.i, 2);
	assert_int_equal(json_get(root, "abc")->u.i, 4);
	assert_null(json_get(root, "a"));
	assert_null(json_get(root, "K"));
	assert_null(json_get(root, ""));
	assert_null(json_get(NULL, "k"));
	assert_null(json_get(json_get(root, "k"), "k"));
}

static void test_json_utf8(void **state)
{
	(void)state;
	jerr("\"\xff\"", JSON_ERR_UTF8, 1);
	jerr("\"ok\xc0\xaf\"", JSON_ERR_UTF8, 3);
	jerr("\"\xc1\xbf\"", JSON_ERR_UTF8, 1);
	jerr("\"\xed\xa0\x80\"", JSON_ERR_UTF8, 1);
	jerr("\"\xed\xbf\xbf\"", JSON_ERR_UTF8, 1);
	jerr("\"\xe0\x9f\xbf\"", JSON_ERR_UTF8, 1);
	jerr("\"\xf0\x8f\xbf\xbf\"", JSON_ERR_UTF8, 1);
	jerr("\"\xf4\x90\x80\x80\"", JSON_ERR_UTF8, 1);
	jerr("\"\xf5\x80\x80\x80\"", JSON_ERR_UTF8, 1);
	jerr("\"\xe2\x82\"", JSON_ERR_UTF8, 1);
	jerr("\"\xc3", JSON_ERR_UTF8, 1);
	jerr("\xef\xbb\xbf{}", JSON_ERR_SYNTAX, 0);	/* a BOM is valid UTF-8 but not JSON */
	assert_string_equal(jstring("\"\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"")->u.str.s,
	    "\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf");
}

static void test_json_depth(void **state)
{
	char text[2 * JSON_MAX_DEPTH + 3];
	struct json_node *root;
	size_t pos;

	(void)state;
	memset(text, '[', JSON_MAX_DEPTH);
	memset(text + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	assert_int_equal(jread(text, 2 * JSON_MAX_DEPTH, &root, &pos), JSON_OK);
	assert_int_equal(root->kind, JSON_ARRAY);
	memset(text, '[', JSON_MAX_DEPTH + 1);
	memset(text + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
	text[2 * JSON_MAX_DEPTH + 2] = '\0';
	jerr(text, JSON_ERR_DEPTH, JSON_MAX_DEPTH);
}

/* A document far larger than the arena's first block, then a small one. */
static void test_json_large_then_small(void **state)
{
	struct json_node *root;
	const struct json_node *el;
	struct strbuf sb;
	size_t pos, i = 0;

	(void)state;
	strbuf_init(&sb);
	strbuf_appendc(&sb, '[');
	for (int k = 0; k < 3000; k++)
		strbuf_printf(&sb, "%s{\"k\":\"value %d\"}", k ? "," : "", k);
	strbuf_appendc(&sb, ']');
	assert_int_equal(jread(sb.data, sb.len, &root, &pos), JSON_OK);
	assert_int_equal(root->u.kids.n, 3000);
	for (el = root->u.kids.first; el->next; el = el->next)
		i++;
	assert_int_equal(i, 2999);
	assert_string_equal(json_get(el, "k")->u.str.s, "value 2999");
	strbuf_free(&sb);
	assert_string_equal(jstring("\"small\"")->u.str.s, "small");
}

static void test_json_quote_exact(void **state)
{
	static const char in[] = "a\"b\\c/\n\r\t\b\f\x01\x1f\x7f \xc3\xa4";
	struct strbuf sb;

	(void)state;
	strbuf_init(&sb);
	json_quote(&sb, in, sizeof(in) - 1);
	assert_string_equal(sb.data,
	    "\"a\\\"b\\\\c/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f \xc3\xa4\"");
	strbuf_reset(&sb);
	json_quote(&sb, "", 0);
	assert_string_equal(sb.data, "\"\"");
	strbuf_reset(&sb);
	json_quote(&sb, "plain", 3);
	assert_string_equal(sb.data, "\"pla\"");
	strbuf_free(&sb);
}

static void test_json_quote_round_trip(void **state)
{
	const struct json_node *n;
	struct strbuf in, out;

	(void)state;
	strbuf_init(&in);
	strbuf_init(&out);
	for (int c = 1; c < 0x80; c++)
		strbuf_appendc(&in, (char)c);
	strbuf_appends(&in, "\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
	json_quote(&out, in.data, in.len);
	n = jstring(out.data);
	assert_int_equal(n->u.str.len, in.len);
	assert_memory_equal(n->u.str.s, in.data, in.len);
	strbuf_free(&in);
	strbuf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dg01_tlsa_success),
		cmocka_unit_test(test_dg02_sts_failure),
		cmocka_unit_test(test_dg03_no_policy_starttls),
		cmocka_unit_test(test_dg04_domain_normalised),
		cmocka_unit_test(test_dg05_escapes_and_utf8),
		cmocka_unit_test(test_dg05_failures_exact),
		cmocka_unit_test(test_policy_strings_canonical),
		cmocka_unit_test(test_policy_domain_default_and_normalised),
		cmocka_unit_test(test_result_901_accepted),
		cmocka_unit_test(test_nulls_unknown_keys_duplicates),
		cmocka_unit_test(test_whitespace_around),
		cmocka_unit_test(test_large_datagram),
		cmocka_unit_test(test_reject_not_json),
		cmocka_unit_test(test_reject_bad_utf8),
		cmocka_unit_test(test_reject_missing_keys),
		cmocka_unit_test(test_reject_missing_key_in_second_policy),
		cmocka_unit_test(test_reject_wrong_types_top),
		cmocka_unit_test(test_reject_wrong_types_policy),
		cmocka_unit_test(test_reject_wrong_types_failure),
		cmocka_unit_test(test_reject_numbers),
		cmocka_unit_test(test_reject_version),
		cmocka_unit_test(test_reject_policy_type),
		cmocka_unit_test(test_reject_result_code),
		cmocka_unit_test(test_reject_t_mismatch),
		cmocka_unit_test(test_reject_values),
		cmocka_unit_test(test_reject_bad_domains),
		cmocka_unit_test(test_reject_label_lengths),
		cmocka_unit_test(test_reject_bad_strings),
		cmocka_unit_test(test_nesting_depth),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_json_unicode_escapes),
		cmocka_unit_test(test_json_simple_escapes),
		cmocka_unit_test(test_json_bad_strings),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test(test_json_bad_numbers),
		cmocka_unit_test(test_json_literals_and_whitespace),
		cmocka_unit_test(test_json_containers),
		cmocka_unit_test(test_json_get),
		cmocka_unit_test(test_json_utf8),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_json_large_then_small),
		cmocka_unit_test(test_json_quote_exact),
		cmocka_unit_test(test_json_quote_round_trip),
	};

	return cmocka_run_group_tests(tests, arena_setup, arena_teardown);
}
