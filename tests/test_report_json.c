/*
 * NAME
 *	test_report_json - golden tests of reporter/report_json.c
 * DESCRIPTION
 *	Store contents are made the way the daemon makes them: datagram text
 *	parsed by dg_parse() with a chosen receive time, summed by
 *	aggregate_add_session(), committed to a store in a fresh mkdtemp()
 *	directory and read back by store_load_report_data().  Where stored
 *	data must be something the daemon never writes (bad JSON, unknown
 *	types, empty strings), struct report_data is built by hand.  Every
 *	test compares the EXACT compact JSON of report_json_build(), worked
 *	out by hand from the datagrams.
 *
 *	Tests named after an item of ../shared/spec/rfc8460-checklist.md
 *	("R14") check that item.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "aggregate.h"
#include "datagram.h"
#include "report_json.h"
#include "session.h"
#include "store.h"
#include "util.h"

/* Day D = 2026-03-01 and its neighbours, as exact epoch seconds. */
#define D_FIRST 1772323200LL	/* 2026-03-01T00:00:00Z */
#define D_NOON 1772366400LL	/* 2026-03-01T12:00:00Z */
#define D_LAST 1772409599LL	/* 2026-03-01T23:59:59Z */
#define D1_FIRST 1772409600LL	/* 2026-03-02T00:00:00Z */
#define LEAP_2028 1835395200LL	/* 2028-02-29T00:00:00Z */

#define ORG "Example Operator"
#define CONTACT "mailto:tlsrpt@sender.example"
#define SUBMITTER "sender.example"

/* Everything before the policies array of a report of D for domain "dom". */
#define HEAD_D(dom) "{\"organization-name\":\"" ORG "\",\"date-range\":{\"start-datetime\":" \
	"\"2026-03-01T00:00:00Z\",\"end-datetime\":\"2026-03-01T23:59:59Z\"},\"contact-info\":" \
	"\"" CONTACT "\",\"report-id\":\"2026.03.01T00.00.00Z+" dom "@" SUBMITTER "\",\"policies\":"

/* ---- datagrams -------------------------------------------------------- */

#define DG_NONE_OK(dom) "{\"dpv\":\"1\",\"d\":\"" dom "\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}"

#define STS_POLICY "\"policy-type\":2,\"policy-domain\":\"example.com\"," \
	"\"policy-string\":[\"version: STSv1\",\"mode: enforce\",\"mx: mx1.example.com\"," \
	"\"mx: *.example.net\",\"max_age: 604800\"],\"mx-host\":[\"mx1.example.com\",\"*.example.net\"]"
#define STS_POLICY_JSON "\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\"," \
	"\"mode: enforce\",\"mx: mx1.example.com\",\"mx: *.example.net\",\"max_age: 604800\"]," \
	"\"policy-domain\":\"example.com\",\"mx-host\":[\"mx1.example.com\",\"*.example.net\"]}"
#define DG_STS_OK "{\"dpv\":\"1\",\"d\":\"example.com\",\"pr\":\"v=TLSRPTv1; rua=mailto:t@example.com\"," \
	"\"policies\":[{" STS_POLICY ",\"t\":0,\"f\":0}]}"
/* every optional failure field present */
#define DG_STS_FULL "{\"dpv\":\"1\",\"d\":\"example.com\",\"policies\":[{" STS_POLICY "," \
	"\"failure-details\":[{\"c\":205,\"s\":\"192.0.2.10\",\"n\":\"mx1.example.com\"," \
	"\"h\":\"mx1.example.com\",\"r\":\"198.51.100.7\",\"a\":\"https://sender.example/tlsrpt/205\"," \
	"\"f\":\"X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT\"}],\"t\":1,\"f\":1}]}"
/* result type and sending-mta-ip only */
#define DG_STS_MIN "{\"dpv\":\"1\",\"d\":\"example.com\",\"policies\":[{" STS_POLICY "," \
	"\"failure-details\":[{\"c\":201,\"s\":\"192.0.2.11\"}],\"t\":1,\"f\":1}]}"
/* the same shape with the unknown fields sent as "" or null */
#define DG_STS_MIN_EMPTY "{\"dpv\":\"1\",\"d\":\"example.com\",\"policies\":[{" STS_POLICY "," \
	"\"failure-details\":[{\"c\":201,\"s\":\"192.0.2.11\",\"n\":\"\",\"h\":null,\"r\":\"\"," \
	"\"a\":\"\",\"f\":null}],\"t\":1,\"f\":1}]}"

#define TLSA1 "3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6"
#define TLSA2 "2 1 1 8D02536C887482BC34FF54E41D2BA659BF85B341A0A20AFADB5813DCFBCF286D"
#define DG_TLSA_OK "{\"dpv\":\"1\",\"d\":\"example.org\",\"policies\":[{\"policy-type\":1," \
	"\"policy-domain\":\"mx1.example.org\",\"policy-string\":[\"" TLSA1 "\",\"" TLSA2 "\"]," \
	"\"t\":0,\"f\":0}]}"
#define DG_TLSA_FAIL "{\"dpv\":\"1\",\"d\":\"example.org\",\"policies\":[{\"policy-type\":1," \
	"\"policy-domain\":\"mx1.example.org\",\"policy-string\":[\"" TLSA1 "\",\"" TLSA2 "\"]," \
	"\"failure-details\":[{\"c\":304,\"s\":\"192.0.2.1\",\"n\":\"mx1.example.org\"," \
	"\"r\":\"203.0.113.1\"}],\"t\":1,\"f\":1}]}"

/* four policies, deliberately out of report order */
#define DG_ORDER "{\"dpv\":\"1\",\"d\":\"multi.example\",\"policies\":[" \
	"{\"policy-type\":9,\"t\":0,\"f\":0}," \
	"{\"policy-type\":2,\"policy-domain\":\"multi.example\",\"policy-string\":[\"version: STSv1\"," \
	"\"mode: testing\",\"mx: *.multi.example\",\"max_age: 600\"],\"mx-host\":[\"*.multi.example\"]," \
	"\"t\":0,\"f\":0}," \
	"{\"policy-type\":1,\"policy-domain\":\"mx2.multi.example\",\"policy-string\":[\"3 1 1 CC\"],\"t\":0,\"f\":0}," \
	"{\"policy-type\":1,\"policy-domain\":\"mx1.multi.example\",\"policy-string\":[\"3 1 1 BB\"],\"t\":0,\"f\":0}," \
	"{\"policy-type\":1,\"policy-domain\":\"mx1.multi.example\",\"policy-string\":[\"3 1 1 AA\"],\"t\":0,\"f\":0}]}"

#define FD(c) "{\"c\":" #c ",\"s\":\"192.0.2.1\"}"
/* one failed session with a detail of every result code (and the 901 marker) */
#define DG_CODES "{\"dpv\":\"1\",\"d\":\"codes.example\",\"policies\":[{\"policy-type\":2," \
	"\"policy-domain\":\"codes.example\",\"policy-string\":[\"version: STSv1\",\"mode: enforce\"," \
	"\"mx: mx.codes.example\",\"max_age: 86400\"],\"mx-host\":[\"mx.codes.example\"]," \
	"\"failure-details\":[" FD(306) "," FD(305) "," FD(304) "," FD(303) "," FD(302) "," FD(301) \
	",{\"c\":901}," FD(205) "," FD(204) "," FD(203) "," FD(202) "," FD(201) "],\"t\":12,\"f\":1}]}"
#define FJ(name) "{\"result-type\":\"" name "\",\"sending-mta-ip\":\"192.0.2.1\",\"failed-session-count\":1}"

/* R31: the same failure written in non-canonical forms */
#define DG_CANON_1 "{\"dpv\":\"1\",\"d\":\"example.net\",\"policies\":[{\"policy-type\":9," \
	"\"failure-details\":[{\"c\":201,\"s\":\"2001:DB8:ABCD:0012:0:0:0:1\",\"n\":\"MX1.Example.NET.\"," \
	"\"r\":\"203.0.113.5\"}],\"t\":1,\"f\":1}]}"
#define DG_CANON_2 "{\"dpv\":\"1\",\"d\":\"example.net\",\"policies\":[{\"policy-type\":9," \
	"\"failure-details\":[{\"c\":201,\"s\":\"2001:db8:abcd:12::1\",\"n\":\"mx1.example.net\"," \
	"\"r\":\"203.0.113.5\"}],\"t\":1,\"f\":1}]}"
#define DG_CANON_3 "{\"dpv\":\"1\",\"d\":\"example.net\",\"policies\":[{\"policy-type\":9," \
	"\"failure-details\":[{\"c\":202,\"s\":\"::FFFF:192.0.2.1\",\"n\":\"Mx2.Example.Net\"," \
	"\"r\":\"2001:0db8:0000:0000:0001:0000:0000:0001\"}],\"t\":1,\"f\":1}]}"

/* ---- fixture ---------------------------------------------------------- */

struct fixture {
	char dir[64];
	char path[96];
	struct store *st;
	struct aggregate agg;
};

static struct json_arena arena;

static int group_setup(void **state)
{
	(void)state;
	json_arena_init(&arena);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	json_arena_free(&arena);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char err[512] = "";

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_report_json-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/tlsrpt.db", f->dir);
	f->st = store_open(f->path, 1000, err, sizeof(err));
	if (f->st == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return -1;
	}
	aggregate_init(&f->agg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	struct fixture *f = *state;
	char p[128];
	int rc;

	store_close(f->st);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rc = rmdir(f->dir);	/* fails if the test left something behind */
	aggregate_free(&f->agg);
	free(f);
	return rc;
}

/* Parse a datagram received at "when" and add it n times to the aggregate. */
static void add_dg(struct fixture *f, long long when, const char *text, int n)
{
	struct tlsrpt_session s;
	char err[256] = "";

	if (dg_parse(&arena, text, strlen(text), when, &s, err, sizeof(err)) != DG_OK)
		fail_msg("datagram rejected: %s: %s", err, text);
	for (int i = 0; i < n; i++)
		aggregate_add_session(&f->agg, &s);
	session_free(&s);
}

static void commit(struct fixture *f)
{
	char err[512] = "";

	if (store_commit(f->st, &f->agg, err, sizeof(err)) != STORE_OK)
		fail_msg("store_commit: %s", err);
	aggregate_clear(&f->agg);
}

/* The JSON text of a report data set, with the test's meta data. */
static char *build_rd(const struct report_data *rd, bool pretty)
{
	struct report_meta meta;
	char id[512], err[512] = "";
	char *json;

	report_id_make(id, sizeof(id), rd->day, rd->domain, SUBMITTER);
	meta.organization_name = ORG;
	meta.contact_info = CONTACT;
	meta.report_id = id;
	json = report_json_build(&meta, rd, pretty, err, sizeof(err));
	if (json == NULL)
		fail_msg("report_json_build: %s", err);
	assert_string_equal(err, "");
	return json;
}

/* Commit what was added, load (day, domain) from the store, build the report. */
static char *report_of(struct fixture *f, const char *day, const char *domain)
{
	struct report_data rd;
	char err[512] = "";
	char *json;

	if (!aggregate_empty(&f->agg))
		commit(f);
	if (store_load_report_data(f->st, day, domain, &rd, err, sizeof(err)) != 0)
		fail_msg("store_load_report_data: %s", err);
	json = build_rd(&rd, false);
	report_data_free(&rd);
	return json;
}

static void assert_report(struct fixture *f, const char *day, const char *domain,
    const char *want)
{
	char *json = report_of(f, day, domain);

	assert_string_equal(json, want);
	free(json);
}

/* ---- hand-built report data -------------------------------------------- */

static void rd_init(struct report_data *rd, const char *day, const char *domain)
{
	memset(rd, 0, sizeof(*rd));
	snprintf(rd->day, sizeof(rd->day), "%s", day);
	rd->domain = xstrdup(domain);
}

static struct rd_policy *rd_policy(struct report_data *rd, int type, const char *pdomain,
    const char *strings, const char *mx, unsigned long long ok, unsigned long long failed)
{
	struct rd_policy *p;

	rd->policies = xrealloc(rd->policies, (rd->npolicies + 1) * sizeof(*p));
	p = &rd->policies[rd->npolicies++];
	memset(p, 0, sizeof(*p));
	p->type = type;
	p->policy_domain = xstrdup(pdomain);
	p->policy_strings = xstrdup(strings);
	p->mx_hosts = xstrdup(mx);
	p->successes = ok;
	p->failures = failed;
	return p;
}

static char *dup_opt(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void rd_failure(struct rd_policy *p, int code, const char *s, const char *n,
    const char *h, const char *r, const char *a, const char *reason, unsigned long long count)
{
	struct rd_failure *fl;

	p->failures_list = xrealloc(p->failures_list, (p->nfailures + 1) * sizeof(*fl));
	fl = &p->failures_list[p->nfailures++];
	fl->detail.result_type = code;
	fl->detail.sending_ip = dup_opt(s);
	fl->detail.mx_name = dup_opt(n);
	fl->detail.helo = dup_opt(h);
	fl->detail.receiving_ip = dup_opt(r);
	fl->detail.additional = dup_opt(a);
	fl->detail.reason = dup_opt(reason);
	fl->sessions = count;
}

/* ---- golden reports ---------------------------------------------------- */

/* Google's shape (samples/google.com-2024-09-03.json): no-policy-found, successes only. */
static void test_R10_R11_golden_no_policy_found(void **state)
{
	struct fixture *f = *state;

	add_dg(f, D_NOON, DG_NONE_OK("example.com"), 48);
	assert_report(f, "2026-03-01", "example.com", HEAD_D("example.com")
	    "[{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"example.com\"},"
	    "\"summary\":{\"total-successful-session-count\":48,\"total-failure-session-count\":0}}]}");
}

/* Replace the first occurrence of "from" in sb by "to"; fail if absent. */
static void replace(struct strbuf *sb, const char *from, const char *to)
{
	char *at = strstr(sb->data, from);
	struct strbuf out;

	if (at == NULL)
		fail_msg("\"%s\" not in the sample", from);
	strbuf_init(&out);
	strbuf_append(&out, sb->data, (size_t)(at - sb->data));
	strbuf_appends(&out, to);
	strbuf_appends(&out, at + strlen(from));
	strbuf_reset(sb);
	strbuf_append(sb, out.data, out.len);
	strbuf_appendc(sb, '\0');
	sb->len--;
	strbuf_free(&out);
}

/*
 * The same report, made from Google's own report text by replacing each
 * of its values with ours: byte-identical, so key names, key order,
 * nesting, JSON types and the compact layout are Google's.
 */
static void test_R16_google_shape(void **state)
{
	struct fixture *f = *state;
	const char *shared = getenv("TLSRPT_SHARED_DIR");
	char path[1024], buf[4096], *ours;
	struct strbuf g;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/samples/google.com-2024-09-03.json",
	    shared && *shared ? shared : "../shared");
	fp = fopen(path, "rb");
	if (fp == NULL)
		skip();
	strbuf_init(&g);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		strbuf_append(&g, buf, n);
	fclose(fp);
	while (g.len > 0 && g.data[g.len - 1] == '\n')
		g.len--;
	strbuf_appendc(&g, '\0');
	g.len--;
	/* Google's sample is 48 successful sessions for one no-policy-found domain */
	replace(&g, "\"Google Inc.\"", "\"" ORG "\"");
	replace(&g, "\"2024-09-03T00:00:00Z\"", "\"2026-03-01T00:00:00Z\"");
	replace(&g, "\"2024-09-03T23:59:59Z\"", "\"2026-03-01T23:59:59Z\"");
	replace(&g, "\"smtp-tls-reporting@google.com\"", "\"" CONTACT "\"");
	replace(&g, "\"2024-09-03T00:00:00Z_cardinalhealth.ca\"",
	    "\"2026.03.01T00.00.00Z+example.com@" SUBMITTER "\"");
	replace(&g, "\"policy-domain\":\"cardinalhealth.ca\"", "\"policy-domain\":\"example.com\"");

	add_dg(f, D_NOON, DG_NONE_OK("example.com"), 48);
	ours = report_of(f, "2026-03-01", "example.com");
	assert_string_equal(ours, g.data);
	free(ours);
	strbuf_free(&g);
}

/*
 * An sts policy with two failure shapes: one with every optional field,
 * one with result-type and sending-mta-ip only (the unknown fields are
 * omitted, never "" or null, also when the datagram sent them as "" or
 * null: those sessions aggregate with the ones that left them out).
 */
static void test_R12_R16_R29_golden_sts_two_failures(void **state)
{
	struct fixture *f = *state;

	add_dg(f, D_FIRST, DG_STS_OK, 3);
	add_dg(f, D_NOON, DG_STS_FULL, 1);
	add_dg(f, D_NOON, DG_STS_MIN, 1);
	add_dg(f, D_LAST, DG_STS_MIN_EMPTY, 1);
	assert_report(f, "2026-03-01", "example.com", HEAD_D("example.com")
	    "[{" STS_POLICY_JSON ",\"summary\":{\"total-successful-session-count\":3,"
	    "\"total-failure-session-count\":3},\"failure-details\":["
	    "{\"result-type\":\"starttls-not-supported\",\"sending-mta-ip\":\"192.0.2.11\","
	    "\"failed-session-count\":2},"
	    "{\"result-type\":\"validation-failure\",\"sending-mta-ip\":\"192.0.2.10\","
	    "\"receiving-mx-hostname\":\"mx1.example.com\",\"receiving-mx-helo\":\"mx1.example.com\","
	    "\"receiving-ip\":\"198.51.100.7\",\"failed-session-count\":1,"
	    "\"additional-information\":\"https://sender.example/tlsrpt/205\","
	    "\"failure-reason-code\":\"X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT\"}]}]}");
}

/* R29: TLSA records in presentation form; policy-domain is the TLSA base domain (the MX). */
static void test_R29_golden_tlsa(void **state)
{
	struct fixture *f = *state;

	add_dg(f, D_NOON, DG_TLSA_OK, 1);
	add_dg(f, D_NOON, DG_TLSA_FAIL, 1);
	assert_report(f, "2026-03-01", "example.org", HEAD_D("example.org")
	    "[{\"policy\":{\"policy-type\":\"tlsa\",\"policy-string\":[\"" TLSA1 "\",\"" TLSA2 "\"],"
	    "\"policy-domain\":\"mx1.example.org\"},\"summary\":{\"total-successful-session-count\":1,"
	    "\"total-failure-session-count\":1},\"failure-details\":[{\"result-type\":\"tlsa-invalid\","
	    "\"sending-mta-ip\":\"192.0.2.1\",\"receiving-mx-hostname\":\"mx1.example.org\","
	    "\"receiving-ip\":\"203.0.113.1\",\"failed-session-count\":1}]}]}");
}

/* Policies in the documented order: by type (tlsa, sts, no-policy-found), domain, strings. */
static void test_R11_golden_policy_order(void **state)
{
	struct fixture *f = *state;

	add_dg(f, D_NOON, DG_ORDER, 2);
	assert_report(f, "2026-03-01", "multi.example", HEAD_D("multi.example") "["
	    "{\"policy\":{\"policy-type\":\"tlsa\",\"policy-string\":[\"3 1 1 AA\"],"
	    "\"policy-domain\":\"mx1.multi.example\"},\"summary\":{\"total-successful-session-count\":2,"
	    "\"total-failure-session-count\":0}},"
	    "{\"policy\":{\"policy-type\":\"tlsa\",\"policy-string\":[\"3 1 1 BB\"],"
	    "\"policy-domain\":\"mx1.multi.example\"},\"summary\":{\"total-successful-session-count\":2,"
	    "\"total-failure-session-count\":0}},"
	    "{\"policy\":{\"policy-type\":\"tlsa\",\"policy-string\":[\"3 1 1 CC\"],"
	    "\"policy-domain\":\"mx2.multi.example\"},\"summary\":{\"total-successful-session-count\":2,"
	    "\"total-failure-session-count\":0}},"
	    "{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\",\"mode: testing\","
	    "\"mx: *.multi.example\",\"max_age: 600\"],\"policy-domain\":\"multi.example\","
	    "\"mx-host\":[\"*.multi.example\"]},\"summary\":{\"total-successful-session-count\":2,"
	    "\"total-failure-session-count\":0}},"
	    "{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"multi.example\"},"
	    "\"summary\":{\"total-successful-session-count\":2,\"total-failure-session-count\":0}}]}");
}

/* R13: every result code 201..306 by its RFC name, in code order; 901 never reported. */
static void test_R13_every_result_type_name(void **state)
{
	struct fixture *f = *state;

	add_dg(f, D_NOON, DG_CODES, 1);
	assert_report(f, "2026-03-01", "codes.example", HEAD_D("codes.example")
	    "[{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\","
	    "\"mode: enforce\",\"mx: mx.codes.example\",\"max_age: 86400\"],"
	    "\"policy-domain\":\"codes.example\",\"mx-host\":[\"mx.codes.example\"]},"
	    "\"summary\":{\"total-successful-session-count\":0,\"total-failure-session-count\":1},"
	    "\"failure-details\":["
	    FJ("starttls-not-supported") "," FJ("certificate-host-mismatch") ","
	    FJ("certificate-not-trusted") "," FJ("certificate-expired") ","
	    FJ("validation-failure") "," FJ("sts-policy-fetch-error") ","
	    FJ("sts-policy-invalid") "," FJ("sts-webpki-invalid") ","
	    FJ("tlsa-invalid") "," FJ("dnssec-invalid") "," FJ("dane-required") "]}]}");
}

/* R13: codes that have no RFC name (901, 999) never reach a report, nor an empty array. */
static void test_R13_R28_unnamed_codes_dropped(void **state)
{
	struct report_data rd;
	struct rd_policy *p;
	char *json;

	(void)state;
	rd_init(&rd, "2026-03-01", "example.com");
	p = rd_policy(&rd, POLICY_STS, "example.com", "[]", "[]", 0, 2);
	rd_failure(p, 901, "192.0.2.1", NULL, NULL, NULL, NULL, NULL, 1);
	rd_failure(p, 999, "192.0.2.1", NULL, NULL, NULL, NULL, NULL, 1);
	p = rd_policy(&rd, POLICY_NONE, "example.com", "[]", "[]", 0, 1);
	rd_failure(p, 999, "192.0.2.1", NULL, NULL, NULL, NULL, NULL, 1);
	rd_failure(p, 306, "192.0.2.1", NULL, NULL, NULL, NULL, NULL, 1);
	json = build_rd(&rd, false);
	assert_string_equal(json, HEAD_D("example.com")
	    "[{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"example.com\"},"
	    "\"summary\":{\"total-successful-session-count\":0,\"total-failure-session-count\":2}},"
	    "{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"example.com\"},"
	    "\"summary\":{\"total-successful-session-count\":0,\"total-failure-session-count\":1},"
	    "\"failure-details\":[" FJ("dane-required") "]}]}");
	free(json);
	report_data_free(&rd);
}

/* R14: details may sum to more than the failure total; kept exactly as stored. */
static void test_R14_details_exceed_failure_total(void **state)
{
	struct fixture *f = *state;
	struct report_data rd;
	struct rd_policy *p;
	char *json;

	/* from a datagram: one failed session, two failure details */
	add_dg(f, D_NOON, "{\"dpv\":\"1\",\"d\":\"example.com\",\"policies\":[{\"policy-type\":9,"
	    "\"failure-details\":[{\"c\":202,\"s\":\"192.0.2.1\"},{\"c\":204,\"s\":\"192.0.2.1\"}],"
	    "\"t\":2,\"f\":1}]}", 1);
	assert_report(f, "2026-03-01", "example.com", HEAD_D("example.com")
	    "[{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"example.com\"},"
	    "\"summary\":{\"total-successful-session-count\":0,\"total-failure-session-count\":1},"
	    "\"failure-details\":[" FJ("certificate-host-mismatch") "," FJ("certificate-expired")
	    "]}]}");

	/* by hand, with larger numbers: 3 + 2 details for 1 failed session */
	rd_init(&rd, "2026-03-01", "example.com");
	p = rd_policy(&rd, POLICY_STS, "example.com", "[\"version: STSv1\"]", "[\"mx.example.com\"]",
	    7, 1);
	rd_failure(p, 201, "192.0.2.1", NULL, NULL, NULL, NULL, NULL, 2);
	rd_failure(p, 205, "192.0.2.1", NULL, NULL, NULL, NULL, NULL, 3);
	json = build_rd(&rd, false);
	assert_string_equal(json, HEAD_D("example.com")
	    "[{\"policy\":{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\"],"
	    "\"policy-domain\":\"example.com\",\"mx-host\":[\"mx.example.com\"]},"
	    "\"summary\":{\"total-successful-session-count\":7,\"total-failure-session-count\":1},"
	    "\"failure-details\":[{\"result-type\":\"starttls-not-supported\",\"sending-mta-ip\":"
	    "\"192.0.2.1\",\"failed-session-count\":2},{\"result-type\":\"validation-failure\","
	    "\"sending-mta-ip\":\"192.0.2.1\",\"failed-session-count\":3}]}]}");
	free(json);
	report_data_free(&rd);
}

/*
 * R28, R16, R11: stored "" (unknown) fields and empty arrays are omitted,
 * and a missing policy-domain is the report's domain.
 */
static void test_R28_no_empty_values(void **state)
{
	struct report_data rd;
	struct rd_policy *p;
	char *json;

	(void)state;
	rd_init(&rd, "2026-03-01", "example.com");
	p = rd_policy(&rd, POLICY_NONE, "", "[]", "[]", 1, 1);
	rd_failure(p, 201, "", "", "", "", "", "", 1);
	json = build_rd(&rd, false);
	assert_string_equal(json, HEAD_D("example.com")
	    "[{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"example.com\"},"
	    "\"summary\":{\"total-successful-session-count\":1,\"total-failure-session-count\":1},"
	    "\"failure-details\":[{\"result-type\":\"starttls-not-supported\","
	    "\"failed-session-count\":1}]}]}");
	free(json);
	report_data_free(&rd);
}

/* R31: IP addresses in canonical form (RFC 5952), host names lower case without the dot. */
static void test_R31_canonical_addresses_and_names(void **state)
{
	struct fixture *f = *state;

	add_dg(f, D_NOON, DG_CANON_1, 1);
	add_dg(f, D_NOON, DG_CANON_2, 2);
	add_dg(f, D_NOON, DG_CANON_3, 1);
	/* the two spellings of one failure are one failure-details entry */
	assert_report(f, "2026-03-01", "example.net", HEAD_D("example.net")
	    "[{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"example.net\"},"
	    "\"summary\":{\"total-successful-session-count\":0,\"total-failure-session-count\":4},"
	    "\"failure-details\":["
	    "{\"result-type\":\"starttls-not-supported\",\"sending-mta-ip\":\"2001:db8:abcd:12::1\","
	    "\"receiving-mx-hostname\":\"mx1.example.net\",\"receiving-ip\":\"203.0.113.5\","
	    "\"failed-session-count\":3},"
	    "{\"result-type\":\"certificate-host-mismatch\",\"sending-mta-ip\":\"::ffff:192.0.2.1\","
	    "\"receiving-mx-hostname\":\"mx2.example.net\",\"receiving-ip\":\"2001:db8::1:0:0:1\","
	    "\"failed-session-count\":1}]}]}");
}

/* ---- days, report ids, time stamps -------------------------------------- */

/*
 * R8, R10, R16: the last second of D and the first of D+1 land in two
 * reports, each covering one full UTC day written as RFC 3339 UTC
 * "T00:00:00Z" to "T23:59:59Z".  Receive times are whole seconds (a
 * session at 23:59:59.9 is received at 23:59:59), so these two are the
 * closest sessions on either side of midnight.
 */
static void test_R8_utc_day_boundary(void **state)
{
	struct fixture *f = *state;

	add_dg(f, D_FIRST, DG_NONE_OK("example.com"), 1);
	add_dg(f, D_LAST, DG_NONE_OK("example.com"), 2);
	add_dg(f, D1_FIRST, DG_NONE_OK("example.com"), 4);
	add_dg(f, D_FIRST - 1, DG_NONE_OK("example.com"), 8);
	assert_report(f, "2026-03-01", "example.com", HEAD_D("example.com")
	    "[{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"example.com\"},"
	    "\"summary\":{\"total-successful-session-count\":3,\"total-failure-session-count\":0}}]}");
	assert_report(f, "2026-03-02", "example.com",
	    "{\"organization-name\":\"" ORG "\",\"date-range\":{\"start-datetime\":"
	    "\"2026-03-02T00:00:00Z\",\"end-datetime\":\"2026-03-02T23:59:59Z\"},\"contact-info\":"
	    "\"" CONTACT "\",\"report-id\":\"2026.03.02T00.00.00Z+example.com@" SUBMITTER "\","
	    "\"policies\":[{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":"
	    "\"example.com\"},\"summary\":{\"total-successful-session-count\":4,"
	    "\"total-failure-session-count\":0}}]}");
	assert_report(f, "2026-02-28", "example.com",
	    "{\"organization-name\":\"" ORG "\",\"date-range\":{\"start-datetime\":"
	    "\"2026-02-28T00:00:00Z\",\"end-datetime\":\"2026-02-28T23:59:59Z\"},\"contact-info\":"
	    "\"" CONTACT "\",\"report-id\":\"2026.02.28T00.00.00Z+example.com@" SUBMITTER "\","
	    "\"policies\":[{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":"
	    "\"example.com\"},\"summary\":{\"total-successful-session-count\":8,"
	    "\"total-failure-session-count\":0}}]}");
}

static void test_R8_report_day_start(void **state)
{
	static const char *const bad[] = {"2026-02-30", "2026-13-01", "2026-1-01", "", "2027-02-29",
	    "2026-00-10", "2026-03-00", "2026-03-32", "2026/03/01", "2026-03-01x", "2026-03-1 ",
	    " 2026-03-1", "+026-03-01", "2026-03-01T00:00:00Z", "20260301", "abcd-ef-gh"};
	long long t;

	(void)state;
	assert_true(report_day_start("2026-03-01", &t));
	assert_int_equal(t, D_FIRST);
	assert_true(report_day_start("2026-03-02", &t));
	assert_int_equal(t, D1_FIRST);
	assert_true(report_day_start("2028-02-29", &t));
	assert_int_equal(t, LEAP_2028);
	assert_true(report_day_start("1970-01-01", &t));
	assert_int_equal(t, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = 12345;
		if (report_day_start(bad[i], &t))
			fail_msg("report_day_start accepted \"%s\"", bad[i]);
		assert_int_equal(t, 12345);	/* left alone */
	}
}

/* R9: one id per (day, policy domain) of a submitter, in the documented form. */
static void test_R9_report_id(void **state)
{
	char a[256], b[256], c[256], d[256];

	(void)state;
	report_id_make(a, sizeof(a), "2026-03-01", "example.com", "sender.example");
	assert_string_equal(a, "2026.03.01T00.00.00Z+example.com@sender.example");
	report_id_make(b, sizeof(b), "2026-03-02", "example.com", "sender.example");
	assert_string_equal(b, "2026.03.02T00.00.00Z+example.com@sender.example");
	report_id_make(c, sizeof(c), "2026-03-01", "example.org", "sender.example");
	assert_string_equal(c, "2026.03.01T00.00.00Z+example.org@sender.example");
	report_id_make(d, sizeof(d), "2028-02-29", "example.com", "other.example");
	assert_string_equal(d, "2028.02.29T00.00.00Z+example.com@other.example");
	/* a short buffer truncates, never overflows */
	report_id_make(d, 12, "2026-03-01", "example.com", "sender.example");
	assert_string_equal(d, "2026.03.01T");
}

/* JSON text without the white space outside strings. */
static char *squeeze(const char *s)
{
	char *out = xmalloc(strlen(s) + 1), *o = out;
	bool in_string = false;

	for (; *s; s++) {
		if (in_string && *s == '\\' && s[1]) {
			*o++ = *s++;
			*o++ = *s;
			continue;
		}
		if (*s == '"')
			in_string = !in_string;
		if (in_string || (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r'))
			*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* Same data, same bytes; the pretty form is the same JSON text, indented. */
static void test_idempotent_and_pretty(void **state)
{
	struct fixture *f = *state;
	struct report_data rd;
	char err[256] = "";
	char *one, *two, *pretty, *flat;

	add_dg(f, D_NOON, DG_STS_FULL, 1);
	add_dg(f, D_NOON, DG_STS_MIN, 1);
	one = report_of(f, "2026-03-01", "example.com");
	two = report_of(f, "2026-03-01", "example.com");
	assert_string_equal(one, two);
	assert_null(strchr(one, '\n'));
	assert_null(strstr(one, "\": "));

	assert_int_equal(store_load_report_data(f->st, "2026-03-01", "example.com", &rd, err,
	    sizeof(err)), 0);
	pretty = build_rd(&rd, true);
	report_data_free(&rd);
	assert_non_null(strstr(pretty, "{\n  \"organization-name\": \"" ORG "\",\n"
	    "  \"date-range\": {\n    \"start-datetime\": \"2026-03-01T00:00:00Z\",\n"));
	flat = squeeze(pretty);
	assert_string_equal(flat, one);
	free(flat);
	free(one);
	free(two);
	free(pretty);
}

/* ---- gzip ---------------------------------------------------------------- */

static char *gunzip(const unsigned char *gz, size_t len, size_t *outlen)
{
	size_t cap = 1 << 16;
	char *out = xmalloc(cap);
	z_stream zs;
	int rc;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)gz;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	rc = inflate(&zs, Z_FINISH);
	assert_int_equal(rc, Z_STREAM_END);
	assert_int_equal(zs.avail_in, 0);	/* nothing after the gzip member */
	*outlen = zs.total_out;
	inflateEnd(&zs);
	return out;
}

static void test_R18_gzip_roundtrip_and_reproducible(void **state)
{
	struct fixture *f = *state;
	unsigned char *gz1, *gz2, *gz3;
	size_t len1, len2, len3, plain_len;
	char *json, *plain;

	add_dg(f, D_NOON, DG_STS_FULL, 1);
	add_dg(f, D_NOON, DG_STS_MIN, 1);
	json = report_of(f, "2026-03-01", "example.com");
	assert_int_equal(report_gzip(json, strlen(json), &gz1, &len1), 0);
	assert_int_equal(report_gzip(json, strlen(json), &gz2, &len2), 0);
	/* RFC 1952 header: magic, deflate, no flags, mtime 0 */
	assert_true(len1 > 18);
	assert_int_equal(gz1[0], 0x1f);
	assert_int_equal(gz1[1], 0x8b);
	assert_int_equal(gz1[2], 8);
	assert_int_equal(gz1[3], 0);
	assert_int_equal(gz1[4] | gz1[5] | gz1[6] | gz1[7], 0);
	/* reproducible: two runs, the same bytes */
	assert_int_equal(len1, len2);
	assert_memory_equal(gz1, gz2, len1);
	plain = gunzip(gz1, len1, &plain_len);
	assert_int_equal(plain_len, strlen(json));
	assert_memory_equal(plain, json, plain_len);
	free(plain);

	/* an empty input is still a valid gzip member */
	assert_int_equal(report_gzip("", 0, &gz3, &len3), 0);
	plain = gunzip(gz3, len3, &plain_len);
	assert_int_equal(plain_len, 0);
	free(plain);
	free(gz1);
	free(gz2);
	free(gz3);
	free(json);
}

/* ---- bad stored data ------------------------------------------------------ */

static void expect_build_error(struct report_data *rd, const char *want)
{
	struct report_meta meta = {ORG, CONTACT, "id@" SUBMITTER};
	char err[512] = "";
	char *json = report_json_build(&meta, rd, false, err, sizeof(err));

	if (json != NULL)
		fail_msg("built despite bad data: %s", json);
	assert_string_equal(err, want);
	report_data_free(rd);
}

static void test_bad_stored_data(void **state)
{
	struct report_data rd;
	struct rd_policy *p;

	(void)state;
	rd_init(&rd, "2026-03-01", "example.com");
	rd_policy(&rd, POLICY_STS, "example.com", "not json", "[]", 1, 0);
	expect_build_error(&rd, "stored policy-string is not a JSON array: not json");

	rd_init(&rd, "2026-03-01", "example.com");
	rd_policy(&rd, POLICY_STS, "example.com", "{\"a\":1}", "[]", 1, 0);
	expect_build_error(&rd, "stored policy-string is not a JSON array: {\"a\":1}");

	rd_init(&rd, "2026-03-01", "example.com");
	rd_policy(&rd, POLICY_STS, "example.com", "[\"version: STSv1\"]", "[1]", 1, 0);
	expect_build_error(&rd, "stored mx-host has a non-string element");

	rd_init(&rd, "2026-03-01", "example.com");
	rd_policy(&rd, POLICY_STS, "example.com", "[]", "\"mx.example.com\"", 1, 0);
	expect_build_error(&rd, "stored mx-host is not a JSON array: \"mx.example.com\"");

	/* a bad second policy: nothing at all, not half a report */
	rd_init(&rd, "2026-03-01", "example.com");
	rd_policy(&rd, POLICY_TLSA, "mx.example.com", "[\"3 1 1 AA\"]", "[]", 1, 0);
	p = rd_policy(&rd, 7, "example.com", "[]", "[]", 0, 1);
	rd_failure(p, 201, "192.0.2.1", NULL, NULL, NULL, NULL, NULL, 1);
	expect_build_error(&rd, "stored policy type 7 is unknown");

	rd_init(&rd, "2026-02-30", "example.com");
	rd_policy(&rd, POLICY_NONE, "example.com", "[]", "[]", 1, 0);
	expect_build_error(&rd, "not a day: 2026-02-30");
}

/* ---- store order ---------------------------------------------------------- */

/* R9: each (day, domain) once, in order: what build walks through. */
static void collect(void *ctx, const char *day, const char *domain)
{
	strbuf_printf(ctx, "%s %s\n", day, domain);
}

static void test_R9_one_report_per_domain_and_day(void **state)
{
	struct fixture *f = *state;
	struct strbuf sb;
	char err[256] = "";

	strbuf_init(&sb);
	strbuf_appends(&sb, "");
	add_dg(f, D1_FIRST, DG_NONE_OK("b.example"), 1);
	add_dg(f, D_LAST, DG_NONE_OK("b.example"), 1);
	add_dg(f, D_NOON, DG_NONE_OK("a.example"), 3);
	add_dg(f, D_NOON, DG_ORDER, 1);
	commit(f);
	assert_int_equal(store_each_unbuilt(f->st, "2026-03-03", NULL, NULL, collect, &sb, err,
	    sizeof(err)), 4);
	assert_string_equal(sb.data, "2026-03-01 a.example\n2026-03-01 b.example\n"
	    "2026-03-01 multi.example\n2026-03-02 b.example\n");
	strbuf_reset(&sb);
	strbuf_appends(&sb, "");
	/* days before "before_day" only: D+1 is not finished */
	assert_int_equal(store_each_unbuilt(f->st, "2026-03-02", NULL, NULL, collect, &sb, err,
	    sizeof(err)), 3);
	assert_string_equal(sb.data, "2026-03-01 a.example\n2026-03-01 b.example\n"
	    "2026-03-01 multi.example\n");
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_R10_R11_golden_no_policy_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_R16_google_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_R12_R16_R29_golden_sts_two_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_R29_golden_tlsa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_R11_golden_policy_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_R13_every_result_type_name, setup, teardown),
		cmocka_unit_test(test_R13_R28_unnamed_codes_dropped),
		cmocka_unit_test_setup_teardown(test_R14_details_exceed_failure_total, setup, teardown),
		cmocka_unit_test(test_R28_no_empty_values),
		cmocka_unit_test_setup_teardown(test_R31_canonical_addresses_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_R8_utc_day_boundary, setup, teardown),
		cmocka_unit_test(test_R8_report_day_start),
		cmocka_unit_test(test_R9_report_id),
		cmocka_unit_test_setup_teardown(test_R9_one_report_per_domain_and_day, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotent_and_pretty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_R18_gzip_roundtrip_and_reproducible, setup, teardown),
		cmocka_unit_test(test_bad_stored_data),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
