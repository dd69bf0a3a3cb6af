/*
 * NAME
 *	postfix_sessions - turn Postfix log events into session results
 * DESCRIPTION
 *	The log follower feeds the events pfl_parse() reads, in log order,
 *	with their timestamps; this module correlates them by smtp/lmtp
 *	process id and queue id and emits one struct tlsrpt_session per
 *	(TLS session, recipient domain) - a session that carried mail for
 *	three domains counts once for each, however many messages.  Policy:
 *	no-policy-found (MTA-STS and DANE come later).  No I/O.
 *	The rules are in the head comment of postfix_sessions.c.
 */
#ifndef TLSRPT_POSTFIX_SESSIONS_H
#define TLSRPT_POSTFIX_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "postfix_log.h"
#include "session.h"

struct pfs;

typedef void (*pfs_emit_fn)(void *ctx, const struct tlsrpt_session *s);

#define PFS_MAX_PIDS 65536	/* default cap on tracked smtp/lmtp processes */
#define PFS_MAX_QUEUE_IDS 65536	/* default cap on queue ids awaiting a recipient */

/* stale_after_s: a session with no further line for this long is closed (pfs_expire). */
struct pfs *pfs_new(long long stale_after_s);
/* The same with other caps (each at least 1). */
struct pfs *pfs_new_capped(long long stale_after_s, size_t max_pids, size_t max_queue_ids);
void pfs_free(struct pfs *p);

/* Deliveries of queue ids for which skip() is true are not counted (rule 10). */
typedef bool (*pfs_skip_fn)(void *ctx, const char *queue_id);
void pfs_set_skip(struct pfs *p, pfs_skip_fn skip, void *ctx);

/* Feed one event seen at "when" (seconds since the epoch). */
void pfs_feed(struct pfs *p, const struct pfl_event *ev, long long when, pfs_emit_fn emit,
    void *ctx);

/* Close what has been quiet for stale_after_s at "now" (and everything when now < 0). */
void pfs_expire(struct pfs *p, long long now, pfs_emit_fn emit, void *ctx);

/* What was seen but not (or not yet) reported; all counters only grow. */
struct pfs_stats {
	unsigned long long emitted_success;	/* session results emitted, by outcome */
	unsigned long long emitted_failure;
	unsigned long long pids_dropped;	/* oldest process state evicted at the cap */
	unsigned long long queue_dropped;	/* queue-id failures evicted at the cap or over
						 * PFS_MAX_QUEUE_FAILURES per id */
	unsigned long long domains_dropped;	/* over PFS_MAX_DOMAINS in one session */
	unsigned long long queue_unresolved;	/* "QID: ..." failures whose recipient never showed */
	unsigned long long no_delivery;		/* TLS sessions closed without any delivery line */
	unsigned long long plain_unseen;	/* plain deliveries before any TLS line was seen */
	unsigned long long reused;		/* deliveries over reused connections (not counted) */
	unsigned long long uncounted;		/* relay=none, no-TLS deferrals, bad domains */
	unsigned long long report_mails_skipped;	/* deliveries of our own report messages */
	size_t pids;				/* processes tracked now */
	size_t queue_ids;			/* queue ids waiting now */
};

/*
 * The open sessions and parked queue failures as text (appended to out),
 * for the log follower's checkpoint; pfs_load() restores them into a new
 * pfs.  Loading skips records it cannot read and returns false then
 * (what it could read is kept).
 */
struct strbuf;
void pfs_save(const struct pfs *p, struct strbuf *out);
bool pfs_load(struct pfs *p, const char *text, size_t len);

void pfs_get_stats(const struct pfs *p, struct pfs_stats *st);

/* Inputs lost to the memory caps: pids_dropped + queue_dropped + domains_dropped. */
unsigned long long pfs_dropped(const struct pfs *p);

/*
 * True once any "TLS connection established/reused" line was fed.  While
 * false, plain-text deliveries are not counted: smtp_tls_loglevel is
 * probably 0, which hides successes too, and the follower should warn.
 */
bool pfs_tls_logging_seen(const struct pfs *p);

#endif
