/*
 * NAME
 *	logtime - the time stamp at the start of a mail log line
 * DESCRIPTION
 *	Two shapes: the classic syslog "Nov 23 21:16:29 " (local time, no
 *	year: the year is the one that puts the stamp closest to, and not
 *	more than a day after, "now") and RFC 3339 "2026-11-23T21:16:29.123456+01:00 "
 *	(rsyslog's high-precision format, journalctl -o short-iso).  The
 *	classic form is converted through a cache per minute, so a busy log
 *	costs one mktime() a minute rather than one per line.
 */
#ifndef TLSRPT_LOGTIME_H
#define TLSRPT_LOGTIME_H

#include <stddef.h>

struct logtime_cache {
	char key[12];		/* "Nov 23 21:16" of the cached minute */
	long long minute;	/* its epoch seconds */
	long long now;		/* the "now" the cached year was chosen for, to the day */
};

/* Seconds since the epoch, or -1 when the line does not start with a time stamp. */
long long logtime_parse(struct logtime_cache *c, const char *line, size_t len, long long now);

#endif
