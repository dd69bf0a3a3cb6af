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
 */
#ifndef TLSRPT_POSTFIX_SESSIONS_H
#define TLSRPT_POSTFIX_SESSIONS_H

#include "postfix_log.h"
#include "session.h"

struct pfs;

typedef void (*pfs_emit_fn)(void *ctx, const struct tlsrpt_session *s);

/* stale_after_s: a session with no further line for this long is closed (pfs_expire). */
struct pfs *pfs_new(long long stale_after_s);
void pfs_free(struct pfs *p);

/* Feed one event seen at "when" (seconds since the epoch). */
void pfs_feed(struct pfs *p, const struct pfl_event *ev, long long when, pfs_emit_fn emit,
    void *ctx);

/* Close what has been quiet for stale_after_s at "now" (and everything when now < 0). */
void pfs_expire(struct pfs *p, long long now, pfs_emit_fn emit, void *ctx);

#endif
