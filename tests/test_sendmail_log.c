/*
 * NAME
 *	test_sendmail_log - unit tests of milter/sendmail_log.c
 * DESCRIPTION
 *	The parser: every line of shared/spec/sendmail-8.17-tls.md (and the
 *	forms of mta-hooks.md) written out in full with a syslog prefix and
 *	checked field by field; the prefix styles; lines that must be
 *	ignored; recipient lists; certificate subjects; malformed lines of
 *	every kind (cut, huge, NUL bytes, missing fields).
 *	The correlator: one test per case of the spec (good, expired,
 *	self-signed, wrong host, no STARTTLS at may and at verify, handshake
 *	failure) and per rule of sendmail_log.c, each checking every emitted
 *	session result exactly and the counters; then a fuzz-like pass that
 *	feeds random mutations of the real lines (fixed seed) from
 *	exact-size heap copies, so that ASan or valgrind sees any read past
 *	the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendmail_log.h"
#include "session.h"

/* the fuzz test counts every session (got.total) and keeps the first MAX_RECS */
#define SESSION_CAPTURE_ALL
#include "session_capture.h"

#define SM(pid) "Nov 23 21:16:29 mta sm-mta[" #pid "]: "
#define SM1(pid) "Nov  3 08:01:02 mta sm-mta[" #pid "]: "
#define ISO(pid) "2026-11-23T21:16:29.123+00:00 mta sendmail[" #pid "]: "
#define CAT(pid) "sm-mta[" #pid "]: "

#define CIPHER ", cipher=TLS_AES_256_GCM_SHA384, bits=256/256"
#define RELAY(mx, verify) \
	"STARTTLS=client, relay=" mx "., version=TLSv1.3, verify=" verify CIPHER
#define CERT(cn, msg) \
	"STARTTLS=client, cert-subject=/CN=" cn ", cert-issuer=/CN=Lab+20Test+20CA, " \
	"verifymsg=" msg
#define VERIFY(cn, reason) \
	"STARTTLS: TLS cert verify: depth=0 /CN=" cn ", state=0, reason=" reason
#define DELIVERY(qid, rcpt, mx, ip, dsn, stat) \
	qid ": to=" rcpt ", delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120415, " \
	"relay=" mx ". [" ip "], dsn=" dsn ", stat=" stat
#define SENT(qid, rcpt, mx, ip) \
	DELIVERY(qid, rcpt, mx, ip, "2.0.0", "Sent (Ok: queued as 4Xyz)")
#define DEFERRED(qid, rcpt, mx, ip, text) \
	DELIVERY(qid, rcpt, mx, ip, "4.7.0", "Deferred: " text)
#define TLS_RCPT(qid, rcpt, mx, text) \
	qid ": ruleset=tls_rcpt, arg1=" rcpt ", relay=" mx "., reject=" text
#define TLS_SERVER(arg, mx, text) \
	"ruleset=tls_server, arg1=" arg ", relay=" mx ", reject=" text
#define CONNECT_FAILED \
	"STARTTLS=client, error: connect failed=-1, reason=unexpected eof while reading, " \
	"SSL_error=5, errno=104, retry=-1"
#define NOTLS "454 4.7.0 other side does not support STARTTLS"
#define AUTHFAIL "454 4.7.0 authentication failed"
#define HSFAIL "454 4.7.0 TLS handshake failed."

#define STALE 600

/* ---- helpers ---- */

/* Parse from an exact-size heap copy, so a read past the end is caught. */
static enum sml_kind parse_exact(const char *line, size_t n, struct sml_event *ev)
{
	char *copy = malloc(n > 0 ? n : 1);
	enum sml_kind kind;

	assert_non_null(copy);
	memcpy(copy, line, n);
	kind = sml_parse(copy, n, ev);
	free(copy);
	return kind;
}

static enum sml_kind parse(const char *line, struct sml_event *ev)
{
	return parse_exact(line, strlen(line), ev);
}

/* Feed a full line that must be read as expected. */
static void feed_as(struct sml *p, struct got *g, const char *line, long long when,
    enum sml_result want)
{
	char *copy = malloc(strlen(line) + 1);
	enum sml_result got;

	assert_non_null(copy);
	memcpy(copy, line, strlen(line));
	got = sml_feed(p, copy, strlen(line), when, collect, g);
	free(copy);
	if (got != want)
		fail_msg("line fed as %d, not %d: %s", (int)got, (int)want, line);
}

static void feed(struct sml *p, struct got *g, const char *line, long long when)
{
	feed_as(p, g, line, when, SML_USED);
}

static void stats(const struct sml *p, struct sml_stats *st)
{
	sml_get_stats(p, st);
}

static void check_counts(const struct sml *p, unsigned long long ok, unsigned long long bad,
    unsigned long long no_delivery, unsigned long long uncounted, size_t open)
{
	struct sml_stats st;

	stats(p, &st);
	assert_int_equal(st.emitted_success, ok);
	assert_int_equal(st.emitted_failure, bad);
	assert_int_equal(st.no_delivery, no_delivery);
	assert_int_equal(st.uncounted, uncounted);
	assert_int_equal(st.open, open);
}

/* ==== the parser ====================================================== */

/* What one line must give; NULL strings mean "". */
struct expect {
	const char *line;
	enum sml_kind kind;
	long pid;
	const char *queue_id;
	const char *relay;
	const char *ip;
	const char *verify;
	const char *version;
	const char *cn;
	const char *reason;
	int result_type;
	const char *rcpt_domain;
	int sent;
	const char *dsn;
	const char *domain0;
	size_t ndomains;
	int state;
};

static const char *or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static void check_event(const struct expect *x)
{
	struct sml_event ev;
	enum sml_kind kind = parse(x->line, &ev);

	if (kind != x->kind)
		fail_msg("kind %d, not %d: %s", (int)kind, (int)x->kind, x->line);
	assert_int_equal(ev.kind, x->kind);
	assert_int_equal(ev.pid, x->pid);
	assert_string_equal(ev.queue_id, or_empty(x->queue_id));
	assert_string_equal(ev.relay, or_empty(x->relay));
	assert_string_equal(ev.ip, or_empty(x->ip));
	assert_string_equal(ev.verify, or_empty(x->verify));
	assert_string_equal(ev.version, or_empty(x->version));
	assert_string_equal(ev.cn, or_empty(x->cn));
	assert_string_equal(ev.reason, or_empty(x->reason));
	assert_int_equal(ev.result_type, x->result_type);
	assert_string_equal(ev.rcpt_domain, or_empty(x->rcpt_domain));
	assert_int_equal(ev.sent, x->sent);
	assert_string_equal(ev.dsn, or_empty(x->dsn));
	assert_int_equal(ev.ndomains, x->ndomains);
	if (x->ndomains > 0)
		assert_string_equal(ev.domains[0], or_empty(x->domain0));
	assert_int_equal(ev.state, x->state);
	assert_false(ev.reason_truncated);
}

/* Every line of the spec, field by field. */
static void test_parse_spec_lines(void **state)
{
	static const struct expect cases[] = {
		{SM(1234) RELAY("mx.good.test", "OK"), SML_EV_SESSION, 1234, NULL,
		 "mx.good.test", NULL, "OK", "TLSv1.3", NULL, NULL, 0, NULL, 0, NULL, NULL, 0, 0},
		{SM(1234) CERT("mx.good.test", "ok"), SML_EV_CERT, 1234, NULL, NULL, NULL,
		 NULL, NULL, "mx.good.test", "ok", 0, NULL, 0, NULL, NULL, 0, 0},
		{SM(1235) VERIFY("mx.expired.test", "certificate has expired"), SML_EV_VERIFY,
		 1235, NULL, NULL, NULL, NULL, NULL, NULL, "certificate has expired", 0, NULL, 0,
		 NULL, NULL, 0, 0},
		{SM(1235) RELAY("mx.expired.test", "FAIL"), SML_EV_SESSION, 1235, NULL,
		 "mx.expired.test", NULL, "FAIL", "TLSv1.3", NULL, NULL, 0, NULL, 0, NULL, NULL,
		 0, 0},
		{SM(1235) CERT("mx.expired.test", "certificate has expired"), SML_EV_CERT, 1235,
		 NULL, NULL, NULL, NULL, NULL, "mx.expired.test", "certificate has expired", 0,
		 NULL, 0, NULL, NULL, 0, 0},
		{SM(1236) VERIFY("mx.selfsigned.test", "self-signed certificate"),
		 SML_EV_VERIFY, 1236, NULL, NULL, NULL, NULL, NULL, NULL,
		 "self-signed certificate", 0, NULL, 0, NULL, NULL, 0, 0},
		{SM(1237) CERT("other.name.test", "ok"), SML_EV_CERT, 1237, NULL, NULL, NULL,
		 NULL, NULL, "other.name.test", "ok", 0, NULL, 0, NULL, NULL, 0, 0},
		{SM(1238) TLS_RCPT("2ANLGTxx001238", "rcpt@verify.notls.test", "mx.notls.test",
		    NOTLS), SML_EV_TLS_RCPT, 1238, "2ANLGTxx001238", "mx.notls.test", NULL, NULL,
		 NULL, NULL, "other side does not support STARTTLS",
		 RESULT_STARTTLS_NOT_SUPPORTED, "verify.notls.test", 0, NULL, NULL, 0, 0},
		{SM(1239) TLS_RCPT("2ANLGTxx001239", "rcpt@verify.expired.test",
		    "mx.expired.test", AUTHFAIL), SML_EV_TLS_RCPT, 1239, "2ANLGTxx001239",
		 "mx.expired.test", NULL, NULL, NULL, NULL, "authentication failed", 0,
		 "verify.expired.test", 0, NULL, NULL, 0, 0},
		{SM(1240) CONNECT_FAILED, SML_EV_CONNECT_FAILED, 1240, NULL, NULL, NULL, NULL,
		 NULL, NULL, "unexpected eof while reading", 0, NULL, 0, NULL, NULL, 0, 0},
		{SM(1240) TLS_SERVER("SOFTWARE", "mx.badtls.test", HSFAIL), SML_EV_TLS_SERVER,
		 1240, NULL, "mx.badtls.test", NULL, "SOFTWARE", NULL, NULL,
		 "TLS handshake failed.", RESULT_VALIDATION_FAILURE, NULL, 0, NULL, NULL, 0, 0},
		{SM(1234) "2ANLGTxx001234: to=rcpt@may.good.test, delay=00:00:00, mailer=smtp, "
		 "pri=120415, relay=mx.good.test. [127.0.0.11], dsn=2.0.0, stat=Sent "
		 "(2ANLGTyy005678 Message accepted for delivery)", SML_EV_DELIVERY, 1234,
		 "2ANLGTxx001234", "mx.good.test", "127.0.0.11", NULL, NULL, NULL,
		 "Sent (2ANLGTyy005678 Message accepted for delivery)", 0, NULL, 1, "2.0.0",
		 "may.good.test", 1, 0},
		{SM(1240) DEFERRED("2ANLGTxx001240", "rcpt@may.badtls.test", "mx.badtls.test",
		    "127.0.0.16", HSFAIL), SML_EV_DELIVERY, 1240, "2ANLGTxx001240",
		 "mx.badtls.test", "127.0.0.16", NULL, NULL, NULL, "TLS handshake failed.",
		 RESULT_VALIDATION_FAILURE, NULL, 0, "4.7.0", "may.badtls.test", 1, 0},
		{SM(1238) DEFERRED("2ANLGTxx001238", "rcpt@verify.notls.test", "mx.notls.test",
		    "127.0.0.15", NOTLS), SML_EV_DELIVERY, 1238, "2ANLGTxx001238",
		 "mx.notls.test", "127.0.0.15", NULL, NULL, NULL,
		 "other side does not support STARTTLS", RESULT_STARTTLS_NOT_SUPPORTED, NULL, 0,
		 "4.7.0", "verify.notls.test", 1, 0},
		{SM(1241) DEFERRED("2ANLGTxx001241", "<u@down.test>", "mx.down.test",
		    "127.0.0.17", "Connection refused by mx.down.test."), SML_EV_DELIVERY, 1241,
		 "2ANLGTxx001241", "mx.down.test", "127.0.0.17", NULL, NULL, NULL,
		 "Connection refused by mx.down.test.", 0, NULL, 0, "4.7.0", "down.test", 1, 0},
		/* a queue id on the STARTTLS line, the brief's form */
		{SM(1242) "2ANLGTxx001242: " RELAY("mx.good.test", "OK"), SML_EV_SESSION, 1242,
		 "2ANLGTxx001242", "mx.good.test", NULL, "OK", "TLSv1.3", NULL, NULL, 0, NULL, 0,
		 NULL, NULL, 0, 0},
		/* DANE's pubkey_fp after bits= */
		{SM(1243) RELAY("mx.dane.test", "DANE_FAIL") ", pubkey_fp=AB:CD", SML_EV_SESSION,
		 1243, NULL, "mx.dane.test", NULL, "DANE_FAIL", "TLSv1.3", NULL, NULL, 0, NULL, 0,
		 NULL, NULL, 0, 0},
		{SM(1244) "STARTTLS=client, relay=mx.alt.test., AltName=MX.Alt.Test",
		 SML_EV_ALTNAME, 1244, NULL, "mx.alt.test", NULL, NULL, NULL, NULL, NULL, 0, NULL,
		 0, NULL, NULL, 0, 0},
		{SM(1245) "STARTTLS=server, relay=client.test [192.0.2.1], version=TLSv1.3, "
		 "verify=NO" CIPHER, SML_EV_SERVER, 1245, NULL, NULL, NULL, NULL, NULL, NULL,
		 NULL, 0, NULL, 0, NULL, NULL, 0, 0},
		/* the older form without "STARTTLS: " */
		{SM(1246) "TLS cert verify: depth=1 /C=US/O=Lab, Inc./CN=Lab CA, state=0, "
		 "reason=unable to get local issuer certificate", SML_EV_VERIFY, 1246, NULL,
		 NULL, NULL, NULL, NULL, NULL, "unable to get local issuer certificate", 0, NULL,
		 0, NULL, NULL, 0, 0},
		{SM(1247) "NOQUEUE: ruleset=tls_rcpt, arg1=<x@Y.Test.>, arg2=z, relay=mx.y.test. "
		 "[192.0.2.9], reject=403 4.7.0 not authenticated.", SML_EV_TLS_RCPT, 1247, NULL,
		 "mx.y.test", NULL, NULL, NULL, NULL, "not authenticated.", 0, "y.test", 0, NULL,
		 NULL, 0, 0},
		/* IPv6 relay, ctladdr, the "(may be forged)" suffix */
		{SM(1248) "2ANLGTxx001248: to=<v@six.test>, ctladdr=<root@mta.test> (0/0), "
		 "delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=30000, relay=mx.six.test. "
		 "[IPv6:2001:db8::25] (may be forged), dsn=5.1.1, stat=User unknown",
		 SML_EV_DELIVERY, 1248, "2ANLGTxx001248", "mx.six.test", "2001:db8::25", NULL,
		 NULL, NULL, "User unknown", 0, NULL, 0, "5.1.1", "six.test", 1, 0},
		/* a state=1 verify line is read, and only state=0 counts later */
		{SM(1249) "STARTTLS: TLS cert verify: depth=0 /CN=x.test, state=1, reason=ok",
		 SML_EV_VERIFY, 1249, NULL, NULL, NULL, NULL, NULL, NULL, "ok", 0, NULL, 0, NULL,
		 NULL, 0, 1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_event(&cases[i]);
}

/* The prefix styles and both program names give the same event. */
static void test_parse_prefixes(void **state)
{
	static const char *const lines[] = {
		SM(77) RELAY("mx.good.test", "OK"),
		SM1(77) RELAY("mx.good.test", "OK"),
		ISO(77) RELAY("mx.good.test", "OK"),
		CAT(77) RELAY("mx.good.test", "OK"),
		"Nov 23 21:16:29 mta sendmail[77]: " RELAY("mx.good.test", "OK"),
		"2026-11-23T21:16:29+01:00 mta sm-mta[77]: " RELAY("mx.good.test", "OK"),
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct sml_event ev;

		assert_int_equal(parse(lines[i], &ev), SML_EV_SESSION);
		assert_int_equal(ev.pid, 77);
		assert_string_equal(ev.relay, "mx.good.test");
		assert_string_equal(ev.verify, "OK");
	}
}

/* Lines that are not ours, or ours but not about outbound TLS. */
static void test_parse_ignored(void **state)
{
	static const char *const lines[] = {
		"",
		"Nov 23 21:16:29 mta",
		"Nov 23 21:16:29 mta sm-msp-queue[90]: 2ANLGTxx000090: to=root, ctladdr=root "
		"(0/0), delay=00:00:00, xdelay=00:00:00, mailer=relay, pri=30000, "
		"relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (queued)",
		"Nov 23 21:16:29 mta sm-msp-queue[90]: " RELAY("mx.good.test", "OK"),
		"Nov 23 21:16:29 mta postfix/sendmail[91]: fatal: usage error",
		"Nov 23 21:16:29 mta postfix/smtp[92]: Verified TLS connection established to "
		"mx.good.test[127.0.0.11]:25: TLSv1.3",
		"Nov 23 21:16:29 mta kernel: [1234.5] eth0: link up",
		"Nov 23 21:16:29 mta sm-mta 93: " RELAY("mx.good.test", "OK"),
		"Nov 23 21:16:29 mta sm-mta[]: " RELAY("mx.good.test", "OK"),
		"Nov 23 21:16:29 mta sm-mta[12345678901]: " RELAY("mx.good.test", "OK"),
		SM(94) "2ANLGTxx000094: from=<a@b.test>, size=312, class=0, nrcpts=1, "
		"msgid=<1@b.test>, proto=ESMTPS, daemon=MTA, relay=localhost [127.0.0.1]",
		SM(94) "2ANLGTxx000094: to=root, ctladdr=<root@mta.test> (0/0), delay=00:00:00, "
		"xdelay=00:00:00, mailer=local, pri=30000, dsn=2.0.0, stat=Sent",
		SM(94) "2ANLGTxx000094: to=<x@y.test>, delay=00:00:00, mailer=esmtp, pri=30000, "
		"stat=queued",
		SM(95) "STARTTLS=client, get_verify: 0 get_peer: 0x55d0c0a0",
		SM(95) "STARTTLS=client, relay=mx.good.test., field=cn_subject, status=failed to "
		"extract CN",
		SM(95) "STARTTLS: SSL_connect:SSLv3/TLS write client hello",
		SM(95) "STARTTLS: read error=generic SSL error (-1), errno=104",
		SM(95) "STARTTLS=client: 1:error:0A000126:SSL routines::unexpected eof",
		SM(95) "ruleset=check_rcpt, arg1=<x@y.test>, relay=[192.0.2.1], reject=550 5.7.1 "
		"Relaying denied",
		SM(95) "ruleset=tls_rcpt, arg1=x@y.test, relay=mx.y.test., discard",
		SM(95) "ruleset=tls_rcpt, arg1=x@y.test, relay=mx.y.test., quarantine=held",
		SM(95) "2ANLGTxx000095[2]: to=x@y.test, ... stat=Sent",
		SM(95) "starting daemon (8.17.1.9): SMTP+queueing@00:10:00",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct sml_event ev;

		if (parse(lines[i], &ev) != SML_EV_IGNORED)
			fail_msg("not ignored: %s", lines[i]);
		assert_int_equal(ev.pid, 0);
		assert_string_equal(ev.program, "");
	}
}

/* to= lists: several recipients, <>, quotes, Sendmail's "[more]", bad ones. */
static void test_parse_recipients(void **state)
{
	struct sml_event ev;
	char line[4096];
	size_t i;

	(void)state;
	assert_int_equal(parse(SM(5) SENT("2ANLGTxx000005", "a@one.test,<b@Two.Test.>,"
	    "\"c, d\"@one.test,e@two.test", "mx.shared.test", "127.0.0.20"), &ev),
	    SML_EV_DELIVERY);
	assert_int_equal(ev.ndomains, 2);
	assert_string_equal(ev.domains[0], "one.test");
	assert_string_equal(ev.domains[1], "two.test");
	assert_int_equal(ev.bad_rcpts, 0);
	assert_true(ev.sent);

	/* the first piece of a list Sendmail split, and recipients without domain */
	assert_int_equal(parse(SM(5) "2ANLGTxx000005: to=a@one.test,root,<>,x@[192.0.2.1], "
	    "[more], delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=1, relay=mx.one.test. "
	    "[127.0.0.21], dsn=2.0.0, stat=Sent (ok)", &ev), SML_EV_DELIVERY);
	assert_int_equal(ev.ndomains, 1);
	assert_string_equal(ev.domains[0], "one.test");
	assert_int_equal(ev.bad_rcpts, 3);

	/* more distinct domains than one event holds */
	strcpy(line, SM(5) "2ANLGTxx000005: to=");
	for (i = 0; i < SML_LINE_DOMAINS + 3; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%su@d%zu.test",
		    i > 0 ? "," : "", i);
	strcat(line, ", delay=0, mailer=esmtp, pri=1, relay=mx.many.test. [127.0.0.22], "
	    "dsn=2.0.0, stat=Sent (ok)");
	assert_int_equal(parse(line, &ev), SML_EV_DELIVERY);
	assert_int_equal(ev.ndomains, SML_LINE_DOMAINS);
	assert_string_equal(ev.domains[SML_LINE_DOMAINS - 1], "d15.test");
	assert_int_equal(ev.more_domains, 3);
}

/* The cert-subject line: xtext, several RDNs, CN cases. */
static void test_parse_cert_subject(void **state)
{
	static const struct {
		const char *subject;
		const char *cn;
		bool known;
	} cases[] = {
		{"/CN=mx.good.test", "mx.good.test", true},
		{"/C=DE/O=Lab+20Inc./CN=MX.Good.Test.", "mx.good.test", true},
		{"/CN=old.name.test/CN=*.good.test", "*.good.test", true},
		{"/CN=mx+2Egood.test", "mx.good.test", true},
		{"/CN=mx.good.test/emailAddress=hostmaster@good.test", "mx.good.test", true},
		{"/O=No+20Common+20Name", "", true},
		{"", "", true},
		{"/CN=bad+00nul.test", "", false},
		{"/CN=plus+zz.test", "plus+zz.test", true},
	};
	char line[1024];
	struct sml_event ev;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), SM(6) "STARTTLS=client, cert-subject=%s, "
		    "cert-issuer=/CN=CA, verifymsg=ok", cases[i].subject);
		assert_int_equal(parse(line, &ev), SML_EV_CERT);
		assert_string_equal(ev.cn, cases[i].cn);
		assert_int_equal(ev.cn_known, cases[i].known);
		assert_string_equal(ev.reason, "ok");
	}
	/* a subject of 256 bytes may have been cut by Sendmail: CN not trusted */
	snprintf(line, sizeof(line), SM(6) "STARTTLS=client, cert-subject=/O=%0250d/CN=x, "
	    "cert-issuer=/CN=CA, verifymsg=ok", 0);
	assert_int_equal(parse(line, &ev), SML_EV_CERT);
	assert_false(ev.cn_known);
}

/* Lines of our forms that cannot be read. */
static void test_parse_malformed(void **state)
{
	static const char *const lines[] = {
		SM(7) "STARTTLS=client, relay=mx.good.test., version=TLSv1.3, verify=OK",
		SM(7) "STARTTLS=client, relay=mx.good.test., version=TLSv1.3, ver",
		SM(7) "STARTTLS=client, relay=mx.good.test.",
		SM(7) "STARTTLS=client, relay=, version=TLSv1.3, verify=OK" CIPHER,
		SM(7) "STARTTLS=client, relay=mx good, version=TLSv1.3, verify=OK" CIPHER,
		SM(7) "STARTTLS=client, relay=mx.good.test., version=TLSv1.3, verify=" CIPHER,
		SM(7) "STARTTLS=client, relay=mx.good.test., version=TLSv1.3, verify=ok!" CIPHER,
		SM(7) "STARTTLS=client, relay=mx.good.test., version=TLSv1.3, verify=OK, "
		"cipher=X, bits=256",
		SM(7) "STARTTLS=client, relay=mx.good.test., version=TLSv1.3, verify=OK, "
		"cipher=X, bits=/256",
		SM(7) "STARTTLS=client, cert-subject=/CN=mx.good.test",
		SM(7) "STARTTLS=client, cert-subject=/CN=x, cert-issuer=/CN=CA",
		SM(7) "STARTTLS=client, error: connect failed=",
		SM(7) "STARTTLS=client, error: connect failed=x",
		SM(7) "STARTTLS=client, error: connect failed=-1 junk",
		SM(7) "STARTTLS: TLS cert verify: depth=0 /CN=x, state=0",
		SM(7) "STARTTLS: TLS cert verify: depth=0 /CN=x, state=, reason=r",
		SM(7) "STARTTLS: TLS cert verify: depth= /CN=x, state=0, reason=r",
		SM(7) "STARTTLS: TLS cert verify: /CN=x, state=0, reason=r",
		SM(7) "ruleset=tls_server, arg1=SOFTWARE, relay=mx.badtls.test",
		SM(7) "ruleset=tls_server, arg1=SOFTWARE, reject=" HSFAIL,
		SM(7) "ruleset=tls_server, arg1=soft ware, relay=mx.badtls.test, reject=" HSFAIL,
		SM(7) "ruleset=tls_server, arg1=, relay=mx.badtls.test, reject=" HSFAIL,
		SM(7) "ruleset=tls_rcpt, arg1=x@y.test, relay=, reject=" NOTLS,
		SM(7) "2ANLGTxx000007: to=x@y.test",
		SM(7) "2ANLGTxx000007: to=x@y.test, delay=00:00:01, mailer=esmtp, pri=1, "
		"relay=mx.y.test. [127.0.0.1], dsn=2.0.0",
		SM(7) "2ANLGTxx000007: to=x@y.test, delay=00:00:01, relay=mx.y.test. [127.0.0.1, "
		"dsn=2.0.0, stat=Sent",
		SM(7) "2ANLGTxx000007: to=x@y.test, delay=00:00:01, relay= [127.0.0.1], "
		"dsn=2.0.0, stat=Sent",
		SM(7) "2ANLGTxx000007: to=x@y.test, delay=00:00:01, relay=mx.y.test. [], "
		"dsn=2.0.0, stat=Sent",
		SM(7) "2ANLGTxx000007: to=x@y.test, delay=00:00:01, relay=mx.y.test. [127.0.0.1], "
		"dsn=2.0.0, stat=",
		SM(7) "2ANLGTxx000007: to=x@y.test, delay=00:00:01, relay=mx.y.test. [127.0.0.1], "
		"dsn=2.0.0.0.0.0.0.0.0.0.0.0, stat=Sent",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct sml_event ev;

		if (parse(lines[i], &ev) != SML_EV_MALFORMED)
			fail_msg("not malformed: %s", lines[i]);
		assert_int_equal(ev.pid, 7);
		assert_string_equal(ev.program, "sm-mta");
		assert_string_equal(ev.relay, "");
	}
}

/* Over-long lines, over-long fields and NUL bytes. */
static void test_parse_sizes_and_nul(void **state)
{
	size_t n = SML_MAX_LINE + 100;
	char *big = malloc(n + 1), relay[300];
	struct sml_event ev;
	char line[1024];
	size_t len;

	(void)state;
	assert_non_null(big);
	/* huge lines: ours are malformed, others ignored */
	memset(big, 'a', n);
	memcpy(big, SM(8) "2ANLGTxx000008: to=", strlen(SM(8) "2ANLGTxx000008: to="));
	assert_int_equal(parse_exact(big, n, &ev), SML_EV_MALFORMED);
	memcpy(big, SM(8) "STARTTLS=client, ", strlen(SM(8) "STARTTLS=client, "));
	assert_int_equal(parse_exact(big, n, &ev), SML_EV_MALFORMED);
	memcpy(big, SM(8) "starting daemon  ", strlen(SM(8) "starting daemon  "));
	assert_int_equal(parse_exact(big, n, &ev), SML_EV_IGNORED);
	free(big);

	/* a relay of 299 bytes does not fit the field */
	memset(relay, 'r', sizeof(relay) - 1);
	relay[sizeof(relay) - 1] = '\0';
	snprintf(line, sizeof(line), SM(8) "STARTTLS=client, relay=%s, version=TLSv1.3, "
	    "verify=OK" CIPHER, relay);
	assert_int_equal(parse(line, &ev), SML_EV_MALFORMED);

	/* a NUL in the relay makes the line malformed ... */
	strcpy(line, SM(8) RELAY("mx.good.test", "OK"));
	len = strlen(line);
	line[strlen(SM(8) "STARTTLS=client, relay=mx")] = '\0';
	assert_int_equal(parse_exact(line, len, &ev), SML_EV_MALFORMED);

	/* ... one in free text cuts the text */
	strcpy(line, SM(8) VERIFY("x.test", "certificate has expired"));
	len = strlen(line);
	line[len - strlen(" has expired")] = '\0';
	assert_int_equal(parse_exact(line, len, &ev), SML_EV_VERIFY);
	assert_string_equal(ev.reason, "certificate");

	/* a reject text longer than the field is cut, not malformed */
	snprintf(line, sizeof(line), SM(8) "ruleset=tls_server, arg1=SOFTWARE, relay=mx.t, "
	    "reject=454 4.7.0 %0400d", 7);
	assert_int_equal(parse(line, &ev), SML_EV_TLS_SERVER);
	assert_true(ev.reason_truncated);
	assert_int_equal(strlen(ev.reason), sizeof(ev.reason) - 1);

	/* NULL and empty input */
	assert_int_equal(sml_parse(NULL, 10, &ev), SML_EV_IGNORED);
	assert_int_equal(sml_parse("x", 0, &ev), SML_EV_IGNORED);
}

/* The spec's lines, for the prefix and mutation passes. */
static const char *const real_lines[] = {
	SM(1234) RELAY("mx.good.test", "OK"),
	SM(1234) CERT("mx.good.test", "ok"),
	SM(1235) VERIFY("mx.expired.test", "certificate has expired"),
	SM(1235) RELAY("mx.expired.test", "FAIL"),
	SM(1235) CERT("mx.expired.test", "certificate has expired"),
	SM(1238) TLS_RCPT("2ANLGTxx001238", "rcpt@verify.notls.test", "mx.notls.test", NOTLS),
	SM(1238) DEFERRED("2ANLGTxx001238", "rcpt@verify.notls.test", "mx.notls.test",
	    "127.0.0.15", NOTLS),
	SM(1240) CONNECT_FAILED,
	SM(1240) TLS_SERVER("SOFTWARE", "mx.badtls.test", HSFAIL),
	SM(1240) DEFERRED("2ANLGTxx001240", "rcpt@may.badtls.test", "mx.badtls.test",
	    "127.0.0.16", HSFAIL),
	SM(1234) SENT("2ANLGTxx001234", "rcpt@may.good.test,<x@verify.good.test>",
	    "mx.good.test", "127.0.0.11"),
	ISO(1244) "STARTTLS=client, relay=mx.alt.test., AltName=mx.alt.test",
	SM(1245) "STARTTLS=server, relay=client.test [192.0.2.1], version=TLSv1.3, verify=NO"
	    CIPHER,
	SM(1238) SENT("2ANLGTxx001239", "rcpt@may.notls.test", "mx.notls.test", "127.0.0.15"),
};

#define NREAL (sizeof(real_lines) / sizeof(real_lines[0]))

/* Every prefix of every real line: no crash, no read past the end. */
static void test_parse_every_prefix(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < NREAL; i++) {
		size_t n = strlen(real_lines[i]);

		for (k = 0; k <= n; k++) {
			struct sml_event ev;
			enum sml_kind kind = parse_exact(real_lines[i], k, &ev);

			assert_true(kind >= SML_EV_IGNORED && kind <= SML_EV_DELIVERY);
		}
	}
	/* a relay line cut anywhere inside the message is never a session */
	{
		const char *line = SM(9) RELAY("mx.good.test", "OK");
		size_t start = strlen(SM(9) "STARTTLS=client, relay=");
		size_t end = strlen(line) - strlen("256/256");

		for (k = start; k < end; k++) {
			struct sml_event ev;

			assert_int_equal(parse_exact(line, k, &ev), SML_EV_MALFORMED);
		}
	}
}

/* ==== the correlator =================================================== */

/* The good receiver: one connection, two domains, three messages. */
static void test_good(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	assert_false(sml_tls_logging_seen(p));
	feed(p, g, SM(1234) RELAY("mx.good.test", "OK"), 1000);
	feed(p, g, SM(1234) CERT("mx.good.test", "ok"), 1000);
	assert_true(sml_tls_logging_seen(p));
	feed(p, g, SM(1234) SENT("2ANLGTxx001234", "rcpt@may.good.test", "mx.good.test",
	    "127.0.0.11"), 1001);
	feed(p, g, SM(1234) SENT("2ANLGTxx001235", "a@Verify.Good.Test,b@may.good.test",
	    "mx.good.test", "127.0.0.11"), 1002);
	feed(p, g, SM(1234) SENT("2ANLGTxx001236", "<c@may.good.test>", "mx.good.test",
	    "127.0.0.11"), 1003);
	assert_int_equal(g->n, 2);
	check_success(&g->r[0], "may.good.test", 1001);
	check_success(&g->r[1], "verify.good.test", 1002);
	check_counts(p, 2, 0, 0, 0, 1);
	sml_expire(p, 1003 + STALE - 1, collect, g);
	check_counts(p, 2, 0, 0, 0, 1);
	sml_expire(p, 1003 + STALE, collect, g);
	assert_int_equal(g->n, 2);
	check_counts(p, 2, 0, 0, 0, 0);
	sml_free(p);
	free(g);
}

/* Certificate faults: at may (sent anyway) and at verify (tls_rcpt, deferred). */
static void test_certificate_failures(void **state)
{
	static const struct {
		const char *verify_line, *relay_line, *cert_line, *domain, *mx, *ip, *reason;
		int rtype;
	} cases[] = {
		{SM(41) VERIFY("mx.expired.test", "certificate has expired"),
		 SM(41) RELAY("mx.expired.test", "FAIL"),
		 SM(41) CERT("mx.expired.test", "certificate has expired"),
		 "expired.test", "mx.expired.test", "127.0.0.12", "certificate has expired",
		 RESULT_CERTIFICATE_EXPIRED},
		/* LogLevel 12/13: no verify line, the verifymsg gives the reason */
		{NULL, SM(41) RELAY("mx.expired.test", "FAIL"),
		 SM(41) CERT("mx.expired.test", "certificate has expired"),
		 "expired.test", "mx.expired.test", "127.0.0.12", "certificate has expired",
		 RESULT_CERTIFICATE_EXPIRED},
		{SM(41) VERIFY("mx.selfsigned.test", "self-signed certificate"),
		 SM(41) RELAY("mx.selfsigned.test", "FAIL"),
		 SM(41) CERT("mx.selfsigned.test", "self-signed certificate"),
		 "selfsigned.test", "mx.selfsigned.test", "127.0.0.13", "self-signed certificate",
		 RESULT_CERTIFICATE_NOT_TRUSTED},
		{SM(41) VERIFY("mx.unknown.test", "unable to get local issuer certificate"),
		 SM(41) RELAY("mx.unknown.test", "FAIL"), NULL,
		 "unknown.test", "mx.unknown.test", "127.0.0.18",
		 "unable to get local issuer certificate", RESULT_CERTIFICATE_NOT_TRUSTED},
		{NULL, SM(41) RELAY("mx.notyet.test", "FAIL"),
		 SM(41) CERT("mx.notyet.test", "certificate is not yet valid"),
		 "notyet.test", "mx.notyet.test", "127.0.0.19", "certificate is not yet valid",
		 RESULT_VALIDATION_FAILURE},
		/* LogLevel 9-11: only the relay line */
		{NULL, SM(41) RELAY("mx.quiet.test", "FAIL"), NULL,
		 "quiet.test", "mx.quiet.test", "127.0.0.20", "verify=FAIL",
		 RESULT_VALIDATION_FAILURE},
		{NULL, SM(41) RELAY("mx.anon.test", "NO"), NULL,
		 "anon.test", "mx.anon.test", "127.0.0.21", "no certificate presented",
		 RESULT_VALIDATION_FAILURE},
		{NULL, SM(41) RELAY("mx.dane.test", "DANE_FAIL") ", pubkey_fp=AB:CD", NULL,
		 "dane.test", "mx.dane.test", "127.0.0.22", "verify=DANE_FAIL",
		 RESULT_TLSA_INVALID},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sml *p = sml_new(STALE);
		struct got *g = new_got();
		char may[512], deferred[512], rcpt_line[512];
		char may_domain[300], verify_domain[300];

		snprintf(may_domain, sizeof(may_domain), "may.%s", cases[i].domain);
		snprintf(verify_domain, sizeof(verify_domain), "verify.%s", cases[i].domain);
		snprintf(may, sizeof(may), SM(41) "2ANLGTxx000041: to=rcpt@%s, delay=00:00:01, "
		    "xdelay=00:00:01, mailer=esmtp, pri=120415, relay=%s. [%s], dsn=2.0.0, "
		    "stat=Sent (ok)", may_domain, cases[i].mx, cases[i].ip);
		snprintf(rcpt_line, sizeof(rcpt_line), SM(41) "2ANLGTxx000042: ruleset=tls_rcpt, "
		    "arg1=rcpt@%s, relay=%s., reject=" AUTHFAIL, verify_domain, cases[i].mx);
		snprintf(deferred, sizeof(deferred), SM(41) "2ANLGTxx000042: to=rcpt@%s, "
		    "delay=00:00:01, xdelay=00:00:01, mailer=esmtp, pri=120415, relay=%s. [%s], "
		    "dsn=4.7.0, stat=Deferred: " AUTHFAIL, verify_domain, cases[i].mx, cases[i].ip);

		if (cases[i].verify_line != NULL)
			feed(p, g, cases[i].verify_line, 2000);
		feed(p, g, cases[i].relay_line, 2000);
		if (cases[i].cert_line != NULL)
			feed(p, g, cases[i].cert_line, 2000);
		feed(p, g, may, 2001);
		feed(p, g, rcpt_line, 2002);
		feed(p, g, deferred, 2002);
		feed(p, g, deferred, 2003);	/* a retry on the cached connection */
		assert_int_equal(g->n, 2);
		check_failure(&g->r[0], may_domain, 2001, cases[i].rtype, cases[i].mx,
		    cases[i].ip, cases[i].reason);
		check_failure(&g->r[1], verify_domain, 2002, cases[i].rtype, cases[i].mx,
		    cases[i].ip, cases[i].reason);
		sml_expire(p, -1, collect, g);
		check_counts(p, 0, 2, 0, 0, 0);
		sml_free(p);
		free(g);
	}
}

/* Rule 2: the name check. */
static void test_name_check(void **state)
{
	static const struct {
		const char *relay, *cert, *alt1, *alt2;
		int rtype;
		const char *reason;
	} cases[] = {
		{SM(42) RELAY("mx.good.test", "OK"), SM(42) CERT("*.good.test", "ok"), NULL, NULL,
		 0, NULL},
		{SM(42) RELAY("mx.good.test", "OK"), SM(42) CERT("MX.Good.Test.", "ok"), NULL,
		 NULL, 0, NULL},
		/*
		 * A CN other than the relay is no evidence (the certificate may
		 * name the relay in subjectAltName, as Google's do): no failure.
		 */
		{SM(42) RELAY("mx.good.test", "OK"), SM(42) CERT("*.test", "ok"), NULL, NULL,
		 0, NULL},
		{SM(42) RELAY("mx.good.test", "OK"), SM(42) CERT("mx.other-name.test", "ok"),
		 NULL, NULL, 0, NULL},
		/* ... but AltName lines that all differ are */
		{SM(42) RELAY("mx.good.test", "OK"), SM(42) CERT("good.test", "ok"),
		 SM(42) "STARTTLS=client, relay=mx.good.test., AltName=*.mx.good.test",
		 SM(42) "STARTTLS=client, relay=mx.good.test., AltName=good.test",
		 RESULT_CERTIFICATE_HOST_MISMATCH, "hostname mismatch (no subjectAltName matches)"},
		/* no CN: nothing could be seen */
		{SM(42) RELAY("mx.good.test", "OK"), SM(42) "STARTTLS=client, cert-subject="
		 "/O=Lab, cert-issuer=/CN=CA, verifymsg=ok", NULL, NULL, 0, NULL},
		/* DANE verified the key: names are not DANE's business */
		{SM(42) RELAY("mx.good.test", "TRUSTED"), SM(42) CERT("other.name.test", "ok"),
		 NULL, NULL, 0, NULL},
		/* AltName lines win over the CN */
		{SM(42) RELAY("mx.good.test", "OK"), SM(42) CERT("other.name.test", "ok"),
		 SM(42) "STARTTLS=client, relay=mx.good.test., AltName=www.good.test",
		 SM(42) "STARTTLS=client, relay=mx.good.test., AltName=mx.good.test", 0, NULL},
		{SM(42) RELAY("mx.good.test", "OK"), SM(42) CERT("mx.good.test", "ok"),
		 SM(42) "STARTTLS=client, relay=mx.good.test., AltName=www.good.test",
		 SM(42) "STARTTLS=client, relay=mx.good.test., AltName=*.other.test",
		 RESULT_CERTIFICATE_HOST_MISMATCH, "hostname mismatch (no subjectAltName matches)"},
		/* AltName lines of another relay do not count */
		{SM(42) RELAY("mx.good.test", "OK"), SM(42) CERT("mx.good.test", "ok"),
		 SM(42) "STARTTLS=client, relay=mx.else.test., AltName=www.else.test", NULL, 0,
		 NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sml *p = sml_new(STALE);
		struct got *g = new_got();

		if (cases[i].alt1 != NULL)
			feed(p, g, cases[i].alt1, 3000);
		if (cases[i].alt2 != NULL)
			feed(p, g, cases[i].alt2, 3000);
		feed(p, g, cases[i].relay, 3000);
		feed(p, g, cases[i].cert, 3000);
		feed(p, g, SM(42) SENT("2ANLGTxx000042", "u@good.test", "mx.good.test",
		    "127.0.0.11"), 3001);
		assert_int_equal(g->n, 1);
		if (cases[i].rtype == 0)
			check_success(&g->r[0], "good.test", 3001);
		else
			check_failure(&g->r[0], "good.test", 3001, cases[i].rtype, "mx.good.test",
			    "127.0.0.11", cases[i].reason);
		sml_free(p);
		free(g);
	}
}

/* An address literal as relay: no name to check, no MX host name. */
static void test_address_literal(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(43) "STARTTLS=client, relay=[192.0.2.25], version=TLSv1.3, verify=OK"
	    CIPHER, 4000);
	feed(p, g, SM(43) CERT("some.name.test", "ok"), 4000);
	feed(p, g, SM(43) "2ANLGTxx000043: to=u@lit.test, delay=0, mailer=relay, pri=1, "
	    "relay=[192.0.2.25] [192.0.2.25], dsn=2.0.0, stat=Sent (ok)", 4001);
	feed(p, g, SM(44) "STARTTLS=client, relay=[192.0.2.26], version=TLSv1.3, verify=FAIL"
	    CIPHER, 4002);
	feed(p, g, SM(44) "2ANLGTxx000044: to=u@lit.test, delay=0, mailer=relay, pri=1, "
	    "relay=[192.0.2.26] [192.0.2.26], dsn=2.0.0, stat=Sent (ok)", 4003);
	assert_int_equal(g->n, 2);
	check_success(&g->r[0], "lit.test", 4001);
	check_failure(&g->r[1], "lit.test", 4003, RESULT_VALIDATION_FAILURE, NONE,
	    "192.0.2.26", "verify=FAIL");
	sml_free(p);
	free(g);
}

/* Rule 7: no STARTTLS at may, before and after TLS logging was seen. */
static void test_notls_may(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(60) SENT("2ANLGTxx000060", "rcpt@may.notls.test", "mx.notls.test",
	    "127.0.0.15"), 5000);
	assert_int_equal(g->n, 0);
	check_counts(p, 0, 0, 0, 1, 0);
	feed(p, g, SM(61) RELAY("mx.good.test", "OK"), 5010);
	feed(p, g, SM(61) SENT("2ANLGTxx000061", "u@good.test", "mx.good.test", "127.0.0.11"),
	    5011);
	feed(p, g, SM(62) SENT("2ANLGTxx000062", "rcpt@may.notls.test", "mx.notls.test",
	    "127.0.0.15"), 5020);
	feed(p, g, SM(62) SENT("2ANLGTxx000063", "other@may.notls.test", "mx.notls.test",
	    "127.0.0.15"), 5021);
	assert_int_equal(g->n, 2);
	check_success(&g->r[0], "good.test", 5011);
	check_failure(&g->r[1], "may.notls.test", 5020, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15", "delivered in plain text");
	check_counts(p, 1, 1, 0, 1, 2);
	sml_free(p);
	free(g);
}

/* Rule 6: no STARTTLS at verify (tls_rcpt) and at may on the same connection. */
static void test_notls_verify(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(70) TLS_RCPT("2ANLGTxx000070", "rcpt@verify.notls.test",
	    "mx.notls.test", NOTLS), 6000);
	assert_int_equal(g->n, 0);
	feed(p, g, SM(70) DEFERRED("2ANLGTxx000070", "rcpt@verify.notls.test",
	    "mx.notls.test", "127.0.0.15", NOTLS), 6000);
	feed(p, g, SM(70) SENT("2ANLGTxx000070", "rcpt@may.notls.test", "mx.notls.test",
	    "127.0.0.15"), 6001);
	/* the next queue run: a new process, same story */
	feed(p, g, SM(71) TLS_RCPT("2ANLGTxx000070", "rcpt@verify.notls.test",
	    "mx.notls.test", NOTLS), 7000);
	feed(p, g, SM(71) DEFERRED("2ANLGTxx000070", "rcpt@verify.notls.test",
	    "mx.notls.test", "127.0.0.15", NOTLS), 7000);
	assert_int_equal(g->n, 3);
	check_failure(&g->r[0], "verify.notls.test", 6000, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15", "other side does not support STARTTLS");
	check_failure(&g->r[1], "may.notls.test", 6001, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15", "other side does not support STARTTLS");
	check_failure(&g->r[2], "verify.notls.test", 7000, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15", "other side does not support STARTTLS");
	assert_false(sml_tls_logging_seen(p));
	sml_free(p);
	free(g);
}

/* Rules 4 and 5: the dropped handshake, at may and at verify, one line. */
static void test_handshake_failure(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();
	struct sml_stats st;

	(void)state;
	feed(p, g, SM(80) CONNECT_FAILED, 8000);
	feed(p, g, SM(80) TLS_SERVER("SOFTWARE", "mx.badtls.test", HSFAIL), 8000);
	assert_int_equal(g->n, 0);
	check_counts(p, 0, 0, 0, 0, 1);
	feed(p, g, SM(80) DEFERRED("2ANLGTxx000080", "a@may.badtls.test,b@verify.badtls.test",
	    "mx.badtls.test", "127.0.0.16", HSFAIL), 8001);
	/* a second envelope: Sendmail answers from its host status, no new connection */
	feed(p, g, SM(80) DEFERRED("2ANLGTxx000081", "c@may.badtls.test", "mx.badtls.test",
	    "127.0.0.16", HSFAIL), 8002);
	/* the clear-text retry (confTLS_FALLBACK_TO_CLEAR) is the same attempt */
	feed(p, g, SM(80) SENT("2ANLGTxx000080", "a@may.badtls.test", "mx.badtls.test",
	    "127.0.0.16"), 8003);
	assert_int_equal(g->n, 2);
	check_failure(&g->r[0], "may.badtls.test", 8001, RESULT_VALIDATION_FAILURE,
	    "mx.badtls.test", "127.0.0.16", "unexpected eof while reading");
	check_failure(&g->r[1], "verify.badtls.test", 8001, RESULT_VALIDATION_FAILURE,
	    "mx.badtls.test", "127.0.0.16", "unexpected eof while reading");

	/* without the connect line the reject text is the reason */
	feed(p, g, SM(81) TLS_SERVER("SOFTWARE", "mx.badtls.test", HSFAIL), 8100);
	feed(p, g, SM(81) DEFERRED("2ANLGTxx000082", "d@may.badtls.test", "mx.badtls.test",
	    "127.0.0.16", HSFAIL), 8101);
	/* without the tls_server line the delivery places the connect line */
	feed(p, g, SM(82) CONNECT_FAILED, 8200);
	feed(p, g, SM(82) DEFERRED("2ANLGTxx000083", "e@may.badtls.test", "mx.badtls.test",
	    "127.0.0.16", HSFAIL), 8201);
	/* with neither, the delivery's own text */
	feed(p, g, SM(83) DEFERRED("2ANLGTxx000084", "f@may.badtls.test", "mx.badtls.test",
	    "127.0.0.16", HSFAIL), 8301);
	assert_int_equal(g->n, 5);
	check_failure(&g->r[2], "may.badtls.test", 8101, RESULT_VALIDATION_FAILURE,
	    "mx.badtls.test", "127.0.0.16", "TLS handshake failed.");
	check_failure(&g->r[3], "may.badtls.test", 8201, RESULT_VALIDATION_FAILURE,
	    "mx.badtls.test", "127.0.0.16", "unexpected eof while reading");
	check_failure(&g->r[4], "may.badtls.test", 8301, RESULT_VALIDATION_FAILURE,
	    "mx.badtls.test", "127.0.0.16", "TLS handshake failed.");
	stats(p, &st);
	assert_int_equal(st.emitted_failure, 5);
	assert_int_equal(st.no_delivery, 0);
	sml_free(p);
	free(g);
}

/* Rule 5: the first MX fails (handshake, then policy), the next one works. */
static void test_next_mx(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(90) CONNECT_FAILED, 9000);
	feed(p, g, SM(90) TLS_SERVER("SOFTWARE", "mx1.multi.test", HSFAIL), 9000);
	feed(p, g, SM(90) VERIFY("mx2.multi.test", "certificate has expired"), 9001);
	feed(p, g, SM(90) RELAY("mx2.multi.test", "FAIL"), 9001);
	feed(p, g, SM(90) CERT("mx2.multi.test", "certificate has expired"), 9001);
	feed(p, g, SM(90) TLS_SERVER("FAIL", "mx2.multi.test", AUTHFAIL), 9001);
	feed(p, g, SM(90) RELAY("mx3.multi.test", "OK"), 9002);
	feed(p, g, SM(90) CERT("mx3.multi.test", "ok"), 9002);
	assert_int_equal(g->n, 0);
	feed(p, g, SM(90) SENT("2ANLGTxx000090", "u@multi.test", "mx3.multi.test",
	    "127.0.0.23"), 9003);
	feed(p, g, SM(90) SENT("2ANLGTxx000091", "v@multi.test", "mx3.multi.test",
	    "127.0.0.23"), 9004);
	assert_int_equal(g->n, 3);
	check_failure(&g->r[0], "multi.test", 9003, RESULT_VALIDATION_FAILURE,
	    "mx1.multi.test", NONE, "unexpected eof while reading");
	check_failure(&g->r[1], "multi.test", 9003, RESULT_CERTIFICATE_EXPIRED,
	    "mx2.multi.test", NONE, "certificate has expired");
	check_success(&g->r[2], "multi.test", 9003);
	sml_expire(p, -1, collect, g);
	check_counts(p, 1, 2, 0, 0, 0);
	sml_free(p);
	free(g);
}

/*
 * Rule 5 for one MX name: a failed attempt, then a new session to the same
 * name (another address); and rule 6 on a connection that has a session.
 */
static void test_same_mx_again(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(92) TLS_SERVER("SOFTWARE", "mx.same.test", HSFAIL), 9200);
	feed(p, g, SM(92) RELAY("mx.same.test", "OK"), 9201);
	feed(p, g, SM(92) CERT("mx.same.test", "ok"), 9201);
	feed(p, g, SM(92) TLS_RCPT("2ANLGTxx000092", "u@weak.same.test", "mx.same.test",
	    "403 4.7.0 encryption too weak 256 less than 512"), 9202);
	feed(p, g, SM(92) DEFERRED("2ANLGTxx000092", "u@weak.same.test", "mx.same.test",
	    "127.0.0.24", "403 4.7.0 encryption too weak 256 less than 512"), 9202);
	assert_int_equal(g->n, 2);
	check_failure(&g->r[0], "weak.same.test", 9202, RESULT_VALIDATION_FAILURE,
	    "mx.same.test", NONE, "TLS handshake failed.");
	check_success(&g->r[1], "weak.same.test", 9202);
	check_counts(p, 1, 1, 0, 0, 2);
	sml_free(p);
	free(g);
}

/* tls_server NONE: TLS required (TLS_Srv), not offered. */
static void test_tls_server_none(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(95) TLS_SERVER("NONE", "mx.notls.test", "403 4.7.0 encryption needed"),
	    9500);
	feed(p, g, SM(95) DEFERRED("2ANLGTxx000095", "u@srv.notls.test", "mx.notls.test",
	    "127.0.0.15", "403 4.7.0 encryption needed"), 9501);
	assert_int_equal(g->n, 1);
	check_failure(&g->r[0], "srv.notls.test", 9501, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.notls.test", "127.0.0.15", "encryption needed");
	sml_free(p);
	free(g);
}

/* Rule 3: several domains and messages on one connection, two processes interleaved. */
static void test_interleaved(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(100) RELAY("mx.good.test", "OK"), 10000);
	feed(p, g, SM(200) VERIFY("mx.expired.test", "certificate has expired"), 10000);
	feed(p, g, SM(100) CERT("mx.good.test", "ok"), 10000);
	feed(p, g, SM(200) RELAY("mx.expired.test", "FAIL"), 10000);
	feed(p, g, SM(200) CERT("mx.expired.test", "certificate has expired"), 10000);
	feed(p, g, SM(100) SENT("2ANLGTxx000100", "a@one.test", "mx.good.test", "127.0.0.11"),
	    10001);
	feed(p, g, SM(200) SENT("2ANLGTxx000200", "a@one.test", "mx.expired.test",
	    "127.0.0.12"), 10002);
	feed(p, g, SM(100) SENT("2ANLGTxx000101", "b@two.test,c@one.test", "mx.good.test",
	    "127.0.0.11"), 10003);
	feed(p, g, SM(200) SENT("2ANLGTxx000201", "b@one.test", "mx.expired.test",
	    "127.0.0.12"), 10004);
	feed(p, g, SM(100) SENT("2ANLGTxx000102", "d@two.test", "mx.good.test", "127.0.0.11"),
	    10005);
	assert_int_equal(g->n, 3);
	check_success(&g->r[0], "one.test", 10001);
	check_failure(&g->r[1], "one.test", 10002, RESULT_CERTIFICATE_EXPIRED,
	    "mx.expired.test", "127.0.0.12", "certificate has expired");
	check_success(&g->r[2], "two.test", 10003);
	sml_free(p);
	free(g);
}

/* One process, two cached connections used in turn; a new session replaces one. */
static void test_connection_cache(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(110) RELAY("mx.a.test", "OK"), 11000);
	feed(p, g, SM(110) SENT("2ANLGTxx000110", "u@a.test", "mx.a.test", "127.0.0.31"),
	    11001);
	feed(p, g, SM(110) RELAY("mx.b.test", "FAIL"), 11002);
	feed(p, g, SM(110) SENT("2ANLGTxx000111", "u@b.test", "mx.b.test", "127.0.0.32"),
	    11003);
	feed(p, g, SM(110) SENT("2ANLGTxx000112", "v@a.test,w@b.test", "mx.a.test",
	    "127.0.0.31"), 11004);
	feed(p, g, SM(110) SENT("2ANLGTxx000113", "v@b.test,w@a.test", "mx.b.test",
	    "127.0.0.32"), 11005);
	/* a new TLS session to mx.a.test counts again */
	feed(p, g, SM(110) RELAY("mx.a.test", "OK"), 11006);
	feed(p, g, SM(110) SENT("2ANLGTxx000114", "u@a.test", "mx.a.test", "127.0.0.31"),
	    11007);
	assert_int_equal(g->n, 5);
	check_success(&g->r[0], "a.test", 11001);
	check_failure(&g->r[1], "b.test", 11003, RESULT_VALIDATION_FAILURE, "mx.b.test",
	    "127.0.0.32", "verify=FAIL");
	check_success(&g->r[2], "b.test", 11004);
	check_failure(&g->r[3], "a.test", 11005, RESULT_VALIDATION_FAILURE, "mx.b.test",
	    "127.0.0.32", "verify=FAIL");
	check_success(&g->r[4], "a.test", 11007);
	sml_free(p);
	free(g);
}

static bool skip_report(void *ctx, const char *queue_id)
{
	(void)ctx;
	return strncmp(queue_id, "2ANLGTrr", 8) == 0;
}

/* Rule 10: our own report mails are not counted. */
static void test_report_mail_skipped(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();
	struct sml_stats st;

	(void)state;
	sml_set_skip(p, skip_report, NULL);
	/* alone on a connection: nothing, and no "without delivery" either */
	feed(p, g, SM(120) RELAY("mx.rua.test", "FAIL"), 12000);
	feed(p, g, SM(120) SENT("2ANLGTrr000120", "tlsrpt@rua.test", "mx.rua.test",
	    "127.0.0.41"), 12001);
	/* shared with another mail: that one counts */
	feed(p, g, SM(120) SENT("2ANLGTxx000121", "u@rua.test", "mx.rua.test", "127.0.0.41"),
	    12002);
	/* refused by tls_rcpt, deferred in plain text: nothing */
	feed(p, g, SM(121) TLS_RCPT("2ANLGTrr000122", "tlsrpt@verify.notls.test",
	    "mx.notls.test", NOTLS), 12003);
	feed(p, g, SM(121) DEFERRED("2ANLGTrr000122", "tlsrpt@verify.notls.test",
	    "mx.notls.test", "127.0.0.15", NOTLS), 12003);
	/* a failed first MX that only the report mail would resolve */
	feed(p, g, SM(122) TLS_SERVER("SOFTWARE", "mx1.multi.test", HSFAIL), 12004);
	feed(p, g, SM(122) RELAY("mx2.multi.test", "OK"), 12005);
	feed(p, g, SM(122) SENT("2ANLGTrr000123", "tlsrpt@multi.test", "mx2.multi.test",
	    "127.0.0.23"), 12006);
	assert_int_equal(g->n, 1);
	check_failure(&g->r[0], "rua.test", 12002, RESULT_VALIDATION_FAILURE, "mx.rua.test",
	    "127.0.0.41", "verify=FAIL");
	sml_expire(p, -1, collect, g);
	stats(p, &st);
	assert_int_equal(st.skipped_report_mails, 4);
	assert_int_equal(st.no_delivery, 0);
	assert_int_equal(st.uncounted, 0);
	assert_int_equal(st.emitted_success + st.emitted_failure, 1);
	sml_free(p);
	free(g);
}

/* Rule 11 and staleness. */
static void test_expiry(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(130) RELAY("mx.good.test", "OK"), 13000);
	feed(p, g, SM(131) CONNECT_FAILED, 13000);
	feed(p, g, SM(132) TLS_SERVER("SOFTWARE", "mx.badtls.test", HSFAIL), 13000);
	feed(p, g, SM(133) RELAY("mx.good.test", "OK"), 13000);
	feed(p, g, SM(133) SENT("2ANLGTxx000133", "u@good.test", "mx.good.test", "127.0.0.11"),
	    13000 + STALE - 1);
	check_counts(p, 1, 0, 0, 0, 4);
	sml_expire(p, 13000 + STALE, collect, g);
	check_counts(p, 1, 0, 3, 0, 1);
	/* a line of a process after its state went stale starts afresh */
	feed(p, g, SM(133) SENT("2ANLGTxx000134", "u@good.test", "mx.good.test", "127.0.0.11"),
	    13000 + 3 * STALE);
	assert_int_equal(g->n, 2);
	check_failure(&g->r[1], "good.test", 13000 + 3 * STALE, RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx.good.test", "127.0.0.11", "delivered in plain text");
	check_counts(p, 1, 1, 3, 0, 1);
	sml_expire(p, -1, collect, g);
	check_counts(p, 1, 1, 3, 0, 0);
	/* a session replaced before any delivery */
	feed(p, g, SM(134) RELAY("mx.good.test", "OK"), 14000);
	feed(p, g, SM(134) RELAY("mx.good.test", "OK"), 14001);
	check_counts(p, 1, 1, 4, 0, 1);
	sml_free(p);
	free(g);
}

/* Memory caps: processes, connections per process, domains per connection. */
static void test_caps(void **state)
{
	struct sml *p = sml_new_capped(STALE, 2);
	struct got *g = new_got();
	struct sml_stats st;
	char line[512];
	int i;

	(void)state;
	feed(p, g, SM(140) RELAY("mx.good.test", "OK"), 15000);
	feed(p, g, SM(141) RELAY("mx.good.test", "OK"), 15001);
	feed(p, g, SM(142) RELAY("mx.good.test", "OK"), 15002);	/* evicts 140 */
	stats(p, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.open, 2);
	feed(p, g, SM(140) SENT("2ANLGTxx000140", "u@good.test", "mx.good.test", "127.0.0.11"),
	    15003);
	assert_int_equal(g->n, 1);	/* counted as plain text: its session was lost */
	assert_true(g->r[0].failed);
	sml_free(p);

	/* nine relays for one process: the oldest connection goes */
	p = sml_new(STALE);
	g->n = 0;
	for (i = 0; i < 9; i++) {
		snprintf(line, sizeof(line), SM(150) "STARTTLS=client, relay=mx%d.test., "
		    "version=TLSv1.3, verify=OK" CIPHER, i);
		feed(p, g, line, 16000 + i);
	}
	stats(p, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.open, 8);
	assert_int_equal(st.no_delivery, 0);
	sml_free(p);

	/* 1025 domains on one connection: the last one is dropped */
	p = sml_new(STALE);
	g->n = 0;
	g->total = 0;
	feed(p, g, SM(160) RELAY("mx.big.test", "OK"), 17000);
	for (i = 0; i < 1025; i++) {
		snprintf(line, sizeof(line), SM(160) "2ANLGTxx000160: to=u@d%d.test, delay=0, "
		    "mailer=esmtp, pri=1, relay=mx.big.test. [127.0.0.50], dsn=2.0.0, "
		    "stat=Sent (ok)", i);
		feed(p, g, line, 17001);
	}
	stats(p, &st);
	assert_int_equal(g->total, 1024);
	assert_int_equal(st.emitted_success, 1024);
	assert_int_equal(st.dropped, 1);
	/* and more domains in one line than an event keeps */
	strcpy(line, SM(161) "2ANLGTxx000161: to=");
	for (i = 0; i < SML_LINE_DOMAINS + 2; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "%su@e%d.test",
		    i > 0 ? "," : "", i);
	strcat(line, ", delay=0, mailer=esmtp, pri=1, relay=mx.big.test. [127.0.0.50], "
	    "dsn=2.0.0, stat=Sent (ok)");
	feed(p, g, SM(161) RELAY("mx.big.test", "OK"), 17002);
	feed(p, g, line, 17003);
	stats(p, &st);
	assert_int_equal(st.emitted_success, 1024 + SML_LINE_DOMAINS);
	assert_int_equal(st.dropped, 3);
	sml_free(p);
	free(g);
}

/* Rule 9 and other programs; recipients without domain; deferrals without TLS. */
static void test_not_counted(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();

	(void)state;
	feed(p, g, SM(170) RELAY("mx.good.test", "OK"), 18000);
	/* a local hop: the MSP's or a content filter's */
	feed_as(p, g, SM(171) "STARTTLS=client, relay=[127.0.0.1], version=TLSv1.3, "
	    "verify=FAIL" CIPHER, 18001, SML_IGNORED);
	feed_as(p, g, SM(171) CERT("localhost", "self-signed certificate"), 18001, SML_USED);
	feed_as(p, g, SM(171) "2ANLGTxx000171: to=u@x.test, delay=0, mailer=relay, pri=1, "
	    "relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (ok)", 18002, SML_IGNORED);
	feed_as(p, g, SM(171) "2ANLGTxx000171: to=u@x.test, delay=0, mailer=relay, pri=1, "
	    "relay=localhost. [127.0.0.1], dsn=2.0.0, stat=Sent (ok)", 18002, SML_IGNORED);
	feed_as(p, g, "Nov 23 21:16:29 mta sm-msp-queue[172]: 2ANLGTxx000172: to=u@x.test, "
	    "delay=0, mailer=relay, pri=1, relay=mx.x.test. [192.0.2.1], dsn=2.0.0, "
	    "stat=Sent (ok)", 18003, SML_IGNORED);
	/* connection refused: no TLS session */
	feed(p, g, SM(173) DEFERRED("2ANLGTxx000173", "u@down.test", "mx.down.test",
	    "127.0.0.17", "Connection refused by mx.down.test."), 18004);
	/* recipients without a usable domain */
	feed(p, g, SM(170) SENT("2ANLGTxx000170", "root,u@good.test,v@bad..test",
	    "mx.good.test", "127.0.0.11"), 18005);
	/* malformed lines change nothing */
	feed_as(p, g, SM(170) "STARTTLS=client, relay=mx.good.test., version=TLSv1.3", 18006,
	    SML_MALFORMED);
	feed_as(p, g, SM(170) "2ANLGTxx000174: to=w@good.test, delay=0", 18006, SML_MALFORMED);
	assert_int_equal(g->n, 1);
	check_success(&g->r[0], "good.test", 18005);
	check_counts(p, 1, 0, 0, 3, 1);
	sml_free(p);
	free(g);
}

/* Inbound verify lines (client certificates) are not the next outbound session's. */
static void test_server_side_lines(void **state)
{
	struct sml *p = sml_new(STALE);
	struct got *g = new_got();
	struct sml_stats st;

	(void)state;
	feed(p, g, SM(180) VERIFY("client.test", "certificate has expired"), 19000);
	feed_as(p, g, SM(180) "STARTTLS=server, relay=client.test [192.0.2.1], "
	    "version=TLSv1.3, verify=FAIL" CIPHER, 19000, SML_IGNORED);
	check_counts(p, 0, 0, 0, 0, 0);
	feed(p, g, SM(180) RELAY("mx.good.test", "FAIL"), 19001);
	feed(p, g, SM(180) SENT("2ANLGTxx000180", "u@good.test", "mx.good.test",
	    "127.0.0.11"), 19002);
	assert_int_equal(g->n, 1);
	check_failure(&g->r[0], "good.test", 19002, RESULT_VALIDATION_FAILURE, "mx.good.test",
	    "127.0.0.11", "verify=FAIL");
	/* a cert-subject line with no session before it changes nothing */
	feed(p, g, SM(181) CERT("x.test", "certificate has expired"), 19003);
	feed(p, g, SM(180) CERT("other.name.test", "ok"), 19003);
	feed(p, g, SM(180) SENT("2ANLGTxx000181", "v@good2.test", "mx.good.test",
	    "127.0.0.11"), 19004);
	assert_int_equal(g->n, 2);
	check_failure(&g->r[1], "good2.test", 19004, RESULT_VALIDATION_FAILURE,
	    "mx.good.test", "127.0.0.11", "verify=FAIL");
	sml_free(p);

	/* an inbound process that held nothing else is not kept */
	p = sml_new_capped(STALE, 1);
	feed(p, g, SM(182) VERIFY("client.test", "certificate has expired"), 19010);
	feed_as(p, g, SM(182) "STARTTLS=server, relay=client.test [192.0.2.1], "
	    "version=TLSv1.3, verify=FAIL" CIPHER, 19010, SML_IGNORED);
	feed(p, g, SM(183) RELAY("mx.good.test", "OK"), 19011);
	stats(p, &st);
	assert_int_equal(st.dropped, 0);
	sml_free(p);
	free(g);
}

/* A NULL emit function still counts. */
static void test_null_emit(void **state)
{
	struct sml *p = sml_new(STALE);
	struct sml_stats st;
	const char *a = SM(190) RELAY("mx.good.test", "OK");
	const char *b = SM(190) SENT("2ANLGTxx000190", "u@good.test", "mx.good.test",
	    "127.0.0.11");

	(void)state;
	assert_int_equal(sml_feed(p, a, strlen(a), 20000, NULL, NULL), SML_USED);
	assert_int_equal(sml_feed(p, b, strlen(b), 20001, NULL, NULL), SML_USED);
	stats(p, &st);
	assert_int_equal(st.emitted_success, 1);
	sml_expire(p, -1, NULL, NULL);
	sml_free(p);
	sml_free(NULL);
}

/* A small deterministic PRNG (xorshift64*). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* One random mutation of buf (length *n, capacity cap). */
static void mutate(char *buf, size_t *n, size_t cap)
{
	static const char *const pieces[] = {
		", ", "=", "[", "]", "<", ">", "@", ".", "\"", "+", "/CN=", ", relay=",
		", stat=", "verify=", ", reject=", "STARTTLS=client, ", "to=", " [more]",
		"2ANLGTxx000999: ", "*.", ", state=0, reason=",
	};
	size_t at = *n > 0 ? (size_t)(rng() % *n) : 0;

	switch (rng() % 6) {
	case 0:		/* flip a byte */
		if (*n > 0)
			buf[at] = (char)(rng() & 0xff);
		break;
	case 1:		/* cut */
		*n = at;
		break;
	case 2:		/* delete a run */
		if (*n > 0) {
			size_t k = (size_t)(rng() % 16) + 1;

			if (k > *n - at)
				k = *n - at;
			memmove(buf + at, buf + at + k, *n - at - k);
			*n -= k;
		}
		break;
	case 3:		/* insert a piece that means something to the parser */
	{
		const char *piece = pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
		size_t k = strlen(piece);

		if (*n + k <= cap) {
			memmove(buf + at + k, buf + at, *n - at);
			memcpy(buf + at, piece, k);
			*n += k;
		}
		break;
	}
	case 4:		/* a NUL */
		if (*n > 0)
			buf[at] = '\0';
		break;
	default:	/* duplicate the tail */
		if (*n + (*n - at) <= cap) {
			memcpy(buf + *n, buf + at, *n - at);
			*n += *n - at;
		}
		break;
	}
}

/* Random mutations of real lines, fed in random order: no crash, sane counts. */
static void test_fuzz(void **state)
{
	struct sml *p = sml_new_capped(STALE, 64);
	struct got *g = new_got();
	struct sml_stats st;
	char buf[2048];
	int i;

	(void)state;
	rng_state = 0x9e3779b97f4a7c15ULL;
	sml_set_skip(p, skip_report, NULL);
	for (i = 0; i < 50000; i++) {
		const char *src = real_lines[rng() % NREAL];
		size_t n = strlen(src), j, rounds = (size_t)(rng() % 4);
		char *exact;

		memcpy(buf, src, n);
		for (j = 0; j < rounds; j++)
			mutate(buf, &n, sizeof(buf));
		exact = malloc(n > 0 ? n : 1);
		assert_non_null(exact);
		memcpy(exact, buf, n);
		(void)sml_feed(p, exact, n, 100000 + i / 10, collect, g);
		free(exact);
		if (i % 5000 == 4999)
			sml_expire(p, 100000 + i / 10, collect, g);
	}
	stats(p, &st);
	assert_int_equal(st.emitted_success + st.emitted_failure, g->total);
	assert_true(g->total > 0);
	sml_expire(p, -1, collect, g);
	stats(p, &st);
	assert_int_equal(st.open, 0);
	sml_free(p);
	free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_spec_lines),
		cmocka_unit_test(test_parse_prefixes),
		cmocka_unit_test(test_parse_ignored),
		cmocka_unit_test(test_parse_recipients),
		cmocka_unit_test(test_parse_cert_subject),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_sizes_and_nul),
		cmocka_unit_test(test_parse_every_prefix),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_certificate_failures),
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_address_literal),
		cmocka_unit_test(test_notls_may),
		cmocka_unit_test(test_notls_verify),
		cmocka_unit_test(test_handshake_failure),
		cmocka_unit_test(test_next_mx),
		cmocka_unit_test(test_same_mx_again),
		cmocka_unit_test(test_tls_server_none),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_connection_cache),
		cmocka_unit_test(test_report_mail_skipped),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_not_counted),
		cmocka_unit_test(test_server_side_lines),
		cmocka_unit_test(test_null_emit),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
