/*
 * NAME
 *	test_postfix_sessions - unit tests of milter/postfix_sessions.c
 * DESCRIPTION
 *	Each case writes out full Postfix 3.7 log lines (as in
 *	shared/spec/postfix-3.7-tls-log.md), runs them through pfl_parse(),
 *	feeds the events in order and checks every emitted session result
 *	exactly (count, when, domain, policy, failed flag, failure details)
 *	and the counters, one test per rule of postfix_sessions.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postfix_log.h"
#include "postfix_sessions.h"
#include "session.h"
#include "util.h"

/* check_failure() leaves the record string alone here */

#include "session_capture.h"

#define SMTP(pid) "Nov 23 10:00:00 mta postfix/smtp[" #pid "]: "
#define LMTP(pid) "Nov 23 10:00:00 mta postfix/lmtp[" #pid "]: "
#define PROXY(pid) "Nov 23 10:00:00 mta postfix/tlsproxy[" #pid "]: "
#define CIPHER ": TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) " \
	"key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"
#define EST(trust, mx, ip) trust " TLS connection established to " mx "[" ip "]:25" CIPHER
#define DELIVERY(qid, rcpt, mx, ip, dsn, status) \
	qid ": to=<" rcpt ">, relay=" mx "[" ip "]:25, delay=0.21, " \
	"delays=0.05/0.01/0.1/0.05, dsn=" dsn ", status=" status
#define SENT(qid, rcpt, mx, ip) \
	DELIVERY(qid, rcpt, mx, ip, "2.0.0", "sent (250 2.0.0 Ok: queued as 4Xyz)")
#define NOT_VERIFIED(qid, rcpt, mx, ip) \
	DELIVERY(qid, rcpt, mx, ip, "4.7.5", "deferred (Server certificate not verified)")

#define STALE 600

static void feed(struct pfs *p, struct got *g, const char *line, long long when);

/* Feed into p, or (p NULL) into one pfs kept across calls until "whole" is used up. */
static void feed_ok(struct pfs *p, struct got *g, const char *line, long long when)
{
	static struct pfs *one;

	if (p != NULL) {
		feed(p, g, line, when);
		return;
	}
	if (one == NULL)
		one = pfs_new(STALE);
	feed(one, g, line, when);
	if (strstr(line, "4DDD1") != NULL) {	/* the last line of the sequence */
		pfs_expire(one, -1, collect, g);
		pfs_free(one);
		one = NULL;
	}
}

/* Parse a full line (it must be a TLS or delivery line) and feed it. */
static void feed(struct pfs *p, struct got *g, const char *line, long long when)
{
	struct pfl_event ev;
	enum pfl_kind kind = pfl_parse(line, strlen(line), &ev);

	if (kind == PFL_IGNORED || kind == PFL_MALFORMED)
		fail_msg("line not read as an event (%d): %s", (int)kind, line);
	pfs_feed(p, &ev, when, collect, g);
}

static void stats(const struct pfs *p, struct pfs_stats *st)
{
	pfs_get_stats(p, st);
}

/* Rule 1/2: one verified session, one delivery; the domain is lower-cased. */
static void test_verified_success(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();
	struct pfs_stats st;

	(void)state;
	assert_false(pfs_tls_logging_seen(p));
	feed(p, g, SMTP(1234) EST("Verified", "mx.good.test", "127.0.0.11"), 1000);
	assert_true(pfs_tls_logging_seen(p));
	feed(p, g, SMTP(1234) SENT("4ABC123", "User@May.GOOD.test", "mx.good.test",
	    "127.0.0.11"), 1001);
	assert_int_equal(g->n, 1);
	check_success(&g->r[0], "may.good.test", 1001);
	pfs_expire(p, 1001 + STALE, collect, g);
	assert_int_equal(g->n, 1);
	stats(p, &st);
	assert_int_equal(st.emitted_success, 1);
	assert_int_equal(st.emitted_failure, 0);
	assert_int_equal(st.no_delivery, 0);
	assert_int_equal(st.pids, 0);
	assert_int_equal(pfs_dropped(p), 0);
	pfs_free(p);
	free(g);
}

/* Rule 2: one session, 3 messages to 2 domains -> 2 results. */
static void test_one_session_two_domains(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SMTP(1234) EST("Trusted", "mx.shared.test", "127.0.0.20"), 1000);
	feed(p, g, SMTP(1234) SENT("4AAA001", "a@one.test", "mx.shared.test", "127.0.0.20"), 1001);
	feed(p, g, SMTP(1234) SENT("4AAA001", "b@one.test", "mx.shared.test", "127.0.0.20"), 1001);
	feed(p, g, SMTP(1234) SENT("4AAA002", "c@two.test", "mx.shared.test", "127.0.0.20"), 1002);
	feed(p, g, SMTP(1234) SENT("4AAA003", "d@ONE.test", "mx.shared.test", "127.0.0.20"), 1003);
	assert_int_equal(g->n, 2);
	check_success(&g->r[0], "one.test", 1001);
	check_success(&g->r[1], "two.test", 1002);
	pfs_free(p);
	free(g);
}

/* Two smtp processes (and an lmtp one) interleaved, correlated by pid. */
static void test_interleaved(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SMTP(100) EST("Verified", "mx.good.test", "127.0.0.11"), 1000);
	feed(p, g, SMTP(200) "server certificate verification failed for "
	    "mx.expired.test[127.0.0.12]:25: certificate has expired", 1000);
	feed(p, g, LMTP(300) EST("Anonymous", "lmtp.local.test", "127.0.0.30"), 1000);
	feed(p, g, SMTP(200) EST("Untrusted", "mx.expired.test", "127.0.0.12"), 1001);
	feed(p, g, SMTP(100) SENT("4B00100", "x@good.test", "mx.good.test", "127.0.0.11"), 1002);
	feed(p, g, SMTP(200) NOT_VERIFIED("4B00200", "y@expired.test", "mx.expired.test",
	    "127.0.0.12"), 1003);
	feed(p, g, LMTP(300) "4B00300: to=<z@local.test>, relay=lmtp.local.test[127.0.0.30]:24, "
	    "delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 Ok)", 1004);
	assert_int_equal(g->n, 3);
	check_success(&g->r[0], "good.test", 1002);
	check_failure(&g->r[1], "expired.test", 1003, RESULT_CERTIFICATE_EXPIRED,
	    "mx.expired.test", "127.0.0.12", "certificate has expired");
	check_success(&g->r[2], "local.test", 1004);
	pfs_free(p);
	free(g);
}

/* Rule 3: warning + Untrusted/Trusted established + deferred -> one failure each. */
static void test_verify_failures(void **state)
{
	static const struct {
		const char *warning, *established, *delivery, *domain, *mx, *ip, *reason;
		int rtype;
	} cases[] = {
		{SMTP(41) "server certificate verification failed for mx.expired.test"
		    "[127.0.0.12]:25: certificate has expired",
		 SMTP(41) EST("Untrusted", "mx.expired.test", "127.0.0.12"),
		 SMTP(41) NOT_VERIFIED("5C00001", "u@verify.expired.test", "mx.expired.test",
		    "127.0.0.12"),
		 "verify.expired.test", "mx.expired.test", "127.0.0.12",
		 "certificate has expired", RESULT_CERTIFICATE_EXPIRED},
		{SMTP(42) "certificate verification failed for mx.selfsigned.test"
		    "[127.0.0.13]:25: self-signed certificate",
		 SMTP(42) EST("Untrusted", "mx.selfsigned.test", "127.0.0.13"),
		 SMTP(42) NOT_VERIFIED("5C00002", "u@secure.selfsigned.test",
		    "mx.selfsigned.test", "127.0.0.13"),
		 "secure.selfsigned.test", "mx.selfsigned.test", "127.0.0.13",
		 "self-signed certificate", RESULT_CERTIFICATE_NOT_TRUSTED},
		{SMTP(43) "server certificate verification failed for mx.wronghost.test"
		    "[127.0.0.14]:25: num=62:hostname mismatch",
		 SMTP(43) EST("Trusted", "mx.wronghost.test", "127.0.0.14"),
		 SMTP(43) NOT_VERIFIED("5C00003", "u@verify.wronghost.test",
		    "mx.wronghost.test", "127.0.0.14"),
		 "verify.wronghost.test", "mx.wronghost.test", "127.0.0.14",
		 "hostname mismatch", RESULT_CERTIFICATE_HOST_MISMATCH},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pfs *p = pfs_new(STALE);
		struct got *g = new_got();
		struct pfs_stats st;

		/* TLS logging is on, so a plain-text miscount would show. */
		feed(p, g, cases[i].warning, 2000);
		feed(p, g, cases[i].established, 2000);
		feed(p, g, cases[i].delivery, 2001);
		feed(p, g, cases[i].delivery, 2001);	/* a second recipient, same domain */
		assert_int_equal(g->n, 1);
		check_failure(&g->r[0], cases[i].domain, 2001, cases[i].rtype, cases[i].mx,
		    cases[i].ip, cases[i].reason);
		pfs_expire(p, -1, collect, g);
		assert_int_equal(g->n, 1);
		stats(p, &st);
		assert_int_equal(st.emitted_success, 0);
		assert_int_equal(st.emitted_failure, 1);
		assert_int_equal(st.no_delivery, 0);
		pfs_free(p);
		free(g);
	}
}

/* Rule 4: no STARTTLS at encrypt, deferred with the reason only. */
static void test_starttls_not_offered(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SMTP(50) DELIVERY("6D00001", "u@encrypt.notls.test", "mx.notls.test",
	    "127.0.0.15", "4.7.4", "deferred (TLS is required, but was not offered by host "
	    "mx.notls.test[127.0.0.15])"), 3000);
	feed(p, g, SMTP(50) DELIVERY("6D00001", "v@encrypt.notls.test", "mx.notls.test",
	    "127.0.0.15", "4.7.4", "deferred (TLS is required, but was not offered by host "
	    "mx.notls.test[127.0.0.15])"), 3000);
	assert_int_equal(g->n, 1);
	check_failure(&g->r[0], "encrypt.notls.test", 3000, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15",
	    "TLS is required, but was not offered by host mx.notls.test[127.0.0.15]");
	assert_false(pfs_tls_logging_seen(p));
	pfs_free(p);
	free(g);
}

/* Rule 6: plain text at may counts only after a TLS line was seen. */
static void test_plain_delivery(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();
	struct pfs_stats st;

	(void)state;
	feed(p, g, SMTP(60) SENT("7E00001", "u@may.notls.test", "mx.notls.test",
	    "127.0.0.15"), 4000);
	assert_int_equal(g->n, 0);
	assert_false(pfs_tls_logging_seen(p));
	stats(p, &st);
	assert_int_equal(st.plain_unseen, 1);
	assert_int_equal(st.pids, 0);

	feed(p, g, SMTP(61) EST("Verified", "mx.good.test", "127.0.0.11"), 4010);
	feed(p, g, SMTP(61) SENT("7E00002", "u@good.test", "mx.good.test", "127.0.0.11"), 4011);
	assert_true(pfs_tls_logging_seen(p));
	feed(p, g, SMTP(60) SENT("7E00003", "u@may.notls.test", "mx.notls.test",
	    "127.0.0.15"), 4020);
	feed(p, g, SMTP(60) SENT("7E00003", "w@may.notls.test", "mx.notls.test",
	    "127.0.0.15"), 4020);
	assert_int_equal(g->n, 2);
	check_success(&g->r[0], "good.test", 4011);
	check_failure(&g->r[1], "may.notls.test", 4020, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15", "delivered in plain text");
	stats(p, &st);
	assert_int_equal(st.plain_unseen, 1);
	pfs_free(p);
	free(g);
}

/* Rule 3: SSL_connect error + "Cannot start TLS" -> validation-failure. */
static void test_handshake_failure(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SMTP(70) "SSL_connect error to mx.badtls.test[127.0.0.16]:25: lost connection",
	    5000);
	feed(p, g, SMTP(70) DELIVERY("8F00001", "u@verify.badtls.test", "mx.badtls.test",
	    "127.0.0.16", "4.7.5", "deferred (Cannot start TLS: handshake failure)"), 5001);
	assert_int_equal(g->n, 1);
	check_failure(&g->r[0], "verify.badtls.test", 5001, RESULT_VALIDATION_FAILURE,
	    "mx.badtls.test", "127.0.0.16", "lost connection");
	pfs_free(p);
	free(g);
}

/* Rule 5: "QID: Server certificate not verified", the next MX succeeds. */
static void test_queue_failure_next_mx(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();
	struct pfs_stats st;

	(void)state;
	feed(p, g, SMTP(80) "server certificate verification failed for mx1.multi.test"
	    "[127.0.0.21]:25: certificate has expired", 6000);
	feed(p, g, SMTP(80) EST("Untrusted", "mx1.multi.test", "127.0.0.21"), 6000);
	feed(p, g, SMTP(80) "9A00001: Server certificate not verified", 6001);
	assert_int_equal(g->n, 0);
	feed(p, g, SMTP(80) EST("Verified", "mx2.multi.test", "127.0.0.22"), 6002);
	feed(p, g, SMTP(80) SENT("9A00001", "u@multi.test", "mx2.multi.test", "127.0.0.22"),
	    6003);
	assert_int_equal(g->n, 2);
	check_failure(&g->r[0], "multi.test", 6003, RESULT_CERTIFICATE_EXPIRED,
	    "mx1.multi.test", "127.0.0.21", "certificate has expired");
	check_success(&g->r[1], "multi.test", 6003);
	stats(p, &st);
	assert_int_equal(st.queue_ids, 0);
	assert_int_equal(st.no_delivery, 0);
	assert_int_equal(st.queue_unresolved, 0);
	pfs_free(p);
	free(g);
}

/* Rule 5: the queue line alone (no warning); resolved by another process. */
static void test_queue_failure_other_process(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SMTP(81) "9A00002: TLS is required, but was not offered by host "
	    "mx1.multi.test[127.0.0.21]", 6100);
	feed(p, g, SMTP(82) EST("Verified", "mx2.multi.test", "127.0.0.22"), 6101);
	feed(p, g, SMTP(82) SENT("9A00002", "u@Multi.test", "mx2.multi.test", "127.0.0.22"),
	    6102);
	assert_int_equal(g->n, 2);
	check_failure(&g->r[0], "multi.test", 6102, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx1.multi.test", "127.0.0.21",
	    "TLS is required, but was not offered by host mx1.multi.test[127.0.0.21]");
	check_success(&g->r[1], "multi.test", 6102);
	pfs_free(p);
	free(g);
}

/* Rule 5: a parked queue failure without a later delivery is dropped and counted. */
static void test_queue_failure_unresolved(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();
	struct pfs_stats st;

	(void)state;
	feed(p, g, SMTP(83) "certificate verification failed for mx1.lost.test"
	    "[127.0.0.23]:25: self-signed certificate", 7000);
	feed(p, g, SMTP(83) EST("Untrusted", "mx1.lost.test", "127.0.0.23"), 7000);
	feed(p, g, SMTP(83) "9A00003: Server certificate not verified", 7001);
	pfs_expire(p, 7001 + STALE - 1, collect, g);
	stats(p, &st);
	assert_int_equal(st.queue_ids, 1);
	pfs_expire(p, 7001 + STALE, collect, g);
	assert_int_equal(g->n, 0);
	stats(p, &st);
	assert_int_equal(st.queue_ids, 0);
	assert_int_equal(st.queue_unresolved, 1);
	assert_int_equal(st.no_delivery, 0);
	assert_int_equal(st.pids, 0);
	/* a late delivery line is then an ordinary (plain) delivery */
	feed(p, g, SMTP(84) SENT("9A00003", "u@lost.test", "mx2.lost.test", "127.0.0.24"),
	    9000);
	assert_int_equal(g->n, 1);
	check_failure(&g->r[0], "lost.test", 9000, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx2.lost.test", "127.0.0.24", "delivered in plain text");
	pfs_free(p);
	free(g);
}

/* Rule 5: the plain retry after "QID: Cannot start TLS" is not counted twice. */
static void test_may_handshake_retry(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SMTP(85) EST("Verified", "mx.good.test", "127.0.0.11"), 7500);
	feed(p, g, SMTP(85) SENT("9B00000", "u@good.test", "mx.good.test", "127.0.0.11"), 7500);
	feed(p, g, SMTP(86) "SSL_connect error to mx.badtls.test[127.0.0.16]:25: lost connection",
	    7600);
	feed(p, g, SMTP(86) "9B00001: Cannot start TLS: handshake failure", 7600);
	feed(p, g, SMTP(86) SENT("9B00001", "u@may.badtls.test", "mx.badtls.test",
	    "127.0.0.16"), 7601);
	assert_int_equal(g->n, 2);
	check_success(&g->r[0], "good.test", 7500);
	check_failure(&g->r[1], "may.badtls.test", 7601, RESULT_VALIDATION_FAILURE,
	    "mx.badtls.test", "127.0.0.16", "lost connection");
	pfs_free(p);
	free(g);
}

/* Rule 7: relay=none (connection refused) is not a TLS session. */
static void test_relay_none(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();
	struct pfs_stats st;

	(void)state;
	feed(p, g, SMTP(90) EST("Verified", "mx.good.test", "127.0.0.11"), 7900);
	feed(p, g, SMTP(91) "9C00001: to=<u@down.test>, relay=none, delay=30, "
	    "delays=0.01/0/30/0, dsn=4.4.1, status=deferred (connect to "
	    "mx.down.test[127.0.0.17]:25: Connection refused)", 8000);
	assert_int_equal(g->n, 0);
	stats(p, &st);
	assert_int_equal(st.uncounted, 1);
	assert_int_equal(st.pids, 1);
	pfs_free(p);
	free(g);
}

/* Rule 9 and staleness: a TLS line without a delivery expires uncounted. */
static void test_expiry(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();
	struct pfs_stats st;

	(void)state;
	feed(p, g, SMTP(95) EST("Verified", "mx.good.test", "127.0.0.11"), 10000);
	feed(p, g, SMTP(96) "server certificate verification failed for mx.expired.test"
	    "[127.0.0.12]:25: certificate has expired", 10000);
	pfs_expire(p, 10000 + STALE - 1, collect, g);
	stats(p, &st);
	assert_int_equal(st.pids, 2);
	pfs_expire(p, 10000 + STALE, collect, g);
	assert_int_equal(g->n, 0);
	stats(p, &st);
	assert_int_equal(st.pids, 0);
	assert_int_equal(st.no_delivery, 2);

	/* within stale_after the session carries on; after it, it is gone */
	feed(p, g, SMTP(97) EST("Verified", "mx.good.test", "127.0.0.11"), 20000);
	feed(p, g, SMTP(97) SENT("9D00001", "a@one.test", "mx.good.test", "127.0.0.11"),
	    20000 + STALE - 1);
	feed(p, g, SMTP(97) SENT("9D00002", "b@two.test", "mx.good.test", "127.0.0.11"),
	    20000 + 2 * STALE - 2);
	assert_int_equal(g->n, 2);
	check_success(&g->r[0], "one.test", 20000 + STALE - 1);
	check_success(&g->r[1], "two.test", 20000 + 2 * STALE - 2);
	/* quiet for stale_after: the next TLS line starts a new session */
	feed(p, g, SMTP(97) EST("Verified", "mx.good.test", "127.0.0.11"), 30000);
	feed(p, g, SMTP(97) EST("Verified", "mx.good.test", "127.0.0.11"), 30001);
	stats(p, &st);
	assert_int_equal(st.no_delivery, 3);	/* the 30000 one, ended by the 30001 one */
	pfs_expire(p, -1, collect, g);
	stats(p, &st);
	assert_int_equal(st.no_delivery, 4);
	assert_int_equal(g->n, 2);
	pfs_free(p);
	free(g);
}

/* Rules 1 and 8: tlsproxy lines do not count, reused connections do not count. */
static void test_tlsproxy_and_reuse(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();
	struct pfs_stats st;

	(void)state;
	feed(p, g, PROXY(500) EST("Verified", "mx.good.test", "127.0.0.11"), 11000);
	assert_true(pfs_tls_logging_seen(p));
	feed(p, g, SMTP(501) EST("Verified", "mx.good.test", "127.0.0.11"), 11000);
	feed(p, g, SMTP(501) SENT("9E00001", "u@good.test", "mx.good.test", "127.0.0.11"),
	    11001);
	feed(p, g, SMTP(502) "Verified TLS connection reused to mx.good.test[127.0.0.11]:25",
	    11002);
	feed(p, g, SMTP(502) SENT("9E00002", "v@good.test", "mx.good.test", "127.0.0.11"),
	    11003);
	feed(p, g, SMTP(502) SENT("9E00003", "w@other.test", "mx.good.test", "127.0.0.11"),
	    11004);
	assert_int_equal(g->n, 1);
	check_success(&g->r[0], "good.test", 11001);
	stats(p, &st);
	assert_int_equal(st.reused, 2);
	assert_int_equal(st.pids, 2);
	pfs_expire(p, -1, collect, g);
	stats(p, &st);
	assert_int_equal(st.no_delivery, 0);
	assert_int_equal(st.pids, 0);
	pfs_free(p);
	free(g);
}

/* Memory caps: 100000 pids, and queue ids over a small cap. */
static void test_caps(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got *g = new_got();
	struct pfs_stats st;
	char line[512];
	long i;

	(void)state;
	for (i = 0; i < 100000; i++) {
		snprintf(line, sizeof(line), "Nov 23 10:00:00 mta postfix/smtp[%ld]: "
		    EST("Verified", "mx.good.test", "127.0.0.11"), 100000 + i);
		feed(p, g, line, 20000);
		if (i % 10000 == 0) {
			stats(p, &st);
			assert_true(st.pids <= PFS_MAX_PIDS);
		}
	}
	stats(p, &st);
	assert_int_equal(st.pids, PFS_MAX_PIDS);
	assert_int_equal(st.pids_dropped, 100000 - PFS_MAX_PIDS);
	assert_int_equal(pfs_dropped(p), 100000 - PFS_MAX_PIDS);
	/* the newest survived: its delivery still counts */
	feed(p, g, SMTP(199999) SENT("AF00001", "u@good.test", "mx.good.test", "127.0.0.11"),
	    20001);
	assert_int_equal(g->n, 1);
	check_success(&g->r[0], "good.test", 20001);
	pfs_free(p);

	p = pfs_new_capped(STALE, 4, 2);
	feed(p, g, SMTP(1) "AF00010: TLS is required, but was not offered by host "
	    "mx1.a.test[127.0.0.41]", 20100);
	feed(p, g, SMTP(2) "AF00011: TLS is required, but was not offered by host "
	    "mx1.b.test[127.0.0.42]", 20100);
	feed(p, g, SMTP(3) "AF00012: TLS is required, but was not offered by host "
	    "mx1.c.test[127.0.0.43]", 20100);
	stats(p, &st);
	assert_int_equal(st.queue_ids, 2);
	assert_int_equal(st.queue_dropped, 1);
	assert_int_equal(pfs_dropped(p), 1);
	feed(p, g, SMTP(4) "AF00010: to=<u@a.test>, relay=none, delay=30, delays=0/0/30/0, "
	    "dsn=4.4.1, status=deferred (connect to mx2.a.test[127.0.0.44]:25: "
	    "Connection timed out)", 20101);
	assert_int_equal(g->n, 1);	/* AF00010 was the oldest: dropped */
	feed(p, g, SMTP(4) "AF00012: to=<u@c.test>, relay=none, delay=30, delays=0/0/30/0, "
	    "dsn=4.4.1, status=deferred (connect to mx2.c.test[127.0.0.45]:25: "
	    "Connection timed out)", 20101);
	assert_int_equal(g->n, 2);
	check_failure(&g->r[1], "c.test", 20101, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx1.c.test", "127.0.0.43",
	    "TLS is required, but was not offered by host mx1.c.test[127.0.0.43]");
	pfs_free(p);
	free(g);
}

/* Two emitted-session lists say the same. */
static void same_recs(const struct got *a, const struct got *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_memory_equal(&a->r[i], &b->r[i], sizeof(a->r[i]));
}

/*
 * Saving and loading at any line boundary (a daemon restart) emits
 * exactly what one uninterrupted run emits.
 */
static void test_save_load_any_split(void **state)
{
	static const char *const lines[] = {
		SMTP(20) "server certificate verification failed for mx.e.test[192.0.2.12]:25: "
		    "num=10:certificate has expired",
		SMTP(20) EST("Untrusted", "mx.e.test", "192.0.2.12"),
		SMTP(20) NOT_VERIFIED("4AAA1", "a@verify.e.test", "mx.e.test", "192.0.2.12"),
		SMTP(21) EST("Verified", "mx.g.test", "192.0.2.11"),
		SMTP(21) SENT("4BBB1", "a@one.g.test", "mx.g.test", "192.0.2.11"),
		SMTP(22) "4CCC1: Server certificate not verified",
		SMTP(21) SENT("4BBB2", "b@two.g.test", "mx.g.test", "192.0.2.11"),
		SMTP(23) SENT("4CCC1", "x@tab\tdomain.test", "mx.q.test", "192.0.2.13"),
		SMTP(21) SENT("4BBB3", "c@one.g.test", "mx.g.test", "192.0.2.11"),
		SMTP(23) DELIVERY("4CCC1", "x@q.test", "mx.q.test", "192.0.2.13", "2.0.0",
		    "sent (250 ok)"),
		SMTP(24) DELIVERY("4DDD1", "n@notls.test", "mx.n.test", "192.0.2.15", "4.7.4",
		    "deferred (TLS is required, but was not offered by host mx.n.test[192.0.2.15])"),
	};
	size_t n = sizeof(lines) / sizeof(lines[0]);
	struct got *whole = calloc(1, sizeof(*whole)), *split = calloc(1, sizeof(*split));

	(void)state;
	for (size_t i = 0; i < n; i++)
		feed_ok(NULL, whole, lines[i], 100 + (long long)i);
	assert_int_equal(whole->n, 5);
	for (size_t k = 0; k <= n; k++) {
		struct pfs *a = pfs_new(STALE), *b = pfs_new(STALE);
		struct strbuf sb;

		memset(split, 0, sizeof(*split));
		for (size_t i = 0; i < k; i++)
			feed_ok(a, split, lines[i], 100 + (long long)i);
		strbuf_init(&sb);
		pfs_save(a, &sb);
		assert_true(pfs_load(b, sb.data, sb.len));
		/* a second save of the loaded state is the same text */
		{
			struct strbuf again;

			strbuf_init(&again);
			pfs_save(b, &again);
			assert_int_equal(again.len, sb.len);
			assert_memory_equal(again.data, sb.data, sb.len);
			strbuf_free(&again);
		}
		strbuf_free(&sb);
		pfs_free(a);
		for (size_t i = k; i < n; i++)
			feed_ok(b, split, lines[i], 100 + (long long)i);
		pfs_expire(b, -1, collect, split);
		pfs_free(b);
		same_recs(whole, split);
	}
	free(whole);
	free(split);
}

/* Damaged saved state is refused record by record, never a crash. */
static void test_load_garbage(void **state)
{
	static const char *const bad[] = {
		"", "X\t1", "V\t2\t0\n", "V\t1\t0\nP\t=1\n", "V\t1\t0\nP",
		"V\t1\t0\nQ\t=4A\t5\t9\n", "V\t1\t0\nP\t=1\t5\t7\t=ip\t0\t0\t0\t0\t~\t~\t~\t0\n",
		"V\t1\t0\nQ\t=4A\t5\t1\t3\t=mx\t=ip\t=r\\", "V\t1\t0\nQ\t~\t5\t0\n",
		"P\t=1\t5\t0\t=ip\t0\t0\t0\t0\t~\t~\t~\t0\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pfs *p = pfs_new(STALE);
		struct pfs_stats st;

		assert_false(pfs_load(p, bad[i], strlen(bad[i])));
		pfs_get_stats(p, &st);
		assert_int_equal(st.pids + st.queue_ids, 0);
		pfs_free(p);
	}
	/* a good record after a bad one is still loaded */
	{
		const char *t = "V\t1\t1\nP\tbroken\nP\t=7\t5\t0\t=192.0.2.1\t1\t0\t0\t=4QID\t4\t0\t~\t~\t~\t0\n";
		struct pfs *p = pfs_new(STALE);
		struct pfs_stats st;

		assert_false(pfs_load(p, t, strlen(t)));
		pfs_get_stats(p, &st);
		assert_int_equal(st.pids, 1);
		assert_true(pfs_tls_logging_seen(p));
		pfs_free(p);
	}
}

/*
 * Rule 11, from a real Postfix 3.7.11 log: one smtp process, no TLS
 * lines, a new connection per delivery request; conn_use marks a cached one.
 */
static void test_plain_sessions_per_request(void **state)
{
#define NOTLS_DEFERRED(qid, rcpt) DELIVERY(qid, rcpt, "mx.notls.test", "127.0.0.15", "4.7.4", \
	"deferred (TLS is required, but was not offered by host mx.notls.test[127.0.0.15])")
#define NOTLS_SENT(qid, rcpt) DELIVERY(qid, rcpt, "mx.notls.test", "127.0.0.15", "2.0.0", \
	"sent (250 2.0.0 Ok: queued as T1)")
	struct pfs *p = pfs_new(STALE);
	struct got g = {0};
	struct pfs_stats st;

	(void)state;
	/* TLS logging was seen elsewhere, so plain text counts */
	feed(p, &g, SMTP(1) EST("Verified", "mx.g.test", "192.0.2.11"), 99);
	feed(p, &g, SMTP(27701) NOTLS_DEFERRED("8D758A80992", "a1@encrypt.notls.test"), 100);
	feed(p, &g, SMTP(27701) NOTLS_SENT("8D758A80992", "a1@may.notls.test"), 101);
	feed(p, &g, SMTP(27701) NOTLS_SENT("8D758A80992", "a2@may.notls.test"), 102);
	feed(p, &g, SMTP(27701) NOTLS_DEFERRED("93E48A80997", "b1@secure.notls.test"), 103);
	feed(p, &g, SMTP(27701) NOTLS_SENT("9AD02A8099B", "c1@may.notls.test"), 104);
	/* the same plain connection, cached and used again (conn_use=2): not a new session */
	feed(p, &g, SMTP(27701) "B1C2D3E4F5: to=<e1@may.notls.test>, relay=mx.notls.test"
	    "[127.0.0.15]:25, conn_use=2, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 ok)",
	    104);
	feed(p, &g, SMTP(27701) NOTLS_DEFERRED("A172FA8099D", "d1@encrypt.notls.test"), 105);
	/* another process's cached connection */
	feed(p, &g, SMTP(27702) "B1C2D3E4F6: to=<e2@may.notls.test>, relay=mx.notls.test"
	    "[127.0.0.15]:25, conn_use=3, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 ok)",
	    107);
	pfs_expire(p, -1, collect, &g);
	assert_int_equal(g.n, 5);
	check_failure(&g.r[0], "encrypt.notls.test", 100, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15",
	    "TLS is required, but was not offered by host mx.notls.test[127.0.0.15]");
	check_failure(&g.r[1], "may.notls.test", 101, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15", "delivered in plain text");
	check_failure(&g.r[2], "secure.notls.test", 103, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15",
	    "TLS is required, but was not offered by host mx.notls.test[127.0.0.15]");
	check_failure(&g.r[3], "may.notls.test", 104, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15", "delivered in plain text");
	check_failure(&g.r[4], "encrypt.notls.test", 105, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15",
	    "TLS is required, but was not offered by host mx.notls.test[127.0.0.15]");
	pfs_get_stats(p, &st);
	assert_int_equal(st.reused, 1);	/* process 27702's cached connection */
	pfs_free(p);
}

/* Each success carries what the established line said of the certificate. */
static void test_trust_hint(void **state)
{
	static const struct {
		const char *word;
		int trust;
	} cases[] = {
		{"Verified", TLS_TRUST_VERIFIED}, {"Trusted", TLS_TRUST_TRUSTED},
		{"Untrusted", TLS_TRUST_UNTRUSTED}, {"Anonymous", TLS_TRUST_ANONYMOUS},
	};
	struct pfs *p = pfs_new(STALE);
	struct got g = {0};
	char line[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), SMTP(30) "%s TLS connection established to "
		    "mx.t.test[192.0.2.30]:25" CIPHER, cases[i].word);
		feed(p, &g, line, 100 + (long long)i);
		snprintf(line, sizeof(line), SMTP(30) SENT("4TRUST%zu", "u@d%zu.t.test", "mx.t.test",
		    "192.0.2.30"), i, i);
		feed(p, &g, line, 100 + (long long)i);
	}
	/* a failure and a plain delivery say nothing */
	feed(p, &g, SMTP(31) NOT_VERIFIED("4TRUSTF", "u@f.t.test", "mx.t.test", "192.0.2.30"), 110);
	pfs_expire(p, -1, collect, &g);
	assert_int_equal(g.n, 5);
	for (size_t i = 0; i < 4; i++) {
		assert_false(g.r[i].failed);
		assert_int_equal(g.r[i].trust, cases[i].trust);
	}
	assert_true(g.r[4].failed);
	pfs_free(p);
}

static bool skip_report(void *ctx, const char *queue_id)
{
	(void)ctx;
	return strcmp(queue_id, "4RPT1") == 0 || strcmp(queue_id, "4RPT2") == 0;
}

/* Rule 10: deliveries of our own report messages are not counted. */
static void test_report_mail_skipped(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got g = {0};
	struct pfs_stats st;

	(void)state;
	pfs_set_skip(p, skip_report, NULL);
	/* a session that carried only a report message: nothing, and not "no delivery" */
	feed(p, &g, SMTP(10) EST("Verified", "mx.reports.test", "192.0.2.5"), 100);
	feed(p, &g, SMTP(10) SENT("4RPT1", "tlsrpt@reports.test", "mx.reports.test", "192.0.2.5"), 101);
	/* a session with a report and an ordinary message to the same domain counts once */
	feed(p, &g, SMTP(11) EST("Verified", "mx.reports.test", "192.0.2.5"), 102);
	feed(p, &g, SMTP(11) SENT("4RPT2", "tlsrpt@reports.test", "mx.reports.test", "192.0.2.5"), 103);
	feed(p, &g, SMTP(11) SENT("4ORD1", "postmaster@reports.test", "mx.reports.test", "192.0.2.5"),
	    104);
	/* a failed report delivery is not a failure either */
	feed(p, &g, SMTP(12) NOT_VERIFIED("4RPT1", "tlsrpt@reports.test", "mx.reports.test",
	    "192.0.2.5"), 105);
	pfs_expire(p, -1, collect, &g);
	assert_int_equal(g.n, 1);
	check_success(&g.r[0], "reports.test", 104);
	pfs_get_stats(p, &st);
	assert_int_equal(st.report_mails_skipped, 3);
	assert_int_equal(st.no_delivery, 0);
	assert_int_equal(st.emitted_failure, 0);
	pfs_free(p);
}

/*
 * Rule 10 with rule 11: a report's session that failed without a TLS
 * line of its own is not handed on to the next delivery request of the
 * same process (a new connection without TLS).
 */
static void test_report_mail_session_ends(void **state)
{
	struct pfs *p = pfs_new(STALE);
	struct got g = {0};

	(void)state;
	pfs_set_skip(p, skip_report, NULL);
	feed(p, &g, SMTP(1) EST("Verified", "mx.g.test", "192.0.2.11"), 99);
	feed(p, &g, SMTP(14) "SSL_connect error to mx.reports.test[192.0.2.5]:25: lost connection",
	    100);
	feed(p, &g, SMTP(14) DELIVERY("4RPT1", "tlsrpt@reports.test", "mx.reports.test",
	    "192.0.2.5", "4.7.5", "deferred (Cannot start TLS: handshake failure)"), 100);
	feed(p, &g, SMTP(14) SENT("4ORD1", "u@plain.test", "mx.reports.test", "192.0.2.5"), 101);
	pfs_expire(p, -1, collect, &g);
	assert_int_equal(g.n, 1);
	check_failure(&g.r[0], "plain.test", 101, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.reports.test", "192.0.2.5", "delivered in plain text");
	pfs_free(p);
}

/* Saved numbers beyond long long are refused, not overflowed. */
static void test_load_huge_number(void **state)
{
	const char *t = "V\t1\t0\nP\t=7\t99999999999999999999\t0\t=192.0.2.1\t1\t0\t0"
	    "\t=4QID\t4\t0\t~\t~\t~\t0\n";
	struct pfs *p = pfs_new(STALE);
	struct pfs_stats st;

	(void)state;
	assert_false(pfs_load(p, t, strlen(t)));
	pfs_get_stats(p, &st);
	assert_int_equal(st.pids, 0);
	pfs_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verified_success),
		cmocka_unit_test(test_one_session_two_domains),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_verify_failures),
		cmocka_unit_test(test_starttls_not_offered),
		cmocka_unit_test(test_plain_delivery),
		cmocka_unit_test(test_handshake_failure),
		cmocka_unit_test(test_queue_failure_next_mx),
		cmocka_unit_test(test_queue_failure_other_process),
		cmocka_unit_test(test_queue_failure_unresolved),
		cmocka_unit_test(test_may_handshake_retry),
		cmocka_unit_test(test_relay_none),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_tlsproxy_and_reuse),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_report_mail_skipped),
		cmocka_unit_test(test_report_mail_session_ends),
		cmocka_unit_test(test_load_huge_number),
		cmocka_unit_test(test_save_load_any_split),
		cmocka_unit_test(test_plain_sessions_per_request),
		cmocka_unit_test(test_trust_hint),
		cmocka_unit_test(test_load_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
