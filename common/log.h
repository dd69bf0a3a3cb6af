/*
 * NAME
 *	log - one logging path for both programs
 * DESCRIPTION
 *	Messages go to syslog (facility from the configuration, "mail" by
 *	default) or, in foreground mode, to stderr with a timestamp.  One
 *	line per event, "key=value" fields after a short verb, so that
 *	operators can grep them.  log_ratelimited() lets hostile input be
 *	logged without letting it flood the log: at most a burst of lines per
 *	key per minute, then one "suppressed N" line when the window rolls.
 */
#ifndef TLSRPT_LOG_H
#define TLSRPT_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* Severities are syslog's: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG. */
void log_open(const char *ident, int facility, bool to_stderr);
void log_set_level(int level);
void log_set_facility(int facility);
int log_get_level(void);
void log_close(void);
/*
 * Around closing every descriptor (a forked helper): log_detach() closes
 * syslog's descriptor and log_reopen() opens it again; stderr logging is
 * unaffected.
 */
void log_detach(void);
void log_reopen(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Name <-> number for configuration values; -1 if unknown. */
int log_level_from_name(const char *name);
int log_facility_from_name(const char *name);
const char *log_level_name(int level);

/*
 * Rate limiting: a caller owns one struct per kind of message.
 * Thread-safe.  At most "burst" lines per 60 s window.
 */
struct log_limit {
	long long window_start;
	unsigned printed;
	unsigned long suppressed;
};

#define LOG_LIMIT_BURST 10

void log_ratelimited(struct log_limit *lim, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
