/*
 * NAME
 *	test_sendmail_hook_log - unit tests of milter/sendmail_hook_log.c
 * DESCRIPTION
 *	The lines of contrib/sendmail/tlsrpt.mc's syslog map, as a real
 *	Sendmail 8.17 logs them (tests/t-e2e-failsafe-sendmail.sh): what is
 *	a hook line and what is not, the hooked processes whose other lines
 *	are superseded, unusable hook lines, report mails, expiry of quiet
 *	processes (a delivery line logged after a quiet spell is still
 *	superseded: counted once), the cap, and the saved state across a restart (a second
 *	recipient of a session counted before the restart adds nothing, a
 *	held handshake failure is emitted once).  Every emitted result is
 *	checked exactly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendmail_hook_log.h"
#include "session.h"
#include "util.h"

#define STALE 300

struct got {
	struct strbuf text;
	const char *report_qid;
};

static const char *opt(const char *s)
{
	return s != NULL ? s : "-";
}

static void collect(void *ctx, const struct tlsrpt_session *s, const char *mx, const char *ip)
{
	struct got *g = ctx;
	const struct tlsrpt_policy_result *p = &s->policies[0];

	assert_int_equal(s->npolicies, 1);
	if (!p->failed) {
		strbuf_printf(&g->text, "%s S %s %s %lld\n", s->domain, opt(mx), opt(ip), s->when);
		return;
	}
	strbuf_printf(&g->text, "%s F %s %s %s %lld\n", s->domain,
	    result_type_name(p->failures[0].result_type), opt(p->failures[0].mx_name),
	    opt(p->failures[0].reason), s->when);
}

static bool skip_report(void *ctx, const char *qid)
{
	struct got *g = ctx;

	return g->report_qid != NULL && strcmp(qid, g->report_qid) == 0;
}

static const char *text(struct got *g)
{
	return g->text.data != NULL ? g->text.data : "";
}

/* Feed one line; returns the result, *pid the line's process. */
static enum smh_result feed(struct smh *h, const char *line, long long when, long *pid)
{
	char why[128];
	long p;

	return smh_feed(h, line, strlen(line), when, pid != NULL ? pid : &p, why, sizeof(why));
}

/* Lines as Sendmail 8.17.1.9 logged them (host and date as the sink writes them). */
#define PFX "Dec  7 23:21:49 sender sm-mta[1352]: 6B7Mxnsa001280: "
#define SRV_OK PFX "tlsrpt srv= mx.odb.test addr= 127.0.0.13 verify= OK ver= TLSv1.3 " \
	"qid= 6B7Mxnsa001280 cn= mx.odb.test cni= Lab+20Test+20CA san= yes host= odb.test.rcpt="
#define RCPT_OK(r) PFX "tlsrpt srv= mx.odb.test addr= 127.0.0.13 verify= OK ver= TLSv1.3 " \
	"qid= 6B7Mxnsa001280 cn= mx.odb.test cni= Lab+20Test+20CA san= yes host= odb.test.rcpt= " r
#define STARTTLS "Dec  7 23:21:49 sender sm-mta[1352]: STARTTLS=client, relay=mx.odb.test., " \
	"version=TLSv1.3, verify=OK, cipher=TLS_AES_256_GCM_SHA384, bits=256/256"
#define DELIVERY PFX "to=u@odb.test, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, " \
	"pri=30057, relay=mx.odb.test. [127.0.0.13], dsn=2.0.0, stat=Sent (2.0.0 Ok: queued as T1)"
#define SOFTWARE(pid) "Dec  7 23:21:50 sender sm-mta[" pid "]: 6B7Mxnsa009999: tlsrpt " \
	"srv= mx.bad.test addr= 127.0.0.16 verify= SOFTWARE ver= qid= 6B7Mxnsa009999 cn= cni= " \
	"san= no host= bad.test.rcpt="

static struct smh *new_smh(struct got *g, size_t cap)
{
	memset(g, 0, sizeof(*g));
	strbuf_init(&g->text);
	return smh_new(STALE, cap, collect, skip_report, g);
}

static void test_hooked_process(void **state)
{
	struct got g;
	struct smh *h = new_smh(&g, 100);
	struct smh_stats st;
	long pid;

	(void)state;
	/* Sendmail's own lines come first; the process is not hooked yet */
	assert_int_equal(feed(h, STARTTLS, 1000, &pid), SMH_OTHER);
	assert_int_equal(pid, 1352);
	assert_int_equal(feed(h, SRV_OK, 1000, &pid), SMH_HOOKED);
	assert_int_equal(pid, 1352);
	assert_string_equal(text(&g), "");
	assert_int_equal(feed(h, RCPT_OK("u@odb.test"), 1001, NULL), SMH_USED);
	assert_string_equal(text(&g), "odb.test S mx.odb.test 127.0.0.13 1001\n");
	/* a second recipient of the domain adds nothing, another domain one result */
	assert_int_equal(feed(h, RCPT_OK("v@odb.test"), 1001, NULL), SMH_USED);
	assert_int_equal(feed(h, RCPT_OK("w@other.test"), 1002, NULL), SMH_USED);
	assert_string_equal(text(&g), "odb.test S mx.odb.test 127.0.0.13 1001\n"
	    "other.test S mx.odb.test 127.0.0.13 1002\n");
	/* every other line of the process is superseded, others' are not */
	assert_int_equal(feed(h, DELIVERY, 1003, NULL), SMH_SUPERSEDED);
	assert_int_equal(feed(h, STARTTLS, 1003, NULL), SMH_SUPERSEDED);
	assert_int_equal(feed(h, "Dec  7 23:21:49 sender sm-mta[77]: STARTTLS=client, relay=x.", 1003,
	    &pid), SMH_OTHER);
	assert_int_equal(pid, 77);
	assert_int_equal(feed(h, "Dec  7 23:21:49 sender postfix/smtp[1352]: tlsrpt srv= x", 1003,
	    &pid), SMH_OTHER);
	assert_int_equal(pid, -1);
	assert_int_equal(feed(h, "Dec  7 23:21:49 sender sm-msp-queue[1352]: " "tlsrpt srv= x",
	    1003, &pid), SMH_OTHER);
	assert_int_equal(feed(h, "not a syslog line", 1003, &pid), SMH_OTHER);
	smh_get_stats(h, &st);
	assert_int_equal(st.requests, 4);
	assert_int_equal(st.superseded, 2);
	assert_int_equal(st.bad, 0);
	assert_int_equal(st.map.sessions, 2);
	assert_int_equal(st.processes, 1);
	smh_free(h);
	strbuf_free(&g.text);
}

/* A hook line without a queue id prefix (NOQUEUE), and the "sendmail" tag. */
static void test_tag_forms(void **state)
{
	struct got g;
	struct smh *h = new_smh(&g, 100);

	(void)state;
	assert_int_equal(feed(h, "2026-12-07T23:21:49.123456+00:00 mx sendmail[9]: NOQUEUE: "
	    "tlsrpt srv= mx.n.test addr= 10.0.0.1 verify= NONE ver= qid= cn= cni= san= no "
	    "host= n.test.rcpt= a@n.test", 2000, NULL), SMH_HOOKED);
	assert_int_equal(feed(h, "sm-mta[10]: tlsrpt srv= mx.n.test addr= 10.0.0.1 verify= OK "
	    "ver= TLSv1.2 qid= Q1 cn= mx.n.test cni= CA san= yes host= n.test.rcpt= a@n.test",
	    2001, NULL), SMH_HOOKED);
	assert_string_equal(text(&g), "n.test F starttls-not-supported mx.n.test STARTTLS not "
	    "offered 2000\nn.test S mx.n.test 10.0.0.1 2001\n");
	smh_free(h);
	strbuf_free(&g.text);
}

static void test_bad_lines(void **state)
{
	struct got g;
	struct smh *h = new_smh(&g, 100);
	struct smh_stats st;
	char why[128], big[5000];
	long pid;

	(void)state;
	/* a K line without "-S ": Sendmail wrote "." for the blanks */
	assert_int_equal(smh_feed(h, PFX "tlsrpt.srv=.mx.odb.test.addr=.127.0.0.13.verify=.OK",
	    strlen(PFX) + 49, 1000, &pid, why, sizeof(why)), SMH_BAD);
	assert_string_equal(why, "hook line without blanks (the K line needs \"-S \")");
	/* ... and the process is not hooked: its STARTTLS lines still count */
	assert_int_equal(feed(h, STARTTLS, 1000, NULL), SMH_OTHER);
	/* a message Sendmail split */
	assert_int_equal(smh_feed(h, "sm-mta[5]: 6B7Mxnsa001280[1]: tlsrpt srv= mx.a.test addr=",
	    57, 1000, &pid, why, sizeof(why)), SMH_BAD);
	assert_string_equal(why, "hook line split by Sendmail (too long)");
	assert_int_equal(smh_feed(h, "sm-mta[5]: 6B7Mxnsa001280[2]: tlsrpt srv= mx.a.test", 51,
	    1000, &pid, why, sizeof(why)), SMH_BAD);
	/* a request the map cannot read: tls_server without verify= */
	assert_int_equal(smh_feed(h, "sm-mta[6]: Q1: tlsrpt srv= mx.a.test addr= 1.2.3.4", 49,
	    1000, &pid, why, sizeof(why)), SMH_BAD);
	assert_string_equal(why, "tls_server request without verify=");
	/* too long */
	snprintf(big, sizeof(big), "sm-mta[7]: tlsrpt srv= %04500d", 1);
	assert_int_equal(smh_feed(h, big, strlen(big), 1000, &pid, why, sizeof(why)), SMH_BAD);
	assert_string_equal(why, "hook line longer than 4096 bytes");
	smh_get_stats(h, &st);
	assert_int_equal(st.bad, 5);
	assert_int_equal(st.map.sessions, 0);
	assert_string_equal(text(&g), "");
	smh_free(h);
	strbuf_free(&g.text);
}

static void test_report_mail(void **state)
{
	struct got g;
	struct smh *h = new_smh(&g, 100);
	struct smh_stats st;

	(void)state;
	g.report_qid = "6B7Mxnsa001280";
	assert_int_equal(feed(h, SRV_OK, 1000, NULL), SMH_HOOKED);
	assert_int_equal(feed(h, RCPT_OK("tlsrpt@odb.test"), 1000, NULL), SMH_USED);
	smh_expire(h, -1);
	assert_string_equal(text(&g), "");
	smh_get_stats(h, &st);
	assert_int_equal(st.map.report_mails_skipped, 1);
	smh_free(h);
	strbuf_free(&g.text);
}

/* A failed handshake has no tls_rcpt: emitted for its host when the process goes quiet. */
static void test_expire(void **state)
{
	struct got g;
	struct smh *h = new_smh(&g, 100);
	long pid;

	(void)state;
	assert_int_equal(feed(h, SOFTWARE("40"), 1000, NULL), SMH_HOOKED);
	smh_expire(h, 1000 + STALE - 1);
	assert_string_equal(text(&g), "");
	smh_expire(h, 1000 + STALE);
	assert_string_equal(text(&g), "bad.test F validation-failure mx.bad.test TLS handshake "
	    "failed 1000\n");
	/* the process may still be under way: its lines stay superseded for hours ... */
	assert_int_equal(feed(h, "sm-mta[40]: STARTTLS=client, relay=x.", 1400, &pid), SMH_SUPERSEDED);
	/* ... and then the pid is free again (reused by a process without the hook) */
	assert_int_equal(feed(h, "sm-mta[40]: STARTTLS=client, relay=x.", 1400 + 6 * 3600, &pid),
	    SMH_OTHER);
	/* a stale process seen again is closed first, and hooked anew */
	assert_int_equal(feed(h, SOFTWARE("41"), 2000, NULL), SMH_HOOKED);
	assert_int_equal(feed(h, SOFTWARE("41"), 2000 + STALE, NULL), SMH_HOOKED);
	assert_string_equal(text(&g), "bad.test F validation-failure mx.bad.test TLS handshake "
	    "failed 1000\nbad.test F validation-failure mx.bad.test TLS handshake failed 2000\n");
	smh_free(h);
	strbuf_free(&g.text);
}

/*
 * A delivery whose DATA phase outlasts log_session_timeout: the process is
 * closed in the meantime, and its delivery line, logged later, must not go
 * to sendmail_log.c, which would count the session again ("delivered in
 * plain text": it never saw the STARTTLS line).
 */
static void test_quiet_delivery(void **state)
{
	struct got g;
	struct smh *h = new_smh(&g, 100);
	struct smh_stats st;

	(void)state;
	assert_int_equal(feed(h, STARTTLS, 1000, NULL), SMH_OTHER);
	assert_int_equal(feed(h, SRV_OK, 1000, NULL), SMH_HOOKED);
	assert_int_equal(feed(h, RCPT_OK("u@odb.test"), 1000, NULL), SMH_USED);
	smh_expire(h, 1000 + STALE);
	smh_get_stats(h, &st);
	assert_int_equal(st.processes, 0);
	assert_int_equal(feed(h, DELIVERY, 1000 + 600, NULL), SMH_SUPERSEDED);
	assert_int_equal(feed(h, PFX "done; delay=00:10:00, ntries=1", 1000 + 601, NULL),
	    SMH_SUPERSEDED);
	/* the same process delivers again: hooked anew, its session counted once */
	assert_int_equal(feed(h, SRV_OK, 1000 + 700, NULL), SMH_HOOKED);
	assert_int_equal(feed(h, RCPT_OK("u@odb.test"), 1000 + 700, NULL), SMH_USED);
	assert_string_equal(text(&g), "odb.test S mx.odb.test 127.0.0.13 1000\n"
	    "odb.test S mx.odb.test 127.0.0.13 1700\n");
	/* a stale process met by its own next line is remembered too */
	assert_int_equal(feed(h, DELIVERY, 1700 + STALE + 1, NULL), SMH_SUPERSEDED);
	smh_get_stats(h, &st);
	assert_int_equal(st.superseded, 3);
	assert_int_equal(st.map.sessions, 2);
	/* the record of a closed process ends after some hours */
	smh_expire(h, 1700 + STALE + 1 + 6 * 3600);
	assert_int_equal(feed(h, DELIVERY, 1700 + STALE + 2 + 6 * 3600, NULL), SMH_OTHER);
	smh_free(h);
	strbuf_free(&g.text);
}

static void test_cap(void **state)
{
	struct got g;
	struct smh *h = new_smh(&g, 2);
	struct smh_stats st;

	(void)state;
	assert_int_equal(feed(h, SOFTWARE("1"), 1000, NULL), SMH_HOOKED);
	assert_int_equal(feed(h, SOFTWARE("2"), 1001, NULL), SMH_HOOKED);
	assert_int_equal(feed(h, SOFTWARE("3"), 1002, NULL), SMH_HOOKED);
	smh_get_stats(h, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.processes, 2);
	/* the evicted process's held session is emitted, not lost */
	assert_string_equal(text(&g), "bad.test F validation-failure mx.bad.test TLS handshake "
	    "failed 1000\n");
	smh_free(h);
	strbuf_free(&g.text);
}

/* A restart between two recipients of one session, and with a held failure. */
static void test_save_load(void **state)
{
	struct got g1, g2;
	struct smh *h1 = new_smh(&g1, 100), *h2;
	struct strbuf sb;

	(void)state;
	assert_int_equal(feed(h1, SRV_OK, 1000, NULL), SMH_HOOKED);
	assert_int_equal(feed(h1, RCPT_OK("u@odb.test"), 1001, NULL), SMH_USED);
	assert_int_equal(feed(h1, SOFTWARE("40"), 1002, NULL), SMH_HOOKED);
	strbuf_init(&sb);
	smh_save(h1, &sb);
	assert_string_equal(sb.data,
	    "H\t1352\t1001\n"
	    "I\t1000\t1\t0\t0\t0\t0\t-1\tmx.odb.test\t127.0.0.13\todb.test\todb.test\n"
	    "H\t40\t1002\n"
	    "I\t1002\t1\t1\t0\t0\t205\t5\tmx.bad.test\t127.0.0.16\tbad.test\t-\n");
	smh_free(h1);	/* a stop emits nothing: the saved state holds it */
	assert_string_equal(text(&g1), "odb.test S mx.odb.test 127.0.0.13 1001\n");

	h2 = new_smh(&g2, 100);
	assert_true(smh_load(h2, sb.data, sb.len));
	/* the process is still hooked, its session still knows odb.test */
	assert_int_equal(feed(h2, DELIVERY, 1003, NULL), SMH_SUPERSEDED);
	assert_int_equal(feed(h2, RCPT_OK("v@odb.test"), 1003, NULL), SMH_USED);
	assert_string_equal(text(&g2), "");
	assert_int_equal(feed(h2, RCPT_OK("x@new.test"), 1004, NULL), SMH_USED);
	smh_expire(h2, -1);
	assert_string_equal(text(&g2), "new.test S mx.odb.test 127.0.0.13 1004\n"
	    "bad.test F validation-failure mx.bad.test TLS handshake failed 1002\n");
	smh_free(h2);
	strbuf_free(&sb);
	strbuf_free(&g1.text);
	strbuf_free(&g2.text);
}

static void test_load_damaged(void **state)
{
	struct got g;
	struct smh *h = new_smh(&g, 100);
	static const char *const bad[] = {
		"I\t1000\t1\t0\t0\t0\t0\t-1\ta\tb\tc\td\n",	/* no H before */
		"H\tx\t5\n",
		"H\t5\t5\nI\t1000\t1\t0\t0\t0\t0\t99\ta\tb\tc\td\n",	/* reason index */
		"H\t6\t5\nI\t1000\t2\t0\t0\t0\t0\t-1\ta\tb\tc\td\n",	/* flag */
		"H\t7\t5\nI\t1000\t1\t0\t0\t0\t0\t-1\ta\tb\tc\n",	/* a field short */
		"H\t8\t5\nH\t8\t6\n",	/* twice */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(smh_load(h, bad[i], strlen(bad[i])));
	/* other lines (the Postfix correlator's) are not ours: skipped */
	assert_true(smh_load(h, "V\t1\t0\nP\tx\n", 10));
	smh_expire(h, -1);
	assert_string_equal(text(&g), "");
	smh_free(h);
	strbuf_free(&g.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hooked_process),
		cmocka_unit_test(test_tag_forms),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_report_mail),
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_quiet_delivery),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_load_damaged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
