/*
 * NAME
 *	json_read - a small strict JSON reader for hostile, hot-path input
 * DESCRIPTION
 *	See json_read.h.  A recursive-descent parser whose recursion is
 *	bounded by JSON_MAX_DEPTH; the arena grows by whole blocks and is
 *	reused, and its strings point into the arena (unescaped copies).
 */
#include "json_read.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct json_arena_block {
	struct json_arena_block *next;
	char data[];
};

#define ARENA_FIRST 16384

void json_arena_init(struct json_arena *a)
{
	a->block = xmalloc(ARENA_FIRST);
	a->used = 0;
	a->cap = ARENA_FIRST;
	a->more = NULL;
}

void json_arena_reset(struct json_arena *a)
{
	while (a->more) {
		struct json_arena_block *b = a->more;

		a->more = b->next;
		free(b);
	}
	a->used = 0;
}

void json_arena_free(struct json_arena *a)
{
	json_arena_reset(a);
	free(a->block);
	a->block = NULL;
	a->cap = 0;
}

static void *arena_alloc(struct json_arena *a, size_t n)
{
	struct json_arena_block *b;
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (a->used + n <= a->cap) {
		p = a->block + a->used;
		a->used += n;
		return p;
	}
	/* rare: a document larger than the first block */
	b = xmalloc(sizeof(*b) + n);
	b->next = a->more;
	a->more = b;
	return b->data;
}

/* ---- UTF-8 --------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (RFC 3629), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (left >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (left < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0;	/* surrogates */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (left < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;	/* above U+10FFFF */
		return 4;
	}
	return 0;
}

static bool utf8_valid(const char *buf, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;

	while (i < len) {
		size_t n;

		/* fast path over ASCII */
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seq(s + i, len - i)) == 0) {
			*bad = i;
			return false;
		}
		i += n;
	}
	return true;
}

static size_t utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* ---- parser -------------------------------------------------------- */

struct reader {
	struct json_arena *arena;
	const char *p, *start, *end;
	enum json_error err;
};

static bool failed(struct reader *r, enum json_error e)
{
	if (r->err == JSON_OK)
		r->err = e;
	return false;
}

static void skip_ws(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* r->p is at the opening quote.  The unescaped text goes into the arena. */
static bool read_string(struct reader *r, const char **out, size_t *outlen)
{
	const char *s = ++r->p, *q;
	char *dst, *o;

	/* find the closing quote, noting whether any escape needs work */
	for (q = s; q < r->end && *q != '"'; q++) {
		if ((unsigned char)*q < 0x20)
			return r->p = q, failed(r, JSON_ERR_SYNTAX);
		if (*q == '\\' && ++q == r->end)
			break;
	}
	if (q >= r->end)
		return r->p = r->end, failed(r, JSON_ERR_SYNTAX);
	/* unescaped text is never longer than the escaped */
	dst = o = arena_alloc(r->arena, (size_t)(q - s) + 1);
	while (r->p < q) {
		uint32_t cp;
		int h;

		if (*r->p != '\\') {
			*o++ = *r->p++;
			continue;
		}
		r->p++;
		switch (*r->p++) {
		case '"': *o++ = '"'; continue;
		case '\\': *o++ = '\\'; continue;
		case '/': *o++ = '/'; continue;
		case 'b': *o++ = '\b'; continue;
		case 'f': *o++ = '\f'; continue;
		case 'n': *o++ = '\n'; continue;
		case 'r': *o++ = '\r'; continue;
		case 't': *o++ = '\t'; continue;
		case 'u': break;
		default: return r->p--, failed(r, JSON_ERR_SYNTAX);
		}
		if (q - r->p < 4 || (h = hex4(r->p)) < 0)
			return failed(r, JSON_ERR_SYNTAX);
		r->p += 4;
		cp = (uint32_t)h;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return failed(r, JSON_ERR_SYNTAX);	/* lone low surrogate */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			int lo;

			if (q - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
			    (lo = hex4(r->p + 2)) < 0xdc00 || lo > 0xdfff)
				return failed(r, JSON_ERR_SYNTAX);
			r->p += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
		}
		if (cp == 0)
			return failed(r, JSON_ERR_SYNTAX);	/* NUL: our strings are C strings */
		o += utf8_put(o, cp);
	}
	*o = '\0';
	r->p = q + 1;
	*out = dst;
	*outlen = (size_t)(o - dst);
	return true;
}

static bool read_number(struct reader *r, struct json_node *n)
{
	const char *s = r->p;
	bool neg = false, is_int = true;
	uint64_t v = 0;
	bool overflow = false;

	if (r->p < r->end && *r->p == '-') {
		neg = true;
		r->p++;
	}
	if (r->p >= r->end || *r->p < '0' || *r->p > '9')
		return failed(r, JSON_ERR_SYNTAX);
	if (*r->p == '0') {
		r->p++;
	} else {
		for (; r->p < r->end && *r->p >= '0' && *r->p <= '9'; r->p++) {
			if (v > (UINT64_MAX - 9) / 10)
				overflow = true;
			else
				v = v * 10 + (uint64_t)(*r->p - '0');
		}
	}
	if (r->p < r->end && *r->p == '.') {
		is_int = false;
		r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return failed(r, JSON_ERR_SYNTAX);
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		is_int = false;
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return failed(r, JSON_ERR_SYNTAX);
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	(void)s;
	if (!is_int || overflow || v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) {
		n->kind = JSON_REAL;
		return true;
	}
	n->kind = JSON_INT;
	n->u.i = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

static bool literal(struct reader *r, const char *word, size_t len)
{
	if ((size_t)(r->end - r->p) < len || memcmp(r->p, word, len) != 0)
		return failed(r, JSON_ERR_SYNTAX);
	r->p += len;
	return true;
}

static bool read_value(struct reader *r, struct json_node *n, int depth);

static bool read_container(struct reader *r, struct json_node *n, int depth, bool object)
{
	struct json_node **tail = &n->u.kids.first;
	char close = object ? '}' : ']';

	if (depth >= JSON_MAX_DEPTH)
		return failed(r, JSON_ERR_DEPTH);
	n->kind = object ? JSON_OBJECT : JSON_ARRAY;
	n->u.kids.first = NULL;
	n->u.kids.n = 0;
	r->p++;
	skip_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return true;
	}
	for (;;) {
		struct json_node *kid = arena_alloc(r->arena, sizeof(*kid));

		kid->next = NULL;
		kid->key = NULL;
		kid->keylen = 0;
		skip_ws(r);
		if (object) {
			if (r->p >= r->end || *r->p != '"')
				return failed(r, JSON_ERR_SYNTAX);
			if (!read_string(r, &kid->key, &kid->keylen))
				return false;
			skip_ws(r);
			if (r->p >= r->end || *r->p != ':')
				return failed(r, JSON_ERR_SYNTAX);
			r->p++;
			skip_ws(r);
		}
		if (!read_value(r, kid, depth + 1))
			return false;
		*tail = kid;
		tail = &kid->next;
		n->u.kids.n++;
		skip_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == close) {
			r->p++;
			return true;
		}
		return failed(r, JSON_ERR_SYNTAX);
	}
}

static bool read_value(struct reader *r, struct json_node *n, int depth)
{
	if (r->p >= r->end)
		return failed(r, JSON_ERR_SYNTAX);
	switch (*r->p) {
	case '{':
		return read_container(r, n, depth, true);
	case '[':
		return read_container(r, n, depth, false);
	case '"':
		n->kind = JSON_STRING;
		return read_string(r, &n->u.str.s, &n->u.str.len);
	case 't':
		n->kind = JSON_TRUE;
		return literal(r, "true", 4);
	case 'f':
		n->kind = JSON_FALSE;
		return literal(r, "false", 5);
	case 'n':
		n->kind = JSON_NULL;
		return literal(r, "null", 4);
	default:
		return read_number(r, n);
	}
}

enum json_error json_read(struct json_arena *a, const char *buf, size_t len,
    struct json_node **root, size_t *errpos)
{
	struct reader r = {a, buf, buf, buf + len, JSON_OK};
	struct json_node *n;
	size_t bad;

	*root = NULL;
	*errpos = 0;
	if (!utf8_valid(buf, len, &bad)) {
		*errpos = bad;
		return JSON_ERR_UTF8;
	}
	n = arena_alloc(a, sizeof(*n));
	n->next = NULL;
	n->key = NULL;
	n->keylen = 0;
	skip_ws(&r);
	if (read_value(&r, n, 0)) {
		skip_ws(&r);
		if (r.p == r.end) {
			*root = n;
			return JSON_OK;
		}
		failed(&r, JSON_ERR_SYNTAX);
	}
	*errpos = (size_t)(r.p - r.start);
	return r.err;
}

const struct json_node *json_get(const struct json_node *obj, const char *key)
{
	const struct json_node *found = NULL;
	size_t klen = strlen(key);

	if (obj == NULL || obj->kind != JSON_OBJECT)
		return NULL;
	for (const struct json_node *m = obj->u.kids.first; m; m = m->next)
		if (m->keylen == klen && memcmp(m->key, key, klen) == 0)
			found = m;
	return found;
}

void json_quote(struct strbuf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	strbuf_appendc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[6];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		strbuf_append(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		}
		if (esc) {
			strbuf_appends(out, esc);
			continue;
		}
		u[0] = '\\';
		u[1] = 'u';
		u[2] = '0';
		u[3] = '0';
		u[4] = hex[c >> 4];
		u[5] = hex[c & 15];
		strbuf_append(out, u, 6);
	}
	strbuf_append(out, s + run, len - run);
	strbuf_appendc(out, '"');
}
