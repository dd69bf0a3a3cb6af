/*
 * NAME
 *	postfix_log - read one Postfix smtp/lmtp log line into a TLS event
 * SYNOPSIS
 *	#include "postfix_log.h"
 *
 *	enum pfl_kind pfl_parse(const char *line, size_t len,
 *				struct pfl_event *ev);
 * DESCRIPTION
 *	See postfix_log.h and ../shared/spec/postfix-3.7-tls-log.md.
 *
 *	Prefixes: classic syslog ("Nov 23 18:41:55 host "), ISO/RFC 3339
 *	timestamps as rsyslog writes them ("2026-11-23T18:41:55.1+00:00
 *	host "), or none at all (journalctl -o cat).  The syslog tag must be
 *	"name/program[pid]: " (any syslog_name, e.g. postfix-out); the
 *	program is what follows the last "/".
 *
 *	Which lines mean what:
 *	- "<Trust> TLS connection established to MX[IP]:PORT: ..." from
 *	  smtp, lmtp or tlsproxy: PFL_TLS_ESTABLISHED.
 *	- "<Trust> TLS connection reused to ..." from smtp/lmtp:
 *	  PFL_TLS_REUSED.
 *	- "[server ]certificate verification failed for MX[IP]:PORT: R",
 *	  "SSL_connect error to MX[IP]:PORT: R", and the two "TLS is
 *	  required, but ..." forms, optionally after "warning: ": 
 *	  PFL_TLS_FAILURE.  The "TLS is required" forms after a queue id
 *	  (no "warning: ") are how smtp logs a failed MX before it tries the
 *	  next one (msg_info "QID: reason"), so they are
 *	  PFL_QUEUE_TLS_FAILURE, with mx and ip filled in.
 *	- "QID: to=<rcpt>, ..., relay=..., dsn=D, status=S (reason)":
 *	  PFL_DELIVERY; result_type is set only if the reason carries one
 *	  of the TLS phrases.
 *	- "QID: <text with a TLS phrase>" without to=: PFL_QUEUE_TLS_FAILURE.
 *
 *	Identity fields (program, queue id, mx, ip, rcpt domain, status,
 *	dsn) that do not fit their buffers make the line PFL_MALFORMED; the
 *	free-text reason is cut instead and reason_truncated set, because a
 *	long remote reply must not cost us the delivery line.
 * DIAGNOSTICS
 *	None: the returned kind (also in ev->kind) says it all.
 * SEE ALSO
 *	RFC 8460; session.h for the result type codes; logline.h for the
 *	prefix, the tag and the span helpers shared with sendmail_log.c.
 */
#include "postfix_log.h"

#include <stdbool.h>
#include <string.h>

#include "logline.h"
#include "session.h"

/* Free text into ev->reason, cut (and marked so) at the field's size. */
static void copy_reason(struct pfl_event *ev, struct span s)
{
	if (span_copy_text(ev->reason, sizeof(ev->reason), s))
		ev->reason_truncated = 1;
}

/* Map failure text to an RFC 8460 result type; 0 if nothing matches. */
static int classify(struct span s)
{
	if (span_contains_ci(s, "certificate has expired"))
		return RESULT_CERTIFICATE_EXPIRED;
	if (span_contains_ci(s, "hostname mismatch") || span_contains_ci(s, "num=62"))
		return RESULT_CERTIFICATE_HOST_MISMATCH;
	if (span_contains_ci(s, "no matching DANE TLSA records")
	    || span_contains_ci(s, "num=65"))
		return RESULT_TLSA_INVALID;
	if (span_contains_ci(s, "self-signed certificate")
	    || span_contains_ci(s, "self signed certificate")
	    || span_contains_ci(s, "untrusted issuer")
	    || span_contains_ci(s, "unable to get local issuer certificate")
	    || span_contains_ci(s, "Server certificate not trusted"))
		return RESULT_CERTIFICATE_NOT_TRUSTED;
	if (span_contains_ci(s, "TLS is required, but was not offered by host")
	    || span_contains_ci(s, "refused to start TLS"))
		return RESULT_STARTTLS_NOT_SUPPORTED;
	if (span_contains_ci(s, "handshake failure") || span_contains_ci(s, "SSL_connect error"))
		return RESULT_VALIDATION_FAILURE;
	if (span_contains_ci(s, "Server certificate not verified"))
		return RESULT_VALIDATION_FAILURE;
	return 0;
}

/* The phrases that make a delivery or queue line about TLS. */
static bool has_tls_phrase(struct span s)
{
	static const char *const phrases[] = {
		"Server certificate not verified",
		"Server certificate not trusted",
		"TLS is required, but was not offered by host",
		"Cannot start TLS: handshake failure",
		"refused to start TLS",
	};
	size_t i;

	for (i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (span_contains_ci(s, phrases[i]))
			return true;
	return false;
}

/*
 * The tag "name/program[pid]: ".  On success ev->program and ev->pid are
 * set.  A tag without "/" (sendmail, kernel) is not Postfix's.
 */
static bool read_tag(const struct logrec *r, struct pfl_event *ev)
{
	struct span name = r->name;
	size_t slash = span_find_last(name, "/");

	if (slash == SPAN_NPOS)
		return false;
	span_advance(&name, slash + 1);
	if (!span_copy(ev->program, sizeof(ev->program), name))
		return false;
	ev->pid = r->pid;
	return true;
}

static bool is_program(const struct pfl_event *ev, const char *name)
{
	return strcmp(ev->program, name) == 0;
}

/* A queue id: 5..31 alphanumerics with a digit or capital, then ": ". */
static bool read_queue_id(struct span *s, struct pfl_event *ev)
{
	size_t i = 0;
	bool id_like = false;

	while (i < s->n && ll_is_alnum(s->p[i])) {
		if (!(s->p[i] >= 'a' && s->p[i] <= 'z'))
			id_like = true;
		i++;
	}
	if (i < 5 || i >= sizeof(ev->queue_id) || !id_like)
		return false;
	if (s->n - i < 2 || s->p[i] != ':' || s->p[i + 1] != ' ')
		return false;
	if (!span_copy(ev->queue_id, sizeof(ev->queue_id), span_first(*s, i)))
		return false;
	span_advance(s, i + 2);
	return true;
}

/*
 * "MX[IP]" with an optional ":PORT"; s is left after it.  The host may
 * not hold spaces, commas or brackets; IPv6 needs no special care since
 * the address ends at "]".
 */
static bool read_host_addr(struct span *s, struct pfl_event *ev)
{
	size_t i = 0, open, close;
	struct span addr;
	long port = 0;
	int digits = 0;

	while (i < s->n && s->p[i] != '[' && s->p[i] != ' ' && s->p[i] != ','
	       && s->p[i] != ']')
		i++;
	if (i == 0 || i == s->n || s->p[i] != '[')
		return false;
	open = i;
	for (i++; i < s->n && s->p[i] != ']' && s->p[i] != ' ' && s->p[i] != '['; i++)
		;
	if (i == s->n || s->p[i] != ']' || i == open + 1)
		return false;
	close = i;
	addr.p = s->p + open + 1;
	addr.n = close - open - 1;
	if (!span_copy(ev->mx, sizeof(ev->mx), span_first(*s, open))
	    || !span_copy(ev->ip, sizeof(ev->ip), addr))
		return false;
	ll_normalise_host(ev->mx);
	i = close + 1;
	if (i + 1 < s->n && s->p[i] == ':' && ll_is_digit(s->p[i + 1])) {
		for (i++; i < s->n && ll_is_digit(s->p[i]); i++) {
			if (++digits > 5)
				return false;
			port = port * 10 + (s->p[i] - '0');
		}
		if (port < 1 || port > 65535)
			return false;
	}
	ev->port = (int)port;
	span_advance(s, i);
	return true;
}

static const struct {
	const char *word;
	enum pfl_trust trust;
} trust_words[] = {
	{"Anonymous ", PFL_ANONYMOUS},
	{"Untrusted ", PFL_UNTRUSTED},
	{"Trusted ", PFL_TRUSTED},
	{"Verified ", PFL_VERIFIED},
};

/* "<Trust> TLS connection established|reused to MX[IP]:PORT[: ...]". */
static enum pfl_kind read_connection(struct span s, struct pfl_event *ev)
{
	enum pfl_kind kind;
	size_t i;

	for (i = 0; i < sizeof(trust_words) / sizeof(trust_words[0]); i++)
		if (span_eat(&s, trust_words[i].word))
			break;
	if (i == sizeof(trust_words) / sizeof(trust_words[0]))
		return PFL_IGNORED;
	ev->trust = trust_words[i].trust;
	if (span_eat(&s, "TLS connection established to "))
		kind = PFL_TLS_ESTABLISHED;
	else if (span_eat(&s, "TLS connection reused to "))
		kind = PFL_TLS_REUSED;
	else
		return PFL_IGNORED;
	if (kind == PFL_TLS_REUSED && is_program(ev, "tlsproxy"))
		return PFL_IGNORED;
	if (!read_host_addr(&s, ev))
		return PFL_MALFORMED;
	if (s.n > 0 && s.p[0] != ':')
		return PFL_MALFORMED;
	return kind;
}

/* After MX[IP]:PORT, ": reason" to the end of the line. */
static enum pfl_kind read_failure_reason(struct span s, struct pfl_event *ev)
{
	if (!span_eat(&s, ": "))
		return PFL_MALFORMED;
	copy_reason(ev, s);
	ev->result_type = classify(s);
	if (ev->result_type == 0)
		ev->result_type = RESULT_VALIDATION_FAILURE;
	return PFL_TLS_FAILURE;
}

/*
 * The warning forms.  PFL_IGNORED if msg is none of them; queued says
 * a queue id came first without "warning: " (see the head comment).
 */
static enum pfl_kind read_failure(struct span msg, struct pfl_event *ev, bool queued)
{
	struct span s = msg;
	enum pfl_kind ok = queued ? PFL_QUEUE_TLS_FAILURE : PFL_TLS_FAILURE;

	if (span_eat(&s, "server certificate verification failed for ")
	    || span_eat(&s, "certificate verification failed for ")
	    || span_eat(&s, "SSL_connect error to ")) {
		if (!read_host_addr(&s, ev))
			return PFL_MALFORMED;
		return read_failure_reason(s, ev);
	}
	if (span_eat(&s, "TLS is required, but was not offered by host ")) {
		if (!read_host_addr(&s, ev))
			return PFL_MALFORMED;
		copy_reason(ev, msg);
		ev->result_type = RESULT_STARTTLS_NOT_SUPPORTED;
		return ok;
	}
	if (span_eat(&s, "TLS is required, but host ")) {
		if (!read_host_addr(&s, ev) || !span_eat(&s, " refused to start TLS"))
			return PFL_MALFORMED;
		if (span_eat(&s, ": "))
			copy_reason(ev, s);
		else
			copy_reason(ev, msg);
		ev->result_type = RESULT_STARTTLS_NOT_SUPPORTED;
		return ok;
	}
	return PFL_IGNORED;
}

/* Offset of the '>' that ends an address after "<", quotes respected. */
static size_t address_end(struct span s)
{
	size_t i = 0;
	bool quoted = false;

	for (; i < s.n; i++) {
		if (quoted && s.p[i] == '\\' && i + 1 < s.n)
			i++;
		else if (s.p[i] == '"')
			quoted = !quoted;
		else if (!quoted && s.p[i] == '>')
			return i;
	}
	return (size_t)-1;
}

/* The address's domain (after the last unquoted '@'), lower case. */
static bool take_rcpt_domain(struct span addr, struct pfl_event *ev)
{
	size_t i, at = (size_t)-1;
	bool quoted = false;

	for (i = 0; i < addr.n; i++) {
		if (quoted && addr.p[i] == '\\' && i + 1 < addr.n)
			i++;
		else if (addr.p[i] == '"')
			quoted = !quoted;
		else if (!quoted && addr.p[i] == '@')
			at = i;
	}
	if (at == (size_t)-1) {
		ev->rcpt_domain[0] = '\0';
		return true;
	}
	span_advance(&addr, at + 1);
	if (!span_copy(ev->rcpt_domain, sizeof(ev->rcpt_domain), addr))
		return false;
	ll_normalise_host(ev->rcpt_domain);
	return true;
}

/* "status=S (reason)" at the end of a delivery line. */
static bool read_status(struct span s, struct pfl_event *ev)
{
	size_t i = 0;
	struct span reason;

	while (i < s.n && s.p[i] != ' ')
		i++;
	if (i == 0 || !span_copy(ev->status, sizeof(ev->status), span_first(s, i)))
		return false;
	span_advance(&s, i);
	if (s.n == 0)
		return true;
	if (!span_eat(&s, " (") || s.n == 0 || s.p[s.n - 1] != ')')
		return false;
	reason.p = s.p;
	reason.n = s.n - 1;
	copy_reason(ev, reason);
	if (has_tls_phrase(reason))
		ev->result_type = classify(reason);
	return true;
}

static bool read_relay(struct span v, struct pfl_event *ev)
{
	if (v.n == 4 && memcmp(v.p, "none", 4) == 0) {
		strcpy(ev->mx, "none");
		ev->ip[0] = '\0';
		return true;
	}
	return read_host_addr(&v, ev) && v.n == 0;
}

/* "to=<rcpt>, key=value, ..., status=S (reason)"; s is after "to=<". */
static enum pfl_kind read_delivery(struct span s, struct pfl_event *ev)
{
	size_t end = address_end(s), i;
	struct span addr = {s.p, end}, key, val;
	bool have_relay = false;

	if (end == (size_t)-1 || !take_rcpt_domain(addr, ev))
		return PFL_MALFORMED;
	span_advance(&s, end + 1);
	while (span_eat(&s, ", ")) {
		for (i = 0; i < s.n && s.p[i] != '=' && s.p[i] != ' ' && s.p[i] != ','; i++)
			;
		if (i == 0 || i == s.n || s.p[i] != '=')
			return PFL_MALFORMED;
		key.p = s.p;
		key.n = i;
		span_advance(&s, i + 1);
		if (key.n == 6 && memcmp(key.p, "status", 6) == 0)
			return (have_relay && read_status(s, ev)) ? PFL_DELIVERY : PFL_MALFORMED;
		if (s.n > 0 && s.p[0] == '<') {
			span_advance(&s, 1);
			if ((end = address_end(s)) == (size_t)-1)
				return PFL_MALFORMED;
			span_advance(&s, end + 1);
			continue;
		}
		for (i = 0; i + 1 < s.n && !(s.p[i] == ',' && s.p[i + 1] == ' '); i++)
			;
		if (i + 1 >= s.n)
			i = s.n;
		val.p = s.p;
		val.n = i;
		span_advance(&s, i);
		if (key.n == 5 && memcmp(key.p, "relay", 5) == 0) {
			if (!read_relay(val, ev))
				return PFL_MALFORMED;
			have_relay = true;
		} else if (key.n == 3 && memcmp(key.p, "dsn", 3) == 0) {
			if (!span_copy(ev->dsn, sizeof(ev->dsn), val))
				return PFL_MALFORMED;
		} else if (key.n == 8 && memcmp(key.p, "conn_use", 8) == 0) {
			int n = 0;

			for (i = 0; i < val.n && ll_is_digit(val.p[i]) && n < 1000000; i++)
				n = n * 10 + (val.p[i] - '0');
			if (i == 0 || i != val.n)
				return PFL_MALFORMED;
			ev->conn_use = n;
		}
	}
	return PFL_MALFORMED;	/* no status= */
}

/* The message of an smtp or lmtp line. */
static enum pfl_kind read_smtp_message(struct span s, struct pfl_event *ev)
{
	enum pfl_kind kind;
	bool warned = span_eat(&s, "warning: ");
	bool queued = read_queue_id(&s, ev);

	if (queued && span_eat(&s, "warning: "))
		warned = true;
	if ((kind = read_connection(s, ev)) != PFL_IGNORED)
		return kind;
	if ((kind = read_failure(s, ev, queued && !warned)) != PFL_IGNORED)
		return kind;
	if (!queued)
		return PFL_IGNORED;
	if (span_eat(&s, "to=<"))
		return read_delivery(s, ev);
	if (warned || !has_tls_phrase(s))
		return PFL_IGNORED;
	copy_reason(ev, s);
	ev->result_type = classify(s);
	return PFL_QUEUE_TLS_FAILURE;
}

static enum pfl_kind parse(const struct logrec *r, struct pfl_event *ev)
{
	bool too_long = r->size > PFL_MAX_LINE;

	if (!read_tag(r, ev))
		return PFL_IGNORED;
	if (is_program(ev, "tlsproxy")) {
		if (too_long)
			return PFL_IGNORED;
		return read_connection(r->msg, ev) == PFL_TLS_ESTABLISHED
		    ? PFL_TLS_ESTABLISHED : PFL_IGNORED;
	}
	if (!is_program(ev, "smtp") && !is_program(ev, "lmtp"))
		return PFL_IGNORED;
	if (too_long)
		return PFL_MALFORMED;
	return read_smtp_message(r->msg, ev);
}

/* What an unused line leaves in *ev: nothing, or for a malformed one its program and pid. */
static enum pfl_kind finish(enum pfl_kind kind, struct pfl_event *ev)
{
	if (kind == PFL_IGNORED || kind == PFL_MALFORMED) {
		char program[sizeof(ev->program)];
		long pid = ev->pid;

		memcpy(program, ev->program, sizeof(program));
		memset(ev, 0, sizeof(*ev));
		if (kind == PFL_MALFORMED) {
			memcpy(ev->program, program, sizeof(program));
			ev->pid = pid;
		}
	}
	ev->kind = kind;
	return kind;
}

enum pfl_kind pfl_parse_rec(const struct logrec *r, struct pfl_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	return finish(parse(r, ev), ev);
}

enum pfl_kind pfl_parse(const char *line, size_t len, struct pfl_event *ev)
{
	struct logrec r;

	memset(ev, 0, sizeof(*ev));
	return finish(ll_split_line(line, len, &r) ? parse(&r, ev) : PFL_IGNORED, ev);
}
