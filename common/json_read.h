/*
 * NAME
 *	json_read - a small strict JSON reader for hostile, hot-path input
 * DESCRIPTION
 *	Parses one JSON text (RFC 8259) into a tree allocated from an arena
 *	that the caller reuses, so reading a 500-byte datagram costs a few
 *	microseconds and no malloc in the steady state.  It exists because
 *	the datagram input must parse tens of thousands of small documents
 *	a second on one core; Jansson, measured at 18 us per datagram here,
 *	could not (see bench/).  Everything else uses Jansson.
 *
 *	Strict: the whole input must be valid UTF-8; no trailing garbage;
 *	no comments; strings are unescaped, and "\u0000", lone surrogates or
 *	control characters in strings are errors; nesting deeper than
 *	JSON_MAX_DEPTH is an error.  Numbers keep an exact int64 value when
 *	they are integers in range; anything else is a JSON_REAL.
 *	Duplicate object keys: json_get() returns the last, as Jansson does.
 */
#ifndef TLSRPT_JSON_READ_H
#define TLSRPT_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32

enum json_kind {
	JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_INT, JSON_REAL,
	JSON_STRING, JSON_ARRAY, JSON_OBJECT,
};

struct json_node {
	enum json_kind kind;
	struct json_node *next;		/* next element / member */
	const char *key;		/* member name when inside an object */
	size_t keylen;
	union {
		int64_t i;
		struct { const char *s; size_t len; } str;
		struct { struct json_node *first; size_t n; } kids;	/* array, object */
	} u;
};

struct json_arena {
	char *block;
	size_t used, cap;
	struct json_arena_block *more;	/* overflow blocks, freed on reset */
};

enum json_error {
	JSON_OK = 0,
	JSON_ERR_UTF8,		/* input is not valid UTF-8 */
	JSON_ERR_SYNTAX,	/* not JSON */
	JSON_ERR_DEPTH,		/* nested too deeply */
};

void json_arena_init(struct json_arena *a);
void json_arena_reset(struct json_arena *a);	/* forget every node, keep the memory */
void json_arena_free(struct json_arena *a);

/*
 * Parse buf[0..len).  On JSON_OK *root is the top value (valid until
 * the arena is reset); else *errpos is the byte offset of the problem.
 */
enum json_error json_read(struct json_arena *a, const char *buf, size_t len,
    struct json_node **root, size_t *errpos);

/* Member of an object by name, or NULL. */
const struct json_node *json_get(const struct json_node *obj, const char *key);

/* Append a JSON string literal for s[0..len) (valid UTF-8) to out. */
struct strbuf;
void json_quote(struct strbuf *out, const char *s, size_t len);

#endif
