/*
 * NAME
 *	report_mails - the queue ids of our own report messages
 * DESCRIPTION
 *	RFC 8460 section 5.3: the session that delivers a TLS report must
 *	not be counted in the next report.  The milter input sees a report
 *	message (header TLS-Report-Domain) while the MTA receives it and
 *	adds its queue id here; the log follower and the socketmap input ask
 *	before they count a delivery of that queue id.  The set is also
 *	committed to the store (aggregate_report_mail) and loaded at start,
 *	so a restart between submission and delivery does not forget it.
 *	Thread-safe.  Bounded: beyond REPORT_MAILS_MAX the oldest id goes,
 *	and ids older than REPORT_MAILS_TTL go when a new one arrives (short
 *	Postfix queue ids are reused over time).
 */
#ifndef TLSRPT_REPORT_MAILS_H
#define TLSRPT_REPORT_MAILS_H

#include <stdbool.h>

#define REPORT_MAILS_MAX 100000
#define REPORT_MAILS_TTL (7 * 86400)	/* seconds an id is kept: its mail may sit in the queue */

struct report_mails;

struct report_mails *report_mails_new(void);
void report_mails_free(struct report_mails *rm);

/* Remember queue_id (seen at "when", seconds since the epoch). */
void report_mails_add(struct report_mails *rm, const char *queue_id, long long when);

/* True when queue_id is a report message.  NULL or "" is never one. */
bool report_mails_contains(struct report_mails *rm, const char *queue_id);

/* Forget ids seen before "before". */
void report_mails_expire(struct report_mails *rm, long long before);

/* Number of ids held. */
unsigned long report_mails_count(struct report_mails *rm);

#endif
