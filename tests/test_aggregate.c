/*
 * NAME
 *	test_aggregate - unit tests of common/aggregate.c
 * DESCRIPTION
 *	Sessions are built by parsing datagram text with dg_parse() (or by
 *	hand where a field must be NULL or ""), added to aggregates, and the
 *	resulting entries checked one by one: counts per (day, domain,
 *	policy), per failure shape, record texts, input counters, merging.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "aggregate.h"
#include "datagram.h"
#include "session.h"

#define DAY1_LAST 1710028799LL	/* 2024-03-09T23:59:59Z */
#define DAY2_FIRST 1710028800LL	/* 2024-03-10T00:00:00Z */
#define DAY2_NOON 1710072000LL	/* 2024-03-10T12:00:00Z */

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

/* Parse a datagram received at "when" and add it to a. */
static void add_dg(struct aggregate *a, long long when, const char *text)
{
	struct tlsrpt_session s;
	char err[256] = "";
	enum dg_status st = dg_parse(&arena, text, strlen(text), when, &s, err, sizeof(err));

	if (st != DG_OK)
		fail_msg("datagram rejected: %s: %s", dg_status_name(st), err);
	aggregate_add_session(a, &s);
	session_free(&s);
}

/* One policy of domain "d"; body is the policy object's members. */
#define DG_FOR(d, pol) "{\"dpv\":\"1\",\"d\":\"" d "\",\"policies\":[{" pol "}]}"
#define DG(pol) DG_FOR("example.com", pol)
#define OK_TLSA "\"policy-type\":1,\"policy-string\":[\"3 1 1 AA\"],\"t\":0,\"f\":0"
#define FAIL_STS(details, t) "\"policy-type\":2,\"policy-string\":[\"mode: enforce\"]," \
	"\"mx-host\":[\"mx.example.com\"],\"failure-details\":[" details "],\"t\":" #t ",\"f\":1"
#define DETAIL "{\"c\":205,\"s\":\"192.0.2.1\",\"n\":\"mx.example.com\",\"h\":\"mx\"," \
	"\"r\":\"198.51.100.1\",\"a\":\"info\",\"f\":\"reason\"}"

/* Every entry type starts with the chain and list links. */
struct entry_head {
	void *next;
	struct entry_head *list;
};

static size_t count_list(const struct agg_table *t)
{
	size_t n = 0;

	AGG_FOREACH(t, struct entry_head, e)
		n++;
	return n;
}

static struct agg_policy *find_policy(const struct aggregate *a, const char *day,
    const char *domain, int type)
{
	AGG_FOREACH(&a->policies, struct agg_policy, p)
		if (strcmp(p->day, day) == 0 && strcmp(p->domain, domain) == 0 && p->type == type)
			return p;
	return NULL;
}

static struct agg_failure *find_failure(const struct aggregate *a, int result_type,
    const char *sending_ip)
{
	AGG_FOREACH(&a->failures, struct agg_failure, f)
		if (f->result_type == result_type && (sending_ip == NULL ? f->sending_ip == NULL :
		    (f->sending_ip != NULL && strcmp(f->sending_ip, sending_ip) == 0)))
			return f;
	return NULL;
}

static struct agg_record *find_record(const struct aggregate *a, const char *day,
    const char *domain)
{
	AGG_FOREACH(&a->records, struct agg_record, r)
		if (strcmp(r->day, day) == 0 && strcmp(r->domain, domain) == 0)
			return r;
	return NULL;
}

static struct agg_counter *find_counter(const struct aggregate *a, const char *day,
    const char *name)
{
	AGG_FOREACH(&a->counters, struct agg_counter, c)
		if (strcmp(c->day, day) == 0 && strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* ---- adding sessions ---------------------------------------------- */

static void test_init_empty(void **state)
{
	struct aggregate a;

	(void)state;
	aggregate_init(&a);
	assert_true(aggregate_empty(&a));
	assert_int_equal(aggregate_keys(&a), 0);
	assert_int_equal(a.sessions, 0);
	assert_int_equal(a.policy_results, 0);
	assert_null(a.policies.head);
	aggregate_free(&a);
}

static void test_success_failure_counts(void **state)
{
	struct aggregate a;
	struct agg_policy *p;

	(void)state;
	aggregate_init(&a);
	for (int i = 0; i < 3; i++)
		add_dg(&a, DAY2_NOON, DG("\"policy-type\":9,\"t\":0,\"f\":0"));
	for (int i = 0; i < 2; i++)
		add_dg(&a, DAY2_NOON, DG("\"policy-type\":9,\"t\":0,\"f\":1"));
	assert_int_equal(a.policies.count, 1);
	p = find_policy(&a, "2024-03-10", "example.com", POLICY_NONE);
	assert_non_null(p);
	assert_int_equal(p->successes, 3);
	assert_int_equal(p->failures, 2);
	assert_string_equal(p->policy_domain, "example.com");
	assert_string_equal(p->policy_strings, "[]");
	assert_string_equal(p->mx_hosts, "[]");
	assert_int_equal(a.failures.count, 0);
	assert_int_equal(a.sessions, 5);
	assert_int_equal(a.policy_results, 5);
	aggregate_free(&a);
}

static void test_failure_detail_counts(void **state)
{
	struct aggregate a;
	struct agg_failure *f;

	(void)state;
	aggregate_init(&a);
	add_dg(&a, DAY2_NOON, DG(FAIL_STS(DETAIL, 1)));
	add_dg(&a, DAY2_NOON, DG(FAIL_STS(DETAIL, 1)));
	assert_int_equal(a.policies.count, 1);
	assert_int_equal(a.failures.count, 1);
	f = a.failures.head;
	assert_int_equal(f->count, 2);
	assert_int_equal(f->result_type, 205);
	assert_string_equal(f->sending_ip, "192.0.2.1");
	assert_string_equal(f->mx_name, "mx.example.com");
	assert_string_equal(f->helo, "mx");
	assert_string_equal(f->receiving_ip, "198.51.100.1");
	assert_string_equal(f->additional, "info");
	assert_string_equal(f->reason, "reason");
	assert_ptr_equal(f->policy, a.policies.head);
	assert_int_equal(f->policy->failures, 2);
	assert_string_equal(f->policy->policy_strings, "[\"mode: enforce\"]");
	assert_string_equal(f->policy->mx_hosts, "[\"mx.example.com\"]");
	aggregate_free(&a);
}

/* Two details in one policy result: one session, one count per shape. */
static void test_two_details_one_session(void **state)
{
	struct aggregate a;

	(void)state;
	aggregate_init(&a);
	add_dg(&a, DAY2_NOON, DG(FAIL_STS("{\"c\":202,\"s\":\"a\"},{\"c\":203,\"s\":\"a\"}", 2)));
	add_dg(&a, DAY2_NOON, DG(FAIL_STS("{\"c\":203,\"s\":\"a\"}", 1)));
	assert_int_equal(a.policies.count, 1);
	assert_int_equal(((struct agg_policy *)a.policies.head)->failures, 2);
	assert_int_equal(a.failures.count, 2);
	assert_int_equal(find_failure(&a, 202, "a")->count, 1);
	assert_int_equal(find_failure(&a, 203, "a")->count, 2);
	aggregate_free(&a);
}

/* A detail differing from DETAIL in exactly one field is a different shape. */
static void test_failure_fields_distinguish(void **state)
{
	static const char *const variants[] = {
		"{\"c\":204,\"s\":\"192.0.2.1\",\"n\":\"mx.example.com\",\"h\":\"mx\","
		    "\"r\":\"198.51.100.1\",\"a\":\"info\",\"f\":\"reason\"}",
		"{\"c\":205,\"s\":\"192.0.2.2\",\"n\":\"mx.example.com\",\"h\":\"mx\","
		    "\"r\":\"198.51.100.1\",\"a\":\"info\",\"f\":\"reason\"}",
		"{\"c\":205,\"s\":\"192.0.2.1\",\"n\":\"mx2.example.com\",\"h\":\"mx\","
		    "\"r\":\"198.51.100.1\",\"a\":\"info\",\"f\":\"reason\"}",
		"{\"c\":205,\"s\":\"192.0.2.1\",\"n\":\"mx.example.com\",\"h\":\"mx2\","
		    "\"r\":\"198.51.100.1\",\"a\":\"info\",\"f\":\"reason\"}",
		"{\"c\":205,\"s\":\"192.0.2.1\",\"n\":\"mx.example.com\",\"h\":\"mx\","
		    "\"r\":\"198.51.100.2\",\"a\":\"info\",\"f\":\"reason\"}",
		"{\"c\":205,\"s\":\"192.0.2.1\",\"n\":\"mx.example.com\",\"h\":\"mx\","
		    "\"r\":\"198.51.100.1\",\"a\":\"info2\",\"f\":\"reason\"}",
		"{\"c\":205,\"s\":\"192.0.2.1\",\"n\":\"mx.example.com\",\"h\":\"mx\","
		    "\"r\":\"198.51.100.1\",\"a\":\"info\",\"f\":\"reason2\"}",
		/* the same bytes split differently across two fields */
		"{\"c\":205,\"s\":\"192.0.2.1\",\"n\":\"mx.example.comm\",\"h\":\"x\","
		    "\"r\":\"198.51.100.1\",\"a\":\"info\",\"f\":\"reason\"}",
	};
	char text[1024];
	struct aggregate a;

	(void)state;
	aggregate_init(&a);
	add_dg(&a, DAY2_NOON, DG(FAIL_STS(DETAIL, 1)));
	add_dg(&a, DAY2_NOON, DG(FAIL_STS(DETAIL, 1)));
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		snprintf(text, sizeof(text), DG(FAIL_STS("%s", 1)), variants[i]);
		add_dg(&a, DAY2_NOON, text);
	}
	assert_int_equal(a.policies.count, 1);
	assert_int_equal(((struct agg_policy *)a.policies.head)->failures, 10);
	assert_int_equal(a.failures.count, 9);
	AGG_FOREACH(&a.failures, struct agg_failure, f)
		assert_int_equal(f->count, strcmp(f->mx_name, "mx.example.com") == 0 &&
		    strcmp(f->helo, "mx") == 0 && f->result_type == 205 &&
		    strcmp(f->sending_ip, "192.0.2.1") == 0 &&
		    strcmp(f->receiving_ip, "198.51.100.1") == 0 &&
		    strcmp(f->additional, "info") == 0 && strcmp(f->reason, "reason") == 0 ? 2 : 1);
	aggregate_free(&a);
}

static void test_policy_fields_distinguish(void **state)
{
	struct aggregate a;

	(void)state;
	aggregate_init(&a);
	add_dg(&a, DAY2_NOON, DG("\"policy-type\":2,\"t\":0,\"f\":0"));
	add_dg(&a, DAY2_NOON, DG("\"policy-type\":2,\"t\":0,\"f\":0"));
	add_dg(&a, DAY2_NOON, DG("\"policy-type\":1,\"t\":0,\"f\":0"));
	add_dg(&a, DAY2_NOON, DG("\"policy-type\":2,\"policy-domain\":\"mx.example.com\","
	    "\"t\":0,\"f\":0"));
	add_dg(&a, DAY2_NOON, DG("\"policy-type\":2,\"policy-string\":[\"x\"],\"t\":0,\"f\":0"));
	add_dg(&a, DAY2_NOON, DG("\"policy-type\":2,\"mx-host\":[\"x\"],\"t\":0,\"f\":0"));
	add_dg(&a, DAY2_NOON, DG_FOR("example.net", "\"policy-type\":2,\"t\":0,\"f\":0"));
	add_dg(&a, DAY1_LAST, DG("\"policy-type\":2,\"t\":0,\"f\":0"));
	assert_int_equal(a.policies.count, 7);
	assert_int_equal(count_list(&a.policies), 7);
	assert_int_equal(a.sessions, 8);
	AGG_FOREACH(&a.policies, struct agg_policy, p)
		assert_int_equal(p->successes, p->type == 2 && strcmp(p->day, "2024-03-10") == 0 &&
		    strcmp(p->domain, "example.com") == 0 &&
		    strcmp(p->policy_domain, "example.com") == 0 &&
		    strcmp(p->policy_strings, "[]") == 0 && strcmp(p->mx_hosts, "[]") == 0 ? 2 : 1);
	aggregate_free(&a);
}

/* A session built by hand: one failed STS policy with one detail. */
struct hand_session {
	struct tlsrpt_session s;
	struct tlsrpt_policy_result p;
	struct tlsrpt_failure f;
};

static void hand_init(struct hand_session *h, char *pdomain, char *pstrings, char *mx)
{
	memset(h, 0, sizeof(*h));
	h->s.when = DAY2_NOON;
	h->s.domain = (char *)"example.com";
	h->s.npolicies = 1;
	h->s.policies = &h->p;
	h->p.type = POLICY_STS;
	h->p.policy_domain = pdomain;
	h->p.policy_strings = pstrings;
	h->p.mx_hosts = mx;
	h->p.failed = true;
	h->p.nfailures = 1;
	h->p.failures = &h->f;
	h->f.result_type = RESULT_CERTIFICATE_EXPIRED;
}

static void test_empty_and_null_failure_fields(void **state)
{
	struct hand_session h1, h2;
	struct aggregate a;
	struct agg_failure *f;

	(void)state;
	aggregate_init(&a);
	hand_init(&h1, (char *)"example.com", (char *)"[]", (char *)"[]");
	hand_init(&h2, (char *)"example.com", (char *)"[]", (char *)"[]");
	h2.f.sending_ip = h2.f.mx_name = h2.f.helo = (char *)"";
	h2.f.receiving_ip = h2.f.additional = h2.f.reason = (char *)"";
	aggregate_add_session(&a, &h1.s);
	aggregate_add_session(&a, &h2.s);
	aggregate_add_session(&a, &h1.s);
	/* and the same through the parser */
	add_dg(&a, DAY2_NOON, DG("\"policy-type\":2,\"failure-details\":[{\"c\":204,\"s\":\"\","
	    "\"n\":\"\",\"h\":null,\"a\":\"\"}],\"t\":1,\"f\":1"));
	assert_int_equal(a.policies.count, 1);
	assert_int_equal(a.failures.count, 1);
	f = a.failures.head;
	assert_int_equal(f->count, 4);
	assert_null(f->sending_ip);
	assert_null(f->mx_name);
	assert_null(f->helo);
	assert_null(f->receiving_ip);
	assert_null(f->additional);
	assert_null(f->reason);
	aggregate_free(&a);
}

/* Absent, empty and explicit-default policy fields are one policy. */
static void test_empty_and_null_policy_fields(void **state)
{
	struct hand_session h1, h2, h3;
	struct aggregate a;
	struct agg_policy *p;

	(void)state;
	aggregate_init(&a);
	hand_init(&h1, NULL, NULL, NULL);
	hand_init(&h2, (char *)"", (char *)"", (char *)"");
	hand_init(&h3, (char *)"example.com", (char *)"[]", (char *)"[]");
	aggregate_add_session(&a, &h2.s);
	aggregate_add_session(&a, &h1.s);
	aggregate_add_session(&a, &h3.s);
	assert_int_equal(a.policies.count, 1);
	p = a.policies.head;
	assert_int_equal(p->failures, 3);
	assert_string_equal(p->policy_domain, "example.com");
	assert_string_equal(p->policy_strings, "[]");
	assert_string_equal(p->mx_hosts, "[]");
	assert_int_equal(a.failures.count, 1);
	assert_int_equal(((struct agg_failure *)a.failures.head)->count, 3);
	aggregate_free(&a);
}

static void test_unfinished_901_skipped(void **state)
{
	struct aggregate a;
	struct agg_policy *p;

	(void)state;
	aggregate_init(&a);
	add_dg(&a, DAY2_NOON, DG(FAIL_STS("{\"c\":901},{\"c\":205,\"s\":\"a\"}", 2)));
	add_dg(&a, DAY2_NOON, DG(FAIL_STS("{\"c\":901,\"s\":\"a\"}", 1)));
	assert_int_equal(a.policies.count, 1);
	p = a.policies.head;
	assert_int_equal(p->failures, 2);
	assert_int_equal(p->successes, 0);
	assert_int_equal(a.failures.count, 1);
	assert_int_equal(find_failure(&a, 205, "a")->count, 1);
	assert_null(find_failure(&a, 901, "a"));
	assert_null(find_failure(&a, 901, NULL));
	aggregate_free(&a);
}

static void test_utc_day_boundary(void **state)
{
	struct aggregate a;
	struct agg_policy *p1, *p2;

	(void)state;
	aggregate_init(&a);
	add_dg(&a, DAY1_LAST, DG(FAIL_STS(DETAIL, 1)));
	add_dg(&a, DAY2_FIRST, DG(FAIL_STS(DETAIL, 1)));
	add_dg(&a, DAY2_NOON, DG(FAIL_STS(DETAIL, 1)));
	assert_int_equal(a.policies.count, 2);
	p1 = find_policy(&a, "2024-03-09", "example.com", POLICY_STS);
	p2 = find_policy(&a, "2024-03-10", "example.com", POLICY_STS);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_int_equal(p1->failures, 1);
	assert_int_equal(p2->failures, 2);
	assert_int_equal(a.failures.count, 2);
	AGG_FOREACH(&a.failures, struct agg_failure, f)
		assert_int_equal(f->count, f->policy == p1 ? 1 : 2);
	aggregate_free(&a);
}

static void test_records_latest_wins(void **state)
{
	struct aggregate a;

	(void)state;
	aggregate_init(&a);
	add_dg(&a, DAY2_FIRST, "{\"dpv\":\"1\",\"d\":\"example.com\",\"pr\":\"v=TLSRPTv1; rua=A\","
	    "\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
	add_dg(&a, DAY2_NOON, "{\"dpv\":\"1\",\"d\":\"example.com\",\"pr\":\"v=TLSRPTv1; rua=B\","
	    "\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
	add_dg(&a, DAY2_NOON, "{\"dpv\":\"1\",\"d\":\"example.com\",\"pr\":\"\","
	    "\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
	add_dg(&a, DAY2_NOON, DG("\"policy-type\":9,\"t\":0,\"f\":0"));
	add_dg(&a, DAY1_LAST, "{\"dpv\":\"1\",\"d\":\"example.com\",\"pr\":\"v=TLSRPTv1; rua=C\","
	    "\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
	add_dg(&a, DAY2_NOON, "{\"dpv\":\"1\",\"d\":\"example.net\",\"pr\":\"v=TLSRPTv1; rua=D\","
	    "\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
	assert_int_equal(a.records.count, 3);
	assert_string_equal(find_record(&a, "2024-03-10", "example.com")->record, "v=TLSRPTv1; rua=B");
	assert_string_equal(find_record(&a, "2024-03-09", "example.com")->record, "v=TLSRPTv1; rua=C");
	assert_string_equal(find_record(&a, "2024-03-10", "example.net")->record, "v=TLSRPTv1; rua=D");
	assert_int_equal(a.sessions, 6);
	aggregate_free(&a);
}

static void test_count(void **state)
{
	struct aggregate a;

	(void)state;
	aggregate_init(&a);
	aggregate_count(&a, DAY1_LAST, "dg_ok", 3);
	aggregate_count(&a, DAY1_LAST, "dg_ok", 2);
	aggregate_count(&a, DAY2_FIRST, "dg_ok", 1);
	aggregate_count(&a, DAY1_LAST, "not_json", 1);
	aggregate_count(&a, DAY1_LAST, "not_json", 0);
	aggregate_count(&a, DAY1_LAST - 86399, "dg_ok", 10);	/* 00:00:00 of day 1 */
	assert_int_equal(a.counters.count, 3);
	assert_int_equal(find_counter(&a, "2024-03-09", "dg_ok")->value, 15);
	assert_int_equal(find_counter(&a, "2024-03-10", "dg_ok")->value, 1);
	assert_int_equal(find_counter(&a, "2024-03-09", "not_json")->value, 1);
	assert_null(find_counter(&a, "2024-03-10", "not_json"));
	assert_int_equal(aggregate_keys(&a), 3);
	assert_false(aggregate_empty(&a));
	assert_int_equal(a.sessions, 0);
	aggregate_free(&a);
}

static void test_keys(void **state)
{
	struct aggregate a;

	(void)state;
	aggregate_init(&a);
	add_dg(&a, DAY2_NOON, "{\"dpv\":\"1\",\"d\":\"example.com\",\"pr\":\"v=TLSRPTv1; rua=A\","
	    "\"policies\":[{" FAIL_STS(DETAIL ",{\"c\":201}", 2) "},{" OK_TLSA "}]}");
	assert_int_equal(a.policies.count, 2);
	assert_int_equal(a.failures.count, 2);
	assert_int_equal(a.records.count, 1);
	aggregate_count(&a, DAY2_NOON, "dg_ok", 1);
	assert_int_equal(aggregate_keys(&a), 6);
	assert_int_equal(a.sessions, 1);
	assert_int_equal(a.policy_results, 2);
	aggregate_clear(&a);
	assert_true(aggregate_empty(&a));
	assert_int_equal(a.sessions, 0);
	add_dg(&a, DAY2_NOON, DG(OK_TLSA));
	assert_int_equal(aggregate_keys(&a), 1);
	aggregate_free(&a);
}

/* Enough distinct keys to make every table grow several times. */
static void test_many_keys(void **state)
{
	char text[256], name[32];
	struct aggregate a;

	(void)state;
	aggregate_init(&a);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 600; i++) {
			snprintf(text, sizeof(text), DG_FOR("d%d.example", FAIL_STS(DETAIL, 1)), i);
			add_dg(&a, DAY2_NOON, text);
			snprintf(name, sizeof(name), "counter%d", i);
			aggregate_count(&a, DAY2_NOON, name, 1);
		}
	}
	assert_int_equal(a.policies.count, 600);
	assert_int_equal(a.failures.count, 600);
	assert_int_equal(a.counters.count, 600);
	assert_int_equal(aggregate_keys(&a), 1800);
	assert_int_equal(count_list(&a.failures), 600);
	AGG_FOREACH(&a.policies, struct agg_policy, p)
		assert_int_equal(p->failures, 2);
	AGG_FOREACH(&a.failures, struct agg_failure, f)
		assert_int_equal(f->count, 2);
	assert_int_equal(find_counter(&a, "2024-03-10", "counter599")->value, 2);
	assert_non_null(find_policy(&a, "2024-03-10", "d0.example", POLICY_STS));
	aggregate_free(&a);
}

/* ---- merging ------------------------------------------------------ */

static void fill_dst(struct aggregate *dst)
{
	add_dg(dst, DAY2_NOON, "{\"dpv\":\"1\",\"d\":\"example.com\",\"pr\":\"old\","
	    "\"policies\":[{" FAIL_STS("{\"c\":205,\"s\":\"a\"}", 1) "}]}");
	add_dg(dst, DAY2_NOON, DG(FAIL_STS("{\"c\":205,\"s\":\"a\"}", 1)));
	add_dg(dst, DAY2_NOON, DG(FAIL_STS("{\"c\":901}", 1)));
	aggregate_count(dst, DAY2_NOON, "dg_ok", 3);
	aggregate_count(dst, DAY2_NOON, "only_dst", 7);
}

static void fill_src(struct aggregate *src)
{
	add_dg(src, DAY2_NOON, "{\"dpv\":\"1\",\"d\":\"example.com\",\"pr\":\"new\","
	    "\"policies\":[{" FAIL_STS("{\"c\":205,\"s\":\"a\"},{\"c\":304,\"s\":\"b\"}", 2) "}]}");
	add_dg(src, DAY2_NOON, "{\"dpv\":\"1\",\"d\":\"example.net\",\"pr\":\"net\","
	    "\"policies\":[{" OK_TLSA "}]}");
	add_dg(src, DAY2_NOON, DG_FOR("example.net", OK_TLSA));
	aggregate_count(src, DAY2_NOON, "dg_ok", 4);
	aggregate_count(src, DAY1_LAST, "dg_ok", 1);
}

static void test_merge_counts(void **state)
{
	struct aggregate dst, src;
	struct agg_policy *pc, *pn;

	(void)state;
	aggregate_init(&dst);
	aggregate_init(&src);
	fill_dst(&dst);
	fill_src(&src);
	aggregate_merge(&dst, &src);
	assert_int_equal(dst.policies.count, 2);
	pc = find_policy(&dst, "2024-03-10", "example.com", POLICY_STS);
	pn = find_policy(&dst, "2024-03-10", "example.net", POLICY_TLSA);
	assert_int_equal(pc->failures, 4);
	assert_int_equal(pc->successes, 0);
	assert_int_equal(pn->successes, 2);
	assert_int_equal(pn->failures, 0);
	assert_int_equal(dst.sessions, 6);
	assert_int_equal(dst.policy_results, 6);
	assert_int_equal(dst.counters.count, 3);
	assert_int_equal(find_counter(&dst, "2024-03-10", "dg_ok")->value, 7);
	assert_int_equal(find_counter(&dst, "2024-03-10", "only_dst")->value, 7);
	assert_int_equal(find_counter(&dst, "2024-03-09", "dg_ok")->value, 1);
	assert_int_equal(aggregate_keys(&dst), 2 + 2 + 2 + 3);
	aggregate_free(&dst);
	aggregate_free(&src);
}

static void test_merge_failures_point_into_dst(void **state)
{
	struct aggregate dst, src;
	struct agg_failure *f205, *f304;
	struct agg_policy *pc;

	(void)state;
	aggregate_init(&dst);
	aggregate_init(&src);
	fill_dst(&dst);
	fill_src(&src);
	aggregate_merge(&dst, &src);
	pc = find_policy(&dst, "2024-03-10", "example.com", POLICY_STS);
	assert_int_equal(dst.failures.count, 2);
	f205 = find_failure(&dst, 205, "a");
	f304 = find_failure(&dst, 304, "b");
	assert_int_equal(f205->count, 3);
	assert_int_equal(f304->count, 1);
	/* src's policy entry was absorbed: its failure must now hang off dst's */
	assert_ptr_equal(f205->policy, pc);
	assert_ptr_equal(f304->policy, pc);
	assert_string_equal(f304->policy->domain, "example.com");
	aggregate_free(&dst);
	aggregate_free(&src);
}

static void test_merge_records_latest_wins(void **state)
{
	struct aggregate dst, src;

	(void)state;
	aggregate_init(&dst);
	aggregate_init(&src);
	fill_dst(&dst);
	fill_src(&src);
	aggregate_merge(&dst, &src);
	assert_int_equal(dst.records.count, 2);
	assert_string_equal(find_record(&dst, "2024-03-10", "example.com")->record, "new");
	assert_string_equal(find_record(&dst, "2024-03-10", "example.net")->record, "net");
	aggregate_free(&dst);
	aggregate_free(&src);
}

static void test_merge_leaves_src_reusable(void **state)
{
	struct aggregate dst, src;

	(void)state;
	aggregate_init(&dst);
	aggregate_init(&src);
	fill_dst(&dst);
	fill_src(&src);
	aggregate_merge(&dst, &src);
	assert_true(aggregate_empty(&src));
	assert_int_equal(aggregate_keys(&src), 0);
	assert_int_equal(src.sessions, 0);
	assert_int_equal(src.policy_results, 0);
	assert_null(src.policies.head);
	/* refill and merge again: every count adds once more */
	fill_src(&src);
	assert_int_equal(aggregate_keys(&src), 2 + 2 + 2 + 2);
	aggregate_merge(&dst, &src);
	assert_int_equal(find_policy(&dst, "2024-03-10", "example.com", POLICY_STS)->failures, 5);
	assert_int_equal(find_failure(&dst, 205, "a")->count, 4);
	assert_int_equal(find_failure(&dst, 304, "b")->count, 2);
	assert_int_equal(find_counter(&dst, "2024-03-10", "dg_ok")->value, 11);
	assert_int_equal(dst.sessions, 9);
	assert_int_equal(aggregate_keys(&dst), 9);
	aggregate_free(&dst);
	aggregate_free(&src);
}

static void test_merge_into_empty_and_from_empty(void **state)
{
	struct aggregate dst, src;

	(void)state;
	aggregate_init(&dst);
	aggregate_init(&src);
	fill_src(&src);
	aggregate_merge(&dst, &src);	/* all disjoint: entries move */
	assert_int_equal(aggregate_keys(&dst), 8);
	assert_int_equal(find_failure(&dst, 304, "b")->count, 1);
	assert_ptr_equal(find_failure(&dst, 304, "b")->policy,
	    find_policy(&dst, "2024-03-10", "example.com", POLICY_STS));
	aggregate_merge(&dst, &src);	/* src is empty now */
	assert_int_equal(aggregate_keys(&dst), 8);
	assert_int_equal(dst.sessions, 3);
	aggregate_free(&dst);
	aggregate_free(&src);
}

/* Merging large aggregates makes dst's tables grow in the middle of a merge. */
static void test_merge_large(void **state)
{
	struct aggregate dst, src;
	char text[256];

	(void)state;
	aggregate_init(&dst);
	aggregate_init(&src);
	for (int i = 0; i < 300; i++) {
		snprintf(text, sizeof(text), DG_FOR("d%d.example", FAIL_STS(DETAIL, 1)), i);
		add_dg(i % 2 ? &dst : &src, DAY2_NOON, text);
		add_dg(&src, DAY2_NOON, text);
	}
	aggregate_merge(&dst, &src);
	assert_int_equal(dst.policies.count, 300);
	assert_int_equal(dst.failures.count, 300);
	assert_int_equal(dst.sessions, 600);
	AGG_FOREACH(&dst.failures, struct agg_failure, f) {
		assert_int_equal(f->count, 2);
		assert_int_equal(f->policy->failures, 2);
	}
	aggregate_free(&dst);
	aggregate_free(&src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_empty),
		cmocka_unit_test(test_success_failure_counts),
		cmocka_unit_test(test_failure_detail_counts),
		cmocka_unit_test(test_two_details_one_session),
		cmocka_unit_test(test_failure_fields_distinguish),
		cmocka_unit_test(test_policy_fields_distinguish),
		cmocka_unit_test(test_empty_and_null_failure_fields),
		cmocka_unit_test(test_empty_and_null_policy_fields),
		cmocka_unit_test(test_unfinished_901_skipped),
		cmocka_unit_test(test_utc_day_boundary),
		cmocka_unit_test(test_records_latest_wins),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_merge_counts),
		cmocka_unit_test(test_merge_failures_point_into_dst),
		cmocka_unit_test(test_merge_records_latest_wins),
		cmocka_unit_test(test_merge_leaves_src_reusable),
		cmocka_unit_test(test_merge_into_empty_and_from_empty),
		cmocka_unit_test(test_merge_large),
	};

	return cmocka_run_group_tests(tests, arena_setup, arena_teardown);
}
