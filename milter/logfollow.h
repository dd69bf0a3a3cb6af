/*
 * NAME
 *	logfollow - the mail log input of tlsrpt-milter
 * DESCRIPTION
 *	Follows log_file (across rename and copytruncate rotations) or reads
 *	standard input, and turns Postfix smtp/lmtp lines (postfix_log,
 *	postfix_sessions) and Sendmail STARTTLS=client lines (sendmail_log)
 *	into session results.  The read position is committed to the store
 *	together with the results of the lines before it, so a restart
 *	neither loses nor counts twice.
 */
#ifndef TLSRPT_LOGFOLLOW_H
#define TLSRPT_LOGFOLLOW_H

#include <stdbool.h>

#include "conf.h"
#include "report_mails.h"
#include "store.h"
#include "writer.h"

struct logfollow;

/* Open log_file (or stdin) and find where to start from the store's saved position. */
struct logfollow *logfollow_open(const struct tlsrpt_conf *conf, struct store *st, char *err,
    size_t errlen);
void logfollow_attach(struct logfollow *lf, struct writer *w, struct report_mails *rm);
int logfollow_start(struct logfollow *lf);
void logfollow_stop(struct logfollow *lf);
/* True when standard input ended (the daemon then stops) or reading failed. */
bool logfollow_ended(struct logfollow *lf);
void logfollow_close(struct logfollow *lf);

#endif
