/*
 * NAME
 *	util - allocation wrappers and small string helpers
 * DESCRIPTION
 *	The x*() allocators never return NULL: running out of memory is not
 *	something a mail-side daemon can recover from halfway, so they log
 *	and abort.  strbuf is a growable byte buffer used wherever data from
 *	outside is assembled; it never truncates.
 */
#ifndef TLSRPT_UTIL_H
#define TLSRPT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

struct strbuf {
	char *data;
	size_t len;
	size_t cap;
};

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const void *p, size_t n);
void strbuf_appendc(struct strbuf *sb, char c);
void strbuf_appends(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* 64-bit FNV-1a; good enough for in-memory tables keyed by our own data. */
uint64_t hash_bytes(const void *p, size_t n);

/* Milliseconds of CLOCK_MONOTONIC: for time-outs and rates, never for dates. */
long long monotonic_ms(void);

/*
 * Open a file named in the configuration (or the configuration itself)
 * for reading; only a regular file is taken.  It is opened O_NONBLOCK
 * (a FIFO then cannot block the open, nor the read) and checked with
 * fstat() before anything is read; the descriptor is blocking again on
 * return.  -1 when it is not: *not_regular names what it is instead ("a
 * FIFO", "a directory", "a character device"...) and errno is EINVAL,
 * or *not_regular is NULL and errno says why the open failed.
 */
int open_regular(const char *path, const char **not_regular);

/* "a FIFO", "a directory"... for a file's st_mode (not a regular file). */
const char *file_type_name(unsigned mode);

/* Format a UTC day "YYYY-MM-DD" for a time_t into out[11]. */
void utc_day(long long t, char out[11]);

/* Strict non-negative decimal parse of a whole string; false on junk/overflow. */
bool parse_u64(const char *s, uint64_t *out);

/* The value of an ASCII hex digit (either case), or -1. */
int hex_digit_value(int c);

#endif
