/*
 * NAME
 *	sendmail_map - the Sendmail socketmap protocol and its session results
 * DESCRIPTION
 *	See sendmail_map.h.  The rules of the correlator, for one
 *	connection (one Sendmail delivery process, requests in order):
 *
 *	1. tls_server (rcpt= empty) opens a TLS session for its server
 *	   address, after ending the one already open for that address.
 *	   Exception: when the open one was aborted (SOFTWARE, PROTOCOL,
 *	   ...) and the new one is plain (NONE), the new one is Sendmail's
 *	   clear-text retry and carries the handshake failure on.
 *	2. tls_rcpt (rcpt= the recipient) joins the session of its server
 *	   address (opens one from its own fields when tls_server was not
 *	   hooked); each recipient domain is emitted once per session, when
 *	   first seen.
 *	3. A session that ends without a tls_rcpt is emitted once for its
 *	   recipient host ($h), if that is a domain; else it is counted as
 *	   unreported.
 *	4. An aborted session ends at the next request of the connection
 *	   that is not for its address (Sendmail closed that connection).
 *	5. A request of a queue id that skip() names adds nothing; a session
 *	   opened by such a tls_server is not emitted by rule 3.  Counted
 *	   (report_mails_skipped) once per such tls_rcpt, or once for such a
 *	   session that ends without any tls_rcpt.
 *	6. An outcome that is not reported (TEMP, CONFIG, unknown values) is
 *	   counted as unreported, once per domain or session.
 */
#include "sendmail_map.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	ST_LENGTH,	/* reading length digits */
	ST_PAYLOAD,
	ST_COMMA,
	ST_DONE,	/* a request was handed out; reset on the next call */
	ST_BROKEN,
};

#define LENGTH_DIGITS 4		/* "4096" */

/* ---- netstrings ---- */

void smm_decoder_init(struct smm_decoder *d)
{
	memset(d, 0, sizeof(*d));
	d->state = ST_LENGTH;
}

void smm_decoder_free(struct smm_decoder *d)
{
	free(d->payload);
	d->payload = NULL;
}

static enum smm_status broken(struct smm_decoder *d, const char *why)
{
	free(d->payload);
	d->payload = NULL;
	d->state = ST_BROKEN;
	d->error = why;
	return SMM_ERROR;
}

/* One length byte; SMM_MORE to go on. */
static enum smm_status length_byte(struct smm_decoder *d, char ch)
{
	if (ch == ':') {
		if (d->digits == 0)
			return broken(d, "empty length");
		d->payload = xmalloc(d->want + 1);
		d->have = 0;
		d->state = d->want > 0 ? ST_PAYLOAD : ST_COMMA;
		return SMM_MORE;
	}
	if (ch < '0' || ch > '9')
		return broken(d, d->digits == 0 ? "length is not a number" :
		    "missing ':' after the length");
	if (d->digits == 1 && d->want == 0)
		return broken(d, "length with a leading zero");
	d->want = d->want * 10 + (size_t)(ch - '0');
	if (++d->digits > LENGTH_DIGITS || d->want > SMM_MAX_REQUEST)
		return broken(d, "request longer than 4096 bytes");
	return SMM_MORE;
}

enum smm_status smm_decode(struct smm_decoder *d, const char *buf, size_t len, size_t *used)
{
	size_t i = 0;

	*used = 0;
	if (d->state == ST_BROKEN)
		return SMM_ERROR;
	if (d->state == ST_DONE) {
		free(d->payload);
		smm_decoder_init(d);
	}
	while (i < len) {
		if (d->state == ST_LENGTH) {
			if (length_byte(d, buf[i++]) == SMM_ERROR)
				return SMM_ERROR;
		} else if (d->state == ST_PAYLOAD) {
			size_t n = d->want - d->have;

			if (n > len - i)
				n = len - i;
			if (memchr(buf + i, '\0', n) != NULL)
				return broken(d, "NUL byte in the request");
			memcpy(d->payload + d->have, buf + i, n);
			d->have += n;
			i += n;
			if (d->have == d->want)
				d->state = ST_COMMA;
		} else {	/* ST_COMMA */
			if (buf[i++] != ',')
				return broken(d, "missing ',' after the request");
			d->payload[d->want] = '\0';
			d->state = ST_DONE;
			*used = i;
			return SMM_REQUEST;
		}
	}
	*used = i;
	return SMM_MORE;
}

const char *smm_decoder_request(const struct smm_decoder *d, size_t *len)
{
	if (d->state != ST_DONE)
		return NULL;
	*len = d->want;
	return d->payload;
}

const char *smm_decoder_error(const struct smm_decoder *d)
{
	return d->state == ST_BROKEN ? d->error : NULL;
}

void smm_reply(struct strbuf *out, const char *text)
{
	strbuf_printf(out, "%zu:%s,", strlen(text), text);
}

/* ---- requests ---- */

enum field {
	F_SRV, F_ADDR, F_VERIFY, F_VER, F_QID, F_RCPT, F_HOST, F_CN, F_CNI, F_SAN,
	F_COUNT,
};

static const char *const field_names[F_COUNT] = {
	"srv", "addr", "verify", "ver", "qid", "rcpt", "host", "cn", "cni", "san",
};

/*
 * Sendmail builds the key from tokens and puts a blank only between two
 * word tokens: after a value that ends in one of its operator or special
 * characters ("may.good.test." from $h) the next "name=" follows without
 * a blank.  So a field starts after a blank or such a character.
 */
static bool is_boundary(const char *key, size_t i)
{
	return i == 0 || strchr(" \t.:%@!^/[]+()<>,;\"\\", key[i - 1]) != NULL;
}

/*
 * The field whose "name=" starts at p (names in lower case, as the .mc
 * writes them and as Sendmail folds them): its index and name length, or
 * -1.  Other "word=" text is part of a value: recipients such as SRS
 * addresses ("srs0=...=user@example.org") and certificate names may
 * hold it.
 */
static int field_at(const char *p, size_t *namelen)
{
	size_t n = 0;

	while (p[n] >= 'a' && p[n] <= 'z')
		n++;
	if (n == 0 || p[n] != '=')
		return -1;
	*namelen = n;
	for (int f = 0; f < F_COUNT; f++)
		if (strlen(field_names[f]) == n && strncmp(p, field_names[f], n) == 0)
			return f;
	return -1;
}

/* The value key[from, to) without surrounding blanks; NULL when empty. */
static char *value_of(const char *key, size_t from, size_t to)
{
	while (from < to && (key[from] == ' ' || key[from] == '\t'))
		from++;
	while (to > from && (key[to - 1] == ' ' || key[to - 1] == '\t'))
		to--;
	return to > from ? xstrndup(key + from, to - from) : NULL;
}

/*
 * Split the key into raw field values.  Every field may appear once: a
 * value that smuggles in a second "name=" (a crafted certificate name or
 * recipient) makes the whole request bad rather than changing a field.
 */
static int split_fields(const char *key, char *vals[F_COUNT], bool seen[F_COUNT], char *why,
    size_t whylen)
{
	size_t len = strlen(key), vstart = 0, namelen = 0;
	int cur = -1;

	for (size_t i = 0; i <= len; i++) {
		int f = -1;

		if (i < len && is_boundary(key, i))
			f = field_at(key + i, &namelen);
		if (i < len && f < 0) {
			if (cur < 0 && key[i] != ' ' && key[i] != '\t') {
				snprintf(why, whylen, "key does not start with a name= field");
				return -1;
			}
			continue;
		}
		if (cur >= 0)
			vals[cur] = value_of(key, vstart, i);
		if (i == len)
			break;
		if (seen[f]) {
			snprintf(why, whylen, "field %s= given twice", field_names[f]);
			return -1;
		}
		seen[f] = true;
		cur = f;
		vstart = i + namelen + 1;
		i = vstart - 1;
	}
	if (cur < 0) {
		snprintf(why, whylen, "empty key");
		return -1;
	}
	return 0;
}

/* Sendmail writes certificate names as xtext: "+XX" for a byte. */
static char *xtext_decode(char *s)
{
	char *in = s, *out = s;

	if (s == NULL)
		return NULL;
	while (*in) {
		int hi = in[0] == '+' ? hex_digit_value(in[1]) : -1;
		int lo = hi >= 0 ? hex_digit_value(in[2]) : -1;

		if (lo >= 0 && (hi | lo) != 0) {
			*out++ = (char)(hi * 16 + lo);
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	return s;
}

/* A domain as a policy domain: without <>, brackets refused; NULL if not one. */
static char *domain_or_null(const char *s)
{
	char *d;
	size_t n;

	if (s == NULL)
		return NULL;
	while (*s == '<' || *s == ' ')
		s++;
	d = xstrdup(s);
	n = strlen(d);
	while (n > 0 && (d[n - 1] == '>' || d[n - 1] == ' '))
		d[--n] = '\0';
	if (!domain_normalise(d)) {
		free(d);
		return NULL;
	}
	return d;
}

static char *rcpt_domain(const char *rcpt)
{
	const char *at = rcpt != NULL ? strrchr(rcpt, '@') : NULL;

	return at != NULL ? domain_or_null(at + 1) : NULL;
}

static char *address_or_null(char *s)
{
	const char *p = s;
	char *r, *end;

	if (s == NULL)
		return NULL;
	if (*p == '[')
		p++;
	if (strncasecmp(p, "IPv6:", 5) == 0)
		p += 5;
	r = xstrdup(p);
	if ((end = strchr(r, ']')) != NULL)
		*end = '\0';
	free(s);
	s = canonical_ip(r);
	free(r);
	return s;
}

static char *upper(char *s)
{
	for (char *c = s; c != NULL && *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	return s;
}

static enum smm_san san_value(const char *s)
{
	if (s != NULL && strcasecmp(s, "yes") == 0)
		return SMM_SAN_YES;
	if (s != NULL && strcasecmp(s, "no") == 0)
		return SMM_SAN_NO;
	return SMM_SAN_UNKNOWN;
}

int smm_parse_request(const char *payload, size_t len, struct smm_request *r, char *why,
    size_t whylen)
{
	char *vals[F_COUNT] = {NULL};
	bool seen[F_COUNT] = {false};
	const char *sp;
	char *key;
	int rc;

	memset(r, 0, sizeof(*r));
	if (memchr(payload, '\0', len) != NULL) {
		snprintf(why, whylen, "NUL byte in the request");
		return -1;
	}
	sp = memchr(payload, ' ', len);
	if (sp == NULL || sp == payload) {
		snprintf(why, whylen, "not <map> <key>");
		return -1;
	}
	key = xstrndup(sp + 1, len - (size_t)(sp + 1 - payload));
	rc = split_fields(key, vals, seen, why, whylen);
	free(key);
	if (rc != 0) {
		for (int f = 0; f < F_COUNT; f++)
			free(vals[f]);
		return -1;
	}
	r->map = xstrndup(payload, (size_t)(sp - payload));
	r->hook = vals[F_RCPT] != NULL ? SMM_HOOK_RCPT : SMM_HOOK_SERVER;
	r->srv = canonical_host(vals[F_SRV]);
	r->addr = address_or_null(vals[F_ADDR]);
	/* Sendmail folds keys to lower case unless the map has -f */
	r->folded = vals[F_VERIFY] != NULL &&
	    strpbrk(vals[F_VERIFY], "abcdefghijklmnopqrstuvwxyz") != NULL;
	r->verify = upper(vals[F_VERIFY]);
	r->version = vals[F_VER];
	r->qid = vals[F_QID];
	r->rcpt = vals[F_RCPT];
	r->rcpt_domain = rcpt_domain(vals[F_RCPT]);
	r->host = domain_or_null(vals[F_HOST]);
	r->cn = xtext_decode(vals[F_CN]);
	r->cn_issuer = xtext_decode(vals[F_CNI]);
	r->san = san_value(vals[F_SAN]);
	free(vals[F_SRV]);
	free(vals[F_HOST]);
	free(vals[F_SAN]);
	return 0;
}

void smm_request_free(struct smm_request *r)
{
	free(r->map);
	free(r->srv);
	free(r->addr);
	free(r->verify);
	free(r->version);
	free(r->qid);
	free(r->rcpt);
	free(r->rcpt_domain);
	free(r->host);
	free(r->cn);
	free(r->cn_issuer);
	memset(r, 0, sizeof(*r));
}

/* ---- ${verify} ---- */

bool smm_name_matches(const char *pattern, const char *host)
{
	size_t pl, hl;
	const char *dot;

	if (pattern == NULL || host == NULL)
		return false;
	pl = strlen(pattern);
	hl = strlen(host);
	if (pl > 0 && pattern[pl - 1] == '.')
		pl--;
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pl == 0 || hl == 0)
		return false;
	if (pl == hl && strncasecmp(pattern, host, pl) == 0)
		return pattern[0] != '*';
	/* "*.rest": exactly one whole leftmost label, and "rest" must have two labels */
	if (pl < 3 || pattern[0] != '*' || pattern[1] != '.' || memchr(pattern + 2, '.', pl - 2) == NULL)
		return false;
	if (memchr(pattern + 1, '*', pl - 1) != NULL)
		return false;
	dot = memchr(host, '.', hl);
	if (dot == NULL || dot == host)
		return false;
	return (size_t)(host + hl - dot) == pl - 1 &&
	    strncasecmp(dot, pattern + 1, pl - 1) == 0;
}

/* Every reason smm_classify() gives, so that a saved session names its own by index. */
static const char *const reasons[] = {
	"certificate name does not match the server name", "self-signed certificate",
	"certificate verification failed", "no certificate presented", "STARTTLS not offered",
	"TLS handshake failed", "STARTTLS failed", "DANE check failed", "temporary error",
	"local TLS configuration error", "unknown verify value", "no verify value",
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

static void set_outcome(struct smm_outcome *o, bool report, int type, const char *reason,
    bool aborts)
{
	o->report = report;
	o->failed = type != 0;
	o->result_type = type;
	o->reason = reason;
	o->aborts = aborts;
}

/*
 * ${verify} OK says the chain verified; Sendmail does not compare the
 * name.  san= is the tlsrpt.mc ruleset's test of ${server_name} against
 * the certificate's DNS names ({cert_altnames}), cn= its common name.
 */
static bool name_mismatch(const struct smm_request *r)
{
	if (r->srv == NULL || r->san == SMM_SAN_YES)
		return false;
	if (r->cn != NULL && smm_name_matches(r->cn, r->srv))
		return false;
	return r->san == SMM_SAN_NO || r->cn != NULL;
}

static bool self_signed(const struct smm_request *r)
{
	return r->cn != NULL && r->cn_issuer != NULL && strcasecmp(r->cn, r->cn_issuer) == 0;
}

void smm_classify(const struct smm_request *r, struct smm_outcome *o)
{
	const char *v = r->verify != NULL ? r->verify : "";

	if (strcmp(v, "OK") == 0 || strcmp(v, "TRUSTED") == 0) {
		if (name_mismatch(r))
			set_outcome(o, true, RESULT_CERTIFICATE_HOST_MISMATCH,
			    "certificate name does not match the server name", false);
		else
			set_outcome(o, true, 0, NULL, false);
	} else if (strcmp(v, "NOT") == 0) {
		set_outcome(o, true, 0, NULL, false);	/* encrypted; we asked for no check */
	} else if (strcmp(v, "FAIL") == 0) {
		if (self_signed(r))
			set_outcome(o, true, RESULT_CERTIFICATE_NOT_TRUSTED,
			    "self-signed certificate", false);
		else
			set_outcome(o, true, RESULT_VALIDATION_FAILURE,
			    "certificate verification failed", false);
	} else if (strcmp(v, "NO") == 0) {
		set_outcome(o, true, RESULT_VALIDATION_FAILURE, "no certificate presented", false);
	} else if (strcmp(v, "NONE") == 0) {
		set_outcome(o, true, RESULT_STARTTLS_NOT_SUPPORTED, "STARTTLS not offered", false);
	} else if (strcmp(v, "SOFTWARE") == 0) {
		set_outcome(o, true, RESULT_VALIDATION_FAILURE, "TLS handshake failed", true);
	} else if (strcmp(v, "PROTOCOL") == 0) {
		set_outcome(o, true, RESULT_VALIDATION_FAILURE, "STARTTLS failed", true);
	} else if (strcmp(v, "DANE_FAIL") == 0) {
		set_outcome(o, true, RESULT_VALIDATION_FAILURE, "DANE check failed", true);
	} else if (strcmp(v, "TEMP") == 0) {
		set_outcome(o, false, 0, "temporary error", false);
	} else if (strcmp(v, "CONFIG") == 0) {
		set_outcome(o, false, 0, "local TLS configuration error", true);
	} else {
		set_outcome(o, false, 0, *v ? "unknown verify value" : "no verify value", false);
	}
}

/* ---- the correlator ---- */

struct tls_sess {
	long long start;
	char *srv, *addr, *host;
	struct smm_outcome out;
	bool skip_host;		/* opened by a report mail's tls_server */
	bool skipped;		/* a report mail's tls_rcpt was skipped */
	char **domains;
	size_t ndomains;
};

struct smm_conn {
	struct tls_sess *sess[SMM_MAX_SESSIONS];	/* oldest first */
	size_t n;
};

struct smm {
	smm_emit_fn emit;
	smm_skip_fn skip;
	void *ctx;
	struct smm_stats st;
};

struct smm *smm_new(smm_emit_fn emit, smm_skip_fn skip, void *ctx)
{
	struct smm *m = xcalloc(1, sizeof(*m));

	m->emit = emit;
	m->skip = skip;
	m->ctx = ctx;
	return m;
}

void smm_free(struct smm *m)
{
	free(m);
}

void smm_get_stats(const struct smm *m, struct smm_stats *st)
{
	*st = m->st;
}

struct smm_conn *smm_conn_new(struct smm *m)
{
	(void)m;
	return xcalloc(1, sizeof(struct smm_conn));
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void emit(struct smm *m, const struct tls_sess *s, const char *domain, long long when)
{
	struct tlsrpt_session r;
	struct tlsrpt_failure *f = session_no_policy(&r, domain, when, s->out.failed);

	if (f != NULL) {
		f->result_type = s->out.result_type;
		f->mx_name = dup_or_null(s->srv);
		f->receiving_ip = dup_or_null(s->addr);
		f->reason = dup_or_null(s->out.reason);
		m->st.failures++;
	} else {
		m->st.successes++;
	}
	m->st.sessions++;
	if (m->emit != NULL)
		m->emit(m->ctx, &r, s->srv, s->addr);
	session_free(&r);
}

static void sess_free(struct tls_sess *s)
{
	for (size_t i = 0; i < s->ndomains; i++)
		free(s->domains[i]);
	free(s->domains);
	free(s->srv);
	free(s->addr);
	free(s->host);
	free(s);
}

/* Rule 3: a session without recipients is reported for its host. */
static void sess_end(struct smm *m, struct tls_sess *s)
{
	if (s->ndomains > 0 || s->skipped) {
		sess_free(s);
		return;
	}
	if (s->skip_host) {
		m->st.report_mails_skipped++;	/* a report mail's session without tls_rcpt */
		sess_free(s);
		return;
	}
	if (s->out.report && s->host != NULL)
		emit(m, s, s->host, s->start);
	else
		m->st.unreported++;
	sess_free(s);
}

static bool same_server(const struct tls_sess *s, const struct smm_request *r)
{
	return strcmp(s->addr != NULL ? s->addr : "", r->addr != NULL ? r->addr : "") == 0;
}

/* Take session i out of the connection's list (the caller ends or frees it). */
static struct tls_sess *conn_take(struct smm_conn *c, size_t i)
{
	struct tls_sess *s = c->sess[i];

	memmove(&c->sess[i], &c->sess[i + 1], (c->n - i - 1) * sizeof(c->sess[0]));
	c->n--;
	return s;
}

static struct tls_sess *conn_find(struct smm_conn *c, const struct smm_request *r, size_t *at)
{
	for (size_t i = c->n; i-- > 0;)
		if (same_server(c->sess[i], r)) {
			*at = i;
			return c->sess[i];
		}
	return NULL;
}

/* Rule 4: aborted sessions of other servers are over. */
static void end_aborted(struct smm *m, struct smm_conn *c, const struct smm_request *r)
{
	for (size_t i = 0; i < c->n;) {
		if (c->sess[i]->out.aborts && !same_server(c->sess[i], r))
			sess_end(m, conn_take(c, i));
		else
			i++;
	}
}

static struct tls_sess *sess_open(struct smm *m, struct smm_conn *c, const struct smm_request *r,
    long long now)
{
	struct tls_sess *s = xcalloc(1, sizeof(*s));

	if (c->n == SMM_MAX_SESSIONS)
		sess_end(m, conn_take(c, 0));
	s->start = now;
	s->srv = dup_or_null(r->srv);
	s->addr = dup_or_null(r->addr);
	s->host = dup_or_null(r->host);
	smm_classify(r, &s->out);
	c->sess[c->n++] = s;
	return s;
}

static const char *outcome_name(const struct smm_outcome *o)
{
	if (!o->report)
		return "unreported";
	return o->failed ? result_type_name(o->result_type) : "success";
}

static bool is_report_mail(struct smm *m, const struct smm_request *r)
{
	return m->skip != NULL && r->qid != NULL && m->skip(m->ctx, r->qid);
}

static const char *on_server(struct smm *m, struct smm_conn *c, const struct smm_request *r,
    long long now)
{
	struct tls_sess *old, *s;
	size_t at;
	bool retry = false;

	end_aborted(m, c, r);
	if ((old = conn_find(c, r, &at)) != NULL) {
		old = conn_take(c, at);
		/* rule 1: the clear-text retry after a failed handshake */
		retry = old->out.aborts && old->ndomains == 0 && r->verify != NULL &&
		    strcmp(r->verify, "NONE") == 0;
		if (!retry)
			sess_end(m, old);
	}
	s = sess_open(m, c, r, now);
	if (retry) {
		s->out = old->out;
		s->out.aborts = false;
		s->start = old->start;
		s->skip_host = old->skip_host;
		if (s->host == NULL)
			s->host = dup_or_null(old->host);
		sess_free(old);
	}
	if (is_report_mail(m, r)) {
		s->skip_host = true;
		return "skipped";
	}
	return outcome_name(&s->out);
}

static bool sess_has(const struct tls_sess *s, const char *domain)
{
	for (size_t i = 0; i < s->ndomains; i++)
		if (strcmp(s->domains[i], domain) == 0)
			return true;
	return false;
}

static const char *on_rcpt(struct smm *m, struct smm_conn *c, const struct smm_request *r,
    long long now)
{
	struct tls_sess *s;
	size_t at;

	end_aborted(m, c, r);
	if ((s = conn_find(c, r, &at)) == NULL)
		s = sess_open(m, c, r, now);
	if (is_report_mail(m, r)) {
		s->skipped = true;
		m->st.report_mails_skipped++;
		return "skipped";
	}
	if (r->rcpt_domain == NULL) {
		m->st.unreported++;
		return "unreported";
	}
	if (sess_has(s, r->rcpt_domain))
		return outcome_name(&s->out);
	if (s->ndomains == SMM_MAX_DOMAINS) {
		m->st.unreported++;
		return "unreported";
	}
	s->domains = xrealloc(s->domains, (s->ndomains + 1) * sizeof(*s->domains));
	s->domains[s->ndomains++] = xstrdup(r->rcpt_domain);
	if (s->out.report)
		emit(m, s, r->rcpt_domain, now);
	else
		m->st.unreported++;
	return outcome_name(&s->out);
}

bool smm_conn_request(struct smm *m, struct smm_conn *c, const char *payload, size_t len,
    long long now, struct strbuf *reply, char *why, size_t whylen)
{
	struct smm_request r;
	char text[160];
	const char *result;

	m->st.requests++;
	if (smm_parse_request(payload, len, &r, why, whylen) != 0 ||
	    (r.hook == SMM_HOOK_SERVER && r.verify == NULL)) {
		if (r.map != NULL)
			snprintf(why, whylen, "tls_server request without verify=");
		smm_request_free(&r);
		m->st.bad_requests++;
		smm_reply(reply, "NOTFOUND");
		return false;
	}
	if (r.folded)
		m->st.key_folded++;
	result = r.hook == SMM_HOOK_SERVER ? on_server(m, c, &r, now) : on_rcpt(m, c, &r, now);
	snprintf(text, sizeof(text), "OK %s", result);
	smm_reply(reply, text);
	smm_request_free(&r);
	return true;
}

void smm_conn_close(struct smm *m, struct smm_conn *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		sess_end(m, c->sess[i]);
	free(c);
}

void smm_conn_discard(struct smm_conn *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		sess_free(c->sess[i]);
	free(c);
}

/* ---- saving the open sessions ---- */

static int reason_index(const char *reason)
{
	for (size_t i = 0; reason != NULL && i < NREASONS; i++)
		if (reason == reasons[i] || strcmp(reason, reasons[i]) == 0)
			return (int)i;
	return -1;
}

/* A saved name: "-" for none; names hold no blank, tab or comma (normalised). */
static bool savable(const char *v)
{
	return v == NULL || (*v != '\0' && strcmp(v, "-") != 0 && strpbrk(v, " \t\n,") == NULL);
}

static void save_name(struct strbuf *out, const char *v)
{
	strbuf_appendc(out, '\t');
	strbuf_appends(out, v != NULL ? v : "-");
}

void smm_conn_save(const struct smm_conn *c, const char *prefix, struct strbuf *out)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct tls_sess *s = c->sess[i];
		bool ok = savable(s->srv) && savable(s->addr) && savable(s->host);

		for (size_t d = 0; d < s->ndomains; d++)
			ok = ok && savable(s->domains[d]);
		if (!ok)
			continue;	/* cannot happen: every name is normalised */
		strbuf_printf(out, "%s\t%lld\t%d\t%d\t%d\t%d\t%d\t%d", prefix, s->start,
		    s->out.report, s->out.aborts, s->skip_host, s->skipped, s->out.result_type,
		    reason_index(s->out.reason));
		save_name(out, s->srv);
		save_name(out, s->addr);
		save_name(out, s->host);
		strbuf_appendc(out, '\t');
		for (size_t d = 0; d < s->ndomains; d++)
			strbuf_printf(out, "%s%s", d > 0 ? "," : "", s->domains[d]);
		if (s->ndomains == 0)
			strbuf_appendc(out, '-');
		strbuf_appendc(out, '\n');
	}
}

#define SAVED_FIELDS 11

/* Split fields[0, len) at tabs into exactly SAVED_FIELDS NUL-terminated parts of buf. */
static bool split_saved(const char *fields, size_t len, char *buf, char *part[SAVED_FIELDS])
{
	size_t n = 0;

	memcpy(buf, fields, len);
	buf[len] = '\0';
	part[n++] = buf;
	for (char *p = buf; *p; p++) {
		if (*p != '\t')
			continue;
		if (n == SAVED_FIELDS)
			return false;
		*p = '\0';
		part[n++] = p + 1;
	}
	return n == SAVED_FIELDS;
}

static bool load_int(const char *v, long long lo, long long hi, long long *out)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi)
		return false;
	*out = x;
	return true;
}

static char *load_name(const char *v)
{
	return strcmp(v, "-") == 0 ? NULL : xstrdup(v);
}

bool smm_conn_load_session(struct smm_conn *c, const char *fields, size_t len)
{
	char *buf, *part[SAVED_FIELDS];
	long long v[7];
	struct tls_sess *s;
	bool ok;

	if (len > 2 * SMM_MAX_REQUEST + SMM_MAX_DOMAINS * 256 || c->n == SMM_MAX_SESSIONS)
		return false;
	buf = xmalloc(len + 1);
	ok = split_saved(fields, len, buf, part) &&
	    load_int(part[0], 0, (1LL << 40), &v[0]) && load_int(part[1], 0, 1, &v[1]) &&
	    load_int(part[2], 0, 1, &v[2]) && load_int(part[3], 0, 1, &v[3]) &&
	    load_int(part[4], 0, 1, &v[4]) && load_int(part[5], 0, 999, &v[5]) &&
	    load_int(part[6], -1, (long long)NREASONS - 1, &v[6]);
	if (!ok) {
		free(buf);
		return false;
	}
	s = xcalloc(1, sizeof(*s));
	s->start = v[0];
	s->out.report = v[1] != 0;
	s->out.aborts = v[2] != 0;
	s->skip_host = v[3] != 0;
	s->skipped = v[4] != 0;
	s->out.result_type = (int)v[5];
	s->out.failed = v[5] != 0;
	s->out.reason = v[6] >= 0 ? reasons[v[6]] : NULL;
	s->srv = load_name(part[7]);
	s->addr = load_name(part[8]);
	s->host = load_name(part[9]);
	if (strcmp(part[10], "-") != 0) {
		for (char *d = part[10], *next; d != NULL; d = next) {
			next = strchr(d, ',');
			if (next != NULL)
				*next++ = '\0';
			if (*d == '\0' || s->ndomains == SMM_MAX_DOMAINS)
				continue;
			s->domains = xrealloc(s->domains, (s->ndomains + 1) * sizeof(*s->domains));
			s->domains[s->ndomains++] = xstrdup(d);
		}
	}
	free(buf);
	c->sess[c->n++] = s;
	return true;
}
