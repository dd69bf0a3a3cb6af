/*
 * NAME
 *	sendmail_log - Sendmail's outbound TLS log lines into session results
 * DESCRIPTION
 *	The Sendmail half of the log follower (Sendmail 8.15 and later, see
 *	../shared/spec/sendmail-8.17-tls.md): sml_parse() reads one line of
 *	sm-mta or sendmail into an event (a pure function, for tests and
 *	fuzzers); struct sml correlates the events of each delivery process,
 *	by pid, in log order, and emits one struct tlsrpt_session per (TLS
 *	session, recipient domain) - a connection that carried mail for two
 *	domains counts once for each, however many messages.  Policy:
 *	no-policy-found.  No I/O, no clock: time is what the caller passes.
 *	The rules are in the head comment of sendmail_log.c.
 */
#ifndef TLSRPT_SENDMAIL_LOG_H
#define TLSRPT_SENDMAIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "session.h"

/* ---- one line -------------------------------------------------------- */

enum sml_kind {
	SML_EV_IGNORED = 0,
	SML_EV_MALFORMED,	/* one of the forms below, but unreadable */
	SML_EV_SESSION,		/* STARTTLS=client, relay=R, version=V, verify=X, cipher=C, bits=B */
	SML_EV_CERT,		/* STARTTLS=client, cert-subject=S, cert-issuer=I, verifymsg=M */
	SML_EV_ALTNAME,		/* STARTTLS=client, relay=R, AltName=N (LogLevel 15) */
	SML_EV_VERIFY,		/* STARTTLS: TLS cert verify: depth=D S, state=N, reason=T */
	SML_EV_CONNECT_FAILED,	/* STARTTLS=client, error: connect failed=N, reason=T, ... */
	SML_EV_SERVER,		/* STARTTLS=server, ...: inbound, read only to end a pending verify */
	SML_EV_TLS_SERVER,	/* ruleset=tls_server, arg1=X, relay=R, reject=T */
	SML_EV_TLS_RCPT,	/* [QID: ]ruleset=tls_rcpt, arg1=ADDR, relay=R, reject=T */
	SML_EV_DELIVERY,	/* QID: to=RCPTS, ..., relay=R [IP], dsn=D, stat=S */
};

#define SML_MAX_LINE 8192	/* longer Sendmail lines of the forms above are malformed */
#define SML_LINE_DOMAINS 16	/* distinct recipient domains kept from one to= list */

struct sml_event {
	enum sml_kind kind;
	char program[16];	/* "sm-mta" or "sendmail" */
	long pid;
	char queue_id[32];	/* "" when the line has none (or "NOQUEUE") */
	char relay[256];	/* lower case, no trailing dot; "[addr]" for address literals */
	char ip[64];		/* DELIVERY: the relay's address, without brackets and "IPv6:" */
	char verify[24];	/* SESSION: verify=; TLS_SERVER: arg1 (as logged, e.g. "SOFTWARE") */
	char version[24];	/* SESSION: version= */
	char cn[256];		/* CERT: the subject's last CN, xtext-decoded, lower case */
	bool cn_known;		/* CERT: the subject was read whole (not cut at 256 bytes) */
	char altname[256];	/* ALTNAME: lower case */
	int state;		/* VERIFY: 0 = this certificate failed */
	char reason[256];	/* VERIFY reason, CERT verifymsg, CONNECT_FAILED reason, reject
				 * text and DELIVERY stat text, without SMTP reply codes */
	bool reason_truncated;	/* reason was longer than the field: cut, not malformed */
	int result_type;	/* rejects and DELIVERY: the RFC 8460 type the text names, else 0 */
	char rcpt_domain[256];	/* TLS_RCPT: arg1's domain, normalised; "" if it has none */
	bool sent;		/* DELIVERY: stat=Sent */
	char dsn[16];		/* DELIVERY: e.g. "2.0.0" */
	size_t ndomains;	/* DELIVERY: distinct valid recipient domains, normalised */
	char domains[SML_LINE_DOMAINS][256];
	size_t bad_rcpts;	/* DELIVERY: recipients without a usable domain */
	size_t more_domains;	/* DELIVERY: distinct domains beyond SML_LINE_DOMAINS */
};

/*
 * Parse one line (without its newline).  Never fails: the kind says what
 * it was.  Reads at most len bytes of line (which need not be
 * NUL-terminated), writes only *ev, allocates nothing.  Delivery lines
 * without relay= (local, prog and file mailers, "queued") are ignored.
 */
enum sml_kind sml_parse(const char *line, size_t len, struct sml_event *ev);

/* The same for a record (logline.h): a journal entry's tag and message. */
struct logrec;
enum sml_kind sml_parse_rec(const struct logrec *r, struct sml_event *ev);

/* ---- the correlator -------------------------------------------------- */

struct sml;

typedef void (*sml_emit_fn)(void *ctx, const struct tlsrpt_session *s);
/* True when queue_id is one of our own report mails: not counted (RFC 8460 5.3). */
typedef bool (*sml_skip_fn)(void *ctx, const char *queue_id);

#define SML_MAX_PIDS 65536	/* default cap on tracked delivery processes */

/* stale_after_s: a process with no further line for this long is closed. */
struct sml *sml_new(long long stale_after_s);
/* The same with another cap on processes (at least 1). */
struct sml *sml_new_capped(long long stale_after_s, size_t max_pids);
void sml_free(struct sml *p);
void sml_set_skip(struct sml *p, sml_skip_fn skip, void *ctx);

enum sml_result {
	SML_IGNORED,	/* not a Sendmail line we use */
	SML_USED,
	SML_MALFORMED,	/* a STARTTLS=client, tls ruleset or delivery line we could not
			 * read: the caller counts a parse miss */
};

/*
 * One log line (no newline, not NUL-terminated, at most len bytes read)
 * seen at "when" (seconds since the epoch).  Results are emitted through
 * emit (which may be NULL) as they are decided; the session passed is
 * freed when emit returns.  STARTTLS=server lines and connections to the
 * local host are SML_IGNORED (the former only end what the process logged
 * before about a certificate).
 */
enum sml_result sml_feed(struct sml *p, const char *line, size_t len, long long when,
    sml_emit_fn emit, void *ctx);
/* The same for a record (logline.h). */
enum sml_result sml_feed_rec(struct sml *p, const struct logrec *r, long long when,
    sml_emit_fn emit, void *ctx);

/*
 * Drop what is held for process pid, emitting and counting nothing: its
 * sessions are reported another way (sendmail_hook_log.h).
 */
void sml_forget(struct sml *p, long pid);

/* Close what has been quiet for stale_after_s at "now" (everything when now < 0). */
void sml_expire(struct sml *p, long long now, sml_emit_fn emit, void *ctx);

/* All counters only grow, except open. */
struct sml_stats {
	unsigned long long emitted_success;	/* session results emitted, by outcome */
	unsigned long long emitted_failure;
	unsigned long long dropped;		/* state lost to the memory caps: processes,
						 * connections, domains (see sendmail_log.c) */
	unsigned long long no_delivery;		/* connections closed before any delivery
						 * line named a recipient */
	unsigned long long skipped_report_mails;	/* delivery and tls_rcpt lines of report mails */
	unsigned long long uncounted;		/* delivery lines that make no result (plain
						 * text before any STARTTLS line, deferrals
						 * without TLS trace) and recipients without
						 * a usable domain */
	size_t open;				/* connections and handshake failures held now */
};

void sml_get_stats(const struct sml *p, struct sml_stats *st);

/*
 * True once a "STARTTLS=client, relay=..." line was fed.  Until then plain
 * text deliveries are not counted: with LogLevel below 9 Sendmail logs no
 * STARTTLS lines, successes are invisible too, and the follower should warn.
 */
bool sml_tls_logging_seen(const struct sml *p);

#endif
