/*
 * NAME
 *	fuzz_datagram - libFuzzer entry point for json_read() and dg_parse()
 * SYNOPSIS
 *	make fuzz FUZZ_SECONDS=300
 *	tests/fuzz_replay tests/fuzz-corpus
 * DESCRIPTION
 *	Feeds one input to both parsers of the datagram path and checks
 *	what they produce, abort()ing on any broken invariant so that
 *	libFuzzer (or fuzz_replay) reports it like a crash:
 *
 *	json_read() is compared with an independent reference recogniser
 *	written here (RFC 8259 + RFC 3629, with json_read's documented
 *	extra rules: no "\u0000", no lone surrogates, nesting at most
 *	JSON_MAX_DEPTH).  Both must agree on accept/reject and on the kind
 *	of error (and on the offset of invalid UTF-8); on acceptance both
 *	must describe the same tree (same kinds, keys, string bytes and
 *	integer values).  Every string and key must be NUL-terminated,
 *	NUL-free, valid UTF-8, and survive json_quote() -> json_read()
 *	unchanged.
 *
 *	dg_parse() must return a status consistent with json_read, never
 *	DG_ERR_OVERSIZE, leave *out empty and a printable message on error,
 *	and on DG_OK produce a session that agrees with the JSON tree: a
 *	normalised domain, one policy result per "policies" element, policy
 *	strings and mx patterns as canonical JSON arrays of strings, one
 *	failure per "failure-details" element with a known result code.
 *
 *	Arenas are static and reused across inputs, as in the daemon.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datagram.h"
#include "json_read.h"
#include "session.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_WHEN 1700000000LL

static void check_failed(const char *what, int line) __attribute__((noreturn));

static void check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_datagram.c:%d: invariant violated: %s\n", line, what);
	abort();
}

#define CHECK(cond) do { if (!(cond)) check_failed(#cond, __LINE__); } while (0)

static struct json_arena tree_arena;	/* json_read() of the input */
static struct json_arena dg_arena;	/* dg_parse() */
static struct json_arena scratch_arena;	/* re-parsing what we generate */
static bool arenas_ready;

static void arenas_free(void)
{
	json_arena_free(&tree_arena);
	json_arena_free(&dg_arena);
	json_arena_free(&scratch_arena);
}

static void arenas_init(void)
{
	if (arenas_ready)
		return;
	json_arena_init(&tree_arena);
	json_arena_init(&dg_arena);
	json_arena_init(&scratch_arena);
	atexit(arenas_free);
	arenas_ready = true;
}

/* ---- reference UTF-8 (RFC 3629), written independently of json_read ---- */

/* Length of the valid sequence at s, or 0: decode, then range-check. */
static size_t ref_utf8_len(const unsigned char *s, size_t left)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static bool ref_utf8_valid(const char *buf, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0, n;

	while (i < len) {
		if ((n = ref_utf8_len(s + i, len - i)) == 0) {
			if (bad)
				*bad = i;
			return false;
		}
		i += n;
	}
	return true;
}

static void ref_put_utf8(struct strbuf *sb, uint32_t cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	strbuf_append(sb, b, n);
}

/* ---- reference JSON recogniser ------------------------------------------
 * Emits a canonical, length-prefixed description of the value into out:
 * n t f, i<int64>; r (any non-integer or out-of-range number),
 * s<len>:<bytes>, [ ... ], { key value ... }.
 */
struct ref {
	const unsigned char *p, *end;
	struct strbuf *out;
	enum json_error err;
};

static bool ref_fail(struct ref *r, enum json_error e)
{
	if (r->err == JSON_OK)
		r->err = e;
	return false;
}

static void ref_ws(struct ref *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool ref_hex4(struct ref *r, uint32_t *v)
{
	*v = 0;
	if (r->end - r->p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		unsigned char c = *r->p++;
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (uint32_t)((c | 0x20) - 'a' + 10);
		else
			return false;
		*v = *v * 16 + d;
	}
	return true;
}

static void emit_str(struct strbuf *out, const char *s, size_t len)
{
	strbuf_printf(out, "s%zu:", len);
	strbuf_append(out, s, len);
}

/* r->p at the opening quote; the decoded bytes are emitted as a string. */
static bool ref_string(struct ref *r)
{
	struct strbuf dec;
	bool ok = false;

	strbuf_init(&dec);
	r->p++;
	for (;;) {
		unsigned char c;
		uint32_t cp, lo;

		if (r->p >= r->end)
			goto out;
		c = *r->p++;
		if (c == '"')
			break;
		if (c < 0x20)
			goto out;
		if (c != '\\') {
			strbuf_appendc(&dec, (char)c);
			continue;
		}
		if (r->p >= r->end)
			goto out;
		switch (c = *r->p++) {
		case '"': case '\\': case '/':
			strbuf_appendc(&dec, (char)c);
			continue;
		case 'b': strbuf_appendc(&dec, 0x08); continue;
		case 'f': strbuf_appendc(&dec, 0x0c); continue;
		case 'n': strbuf_appendc(&dec, 0x0a); continue;
		case 'r': strbuf_appendc(&dec, 0x0d); continue;
		case 't': strbuf_appendc(&dec, 0x09); continue;
		case 'u': break;
		default: goto out;
		}
		if (!ref_hex4(r, &cp) || cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
			goto out;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
				goto out;
			r->p += 2;
			if (!ref_hex4(r, &lo) || lo < 0xdc00 || lo > 0xdfff)
				goto out;
			cp = 0x10000 + ((cp & 0x3ff) << 10 | (lo & 0x3ff));
		}
		ref_put_utf8(&dec, cp);
	}
	emit_str(r->out, dec.data ? dec.data : "", dec.len);
	ok = true;
out:
	strbuf_free(&dec);
	return ok ? true : ref_fail(r, JSON_ERR_SYNTAX);
}

static bool ref_digits(struct ref *r)
{
	const unsigned char *s = r->p;

	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	return r->p > s;
}

static bool ref_number(struct ref *r)
{
	const unsigned char *d;
	bool neg = false, integer = true, big = false;
	uint64_t v = 0;

	if (r->p < r->end && *r->p == '-') {
		neg = true;
		r->p++;
	}
	d = r->p;
	if (!ref_digits(r))
		return ref_fail(r, JSON_ERR_SYNTAX);
	if (*d == '0' && r->p - d > 1) {
		/* "01": the number is "0", the "1" is trailing garbage */
		r->p = d + 1;
	}
	for (const unsigned char *q = d; q < r->p; q++) {
		unsigned digit = (unsigned)(*q - '0');

		if (v > (UINT64_MAX - digit) / 10)
			big = true;
		else
			v = v * 10 + digit;
	}
	if (r->p < r->end && *r->p == '.') {
		integer = false;
		r->p++;
		if (!ref_digits(r))
			return ref_fail(r, JSON_ERR_SYNTAX);
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		integer = false;
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (!ref_digits(r))
			return ref_fail(r, JSON_ERR_SYNTAX);
	}
	if (!integer || big || (!neg && v > (uint64_t)INT64_MAX) ||
	    (neg && v > (uint64_t)INT64_MAX + 1)) {
		strbuf_appendc(r->out, 'r');
	} else if (neg && v == (uint64_t)INT64_MAX + 1) {
		strbuf_printf(r->out, "i%lld;", (long long)INT64_MIN);
	} else {
		strbuf_printf(r->out, "i%lld;", neg ? -(long long)v : (long long)v);
	}
	return true;
}

static bool ref_word(struct ref *r, const char *w, char tag)
{
	size_t n = strlen(w);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
		return ref_fail(r, JSON_ERR_SYNTAX);
	r->p += n;
	strbuf_appendc(r->out, tag);
	return true;
}

static bool ref_value(struct ref *r, int depth);

static bool ref_container(struct ref *r, int depth, char open, char close)
{
	bool first = true;

	if (depth + 1 > JSON_MAX_DEPTH)
		return ref_fail(r, JSON_ERR_DEPTH);
	strbuf_appendc(r->out, open);
	r->p++;
	ref_ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		strbuf_appendc(r->out, close);
		return true;
	}
	for (;;) {
		if (!first) {
			ref_ws(r);
			if (r->p < r->end && *r->p == close) {
				r->p++;
				strbuf_appendc(r->out, close);
				return true;
			}
			if (r->p >= r->end || *r->p != ',')
				return ref_fail(r, JSON_ERR_SYNTAX);
			r->p++;
		}
		first = false;
		ref_ws(r);
		if (open == '{') {
			if (r->p >= r->end || *r->p != '"')
				return ref_fail(r, JSON_ERR_SYNTAX);
			if (!ref_string(r))
				return false;
			ref_ws(r);
			if (r->p >= r->end || *r->p != ':')
				return ref_fail(r, JSON_ERR_SYNTAX);
			r->p++;
			ref_ws(r);
		}
		if (!ref_value(r, depth + 1))
			return false;
	}
}

static bool ref_value(struct ref *r, int depth)
{
	if (r->p >= r->end)
		return ref_fail(r, JSON_ERR_SYNTAX);
	switch (*r->p) {
	case '{': return ref_container(r, depth, '{', '}');
	case '[': return ref_container(r, depth, '[', ']');
	case '"': return ref_string(r);
	case 't': return ref_word(r, "true", 't');
	case 'f': return ref_word(r, "false", 'f');
	case 'n': return ref_word(r, "null", 'n');
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return ref_number(r);
	default:
		return ref_fail(r, JSON_ERR_SYNTAX);
	}
}

/* The reference verdict on buf; on JSON_OK out describes the value. */
static enum json_error ref_parse(const char *buf, size_t len, struct strbuf *out, size_t *badutf8)
{
	struct ref r = {(const unsigned char *)buf, (const unsigned char *)buf + len, out, JSON_OK};

	if (!ref_utf8_valid(buf, len, badutf8))
		return JSON_ERR_UTF8;
	ref_ws(&r);
	if (!ref_value(&r, 0))
		return r.err;
	ref_ws(&r);
	if (r.p != r.end)
		return JSON_ERR_SYNTAX;
	return JSON_OK;
}

/* ---- invariants of a json_read() tree ----------------------------------- */

/* A string or key as json_read hands it out. */
static void check_text(const char *s, size_t len)
{
	CHECK(s != NULL);
	CHECK(s[len] == '\0');
	CHECK(memchr(s, '\0', len) == NULL);
	CHECK(ref_utf8_valid(s, len, NULL));
}

/* json_quote() of s[0..len) must read back as exactly those bytes. */
static void check_quote_roundtrip(const char *s, size_t len)
{
	struct strbuf q;
	struct json_node *root;
	size_t pos;

	strbuf_init(&q);
	json_quote(&q, s, len);
	CHECK(q.len >= len + 2 && q.data[0] == '"' && q.data[q.len - 1] == '"');
	json_arena_reset(&scratch_arena);
	CHECK(json_read(&scratch_arena, q.data, q.len, &root, &pos) == JSON_OK);
	CHECK(root != NULL && root->kind == JSON_STRING);
	CHECK(root->u.str.len == len && memcmp(root->u.str.s, s, len) == 0);
	strbuf_free(&q);
}

/* Check the tree under n and describe it in ref_parse()'s notation. */
static void walk_tree(const struct json_node *n, struct strbuf *out, int depth)
{
	CHECK(depth < JSON_MAX_DEPTH + 1);
	switch (n->kind) {
	case JSON_NULL:
		strbuf_appendc(out, 'n');
		break;
	case JSON_TRUE:
		strbuf_appendc(out, 't');
		break;
	case JSON_FALSE:
		strbuf_appendc(out, 'f');
		break;
	case JSON_INT:
		strbuf_printf(out, "i%lld;", (long long)n->u.i);
		break;
	case JSON_REAL:
		strbuf_appendc(out, 'r');
		break;
	case JSON_STRING:
		check_text(n->u.str.s, n->u.str.len);
		check_quote_roundtrip(n->u.str.s, n->u.str.len);
		emit_str(out, n->u.str.s, n->u.str.len);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT: {
		bool object = n->kind == JSON_OBJECT;
		size_t count = 0;

		strbuf_appendc(out, object ? '{' : '[');
		for (const struct json_node *k = n->u.kids.first; k; k = k->next) {
			CHECK(count < n->u.kids.n);
			if (object) {
				check_text(k->key, k->keylen);
				check_quote_roundtrip(k->key, k->keylen);
				emit_str(out, k->key, k->keylen);
			} else {
				CHECK(k->key == NULL && k->keylen == 0);
			}
			walk_tree(k, out, depth + 1);
			count++;
		}
		CHECK(count == n->u.kids.n);
		strbuf_appendc(out, object ? '}' : ']');
		break;
	}
	default:
		CHECK(!"unknown node kind");
	}
}

/* ---- invariants of a dg_parse() session ---------------------------------- */

/* Normalised domain: what domain_normalise() promises, checked independently. */
static void check_domain(const char *d)
{
	size_t len, label = 0;

	CHECK(d != NULL);
	len = strlen(d);
	CHECK(len > 0 && len <= 253);
	CHECK(d[len - 1] != '.');
	for (size_t i = 0; i < len; i++) {
		char c = d[i];

		if (c == '.') {
			CHECK(label > 0);
			label = 0;
			continue;
		}
		CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_');
		label++;
		CHECK(label <= 63);
	}
	CHECK(label > 0);
}

/* d as the session should hold it: lower case, one trailing dot removed. */
static bool same_domain(const char *have, const struct json_node *str)
{
	size_t len = str->u.str.len;

	if (len && str->u.str.s[len - 1] == '.')
		len--;
	if (strlen(have) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = str->u.str.s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (have[i] != c)
			return false;
	}
	return true;
}

/* The canonical JSON array text the session should hold for member v. */
static void expected_array(const struct json_node *v, struct strbuf *out)
{
	bool first = true;

	strbuf_reset(out);
	strbuf_appendc(out, '[');
	if (v != NULL && v->kind == JSON_ARRAY) {
		for (const struct json_node *el = v->u.kids.first; el; el = el->next) {
			CHECK(el->kind == JSON_STRING);
			if (!first)
				strbuf_appendc(out, ',');
			first = false;
			json_quote(out, el->u.str.s, el->u.str.len);
		}
	} else {
		CHECK(v == NULL || v->kind == JSON_NULL);
	}
	strbuf_appendc(out, ']');
}

/* text must re-parse as an array of strings and be in canonical form. */
static void check_array_text(const char *text, const struct json_node *member)
{
	struct json_node *root;
	struct strbuf again, want;
	size_t pos, len;
	bool first = true;

	CHECK(text != NULL);
	len = strlen(text);
	json_arena_reset(&scratch_arena);
	CHECK(json_read(&scratch_arena, text, len, &root, &pos) == JSON_OK);
	CHECK(root->kind == JSON_ARRAY);
	strbuf_init(&again);
	strbuf_appendc(&again, '[');
	for (const struct json_node *el = root->u.kids.first; el; el = el->next) {
		CHECK(el->kind == JSON_STRING);
		check_text(el->u.str.s, el->u.str.len);
		if (!first)
			strbuf_appendc(&again, ',');
		first = false;
		json_quote(&again, el->u.str.s, el->u.str.len);
	}
	strbuf_appendc(&again, ']');
	CHECK(again.len == len && memcmp(again.data, text, len) == 0);
	strbuf_init(&want);
	expected_array(member, &want);
	CHECK(want.len == len && memcmp(want.data, text, len) == 0);
	strbuf_free(&again);
	strbuf_free(&want);
}

/* An optional string field of the session against its JSON member. */
static void check_opt_string(const char *have, const struct json_node *v)
{
	if (v == NULL || v->kind == JSON_NULL) {
		CHECK(have == NULL);
		return;
	}
	CHECK(v->kind == JSON_STRING);
	CHECK(have != NULL);
	check_text(have, strlen(have));
	CHECK(strlen(have) == v->u.str.len && memcmp(have, v->u.str.s, v->u.str.len) == 0);
}

static int64_t member_int(const struct json_node *obj, const char *key)
{
	const struct json_node *v = json_get(obj, key);

	CHECK(v != NULL && v->kind == JSON_INT);
	return v->u.i;
}

static void check_failure(const struct tlsrpt_failure *f, const struct json_node *fd)
{
	CHECK(fd->kind == JSON_OBJECT);
	CHECK(result_type_known(f->result_type));
	CHECK(member_int(fd, "c") == f->result_type);
	check_opt_string(f->sending_ip, json_get(fd, "s"));
	check_opt_string(f->mx_name, json_get(fd, "n"));
	check_opt_string(f->helo, json_get(fd, "h"));
	check_opt_string(f->receiving_ip, json_get(fd, "r"));
	check_opt_string(f->additional, json_get(fd, "a"));
	check_opt_string(f->reason, json_get(fd, "f"));
}

static void check_policy(const struct tlsrpt_session *s, const struct tlsrpt_policy_result *p,
    const struct json_node *pn)
{
	const struct json_node *pd, *fds, *fd;
	int64_t final;
	size_t n = 0, i = 0;

	CHECK(pn->kind == JSON_OBJECT);
	CHECK(policy_type_known(p->type));
	CHECK(member_int(pn, "policy-type") == p->type);
	final = member_int(pn, "f");
	CHECK(final == 0 || final == 1);
	CHECK(p->failed == (final == 1));

	check_domain(p->policy_domain);
	pd = json_get(pn, "policy-domain");
	if (pd != NULL && pd->kind == JSON_STRING) {
		CHECK(same_domain(p->policy_domain, pd));
	} else {
		CHECK(pd == NULL || pd->kind == JSON_NULL);
		CHECK(strcmp(p->policy_domain, s->domain) == 0);
	}

	check_array_text(p->policy_strings, json_get(pn, "policy-string"));
	check_array_text(p->mx_hosts, json_get(pn, "mx-host"));

	fds = json_get(pn, "failure-details");
	if (fds != NULL && fds->kind == JSON_ARRAY)
		n = fds->u.kids.n;
	else
		CHECK(fds == NULL || fds->kind == JSON_NULL);
	CHECK(member_int(pn, "t") == (int64_t)n);
	CHECK(p->nfailures == n);
	CHECK(n == 0 || p->failures != NULL);
	for (fd = n ? fds->u.kids.first : NULL; fd; fd = fd->next, i++) {
		CHECK(i < n);
		check_failure(&p->failures[i], fd);
	}
	CHECK(i == n);
}

static void check_session(const struct tlsrpt_session *s, const struct json_node *root)
{
	const struct json_node *v, *pols, *pn;
	size_t i = 0;

	CHECK(s->when == FUZZ_WHEN);
	CHECK(root != NULL && root->kind == JSON_OBJECT);
	v = json_get(root, "dpv");
	CHECK(v != NULL && v->kind == JSON_STRING && v->u.str.len == 1 && v->u.str.s[0] == '1');

	check_domain(s->domain);
	v = json_get(root, "d");
	CHECK(v != NULL && v->kind == JSON_STRING);
	CHECK(same_domain(s->domain, v));
	check_opt_string(s->record, json_get(root, "pr"));

	pols = json_get(root, "policies");
	CHECK(pols != NULL && pols->kind == JSON_ARRAY);
	CHECK(s->npolicies >= 1 && s->policies != NULL);
	CHECK(s->npolicies == pols->u.kids.n);
	for (pn = pols->u.kids.first; pn; pn = pn->next, i++) {
		CHECK(i < s->npolicies);
		check_policy(s, &s->policies[i], pn);
	}
	CHECK(i == s->npolicies);
}

static void check_rejected(const struct tlsrpt_session *s, const char *err, size_t errlen)
{
	size_t len;

	CHECK(s->domain == NULL && s->record == NULL);
	CHECK(s->npolicies == 0 && s->policies == NULL && s->when == 0);
	len = strnlen(err, errlen);
	CHECK(len > 0 && len < errlen);
	/* the message goes into a log line: printable ASCII only */
	for (size_t i = 0; i < len; i++)
		CHECK(err[i] >= 0x20 && err[i] < 0x7f);
}

/* ---- entry point -------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct json_node *root = NULL;
	struct strbuf want, have;
	struct tlsrpt_session s;
	enum json_error je, ref;
	enum dg_status st;
	size_t pos = (size_t)-1, refbad = (size_t)-1, errlen;
	char *err;

	arenas_init();

	/* (a) json_read against the reference recogniser */
	strbuf_init(&want);
	strbuf_init(&have);
	ref = ref_parse(buf, size, &want, &refbad);
	json_arena_reset(&tree_arena);
	je = json_read(&tree_arena, buf, size, &root, &pos);
	CHECK(je == JSON_OK || je == JSON_ERR_UTF8 || je == JSON_ERR_SYNTAX || je == JSON_ERR_DEPTH);
	if (je != ref)
		fprintf(stderr, "json_read says %d, reference says %d\n", (int)je, (int)ref);
	CHECK(je == ref);
	if (je == JSON_OK) {
		CHECK(root != NULL && root->key == NULL && root->keylen == 0);
		walk_tree(root, &have, 0);
		CHECK(have.len == want.len && memcmp(have.data, want.data, want.len) == 0);
	} else {
		CHECK(root == NULL);
		CHECK(pos <= size);
		if (je == JSON_ERR_UTF8)
			CHECK(pos == refbad);
	}
	strbuf_free(&want);
	strbuf_free(&have);

	/* (b) dg_parse; an exact-size heap buffer for the message catches overruns */
	errlen = (size & 1) ? 256 : 24;
	err = xmalloc(errlen);
	st = dg_parse(&dg_arena, buf, size, FUZZ_WHEN, &s, err, errlen);
	CHECK((unsigned)st < DG_STATUS_COUNT && st != DG_ERR_OVERSIZE);
	CHECK(strcmp(dg_status_name(st), "unknown") != 0);
	switch (je) {
	case JSON_ERR_UTF8:
		CHECK(st == DG_ERR_UTF8);
		break;
	case JSON_ERR_SYNTAX:
	case JSON_ERR_DEPTH:
		CHECK(st == DG_ERR_JSON);
		break;
	case JSON_OK:
		CHECK(st != DG_ERR_UTF8);
		CHECK((st == DG_ERR_JSON) == (root->kind != JSON_OBJECT));
		break;
	}
	if (st == DG_OK) {
		CHECK(err[0] == '\0');
		check_session(&s, root);
		session_free(&s);
	} else {
		check_rejected(&s, err, errlen);
	}
	free(err);

	/* give back overflow blocks now, so nothing outlives the input */
	json_arena_reset(&tree_arena);
	json_arena_reset(&dg_arena);
	json_arena_reset(&scratch_arena);
	return 0;
}
