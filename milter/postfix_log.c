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
 *	RFC 8460; session.h for the result type codes.
 */
#include "postfix_log.h"

#include <stdbool.h>
#include <string.h>

#include "session.h"

/* A read-only window on the line; nothing here reads past p + n. */
struct span {
	const char *p;
	size_t n;
};

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(int c)
{
	return is_digit(c) || is_alpha(c);
}

static void advance(struct span *s, size_t k)
{
	s->p += k;
	s->n -= k;
}

static bool starts_with(struct span s, const char *lit)
{
	size_t k = strlen(lit);

	return s.n >= k && memcmp(s.p, lit, k) == 0;
}

static bool eat(struct span *s, const char *lit)
{
	if (!starts_with(*s, lit))
		return false;
	advance(s, strlen(lit));
	return true;
}

/* Case-insensitive search of lit in s; the offset, or (size_t)-1. */
static size_t find_ci(struct span s, const char *lit)
{
	size_t k = strlen(lit);
	size_t i, j;

	if (k > s.n)
		return (size_t)-1;
	for (i = 0; i + k <= s.n; i++) {
		for (j = 0; j < k; j++)
			if (lower((unsigned char)s.p[i + j]) != lower((unsigned char)lit[j]))
				break;
		if (j == k)
			return i;
	}
	return (size_t)-1;
}

static bool contains_ci(struct span s, const char *lit)
{
	return find_ci(s, lit) != (size_t)-1;
}

/* Copy n bytes and terminate; false if they do not fit or hold a NUL. */
static bool copy_field(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size || memchr(src, '\0', n) != NULL)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

static void copy_reason(struct pfl_event *ev, struct span s)
{
	size_t n = s.n;
	const char *nul = memchr(s.p, '\0', n);

	if (nul != NULL)
		n = (size_t)(nul - s.p);
	if (n >= sizeof(ev->reason)) {
		n = sizeof(ev->reason) - 1;
		ev->reason_truncated = 1;
	}
	memcpy(ev->reason, s.p, n);
	ev->reason[n] = '\0';
}

/* Map failure text to an RFC 8460 result type; 0 if nothing matches. */
static int classify(struct span s)
{
	if (contains_ci(s, "certificate has expired"))
		return RESULT_CERTIFICATE_EXPIRED;
	if (contains_ci(s, "hostname mismatch") || contains_ci(s, "num=62"))
		return RESULT_CERTIFICATE_HOST_MISMATCH;
	if (contains_ci(s, "no matching DANE TLSA records") || contains_ci(s, "num=65"))
		return RESULT_TLSA_INVALID;
	if (contains_ci(s, "self-signed certificate")
	    || contains_ci(s, "self signed certificate")
	    || contains_ci(s, "untrusted issuer")
	    || contains_ci(s, "unable to get local issuer certificate")
	    || contains_ci(s, "Server certificate not trusted"))
		return RESULT_CERTIFICATE_NOT_TRUSTED;
	if (contains_ci(s, "TLS is required, but was not offered by host")
	    || contains_ci(s, "refused to start TLS"))
		return RESULT_STARTTLS_NOT_SUPPORTED;
	if (contains_ci(s, "handshake failure") || contains_ci(s, "SSL_connect error"))
		return RESULT_VALIDATION_FAILURE;
	if (contains_ci(s, "Server certificate not verified"))
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
		if (contains_ci(s, phrases[i]))
			return true;
	return false;
}

/* Skip one token of non-space bytes and the single space after it. */
static bool skip_token(struct span *s)
{
	size_t i = 0;

	while (i < s->n && s->p[i] != ' ')
		i++;
	if (i == 0 || i == s->n)
		return false;
	advance(s, i + 1);
	return true;
}

/* "Nov 23 18:41:55 host " or "Nov  3 ..."; s is left at the tag. */
static bool skip_classic_prefix(struct span *s)
{
	struct span t = *s;

	if (t.n < 4 || !is_alpha(t.p[0]) || !is_alpha(t.p[1]) || !is_alpha(t.p[2])
	    || t.p[3] != ' ')
		return false;
	advance(&t, 4);
	if (t.n > 0 && t.p[0] == ' ')
		advance(&t, 1);
	if (t.n == 0 || !is_digit(t.p[0]))
		return false;
	if (!skip_token(&t))		/* day */
		return false;
	if (t.n == 0 || !is_digit(t.p[0]) || !skip_token(&t))	/* time */
		return false;
	if (!skip_token(&t))		/* host */
		return false;
	*s = t;
	return true;
}

/* "2026-11-23T18:41:55.123456+00:00 host "; s is left at the tag. */
static bool skip_iso_prefix(struct span *s)
{
	struct span t = *s;
	int i;

	if (t.n < 11)
		return false;
	for (i = 0; i < 4; i++)
		if (!is_digit(t.p[i]))
			return false;
	if (t.p[4] != '-' || t.p[10] != 'T')
		return false;
	if (!skip_token(&t) || !skip_token(&t))
		return false;
	*s = t;
	return true;
}

/*
 * The tag "name/program[pid]: ".  On success ev->program and ev->pid are
 * set and s is left at the message.  A tag without "/" (sendmail, kernel)
 * is not Postfix's.
 */
static bool read_tag(struct span *s, struct pfl_event *ev)
{
	size_t i = 0, slash = (size_t)-1, digits = 0;
	long pid = 0;

	while (i < s->n && s->p[i] != '[' && s->p[i] != ' ' && s->p[i] != ':') {
		if (s->p[i] == '/')
			slash = i;
		i++;
	}
	if (i == s->n || s->p[i] != '[' || slash == (size_t)-1)
		return false;
	if (!copy_field(ev->program, sizeof(ev->program), s->p + slash + 1, i - slash - 1))
		return false;
	for (i++; i < s->n && is_digit(s->p[i]); i++) {
		if (++digits > 9)
			return false;
		pid = pid * 10 + (s->p[i] - '0');
	}
	if (digits == 0 || s->n - i < 3 || memcmp(s->p + i, "]: ", 3) != 0)
		return false;
	ev->pid = pid;
	advance(s, i + 3);
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

	while (i < s->n && is_alnum(s->p[i])) {
		if (!(s->p[i] >= 'a' && s->p[i] <= 'z'))
			id_like = true;
		i++;
	}
	if (i < 5 || i >= sizeof(ev->queue_id) || !id_like)
		return false;
	if (s->n - i < 2 || s->p[i] != ':' || s->p[i + 1] != ' ')
		return false;
	if (!copy_field(ev->queue_id, sizeof(ev->queue_id), s->p, i))
		return false;
	advance(s, i + 2);
	return true;
}

/* Lower case, one trailing dot removed. */
static void normalise_host(char *h)
{
	size_t n;

	for (n = 0; h[n] != '\0'; n++)
		h[n] = (char)lower((unsigned char)h[n]);
	if (n > 1 && h[n - 1] == '.')
		h[n - 1] = '\0';
}

/*
 * "MX[IP]" with an optional ":PORT"; s is left after it.  The host may
 * not hold spaces, commas or brackets; IPv6 needs no special care since
 * the address ends at "]".
 */
static bool read_host_addr(struct span *s, struct pfl_event *ev)
{
	size_t i = 0, open, close;
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
	if (!copy_field(ev->mx, sizeof(ev->mx), s->p, open)
	    || !copy_field(ev->ip, sizeof(ev->ip), s->p + open + 1, close - open - 1))
		return false;
	normalise_host(ev->mx);
	i = close + 1;
	if (i + 1 < s->n && s->p[i] == ':' && is_digit(s->p[i + 1])) {
		for (i++; i < s->n && is_digit(s->p[i]); i++) {
			if (++digits > 5)
				return false;
			port = port * 10 + (s->p[i] - '0');
		}
		if (port < 1 || port > 65535)
			return false;
	}
	ev->port = (int)port;
	advance(s, i);
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
		if (eat(&s, trust_words[i].word))
			break;
	if (i == sizeof(trust_words) / sizeof(trust_words[0]))
		return PFL_IGNORED;
	ev->trust = trust_words[i].trust;
	if (eat(&s, "TLS connection established to "))
		kind = PFL_TLS_ESTABLISHED;
	else if (eat(&s, "TLS connection reused to "))
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
	if (!eat(&s, ": "))
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

	if (eat(&s, "server certificate verification failed for ")
	    || eat(&s, "certificate verification failed for ")
	    || eat(&s, "SSL_connect error to ")) {
		if (!read_host_addr(&s, ev))
			return PFL_MALFORMED;
		return read_failure_reason(s, ev);
	}
	if (eat(&s, "TLS is required, but was not offered by host ")) {
		if (!read_host_addr(&s, ev))
			return PFL_MALFORMED;
		copy_reason(ev, msg);
		ev->result_type = RESULT_STARTTLS_NOT_SUPPORTED;
		return ok;
	}
	if (eat(&s, "TLS is required, but host ")) {
		if (!read_host_addr(&s, ev) || !eat(&s, " refused to start TLS"))
			return PFL_MALFORMED;
		if (eat(&s, ": "))
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
	if (at == (size_t)-1)
		return copy_field(ev->rcpt_domain, sizeof(ev->rcpt_domain), "", 0);
	if (!copy_field(ev->rcpt_domain, sizeof(ev->rcpt_domain), addr.p + at + 1,
			addr.n - at - 1))
		return false;
	normalise_host(ev->rcpt_domain);
	return true;
}

/* "status=S (reason)" at the end of a delivery line. */
static bool read_status(struct span s, struct pfl_event *ev)
{
	size_t i = 0;
	struct span reason;

	while (i < s.n && s.p[i] != ' ')
		i++;
	if (i == 0 || !copy_field(ev->status, sizeof(ev->status), s.p, i))
		return false;
	advance(&s, i);
	if (s.n == 0)
		return true;
	if (!eat(&s, " (") || s.n == 0 || s.p[s.n - 1] != ')')
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
	advance(&s, end + 1);
	while (eat(&s, ", ")) {
		for (i = 0; i < s.n && s.p[i] != '=' && s.p[i] != ' ' && s.p[i] != ','; i++)
			;
		if (i == 0 || i == s.n || s.p[i] != '=')
			return PFL_MALFORMED;
		key.p = s.p;
		key.n = i;
		advance(&s, i + 1);
		if (key.n == 6 && memcmp(key.p, "status", 6) == 0)
			return (have_relay && read_status(s, ev)) ? PFL_DELIVERY : PFL_MALFORMED;
		if (s.n > 0 && s.p[0] == '<') {
			advance(&s, 1);
			if ((end = address_end(s)) == (size_t)-1)
				return PFL_MALFORMED;
			advance(&s, end + 1);
			continue;
		}
		for (i = 0; i + 1 < s.n && !(s.p[i] == ',' && s.p[i + 1] == ' '); i++)
			;
		if (i + 1 >= s.n)
			i = s.n;
		val.p = s.p;
		val.n = i;
		advance(&s, i);
		if (key.n == 5 && memcmp(key.p, "relay", 5) == 0) {
			if (!read_relay(val, ev))
				return PFL_MALFORMED;
			have_relay = true;
		} else if (key.n == 3 && memcmp(key.p, "dsn", 3) == 0) {
			if (!copy_field(ev->dsn, sizeof(ev->dsn), val.p, val.n))
				return PFL_MALFORMED;
		} else if (key.n == 8 && memcmp(key.p, "conn_use", 8) == 0) {
			int n = 0;

			for (i = 0; i < val.n && is_digit(val.p[i]) && n < 1000000; i++)
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
	bool warned = eat(&s, "warning: ");
	bool queued = read_queue_id(&s, ev);

	if (queued && eat(&s, "warning: "))
		warned = true;
	if ((kind = read_connection(s, ev)) != PFL_IGNORED)
		return kind;
	if ((kind = read_failure(s, ev, queued && !warned)) != PFL_IGNORED)
		return kind;
	if (!queued)
		return PFL_IGNORED;
	if (eat(&s, "to=<"))
		return read_delivery(s, ev);
	if (warned || !has_tls_phrase(s))
		return PFL_IGNORED;
	copy_reason(ev, s);
	ev->result_type = classify(s);
	return PFL_QUEUE_TLS_FAILURE;
}

static enum pfl_kind parse(struct span s, struct pfl_event *ev)
{
	bool too_long = s.n > PFL_MAX_LINE;

	if (!skip_iso_prefix(&s))
		(void)skip_classic_prefix(&s);
	if (!read_tag(&s, ev))
		return PFL_IGNORED;
	if (is_program(ev, "tlsproxy")) {
		if (too_long)
			return PFL_IGNORED;
		return read_connection(s, ev) == PFL_TLS_ESTABLISHED
		    ? PFL_TLS_ESTABLISHED : PFL_IGNORED;
	}
	if (!is_program(ev, "smtp") && !is_program(ev, "lmtp"))
		return PFL_IGNORED;
	if (too_long)
		return PFL_MALFORMED;
	return read_smtp_message(s, ev);
}

enum pfl_kind pfl_parse(const char *line, size_t len, struct pfl_event *ev)
{
	struct span s = {line, len};
	enum pfl_kind kind;

	memset(ev, 0, sizeof(*ev));
	if (line == NULL)
		s.n = 0;
	kind = parse(s, ev);
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
