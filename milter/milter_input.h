/*
 * NAME
 *	milter_input - the libmilter input of tlsrpt-milter
 * DESCRIPTION
 *	For Postfix (smtpd_milters, non_smtpd_milters) and Sendmail
 *	(INPUT_MAIL_FILTER).  Per message it records the recipient domains
 *	as per-day message counts (aggregate_count_domain "messages"), so
 *	that tlsrpt-report stats can compare what the MTA received with
 *	the sessions the hooks recorded; and it recognises our own report
 *	messages (header TLS-Report-Domain), adds their queue ids to
 *	report_mails and to the store (aggregate_report_mail), so that the
 *	sessions that deliver them are left out of the next report (RFC
 *	8460 5.3).  It never rejects or delays mail: every callback
 *	continues, any internal error accepts.
 *
 *	libmilter keeps global state and takes over signals, so it runs in
 *	a child process of the daemon; the child sends compact records over
 *	a socket pair to a reader thread of the daemon.
 */
#ifndef TLSRPT_MILTER_INPUT_H
#define TLSRPT_MILTER_INPUT_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf.h"
#include "report_mails.h"
#include "writer.h"

struct milter_input;

/* Create the milter socket (as root, before privileges are dropped); NULL with err. */
struct milter_input *milter_input_open(const struct tlsrpt_conf *conf, uid_t owner, gid_t group,
    char *err, size_t errlen);

/*
 * Fork the libmilter child.  Called after privileges are dropped and
 * before any thread of the daemon exists.  Returns 0 or -1 with err.
 */
int milter_input_spawn(struct milter_input *in, char *err, size_t errlen);

/* Register the input's batch with the writer (before writer_start). */
void milter_input_attach(struct milter_input *in, struct writer *w, struct report_mails *rm);

/*
 * fn (from the reader thread) for each recipient domain of each message,
 * after it was counted: the policy map file discovers their MTA-STS
 * policies (sts_export_seen).  Set before milter_input_start().
 */
void milter_input_set_seen(struct milter_input *in, void (*fn)(void *ctx, const char *domain),
    void *ctx);

/* Start the reader thread. */
int milter_input_start(struct milter_input *in);

/* Stop the child (SIGTERM, bounded wait), read what it sent, join. */
void milter_input_stop(struct milter_input *in);

/* Close and remove the socket path. */
void milter_input_close(struct milter_input *in);

#endif
