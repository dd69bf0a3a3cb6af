/*
 * NAME
 *	test_postfix_log - unit tests of milter/postfix_log.c
 * DESCRIPTION
 *	Every line form of shared/spec/postfix-3.7-tls-log.md and the Postfix
 *	part of shared/spec/mta-hooks.md, written out in full with a syslog
 *	prefix, each checked field by field; the three prefix styles; IPv6;
 *	tlsproxy, reuse, lmtp; lines that must be ignored; malformed lines;
 *	and a robustness pass (every prefix of real lines, mutated lines and
 *	random bytes), each fed from an exact-size heap copy so that valgrind
 *	or ASan sees any read past the end.
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
#include "session.h"

#define CLASSIC "Nov 23 18:41:55 mail postfix/smtp[4242]: "
#define CLASSIC1 "Nov  3 08:01:02 mail postfix/smtp[4242]: "
#define ISO "2026-11-23T18:41:55.123456+00:00 mail postfix/smtp[4242]: "
#define CAT "postfix/smtp[4242]: "
#define LMTP "Nov 23 18:41:55 mail postfix/lmtp[77]: "
#define PROXY "Nov 23 18:41:55 mail postfix/tlsproxy[99]: "
#define OUT "Nov 23 18:41:55 mail postfix-out/smtp[5150]: "

#define CIPHER ": TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) " \
	"key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"
#define DELAYS "delay=0.21, delays=0.05/0.01/0.1/0.05, "

/* What one line must give; NULL strings mean "". */
struct expect {
	const char *line;
	enum pfl_kind kind;
	const char *program;
	long pid;
	const char *queue_id;
	const char *mx;
	const char *ip;
	int port;
	enum pfl_trust trust;
	int result_type;
	const char *reason;
	const char *rcpt_domain;
	const char *status;
	const char *dsn;
	int reason_truncated;
};

static const char *or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* Parse from an exact-size heap copy: any over-read is a memory error. */
static enum pfl_kind parse_copy(const char *line, size_t len, struct pfl_event *ev)
{
	char *copy = malloc(len > 0 ? len : 1);
	enum pfl_kind kind;

	assert_non_null(copy);
	memcpy(copy, line, len);
	kind = pfl_parse(copy, len, ev);
	free(copy);
	return kind;
}

static void check_one(const struct expect *x)
{
	struct pfl_event ev;
	enum pfl_kind kind = parse_copy(x->line, strlen(x->line), &ev);

	if (kind != x->kind || strcmp(ev.mx, or_empty(x->mx)) != 0
	    || strcmp(ev.reason, or_empty(x->reason)) != 0 || ev.result_type != x->result_type)
		print_error("line: %s\n", x->line);
	assert_int_equal(kind, x->kind);
	assert_int_equal(ev.kind, x->kind);
	assert_string_equal(ev.program, or_empty(x->program));
	assert_int_equal(ev.pid, x->pid);
	assert_string_equal(ev.queue_id, or_empty(x->queue_id));
	assert_string_equal(ev.mx, or_empty(x->mx));
	assert_string_equal(ev.ip, or_empty(x->ip));
	assert_int_equal(ev.port, x->port);
	assert_int_equal(ev.trust, x->trust);
	assert_int_equal(ev.result_type, x->result_type);
	assert_string_equal(ev.reason, or_empty(x->reason));
	assert_string_equal(ev.rcpt_domain, or_empty(x->rcpt_domain));
	assert_string_equal(ev.status, or_empty(x->status));
	assert_string_equal(ev.dsn, or_empty(x->dsn));
	assert_int_equal(ev.reason_truncated, x->reason_truncated);
}

static void check_all(const struct expect *x, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		check_one(&x[i]);
}

#define CHECK_ALL(table) check_all((table), sizeof(table) / sizeof((table)[0]))

static const struct expect established[] = {
	{CLASSIC "Verified TLS connection established to mx.good.test[127.0.0.11]:25" CIPHER,
	 PFL_TLS_ESTABLISHED, "smtp", 4242, NULL, "mx.good.test", "127.0.0.11", 25, PFL_VERIFIED, 0, 0, 0, 0, 0, 0},
	{CLASSIC1 "Trusted TLS connection established to mx.wronghost.test[127.0.0.14]:25" CIPHER,
	 PFL_TLS_ESTABLISHED, "smtp", 4242, NULL, "mx.wronghost.test", "127.0.0.14", 25, PFL_TRUSTED, 0, 0, 0, 0, 0, 0},
	{ISO "Untrusted TLS connection established to mx.expired.test[127.0.0.12]:25" CIPHER,
	 PFL_TLS_ESTABLISHED, "smtp", 4242, NULL, "mx.expired.test", "127.0.0.12", 25, PFL_UNTRUSTED, 0, 0, 0, 0, 0, 0},
	{CAT "Anonymous TLS connection established to mx.anon.test[127.0.0.20]:587" CIPHER,
	 PFL_TLS_ESTABLISHED, "smtp", 4242, NULL, "mx.anon.test", "127.0.0.20", 587, PFL_ANONYMOUS, 0, 0, 0, 0, 0, 0},
	{CLASSIC "Verified TLS connection established to mx.v6.test[2001:db8::1]:25" CIPHER,
	 PFL_TLS_ESTABLISHED, "smtp", 4242, NULL, "mx.v6.test", "2001:db8::1", 25, PFL_VERIFIED, 0, 0, 0, 0, 0, 0},
	{CLASSIC "Trusted TLS connection established to MX.Upper.TEST.[192.0.2.1]:25" CIPHER,
	 PFL_TLS_ESTABLISHED, "smtp", 4242, NULL, "mx.upper.test", "192.0.2.1", 25, PFL_TRUSTED, 0, 0, 0, 0, 0, 0},
	{OUT "Verified TLS connection established to mx.good.test[127.0.0.11]:25" CIPHER,
	 PFL_TLS_ESTABLISHED, "smtp", 5150, NULL, "mx.good.test", "127.0.0.11", 25, PFL_VERIFIED, 0, 0, 0, 0, 0, 0},
	{LMTP "Verified TLS connection established to lmtp.local.test[10.0.0.5]:24" CIPHER,
	 PFL_TLS_ESTABLISHED, "lmtp", 77, NULL, "lmtp.local.test", "10.0.0.5", 24, PFL_VERIFIED, 0, 0, 0, 0, 0, 0},
	{PROXY "Verified TLS connection established to mx.good.test[127.0.0.11]:25" CIPHER,
	 PFL_TLS_ESTABLISHED, "tlsproxy", 99, NULL, "mx.good.test", "127.0.0.11", 25, PFL_VERIFIED, 0, 0, 0, 0, 0, 0},
	{CLASSIC "Verified TLS connection reused to mx.good.test[127.0.0.11]:25" CIPHER,
	 PFL_TLS_REUSED, "smtp", 4242, NULL, "mx.good.test", "127.0.0.11", 25, PFL_VERIFIED, 0, 0, 0, 0, 0, 0},
	{CLASSIC "Untrusted TLS connection reused to mx.v6.test[2001:db8::25]:25" CIPHER,
	 PFL_TLS_REUSED, "smtp", 4242, NULL, "mx.v6.test", "2001:db8::25", 25, PFL_UNTRUSTED, 0, 0, 0, 0, 0, 0},
};

static void test_established(void **state)
{
	(void)state;
	CHECK_ALL(established);
}

static const struct expect failures[] = {
	{CLASSIC "server certificate verification failed for mx.expired.test[127.0.0.12]:25: certificate has expired",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.expired.test", "127.0.0.12", 25, 0,
	 RESULT_CERTIFICATE_EXPIRED, "certificate has expired", 0, 0, 0, 0},
	{ISO "server certificate verification failed for mx.expired.test[127.0.0.12]:25: num=10:certificate has expired",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.expired.test", "127.0.0.12", 25, 0,
	 RESULT_CERTIFICATE_EXPIRED, "num=10:certificate has expired", 0, 0, 0, 0},
	{CLASSIC "certificate verification failed for mx.selfsigned.test[127.0.0.13]:25: self-signed certificate",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.selfsigned.test", "127.0.0.13", 25, 0,
	 RESULT_CERTIFICATE_NOT_TRUSTED, "self-signed certificate", 0, 0, 0, 0},
	{CAT "certificate verification failed for mx.selfsigned.test[127.0.0.13]:25: num=18:self signed certificate",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.selfsigned.test", "127.0.0.13", 25, 0,
	 RESULT_CERTIFICATE_NOT_TRUSTED, "num=18:self signed certificate", 0, 0, 0, 0},
	{CLASSIC "certificate verification failed for mx.unknownca.test[127.0.0.19]:25: untrusted issuer /CN=Other CA",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.unknownca.test", "127.0.0.19", 25, 0,
	 RESULT_CERTIFICATE_NOT_TRUSTED, "untrusted issuer /CN=Other CA", 0, 0, 0, 0},
	{CLASSIC "certificate verification failed for mx.unknownca.test[127.0.0.19]:25: num=20:unable to get local issuer certificate",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.unknownca.test", "127.0.0.19", 25, 0,
	 RESULT_CERTIFICATE_NOT_TRUSTED, "num=20:unable to get local issuer certificate", 0, 0, 0, 0},
	{CLASSIC "server certificate verification failed for mx.wronghost.test[127.0.0.14]:25: num=62:hostname mismatch",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.wronghost.test", "127.0.0.14", 25, 0,
	 RESULT_CERTIFICATE_HOST_MISMATCH, "num=62:hostname mismatch", 0, 0, 0, 0},
	{CLASSIC "server certificate verification failed for mx.dane.test[2001:db8::53]:25: num=65:no matching DANE TLSA records",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.dane.test", "2001:db8::53", 25, 0,
	 RESULT_TLSA_INVALID, "num=65:no matching DANE TLSA records", 0, 0, 0, 0},
	{CLASSIC "server certificate verification failed for mx.future.test[127.0.0.21]:25: num=9:certificate is not yet valid",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.future.test", "127.0.0.21", 25, 0,
	 RESULT_VALIDATION_FAILURE, "num=9:certificate is not yet valid", 0, 0, 0, 0},
	{CLASSIC "SSL_connect error to mx.badtls.test[127.0.0.16]:25: lost connection",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.badtls.test", "127.0.0.16", 25, 0,
	 RESULT_VALIDATION_FAILURE, "lost connection", 0, 0, 0, 0},
	{CLASSIC "warning: TLS is required, but was not offered by host mx.notls.test[127.0.0.15]",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.notls.test", "127.0.0.15", 0, 0,
	 RESULT_STARTTLS_NOT_SUPPORTED,
	 "TLS is required, but was not offered by host mx.notls.test[127.0.0.15]", 0, 0, 0, 0},
	{CLASSIC "TLS is required, but host mx.refuse.test[127.0.0.17] refused to start TLS: 454 4.7.0 TLS not available due to local problem",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.refuse.test", "127.0.0.17", 0, 0,
	 RESULT_STARTTLS_NOT_SUPPORTED, "454 4.7.0 TLS not available due to local problem", 0, 0, 0, 0},
	{CLASSIC "warning: 3F1A2B3C4D: TLS is required, but host mx.refuse.test[127.0.0.17] refused to start TLS: 454 4.7.0 No TLS",
	 PFL_TLS_FAILURE, "smtp", 4242, "3F1A2B3C4D", "mx.refuse.test", "127.0.0.17", 0, 0,
	 RESULT_STARTTLS_NOT_SUPPORTED, "454 4.7.0 No TLS", 0, 0, 0, 0},
	{CLASSIC "warning: server certificate verification failed for mx.expired.test[127.0.0.12]:25: certificate has expired",
	 PFL_TLS_FAILURE, "smtp", 4242, NULL, "mx.expired.test", "127.0.0.12", 25, 0,
	 RESULT_CERTIFICATE_EXPIRED, "certificate has expired", 0, 0, 0, 0},
	{LMTP "SSL_connect error to lmtp.local.test[10.0.0.5]:24: Connection reset by peer",
	 PFL_TLS_FAILURE, "lmtp", 77, NULL, "lmtp.local.test", "10.0.0.5", 24, 0,
	 RESULT_VALIDATION_FAILURE, "Connection reset by peer", 0, 0, 0, 0},
};

static void test_failures(void **state)
{
	(void)state;
	CHECK_ALL(failures);
}

static const struct expect deliveries[] = {
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.good.test>, relay=mx.good.test[127.0.0.11]:25, " DELAYS
	 "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9ABCDEF012)",
	 PFL_DELIVERY, "smtp", 4242, "3F1A2B3C4D", "mx.good.test", "127.0.0.11", 25, 0, 0,
	 "250 2.0.0 Ok: queued as 9ABCDEF012", "may.good.test", "sent", "2.0.0", 0},
	{ISO "3F1A2B3C4D: to=<rcpt@verify.expired.test>, relay=mx.expired.test[127.0.0.12]:25, " DELAYS
	 "dsn=4.7.5, status=deferred (Server certificate not verified)",
	 PFL_DELIVERY, "smtp", 4242, "3F1A2B3C4D", "mx.expired.test", "127.0.0.12", 25, 0,
	 RESULT_VALIDATION_FAILURE, "Server certificate not verified", "verify.expired.test",
	 "deferred", "4.7.5", 0},
	{CAT "4Q3vRb0ZGzz9rxN: to=<rcpt@Encrypt.NoTLS.Test>, relay=mx.notls.test[127.0.0.15]:25, " DELAYS
	 "dsn=4.7.4, status=deferred (TLS is required, but was not offered by host mx.notls.test[127.0.0.15])",
	 PFL_DELIVERY, "smtp", 4242, "4Q3vRb0ZGzz9rxN", "mx.notls.test", "127.0.0.15", 25, 0,
	 RESULT_STARTTLS_NOT_SUPPORTED,
	 "TLS is required, but was not offered by host mx.notls.test[127.0.0.15]",
	 "encrypt.notls.test", "deferred", "4.7.4", 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.badtls.test>, relay=mx.badtls.test[127.0.0.16]:25, " DELAYS
	 "dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)",
	 PFL_DELIVERY, "smtp", 4242, "3F1A2B3C4D", "mx.badtls.test", "127.0.0.16", 25, 0,
	 RESULT_VALIDATION_FAILURE, "Cannot start TLS: handshake failure", "may.badtls.test",
	 "deferred", "4.7.5", 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@secure.test>, relay=mx.secure.test[127.0.0.22]:25, " DELAYS
	 "dsn=4.7.5, status=deferred (Server certificate not trusted)",
	 PFL_DELIVERY, "smtp", 4242, "3F1A2B3C4D", "mx.secure.test", "127.0.0.22", 25, 0,
	 RESULT_CERTIFICATE_NOT_TRUSTED, "Server certificate not trusted", "secure.test",
	 "deferred", "4.7.5", 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@refuse.test>, relay=mx.refuse.test[127.0.0.17]:25, " DELAYS
	 "dsn=4.7.4, status=deferred (TLS is required, but host mx.refuse.test[127.0.0.17] refused to start TLS: 454 4.7.0 TLS not available)",
	 PFL_DELIVERY, "smtp", 4242, "3F1A2B3C4D", "mx.refuse.test", "127.0.0.17", 25, 0,
	 RESULT_STARTTLS_NOT_SUPPORTED,
	 "TLS is required, but host mx.refuse.test[127.0.0.17] refused to start TLS: 454 4.7.0 TLS not available",
	 "refuse.test", "deferred", "4.7.4", 0},
	{CLASSIC "3F1A2B3C4D: to=<u@Down.Example.COM.>, relay=none, delay=30, delays=0/0/30/0, "
	 "dsn=4.4.1, status=deferred (connect to mx.down.test[127.0.0.18]:25: Connection refused)",
	 PFL_DELIVERY, "smtp", 4242, "3F1A2B3C4D", "none", NULL, 0, 0, 0,
	 "connect to mx.down.test[127.0.0.18]:25: Connection refused", "down.example.com",
	 "deferred", "4.4.1", 0},
	{CLASSIC "3F1A2B3C4D: to=<\"odd>user@x, y\"@Quoted.Test>, relay=mx.quoted.test[192.0.2.7]:25, " DELAYS
	 "dsn=2.0.0, status=sent (250 ok)",
	 PFL_DELIVERY, "smtp", 4242, "3F1A2B3C4D", "mx.quoted.test", "192.0.2.7", 25, 0, 0,
	 "250 ok", "quoted.test", "sent", "2.0.0", 0},
	{CLASSIC "3F1A2B3C4D: to=<>, relay=mx.null.test[192.0.2.8]:25, " DELAYS
	 "dsn=2.0.0, status=sent (250 ok)",
	 PFL_DELIVERY, "smtp", 4242, "3F1A2B3C4D", "mx.null.test", "192.0.2.8", 25, 0, 0,
	 "250 ok", NULL, "sent", "2.0.0", 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@b.test>, orig_to=<alias, \"x>\"@c.test>, relay=mx.b.test[2001:db8::1]:25, "
	 "conn_use=2, " DELAYS "dsn=5.1.1, status=bounced (host mx.b.test[2001:db8::1] said: 550 5.1.1 <rcpt@b.test>: "
	 "Recipient address rejected: User unknown (in reply to RCPT TO command))",
	 PFL_DELIVERY, "smtp", 4242, "3F1A2B3C4D", "mx.b.test", "2001:db8::1", 25, 0, 0,
	 "host mx.b.test[2001:db8::1] said: 550 5.1.1 <rcpt@b.test>: Recipient address rejected: "
	 "User unknown (in reply to RCPT TO command)", "b.test", "bounced", "5.1.1", 0},
	{LMTP "5B6C7D8E9F: to=<u@local.test>, relay=mail.local.test[private/dovecot-lmtp], " DELAYS
	 "dsn=2.0.0, status=sent (250 2.0.0 <u@local.test> Saved)",
	 PFL_DELIVERY, "lmtp", 77, "5B6C7D8E9F", "mail.local.test", "private/dovecot-lmtp", 0, 0, 0,
	 "250 2.0.0 <u@local.test> Saved", "local.test", "sent", "2.0.0", 0},
	{OUT "3F1A2B3C4D: to=<a@b.test>, relay=mx.b.test[192.0.2.9]:25, " DELAYS "dsn=4.0.0, status=deferred",
	 PFL_DELIVERY, "smtp", 5150, "3F1A2B3C4D", "mx.b.test", "192.0.2.9", 25, 0, 0,
	 NULL, "b.test", "deferred", "4.0.0", 0},
};

static void test_deliveries(void **state)
{
	(void)state;
	CHECK_ALL(deliveries);
}

static const struct expect queue_lines[] = {
	{CLASSIC "3F1A2B3C4D: Server certificate not verified",
	 PFL_QUEUE_TLS_FAILURE, "smtp", 4242, "3F1A2B3C4D", NULL, NULL, 0, 0,
	 RESULT_VALIDATION_FAILURE, "Server certificate not verified", 0, 0, 0, 0},
	{ISO "3F1A2B3C4D: Cannot start TLS: handshake failure",
	 PFL_QUEUE_TLS_FAILURE, "smtp", 4242, "3F1A2B3C4D", NULL, NULL, 0, 0,
	 RESULT_VALIDATION_FAILURE, "Cannot start TLS: handshake failure", 0, 0, 0, 0},
	{CAT "4Q3vRb0ZGzz9rxN: Server certificate not trusted",
	 PFL_QUEUE_TLS_FAILURE, "smtp", 4242, "4Q3vRb0ZGzz9rxN", NULL, NULL, 0, 0,
	 RESULT_CERTIFICATE_NOT_TRUSTED, "Server certificate not trusted", 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: TLS is required, but was not offered by host mx.notls.test[127.0.0.15]",
	 PFL_QUEUE_TLS_FAILURE, "smtp", 4242, "3F1A2B3C4D", "mx.notls.test", "127.0.0.15", 0, 0,
	 RESULT_STARTTLS_NOT_SUPPORTED,
	 "TLS is required, but was not offered by host mx.notls.test[127.0.0.15]", 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: TLS is required, but host mx.refuse.test[127.0.0.17] refused to start TLS: 454 4.7.0 TLS not available",
	 PFL_QUEUE_TLS_FAILURE, "smtp", 4242, "3F1A2B3C4D", "mx.refuse.test", "127.0.0.17", 0, 0,
	 RESULT_STARTTLS_NOT_SUPPORTED, "454 4.7.0 TLS not available", 0, 0, 0, 0},
};

static void test_queue_lines(void **state)
{
	(void)state;
	CHECK_ALL(queue_lines);
}

static const struct expect ignored[] = {
	{"Nov 23 18:41:55 mail postfix/qmgr[100]: 3F1A2B3C4D: from=<a@b.test>, size=312, nrcpt=1 (queue active)",
	 PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"Nov 23 18:41:55 mail postfix/smtpd[101]: Anonymous TLS connection established from unknown[127.0.0.1]: TLSv1.3",
	 PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"Nov 23 18:41:55 mail postfix/smtpd[101]: connect from localhost[127.0.0.1]", PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"Nov 23 18:41:55 mail postfix/qmgr[100]: 3F1A2B3C4D: to=<a@b.test>, relay=x[1.2.3.4]:25, dsn=2.0.0, status=sent (ok)",
	 PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"Nov 23 18:41:55 mail sendmail[123]: 2ANIfth1000123: STARTTLS=client, relay=mx.good.test., version=TLSv1.3, verify=OK",
	 PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"Nov 23 18:41:55 mail kernel: [12345.678] eth0: link up", PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "connect to mx.down.test[127.0.0.18]:25: Connection refused", PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: host mx.b.test[192.0.2.9] said: 451 try later (in reply to RCPT TO command)",
	 PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "re-using session with untrusted certificate, look for details earlier in the log",
	 PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "warning: database /etc/postfix/transport.db is older than source file", PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "fatal: Server certificate not verified", PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{PROXY "Verified TLS connection reused to mx.good.test[127.0.0.11]:25" CIPHER, PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{PROXY "CONNECT to [127.0.0.11]:25", PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{PROXY "server certificate verification failed for mx.expired.test[127.0.0.12]:25: certificate has expired",
	 PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"Nov 23 18:41:55 mail postfix/smtp: Verified TLS connection established to mx[1.2.3.4]:25: x",
	 PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"smtp[4242]: Verified TLS connection established to mx[1.2.3.4]:25: x", PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{"", PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC, PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
};

static void test_ignored(void **state)
{
	(void)state;
	CHECK_ALL(ignored);
}

#define LONG300 \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaa"

static const struct expect malformed[] = {
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.good.test", PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.good.test>, relay=local, delay=1, dsn=2.0.0, status=sent (ok)",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.good.test>, relay=mx.good.test[127.0.0.11, delay=1, dsn=2.0.0, status=sent (ok)",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.good.test>, relay=mx.good.test[127.0.0.11]:25, delay=0.21",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.good.test>, dsn=2.0.0, status=sent (ok)",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.good.test>, relay=mx.good.test[127.0.0.11]:25, dsn=2.0.0, status=sent (ok",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.good.test>, relay=mx.good.test[127.0.0.11]:99999, dsn=2.0.0, status=sent (ok)",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@may.good.test>, relay=mx.good.test[127.0.0.11]:25, dsn=2.0.0.0.0.0.0.0.0.0, status=sent (ok)",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "3F1A2B3C4D: to=<rcpt@" LONG300 ".test>, relay=mx.good.test[127.0.0.11]:25, dsn=2.0.0, status=sent (ok)",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "Verified TLS connection established to " LONG300 "[127.0.0.11]:25" CIPHER,
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "Verified TLS connection established to mx.good.test:25" CIPHER, PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "Verified TLS connection established to mx.good.test[127.0.0.11]x" CIPHER,
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "Verified TLS connection established to mx.good.test[1.2.3.4" LONG300 "]:25" CIPHER,
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "server certificate verification failed for mx.expired.test[127.0.0.12]:25",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "SSL_connect error to mx.badtls.test", PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{CLASSIC "TLS is required, but host mx.refuse.test[127.0.0.17] did something else",
	 PFL_MALFORMED, "smtp", 4242, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	{PROXY "Verified TLS connection established to mx.good.test" CIPHER, PFL_IGNORED, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
};

static void test_malformed(void **state)
{
	(void)state;
	CHECK_ALL(malformed);
}

/* A delivery reason longer than the field is cut, not a lost line. */
static void test_long_reason(void **state)
{
	static const char line[] = CLASSIC "3F1A2B3C4D: to=<a@b.test>, relay=mx.b.test[192.0.2.9]:25, "
		DELAYS "dsn=4.7.5, status=deferred (" LONG300 " Server certificate not verified)";
	struct pfl_event ev;

	(void)state;
	assert_int_equal(parse_copy(line, strlen(line), &ev), PFL_DELIVERY);
	assert_int_equal(ev.reason_truncated, 1);
	assert_int_equal(strlen(ev.reason), sizeof(ev.reason) - 1);
	assert_memory_equal(ev.reason, LONG300, sizeof(ev.reason) - 1);
	assert_int_equal(ev.result_type, RESULT_VALIDATION_FAILURE);
	assert_string_equal(ev.status, "deferred");
}

/* A line of n bytes: prefix, then filler to the length. */
static char *long_line(const char *prefix, size_t n)
{
	char *s = malloc(n);
	size_t k = strlen(prefix);

	assert_non_null(s);
	assert_true(k <= n);
	memcpy(s, prefix, k);
	memset(s + k, 'x', n - k);
	return s;
}

static void test_line_length(void **state)
{
	struct pfl_event ev;
	char *s;

	(void)state;
	s = long_line(CLASSIC "3F1A2B3C4D: to=<a@b.test>, relay=mx.b.test[192.0.2.9]:25, dsn=2.0.0, status=sent (", 9000);
	assert_int_equal(pfl_parse(s, 9000, &ev), PFL_MALFORMED);
	assert_string_equal(ev.program, "smtp");
	free(s);
	s = long_line(LMTP "x", 9000);
	assert_int_equal(pfl_parse(s, 9000, &ev), PFL_MALFORMED);
	free(s);
	s = long_line("Nov 23 18:41:55 mail postfix/qmgr[100]: 3F1A2B3C4D: from=<", 9000);
	assert_int_equal(pfl_parse(s, 9000, &ev), PFL_IGNORED);
	assert_string_equal(ev.program, "");
	free(s);
	s = long_line(PROXY "Verified TLS connection established to mx.good.test[127.0.0.11]:25: ", 9000);
	assert_int_equal(pfl_parse(s, 9000, &ev), PFL_IGNORED);
	free(s);
	/* exactly the limit is still read */
	s = long_line(CLASSIC "3F1A2B3C4D: to=<a@b.test>, relay=mx.b.test[192.0.2.9]:25, dsn=2.0.0, status=sent (", PFL_MAX_LINE);
	s[PFL_MAX_LINE - 1] = ')';
	assert_int_equal(pfl_parse(s, PFL_MAX_LINE, &ev), PFL_DELIVERY);
	assert_int_equal(ev.reason_truncated, 1);
	free(s);
}

/* Embedded NUL bytes never leak into a field or past it. */
static void test_embedded_nul(void **state)
{
	static const char line[] = CLASSIC "Verified TLS connection established to mx.go\0od.test[127.0.0.11]:25: x";
	static const char line2[] = CLASSIC "SSL_connect error to mx.badtls.test[127.0.0.16]:25: lost\0junk";
	struct pfl_event ev;

	(void)state;
	assert_int_equal(parse_copy(line, sizeof(line) - 1, &ev), PFL_MALFORMED);
	assert_int_equal(parse_copy(line2, sizeof(line2) - 1, &ev), PFL_TLS_FAILURE);
	assert_string_equal(ev.reason, "lost");
}

static void assert_sane(const struct pfl_event *ev, enum pfl_kind kind)
{
	assert_true(kind >= PFL_IGNORED && kind <= PFL_QUEUE_TLS_FAILURE);
	assert_int_equal(ev->kind, kind);
	assert_non_null(memchr(ev->program, '\0', sizeof(ev->program)));
	assert_non_null(memchr(ev->queue_id, '\0', sizeof(ev->queue_id)));
	assert_non_null(memchr(ev->mx, '\0', sizeof(ev->mx)));
	assert_non_null(memchr(ev->ip, '\0', sizeof(ev->ip)));
	assert_non_null(memchr(ev->reason, '\0', sizeof(ev->reason)));
	assert_non_null(memchr(ev->rcpt_domain, '\0', sizeof(ev->rcpt_domain)));
	assert_non_null(memchr(ev->status, '\0', sizeof(ev->status)));
	assert_non_null(memchr(ev->dsn, '\0', sizeof(ev->dsn)));
	assert_true(ev->port >= 0 && ev->port <= 65535);
	if (kind == PFL_IGNORED)
		assert_string_equal(ev->program, "");
}

static const struct expect *const samples[] = {
	&established[0], &established[4], &failures[0], &failures[10], &failures[11],
	&deliveries[1], &deliveries[7], &deliveries[9], &deliveries[10], &queue_lines[3],
};

static void test_every_prefix(void **state)
{
	struct pfl_event ev;
	size_t i, n, len;
	unsigned long count = 0;

	(void)state;
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		len = strlen(samples[i]->line);
		for (n = 0; n <= len; n++, count++)
			assert_sane(&ev, parse_copy(samples[i]->line, n, &ev));
	}
	assert_true(count > 1000);
}

static unsigned long rng_state = 20261123;

static unsigned long rng(void)
{
	rng_state = rng_state * 6364136223846793005UL + 1442695040888963407UL;
	return (rng_state >> 33) & 0x7fffffffUL;
}

/* Real lines with bytes overwritten by ones the parser cares about. */
static void test_mutations(void **state)
{
	static const char special[] = "[]<>:@\",= ()\\/\0x9";
	struct pfl_event ev;
	char buf[1024];
	size_t i, j, len, round;

	(void)state;
	for (round = 0; round < 4000; round++) {
		i = rng() % (sizeof(samples) / sizeof(samples[0]));
		len = strlen(samples[i]->line);
		memcpy(buf, samples[i]->line, len);
		for (j = 0; j < 1 + rng() % 4; j++)
			buf[rng() % len] = special[rng() % (sizeof(special) - 1)];
		assert_sane(&ev, parse_copy(buf, len, &ev));
		assert_sane(&ev, parse_copy(buf, rng() % (len + 1), &ev));
	}
}

static void test_random_bytes(void **state)
{
	static const char *const pieces[] = {
		CLASSIC, ISO, CAT, PROXY, "3F1A2B3C4D: ", "to=<", ">", ", ", "relay=", "[", "]",
		":25", ": ", "status=", " (", ")", "Verified TLS connection established to ",
		"TLS is required, but host ", " refused to start TLS", "warning: ", "@",
		"\"", "\\", "mx.a.test", "2001:db8::1",
	};
	struct pfl_event ev;
	char buf[600];
	size_t len, k, round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		len = 0;
		while (len < sizeof(buf) - 64 && rng() % 8 != 0) {
			if (rng() % 2) {
				const char *p = pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];

				k = strlen(p);
				memcpy(buf + len, p, k);
				len += k;
			} else {
				for (k = rng() % 16; k > 0; k--)
					buf[len++] = (char)(rng() & 0xff);
			}
		}
		assert_sane(&ev, parse_copy(buf, len, &ev));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_established),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_deliveries),
		cmocka_unit_test(test_queue_lines),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_long_reason),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
