/*
 * NAME
 *	sendmail_hook_log - the lines of the tlsrpt.mc syslog hook in Sendmail's log
 * SYNOPSIS
 *	#include "sendmail_hook_log.h"
 * DESCRIPTION
 *	contrib/sendmail/tlsrpt.mc makes Sendmail's tls_server and tls_rcpt
 *	rulesets look up a map of class syslog: the lookup logs its key
 *	through Sendmail's own syslog (with the queue id) and never waits
 *	for tlsrpt-milter.  The key is the request a socketmap would get
 *	("tlsrpt srv= ... rcpt= ..."), so a logged line reads
 *
 *	    ... sm-mta[PID]: QID: tlsrpt srv= mx.example.net addr= ... rcpt= u@example.net
 *
 *	and the daemon's log follower hands it here.  Each Sendmail process
 *	(PID) stands for one socketmap connection: its lines go, in log
 *	order, through the correlator of sendmail_map.h (one result per TLS
 *	session and recipient domain; our own report mails skipped by queue
 *	id).  A process is closed when it has been quiet for stale_after_s:
 *	what it still holds (a failed handshake without recipients) is
 *	emitted then.  Its pid is remembered as hooked for some hours more
 *	(not across a restart): a Sendmail process may stay quiet that
 *	long in the middle of a delivery, and its later lines are still
 *	superseded.
 *
 *	Exactly once, with Sendmail's own STARTTLS lines in the same log:
 *	a process that logged a hook line is "hooked", and smh_feed()
 *	answers SMH_SUPERSEDED for every other line of it, which the caller
 *	does not hand to sendmail_log.c; SMH_HOOKED says the process has
 *	just become hooked (the caller drops what sendmail_log.c holds of
 *	it: those lines belong to sessions the hook lines report).  The
 *	hook's lines come before the delivery line of their session, so a
 *	session that sendmail_log.c emitted at a delivery line before the
 *	process logged any hook line had no hook line of its own.
 *
 *	Unusable hook lines are SMH_BAD (the caller counts a parse miss):
 *	a request the map protocol cannot read, one longer than
 *	SMM_MAX_REQUEST, a key whose blanks Sendmail replaced (a K line
 *	without "-S ": "tlsrpt.srv=."; the process is then not hooked, so
 *	that its STARTTLS lines still count), a message Sendmail split
 *	("QID[2]: ").  Counted in smh_stats.
 *
 *	smh_save()/smh_load(): the open state as text, one line per TLS
 *	session of a hooked process, for the follower's checkpoint, so a
 *	restart neither counts a session twice nor loses a held one.
 *
 *	Pure: no I/O, no clock; time is what the caller passes.
 * SEE ALSO
 *	sendmail_map.h (the request and its rules), sendmail_log.h,
 *	logfollow.c, contrib/sendmail/README.md.
 */
#ifndef TLSRPT_SENDMAIL_HOOK_LOG_H
#define TLSRPT_SENDMAIL_HOOK_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "sendmail_map.h"
#include "util.h"

struct smh;

enum smh_result {
	SMH_OTHER,	/* not a hook line, and not of a hooked process */
	SMH_USED,	/* a hook line, handled */
	SMH_HOOKED,	/* a hook line, handled; its process has just become hooked */
	SMH_SUPERSEDED,	/* another line of a hooked process: not for sendmail_log.c */
	SMH_BAD,	/* a hook line that could not be used (counted) */
};

struct smh_stats {
	unsigned long long requests;		/* hook lines handled */
	unsigned long long bad;			/* SMH_BAD lines */
	unsigned long long superseded;		/* SMH_SUPERSEDED lines */
	unsigned long long dropped;		/* processes evicted at the cap */
	struct smm_stats map;			/* the correlator's: sessions, unreported, ... */
	size_t processes;			/* hooked processes held now */
};

/* emit, skip and ctx as for smm_new(); max_pids at least 1. */
struct smh *smh_new(long long stale_after_s, size_t max_pids, smm_emit_fn emit,
    smm_skip_fn skip, void *ctx);
void smh_free(struct smh *h);

/*
 * One log line (no newline, at most len bytes read) seen at "when".  *pid
 * is set to the line's Sendmail process id, or -1 when it has none.
 * why (may be NULL) says what made an SMH_BAD line bad.
 */
enum smh_result smh_feed(struct smh *h, const char *line, size_t len, long long when, long *pid,
    char *why, size_t whylen);
/* The same for a record (logline.h): a journal entry's tag and message. */
struct logrec;
enum smh_result smh_feed_rec(struct smh *h, const struct logrec *r, long long when, long *pid,
    char *why, size_t whylen);

/* Close the processes quiet for stale_after_s at "now" (all when now < 0). */
void smh_expire(struct smh *h, long long now);

void smh_get_stats(const struct smh *h, struct smh_stats *st);

/* Append the open state, one line per TLS session ("smh ..."). */
void smh_save(const struct smh *h, struct strbuf *out);

/*
 * Restore the lines of smh_save() that text holds (other lines are
 * skipped).  False when one of them was damaged (the rest is restored).
 */
bool smh_load(struct smh *h, const char *text, size_t len);

#endif
