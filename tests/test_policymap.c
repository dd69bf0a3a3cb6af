/*
 * Unit tests of milter/policymap_input.c without its threads: the
 * smtp_tls_policy_maps answers (policymap_request), the key filter
 * (policymap_key_domain), the session decorator (policymap_decorate)
 * and the cache and queue bounds.  Each test gets a fresh store whose
 * sts_policy rows (one per cached state) are loaded by
 * policymap_input_attach(); the fetch thread is never started, so the
 * fetch queue only grows and can be inspected.
 *
 * RFC 8460 items (tests/../shared spec checklist): R11 (policy fields),
 * R14 (several failure details per session), R29 (policy-string lines),
 * S5 (sts policy fields, sts-policy-* result types).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "mta_sts.h"
#include "policymap_input.h"
#include "session.h"
#include "store.h"
#include "util.h"
#include "writer.h"
#include "sts_rows.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define REASON "mx not in MTA-STS policy"
#define NOTFOUND "9:NOTFOUND ,"

#define ENFORCE_STRINGS "[\"version: STSv1\",\"mode: enforce\",\"mx: mx1.enforce.example\"," \
	"\"mx: *.enforce.net\",\"max_age: 86400\"]"
#define ENFORCE_MX "[\"mx1.enforce.example\",\"*.enforce.net\"]"
/* 68 bytes: the netstring length is written out, not computed */
#define ENFORCE_ANSWER "68:OK secure match=mx1.enforce.example:.enforce.net servername=hostname,"

#define TESTING_STRINGS "[\"version: STSv1\",\"mode: testing\",\"mx: mx.testing.example\"," \
	"\"max_age: 604800\"]"
#define TESTING_MX "[\"mx.testing.example\"]"

#define NONE_TEXT "version: STSv1\nmode: none\nmx: mx.modenone.example\nmax_age: 86400"

#define FETCH_ERROR "HTTP status 404 from mta-sts.fetcherr.example"
#define INVALID_ERROR "policy line 2: unknown mode \"strict\""
#define WEBPKI_ERROR "certificate verify failed for mta-sts.webpki.example"

/* ---- the fixture ---- */

/* In domain order, as the store lists them (the LRU order after loading). */
static const struct sts_row rows[] = {
	{"due.example", STS_OK, ENFORCE_TEXT, 86400, -10, ""},
	{"enforce.example", STS_OK, ENFORCE_TEXT, 86400, 3600, ""},
	{"expired.example", STS_OK, ENFORCE_TEXT, -10, 3600, ""},
	{"fetcherr.example", STS_FETCH_ERROR, NULL, 0, 300, FETCH_ERROR},
	{"invalid.example", STS_INVALID, NULL, 0, 300, INVALID_ERROR},
	{"modenone.example", STS_OK, NONE_TEXT, 86400, 3600, ""},
	{"nosts.example", STS_NONE, NULL, 0, 3600, "no _mta-sts TXT record"},
	{"temp.example", STS_TEMPORARY, NULL, 0, 300, "SERVFAIL"},
	{"testing.example", STS_OK, TESTING_TEXT, 86400, 3600, ""},
	{"webpki.example", STS_WEBPKI_INVALID, NULL, 0, 300, WEBPKI_ERROR},
};

struct fixture {
	char dir[64];
	char db[128];
	char sock[128];
	struct store *st;
	struct writer *w;
	struct policymap_input *in;
	struct strbuf out;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct writer_settings ws = {1000, 1000, 100000, 1000};
	char err[256] = "";
	char endpoint[160];
	long long now = (long long)time(NULL);

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_policymap-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/tlsrpt.db", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/policymap.sock", f->dir);
	f->st = store_open(f->db, 1000, err, sizeof(err));
	if (f->st == NULL) {
		fprintf(stderr, "store_open: %s\n", err);
		return -1;
	}
	for (size_t i = 0; i < N(rows); i++)
		put_sts_row(f->st, &rows[i], now);

	snprintf(endpoint, sizeof(endpoint), "unix:%s", f->sock);
	f->in = open_policymap(f->db, endpoint, err, sizeof(err));
	if (f->in == NULL) {
		fprintf(stderr, "policymap_input_open: %s\n", err);
		return -1;
	}
	f->w = writer_create(f->st, &ws);
	policymap_input_attach(f->in, f->w, f->st);
	strbuf_init(&f->out);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	struct fixture *f = *state;
	char p[160];
	int rc;

	policymap_input_stop(f->in);
	policymap_input_close(f->in);
	writer_free(f->w);
	store_close(f->st);
	strbuf_free(&f->out);
	for (size_t i = 0; i < N(suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", f->db, suffixes[i]);
		unlink(p);
	}
	if (access(f->sock, F_OK) == 0)
		fail_msg("the socket %s was not removed", f->sock);
	rc = rmdir(f->dir);
	free(f);
	return rc;
}

/* ---- helpers ---- */

static unsigned long long counter(struct fixture *f, const char *name)
{
	unsigned long long v = policymap_counter(f->in, name);

	if (v == ~0ULL)
		fail_msg("no counter %s", name);
	return v;
}

static size_t queue_length(struct fixture *f)
{
	size_t n = 0;

	while (policymap_queue_at(f->in, n) != NULL)
		n++;
	return n;
}

/* The answer to one request: the netstring bytes, compared with want. */
static void ask(struct fixture *f, const char *req, size_t len, const char *want)
{
	strbuf_reset(&f->out);
	policymap_request(f->in, 1, req, len, &f->out);
	if (f->out.len != strlen(want) || memcmp(f->out.data, want, f->out.len) != 0)
		fail_msg("request \"%.*s\": answer \"%.*s\", want \"%s\"", (int)len, req,
		    (int)f->out.len, f->out.data ? f->out.data : "", want);
}

static void asks(struct fixture *f, const char *req, const char *want)
{
	ask(f, req, strlen(req), want);
}

static char *opt(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* A no-policy-found session result, as the log follower and the Sendmail map make them. */
static void make_session(struct tlsrpt_session *s, const char *domain, int result_type,
    const char *mx, const char *ip, const char *reason)
{
	struct tlsrpt_policy_result *p;

	memset(s, 0, sizeof(*s));
	s->when = 1710000000LL;
	s->domain = xstrdup(domain);
	s->record = xstrdup("v=TLSRPTv1; rua=mailto:tlsrpt@example.org");
	s->npolicies = 1;
	s->policies = p = xcalloc(1, sizeof(*p));
	p->type = POLICY_NONE;
	p->policy_domain = xstrdup(domain);
	p->policy_strings = xstrdup("[]");
	p->mx_hosts = xstrdup("[]");
	if (result_type != 0) {
		p->failed = true;
		p->nfailures = 1;
		p->failures = xcalloc(1, sizeof(*p->failures));
		p->failures[0].result_type = result_type;
		p->failures[0].mx_name = opt(mx);
		p->failures[0].receiving_ip = opt(ip);
		p->failures[0].reason = opt(reason);
	}
}

static void assert_opt_equal(const char *got, const char *want)
{
	if (want == NULL)
		assert_null(got);
	else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
}

static void assert_failure(const struct tlsrpt_failure *fd, int type, const char *mx,
    const char *ip, const char *reason)
{
	assert_int_equal(fd->result_type, type);
	assert_opt_equal(fd->mx_name, mx);
	assert_opt_equal(fd->receiving_ip, ip);
	assert_opt_equal(fd->reason, reason);
	assert_null(fd->sending_ip);
	assert_null(fd->helo);
	assert_null(fd->additional);
}

/* out is s filed as an sts policy result with these strings and patterns. */
static void assert_sts(const struct tlsrpt_session *out, const char *domain,
    const char *strings, const char *mx_hosts, bool failed, size_t nfailures)
{
	const struct tlsrpt_policy_result *q;

	assert_int_equal(out->when, 1710000000LL);
	assert_string_equal(out->domain, domain);
	assert_string_equal(out->record, "v=TLSRPTv1; rua=mailto:tlsrpt@example.org");
	assert_int_equal(out->npolicies, 1);
	q = &out->policies[0];
	assert_int_equal(q->type, POLICY_STS);
	assert_string_equal(q->policy_domain, domain);
	assert_string_equal(q->policy_strings, strings);
	assert_string_equal(q->mx_hosts, mx_hosts);
	assert_int_equal(q->failed, failed);
	assert_int_equal(q->nfailures, nfailures);
}

/* Decorate a session; true expected (out filled). */
static void decorate(struct fixture *f, const char *domain, int result_type, const char *fmx,
    const char *fip, const char *freason, const char *mx, const char *ip,
    struct tlsrpt_session *out)
{
	struct tlsrpt_session s;

	make_session(&s, domain, result_type, fmx, fip, freason);
	memset(out, 0, sizeof(*out));
	if (!policymap_decorate(f->in, &s, mx, ip, out))
		fail_msg("session of %s not decorated", domain);
	session_free(&s);
}

/* Decorate a session; false expected, out untouched. */
static void undecorated(struct fixture *f, const struct tlsrpt_session *s, const char *mx,
    const char *ip)
{
	struct tlsrpt_session out, before;

	memset(&out, 0x5a, sizeof(out));
	memcpy(&before, &out, sizeof(out));
	if (policymap_decorate(f->in, s, mx, ip, &out))
		fail_msg("session of %s decorated", s->domain ? s->domain : "(none)");
	assert_memory_equal(&out, &before, sizeof(out));
}

static void undecorated_success(struct fixture *f, const char *domain, const char *mx)
{
	struct tlsrpt_session s;

	make_session(&s, domain, 0, NULL, NULL, NULL);
	undecorated(f, &s, mx, "192.0.2.25");
	session_free(&s);
}

/* ---- the key filter ---- */

static void key_domains(void **state)
{
	static const struct {
		const char *key, *want;	/* want NULL: not a policy domain */
	} cases[] = {
		{"example.com", "example.com"},
		{"Example.COM", "example.com"},
		{"example.com.", "example.com"},
		{"MX-1.Sub_x.example.org.", "mx-1.sub_x.example.org"},
		{"1.2.3.example", "1.2.3.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"[mx.example.com]:25", NULL},
		{"[mx.example.com]", NULL},
		{"mx.example.com:25", NULL},
		{".example.com", NULL},
		{".com", NULL},
		{"192.0.2.1", NULL},
		{"10.1", NULL},
		{"example.123", NULL},
		{"2001:db8::1", NULL},
		{"[2001:db8::1]:25", NULL},
		{"/var/spool/postfix/private/smtp", NULL},
		{"localhost", NULL},
		{"localhost.", NULL},
		{"", NULL},
		{"example..com", NULL},
		{"example.com..", NULL},
		{"exa mple.com", NULL},
		{"b\xc3\xbc" "cher.example", NULL},
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		bool ok;

		memset(out, 'x', sizeof(out));
		ok = policymap_key_domain(cases[i].key, strlen(cases[i].key), out, sizeof(out));
		if (ok != (cases[i].want != NULL))
			fail_msg("key \"%s\": %s", cases[i].key, ok ? "accepted" : "refused");
		if (ok && strcmp(out, cases[i].want) != 0)
			fail_msg("key \"%s\": \"%s\", want \"%s\"", cases[i].key, out, cases[i].want);
	}
}

static void key_lengths(void **state)
{
	char key[400], out[256];
	size_t n;

	(void)state;
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253: the longest name */
	memset(key, 'a', 63);
	key[63] = '.';
	memset(key + 64, 'b', 63);
	key[127] = '.';
	memset(key + 128, 'c', 63);
	key[191] = '.';
	memset(key + 192, 'd', 61);
	key[253] = '\0';
	assert_true(policymap_key_domain(key, 253, out, sizeof(out)));
	assert_string_equal(out, key);
	/* with its trailing dot: 254 bytes, still that name */
	key[253] = '.';
	key[254] = '\0';
	assert_true(policymap_key_domain(key, 254, out, sizeof(out)));
	assert_int_equal(strlen(out), 253);
	/* 254 bytes of name: too long */
	key[253] = 'd';
	assert_false(policymap_key_domain(key, 254, out, sizeof(out)));
	/* a 63-byte label, and a 64-byte one */
	memset(key, 'e', 63);
	memcpy(key + 63, ".example", 9);
	assert_true(policymap_key_domain(key, 71, out, sizeof(out)));
	memset(key, 'e', 64);
	memcpy(key + 64, ".example", 9);
	assert_false(policymap_key_domain(key, 72, out, sizeof(out)));
	/* at or over the output buffer: refused before copying */
	memset(key, 'a', sizeof(key));
	for (n = 4; n < sizeof(key); n += 64)
		key[n] = '.';
	assert_false(policymap_key_domain(key, 256, out, sizeof(out)));
	assert_false(policymap_key_domain(key, 399, out, sizeof(out)));
	assert_false(policymap_key_domain("example.com", 11, out, 11));
	assert_true(policymap_key_domain("example.com", 11, out, 12));
	assert_string_equal(out, "example.com");
	/* only len bytes count: the key need not end in a NUL */
	assert_true(policymap_key_domain("example.com:25", 11, out, sizeof(out)));
	assert_string_equal(out, "example.com");
	assert_false(policymap_key_domain("example.com", 0, out, sizeof(out)));
}

/* ---- the map's answers ---- */

static void answer_enforce_fresh(void **state)
{
	struct fixture *f = *state;

	asks(f, "sts enforce.example", ENFORCE_ANSWER);
	assert_int_equal(counter(f, "policymap.requests"), 1);
	assert_int_equal(counter(f, "policymap.hits"), 1);
	assert_int_equal(counter(f, "policymap.misses"), 0);
	assert_int_equal(counter(f, "policymap.enforced"), 1);
	assert_int_equal(counter(f, "policymap.not_domain"), 0);
	assert_int_equal(queue_length(f), 0);	/* next_try is an hour away */
	assert_int_equal(policymap_cache_count(f->in), N(rows));

	/* the name part is not checked; the key is normalised */
	asks(f, "mta-sts ENFORCE.Example.", ENFORCE_ANSWER);
	asks(f, " enforce.example", ENFORCE_ANSWER);
	assert_int_equal(counter(f, "policymap.requests"), 3);
	assert_int_equal(counter(f, "policymap.hits"), 3);
	assert_int_equal(counter(f, "policymap.enforced"), 3);
	assert_int_equal(queue_length(f), 0);
	assert_int_equal(policymap_cache_count(f->in), N(rows));
}

static void answer_enforce_due(void **state)
{
	struct fixture *f = *state;

	/* past next_try but unexpired: still answered, and queued for a refresh */
	asks(f, "sts due.example", ENFORCE_ANSWER);
	assert_int_equal(queue_length(f), 1);
	assert_string_equal(policymap_queue_at(f->in, 0), "due.example");
	asks(f, "sts due.example", ENFORCE_ANSWER);
	assert_int_equal(queue_length(f), 1);	/* queued once */
	assert_int_equal(counter(f, "policymap.enforced"), 2);
	assert_int_equal(counter(f, "policymap.hits"), 2);
}

static void answer_enforce_expired(void **state)
{
	struct fixture *f = *state;

	asks(f, "sts expired.example", NOTFOUND);
	assert_int_equal(counter(f, "policymap.hits"), 1);
	assert_int_equal(counter(f, "policymap.enforced"), 0);
	assert_int_equal(queue_length(f), 1);
	assert_string_equal(policymap_queue_at(f->in, 0), "expired.example");
}

static void answer_not_enforced(void **state)
{
	static const char *const domains[] = {
		"testing.example", "modenone.example", "nosts.example", "temp.example",
		"fetcherr.example", "invalid.example", "webpki.example",
	};
	struct fixture *f = *state;
	char req[128];

	for (size_t i = 0; i < N(domains); i++) {
		snprintf(req, sizeof(req), "sts %s", domains[i]);
		asks(f, req, NOTFOUND);
	}
	assert_int_equal(counter(f, "policymap.requests"), N(domains));
	assert_int_equal(counter(f, "policymap.hits"), N(domains));
	assert_int_equal(counter(f, "policymap.misses"), 0);
	assert_int_equal(counter(f, "policymap.enforced"), 0);
	assert_int_equal(queue_length(f), 0);	/* none is due */
	assert_int_equal(policymap_cache_count(f->in), N(rows));
}

static void answer_not_cached(void **state)
{
	struct fixture *f = *state;

	asks(f, "sts new.example", NOTFOUND);
	assert_int_equal(counter(f, "policymap.misses"), 1);
	assert_int_equal(counter(f, "policymap.hits"), 0);
	assert_int_equal(queue_length(f), 1);
	assert_string_equal(policymap_queue_at(f->in, 0), "new.example");
	assert_int_equal(policymap_cache_count(f->in), N(rows) + 1);

	/* the same domain again, in another spelling: no second entry, not queued twice */
	asks(f, "sts NEW.Example.", NOTFOUND);
	assert_int_equal(counter(f, "policymap.misses"), 2);
	assert_int_equal(queue_length(f), 1);
	assert_int_equal(policymap_cache_count(f->in), N(rows) + 1);

	asks(f, "sts other.example", NOTFOUND);
	assert_int_equal(queue_length(f), 2);
	assert_string_equal(policymap_queue_at(f->in, 0), "new.example");
	assert_string_equal(policymap_queue_at(f->in, 1), "other.example");
	assert_int_equal(counter(f, "sts.queue_dropped"), 0);
}

static void answer_not_domain(void **state)
{
	static const char *const reqs[] = {
		"sts [mx.example.com]:25", "sts .example.com", "sts .com", "sts 192.0.2.1",
		"sts localhost", "sts [2001:db8::1]:25", "sts mx.example.com:25",
		"sts .enforce.example",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < N(reqs); i++)
		asks(f, reqs[i], NOTFOUND);
	assert_int_equal(counter(f, "policymap.requests"), N(reqs));
	assert_int_equal(counter(f, "policymap.not_domain"), N(reqs));
	assert_int_equal(counter(f, "policymap.hits"), 0);
	assert_int_equal(counter(f, "policymap.misses"), 0);
	assert_int_equal(queue_length(f), 0);
	assert_int_equal(policymap_cache_count(f->in), N(rows));
}

static void request_parsing(void **state)
{
	struct fixture *f = *state;
	char req[400];

	/* no space: not "<name> <key>" */
	asks(f, "enforce.example", "34:PERM request is not \"<name> <key>\",");
	asks(f, "", "34:PERM request is not \"<name> <key>\",");
	assert_int_equal(counter(f, "policymap.bad_requests"), 2);
	assert_int_equal(counter(f, "policymap.enforced"), 0);
	/* an empty key */
	asks(f, "sts ", NOTFOUND);
	assert_int_equal(counter(f, "policymap.not_domain"), 1);
	/* a key of 300 bytes */
	memcpy(req, "sts ", 4);
	memset(req + 4, 'a', 300);
	for (size_t i = 10; i < 304; i += 50)
		req[i] = '.';
	memcpy(req + 300, ".com", 4);
	ask(f, req, 304, NOTFOUND);
	assert_int_equal(counter(f, "policymap.not_domain"), 2);
	/* a key with a space in it, and one after two spaces */
	asks(f, "sts enforce.example x", NOTFOUND);
	asks(f, "sts  enforce.example", NOTFOUND);
	assert_int_equal(counter(f, "policymap.not_domain"), 4);
	/* only len bytes are the request */
	ask(f, "sts enforce.example.junk", 19, ENFORCE_ANSWER);
	assert_int_equal(counter(f, "policymap.requests"), 7);
	assert_int_equal(counter(f, "policymap.bad_requests"), 2);
	assert_int_equal(counter(f, "policymap.enforced"), 1);
	assert_int_equal(queue_length(f), 0);
	assert_int_equal(policymap_cache_count(f->in), N(rows));
}

/* ---- the decorator ---- */

static void decorate_success_matching_mx(void **state)
{
	struct fixture *f = *state;
	struct tlsrpt_session out;

	decorate(f, "enforce.example", 0, NULL, NULL, NULL, "mx1.enforce.example", "192.0.2.25",
	    &out);
	assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, false, 0);
	session_free(&out);
	/* case and trailing dot of the MX do not matter */
	decorate(f, "enforce.example", 0, NULL, NULL, NULL, "MX1.Enforce.Example.", NULL, &out);
	assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, false, 0);
	session_free(&out);
	assert_int_equal(counter(f, "sts.decorated"), 2);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 0);
	assert_int_equal(queue_length(f), 0);
}

/*
 * A success over a certificate the log said was not verified (Postfix
 * delivered at its default level) failed the policy: certificate-not-
 * trusted for "Untrusted", validation-failure for "Anonymous"; "Trusted"
 * and "Verified" stay successes; an MX outside the patterns is reported
 * as that, once.
 */
static void decorate_success_unverified(void **state)
{
	static const struct {
		int trust;
		const char *mx;
		int type;
		const char *reason;
	} cases[] = {
		{TLS_TRUST_UNTRUSTED, "mx1.enforce.example", RESULT_CERTIFICATE_NOT_TRUSTED,
		    "certificate not verified (Untrusted TLS connection)"},
		{TLS_TRUST_ANONYMOUS, "mx1.enforce.example", RESULT_VALIDATION_FAILURE,
		    "no certificate (Anonymous TLS connection)"},
		{TLS_TRUST_UNTRUSTED, "mx9.other.example", RESULT_VALIDATION_FAILURE, REASON},
		{TLS_TRUST_TRUSTED, "mx1.enforce.example", 0, NULL},
		{TLS_TRUST_VERIFIED, "mx1.enforce.example", 0, NULL},
		{TLS_TRUST_UNKNOWN, "mx1.enforce.example", 0, NULL},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tlsrpt_session s, out;

		make_session(&s, "enforce.example", 0, NULL, NULL, NULL);
		s.tls_trust = cases[i].trust;
		memset(&out, 0, sizeof(out));
		assert_true(policymap_decorate(f->in, &s, cases[i].mx, "192.0.2.25", &out));
		assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, cases[i].type != 0,
		    cases[i].type != 0 ? 1 : 0);
		if (cases[i].type != 0)
			assert_failure(&out.policies[0].failures[0], cases[i].type, cases[i].mx,
			    "192.0.2.25", cases[i].reason);
		session_free(&s);
		session_free(&out);
	}
}

static void decorate_success_other_mx(void **state)
{
	struct fixture *f = *state;
	struct tlsrpt_session out;

	decorate(f, "enforce.example", 0, NULL, NULL, NULL, "mx9.other.example", "192.0.2.9",
	    &out);
	assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, true, 1);
	assert_failure(&out.policies[0].failures[0], RESULT_VALIDATION_FAILURE,
	    "mx9.other.example", "192.0.2.9", REASON);
	session_free(&out);
	assert_int_equal(counter(f, "sts.decorated"), 1);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 1);
}

static void decorate_host_mismatch(void **state)
{
	struct fixture *f = *state;
	struct tlsrpt_session out;

	/* at an MX outside the policy: the name Postfix missed is the policy's */
	decorate(f, "enforce.example", RESULT_CERTIFICATE_HOST_MISMATCH, "mx9.other.example",
	    "192.0.2.9", "certificate name mismatch", NULL, NULL, &out);
	assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, true, 1);
	assert_failure(&out.policies[0].failures[0], RESULT_VALIDATION_FAILURE,
	    "mx9.other.example", "192.0.2.9", REASON);
	session_free(&out);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 1);

	/* at an MX of the policy: kept as it is */
	decorate(f, "enforce.example", RESULT_CERTIFICATE_HOST_MISMATCH, "mx1.enforce.example",
	    "192.0.2.1", "certificate name mismatch", NULL, NULL, &out);
	assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, true, 1);
	assert_failure(&out.policies[0].failures[0], RESULT_CERTIFICATE_HOST_MISMATCH,
	    "mx1.enforce.example", "192.0.2.1", "certificate name mismatch");
	session_free(&out);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 1);
	assert_int_equal(counter(f, "sts.decorated"), 2);
}

static void decorate_other_failure(void **state)
{
	struct fixture *f = *state;
	struct tlsrpt_session out;

	/* R14: another failure at an MX outside the policy: two details */
	decorate(f, "enforce.example", RESULT_STARTTLS_NOT_SUPPORTED, "mx9.other.example",
	    "192.0.2.9", "no STARTTLS", "ignored.example", "198.51.100.1", &out);
	assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, true, 2);
	assert_failure(&out.policies[0].failures[0], RESULT_VALIDATION_FAILURE,
	    "mx9.other.example", "192.0.2.9", REASON);
	assert_failure(&out.policies[0].failures[1], RESULT_STARTTLS_NOT_SUPPORTED,
	    "mx9.other.example", "192.0.2.9", "no STARTTLS");
	session_free(&out);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 1);

	/* the same failure at an MX of the policy: one detail, unchanged */
	decorate(f, "enforce.example", RESULT_CERTIFICATE_EXPIRED, "a.enforce.net",
	    "192.0.2.2", NULL, NULL, NULL, &out);
	assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, true, 1);
	assert_failure(&out.policies[0].failures[0], RESULT_CERTIFICATE_EXPIRED,
	    "a.enforce.net", "192.0.2.2", NULL);
	session_free(&out);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 1);

	/* a failure without an MX name: filed unchecked (mx and ip are for successes) */
	decorate(f, "enforce.example", RESULT_STARTTLS_NOT_SUPPORTED, NULL, "192.0.2.9", NULL,
	    "mx9.other.example", "192.0.2.9", &out);
	assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, true, 1);
	assert_failure(&out.policies[0].failures[0], RESULT_STARTTLS_NOT_SUPPORTED, NULL,
	    "192.0.2.9", NULL);
	session_free(&out);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 1);
	assert_int_equal(counter(f, "sts.decorated"), 3);
}

static void decorate_testing(void **state)
{
	struct fixture *f = *state;
	struct tlsrpt_session out;

	decorate(f, "testing.example", 0, NULL, NULL, NULL, "mx.testing.example", "192.0.2.30",
	    &out);
	assert_sts(&out, "testing.example", TESTING_STRINGS, TESTING_MX, false, 0);
	session_free(&out);
	/* testing mode reports what enforce would refuse */
	decorate(f, "testing.example", 0, NULL, NULL, NULL, "mx.elsewhere.example", "192.0.2.31",
	    &out);
	assert_sts(&out, "testing.example", TESTING_STRINGS, TESTING_MX, true, 1);
	assert_failure(&out.policies[0].failures[0], RESULT_VALIDATION_FAILURE,
	    "mx.elsewhere.example", "192.0.2.31", REASON);
	session_free(&out);
	assert_int_equal(counter(f, "sts.decorated"), 2);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 1);
}

static void decorate_wildcard(void **state)
{
	static const struct {
		const char *mx;
		bool match;
	} cases[] = {
		{"a.enforce.net", true},
		{"A.Enforce.NET.", true},
		{"mx-2.enforce.net", true},
		{"b.a.enforce.net", false},
		{"enforce.net", false},
		{".enforce.net", false},
		{"aenforce.net", false},
		{"a.enforce.net.evil.example", false},
		{"mx1.enforce.example", true},
		{"x.mx1.enforce.example", false},
		{"mx1.enforce.example.evil", false},
	};
	struct fixture *f = *state;
	unsigned long long mismatches = 0;

	for (size_t i = 0; i < N(cases); i++) {
		struct tlsrpt_session out;

		decorate(f, "enforce.example", 0, NULL, NULL, NULL, cases[i].mx, "192.0.2.40", &out);
		if (out.policies[0].failed == cases[i].match)
			fail_msg("mx %s: %s", cases[i].mx, cases[i].match ? "refused" : "accepted");
		if (!cases[i].match) {
			assert_int_equal(out.policies[0].nfailures, 1);
			assert_failure(&out.policies[0].failures[0], RESULT_VALIDATION_FAILURE,
			    cases[i].mx, "192.0.2.40", REASON);
			mismatches++;
		} else
			assert_int_equal(out.policies[0].nfailures, 0);
		session_free(&out);
	}
	assert_int_equal(mismatches, 7);
	assert_int_equal(counter(f, "sts.mx_mismatch"), mismatches);
	assert_int_equal(counter(f, "sts.decorated"), N(cases));
}

static void decorate_fetch_failures(void **state)
{
	static const struct {
		const char *domain;
		int type;
		const char *error;
	} cases[] = {
		{"fetcherr.example", RESULT_STS_POLICY_FETCH_ERROR, FETCH_ERROR},
		{"invalid.example", RESULT_STS_POLICY_INVALID, INVALID_ERROR},
		{"webpki.example", RESULT_STS_WEBPKI_INVALID, WEBPKI_ERROR},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < N(cases); i++) {
		struct tlsrpt_session out;

		/* a TLS success still fails: the policy could not be applied */
		decorate(f, cases[i].domain, 0, NULL, NULL, NULL, "mx.any.example", "192.0.2.50",
		    &out);
		assert_sts(&out, cases[i].domain, "[]", "[]", true, 1);
		assert_failure(&out.policies[0].failures[0], cases[i].type, "mx.any.example",
		    "192.0.2.50", cases[i].error);
		session_free(&out);

		/* a TLS failure keeps its own detail beside */
		decorate(f, cases[i].domain, RESULT_CERTIFICATE_NOT_TRUSTED, "mx.any.example",
		    "192.0.2.51", "unable to get local issuer certificate", NULL, NULL, &out);
		assert_sts(&out, cases[i].domain, "[]", "[]", true, 2);
		assert_failure(&out.policies[0].failures[0], cases[i].type, "mx.any.example",
		    "192.0.2.51", cases[i].error);
		assert_failure(&out.policies[0].failures[1], RESULT_CERTIFICATE_NOT_TRUSTED,
		    "mx.any.example", "192.0.2.51", "unable to get local issuer certificate");
		session_free(&out);

		/* no MX known */
		decorate(f, cases[i].domain, 0, NULL, NULL, NULL, NULL, NULL, &out);
		assert_sts(&out, cases[i].domain, "[]", "[]", true, 1);
		assert_failure(&out.policies[0].failures[0], cases[i].type, NULL, NULL,
		    cases[i].error);
		session_free(&out);
	}
	assert_int_equal(counter(f, "sts.decorated"), 3 * N(cases));
	assert_int_equal(counter(f, "sts.mx_mismatch"), 0);
	assert_int_equal(queue_length(f), 0);
}

static void decorate_no_policy(void **state)
{
	struct fixture *f = *state;
	struct tlsrpt_session s;

	undecorated_success(f, "nosts.example", "mx.nosts.example");
	undecorated_success(f, "temp.example", "mx.temp.example");
	undecorated_success(f, "modenone.example", "mx.elsewhere.example");
	assert_int_equal(queue_length(f), 0);
	/* an expired policy: unchanged, and queued */
	undecorated_success(f, "expired.example", "mx.elsewhere.example");
	assert_int_equal(queue_length(f), 1);
	assert_string_equal(policymap_queue_at(f->in, 0), "expired.example");
	/* a failure at a domain with status none: unchanged too */
	make_session(&s, "nosts.example", RESULT_STARTTLS_NOT_SUPPORTED, "mx.nosts.example",
	    "192.0.2.60", NULL);
	undecorated(f, &s, NULL, NULL);
	session_free(&s);
	assert_int_equal(counter(f, "sts.decorated"), 0);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 0);
	assert_int_equal(policymap_cache_count(f->in), N(rows));
}

static void decorate_not_cached(void **state)
{
	struct fixture *f = *state;

	undecorated_success(f, "unseen.example", "mx.unseen.example");
	assert_int_equal(queue_length(f), 1);
	assert_string_equal(policymap_queue_at(f->in, 0), "unseen.example");
	assert_int_equal(policymap_cache_count(f->in), N(rows) + 1);
	undecorated_success(f, "unseen.example", "mx.unseen.example");
	assert_int_equal(queue_length(f), 1);
	assert_int_equal(policymap_cache_count(f->in), N(rows) + 1);
	assert_int_equal(counter(f, "sts.decorated"), 0);
	/* the map's counters are the map's */
	assert_int_equal(counter(f, "policymap.misses"), 0);
	assert_int_equal(counter(f, "policymap.requests"), 0);
}

static void decorate_no_mx(void **state)
{
	struct fixture *f = *state;
	struct tlsrpt_session out;

	/* the Sendmail map's successes before the MX was passed: filed unchecked */
	decorate(f, "enforce.example", 0, NULL, NULL, NULL, NULL, NULL, &out);
	assert_sts(&out, "enforce.example", ENFORCE_STRINGS, ENFORCE_MX, false, 0);
	session_free(&out);
	decorate(f, "testing.example", 0, NULL, NULL, NULL, NULL, "192.0.2.70", &out);
	assert_sts(&out, "testing.example", TESTING_STRINGS, TESTING_MX, false, 0);
	session_free(&out);
	assert_int_equal(counter(f, "sts.decorated"), 2);
	assert_int_equal(counter(f, "sts.mx_mismatch"), 0);
}

static void decorate_not_applicable(void **state)
{
	struct fixture *f = *state;
	struct tlsrpt_session s, out;
	struct tlsrpt_policy_result *two;

	/* already a policy result of its own */
	make_session(&s, "enforce.example", 0, NULL, NULL, NULL);
	s.policies[0].type = POLICY_STS;
	undecorated(f, &s, "mx9.other.example", NULL);
	s.policies[0].type = POLICY_TLSA;
	undecorated(f, &s, "mx9.other.example", NULL);
	session_free(&s);

	/* two policy results */
	make_session(&s, "enforce.example", 0, NULL, NULL, NULL);
	two = xcalloc(2, sizeof(*two));
	two[0] = s.policies[0];
	two[1].type = POLICY_NONE;
	two[1].policy_domain = xstrdup("enforce.example");
	two[1].policy_strings = xstrdup("[]");
	two[1].mx_hosts = xstrdup("[]");
	free(s.policies);
	s.policies = two;
	s.npolicies = 2;
	undecorated(f, &s, "mx9.other.example", NULL);
	session_free(&s);

	/* no domain; no decorator context */
	make_session(&s, "enforce.example", 0, NULL, NULL, NULL);
	free(s.domain);
	s.domain = NULL;
	undecorated(f, &s, "mx9.other.example", NULL);
	session_free(&s);
	make_session(&s, "enforce.example", 0, NULL, NULL, NULL);
	memset(&out, 0, sizeof(out));
	assert_false(policymap_decorate(NULL, &s, "mx9.other.example", NULL, &out));
	assert_null(out.policies);
	session_free(&s);

	assert_int_equal(counter(f, "sts.decorated"), 0);
	assert_int_equal(queue_length(f), 0);
	assert_int_equal(policymap_cache_count(f->in), N(rows));
}

/* ---- the bounds ---- */

static void queue_cap(void **state)
{
	struct fixture *f = *state;
	char req[64];

	for (int i = 0; i < POLICYMAP_MAX_QUEUE; i++) {
		snprintf(req, sizeof(req), "sts q%05d.example", i);
		asks(f, req, NOTFOUND);
	}
	assert_int_equal(queue_length(f), POLICYMAP_MAX_QUEUE);
	assert_string_equal(policymap_queue_at(f->in, 0), "q00000.example");
	assert_string_equal(policymap_queue_at(f->in, POLICYMAP_MAX_QUEUE - 1), "q09999.example");
	assert_int_equal(counter(f, "sts.queue_dropped"), 0);

	/* full: dropped, and not marked queued, so a later request tries again */
	asks(f, "sts late.example", NOTFOUND);
	assert_int_equal(counter(f, "sts.queue_dropped"), 1);
	asks(f, "sts late.example", NOTFOUND);
	assert_int_equal(counter(f, "sts.queue_dropped"), 2);
	/* queued domains are not queued again, so not dropped either */
	asks(f, "sts q00005.example", NOTFOUND);
	assert_int_equal(counter(f, "sts.queue_dropped"), 2);
	/* the decorator queues through the same door */
	undecorated_success(f, "late.example", "mx.late.example");
	assert_int_equal(counter(f, "sts.queue_dropped"), 3);
	assert_int_equal(queue_length(f), POLICYMAP_MAX_QUEUE);
	assert_int_equal(counter(f, "policymap.misses"), POLICYMAP_MAX_QUEUE + 3);
	assert_int_equal(policymap_cache_count(f->in), N(rows) + POLICYMAP_MAX_QUEUE + 1);
	assert_int_equal(counter(f, "sts.evicted"), 0);
}

static void lru_cap(void **state)
{
	struct fixture *f = *state;
	const size_t k = N(rows);
	char req[64];
	size_t i;

	/* enforce.example becomes the newest of the loaded rows */
	asks(f, "sts enforce.example", ENFORCE_ANSWER);
	for (i = 0; i < POLICYMAP_MAX_DOMAINS - k; i++) {
		snprintf(req, sizeof(req), "sts n%06zu.example", i);
		asks(f, req, NOTFOUND);
	}
	assert_int_equal(policymap_cache_count(f->in), POLICYMAP_MAX_DOMAINS);
	assert_int_equal(counter(f, "sts.evicted"), 0);
	/* full: every new domain evicts the least recently used, the other rows first */
	for (; i < POLICYMAP_MAX_DOMAINS - 1; i++) {
		snprintf(req, sizeof(req), "sts n%06zu.example", i);
		asks(f, req, NOTFOUND);
	}
	assert_int_equal(policymap_cache_count(f->in), POLICYMAP_MAX_DOMAINS);
	assert_int_equal(counter(f, "sts.evicted"), k - 1);
	/* the touched row survived and still answers from its policy */
	asks(f, "sts enforce.example", ENFORCE_ANSWER);
	assert_int_equal(counter(f, "policymap.enforced"), 2);
	assert_int_equal(counter(f, "policymap.hits"), 2);
	/* an evicted row is gone: a miss, queued if there is room (there is not) */
	asks(f, "sts testing.example", NOTFOUND);
	assert_int_equal(counter(f, "sts.evicted"), k);
	assert_int_equal(counter(f, "policymap.hits"), 2);
	assert_int_equal(counter(f, "policymap.misses"), POLICYMAP_MAX_DOMAINS - 1 + 1);
	assert_int_equal(policymap_cache_count(f->in), POLICYMAP_MAX_DOMAINS);
	/* it evicted the oldest new domain, n000000; a touch moves n000002 up */
	asks(f, "sts n000002.example", NOTFOUND);
	assert_int_equal(counter(f, "sts.evicted"), k);
	asks(f, "sts n000000.example", NOTFOUND);	/* evicts n000001 */
	assert_int_equal(counter(f, "sts.evicted"), k + 1);
	asks(f, "sts n000001.example", NOTFOUND);	/* evicts n000003, not n000002 */
	assert_int_equal(counter(f, "sts.evicted"), k + 2);
	asks(f, "sts n000002.example", NOTFOUND);
	asks(f, "sts enforce.example", ENFORCE_ANSWER);
	assert_int_equal(counter(f, "sts.evicted"), k + 2);
	asks(f, "sts n000003.example", NOTFOUND);	/* evicts n000004 */
	assert_int_equal(counter(f, "sts.evicted"), k + 3);
	assert_int_equal(counter(f, "policymap.hits"), 3);
	assert_int_equal(policymap_cache_count(f->in), POLICYMAP_MAX_DOMAINS);
	/* the queue stopped at its own cap */
	assert_int_equal(queue_length(f), POLICYMAP_MAX_QUEUE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_domains),
		cmocka_unit_test(key_lengths),
		cmocka_unit_test_setup_teardown(answer_enforce_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_success_unverified, setup, teardown),
		cmocka_unit_test_setup_teardown(answer_enforce_due, setup, teardown),
		cmocka_unit_test_setup_teardown(answer_enforce_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(answer_not_enforced, setup, teardown),
		cmocka_unit_test_setup_teardown(answer_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(answer_not_domain, setup, teardown),
		cmocka_unit_test_setup_teardown(request_parsing, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_success_matching_mx, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_success_other_mx, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_host_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_other_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_testing, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_wildcard, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_fetch_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_no_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_no_mx, setup, teardown),
		cmocka_unit_test_setup_teardown(decorate_not_applicable, setup, teardown),
		cmocka_unit_test_setup_teardown(queue_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(lru_cap, setup, teardown),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
