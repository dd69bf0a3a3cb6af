/*
 * NAME
 *	logline - spans over a mail log line, and the syslog line prefix
 * SYNOPSIS
 *	#include "logline.h"
 * DESCRIPTION
 *	What the Postfix and Sendmail log parsers (postfix_log.c,
 *	sendmail_log.c) share: a read-only window on the line (struct span)
 *	with the small operations on it, ASCII character classes, and the
 *	readers of what precedes every message: the time stamp and host
 *	("Nov 23 18:41:55 host " or "2026-11-23T18:41:55.1+00:00 host ") and
 *	the syslog tag "name[pid]: ", and the record (struct logrec) the
 *	parsers read: tag and message, from a line or from the fields of a
 *	journal entry.
 *
 *	Pure: no I/O, no allocation, no state.  Nothing here reads before
 *	s.p or past s.p + s.n, so a line need not be NUL-terminated.  The
 *	smallest operations are static inline: the parsers call them for
 *	every byte of a line.
 */
#ifndef TLSRPT_LOGLINE_H
#define TLSRPT_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A read-only window on a line: s.n bytes from s.p. */
struct span {
	const char *p;
	size_t n;
};

#define SPAN_NPOS ((size_t)-1)	/* "not found" of the span_find*() */

/* ---- ASCII classes (no locale) ---- */

static inline int ll_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static inline bool ll_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool ll_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool ll_is_alnum(int c)
{
	return ll_is_digit(c) || ll_is_alpha(c);
}

/* ---- spans ---- */

/* Drop the first k bytes (k <= s->n). */
static inline void span_advance(struct span *s, size_t k)
{
	s->p += k;
	s->n -= k;
}

/* The first k bytes of s (all of s if it is shorter). */
static inline struct span span_first(struct span s, size_t k)
{
	if (k < s.n)
		s.n = k;
	return s;
}

static inline bool span_starts_with(struct span s, const char *lit)
{
	size_t k = strlen(lit);

	return s.n >= k && memcmp(s.p, lit, k) == 0;
}

/* If s starts with lit, drop it and say true. */
static inline bool span_eat(struct span *s, const char *lit)
{
	if (!span_starts_with(*s, lit))
		return false;
	span_advance(s, strlen(lit));
	return true;
}

/* Offset of the first (last) lit in s; SPAN_NPOS if none or lit is "". */
size_t span_find(struct span s, const char *lit);
size_t span_find_last(struct span s, const char *lit);

/* The same ignoring ASCII case; "" is found at 0. */
size_t span_find_ci(struct span s, const char *lit);
bool span_contains_ci(struct span s, const char *lit);

/* s without leading and trailing spaces and tabs. */
struct span span_trim(struct span s);

/* Copy s to dst and terminate; false if it does not fit or holds a NUL. */
bool span_copy(char *dst, size_t size, struct span s);

/*
 * Copy free text to dst and terminate, cut at a NUL or at the field's size
 * (size > 0); true if the size cut it.
 */
bool span_copy_text(char *dst, size_t size, struct span s);

/* ---- the line ---- */

/* Host name in place: lower case, one trailing dot removed. */
void ll_normalise_host(char *h);

/* Skip one token of non-space bytes and the single space after it. */
bool ll_skip_token(struct span *s);

/*
 * Skip the syslog prefix, time stamp and host: ISO/RFC 3339
 * ("2026-11-23T18:41:55.123456+00:00 host ") or classic ("Nov 23
 * 18:41:55 host ", "Nov  3 ...").  False, s unchanged, when the line
 * starts with neither (journalctl -o cat): the tag may come first.
 */
bool ll_skip_prefix(struct span *s);

/*
 * The syslog tag "name[pid]: ": on success *name is the bytes before "["
 * (not empty, without space or ':'), *pid the pid (1 to 9 digits), and
 * s is left at the message.  Unchanged on failure.
 */
bool ll_read_tag(struct span *s, struct span *name, long *pid);

/*
 * One log record as the parsers read it: the syslog tag's name and pid
 * and the message after "name[pid]: ".  It comes from a line
 * (ll_split_line) or straight from a journal entry's fields
 * (SYSLOG_IDENTIFIER, SYSLOG_PID, MESSAGE), which are then not put
 * together into a line to be taken apart again.  size is what the
 * parsers' length limits (PFL_MAX_LINE, SML_MAX_LINE) apply to: the
 * length of the whole line.
 */
struct logrec {
	struct span name;	/* e.g. "postfix/smtp", "sm-mta" */
	long pid;
	struct span msg;
	size_t size;
};

/*
 * A line (its prefix skipped as ll_skip_prefix does) into a record; false
 * when it has no tag (then no parser uses it).  line may be NULL (len 0).
 */
bool ll_split_line(const char *line, size_t len, struct logrec *r);

#endif
