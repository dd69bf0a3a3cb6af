/*
 * NAME
 *	sendmail_log - Sendmail's outbound TLS log lines into session results
 * SYNOPSIS
 *	#include "sendmail_log.h"
 * DESCRIPTION
 *	See sendmail_log.h and ../shared/spec/sendmail-8.17-tls.md.
 *
 *	Lines.  Prefixes: classic syslog ("Nov 23 21:16:29 host "), ISO/RFC
 *	3339 ("2026-11-23T21:16:29.123+00:00 host ") or none.  The syslog tag
 *	must be exactly "sm-mta[pid]: " or "sendmail[pid]: "; sm-msp-queue
 *	(local submission) and Postfix's "postfix/sendmail" are ignored.  An
 *	optional queue id ("2ANLGTxx001234: ", or "NOQUEUE: ") follows; Sendmail
 *	writes it on delivery and tls_rcpt lines, not on STARTTLS lines.  The
 *	forms read are those of enum sml_kind.  A long message that syslog
 *	split ("QID[2]: ...") is not reassembled.
 *
 *	Sessions.  Everything is keyed by process id: Sendmail logs the TLS
 *	lines, the ruleset rejects and the delivery lines of one delivery
 *	attempt from the one process that makes it.  A process P may hold
 *	several SMTP connections at once (its connection cache), one per
 *	relay host R, and may carry several queue ids over each.  A
 *	"connection" below is the pair (P, R); it ends when P logs a new
 *	STARTTLS=client line for R or when P has been quiet for
 *	stale_after_s.  Queue ids only name report mails (rule 10).
 *
 *	What counts as a failure.  All results are no-policy-found: the log
 *	does not say whether the recipient domain publishes MTA-STS or DANE.
 *	RFC 8460 section 4.3 defines the result types by what the sending
 *	MTA saw while negotiating TLS with the receiving MX (4.3.1,
 *	negotiation failures), not by whether the sender's own settings then
 *	stopped the mail; and without a policy nothing else decides which
 *	checks "applied".  So a session is a success only when STARTTLS
 *	completed, the certificate chain verified (verify=OK, or TRUSTED by
 *	DANE) and no mismatch between certificate and MX name could be seen.
 *	A certificate fault is a failure whether Sendmail enforced it
 *	(TLS_Srv/TLS_Rcpt VERIFY: the mail is deferred) or not (opportunistic:
 *	the mail went out encrypted anyway).  Both verify=FAIL and a name
 *	mismatch are treated this way, at every level, so the two agree.
 *	(Postfix before 3.10 logs no certificate fault at "may", so
 *	postfix_sessions.c cannot do the same for opportunistic sessions.)
 *
 *	LogLevel: relay lines need 9 (Sendmail's default), cert-subject
 *	lines 12, "TLS cert verify" lines 14, AltName lines 15 and a
 *	Sendmail built with _FFR_TLS_ALTNAMES; the tls_rcpt and tls_server
 *	rejects are logged from 4 and 6.  With less, rules 1 and 2 see less
 *	(see each) and rule 7 waits.  Results are emitted when a delivery
 *	line decides them, never by sml_expire().
 *
 *	Rules:
 *	1. "STARTTLS=client, relay=R, ..., verify=X" from P starts a TLS
 *	   connection (P, R), replacing an earlier one of P to R.  X decides:
 *	   OK and TRUSTED success; FAIL a certificate failure, its type from
 *	   the reason of P's preceding "TLS cert verify" line, else from the
 *	   verifymsg of the cert-subject line that follows: "certificate has
 *	   expired" certificate-expired; self-signed, unknown or missing
 *	   issuer certificate-not-trusted; anything else validation-failure;
 *	   DANE_FAIL tlsa-invalid; NO/NOT (no certificate) validation-failure.
 *	2. Name check: with verify=OK, when P logged "AltName=" lines for R
 *	   (LogLevel 15, a Sendmail built with _FFR_TLS_ALTNAMES), those names
 *	   are compared with R, as RFC 6125 wants; "*." matches exactly one
 *	   left-most label and needs two labels after it.  No match:
 *	   certificate-host-mismatch.  The CN of the "cert-subject=" line is
 *	   not compared: it is often another of the certificate's names, so
 *	   a differing CN is no evidence.  Without AltName lines, or with an
 *	   address literal as R, nothing could be seen: no failure.
 *	3. Each delivery line of P to relay R belongs to (P, R); each
 *	   distinct recipient domain of its to= list is emitted once per
 *	   connection, at its first delivery line, whatever the stat=:
 *	   success, or the connection's failure.
 *	4. "STARTTLS=client, error: connect failed=..." (the handshake
 *	   failed) is held for P; the "ruleset=tls_server, arg1=SOFTWARE,
 *	   relay=R, reject=..." line Sendmail logs next turns it into an
 *	   ended connection (P, R): validation-failure, with the OpenSSL
 *	   reason of the connect line, else the reject text.  If no tls_server
 *	   line comes, P's next delivery line names R.  Other tls_server
 *	   rejects end the connection too: arg1=NONE (TLS required, not
 *	   offered) starttls-not-supported; after a relay line for R (e.g.
 *	   TLS_Srv VERIFY refused verify=FAIL) the session keeps what rule 1
 *	   and 2 made of it.
 *	5. An ended connection that had no delivery (Sendmail went on to the
 *	   next MX) gives its result to the domains of P's next delivery
 *	   line to another relay; the later delivery lines to R itself (the
 *	   deferral, or the clear-text retry of confTLS_FALLBACK_TO_CLEAR)
 *	   join it by rule 3, so a failed handshake counts once per domain.
 *	6. "ruleset=tls_rcpt, arg1=ADDR, relay=R, reject=..." with no
 *	   connection (P, R): there was no TLS; "other side does not support
 *	   STARTTLS" makes it starttls-not-supported (any other text
 *	   validation-failure) with the reject text as reason; the deferral
 *	   line that follows gives the domain (rule 3).  With a connection it
 *	   changes nothing: the session already has its result.
 *	7. A delivery line with stat=Sent and no connection (P, R) was plain
 *	   text: starttls-not-supported, reason "delivered in plain text" -
 *	   but only once this sml has seen a STARTTLS=client relay line.
 *	   Before that LogLevel is probably below 9, successes are invisible
 *	   too, and the line is only counted (uncounted).
 *	8. A deferred or bounced delivery without connection whose stat text
 *	   names a TLS fault ("does not support STARTTLS", "TLS handshake
 *	   failed") starts a failed connection with that type; without such
 *	   text (e.g. connection refused) it is not a TLS session
 *	   (uncounted).  Recipients without a usable domain are uncounted.
 *	9. Connections to the local host (relay "localhost", "[127.x.x.x]"
 *	   or "[IPv6:::1]": a submission program or content filter hop, never
 *	   a recipient's MX) are ignored.
 *	10. Lines of a queue id the skip function names (our own report
 *	   mails, RFC 8460 section 5.3) make no result: a tls_rcpt line
 *	   starts nothing, a delivery line uses up the connection it names
 *	   and ended connections it would resolve (skipped_report_mails).
 *	11. A connection that ends without a delivery line naming its
 *	   recipients cannot be reported: counted (no_delivery).
 *
 *	Memory: at most max_pids processes (the least recently active is
 *	evicted), SML_MAX_CONNS connections per process and SML_MAX_DOMAINS
 *	domains per connection; what the caps cost is counted (dropped).  A
 *	process holds no queue ids, so they need no cap of their own.
 * DIAGNOSTICS
 *	None; sml_get_stats() counts everything not emitted.
 * SEE ALSO
 *	RFC 8460 sections 4.3 and 5.3; postfix_sessions.c, the Postfix
 *	counterpart; session.h for the result types; logline.h (the line
 *	prefix and spans) and lru.h (the process table), shared with the
 *	Postfix side.
 */
#include "sendmail_log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logline.h"
#include "lru.h"
#include "util.h"

/* ==== the parser ======================================================= */

/* Free text into ev->reason, cut (and marked so) at the field's size. */
static void copy_reason(struct sml_event *ev, struct span v)
{
	if (span_copy_text(ev->reason, sizeof(ev->reason), v))
		ev->reason_truncated = true;
}

/* The tag "sm-mta[pid]: " or "sendmail[pid]: "; anything else is not ours. */
static bool read_tag(const struct logrec *r, struct sml_event *ev)
{
	if (!span_copy(ev->program, sizeof(ev->program), r->name))
		return false;
	if (strcmp(ev->program, "sm-mta") != 0 && strcmp(ev->program, "sendmail") != 0)
		return false;
	ev->pid = r->pid;
	return true;
}

/* "QID: " (7..31 alphanumerics with a digit) or "NOQUEUE: ", if there. */
static void read_queue_id(struct span *s, struct sml_event *ev)
{
	size_t i = 0;
	bool digit = false;

	if (span_eat(s, "NOQUEUE: "))
		return;
	while (i < s->n && ll_is_alnum(s->p[i])) {
		if (ll_is_digit(s->p[i]))
			digit = true;
		i++;
	}
	if (i < 7 || i >= sizeof(ev->queue_id) || !digit)
		return;
	if (s->n - i < 2 || s->p[i] != ':' || s->p[i + 1] != ' ')
		return;
	(void)span_copy(ev->queue_id, sizeof(ev->queue_id), span_first(*s, i));
	span_advance(s, i + 2);
}

/* The RFC 8460 type a reject or stat text names, or 0. */
static int classify_text(struct span s)
{
	if (span_contains_ci(s, "does not support STARTTLS"))
		return RESULT_STARTTLS_NOT_SUPPORTED;
	if (span_contains_ci(s, "TLS handshake failed"))
		return RESULT_VALIDATION_FAILURE;
	return 0;
}

/* "454 4.7.0 text" -> "text": the reply code and enhanced code go. */
static struct span strip_codes(struct span s)
{
	size_t i;

	s = span_trim(s);
	if (s.n >= 4 && ll_is_digit(s.p[0]) && ll_is_digit(s.p[1]) && ll_is_digit(s.p[2])
	    && (s.p[3] == ' ' || s.p[3] == '-'))
		span_advance(&s, 4);
	for (i = 0; i < s.n && (ll_is_digit(s.p[i]) || s.p[i] == '.'); i++)
		;
	if (i >= 5 && i < s.n && s.p[i] == ' ' && ll_is_digit(s.p[0]) && s.p[1] == '.')
		span_advance(&s, i + 1);
	return span_trim(s);
}

/* A verify= or arg1= value: upper case letters, digits and '_'. */
static bool copy_word(char *dst, size_t size, struct span v)
{
	size_t i;

	if (v.n == 0)
		return false;
	for (i = 0; i < v.n; i++)
		if (!((v.p[i] >= 'A' && v.p[i] <= 'Z') || ll_is_digit(v.p[i]) || v.p[i] == '_'))
			return false;
	return span_copy(dst, size, v);
}

/* A relay host: one token, lower case, no trailing dot. */
static bool copy_host(char *dst, size_t size, struct span v)
{
	size_t i;

	if (v.n == 0)
		return false;
	for (i = 0; i < v.n; i++)
		if (v.p[i] == ' ' || v.p[i] == ',')
			return false;
	if (!span_copy(dst, size, v))
		return false;
	ll_normalise_host(dst);
	return true;
}

/*
 * "relay=R, version=V, verify=X, cipher=C, bits=N/M[, ...]" (s after
 * "relay="); all of it must be there, so that a cut line is malformed.
 */
static enum sml_kind read_session(struct span s, struct sml_event *ev)
{
	size_t at = span_find(s, ", version=");
	size_t i;

	if (at == SPAN_NPOS || !copy_host(ev->relay, sizeof(ev->relay), span_first(s, at)))
		return SML_EV_MALFORMED;
	span_advance(&s, at + strlen(", version="));
	if ((at = span_find(s, ", verify=")) == SPAN_NPOS
	    || !span_copy(ev->version, sizeof(ev->version), span_first(s, at)))
		return SML_EV_MALFORMED;
	span_advance(&s, at + strlen(", verify="));
	if ((at = span_find(s, ", cipher=")) == SPAN_NPOS
	    || !copy_word(ev->verify, sizeof(ev->verify), span_first(s, at)))
		return SML_EV_MALFORMED;
	span_advance(&s, at + strlen(", cipher="));
	if ((at = span_find(s, ", bits=")) == SPAN_NPOS)
		return SML_EV_MALFORMED;
	span_advance(&s, at + strlen(", bits="));
	for (i = 0; i < s.n && ll_is_digit(s.p[i]); i++)
		;
	if (i == 0 || i == s.n || s.p[i] != '/')
		return SML_EV_MALFORMED;
	span_advance(&s, i + 1);
	for (i = 0; i < s.n && ll_is_digit(s.p[i]); i++)
		;
	if (i == 0 || (i < s.n && s.p[i] != ','))
		return SML_EV_MALFORMED;
	return SML_EV_SESSION;
}

/*
 * The last "/CN=" of an xtext-encoded X509_NAME_oneline() subject, decoded
 * and lower-cased into ev->cn.  cn_known is false when the value cannot be
 * trusted (cut, too long, holding a NUL).
 */
static void take_cn(struct span subject, struct sml_event *ev)
{
	char buf[512];
	size_t n = 0, i;
	struct span d, v;

	ev->cn_known = subject.n < 256;		/* Sendmail prints at most 256 bytes */
	for (i = 0; i < subject.n && n < sizeof(buf); i++) {
		int hi, lo;

		if (subject.p[i] == '+' && i + 2 < subject.n
		    && (hi = hex_digit_value((unsigned char)subject.p[i + 1])) >= 0
		    && (lo = hex_digit_value((unsigned char)subject.p[i + 2])) >= 0) {
			buf[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			buf[n++] = subject.p[i];
		}
	}
	if (i < subject.n)
		ev->cn_known = false;
	d.p = buf;
	d.n = n;
	if ((i = span_find_last(d, "/CN=")) == SPAN_NPOS)
		return;
	span_advance(&d, i + 4);
	v = d;
	if ((i = span_find(v, "/")) != SPAN_NPOS)
		v.n = i;
	if (!span_copy(ev->cn, sizeof(ev->cn), v)) {
		ev->cn[0] = '\0';
		ev->cn_known = false;
		return;
	}
	ll_normalise_host(ev->cn);
}

/* "cert-subject=S, cert-issuer=I, verifymsg=M" (s after "cert-subject="). */
static enum sml_kind read_cert(struct span s, struct sml_event *ev)
{
	size_t at = span_find(s, ", cert-issuer=");
	struct span rest;

	if (at == SPAN_NPOS)
		return SML_EV_MALFORMED;
	take_cn(span_first(s, at), ev);
	rest = s;
	span_advance(&rest, at + strlen(", cert-issuer="));
	if ((at = span_find_last(rest, ", verifymsg=")) == SPAN_NPOS)
		return SML_EV_MALFORMED;
	span_advance(&rest, at + strlen(", verifymsg="));
	copy_reason(ev, span_trim(rest));
	return SML_EV_CERT;
}

/* "relay=R, AltName=N" (s after "relay="). */
static enum sml_kind read_altname(struct span s, struct sml_event *ev)
{
	size_t at = span_find(s, ", AltName=");
	struct span name = s;

	span_advance(&name, at + strlen(", AltName="));
	if (!copy_host(ev->relay, sizeof(ev->relay), span_first(s, at))
	    || !copy_host(ev->altname, sizeof(ev->altname), span_trim(name)))
		return SML_EV_MALFORMED;
	return SML_EV_ALTNAME;
}

/* "connect failed=N[, reason=T, SSL_error=...]" (s after "connect failed="). */
static enum sml_kind read_connect_failed(struct span s, struct sml_event *ev)
{
	size_t i = 0, at;

	if (s.n > 0 && s.p[0] == '-')
		i++;
	if (i >= s.n || !ll_is_digit(s.p[i]))
		return SML_EV_MALFORMED;
	while (i < s.n && ll_is_digit(s.p[i]))
		i++;
	span_advance(&s, i);
	if (span_eat(&s, ", reason=")) {
		if ((at = span_find(s, ", SSL_error=")) != SPAN_NPOS)
			s.n = at;
		copy_reason(ev, span_trim(s));
	} else if (s.n > 0 && s.p[0] != ',') {
		return SML_EV_MALFORMED;
	}
	return SML_EV_CONNECT_FAILED;
}

/* The lines after "STARTTLS=client, ". */
static enum sml_kind read_client(struct span s, struct sml_event *ev)
{
	if (span_eat(&s, "relay=")) {
		if (span_find(s, ", AltName=") != SPAN_NPOS)
			return read_altname(s, ev);
		if (span_find(s, ", field=") != SPAN_NPOS)
			return SML_EV_IGNORED;	/* "status=failed to extract CN" etc. */
		return read_session(s, ev);
	}
	if (span_eat(&s, "cert-subject="))
		return read_cert(s, ev);
	if (span_eat(&s, "error: connect failed="))
		return read_connect_failed(s, ev);
	return SML_EV_IGNORED;
}

/* "depth=D SUBJECT, state=N, reason=T" (s after "cert verify: "). */
static enum sml_kind read_verify(struct span s, struct sml_event *ev)
{
	size_t i, at;
	int state = 0;

	if (!span_eat(&s, "depth="))
		return SML_EV_MALFORMED;
	for (i = 0; i < s.n && ll_is_digit(s.p[i]) && i < 4; i++)
		;
	if (i == 0 || i == s.n || s.p[i] != ' ')
		return SML_EV_MALFORMED;
	if ((at = span_find_last(s, ", state=")) == SPAN_NPOS)
		return SML_EV_MALFORMED;
	span_advance(&s, at + strlen(", state="));
	for (i = 0; i < s.n && ll_is_digit(s.p[i]) && i < 4; i++)
		state = state * 10 + (s.p[i] - '0');
	if (i == 0)
		return SML_EV_MALFORMED;
	span_advance(&s, i);
	if (!span_eat(&s, ", reason="))
		return SML_EV_MALFORMED;
	ev->state = state;
	copy_reason(ev, span_trim(s));
	return SML_EV_VERIFY;
}

/* A "cert verify: " line, with or without "STARTTLS: " before it. */
static bool is_verify_line(struct span s, struct span *rest)
{
	size_t i = 0;

	(void)span_eat(&s, "STARTTLS: ");
	while (i < s.n && i < 16 && ll_is_alnum(s.p[i]))
		i++;
	if (i == 0)
		return false;
	span_advance(&s, i);
	if (!span_eat(&s, " cert verify: "))
		return false;
	*rest = s;
	return true;
}

/* The recipient's domain (after the last unquoted '@'); false if none. */
static bool rcpt_domain(struct span r, char *dst, size_t size)
{
	size_t i, at = SPAN_NPOS;
	bool quoted = false;

	r = span_trim(r);
	if (r.n >= 2 && r.p[0] == '<' && r.p[r.n - 1] == '>') {
		span_advance(&r, 1);
		r.n--;
	}
	for (i = 0; i < r.n; i++) {
		if (quoted && r.p[i] == '\\' && i + 1 < r.n)
			i++;
		else if (r.p[i] == '"')
			quoted = !quoted;
		else if (!quoted && r.p[i] == '@')
			at = i;
	}
	if (at == SPAN_NPOS)
		return false;
	span_advance(&r, at + 1);
	return span_copy(dst, size, r) && domain_normalise(dst);
}

static void add_rcpt(struct span r, struct sml_event *ev)
{
	char domain[sizeof(ev->domains[0])];
	size_t i;

	r = span_trim(r);
	if (r.n == 0 || (r.n == 6 && memcmp(r.p, "[more]", 6) == 0))
		return;		/* the end of a to= list Sendmail split */
	if (!rcpt_domain(r, domain, sizeof(domain))) {
		ev->bad_rcpts++;
		return;
	}
	for (i = 0; i < ev->ndomains; i++)
		if (strcmp(ev->domains[i], domain) == 0)
			return;
	if (ev->ndomains == SML_LINE_DOMAINS) {
		ev->more_domains++;
		return;
	}
	memcpy(ev->domains[ev->ndomains++], domain, sizeof(domain));
}

/* The comma-separated to= list; commas in quotes or <...> do not split. */
static void take_rcpts(struct span to, struct sml_event *ev)
{
	size_t i, start = 0;
	bool quoted = false;
	int angle = 0;

	for (i = 0; i <= to.n; i++) {
		char c = i < to.n ? to.p[i] : ',';

		if (i == to.n || (c == ',' && !quoted && angle == 0)) {
			struct span r = {to.p + start, i - start};

			add_rcpt(r, ev);
			start = i + 1;
		} else if (quoted && c == '\\' && i + 1 < to.n) {
			i++;
		} else if (c == '"') {
			quoted = !quoted;
		} else if (!quoted && c == '<') {
			angle++;
		} else if (!quoted && c == '>' && angle > 0) {
			angle--;
		}
	}
}

static const char *const delivery_keys[] = {
	", ctladdr=", ", delay=", ", xdelay=", ", mailer=", ", pri=", ", relay=",
	", dsn=", ", stat=",
};

/* Where the value that starts s ends: at the next ", key=" of a delivery line. */
static size_t value_end(struct span s)
{
	size_t end = s.n, i, at;

	for (i = 0; i < sizeof(delivery_keys) / sizeof(delivery_keys[0]); i++)
		if ((at = span_find(s, delivery_keys[i])) != SPAN_NPOS && at < end)
			end = at;
	return end;
}

/* The value of key (", relay=") in fields, or false. */
static bool delivery_field(struct span fields, const char *key, struct span *v)
{
	size_t at = span_find(fields, key);

	if (at == SPAN_NPOS)
		return false;
	span_advance(&fields, at + strlen(key));
	*v = span_first(fields, value_end(fields));
	return true;
}

/* "R [IP]" or "R" (with "(may be forged)" and the like after it). */
static bool read_relay(struct span v, struct sml_event *ev)
{
	size_t i = 0, close;

	while (i < v.n && v.p[i] != ' ')
		i++;
	if (!copy_host(ev->relay, sizeof(ev->relay), span_first(v, i)))
		return false;
	span_advance(&v, i);
	if (!span_eat(&v, " ["))
		return true;
	if ((close = span_find(v, "]")) == SPAN_NPOS || close == 0)
		return false;
	v.n = close;
	if (v.n > 5 && span_contains_ci(span_first(v, 5), "IPv6:"))
		span_advance(&v, 5);
	return span_copy(ev->ip, sizeof(ev->ip), v);
}

/* "to=RCPTS, [ctladdr=..., ]delay=..., ..., relay=R [IP], dsn=D, stat=S". */
static enum sml_kind read_delivery(struct span s, struct sml_event *ev)
{
	size_t to_end = value_end(s), at;
	struct span rest = s, fields, stat, v;

	if (to_end == s.n)
		return SML_EV_MALFORMED;
	span_advance(&rest, to_end);
	if ((at = span_find(rest, ", stat=")) == SPAN_NPOS)
		return SML_EV_MALFORMED;
	fields = span_first(rest, at);
	stat = rest;
	span_advance(&stat, at + strlen(", stat="));
	if (!delivery_field(fields, ", relay=", &v))
		return SML_EV_IGNORED;		/* local, prog, file: not SMTP */
	if (!read_relay(v, ev))
		return SML_EV_MALFORMED;
	if (delivery_field(fields, ", dsn=", &v) && !span_copy(ev->dsn, sizeof(ev->dsn), v))
		return SML_EV_MALFORMED;
	stat = span_trim(stat);
	if (stat.n == 0)
		return SML_EV_MALFORMED;
	ev->sent = span_starts_with(stat, "Sent");
	if (!ev->sent) {
		(void)span_eat(&stat, "Deferred: ");
		ev->result_type = classify_text(stat);
		stat = strip_codes(stat);
	}
	copy_reason(ev, stat);
	take_rcpts(span_first(s, to_end), ev);
	return SML_EV_DELIVERY;
}

/*
 * "arg1=A[, arg2=B], relay=R, reject=T" (s after "arg1=").  Rejects only:
 * "discard" and "quarantine=" are not about TLS.
 */
static enum sml_kind read_reject(struct span s, struct sml_event *ev, enum sml_kind kind)
{
	static const char *const ends[] = {", arg2=", ", relay=", ", reject="};
	size_t end = s.n, i, at;
	struct span arg1, relay, text;

	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		if ((at = span_find(s, ends[i])) != SPAN_NPOS && at < end)
			end = at;
	arg1 = span_first(s, end);
	span_advance(&s, end);
	if ((at = span_find(s, ", reject=")) == SPAN_NPOS)
		return (span_find(s, ", discard") != SPAN_NPOS
		    || span_find(s, ", quarantine=") != SPAN_NPOS) ? SML_EV_IGNORED : SML_EV_MALFORMED;
	text = s;
	span_advance(&text, at + strlen(", reject="));
	s.n = at;
	if ((at = span_find(s, ", relay=")) == SPAN_NPOS)
		return SML_EV_MALFORMED;
	relay = s;
	span_advance(&relay, at + strlen(", relay="));
	if ((at = span_find(relay, " ")) != SPAN_NPOS)
		relay.n = at;		/* "R [IP]" when it came from ${_} */
	if (!copy_host(ev->relay, sizeof(ev->relay), relay))
		return SML_EV_MALFORMED;
	ev->result_type = classify_text(text);
	copy_reason(ev, strip_codes(text));
	if (kind == SML_EV_TLS_SERVER)
		return copy_word(ev->verify, sizeof(ev->verify), span_trim(arg1)) ? kind
		    : SML_EV_MALFORMED;
	if (!rcpt_domain(arg1, ev->rcpt_domain, sizeof(ev->rcpt_domain)))
		ev->rcpt_domain[0] = '\0';
	return kind;
}

/* The message after the tag. */
static enum sml_kind read_message(struct span s, struct sml_event *ev)
{
	struct span rest;

	read_queue_id(&s, ev);
	if (span_eat(&s, "STARTTLS=client, "))
		return read_client(s, ev);
	if (span_starts_with(s, "STARTTLS=server"))
		return SML_EV_SERVER;
	if (is_verify_line(s, &rest))
		return read_verify(rest, ev);
	if (span_eat(&s, "ruleset=tls_server, arg1="))
		return read_reject(s, ev, SML_EV_TLS_SERVER);
	if (span_eat(&s, "ruleset=tls_rcpt, arg1="))
		return read_reject(s, ev, SML_EV_TLS_RCPT);
	if (span_eat(&s, "to="))
		return read_delivery(s, ev);
	return SML_EV_IGNORED;
}

/* Whether an over-long message is one of ours (then it is malformed). */
static bool is_our_form(struct span s, struct sml_event *ev)
{
	struct span rest;

	read_queue_id(&s, ev);
	return span_starts_with(s, "STARTTLS=client") || span_starts_with(s, "ruleset=tls_")
	    || span_starts_with(s, "to=") || is_verify_line(span_first(s, 64), &rest);
}

static enum sml_kind parse(const struct logrec *r, struct sml_event *ev)
{
	if (!read_tag(r, ev))
		return SML_EV_IGNORED;
	if (r->size > SML_MAX_LINE)
		return is_our_form(r->msg, ev) ? SML_EV_MALFORMED : SML_EV_IGNORED;
	return read_message(r->msg, ev);
}

/* What an unused line leaves in *ev: nothing, or for a malformed one its program and pid. */
static enum sml_kind finish(enum sml_kind kind, struct sml_event *ev)
{
	if (kind == SML_EV_IGNORED || kind == SML_EV_MALFORMED) {
		char program[sizeof(ev->program)];
		long pid = ev->pid;

		memcpy(program, ev->program, sizeof(program));
		memset(ev, 0, sizeof(*ev));
		if (kind == SML_EV_MALFORMED) {
			memcpy(ev->program, program, sizeof(program));
			ev->pid = pid;
		}
	}
	ev->kind = kind;
	return kind;
}

enum sml_kind sml_parse_rec(const struct logrec *r, struct sml_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	return finish(parse(r, ev), ev);
}

enum sml_kind sml_parse(const char *line, size_t len, struct sml_event *ev)
{
	struct logrec r;

	memset(ev, 0, sizeof(*ev));
	return finish(ll_split_line(line, len, &r) ? parse(&r, ev) : SML_EV_IGNORED, ev);
}

/* ==== the correlator =================================================== */

#define SML_MAX_CONNS 8		/* per process: Sendmail caches a few connections */
#define SML_MAX_DOMAINS 1024	/* per connection */
#define SML_MAX_ALTNAMES 32	/* AltName lines kept for one certificate */

enum verify_value {
	V_OK, V_TRUSTED, V_FAIL, V_DANE_FAIL, V_NO, V_NOT, V_NONE, V_SOFTWARE, V_OTHER,
};

/* One SMTP connection (P, R); see the head comment. */
struct conn {
	struct conn *next;	/* P's connections, most recently used first */
	unsigned long long seq;	/* creation order */
	char *relay;
	char *ip;		/* from the first delivery line that names one */
	bool tls;		/* started by a STARTTLS=client relay line */
	bool ended;		/* dropped before mail: handshake failure, tls_server reject */
	bool detached;		/* ended, and a newer connection to relay took its place */
	bool names_checked;	/* AltName lines decided the name check */
	bool reason_from_verify;	/* reason is from a "TLS cert verify" line */
	enum verify_value v;
	int type;		/* 0 success, else the RFC 8460 result type */
	char *reason;
	size_t ndeliveries;
	char **doms;		/* domains emitted for this connection */
	size_t ndoms;
};

/* A delivery process, in the process table. */
struct proc {
	struct lru_node n;	/* first: a struct lru_node * is a struct proc * */
	long pid;		/* n's key */
	struct conn *conns;
	size_t nconns;
	struct conn *awaiting_cert;	/* the connection whose cert-subject line is next */
	char *verify_reason;		/* "TLS cert verify" reason before the relay line */
	char *alt_relay;		/* AltName lines before the relay line */
	char **alt;
	size_t nalt;
	bool alt_overflow;
	bool hs_pending;		/* "connect failed" not yet placed on a relay */
	char *hs_reason;
};

struct sml {
	long long stale;
	struct lru procs;	/* keyed by pid, at most max_pids */
	unsigned long long seq;
	bool tls_seen;
	sml_skip_fn skip;
	void *skip_ctx;
	size_t open;
	struct sml_stats st;
};

/* ---- the process table ---- */

static struct proc *table_find(const struct sml *p, long pid)
{
	return (struct proc *)lru_find(&p->procs, &pid, sizeof(pid));
}

/* ---- small state helpers ---- */

static char *dup_or_null(const char *s)
{
	return (s != NULL && *s != '\0') ? xstrdup(s) : NULL;
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = dup_or_null(s);
}

static void free_strings(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void hs_set(struct sml *p, struct proc *pr, const char *reason)
{
	if (!pr->hs_pending)
		p->open++;
	pr->hs_pending = true;
	set_str(&pr->hs_reason, reason[0] != '\0' ? reason : "TLS handshake failed");
}

static void hs_clear(struct sml *p, struct proc *pr)
{
	if (pr->hs_pending)
		p->open--;
	pr->hs_pending = false;
	set_str(&pr->hs_reason, NULL);
}

static void alt_clear(struct proc *pr)
{
	free_strings(pr->alt, pr->nalt);
	pr->alt = NULL;
	pr->nalt = 0;
	pr->alt_overflow = false;
	set_str(&pr->alt_relay, NULL);
}

/* ---- connections ---- */

static void conn_free(struct sml *p, struct conn *c)
{
	free(c->relay);
	free(c->ip);
	free(c->reason);
	free_strings(c->doms, c->ndoms);
	free(c);
	p->open--;
}

static void conn_unlink(struct proc *pr, struct conn *c)
{
	struct conn **cc = &pr->conns;

	while (*cc != c) {
		if (*cc == NULL)
			abort();	/* broken invariant: c is not P's */
		cc = &(*cc)->next;
	}
	*cc = c->next;
	pr->nconns--;
	if (pr->awaiting_cert == c)
		pr->awaiting_cert = NULL;
}

/* End a connection (rule 11). */
static void conn_close(struct sml *p, struct proc *pr, struct conn *c)
{
	conn_unlink(pr, c);
	if (c->ndeliveries == 0)
		p->st.no_delivery++;
	conn_free(p, c);
}

/*
 * A new connection of P to c's relay replaces c.  An ended one without
 * delivery stays, detached, for rule 5 (another address of the same MX
 * name may have been tried next).
 */
static void end_for_new(struct sml *p, struct proc *pr, struct conn *c)
{
	if (c->ended && c->ndeliveries == 0)
		c->detached = true;
	else
		conn_close(p, pr, c);
}

/* P's connection to relay, moved to the front; NULL if none. */
static struct conn *conn_find(struct proc *pr, const char *relay)
{
	struct conn **cc, *c;

	for (cc = &pr->conns; (c = *cc) != NULL; cc = &c->next) {
		if (c->detached || strcmp(c->relay, relay) != 0)
			continue;
		*cc = c->next;
		c->next = pr->conns;
		pr->conns = c;
		return c;
	}
	return NULL;
}

/* A new connection of P to relay (P must have none); evicts at the cap. */
static struct conn *conn_new(struct sml *p, struct proc *pr, const char *relay, int type,
    const char *reason)
{
	struct conn *c;

	if (pr->nconns >= SML_MAX_CONNS) {
		struct conn *last = pr->conns;

		while (last->next != NULL)
			last = last->next;
		p->st.dropped++;
		conn_unlink(pr, last);
		conn_free(p, last);
	}
	c = xcalloc(1, sizeof(*c));
	c->seq = ++p->seq;
	c->relay = xstrdup(relay);
	c->type = type;
	c->reason = type != 0 ? dup_or_null(reason) : NULL;
	c->v = V_OTHER;
	c->next = pr->conns;
	pr->conns = c;
	pr->nconns++;
	p->open++;
	return c;
}

static void conn_fail(struct conn *c, int type, const char *reason)
{
	c->type = type;
	set_str(&c->reason, reason);
}

/* ---- processes ---- */

static void proc_destroy(struct sml *p, struct proc *pr)
{
	while (pr->conns != NULL) {
		struct conn *c = pr->conns;

		pr->conns = c->next;
		conn_free(p, c);
	}
	hs_clear(p, pr);
	free(pr->verify_reason);
	alt_clear(pr);
	free(pr);
}

/* End all of P (rule 11 for what it still holds). */
static void proc_close(struct sml *p, struct proc *pr)
{
	struct conn *c;

	for (c = pr->conns; c != NULL; c = c->next)
		if (c->ndeliveries == 0)
			p->st.no_delivery++;
	if (pr->hs_pending)
		p->st.no_delivery++;
	lru_remove(&p->procs, &pr->n);
	proc_destroy(p, pr);
}

static bool is_stale(const struct sml *p, long long last, long long now)
{
	return now < 0 || now - last >= p->stale;
}

/* P's live state, or NULL; a stale one is closed first.  Touches P. */
static struct proc *proc_find(struct sml *p, long pid, long long when)
{
	struct proc *pr = table_find(p, pid);

	if (pr != NULL && is_stale(p, pr->n.last, when)) {
		proc_close(p, pr);
		pr = NULL;
	}
	if (pr != NULL)
		lru_touch(&p->procs, &pr->n, when);
	return pr;
}

/* P's state, made if needed; evicts the least recently active at the cap. */
static struct proc *proc_get(struct sml *p, long pid, long long when)
{
	struct proc *pr = proc_find(p, pid, when), *old;

	if (pr != NULL)
		return pr;
	if ((old = (struct proc *)lru_evictee(&p->procs)) != NULL) {
		p->st.dropped++;
		lru_remove(&p->procs, &old->n);
		proc_destroy(p, old);
	}
	pr = xcalloc(1, sizeof(*pr));
	pr->pid = pid;
	pr->n.key = &pr->pid;
	pr->n.keylen = sizeof(pr->pid);
	pr->n.last = when;
	lru_insert(&p->procs, &pr->n);
	return pr;
}

/* ---- results ---- */

static void emit_result(struct sml *p, const char *domain, long long when,
    const struct conn *c, sml_emit_fn emit, void *ctx)
{
	struct tlsrpt_session s;
	struct tlsrpt_failure *f = session_no_policy(&s, domain, when, c->type != 0);

	if (f != NULL) {
		f->result_type = c->type;
		if (c->relay[0] != '[')		/* an address literal names no MX host */
			f->mx_name = canonical_host(c->relay);
		f->receiving_ip = canonical_ip(c->ip);
		f->reason = dup_or_null(c->reason);
		p->st.emitted_failure++;
	} else {
		p->st.emitted_success++;
	}
	if (emit != NULL)
		emit(ctx, &s);
	session_free(&s);
}

/* Emit domain for c unless c already did (rule 3). */
static void conn_report(struct sml *p, struct conn *c, const char *domain, long long when,
    sml_emit_fn emit, void *ctx)
{
	size_t i;

	for (i = 0; i < c->ndoms; i++)
		if (strcmp(c->doms[i], domain) == 0)
			return;
	if (c->ndoms >= SML_MAX_DOMAINS) {
		p->st.dropped++;
		return;
	}
	c->doms = xrealloc(c->doms, (c->ndoms + 1) * sizeof(*c->doms));
	c->doms[c->ndoms++] = xstrdup(domain);
	emit_result(p, domain, when, c, emit, ctx);
}

static void conn_report_all(struct sml *p, struct conn *c, const struct sml_event *ev,
    long long when, sml_emit_fn emit, void *ctx)
{
	size_t i;

	for (i = 0; i < ev->ndomains; i++)
		conn_report(p, c, ev->domains[i], when, emit, ctx);
}

/* ---- verification results ---- */

static enum verify_value verify_value(const char *v)
{
	static const struct {
		const char *name;
		enum verify_value v;
	} names[] = {
		{"OK", V_OK}, {"TRUSTED", V_TRUSTED}, {"FAIL", V_FAIL},
		{"DANE_FAIL", V_DANE_FAIL}, {"NO", V_NO}, {"NOT", V_NOT},
		{"NONE", V_NONE}, {"SOFTWARE", V_SOFTWARE},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i].name) == 0)
			return names[i].v;
	return V_OTHER;
}

static int verify_type(enum verify_value v)
{
	switch (v) {
	case V_OK:
	case V_TRUSTED:
		return 0;
	case V_DANE_FAIL:
		return RESULT_TLSA_INVALID;
	case V_NONE:
		return RESULT_STARTTLS_NOT_SUPPORTED;
	default:
		return RESULT_VALIDATION_FAILURE;
	}
}

/* A reason for a verify value when nothing better was logged. */
static void default_reason(enum verify_value v, const char *raw, char *buf, size_t size)
{
	switch (v) {
	case V_NO:
	case V_NOT:
		snprintf(buf, size, "no certificate presented");
		break;
	case V_NONE:
		snprintf(buf, size, "STARTTLS not offered");
		break;
	case V_SOFTWARE:
		snprintf(buf, size, "TLS handshake failed");
		break;
	default:
		snprintf(buf, size, "verify=%s", raw);
		break;
	}
}

/* Rule 1: the type an OpenSSL verification error string names. */
static int classify_cert(const char *reason)
{
	struct span s = {reason, strlen(reason)};

	if (span_contains_ci(s, "certificate has expired"))
		return RESULT_CERTIFICATE_EXPIRED;
	if (span_contains_ci(s, "hostname mismatch"))
		return RESULT_CERTIFICATE_HOST_MISMATCH;
	if (span_contains_ci(s, "self-signed") || span_contains_ci(s, "self signed")
	    || span_contains_ci(s, "unable to get local issuer certificate")
	    || span_contains_ci(s, "unable to get issuer certificate")
	    || span_contains_ci(s, "unable to verify the first certificate")
	    || span_contains_ci(s, "untrusted") || span_contains_ci(s, "invalid CA certificate"))
		return RESULT_CERTIFICATE_NOT_TRUSTED;
	return RESULT_VALIDATION_FAILURE;
}

/* Rule 2: pattern (a certificate name) covers host; both normalised. */
static bool name_matches(const char *pattern, const char *host)
{
	const char *dot;

	if (strcmp(pattern, host) == 0)
		return true;
	if (pattern[0] != '*' || pattern[1] != '.' || strchr(pattern + 2, '.') == NULL)
		return false;
	dot = strchr(host, '.');
	return dot != NULL && dot != host && strcmp(dot, pattern + 1) == 0;
}

/* A relay that the certificate could name: not an address literal. */
static bool is_host_name(const char *relay)
{
	return relay[0] != '\0' && relay[0] != '[' && strcmp(relay, "local") != 0;
}

/* Rule 9. */
static bool is_local_hop(const char *relay)
{
	return strcmp(relay, "localhost") == 0 || strncmp(relay, "[127.", 5) == 0
	    || strcmp(relay, "[ipv6:::1]") == 0 || strcmp(relay, "[::1]") == 0;
}

static bool is_report_mail(const struct sml *p, const char *queue_id)
{
	return p->skip != NULL && queue_id[0] != '\0' && p->skip(p->skip_ctx, queue_id);
}

/* Rule 2 with AltName lines: any match clears, none fails. */
static void check_altnames(struct conn *c, const struct proc *pr)
{
	size_t i;

	c->names_checked = true;
	if (pr->alt_overflow || c->v != V_OK || c->type != 0 || !is_host_name(c->relay))
		return;
	for (i = 0; i < pr->nalt; i++)
		if (name_matches(pr->alt[i], c->relay))
			return;
	conn_fail(c, RESULT_CERTIFICATE_HOST_MISMATCH,
	    "hostname mismatch (no subjectAltName matches)");
}

/* ---- the events ---- */

/* A process's own state, cleared on lines that start something else. */
static struct proc *proc_for_line(struct sml *p, long pid, long long when, bool make)
{
	struct proc *pr = make ? proc_get(p, pid, when) : proc_find(p, pid, when);

	if (pr != NULL)
		pr->awaiting_cert = NULL;
	return pr;
}

/* Rule 9 for the line of P: ignored, and P's next cert-subject line with it. */
static enum sml_result local_hop(struct sml *p, const struct sml_event *ev, long long when)
{
	(void)proc_for_line(p, ev->pid, when, false);
	return SML_IGNORED;
}

/* Rule 1 (and 2 with AltName lines). */
static enum sml_result on_session(struct sml *p, const struct sml_event *ev, long long when)
{
	struct proc *pr;
	struct conn *c;
	char reason[64];

	if (is_local_hop(ev->relay))
		return local_hop(p, ev, when);
	pr = proc_for_line(p, ev->pid, when, true);
	p->tls_seen = true;
	if (pr->hs_pending) {
		p->st.no_delivery++;	/* a handshake failure no tls_server line placed */
		hs_clear(p, pr);
	}
	if ((c = conn_find(pr, ev->relay)) != NULL)
		end_for_new(p, pr, c);
	c = conn_new(p, pr, ev->relay, 0, NULL);
	c->tls = true;
	c->v = verify_value(ev->verify);
	default_reason(c->v, ev->verify, reason, sizeof(reason));
	conn_fail(c, verify_type(c->v), verify_type(c->v) != 0 ? reason : NULL);
	if (c->v == V_FAIL && pr->verify_reason != NULL) {
		conn_fail(c, classify_cert(pr->verify_reason), pr->verify_reason);
		c->reason_from_verify = true;
	}
	set_str(&pr->verify_reason, NULL);
	if (pr->alt_relay != NULL && strcmp(pr->alt_relay, ev->relay) == 0 && pr->nalt > 0)
		check_altnames(c, pr);
	alt_clear(pr);
	pr->awaiting_cert = c;
	return SML_USED;
}

/* Rules 1 and 2: the cert-subject line right after the relay line. */
static enum sml_result on_cert(struct sml *p, const struct sml_event *ev, long long when)
{
	struct proc *pr = proc_find(p, ev->pid, when);
	struct conn *c;
	char reason[sizeof(ev->cn) + 32];

	if (pr == NULL || (c = pr->awaiting_cert) == NULL)
		return SML_USED;
	pr->awaiting_cert = NULL;	/* one cert-subject line per session */
	if (c->v == V_FAIL && !c->reason_from_verify && ev->reason[0] != '\0')
		conn_fail(c, classify_cert(ev->reason), ev->reason);
	/*
	 * A CN that differs from R proves nothing: certificates name their
	 * hosts in subjectAltName, and the CN is often another of those
	 * names (Google's MX certificates, for one).  Only the AltName lines
	 * (check_altnames) can show a mismatch; the CN is kept for the
	 * reason text of other failures.
	 */
	(void)reason;
	return SML_USED;
}

static enum sml_result on_altname(struct sml *p, const struct sml_event *ev, long long when)
{
	struct proc *pr;

	if (is_local_hop(ev->relay))
		return local_hop(p, ev, when);
	pr = proc_for_line(p, ev->pid, when, true);
	if (pr->alt_relay == NULL || strcmp(pr->alt_relay, ev->relay) != 0) {
		alt_clear(pr);
		pr->alt_relay = xstrdup(ev->relay);
	}
	if (pr->nalt >= SML_MAX_ALTNAMES) {
		pr->alt_overflow = true;	/* the check is then skipped: not lost data */
		return SML_USED;
	}
	pr->alt = xrealloc(pr->alt, (pr->nalt + 1) * sizeof(*pr->alt));
	pr->alt[pr->nalt++] = xstrdup(ev->altname);
	return SML_USED;
}

static enum sml_result on_verify(struct sml *p, const struct sml_event *ev, long long when)
{
	struct proc *pr = proc_for_line(p, ev->pid, when, true);

	if (ev->state == 0 && pr->verify_reason == NULL)
		pr->verify_reason = dup_or_null(ev->reason);
	return SML_USED;
}

/* Inbound TLS of P: its verify and AltName lines were the server side's. */
static enum sml_result on_server(struct sml *p, const struct sml_event *ev, long long when)
{
	struct proc *pr = table_find(p, ev->pid);

	if (pr == NULL)
		return SML_IGNORED;
	set_str(&pr->verify_reason, NULL);
	alt_clear(pr);
	if (pr->conns == NULL && !pr->hs_pending) {
		lru_remove(&p->procs, &pr->n);	/* nothing else held: do not keep it */
		proc_destroy(p, pr);
	} else {
		lru_touch(&p->procs, &pr->n, when);
	}
	return SML_IGNORED;
}

/* Rule 4, first half. */
static enum sml_result on_connect_failed(struct sml *p, const struct sml_event *ev,
    long long when)
{
	struct proc *pr = proc_for_line(p, ev->pid, when, true);

	if (pr->hs_pending)
		p->st.no_delivery++;	/* the previous one was never placed */
	hs_set(p, pr, ev->reason);
	set_str(&pr->verify_reason, NULL);
	alt_clear(pr);
	return SML_USED;
}

/* Rule 4, second half. */
static enum sml_result on_tls_server(struct sml *p, const struct sml_event *ev,
    long long when)
{
	enum verify_value v = verify_value(ev->verify);
	struct proc *pr;
	struct conn *c;
	char fallback[64];
	const char *reason;

	if (is_local_hop(ev->relay))
		return local_hop(p, ev, when);
	pr = proc_for_line(p, ev->pid, when, true);
	c = conn_find(pr, ev->relay);
	if (c != NULL && (c->tls || c->ended) && c->ndeliveries == 0 && !pr->hs_pending) {
		c->ended = true;	/* TLS was up; local policy refused it */
		return SML_USED;
	}
	if (c != NULL)
		end_for_new(p, pr, c);
	default_reason(v, ev->verify, fallback, sizeof(fallback));
	if (pr->hs_pending && v != V_NONE)
		reason = pr->hs_reason;
	else if (ev->reason[0] != '\0')
		reason = ev->reason;
	else
		reason = fallback;
	c = conn_new(p, pr, ev->relay, verify_type(v), reason);
	c->v = v;
	c->ended = true;
	hs_clear(p, pr);
	return SML_USED;
}

/* Rule 6. */
static enum sml_result on_tls_rcpt(struct sml *p, const struct sml_event *ev, long long when)
{
	struct proc *pr;
	int type;

	if (is_local_hop(ev->relay))
		return local_hop(p, ev, when);
	if (is_report_mail(p, ev->queue_id)) {
		p->st.skipped_report_mails++;
		return SML_USED;
	}
	pr = proc_for_line(p, ev->pid, when, true);
	if (conn_find(pr, ev->relay) != NULL)
		return SML_USED;
	if (pr->hs_pending) {	/* the clear-text retry after a failed handshake */
		(void)conn_new(p, pr, ev->relay, RESULT_VALIDATION_FAILURE, pr->hs_reason);
		hs_clear(p, pr);
		return SML_USED;
	}
	type = ev->result_type != 0 ? ev->result_type : RESULT_VALIDATION_FAILURE;
	(void)conn_new(p, pr, ev->relay, type, ev->reason);
	return SML_USED;
}

/* Rule 4 when no tls_server line came: the delivery names the relay. */
static void place_handshake(struct sml *p, struct proc *pr, const char *relay)
{
	struct conn *c = conn_find(pr, relay);

	if (c == NULL || c->tls || c->ndeliveries > 0) {
		if (c != NULL)
			conn_close(p, pr, c);
		c = conn_new(p, pr, relay, RESULT_VALIDATION_FAILURE, pr->hs_reason);
		c->ended = true;
	}
	hs_clear(p, pr);
}

/* Rule 5: ended connections without delivery, oldest first. */
static void resolve_ended(struct sml *p, struct proc *pr, const struct sml_event *ev,
    long long when, bool skip, sml_emit_fn emit, void *ctx)
{
	struct conn *todo[SML_MAX_CONNS], *c;
	size_t n = 0, i, j;

	for (c = pr->conns; c != NULL && n < SML_MAX_CONNS; c = c->next)
		if (c->ended && c->ndeliveries == 0
		    && (c->detached || strcmp(c->relay, ev->relay) != 0))
			todo[n++] = c;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && todo[j - 1]->seq > todo[j]->seq; j--) {
			c = todo[j];
			todo[j] = todo[j - 1];
			todo[j - 1] = c;
		}
	for (i = 0; i < n; i++) {
		todo[i]->ndeliveries++;
		if (!skip)
			conn_report_all(p, todo[i], ev, when, emit, ctx);
	}
}

/* Rules 7 and 8: a delivery of P to a relay P has no connection to. */
static struct conn *start_from_delivery(struct sml *p, struct proc **pr,
    const struct sml_event *ev, long long when)
{
	int type = ev->result_type;
	const char *reason = ev->reason;
	struct conn *c;

	if (type == 0) {
		if (!ev->sent || !p->tls_seen) {
			p->st.uncounted++;
			return NULL;
		}
		type = RESULT_STARTTLS_NOT_SUPPORTED;
		reason = "delivered in plain text";
	}
	if (*pr == NULL)
		*pr = proc_get(p, ev->pid, when);
	c = conn_new(p, *pr, ev->relay, type, reason);
	c->tls = type != RESULT_STARTTLS_NOT_SUPPORTED;
	return c;
}

/* Rules 3, 5, 7, 8 and 10. */
static enum sml_result on_delivery(struct sml *p, const struct sml_event *ev, long long when,
    sml_emit_fn emit, void *ctx)
{
	bool skip = is_report_mail(p, ev->queue_id);
	struct proc *pr;
	struct conn *c = NULL;

	if (is_local_hop(ev->relay))
		return local_hop(p, ev, when);
	pr = proc_for_line(p, ev->pid, when, false);
	if (pr != NULL) {
		if (pr->hs_pending)
			place_handshake(p, pr, ev->relay);
		resolve_ended(p, pr, ev, when, skip, emit, ctx);
		c = conn_find(pr, ev->relay);
	}
	if (skip) {
		p->st.skipped_report_mails++;
		if (c != NULL)
			c->ndeliveries++;
		return SML_USED;
	}
	if (c == NULL && (c = start_from_delivery(p, &pr, ev, when)) == NULL)
		return SML_USED;
	if (c->ip == NULL)
		c->ip = dup_or_null(ev->ip);
	c->ndeliveries++;
	conn_report_all(p, c, ev, when, emit, ctx);
	p->st.uncounted += ev->bad_rcpts;
	p->st.dropped += ev->more_domains;
	return SML_USED;
}

/* ---- the API ---- */

struct sml *sml_new_capped(long long stale_after_s, size_t max_pids)
{
	struct sml *p = xcalloc(1, sizeof(*p));

	p->stale = stale_after_s > 0 ? stale_after_s : 1;
	lru_init(&p->procs, max_pids);
	return p;
}

struct sml *sml_new(long long stale_after_s)
{
	return sml_new_capped(stale_after_s, SML_MAX_PIDS);
}

void sml_free(struct sml *p)
{
	struct lru_node *n, *next;

	if (p == NULL)
		return;
	for (n = p->procs.oldest; n != NULL; n = next) {
		next = n->newer;
		proc_destroy(p, (struct proc *)n);
	}
	lru_free(&p->procs);
	free(p);
}

void sml_set_skip(struct sml *p, sml_skip_fn skip, void *ctx)
{
	p->skip = skip;
	p->skip_ctx = ctx;
}

enum sml_result sml_feed_rec(struct sml *p, const struct logrec *r, long long when,
    sml_emit_fn emit, void *ctx)
{
	struct sml_event ev;

	switch (sml_parse_rec(r, &ev)) {
	case SML_EV_IGNORED:
		return SML_IGNORED;
	case SML_EV_MALFORMED:
		return SML_MALFORMED;
	case SML_EV_SESSION:
		return on_session(p, &ev, when);
	case SML_EV_CERT:
		return on_cert(p, &ev, when);
	case SML_EV_ALTNAME:
		return on_altname(p, &ev, when);
	case SML_EV_VERIFY:
		return on_verify(p, &ev, when);
	case SML_EV_CONNECT_FAILED:
		return on_connect_failed(p, &ev, when);
	case SML_EV_SERVER:
		return on_server(p, &ev, when);
	case SML_EV_TLS_SERVER:
		return on_tls_server(p, &ev, when);
	case SML_EV_TLS_RCPT:
		return on_tls_rcpt(p, &ev, when);
	case SML_EV_DELIVERY:
		return on_delivery(p, &ev, when, emit, ctx);
	}
	abort();	/* broken invariant: sml_parse returned no known kind */
}

enum sml_result sml_feed(struct sml *p, const char *line, size_t len, long long when,
    sml_emit_fn emit, void *ctx)
{
	struct logrec r;

	if (!ll_split_line(line, len, &r))
		return SML_IGNORED;
	return sml_feed_rec(p, &r, when, emit, ctx);
}

void sml_forget(struct sml *p, long pid)
{
	struct proc *pr = table_find(p, pid);

	if (pr == NULL)
		return;
	lru_remove(&p->procs, &pr->n);
	proc_destroy(p, pr);
}

void sml_expire(struct sml *p, long long now, sml_emit_fn emit, void *ctx)
{
	(void)emit;	/* results are emitted when a delivery line decides them */
	(void)ctx;
	while (p->procs.oldest != NULL && is_stale(p, p->procs.oldest->last, now))
		proc_close(p, (struct proc *)p->procs.oldest);
}

void sml_get_stats(const struct sml *p, struct sml_stats *st)
{
	*st = p->st;
	st->open = p->open;
}

bool sml_tls_logging_seen(const struct sml *p)
{
	return p->tls_seen;
}
