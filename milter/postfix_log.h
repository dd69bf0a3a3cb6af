/*
 * NAME
 *	postfix_log - read one Postfix smtp/lmtp log line into a TLS event
 * DESCRIPTION
 *	A pure function from one mail-log line to what it says about an
 *	outbound TLS session, for the log follower (Postfix before 3.10).
 *	See ../shared/spec/postfix-3.7-tls-log.md.  Lines of other programs
 *	and unrelated smtp lines are PFL_IGNORED; a line that is an smtp
 *	TLS or delivery line but cannot be read is PFL_MALFORMED (counted as
 *	a parse miss).  Correlating events into sessions (by smtp pid and
 *	queue id) is the caller's job.
 */
#ifndef TLSRPT_POSTFIX_LOG_H
#define TLSRPT_POSTFIX_LOG_H

#include <stddef.h>

enum pfl_kind {
	PFL_IGNORED = 0,
	PFL_MALFORMED,
	PFL_TLS_ESTABLISHED,	/* "<Level> TLS connection established to MX[IP]:PORT: ..." */
	PFL_TLS_REUSED,		/* "... TLS connection reused to ...": not a new session */
	PFL_TLS_FAILURE,	/* a warning naming a TLS fault of MX[IP] */
	PFL_DELIVERY,		/* "QID: to=<rcpt>, relay=MX[IP]:PORT, ..., status=S (reason)" */
	PFL_QUEUE_TLS_FAILURE,	/* "QID: Server certificate not verified" etc., no to= */
};

enum pfl_trust {	/* the word before "TLS connection established" */
	PFL_ANONYMOUS, PFL_UNTRUSTED, PFL_TRUSTED, PFL_VERIFIED,
};

struct pfl_event {
	enum pfl_kind kind;
	char program[16];	/* "smtp" or "lmtp" (or "tlsproxy" for established lines) */
	long pid;
	char queue_id[32];	/* delivery and queue lines */
	char mx[256];		/* receiving MX host name, lower case, no trailing dot */
	char ip[64];		/* receiving IP, without brackets */
	int port;
	enum pfl_trust trust;	/* PFL_TLS_ESTABLISHED */
	int result_type;	/* RFC 8460 result code (session.h) for failures, else 0 */
	char reason[256];	/* failure text as logged (e.g. "certificate has expired") */
	int reason_truncated;	/* reason was longer than the field: cut, not malformed */
	char rcpt_domain[256];	/* PFL_DELIVERY: the recipient's domain, lower case */
	char status[16];	/* PFL_DELIVERY: sent, deferred, bounced, expired */
	char dsn[16];		/* PFL_DELIVERY: e.g. "4.7.5" */
	int conn_use;		/* PFL_DELIVERY: "conn_use=N" (N >= 2: a cached connection), else 0 */
};

#define PFL_MAX_LINE 8192	/* longer smtp/lmtp lines are PFL_MALFORMED */

/*
 * Parse one line (without its newline).  Never fails: the kind says what
 * it was.  Reads at most len bytes of line (which need not be
 * NUL-terminated), writes only *ev, allocates nothing.
 */
enum pfl_kind pfl_parse(const char *line, size_t len, struct pfl_event *ev);

/* The same for a record (logline.h): a journal entry's tag and message. */
struct logrec;
enum pfl_kind pfl_parse_rec(const struct logrec *r, struct pfl_event *ev);

#endif
