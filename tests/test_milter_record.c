/*
 * NAME
 *	test_milter_record - unit tests of the milter input's records
 * DESCRIPTION
 *	milter/milter_input.c without an MTA: the recipient and header
 *	domain parsers, the child's per-message bookkeeping (deduplication,
 *	the per-message limit, reset), the record encoder round-tripped
 *	through the daemon's decoder into an input batch, and the decoder's
 *	strictness: every truncation, bit flip and random byte string is
 *	either a valid record or counted as invalid, never a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "log.h"
#include "milter_record.h"
#include "report_mails.h"
#include "writer.h"

#define NOON 1710072000LL	/* 2024-03-10T12:00:00Z */
#define DAY "2024-03-10"

struct fixture {
	struct writer *w;
	struct input_batch *b;
	struct report_mails *rm;
	struct milter_msg *m;
	unsigned char buf[MR_MAX_RECORD];
};

static int setup(void **state)
{
	struct writer_settings ws = {1000, 1000000, 1000000, 1000};
	struct fixture *f = calloc(1, sizeof(*f));

	f->w = writer_create(NULL, &ws);	/* never started: only its batch bookkeeping */
	f->b = writer_new_batch(f->w, "milter");
	f->rm = report_mails_new();
	f->m = milter_record_msg_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	milter_record_msg_free(f->m);
	report_mails_free(f->rm);
	writer_free(f->w);
	free(f);
	return 0;
}

static uint64_t counter(const struct input_batch *b, const char *name)
{
	uint64_t v = 0;

	AGG_FOREACH(&b->agg.counters, struct agg_counter, c)
		if (strcmp(c->name, name) == 0 && strcmp(c->day, DAY) == 0)
			v += c->value;
	return v;
}

static uint64_t domain_count(const struct input_batch *b, const char *domain)
{
	uint64_t v = 0;

	AGG_FOREACH(&b->agg.dcounters, struct agg_dcounter, c)
		if (strcmp(c->domain, domain) == 0 && strcmp(c->name, "messages") == 0 &&
		    strcmp(c->day, DAY) == 0)
			v += c->value;
	return v;
}

static size_t ndomain_counters(const struct input_batch *b)
{
	return b->agg.dcounters.count;
}

static const char *report_mail_domain(const struct input_batch *b, const char *qid)
{
	AGG_FOREACH(&b->agg.report_mails, struct agg_state, s)
		if (strcmp(s->name, qid) == 0)
			return s->value;
	return NULL;
}

/* Encode every record of f->m and apply each; returns the number of records. */
static unsigned send_all(struct fixture *f, uint32_t dropped)
{
	unsigned next = 0, records = 0;
	bool first = true;

	while (first || next < milter_record_msg_domains(f->m)) {
		size_t len = milter_record_msg_encode(f->m, &next, first, dropped, f->buf,
		    sizeof(f->buf));
		const char *why = NULL;
		int event, type;

		assert_true(len > 0 && len <= MR_MAX_RECORD);
		type = milter_record_apply(f->w, f->b, f->rm, f->buf, len, NOON, &event, &why);
		if (type < 0)
			fail_msg("record %u rejected: %s", records, why);
		assert_int_equal(type, first ? MR_MESSAGE : MR_DOMAINS);
		assert_null(why);
		records++;
		dropped = 0;
		first = false;
	}
	return records;
}

/* ---- recipient domains ---------------------------------------------------- */

static void expect_domain(const char *addr, const char *want)
{
	char out[300];
	int rc = milter_record_rcpt_domain(addr, out, sizeof(out));

	if (want == NULL) {
		if (rc == 0)
			fail_msg("%s: expected no domain, got \"%s\"", addr, out);
		return;
	}
	if (rc != 0)
		fail_msg("%s: expected \"%s\", got none", addr, want);
	assert_string_equal(out, want);
}

static void test_rcpt_plain_forms(void **state)
{
	(void)state;
	expect_domain("<user@a.test>", "a.test");
	expect_domain("user@b.test", "b.test");
	expect_domain("  <user@c.test>  ", "c.test");
	expect_domain("<User@Mixed.CASE.Test>", "mixed.case.test");
	expect_domain("<user@trailing.dot.>", "trailing.dot");
	expect_domain("<user+tag@sub.d.test>", "sub.d.test");
	expect_domain("<u_s-e.r@under_score.test>", "under_score.test");
	expect_domain("<user@localhost>", "localhost");
	expect_domain("<user@b\xc3\xbc" "cher.test>", "b\xc3\xbc" "cher.test");
	/* malformed UTF-8 never reaches the store (truncated, lone continuation, overlong, surrogate) */
	expect_domain("<user@b\xc3.test>", NULL);
	expect_domain("<user@b\x80.test>", NULL);
	expect_domain("<user@\xc0\xaf.test>", NULL);
	expect_domain("<user@\xed\xa0\x80.test>", NULL);
	expect_domain("<user@\xf4\x90\x80\x80.test>", NULL);
	expect_domain("<user@\xf0\x9f\x93\xa7.test>", "\xf0\x9f\x93\xa7.test");
}

static void test_rcpt_quoted_local_parts(void **state)
{
	(void)state;
	expect_domain("<\"john doe\"@q.test>", "q.test");
	expect_domain("<\"at@inside\"@q2.test>", "q2.test");
	expect_domain("<\"esc\\\"aped@x\"@q3.test>", "q3.test");
	expect_domain("<\"back\\\\\"@q4.test>", "q4.test");
	expect_domain("<\"unterminated@q5.test>", NULL);
	expect_domain("<\"quoted\"q6.test>", NULL);
	expect_domain("<\"quoted\">", NULL);
}

static void test_rcpt_source_routes(void **state)
{
	(void)state;
	expect_domain("<@relay.test:user@r.test>", "r.test");
	expect_domain("<@r1.test,@r2.test:user@r2.example>", "r2.example");
	expect_domain("<@r1.test,@r2.test:\"a b\"@r3.example>", "r3.example");
	expect_domain("<@relay.without.colon>", NULL);
}

static void test_rcpt_no_domain(void **state)
{
	(void)state;
	expect_domain("<postmaster>", NULL);
	expect_domain("postmaster", NULL);
	expect_domain("<>", NULL);
	expect_domain("", NULL);
	expect_domain("   ", NULL);
	expect_domain(NULL, NULL);
	expect_domain("<user@>", NULL);
	expect_domain("<user@.>", NULL);
	expect_domain("<user@[192.0.2.1]>", NULL);
	expect_domain("<user@[IPv6:2001:db8::1]>", NULL);
}

static void test_rcpt_malformed(void **state)
{
	char label64[80], long_domain[300], max_domain[300];

	(void)state;
	expect_domain("<user@a..b.test>", NULL);
	expect_domain("<user@.a.test>", NULL);
	expect_domain("<user@a b.test>", NULL);
	expect_domain("<user@a.test", NULL);
	expect_domain("user@a.test>", NULL);
	expect_domain("<user@b@c.test>", NULL);
	expect_domain("<user@a/b.test>", NULL);
	expect_domain("<user@a\"b.test>", NULL);
	expect_domain("<user@a\x01" "b.test>", NULL);
	memset(label64, 'x', 64);
	strcpy(label64 + 64, ".test");
	{
		char addr[120];

		snprintf(addr, sizeof(addr), "<u@%s>", label64);
		expect_domain(addr, NULL);
		snprintf(addr, sizeof(addr), "<u@%s>", label64 + 1);	/* 63: fine */
		expect_domain(addr, label64 + 1);
	}
	/* 253 bytes is the limit: 63+1+63+1+63+1+61 */
	memset(max_domain, 'a', 253);
	max_domain[63] = max_domain[127] = max_domain[191] = '.';
	max_domain[253] = '\0';
	{
		char addr[320];

		snprintf(addr, sizeof(addr), "<u@%s>", max_domain);
		expect_domain(addr, max_domain);
		memcpy(long_domain, max_domain, 253);
		strcpy(long_domain + 253, "a");
		snprintf(addr, sizeof(addr), "<u@%s>", long_domain);
		expect_domain(addr, NULL);
	}
}

static void test_rcpt_output_too_small(void **state)
{
	char out[6];

	(void)state;
	assert_int_equal(milter_record_rcpt_domain("<u@abcdef.test>", out, sizeof(out)), -1);
	assert_int_equal(milter_record_rcpt_domain("<u@ab.cd>", out, sizeof(out)), 0);
	assert_string_equal(out, "ab.cd");
}

static void test_header_domain(void **state)
{
	char out[300];

	(void)state;
	assert_int_equal(milter_record_header_domain(" A.Test ", out, sizeof(out)), 0);
	assert_string_equal(out, "a.test");
	assert_int_equal(milter_record_header_domain("b.test.\r\n", out, sizeof(out)), 0);
	assert_string_equal(out, "b.test");
	assert_int_equal(milter_record_header_domain("", out, sizeof(out)), -1);
	assert_int_equal(milter_record_header_domain("a test", out, sizeof(out)), -1);
	assert_int_equal(milter_record_header_domain("<a.test>", out, sizeof(out)), -1);
	assert_int_equal(milter_record_header_domain("a.test, b.test", out, sizeof(out)), -1);
	assert_int_equal(milter_record_header_domain(NULL, out, sizeof(out)), -1);
}

/* ---- the child's bookkeeping ---------------------------------------------- */

static void test_msg_dedup_and_counts(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(milter_record_msg_rcpt(f->m, "<one@a.test>"), 1);
	assert_int_equal(milter_record_msg_rcpt(f->m, "<two@A.TEST>"), 0);
	assert_int_equal(milter_record_msg_rcpt(f->m, "<three@b.test>"), 1);
	assert_int_equal(milter_record_msg_rcpt(f->m, "<local>"), -1);
	assert_int_equal(milter_record_msg_rcpt(f->m, "<x@[192.0.2.7]>"), -1);
	assert_false(milter_record_msg_header(f->m, "Subject", "a.test"));
	assert_true(milter_record_msg_header(f->m, "tls-report-domain", " A.test "));
	assert_false(milter_record_msg_header(f->m, "TLS-Report-Domain", "other.test"));
	milter_record_msg_queue_id(f->m, "4AbC123");
	milter_record_msg_queue_id(f->m, "bad id!");	/* ignored: keeps the good one */
	milter_record_msg_queue_id(f->m, "");
	milter_record_msg_queue_id(f->m, NULL);

	assert_int_equal(send_all(f, 0), 1);
	assert_int_equal(counter(f->b, "milter.messages"), 1);
	assert_int_equal(counter(f->b, "milter.recipients_no_domain"), 2);
	assert_int_equal(counter(f->b, "milter.report_mails"), 1);
	assert_int_equal(ndomain_counters(f->b), 2);
	assert_int_equal(domain_count(f->b, "a.test"), 1);
	assert_int_equal(domain_count(f->b, "b.test"), 1);
	assert_string_equal(report_mail_domain(f->b, "4AbC123"), "a.test");
	assert_true(report_mails_contains(f->rm, "4AbC123"));
}

/* Report mail ids are forgotten after REPORT_MAILS_TTL: short Postfix queue ids come back. */
static void test_report_mails_expire(void **state)
{
	struct fixture *f = *state;

	report_mails_add(f->rm, "4OLD", 1000);
	report_mails_add(f->rm, "4MID", 1000 + REPORT_MAILS_TTL);
	assert_true(report_mails_contains(f->rm, "4OLD"));
	report_mails_add(f->rm, "4NEW", 1001 + REPORT_MAILS_TTL);
	assert_false(report_mails_contains(f->rm, "4OLD"));
	assert_true(report_mails_contains(f->rm, "4MID"));
	assert_true(report_mails_contains(f->rm, "4NEW"));
	assert_int_equal(report_mails_count(f->rm), 2);
}

static void test_msg_reset_between_messages(void **state)
{
	struct fixture *f = *state;

	milter_record_msg_rcpt(f->m, "<u@first.test>");
	milter_record_msg_header(f->m, "TLS-Report-Domain", "first.test");
	milter_record_msg_queue_id(f->m, "Q1");
	milter_record_msg_reset(f->m);
	milter_record_msg_rcpt(f->m, "<u@second.test>");
	send_all(f, 0);
	assert_int_equal(counter(f->b, "milter.messages"), 1);
	assert_int_equal(domain_count(f->b, "first.test"), 0);
	assert_int_equal(domain_count(f->b, "second.test"), 1);
	assert_int_equal(counter(f->b, "milter.report_mails"), 0);
	assert_false(report_mails_contains(f->rm, "Q1"));
}

static void test_msg_without_recipients_still_counts(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(send_all(f, 0), 1);
	assert_int_equal(counter(f->b, "milter.messages"), 1);
	assert_int_equal(ndomain_counters(f->b), 0);
}

static void test_msg_limit(void **state)
{
	struct fixture *f = *state;
	char addr[64];

	for (int i = 0; i < MSG_MAX_DOMAINS + 5; i++) {
		snprintf(addr, sizeof(addr), "<u@d%d.limit.test>", i);
		assert_int_equal(milter_record_msg_rcpt(f->m, addr), i < MSG_MAX_DOMAINS ? 1 : -2);
	}
	/* a domain already held still deduplicates at the limit */
	assert_int_equal(milter_record_msg_rcpt(f->m, "<v@d7.limit.test>"), 0);
	send_all(f, 0);
	assert_int_equal(ndomain_counters(f->b), MSG_MAX_DOMAINS);
	assert_int_equal(counter(f->b, "milter.domains_dropped"), 5);
	assert_int_equal(domain_count(f->b, "d999.limit.test"), 1);
	assert_int_equal(domain_count(f->b, "d1000.limit.test"), 0);
}

/* 1000 long domains do not fit one record: MESSAGE plus DOMAINS records. */
static void test_round_trip_many_records(void **state)
{
	struct fixture *f = *state;
	char addr[200];
	unsigned records;

	for (int i = 0; i < MSG_MAX_DOMAINS; i++) {
		snprintf(addr, sizeof(addr), "<u@%04d.%s.example>", i,
		    "a-rather-long-label-to-fill-records-quickly-with-domain-names");
		milter_record_msg_rcpt(f->m, addr);
	}
	milter_record_msg_queue_id(f->m, "LONG1");
	milter_record_msg_header(f->m, "TLS-Report-Domain", "0001.x.example");
	records = send_all(f, 0);
	assert_true(records >= 5);
	assert_int_equal(counter(f->b, "milter.messages"), 1);
	assert_int_equal(ndomain_counters(f->b), MSG_MAX_DOMAINS);
	AGG_FOREACH(&f->b->agg.dcounters, struct agg_dcounter, c)
		assert_int_equal(c->value, 1);
	assert_string_equal(report_mail_domain(f->b, "LONG1"), "0001.x.example");
}

static void test_same_domain_over_messages(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 7; i++) {
		milter_record_msg_reset(f->m);
		milter_record_msg_rcpt(f->m, "<a@a.test>");
		milter_record_msg_rcpt(f->m, "<b@a.test>");
		if (i % 2)
			milter_record_msg_rcpt(f->m, "<c@b.test>");
		send_all(f, 0);
	}
	assert_int_equal(counter(f->b, "milter.messages"), 7);
	assert_int_equal(domain_count(f->b, "a.test"), 7);
	assert_int_equal(domain_count(f->b, "b.test"), 3);
}

static void test_dropped_before_is_counted(void **state)
{
	struct fixture *f = *state;

	milter_record_msg_rcpt(f->m, "<u@a.test>");
	send_all(f, 42);
	assert_int_equal(counter(f->b, "milter.records_dropped"), 42);
	assert_int_equal(counter(f->b, "milter.messages"), 1);
}

/* The child's periodic report of drops: an empty DOMAINS record. */
static void test_empty_domains_record_carries_drops(void **state)
{
	struct fixture *f = *state;
	unsigned next = 0;
	size_t len = milter_record_msg_encode(f->m, &next, false, 77, f->buf, sizeof(f->buf));
	const char *why;
	int event;

	assert_int_equal(len, 14);
	assert_int_equal(milter_record_apply(f->w, f->b, f->rm, f->buf, len, NOON, &event, &why),
	    MR_DOMAINS);
	assert_int_equal(counter(f->b, "milter.records_dropped"), 77);
	assert_int_equal(counter(f->b, "milter.messages"), 0);
	assert_int_equal(ndomain_counters(f->b), 0);
}

static void test_report_mail_without_queue_id(void **state)
{
	struct fixture *f = *state;

	milter_record_msg_header(f->m, "TLS-Report-Domain", "a.test");
	send_all(f, 0);
	assert_int_equal(counter(f->b, "milter.report_mails"), 0);
	assert_int_equal(counter(f->b, "milter.report_mails_no_queue_id"), 1);
	assert_int_equal(f->b->agg.report_mails.count, 0);
}

static void test_small_buffer_refused(void **state)
{
	struct fixture *f = *state;
	unsigned char small[100];
	unsigned next = 0;

	assert_int_equal(milter_record_msg_encode(f->m, &next, true, 0, small, sizeof(small)), 0);
	assert_int_equal(milter_record_notice_encode(NOTICE_CHILD_DIED, 1, 2, small, 10), 0);
}

static void test_notice(void **state)
{
	struct fixture *f = *state;
	size_t len = milter_record_notice_encode(NOTICE_CHILD_DIED, 1234, 9, f->buf, sizeof(f->buf));
	const char *why;
	int event;

	assert_int_equal(len, 17);
	assert_int_equal(milter_record_apply(f->w, f->b, f->rm, f->buf, len, NOON, &event, &why),
	    MR_NOTICE);
	assert_int_equal(event, NOTICE_CHILD_DIED);
	assert_int_equal(counter(f->b, "milter.child_died"), 1);
	f->buf[8] = 9;	/* unknown event */
	assert_int_equal(milter_record_apply(f->w, f->b, f->rm, f->buf, len, NOON, &event, &why), -1);
	assert_string_equal(why, "unknown notice");
}

static void test_pending_limit_drops(void **state)
{
	struct fixture *f = *state;
	struct writer_settings ws = {1000, 1000000, 1, 1000};	/* pending_limit 1 */
	unsigned next = 0;
	size_t len;
	const char *why;
	int event;

	writer_set(f->w, &ws);
	aggregate_count(&f->b->agg, NOON, "something.else", 1);	/* one key: full */
	milter_record_msg_rcpt(f->m, "<u@a.test>");
	milter_record_msg_header(f->m, "TLS-Report-Domain", "a.test");
	milter_record_msg_queue_id(f->m, "QFULL");
	len = milter_record_msg_encode(f->m, &next, true, 0, f->buf, sizeof(f->buf));
	assert_int_equal(milter_record_apply(f->w, f->b, f->rm, f->buf, len, NOON, &event, &why),
	    MR_MESSAGE);
	assert_string_equal(why, "pending_limit");
	assert_int_equal(f->b->now.dropped_full, 1);
	assert_int_equal(counter(f->b, "milter.messages"), 0);
	/* the in-memory report mail set still learns it */
	assert_true(report_mails_contains(f->rm, "QFULL"));
}

/* ---- strict decoding ------------------------------------------------------- */

/* A valid MESSAGE record in f->buf; returns its length. */
static size_t sample_record(struct fixture *f)
{
	unsigned next = 0;

	milter_record_msg_reset(f->m);
	milter_record_msg_rcpt(f->m, "<u@a.test>");
	milter_record_msg_rcpt(f->m, "<u@b.test>");
	milter_record_msg_header(f->m, "TLS-Report-Domain", "a.test");
	milter_record_msg_queue_id(f->m, "Q7");
	return milter_record_msg_encode(f->m, &next, true, 3, f->buf, sizeof(f->buf));
}

static void expect_invalid(struct fixture *f, const void *rec, size_t len, const char *reason)
{
	uint64_t before = counter(f->b, "milter.records_invalid");
	const char *why = NULL;
	int event;

	assert_int_equal(milter_record_apply(f->w, f->b, f->rm, rec, len, NOON, &event, &why), -1);
	assert_non_null(why);
	if (reason != NULL)
		assert_string_equal(why, reason);
	assert_int_equal(counter(f->b, "milter.records_invalid"), before + 1);
}

static void test_layout_is_exact(void **state)
{
	struct fixture *f = *state;
	size_t len = sample_record(f);
	static const unsigned char want[] = {
		1, MR_MESSAGE, 0, 0, 0, 0, 0, 38,	/* header: body 38 bytes */
		0, 0, 0, 3,	/* dropped before */
		0, 0, 0, 0,	/* recipients without domain */
		0, 0, 0, 0,	/* domains over the limit */
		2, 'Q', '7',
		6, 'a', '.', 't', 'e', 's', 't',
		0, 2,
		6, 'a', '.', 't', 'e', 's', 't',
		6, 'b', '.', 't', 'e', 's', 't',
	};

	assert_int_equal(len, sizeof(want));
	assert_memory_equal(f->buf, want, sizeof(want));
}

static void test_invalid_headers(void **state)
{
	struct fixture *f = *state;
	unsigned char rec[MR_MAX_RECORD + 2];
	size_t len = sample_record(f);

	expect_invalid(f, f->buf, 0, "shorter than the header");
	expect_invalid(f, f->buf, 7, "shorter than the header");
	memcpy(rec, f->buf, len);
	rec[0] = 2;
	expect_invalid(f, rec, len, "unknown version");
	memcpy(rec, f->buf, len);
	rec[1] = 9;
	expect_invalid(f, rec, len, "unknown type");
	memcpy(rec, f->buf, len);
	rec[3] = 1;
	expect_invalid(f, rec, len, "reserved bits set");
	memcpy(rec, f->buf, len);
	rec[7]++;
	expect_invalid(f, rec, len, "length mismatch");
	memcpy(rec, f->buf, len);
	rec[len] = 0;
	expect_invalid(f, rec, len + 1, "length mismatch");
	memset(rec, 0, sizeof(rec));
	expect_invalid(f, rec, MR_MAX_RECORD + 1, "oversize");
}

static void test_invalid_fields(void **state)
{
	struct fixture *f = *state;
	unsigned char rec[MR_MAX_RECORD];
	size_t len = sample_record(f);

	/* queue id "Q7" -> "Q " */
	memcpy(rec, f->buf, len);
	rec[22] = ' ';
	expect_invalid(f, rec, len, "bad queue id");
	/* report domain with upper case: the child lower-cases, so this is not ours */
	memcpy(rec, f->buf, len);
	rec[24] = 'A';
	expect_invalid(f, rec, len, "bad report domain");
	/* a listed domain with a bad byte */
	memcpy(rec, f->buf, len);
	rec[len - 1] = '/';
	expect_invalid(f, rec, len, "bad domain");
	/* one more domain announced than present */
	memcpy(rec, f->buf, len);
	rec[31] = 3;
	expect_invalid(f, rec, len, "truncated domain list");
	/* one fewer: the last one is left over */
	memcpy(rec, f->buf, len);
	rec[31] = 1;
	expect_invalid(f, rec, len, "trailing bytes");
	/* a zero-length domain */
	memcpy(rec, f->buf, len);
	rec[32] = 0;
	expect_invalid(f, rec, len, NULL);
	/* a queue id longer than 64 */
	{
		unsigned char big[200] = {1, MR_MESSAGE, 0, 0, 0, 0, 0, 0};
		size_t n = 8 + 12;

		big[n++] = 65;
		memset(big + n, 'Q', 65);
		n += 65;
		big[n++] = 0;
		big[n++] = 0;
		big[n++] = 0;
		big[7] = (unsigned char)(n - 8);
		expect_invalid(f, big, n, "bad queue id");
	}
	assert_int_equal(counter(f->b, "milter.messages"), 0);
	assert_int_equal(ndomain_counters(f->b), 0);
}

/* Every strict prefix of a valid record is rejected, none is half-applied. */
static void test_every_truncation_rejected(void **state)
{
	struct fixture *f = *state;
	size_t len = sample_record(f);

	for (size_t n = 0; n < len; n++) {
		const char *why;
		int event;

		assert_int_equal(milter_record_apply(f->w, f->b, f->rm, f->buf, n, NOON, &event, &why),
		    -1);
	}
	assert_int_equal(counter(f->b, "milter.records_invalid"), len);
	assert_int_equal(counter(f->b, "milter.messages"), 0);
	assert_int_equal(ndomain_counters(f->b), 0);
}

/*
 * Single-bit flips: each gives a valid record or an invalid one, counted
 * right; every flip in the header and in the length bytes is caught.
 */
static void test_bit_flips(void **state)
{
	struct fixture *f = *state;
	unsigned char rec[256];
	size_t len = sample_record(f);
	uint64_t invalid = 0;

	for (size_t i = 0; i < len * 8; i++) {
		const char *why;
		int event, type;

		memcpy(rec, f->buf, len);
		rec[i / 8] ^= (unsigned char)(1u << (i % 8));
		type = milter_record_apply(f->w, f->b, f->rm, rec, len, NOON, &event, &why);
		if (i < 8 * 8 && type >= 0)
			fail_msg("flip of header bit %zu accepted", i);
		if (type < 0)
			invalid++;
	}
	assert_int_equal(counter(f->b, "milter.records_invalid"), invalid);
}

static void test_random_garbage(void **state)
{
	struct fixture *f = *state;
	unsigned char rec[512];
	uint64_t invalid = 0;
	unsigned seed = 12345;

	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % (int)sizeof(rec));
		const char *why;
		int event;

		for (size_t j = 0; j < len; j++)
			rec[j] = (unsigned char)rand_r(&seed);
		if (i % 2 && len >= 8) {	/* plausible headers reach the field checks */
			rec[0] = 1;
			rec[1] = (unsigned char)(1 + i % 3);
			rec[2] = rec[3] = 0;
			rec[4] = rec[5] = 0;
			rec[6] = (unsigned char)((len - 8) >> 8);
			rec[7] = (unsigned char)(len - 8);
		}
		if (milter_record_apply(f->w, f->b, f->rm, rec, len, NOON, &event, &why) < 0)
			invalid++;
	}
	assert_int_equal(counter(f->b, "milter.records_invalid"), invalid);
	assert_true(invalid > 19000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rcpt_plain_forms),
		cmocka_unit_test(test_rcpt_quoted_local_parts),
		cmocka_unit_test(test_rcpt_source_routes),
		cmocka_unit_test(test_rcpt_no_domain),
		cmocka_unit_test(test_rcpt_malformed),
		cmocka_unit_test(test_rcpt_output_too_small),
		cmocka_unit_test(test_header_domain),
		cmocka_unit_test_setup_teardown(test_msg_dedup_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msg_reset_between_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msg_without_recipients_still_counts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_msg_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_many_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_domain_over_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_before_is_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_domains_record_carries_drops, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_report_mail_without_queue_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_buffer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_limit_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layout_is_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bit_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_mails_expire, setup, teardown),
	};

	log_set_level(LOG_WARNING);	/* no milter_report_mail line per applied record */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
