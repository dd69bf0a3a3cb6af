/*
 * NAME
 *	datagram - parse one libtlsrpt datagram (protocol "1")
 * DESCRIPTION
 *	See datagram.h and ../shared/spec/libtlsrpt-protocol.md.  json_read
 *	does the JSON (and rejects invalid UTF-8 and embedded NULs); this
 *	module checks the shape: required keys, types, known codes, the t
 *	check value, and normalises the domain.
 */
#include "datagram.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_read.h"
#include "util.h"

static const char *const status_names[DG_STATUS_COUNT] = {
	[DG_OK] = "ok",
	[DG_ERR_OVERSIZE] = "oversize",
	[DG_ERR_UTF8] = "invalid_utf8",
	[DG_ERR_JSON] = "not_json",
	[DG_ERR_MISSING_KEY] = "missing_key",
	[DG_ERR_TYPE] = "wrong_type",
	[DG_ERR_VERSION] = "unknown_version",
	[DG_ERR_POLICY_TYPE] = "unknown_policy_type",
	[DG_ERR_RESULT_CODE] = "unknown_result_code",
	[DG_ERR_T_MISMATCH] = "t_mismatch",
	[DG_ERR_VALUE] = "bad_value",
};

const char *dg_status_name(enum dg_status st)
{
	if ((unsigned)st >= DG_STATUS_COUNT)
		return "unknown";
	return status_names[st];
}

struct parse_ctx {
	char *err;
	size_t errlen;
	struct strbuf scratch;
};

static enum dg_status fail(struct parse_ctx *ctx, enum dg_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum dg_status fail(struct parse_ctx *ctx, enum dg_status st, const char *fmt, ...)
{
	va_list ap;

	if (ctx->errlen) {
		va_start(ap, fmt);
		vsnprintf(ctx->err, ctx->errlen, fmt, ap);
		va_end(ap);
	}
	return st;
}

/* Optional string member: absent or null -> NULL; present but not a string -> error. */
static enum dg_status get_opt_string(struct parse_ctx *ctx, const struct json_node *obj,
    const char *key, const char *where, char **out)
{
	const struct json_node *v = json_get(obj, key);

	*out = NULL;
	if (v == NULL || v->kind == JSON_NULL)
		return DG_OK;
	if (v->kind != JSON_STRING)
		return fail(ctx, DG_ERR_TYPE, "%s%s: expected a string", where, key);
	*out = xstrndup(v->u.str.s, v->u.str.len);
	return DG_OK;
}

static enum dg_status get_int(struct parse_ctx *ctx, const struct json_node *obj,
    const char *key, const char *where, int64_t *out)
{
	const struct json_node *v = json_get(obj, key);

	if (v == NULL)
		return fail(ctx, DG_ERR_MISSING_KEY, "%s%s: missing", where, key);
	if (v->kind != JSON_INT)
		return fail(ctx, DG_ERR_TYPE, "%s%s: expected an integer", where, key);
	*out = v->u.i;
	return DG_OK;
}

/* Optional array of strings -> canonical compact JSON text ("[]" if absent). */
static enum dg_status get_string_array(struct parse_ctx *ctx, const struct json_node *obj,
    const char *key, const char *where, char **out)
{
	const struct json_node *v = json_get(obj, key);
	struct strbuf *sb = &ctx->scratch;
	size_t i = 0;

	*out = NULL;
	if (v == NULL || v->kind == JSON_NULL) {
		*out = xstrdup("[]");
		return DG_OK;
	}
	if (v->kind != JSON_ARRAY)
		return fail(ctx, DG_ERR_TYPE, "%s%s: expected an array of strings", where, key);
	strbuf_reset(sb);
	strbuf_appendc(sb, '[');
	for (const struct json_node *el = v->u.kids.first; el; el = el->next, i++) {
		if (el->kind != JSON_STRING)
			return fail(ctx, DG_ERR_TYPE, "%s%s[%zu]: expected a string", where, key, i);
		if (i)
			strbuf_appendc(sb, ',');
		json_quote(sb, el->u.str.s, el->u.str.len);
	}
	strbuf_appendc(sb, ']');
	*out = xstrndup(sb->data, sb->len);
	return DG_OK;
}

static enum dg_status parse_failure(struct parse_ctx *ctx, const struct json_node *fd,
    const char *where, struct tlsrpt_failure *f)
{
	static const struct {
		const char *key;
		size_t off;
	} fields[] = {
		{"s", offsetof(struct tlsrpt_failure, sending_ip)},
		{"n", offsetof(struct tlsrpt_failure, mx_name)},
		{"h", offsetof(struct tlsrpt_failure, helo)},
		{"r", offsetof(struct tlsrpt_failure, receiving_ip)},
		{"a", offsetof(struct tlsrpt_failure, additional)},
		{"f", offsetof(struct tlsrpt_failure, reason)},
	};
	int64_t code;
	enum dg_status st;

	if (fd->kind != JSON_OBJECT)	/* "where" ends in "." */
		return fail(ctx, DG_ERR_TYPE, "%.*s: expected an object",
		    (int)strlen(where) - 1, where);
	if ((st = get_int(ctx, fd, "c", where, &code)) != DG_OK)
		return st;
	if (code < 0 || code > 100000 || !result_type_known((int)code))
		return fail(ctx, DG_ERR_RESULT_CODE, "%sc: unknown result code %lld",
		    where, (long long)code);
	f->result_type = (int)code;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char **slot = (char **)((char *)f + fields[i].off);

		if ((st = get_opt_string(ctx, fd, fields[i].key, where, slot)) != DG_OK)
			return st;
	}
	return DG_OK;
}

static enum dg_status parse_policy(struct parse_ctx *ctx, const struct json_node *pol,
    size_t idx, const char *domain, struct tlsrpt_policy_result *p)
{
	char where[48], fwhere[96];
	int64_t type, t, final;
	const struct json_node *fds, *fd;
	enum dg_status st;
	size_t n = 0, i;

	snprintf(where, sizeof(where), "policies[%zu].", idx);
	if (pol->kind != JSON_OBJECT)
		return fail(ctx, DG_ERR_TYPE, "policies[%zu]: expected an object", idx);
	if ((st = get_int(ctx, pol, "policy-type", where, &type)) != DG_OK)
		return st;
	if (type < 0 || type > 1000 || !policy_type_known((int)type))
		return fail(ctx, DG_ERR_POLICY_TYPE, "%spolicy-type: unknown value %lld",
		    where, (long long)type);
	p->type = (int)type;
	if ((st = get_int(ctx, pol, "t", where, &t)) != DG_OK)
		return st;
	if ((st = get_int(ctx, pol, "f", where, &final)) != DG_OK)
		return st;
	if (final != 0 && final != 1)
		return fail(ctx, DG_ERR_VALUE, "%sf: expected 0 or 1, got %lld", where, (long long)final);
	p->failed = final == 1;
	if ((st = get_opt_string(ctx, pol, "policy-domain", where, &p->policy_domain)) != DG_OK)
		return st;
	if (p->policy_domain == NULL)
		p->policy_domain = xstrdup(domain);
	else if (!domain_normalise(p->policy_domain))
		return fail(ctx, DG_ERR_VALUE, "%spolicy-domain: not a domain name", where);
	if ((st = get_string_array(ctx, pol, "policy-string", where, &p->policy_strings)) != DG_OK)
		return st;
	if ((st = get_string_array(ctx, pol, "mx-host", where, &p->mx_hosts)) != DG_OK)
		return st;

	fds = json_get(pol, "failure-details");
	if (fds != NULL && fds->kind != JSON_NULL) {
		if (fds->kind != JSON_ARRAY)
			return fail(ctx, DG_ERR_TYPE, "%sfailure-details: expected an array", where);
		n = fds->u.kids.n;
	}
	if (t != (int64_t)n)
		return fail(ctx, DG_ERR_T_MISMATCH, "%st: is %lld but failure-details has %zu",
		    where, (long long)t, n);
	if (n == 0)
		return DG_OK;
	p->failures = xcalloc(n, sizeof(*p->failures));
	for (fd = fds->u.kids.first, i = 0; fd; fd = fd->next, i++) {
		snprintf(fwhere, sizeof(fwhere), "%sfailure-details[%zu].", where, i);
		p->nfailures = i + 1;
		if ((st = parse_failure(ctx, fd, fwhere, &p->failures[i])) != DG_OK)
			return st;
	}
	return DG_OK;
}

static enum dg_status parse_object(struct parse_ctx *ctx, const struct json_node *root,
    struct tlsrpt_session *s)
{
	const struct json_node *v, *pols, *pol;
	enum dg_status st;
	size_t n, i;

	if (root->kind != JSON_OBJECT)
		return fail(ctx, DG_ERR_JSON, "top level: expected a JSON object");
	v = json_get(root, "dpv");
	if (v == NULL)
		return fail(ctx, DG_ERR_MISSING_KEY, "dpv: missing");
	if (v->kind != JSON_STRING)
		return fail(ctx, DG_ERR_TYPE, "dpv: expected a string");
	if (v->u.str.len != 1 || v->u.str.s[0] != '1') {
		char shown[17];
		size_t k;

		/* hostile text goes into a log line: printable ASCII only, no quotes */
		for (k = 0; k < v->u.str.len && k < sizeof(shown) - 1; k++) {
			unsigned char c = (unsigned char)v->u.str.s[k];

			shown[k] = (c > 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
		}
		shown[k] = '\0';
		return fail(ctx, DG_ERR_VERSION, "dpv: unsupported protocol version %s", shown);
	}

	v = json_get(root, "d");
	if (v == NULL)
		return fail(ctx, DG_ERR_MISSING_KEY, "d: missing");
	if (v->kind != JSON_STRING)
		return fail(ctx, DG_ERR_TYPE, "d: expected a string");
	s->domain = xstrndup(v->u.str.s, v->u.str.len);
	if (!domain_normalise(s->domain))
		return fail(ctx, DG_ERR_VALUE, "d: not a domain name");
	if ((st = get_opt_string(ctx, root, "pr", "", &s->record)) != DG_OK)
		return st;

	pols = json_get(root, "policies");
	if (pols == NULL)
		return fail(ctx, DG_ERR_MISSING_KEY, "policies: missing");
	if (pols->kind != JSON_ARRAY)
		return fail(ctx, DG_ERR_TYPE, "policies: expected an array");
	n = pols->u.kids.n;
	if (n == 0)
		return fail(ctx, DG_ERR_VALUE, "policies: empty");
	s->policies = xcalloc(n, sizeof(*s->policies));
	for (pol = pols->u.kids.first, i = 0; pol; pol = pol->next, i++) {
		s->npolicies = i + 1;
		st = parse_policy(ctx, pol, i, s->domain, &s->policies[i]);
		if (st != DG_OK)
			return st;
	}
	return DG_OK;
}

enum dg_status dg_parse(struct json_arena *arena, const char *buf, size_t len, long long when,
    struct tlsrpt_session *out, char *err, size_t errlen)
{
	struct parse_ctx ctx = {err, errlen, {NULL, 0, 0}};
	struct json_node *root;
	enum json_error je;
	enum dg_status st;
	size_t pos;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = '\0';
	json_arena_reset(arena);
	je = json_read(arena, buf, len, &root, &pos);
	if (je == JSON_ERR_UTF8)
		return fail(&ctx, DG_ERR_UTF8, "invalid UTF-8 at byte %zu", pos);
	if (je == JSON_ERR_DEPTH)
		return fail(&ctx, DG_ERR_JSON, "not JSON: nested deeper than %d at byte %zu",
		    JSON_MAX_DEPTH, pos);
	if (je != JSON_OK)
		return fail(&ctx, DG_ERR_JSON, "not JSON: syntax error at byte %zu", pos);
	out->when = when;
	st = parse_object(&ctx, root, out);
	strbuf_free(&ctx.scratch);
	if (st != DG_OK)
		session_free(out);
	return st;
}
