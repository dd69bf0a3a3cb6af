/*
 * NAME
 *	deliver - submit due reports to their destinations and keep score
 * DESCRIPTION
 *	Takes the deliveries that are due from the store, posts the https:
 *	ones concurrently (submit_https), mails the mailto: ones through the
 *	sendmail command (submit_mail), DKIM-signed when a key is configured
 *	(dkim), and records each outcome: sent, failed-temporary with the
 *	next try (exponential back-off from retry_interval), failed-permanent,
 *	or gave-up once give_up_after has passed since the first attempt.
 *	Each destination stands alone: one failing never holds back another,
 *	except that once the sendmail command has been killed at
 *	sendmail_timeout, the run hands it no further mail (they stay due,
 *	not counted as attempts, "deferred"): a hung MTA would cost the
 *	time-out again for every mail.
 */
#ifndef TLSRPT_DELIVER_H
#define TLSRPT_DELIVER_H

#include <stdbool.h>

#include "conf.h"
#include "output.h"
#include "store.h"

struct deliver_totals {
	unsigned sent, temporary, permanent, gave_up;
	unsigned deferred;	/* mail not tried: the sendmail command hung earlier in the run */
};

struct delivery_outcome;	/* in deliver.c */

/*
 * The state after a failed attempt (pure: for the tests).  attempts is
 * the count before this attempt; first_attempt 0 means this is the first.
 */
struct delivery_update deliver_failure_update(bool permanent, int attempts,
    long long first_attempt, long long now, long long retry_interval_s,
    long long give_up_after_s, const char *error);

/*
 * Deliver what is due now (only report_id's deliveries when not NULL).
 * Adds one row per attempt to "out".  Returns 0; -1 with err when the
 * configuration does not allow a run (sendmail_command, DKIM key); -2
 * with err when the store or the run failed.
 */
int deliver_due(struct store *st, const struct tlsrpt_conf *conf, const char *submitter,
    long long now, const char *report_id, struct table *out, struct deliver_totals *t,
    char *err, size_t errlen);

#endif
