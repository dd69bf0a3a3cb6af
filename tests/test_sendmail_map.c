/*
 * NAME
 *	test_sendmail_map - unit tests of milter/sendmail_map.c
 * DESCRIPTION
 *	The netstring decoder (whole, batched and one-byte-at-a-time input,
 *	every kind of malformed netstring, the size bound), the request
 *	parser on the requests a real Sendmail 8.17 sent
 *	(shared/spec/sendmail-8.17-tls.md and those of contrib/sendmail/
 *	tlsrpt.mc, captured by tests/t-e2e-sendmail.sh), the ${verify}
 *	mapping, the certificate name check and the correlator: every
 *	emitted session result is checked exactly, across interleaved
 *	connections.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sendmail_map.h"
#include "session.h"
#include "util.h"

/* ---- helpers ---- */

/* Emitted results as text: "domain S when" or "domain F type mx ip reason when". */
struct got {
	struct strbuf text;
	size_t n;
	const char *report_qid;	/* the skip function says yes for this queue id */
	char mx[64], ip[64];	/* what the last emit said about the MX */
};

static const char *opt(const char *s)
{
	return s != NULL ? s : "-";
}

static void collect(void *ctx, const struct tlsrpt_session *s, const char *mx, const char *ip)
{
	struct got *g = ctx;
	const struct tlsrpt_policy_result *p;

	snprintf(g->mx, sizeof(g->mx), "%s", opt(mx));
	snprintf(g->ip, sizeof(g->ip), "%s", opt(ip));

	assert_int_equal(s->npolicies, 1);
	p = &s->policies[0];
	assert_int_equal(p->type, POLICY_NONE);
	assert_string_equal(p->policy_domain, s->domain);
	assert_string_equal(p->policy_strings, "[]");
	assert_string_equal(p->mx_hosts, "[]");
	assert_null(s->record);
	g->n++;
	if (!p->failed) {
		assert_int_equal(p->nfailures, 0);
		strbuf_printf(&g->text, "%s S %lld\n", s->domain, s->when);
		return;
	}
	assert_int_equal(p->nfailures, 1);
	assert_null(p->failures[0].sending_ip);
	assert_null(p->failures[0].helo);
	assert_null(p->failures[0].additional);
	strbuf_printf(&g->text, "%s F %s %s %s %s %lld\n", s->domain,
	    result_type_name(p->failures[0].result_type), opt(p->failures[0].mx_name),
	    opt(p->failures[0].receiving_ip), opt(p->failures[0].reason), s->when);
}

static bool skip_report(void *ctx, const char *qid)
{
	struct got *g = ctx;

	return g->report_qid != NULL && strcmp(qid, g->report_qid) == 0;
}

static const char *got_text(struct got *g)
{
	strbuf_appends(&g->text, "");
	return g->text.data;
}

static char last_why[128];	/* why the last request was bad, "" if it was not */

/* Send one request on c; returns the reply's text (static). */
static const char *req(struct smm *m, struct smm_conn *c, const char *payload, long long now)
{
	static char text[256];
	char why[128];
	bool ok;
	struct strbuf out;
	struct smm_decoder d;
	size_t used, len;
	const char *r;

	strbuf_init(&out);
	why[0] = '\0';
	ok = smm_conn_request(m, c, payload, strlen(payload), now, &out, why, sizeof(why));
	assert_int_equal(ok, why[0] == '\0');
	snprintf(last_why, sizeof(last_why), "%s", why);
	/* the reply is itself one well-formed netstring */
	smm_decoder_init(&d);
	assert_int_equal(smm_decode(&d, out.data, out.len, &used), SMM_REQUEST);
	assert_int_equal(used, out.len);
	r = smm_decoder_request(&d, &len);
	snprintf(text, sizeof(text), "%s", r);
	smm_decoder_free(&d);
	strbuf_free(&out);
	return text;
}

/*
 * Requests as contrib/sendmail/tlsrpt.mc builds them (map flag -f keeps
 * case); the host gets its trailing dot, as $h has it, so "rcpt="
 * follows without a blank.
 */
#define QID "6ANLnY00008425"
#define SRV(srv, addr, verify, host, cn, cni, san) \
	"tlsrpt srv= " srv " addr= " addr " verify= " verify " ver= TLSv1.3 qid= " QID \
	" cn= " cn " cni= " cni " san= " san " host= " host ".rcpt="
#define RCPT(rcpt, srv, addr, verify) \
	"tlsrpt srv= " srv " addr= " addr " verify= " verify " ver= TLSv1.3 qid= " QID \
	" cn= cni= san= no host= x.test.rcpt= " rcpt

/* ---- netstrings ---- */

static void test_decode_whole_and_batched(void **state)
{
	const char in[] = "52:tlsrpt srv= mx.good.test addr= 127.0.0.11 verify= ok,"
	    "5:hello,0:,";
	struct smm_decoder d;
	size_t used, len, off = 0;
	const char *r;

	(void)state;
	smm_decoder_init(&d);
	assert_int_equal(smm_decode(&d, in, sizeof(in) - 1, &used), SMM_REQUEST);
	r = smm_decoder_request(&d, &len);
	assert_int_equal(len, 52);
	assert_string_equal(r, "tlsrpt srv= mx.good.test addr= 127.0.0.11 verify= ok");
	off += used;
	assert_int_equal(smm_decode(&d, in + off, sizeof(in) - 1 - off, &used), SMM_REQUEST);
	assert_string_equal(smm_decoder_request(&d, &len), "hello");
	off += used;
	assert_int_equal(smm_decode(&d, in + off, sizeof(in) - 1 - off, &used), SMM_REQUEST);
	assert_string_equal(smm_decoder_request(&d, &len), "");
	assert_int_equal(len, 0);
	off += used;
	assert_int_equal(off, sizeof(in) - 1);
	assert_int_equal(smm_decode(&d, "", 0, &used), SMM_MORE);
	assert_null(smm_decoder_error(&d));
	smm_decoder_free(&d);
}

static void test_decode_one_byte_at_a_time(void **state)
{
	const char in[] = "5:hello,11:hello world,";
	const char *want[] = {"hello", "hello world"};
	struct smm_decoder d;
	size_t used, len, k = 0;

	(void)state;
	smm_decoder_init(&d);
	for (size_t i = 0; i < sizeof(in) - 1; i++) {
		enum smm_status st = smm_decode(&d, in + i, 1, &used);

		assert_int_equal(used, 1);
		if (st == SMM_REQUEST) {
			assert_true(k < 2);
			assert_string_equal(smm_decoder_request(&d, &len), want[k]);
			k++;
		} else {
			assert_int_equal(st, SMM_MORE);
			assert_null(smm_decoder_request(&d, &len));
		}
	}
	assert_int_equal(k, 2);
	smm_decoder_free(&d);
}

static void test_decode_max_size(void **state)
{
	struct strbuf in;
	struct smm_decoder d;
	size_t used, len;

	(void)state;
	strbuf_init(&in);
	strbuf_appends(&in, "4096:");
	for (int i = 0; i < SMM_MAX_REQUEST; i++)
		strbuf_appendc(&in, 'x');
	strbuf_appendc(&in, ',');
	smm_decoder_init(&d);
	assert_int_equal(smm_decode(&d, in.data, in.len, &used), SMM_REQUEST);
	assert_int_equal(used, in.len);
	smm_decoder_request(&d, &len);
	assert_int_equal(len, SMM_MAX_REQUEST);
	smm_decoder_free(&d);
	strbuf_free(&in);
}

/* Each malformed input breaks the stream at the expected byte, with the expected reason. */
static void test_decode_malformed(void **state)
{
	static const struct {
		const char *in;
		size_t at;		/* bytes consumed including the bad one */
		const char *why;
	} cases[] = {
		{"x:abc,", 1, "length is not a number"},
		{" 3:abc,", 1, "length is not a number"},
		{"-3:abc,", 1, "length is not a number"},
		{":abc,", 1, "empty length"},
		{"03:abc,", 2, "length with a leading zero"},
		{"00:,", 2, "length with a leading zero"},
		{"4097:", 4, "request longer than 4096 bytes"},
		{"99999999999999999999:", 4, "request longer than 4096 bytes"},
		{"10000:", 5, "request longer than 4096 bytes"},
		{"12x", 3, "missing ':' after the length"},
		{"3 :abc,", 2, "missing ':' after the length"},
		{"3:abc;", 6, "missing ',' after the request"},
		{"3:abcd,", 6, "missing ',' after the request"},
		{"2:abc,", 5, "missing ',' after the request"},
		{"3:a\0c,", 4, "NUL byte in the request"},
	};
	static const size_t lens[] = {6, 7, 7, 5, 7, 4, 5, 21, 6, 3, 7, 6, 7, 6, 6};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smm_decoder d;
		size_t used = 0, total = 0, len;
		enum smm_status st = SMM_MORE;

		/* all at once */
		smm_decoder_init(&d);
		st = smm_decode(&d, cases[i].in, lens[i], &used);
		assert_int_equal(st, SMM_ERROR);
		assert_string_equal(smm_decoder_error(&d), cases[i].why);
		/* sticky */
		assert_int_equal(smm_decode(&d, "5:hello,", 8, &used), SMM_ERROR);
		assert_null(smm_decoder_request(&d, &len));
		smm_decoder_free(&d);

		/* one byte at a time: fails at the same byte */
		smm_decoder_init(&d);
		for (total = 0; total < lens[i]; total++) {
			st = smm_decode(&d, cases[i].in + total, 1, &used);
			if (st == SMM_ERROR)
				break;
			assert_int_equal(st, SMM_MORE);
		}
		assert_int_equal(st, SMM_ERROR);
		assert_int_equal(total + 1, cases[i].at);
		assert_string_equal(smm_decoder_error(&d), cases[i].why);
		smm_decoder_free(&d);
	}
}

/* A good request, then garbage: the first is handed out, then the stream breaks. */
static void test_decode_good_then_bad(void **state)
{
	const char in[] = "5:hello,5:world!";
	struct smm_decoder d;
	size_t used, len;

	(void)state;
	smm_decoder_init(&d);
	assert_int_equal(smm_decode(&d, in, sizeof(in) - 1, &used), SMM_REQUEST);
	assert_int_equal(used, 8);
	assert_string_equal(smm_decoder_request(&d, &len), "hello");
	assert_int_equal(smm_decode(&d, in + used, sizeof(in) - 1 - used, &used), SMM_ERROR);
	assert_string_equal(smm_decoder_error(&d), "missing ',' after the request");
	smm_decoder_free(&d);
}

static void test_reply(void **state)
{
	struct strbuf out;

	(void)state;
	strbuf_init(&out);
	smm_reply(&out, "OK success");
	smm_reply(&out, "NOTFOUND");
	smm_reply(&out, "");
	strbuf_appends(&out, "");
	assert_string_equal(out.data, "10:OK success,8:NOTFOUND,0:,");
	strbuf_free(&out);
}

/* ---- requests ---- */

static void test_parse_spec_requests(void **state)
{
	struct smm_request r;
	char why[128];
	const char *s;

	(void)state;
	s = "tlsrpt srv= mx.good.test addr= 127.0.0.11 verify= ok";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_string_equal(r.map, "tlsrpt");
	assert_int_equal(r.hook, SMM_HOOK_SERVER);
	assert_string_equal(r.srv, "mx.good.test");
	assert_string_equal(r.addr, "127.0.0.11");
	assert_string_equal(r.verify, "OK");
	assert_true(r.folded);
	assert_null(r.rcpt);
	assert_null(r.rcpt_domain);
	assert_null(r.qid);
	assert_null(r.host);
	assert_null(r.version);
	assert_int_equal(r.san, SMM_SAN_UNKNOWN);
	smm_request_free(&r);

	s = "tlsrpt rcpt= rcpt@may.good.test srv= mx.good.test addr= 127.0.0.11 verify= ok "
	    "ver= tlsv1.3";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_int_equal(r.hook, SMM_HOOK_RCPT);
	assert_string_equal(r.rcpt, "rcpt@may.good.test");
	assert_string_equal(r.rcpt_domain, "may.good.test");
	assert_string_equal(r.version, "tlsv1.3");
	smm_request_free(&r);

	/* an empty macro at the end: "ver=" with nothing after it */
	s = "tlsrpt rcpt= rcpt@may.notls.test srv= mx.notls.test addr= 127.0.0.15 verify= none ver=";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_string_equal(r.verify, "NONE");
	assert_null(r.version);
	assert_string_equal(r.rcpt_domain, "may.notls.test");
	smm_request_free(&r);
}

/*
 * Requests of contrib/sendmail/tlsrpt.mc as Sendmail 8.17.1.9 sent them
 * (tests/t-e2e-sendmail.sh; one message to a1@verify.K and a1@may.K, one
 * delivery process, one connection per receiver kind K).
 */
static const char *const captured_good[] = {
	"tlsrpt srv= mx.good.test addr= 127.0.0.11 verify= OK ver= TLSv1.3 qid= 6ANLnY00008425 "
	    "cn= mx.good.test cni= Lab+20Test+20CA san= yes host= may.good.test.rcpt=",
	"tlsrpt srv= mx.good.test addr= 127.0.0.11 verify= OK ver= TLSv1.3 qid= 6ANLnY00008425 "
	    "cn= mx.good.test cni= Lab+20Test+20CA san= yes host= may.good.test.rcpt= "
	    "a1@verify.good.test",
	"tlsrpt srv= mx.good.test addr= 127.0.0.11 verify= OK ver= TLSv1.3 qid= 6ANLnY00008425 "
	    "cn= mx.good.test cni= Lab+20Test+20CA san= yes host= may.good.test.rcpt= "
	    "a1@may.good.test",
};
static const char *const captured_expired[] = {
	"tlsrpt srv= mx.expired.test addr= 127.0.0.12 verify= FAIL ver= TLSv1.3 qid= 6ANLnY7Q008435 "
	    "cn= mx.expired.test cni= Lab+20Test+20CA san= yes host= may.expired.test.rcpt=",
	"tlsrpt srv= mx.expired.test addr= 127.0.0.12 verify= FAIL ver= TLSv1.3 qid= 6ANLnY7Q008435 "
	    "cn= mx.expired.test cni= Lab+20Test+20CA san= yes host= may.expired.test.rcpt= "
	    "a1@verify.expired.test",
	"tlsrpt srv= mx.expired.test addr= 127.0.0.12 verify= FAIL ver= TLSv1.3 qid= 6ANLnY7Q008435 "
	    "cn= mx.expired.test cni= Lab+20Test+20CA san= yes host= may.expired.test.rcpt= "
	    "a1@may.expired.test",
};
static const char *const captured_selfsigned[] = {
	"tlsrpt srv= mx.selfsigned.test addr= 127.0.0.13 verify= FAIL ver= TLSv1.3 "
	    "qid= 6ANLnYXv008445 cn= mx.selfsigned.test cni= mx.selfsigned.test san= yes "
	    "host= may.selfsigned.test.rcpt=",
	"tlsrpt srv= mx.selfsigned.test addr= 127.0.0.13 verify= FAIL ver= TLSv1.3 "
	    "qid= 6ANLnYXv008445 cn= mx.selfsigned.test cni= mx.selfsigned.test san= yes "
	    "host= may.selfsigned.test.rcpt= a1@verify.selfsigned.test",
	"tlsrpt srv= mx.selfsigned.test addr= 127.0.0.13 verify= FAIL ver= TLSv1.3 "
	    "qid= 6ANLnYXv008445 cn= mx.selfsigned.test cni= mx.selfsigned.test san= yes "
	    "host= may.selfsigned.test.rcpt= a1@may.selfsigned.test",
};
static const char *const captured_wronghost[] = {
	"tlsrpt srv= mx.wronghost.test addr= 127.0.0.14 verify= OK ver= TLSv1.3 qid= 6ANLnYqO008455 "
	    "cn= other.name.test cni= Lab+20Test+20CA san= no host= may.wronghost.test.rcpt=",
	"tlsrpt srv= mx.wronghost.test addr= 127.0.0.14 verify= OK ver= TLSv1.3 qid= 6ANLnYqO008455 "
	    "cn= other.name.test cni= Lab+20Test+20CA san= no host= may.wronghost.test.rcpt= "
	    "b2@may.wronghost.test",
	"tlsrpt srv= mx.wronghost.test addr= 127.0.0.14 verify= OK ver= TLSv1.3 qid= 6ANLnYqO008455 "
	    "cn= other.name.test cni= Lab+20Test+20CA san= no host= may.wronghost.test.rcpt= "
	    "b1@may.wronghost.test",
};
static const char *const captured_notls[] = {
	"tlsrpt srv= mx.notls.test addr= 127.0.0.15 verify= NONE ver= qid= 6ANLnYom008465 cn= "
	    "cni= san= no host= may.notls.test.rcpt=",
	"tlsrpt srv= mx.notls.test addr= 127.0.0.15 verify= NONE ver= qid= 6ANLnYom008465 cn= "
	    "cni= san= no host= may.notls.test.rcpt= a1@verify.notls.test",
	"tlsrpt srv= mx.notls.test addr= 127.0.0.15 verify= NONE ver= qid= 6ANLnYom008465 cn= "
	    "cni= san= no host= may.notls.test.rcpt= a1@may.notls.test",
};

static void test_parse_captured(void **state)
{
	struct smm_request r;
	char why[128];

	(void)state;
	assert_int_equal(smm_parse_request(captured_good[0], strlen(captured_good[0]), &r, why,
	    sizeof(why)), 0);
	assert_string_equal(r.map, "tlsrpt");
	assert_int_equal(r.hook, SMM_HOOK_SERVER);
	assert_string_equal(r.srv, "mx.good.test");
	assert_string_equal(r.addr, "127.0.0.11");
	assert_string_equal(r.verify, "OK");
	assert_false(r.folded);
	assert_string_equal(r.version, "TLSv1.3");
	assert_string_equal(r.qid, "6ANLnY00008425");
	assert_string_equal(r.cn, "mx.good.test");
	assert_string_equal(r.cn_issuer, "Lab Test CA");
	assert_int_equal(r.san, SMM_SAN_YES);
	assert_string_equal(r.host, "may.good.test");
	assert_null(r.rcpt);
	assert_null(r.rcpt_domain);
	smm_request_free(&r);

	assert_int_equal(smm_parse_request(captured_good[1], strlen(captured_good[1]), &r, why,
	    sizeof(why)), 0);
	assert_int_equal(r.hook, SMM_HOOK_RCPT);
	assert_string_equal(r.rcpt, "a1@verify.good.test");
	assert_string_equal(r.rcpt_domain, "verify.good.test");
	assert_string_equal(r.host, "may.good.test");
	smm_request_free(&r);

	assert_int_equal(smm_parse_request(captured_notls[2], strlen(captured_notls[2]), &r, why,
	    sizeof(why)), 0);
	assert_string_equal(r.verify, "NONE");
	assert_null(r.version);
	assert_null(r.cn);
	assert_null(r.cn_issuer);
	assert_int_equal(r.san, SMM_SAN_NO);
	assert_string_equal(r.rcpt_domain, "may.notls.test");
	smm_request_free(&r);
}

static void test_parse_variants(void **state)
{
	struct smm_request r;
	char why[128];
	const char *s;

	(void)state;
	/* glued name=value, angle brackets, an IPv6 address, a bracketed host */
	s = "m verify=FAIL rcpt= <a@B.Example.> addr= IPv6:2001:DB8:0:0::1 host= [10.1.2.3] "
	    "cn= Some Name With Blanks san= maybe";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_string_equal(r.map, "m");
	assert_int_equal(r.hook, SMM_HOOK_RCPT);
	assert_string_equal(r.verify, "FAIL");
	assert_string_equal(r.rcpt_domain, "b.example");
	assert_string_equal(r.addr, "2001:db8::1");
	assert_null(r.host);
	assert_string_equal(r.cn, "Some Name With Blanks");
	assert_int_equal(r.san, SMM_SAN_UNKNOWN);
	smm_request_free(&r);

	/* a recipient without domain; "word=" that is no field name is text */
	s = "m verify= OK rcpt= postmaster";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_string_equal(r.verify, "OK");
	assert_string_equal(r.rcpt, "postmaster");
	assert_null(r.rcpt_domain);
	smm_request_free(&r);
	s = "m rcpt= SRS0=HHH=TT=example.org=u@fwd.example.verify= OK";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_int_equal(r.hook, SMM_HOOK_RCPT);
	assert_string_equal(r.rcpt, "SRS0=HHH=TT=example.org=u@fwd.example.");
	assert_string_equal(r.rcpt_domain, "fwd.example");
	assert_string_equal(r.verify, "OK");
	smm_request_free(&r);
	s = "m rcpt= srs0=hhh=tt=example.org=u@fwd.example verify= OK";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_string_equal(r.rcpt, "srs0=hhh=tt=example.org=u@fwd.example");
	smm_request_free(&r);
	/* a field this version does not know ends up in the value before it */
	s = "m verify= OK future= x";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_string_equal(r.verify, "OK FUTURE= X");
	smm_request_free(&r);

	/* tls_server sends rcpt= empty: every field is always there */
	s = "m rcpt= verify= OK";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_int_equal(r.hook, SMM_HOOK_SERVER);
	assert_null(r.rcpt);
	smm_request_free(&r);

	/* after a value's last operator character the next field has no blank */
	s = "m host= may.expired.test.rcpt= a@[10.0.0.1]verify= FAIL";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_string_equal(r.host, "may.expired.test");
	assert_string_equal(r.rcpt, "a@[10.0.0.1]");
	assert_null(r.rcpt_domain);
	assert_string_equal(r.verify, "FAIL");
	smm_request_free(&r);

	/* with -f the key keeps its case: "CN=" inside a value is no field */
	s = "m cn= /CN=x verify= OK";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_string_equal(r.cn, "/CN=x");
	smm_request_free(&r);

	/* a word that merely ends in a field name is no field: "xcn=" */
	s = "m cn= xcn=y verify= OK";
	assert_int_equal(smm_parse_request(s, strlen(s), &r, why, sizeof(why)), 0);
	assert_string_equal(r.cn, "xcn=y");
	smm_request_free(&r);
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *in;
		const char *why;
	} cases[] = {
		{"tlsrpt", "not <map> <key>"},
		{" srv= x", "not <map> <key>"},
		{"tlsrpt ", "empty key"},
		{"tlsrpt    ", "empty key"},
		{"tlsrpt hello world", "key does not start with a name= field"},
		{"tlsrpt future= x verify= OK", "key does not start with a name= field"},
		{"tlsrpt Verify= OK", "key does not start with a name= field"},
		{"tlsrpt verify= OK verify= FAIL", "field verify= given twice"},
		{"tlsrpt =x verify= OK", "key does not start with a name= field"},
		/* a crafted certificate name cannot add a recipient or change a field */
		{"tlsrpt srv= mx.evil.test verify= OK cn= x.rcpt=a@victim.test rcpt=",
		    "field rcpt= given twice"},
		{"tlsrpt verify= FAIL cn= mx/verify=OK", "field verify= given twice"},
		{"tlsrpt rcpt= x.qid=ABC@d.test qid= 123", "field qid= given twice"},
	};
	struct smm_request r;
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(smm_parse_request(cases[i].in, strlen(cases[i].in), &r, why,
		    sizeof(why)), -1);
		assert_string_equal(why, cases[i].why);
		smm_request_free(&r);
	}
	assert_int_equal(smm_parse_request("m a\0b", 5, &r, why, sizeof(why)), -1);
	assert_string_equal(why, "NUL byte in the request");
}

/* ---- ${verify} and names ---- */

static void test_name_matches(void **state)
{
	(void)state;
	assert_true(smm_name_matches("mx.good.test", "mx.good.test"));
	assert_true(smm_name_matches("MX.Good.Test", "mx.good.test."));
	assert_true(smm_name_matches("mx.good.test.", "MX.GOOD.TEST"));
	assert_true(smm_name_matches("*.good.test", "mx.good.test"));
	assert_true(smm_name_matches("*.GOOD.test", "Mx.good.test"));
	assert_false(smm_name_matches("*.good.test", "a.mx.good.test"));	/* one label only */
	assert_false(smm_name_matches("*.good.test", "good.test"));
	assert_false(smm_name_matches("*.good.test", ".good.test"));
	assert_false(smm_name_matches("*.test", "good.test"));		/* too wide */
	assert_false(smm_name_matches("*", "test"));
	assert_false(smm_name_matches("m*.good.test", "mx.good.test"));	/* partial wildcard */
	assert_false(smm_name_matches("*.*.test", "a.b.test"));
	assert_false(smm_name_matches("*.good.test", "*.good.test"));
	assert_false(smm_name_matches("x.good.test", "*.good.test"));
	assert_false(smm_name_matches("other.name.test", "mx.wronghost.test"));
	assert_false(smm_name_matches("mx.good.test", "mx.good.tes"));
	assert_false(smm_name_matches("", "mx.good.test"));
	assert_false(smm_name_matches(NULL, "mx.good.test"));
	assert_false(smm_name_matches("mx.good.test", NULL));
}

static void classify(const char *key, struct smm_outcome *o)
{
	struct smm_request r;
	char why[128], buf[512];

	snprintf(buf, sizeof(buf), "tlsrpt %s", key);
	assert_int_equal(smm_parse_request(buf, strlen(buf), &r, why, sizeof(why)), 0);
	smm_classify(&r, o);
	smm_request_free(&r);
}

static void test_classify(void **state)
{
	static const struct {
		const char *key;
		bool report, failed, aborts;
		int type;
		const char *reason;
	} cases[] = {
		{"srv= mx.good.test verify= OK cn= mx.good.test san= yes", true, false, false, 0, NULL},
		{"srv= mx.good.test verify= OK cn= mx.good.test san= no", true, false, false, 0, NULL},
		{"srv= mx.good.test verify= OK cn= other.name san= yes", true, false, false, 0, NULL},
		{"srv= mx.good.test verify= OK cn= *.good.test", true, false, false, 0, NULL},
		{"srv= mx.good.test verify= OK", true, false, false, 0, NULL},	/* cannot tell */
		{"verify= OK cn= other.name.test san= no", true, false, false, 0, NULL},	/* no srv */
		{"srv= mx.wronghost.test verify= OK cn= other.name.test san= no", true, true, false,
		    RESULT_CERTIFICATE_HOST_MISMATCH, "certificate name does not match the server name"},
		{"srv= mx.wronghost.test verify= OK cn= other.name.test", true, true, false,
		    RESULT_CERTIFICATE_HOST_MISMATCH, "certificate name does not match the server name"},
		{"srv= mx.wronghost.test verify= OK san= no", true, true, false,
		    RESULT_CERTIFICATE_HOST_MISMATCH, "certificate name does not match the server name"},
		{"srv= mx.wronghost.test verify= TRUSTED cn= other.name.test", true, true, false,
		    RESULT_CERTIFICATE_HOST_MISMATCH, "certificate name does not match the server name"},
		{"srv= mx.good.test verify= ok", true, false, false, 0, NULL},
		{"verify= NOT", true, false, false, 0, NULL},
		{"verify= FAIL cn= mx.expired.test cni= Lab+20Test+20CA", true, true, false,
		    RESULT_VALIDATION_FAILURE, "certificate verification failed"},
		{"verify= FAIL cn= mx.selfsigned.test cni= mx.selfsigned.test", true, true, false,
		    RESULT_CERTIFICATE_NOT_TRUSTED, "self-signed certificate"},
		{"verify= fail", true, true, false, RESULT_VALIDATION_FAILURE,
		    "certificate verification failed"},
		{"verify= NO", true, true, false, RESULT_VALIDATION_FAILURE, "no certificate presented"},
		{"verify= NONE", true, true, false, RESULT_STARTTLS_NOT_SUPPORTED, "STARTTLS not offered"},
		{"verify= SOFTWARE", true, true, true, RESULT_VALIDATION_FAILURE, "TLS handshake failed"},
		{"verify= PROTOCOL", true, true, true, RESULT_VALIDATION_FAILURE, "STARTTLS failed"},
		{"verify= DANE_FAIL", true, true, true, RESULT_VALIDATION_FAILURE, "DANE check failed"},
		{"verify= TEMP", false, false, false, 0, "temporary error"},
		{"verify= CONFIG", false, false, true, 0, "local TLS configuration error"},
		{"verify= WHATEVER", false, false, false, 0, "unknown verify value"},
		{"srv= x", false, false, false, 0, "no verify value"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smm_outcome o;

		classify(cases[i].key, &o);
		assert_int_equal(o.report, cases[i].report);
		assert_int_equal(o.failed, cases[i].failed);
		assert_int_equal(o.aborts, cases[i].aborts);
		assert_int_equal(o.result_type, cases[i].type);
		if (cases[i].reason == NULL)
			assert_null(o.reason);
		else
			assert_string_equal(o.reason, cases[i].reason);
	}
}

/* ---- the correlator ---- */

struct fixture {
	struct got g;
	struct smm *m;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strbuf_init(&f->g.text);
	f->m = smm_new(collect, skip_report, &f->g);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	smm_free(f->m);
	strbuf_free(&f->g.text);
	free(f);
	return 0;
}

static struct smm_stats stats(struct fixture *f)
{
	struct smm_stats st;

	smm_get_stats(f->m, &st);
	return st;
}

/* The requests of the spec, each delivery process on its own connection, in order. */
static void test_spec_sequence(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *good, *expired, *wronghost, *notls, *badtls;
	struct smm_stats st;

	good = smm_conn_new(f->m);
	expired = smm_conn_new(f->m);
	wronghost = smm_conn_new(f->m);
	notls = smm_conn_new(f->m);
	badtls = smm_conn_new(f->m);
	assert_string_equal(req(f->m, good,
	    "tlsrpt srv= mx.good.test addr= 127.0.0.11 verify= ok", 100), "OK success");
	assert_string_equal(req(f->m, good,
	    "tlsrpt rcpt= rcpt@may.good.test srv= mx.good.test addr= 127.0.0.11 verify= ok "
	    "ver= tlsv1.3", 101), "OK success");
	assert_string_equal(req(f->m, expired,
	    "tlsrpt srv= mx.expired.test addr= 127.0.0.12 verify= fail", 102),
	    "OK validation-failure");
	/* without cn= or san= the map cannot see the wrong name */
	assert_string_equal(req(f->m, wronghost,
	    "tlsrpt srv= mx.wronghost.test addr= 127.0.0.14 verify= ok", 103), "OK success");
	assert_string_equal(req(f->m, notls,
	    "tlsrpt srv= mx.notls.test addr= 127.0.0.15 verify= none", 104),
	    "OK starttls-not-supported");
	assert_string_equal(req(f->m, notls,
	    "tlsrpt rcpt= rcpt@may.notls.test srv= mx.notls.test addr= 127.0.0.15 verify= none "
	    "ver=", 105), "OK starttls-not-supported");
	assert_string_equal(req(f->m, badtls,
	    "tlsrpt srv= mx.badtls.test addr= 127.0.0.16 verify= software", 106),
	    "OK validation-failure");
	assert_string_equal(got_text(&f->g),
	    "may.good.test S 101\n"
	    "may.notls.test F starttls-not-supported mx.notls.test 127.0.0.15 "
	    "STARTTLS not offered 105\n");
	smm_conn_close(f->m, good);
	smm_conn_close(f->m, expired);
	smm_conn_close(f->m, wronghost);
	smm_conn_close(f->m, notls);
	smm_conn_close(f->m, badtls);
	/* the spec's key had no host=: sessions without tls_rcpt cannot be reported */
	assert_int_equal(f->g.n, 2);
	st = stats(f);
	assert_int_equal(st.requests, 7);
	assert_int_equal(st.sessions, 2);
	assert_int_equal(st.successes, 1);
	assert_int_equal(st.failures, 1);
	assert_int_equal(st.unreported, 3);
	assert_int_equal(st.key_folded, 7);
	assert_int_equal(st.bad_requests, 0);
}

/* The captured requests: one result per domain of each connection, by kind. */
static void test_captured_sequence(void **state)
{
	static const struct {
		const char *const *reqs;
		const char *reply;
		const char *want;
	} kinds[] = {
		{captured_good, "OK success", "verify.good.test S 2\nmay.good.test S 3\n"},
		{captured_expired, "OK validation-failure",
		    "verify.expired.test F validation-failure mx.expired.test 127.0.0.12 "
		    "certificate verification failed 2\n"
		    "may.expired.test F validation-failure mx.expired.test 127.0.0.12 "
		    "certificate verification failed 3\n"},
		{captured_selfsigned, "OK certificate-not-trusted",
		    "verify.selfsigned.test F certificate-not-trusted mx.selfsigned.test 127.0.0.13 "
		    "self-signed certificate 2\n"
		    "may.selfsigned.test F certificate-not-trusted mx.selfsigned.test 127.0.0.13 "
		    "self-signed certificate 3\n"},
		{captured_wronghost, "OK certificate-host-mismatch",
		    "may.wronghost.test F certificate-host-mismatch mx.wronghost.test 127.0.0.14 "
		    "certificate name does not match the server name 2\n"},
		{captured_notls, "OK starttls-not-supported",
		    "verify.notls.test F starttls-not-supported mx.notls.test 127.0.0.15 "
		    "STARTTLS not offered 2\n"
		    "may.notls.test F starttls-not-supported mx.notls.test 127.0.0.15 "
		    "STARTTLS not offered 3\n"},
	};
	struct fixture *f = *state;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct smm_conn *c = smm_conn_new(f->m);

		strbuf_reset(&f->g.text);
		for (int i = 0; i < 3; i++)
			assert_string_equal(req(f->m, c, kinds[k].reqs[i], 1 + i), kinds[k].reply);
		smm_conn_close(f->m, c);
		assert_string_equal(got_text(&f->g), kinds[k].want);
	}
	assert_int_equal(stats(f).sessions, 9);
	assert_int_equal(stats(f).unreported, 0);
	assert_int_equal(stats(f).key_folded, 0);
}

/* One connection's side of a stream: its bytes, its decoder, its answers. */
struct stream {
	struct strbuf in, answers;
	size_t off;
	struct smm_decoder dec;
	struct smm_conn *c;
};

static void stream_init(struct stream *st, struct smm *m, const char *const *reqs, size_t n)
{
	memset(st, 0, sizeof(*st));
	strbuf_init(&st->in);
	strbuf_init(&st->answers);
	for (size_t i = 0; i < n; i++)
		smm_reply(&st->in, reqs[i]);	/* a request is framed like an answer */
	smm_decoder_init(&st->dec);
	st->c = smm_conn_new(m);
}

/* Feed the next byte; answer a request when it completes. */
static void stream_step(struct stream *st, struct smm *m, long long now)
{
	char why[128];
	size_t used, len;
	const char *r;

	if (st->off == st->in.len)
		return;
	if (smm_decode(&st->dec, st->in.data + st->off, 1, &used) == SMM_REQUEST) {
		r = smm_decoder_request(&st->dec, &len);
		assert_true(smm_conn_request(m, st->c, r, len, now, &st->answers, why, sizeof(why)));
	}
	assert_int_equal(used, 1);
	st->off++;
}

/* Two delivery processes, their requests arriving one byte at a time, interleaved. */
static void test_streams_byte_by_byte(void **state)
{
	struct fixture *f = *state;
	struct stream a, b;
	long long t = 0;

	stream_init(&a, f->m, captured_good, 3);
	stream_init(&b, f->m, captured_notls, 3);
	while (a.off < a.in.len || b.off < b.in.len) {
		stream_step(&a, f->m, t);
		stream_step(&b, f->m, t);
		t++;
	}
	strbuf_appends(&a.answers, "");
	strbuf_appends(&b.answers, "");
	assert_string_equal(a.answers.data, "10:OK success,10:OK success,10:OK success,");
	assert_string_equal(b.answers.data, "25:OK starttls-not-supported,"
	    "25:OK starttls-not-supported,25:OK starttls-not-supported,");
	smm_conn_close(f->m, a.c);
	smm_conn_close(f->m, b.c);
	/* times: the byte at which each tls_rcpt request completed */
	assert_int_equal(f->g.n, 4);
	assert_non_null(strstr(got_text(&f->g), "verify.good.test S "));
	assert_non_null(strstr(got_text(&f->g), "may.good.test S "));
	assert_non_null(strstr(got_text(&f->g), "verify.notls.test F starttls-not-supported "
	    "mx.notls.test 127.0.0.15 STARTTLS not offered "));
	assert_non_null(strstr(got_text(&f->g), "may.notls.test F starttls-not-supported "));
	smm_decoder_free(&a.dec);
	smm_decoder_free(&b.dec);
	strbuf_free(&a.in);
	strbuf_free(&b.in);
	strbuf_free(&a.answers);
	strbuf_free(&b.answers);
}

/* One result per (TLS session, domain): not per recipient or message. */
static void test_one_result_per_domain(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *c = smm_conn_new(f->m);

	req(f->m, c, SRV("mx.good.test", "127.0.0.11", "OK", "may.good.test", "mx.good.test",
	    "Lab+20Test+20CA", "yes"), 10);
	assert_string_equal(req(f->m, c, RCPT("a@may.good.test", "mx.good.test", "127.0.0.11",
	    "OK"), 11), "OK success");
	assert_string_equal(req(f->m, c, RCPT("b@may.good.test", "mx.good.test", "127.0.0.11",
	    "OK"), 12), "OK success");
	req(f->m, c, RCPT("c@MAY.good.test.", "mx.good.test", "127.0.0.11", "OK"), 12);
	req(f->m, c, RCPT("a@other.good.test", "mx.good.test", "127.0.0.11", "OK"), 13);
	/* the next message over the same (cached) connection */
	req(f->m, c, RCPT("d@may.good.test", "mx.good.test", "127.0.0.11", "OK"), 14);
	assert_string_equal(got_text(&f->g), "may.good.test S 11\nother.good.test S 13\n");
	assert_string_equal(f->g.mx, "mx.good.test");	/* successes name their MX too */
	assert_string_equal(f->g.ip, "127.0.0.11");
	/* a new tls_server for that address is a new TLS session */
	req(f->m, c, SRV("mx.good.test", "127.0.0.11", "OK", "may.good.test", "mx.good.test",
	    "Lab+20Test+20CA", "yes"), 20);
	req(f->m, c, RCPT("a@may.good.test", "mx.good.test", "127.0.0.11", "OK"), 21);
	smm_conn_close(f->m, c);
	assert_string_equal(got_text(&f->g),
	    "may.good.test S 11\nother.good.test S 13\nmay.good.test S 21\n");
	assert_int_equal(stats(f).sessions, 3);
	assert_int_equal(stats(f).unreported, 0);
}

/* The failure kinds with the request tlsrpt.mc sends, details exact. */
static void test_failure_details(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *c = smm_conn_new(f->m);

	req(f->m, c, SRV("mx.wronghost.test", "127.0.0.14", "OK", "may.wronghost.test",
	    "other.name.test", "Lab+20Test+20CA", "no"), 1);
	assert_string_equal(req(f->m, c, RCPT("a@may.wronghost.test", "mx.wronghost.test",
	    "127.0.0.14", "OK"), 2), "OK certificate-host-mismatch");
	req(f->m, c, SRV("mx.selfsigned.test", "127.0.0.13", "FAIL", "may.selfsigned.test",
	    "mx.selfsigned.test", "mx.selfsigned.test", "yes"), 3);
	req(f->m, c, RCPT("a@may.selfsigned.test", "mx.selfsigned.test", "127.0.0.13", "FAIL"), 4);
	req(f->m, c, SRV("mx.expired.test", "127.0.0.12", "FAIL", "may.expired.test",
	    "mx.expired.test", "Lab+20Test+20CA", "yes"), 5);
	req(f->m, c, RCPT("a@may.expired.test", "mx.expired.test", "127.0.0.12", "FAIL"), 6);
	smm_conn_close(f->m, c);
	assert_string_equal(got_text(&f->g),
	    "may.wronghost.test F certificate-host-mismatch mx.wronghost.test 127.0.0.14 "
	    "certificate name does not match the server name 2\n"
	    "may.selfsigned.test F certificate-not-trusted mx.selfsigned.test 127.0.0.13 "
	    "self-signed certificate 4\n"
	    "may.expired.test F validation-failure mx.expired.test 127.0.0.12 "
	    "certificate verification failed 6\n");
}

/* A failed handshake: no tls_rcpt follows; reported for $h when the session ends. */
static void test_aborted_handshake(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *c = smm_conn_new(f->m);

	assert_string_equal(req(f->m, c, SRV("mx.bad.test", "127.0.0.16", "SOFTWARE",
	    "verify.bad.test", "", "", "no"), 30), "OK validation-failure");
	assert_int_equal(f->g.n, 0);
	/* the next request of the process (another server) ends it */
	req(f->m, c, SRV("mx.good.test", "127.0.0.11", "OK", "may.good.test", "mx.good.test",
	    "Lab+20Test+20CA", "yes"), 40);
	assert_string_equal(got_text(&f->g),
	    "verify.bad.test F validation-failure mx.bad.test 127.0.0.16 TLS handshake failed "
	    "30\n");
	/* a PROTOCOL failure ends when the connection closes; so does the good session */
	req(f->m, c, SRV("mx.proto.test", "127.0.0.17", "PROTOCOL", "may.proto.test", "", "",
	    "no"), 50);
	smm_conn_close(f->m, c);
	assert_string_equal(got_text(&f->g),
	    "verify.bad.test F validation-failure mx.bad.test 127.0.0.16 TLS handshake failed "
	    "30\n"
	    "may.good.test S 40\n"
	    "may.proto.test F validation-failure mx.proto.test 127.0.0.17 STARTTLS failed "
	    "50\n");
	assert_int_equal(stats(f).unreported, 0);
}

/* confTLS_FALLBACK_TO_CLEAR: the clear retry carries the handshake failure, counted once. */
static void test_clear_text_retry(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *c = smm_conn_new(f->m);

	req(f->m, c, SRV("mx.bad.test", "127.0.0.16", "SOFTWARE", "may.bad.test", "", "", "no"), 1);
	assert_string_equal(req(f->m, c, SRV("mx.bad.test", "127.0.0.16", "NONE", "may.bad.test",
	    "", "", "no"), 2), "OK validation-failure");
	assert_string_equal(req(f->m, c, RCPT("a@may.bad.test", "mx.bad.test", "127.0.0.16",
	    "NONE"), 3), "OK validation-failure");
	req(f->m, c, RCPT("b@may.bad.test", "mx.bad.test", "127.0.0.16", "NONE"), 3);
	smm_conn_close(f->m, c);
	assert_string_equal(got_text(&f->g),
	    "may.bad.test F validation-failure mx.bad.test 127.0.0.16 TLS handshake failed "
	    "3\n");

	/* a retry whose tls_rcpt never comes is still one result, at the first time */
	c = smm_conn_new(f->m);
	req(f->m, c, SRV("mx.bad.test", "127.0.0.16", "SOFTWARE", "x.bad.test", "", "", "no"), 7);
	req(f->m, c, SRV("mx.bad.test", "127.0.0.16", "NONE", "x.bad.test", "", "", "no"), 8);
	smm_conn_close(f->m, c);
	assert_int_equal(f->g.n, 2);
	assert_non_null(strstr(got_text(&f->g), "x.bad.test F validation-failure mx.bad.test "
	    "127.0.0.16 TLS handshake failed 7\n"));
	/* without a retry a tls_rcpt for the aborted server joins it */
	c = smm_conn_new(f->m);
	req(f->m, c, SRV("mx.bad.test", "127.0.0.16", "SOFTWARE", "y.bad.test", "", "", "no"), 9);
	req(f->m, c, RCPT("a@y.bad.test", "mx.bad.test", "127.0.0.16", "SOFTWARE"), 10);
	smm_conn_close(f->m, c);
	assert_int_equal(f->g.n, 3);
	assert_non_null(strstr(got_text(&f->g), "y.bad.test F validation-failure mx.bad.test "
	    "127.0.0.16 TLS handshake failed 10\n"));
}

/* A session with recipients is not reported again for $h; one without is. */
static void test_host_fallback(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *c = smm_conn_new(f->m);

	/* TLS fine, but no RCPT (e.g. MAIL rejected): reported for $h at close */
	req(f->m, c, SRV("mx.good.test", "127.0.0.11", "OK", "verify.good.test", "mx.good.test",
	    "Lab+20Test+20CA", "yes"), 5);
	/* a session with recipients: nothing more for its host */
	req(f->m, c, SRV("mx.notls.test", "127.0.0.15", "NONE", "may.notls.test", "", "", "no"), 6);
	req(f->m, c, RCPT("a@may.notls.test", "mx.notls.test", "127.0.0.15", "NONE"), 7);
	/* no usable host: counted, not reported */
	req(f->m, c, SRV("mx.x.test", "127.0.0.20", "OK", "[127.0.0.20]", "mx.x.test", "ca", "yes"),
	    8);
	assert_string_equal(got_text(&f->g), "may.notls.test F starttls-not-supported "
	    "mx.notls.test 127.0.0.15 STARTTLS not offered 7\n");
	smm_conn_close(f->m, c);
	assert_string_equal(got_text(&f->g), "may.notls.test F starttls-not-supported "
	    "mx.notls.test 127.0.0.15 STARTTLS not offered 7\n"
	    "verify.good.test S 5\n");
	assert_int_equal(stats(f).unreported, 1);
}

/* Two delivery processes whose requests interleave: each keeps its own sessions. */
static void test_interleaved_connections(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *a = smm_conn_new(f->m), *b = smm_conn_new(f->m);

	req(f->m, a, SRV("mx.good.test", "127.0.0.11", "OK", "may.good.test", "mx.good.test",
	    "Lab+20Test+20CA", "yes"), 1);
	req(f->m, b, SRV("mx.good.test", "127.0.0.11", "FAIL", "verify.good.test", "mx.good.test",
	    "Lab+20Test+20CA", "yes"), 2);
	req(f->m, a, RCPT("x@may.good.test", "mx.good.test", "127.0.0.11", "OK"), 3);
	req(f->m, b, RCPT("x@may.good.test", "mx.good.test", "127.0.0.11", "FAIL"), 4);
	req(f->m, b, SRV("mx.bad.test", "127.0.0.16", "SOFTWARE", "may.bad.test", "", "", "no"), 5);
	/* a's request does not end b's aborted session */
	req(f->m, a, RCPT("y@may.good.test", "mx.good.test", "127.0.0.11", "OK"), 6);
	req(f->m, a, RCPT("y@verify.good.test", "mx.good.test", "127.0.0.11", "OK"), 7);
	assert_string_equal(got_text(&f->g),
	    "may.good.test S 3\n"
	    "may.good.test F validation-failure mx.good.test 127.0.0.11 "
	    "certificate verification failed 4\n"
	    "verify.good.test S 7\n");
	smm_conn_close(f->m, a);
	assert_int_equal(f->g.n, 3);
	smm_conn_close(f->m, b);
	assert_string_equal(got_text(&f->g),
	    "may.good.test S 3\n"
	    "may.good.test F validation-failure mx.good.test 127.0.0.11 "
	    "certificate verification failed 4\n"
	    "verify.good.test S 7\n"
	    "may.bad.test F validation-failure mx.bad.test 127.0.0.16 TLS handshake failed "
	    "5\n");
}

/* Cached connections to two servers at once, and tls_rcpt without tls_server. */
static void test_two_servers_and_rcpt_only(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *c = smm_conn_new(f->m);

	req(f->m, c, SRV("mx.good.test", "127.0.0.11", "OK", "a.good.test", "mx.good.test", "ca",
	    "yes"), 1);
	req(f->m, c, SRV("mx.notls.test", "127.0.0.15", "NONE", "a.notls.test", "", "", "no"), 2);
	req(f->m, c, RCPT("u@a.notls.test", "mx.notls.test", "127.0.0.15", "NONE"), 3);
	req(f->m, c, RCPT("u@a.good.test", "mx.good.test", "127.0.0.11", "OK"), 4);
	/* tls_server not hooked: the tls_rcpt request opens the session itself */
	req(f->m, c, RCPT("u@b.expired.test", "mx.expired.test", "127.0.0.12", "FAIL"), 5);
	req(f->m, c, RCPT("v@b.expired.test", "mx.expired.test", "127.0.0.12", "FAIL"), 6);
	smm_conn_close(f->m, c);
	assert_string_equal(got_text(&f->g),
	    "a.notls.test F starttls-not-supported mx.notls.test 127.0.0.15 STARTTLS not offered "
	    "3\n"
	    "a.good.test S 4\n"
	    "b.expired.test F validation-failure mx.expired.test 127.0.0.12 "
	    "certificate verification failed 5\n");
}

/* RFC 8460 5.3: our own report mails are not counted. */
static void test_report_mails(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *c = smm_conn_new(f->m);

	f->g.report_qid = QID;
	assert_string_equal(req(f->m, c, SRV("mx.good.test", "127.0.0.11", "OK", "reports.test",
	    "mx.good.test", "ca", "yes"), 1), "OK skipped");
	assert_string_equal(req(f->m, c, RCPT("tlsrpt@reports.test", "mx.good.test", "127.0.0.11",
	    "OK"), 2), "OK skipped");
	/* another message over the same connection counts */
	assert_string_equal(req(f->m, c, "tlsrpt rcpt= u@reports.test srv= mx.good.test "
	    "addr= 127.0.0.11 verify= OK qid= 6ANLnY01008425", 3), "OK success");
	/* a report mail whose handshake failed: nothing for its host */
	req(f->m, c, SRV("mx.bad.test", "127.0.0.16", "SOFTWARE", "reports2.test", "", "", "no"), 4);
	smm_conn_close(f->m, c);
	assert_string_equal(got_text(&f->g), "reports.test S 3\n");
	/* the report's tls_rcpt, and the report session that never got to RCPT */
	assert_int_equal(stats(f).report_mails_skipped, 2);
	assert_int_equal(stats(f).unreported, 0);
	/* the queue id is compared with its case: "5ankx1qa000123" is not the report */
	c = smm_conn_new(f->m);
	req(f->m, c, "tlsrpt rcpt= u@x.test srv= mx.good.test addr= 127.0.0.11 verify= ok "
	    "qid= 6anlny00008425", 4);
	smm_conn_close(f->m, c);
	assert_int_equal(f->g.n, 2);
	assert_int_equal(stats(f).key_folded, 1);
}

static void test_unreported_and_bad(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *c = smm_conn_new(f->m);
	struct smm_stats st;

	assert_string_equal(req(f->m, c, SRV("mx.t.test", "127.0.0.30", "TEMP", "t.test", "", "",
	    "no"), 1), "OK unreported");
	assert_string_equal(req(f->m, c, RCPT("a@t.test", "mx.t.test", "127.0.0.30", "TEMP"), 2),
	    "OK unreported");
	req(f->m, c, RCPT("b@t.test", "mx.t.test", "127.0.0.30", "TEMP"), 2);
	assert_string_equal(req(f->m, c, RCPT("postmaster", "mx.t.test", "127.0.0.30", "TEMP"), 3),
	    "OK unreported");
	assert_string_equal(last_why, "");
	assert_string_equal(req(f->m, c, "tlsrpt srv= mx.t.test addr= 127.0.0.30", 4), "NOTFOUND");
	assert_string_equal(last_why, "tls_server request without verify=");
	assert_string_equal(req(f->m, c, "tlsrpt", 4), "NOTFOUND");
	assert_string_equal(last_why, "not <map> <key>");
	assert_string_equal(req(f->m, c, "", 4), "NOTFOUND");
	assert_string_equal(last_why, "not <map> <key>");
	assert_string_equal(req(f->m, c, "tlsrpt rcpt= a@b.test", 5), "OK unreported");
	smm_conn_close(f->m, c);
	st = stats(f);
	assert_int_equal(f->g.n, 0);
	assert_int_equal(st.requests, 8);
	assert_int_equal(st.bad_requests, 3);
	/* t.test once, postmaster, a@b.test (no verify value) */
	assert_int_equal(st.unreported, 3);
}

/* At most SMM_MAX_SESSIONS per connection: the oldest ends (and is reported). */
static void test_session_cap(void **state)
{
	struct fixture *f = *state;
	struct smm_conn *c = smm_conn_new(f->m);
	char buf[256];

	for (int i = 0; i <= SMM_MAX_SESSIONS; i++) {
		snprintf(buf, sizeof(buf), "tlsrpt srv= mx%d.test addr= 10.0.0.%d verify= OK "
		    "host= d%d.test", i, i, i);
		req(f->m, c, buf, i);
	}
	assert_string_equal(got_text(&f->g), "d0.test S 0\n");
	smm_conn_close(f->m, c);
	assert_int_equal(f->g.n, SMM_MAX_SESSIONS + 1);
	/* per session at most SMM_MAX_DOMAINS domains */
	c = smm_conn_new(f->m);
	req(f->m, c, "tlsrpt srv= mx.test addr= 10.1.0.1 verify= OK", 1);
	for (int i = 0; i <= SMM_MAX_DOMAINS; i++) {
		snprintf(buf, sizeof(buf), "tlsrpt rcpt= u@r%d.test srv= mx.test addr= 10.1.0.1 "
		    "verify= OK", i);
		req(f->m, c, buf, 2);
	}
	smm_conn_close(f->m, c);
	assert_int_equal(f->g.n, SMM_MAX_SESSIONS + 1 + SMM_MAX_DOMAINS);
	assert_int_equal(stats(f).unreported, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_whole_and_batched),
		cmocka_unit_test(test_decode_one_byte_at_a_time),
		cmocka_unit_test(test_decode_max_size),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_good_then_bad),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_parse_spec_requests),
		cmocka_unit_test(test_parse_captured),
		cmocka_unit_test(test_parse_variants),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_name_matches),
		cmocka_unit_test(test_classify),
		cmocka_unit_test_setup_teardown(test_spec_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_captured_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streams_byte_by_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_result_per_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_details, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aborted_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_text_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interleaved_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_servers_and_rcpt_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_mails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreported_and_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_cap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
