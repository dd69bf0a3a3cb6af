/*
 * NAME
 *	logfollow - the mail log input of tlsrpt-milter
 * DESCRIPTION
 *	Follows log_file (across rename and copytruncate rotations), the
 *	systemd journal (log_file journal:) or reads standard input, and
 *	turns Postfix smtp/lmtp lines (postfix_log, postfix_sessions) and
 *	Sendmail STARTTLS=client lines (sendmail_log) into session results.
 *	The read position (offset or journal cursor) is committed to the
 *	store together with the results of the lines before it, so a
 *	restart neither loses nor counts twice.
 */
#ifndef TLSRPT_LOGFOLLOW_H
#define TLSRPT_LOGFOLLOW_H

#include <stdbool.h>

#include "conf.h"
#include "report_mails.h"
#include "session.h"
#include "store.h"
#include "writer.h"

struct logfollow;

/*
 * Open log_file (a file, the journal or stdin) and find where to start
 * from the store's saved position.
 */
struct logfollow *logfollow_open(const struct tlsrpt_conf *conf, struct store *st, char *err,
    size_t errlen);
void logfollow_attach(struct logfollow *lf, struct writer *w, struct report_mails *rm);

/*
 * Optional, before logfollow_start: every session result passes through
 * fn before it is counted (policymap_decorate() of policymap_input.h).
 * fn returns true with *out filled (counted instead of s, then freed
 * with session_free) or false to count s as it is.  mx and ip: the relay
 * of the Postfix delivery line that emitted a successful result, else
 * NULL.  Without fn every result is counted as the parsers made it.
 */
typedef bool (*logfollow_policy_fn)(void *ctx, const struct tlsrpt_session *s, const char *mx,
    const char *ip, struct tlsrpt_session *out);
void logfollow_set_policy(struct logfollow *lf, logfollow_policy_fn fn, void *ctx);
int logfollow_start(struct logfollow *lf);
void logfollow_stop(struct logfollow *lf);
/* True when standard input ended (the daemon then stops) or reading failed. */
bool logfollow_ended(struct logfollow *lf);
void logfollow_close(struct logfollow *lf);

#endif
