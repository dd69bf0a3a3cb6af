/*
 * NAME
 *	tlsrpt_record - parse a TLSRPT DNS record (RFC 8460 section 3)
 * DESCRIPTION
 *	See tlsrpt_record.h for the accepted grammar and the rules.  A
 *	single left-to-right pass over the text; no I/O, no global state.
 *	The URIs found so far live in the parser and are freed on any
 *	error, so a caller never sees half a record.
 */
#include "tlsrpt_record.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define VERSION_TAG	"v=TLSRPTv1"
#define EXT_NAME_MAX	32	/* 1 + *31 in the ext-name rule */
#define LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define DOMAIN_MAX	253
#define LABEL_MAX	63
#define QUOTE_MAX	32	/* bytes of record text quoted in a message */
#define QUOTE_BUF	(QUOTE_MAX * 4 + sizeof("..."))

struct parser {
	const char *p;		/* next byte to read */
	unsigned field;		/* number of the current field, from 1 */
	bool have_rua;
	struct rua *rua;	/* URIs kept so far */
	size_t nrua;
	char *err;
	size_t errlen;
};

static int fail(struct parser *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	if (ps->errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Record text for an error message: at most QUOTE_MAX bytes, with '"',
 * '\' and non-printable bytes escaped so the message is safe to log.
 */
static const char *quote(char out[QUOTE_BUF], const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o = out;
	size_t i;

	for (i = 0; i < n && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	if (n > QUOTE_MAX) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o = '\0';
	return out;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

static bool is_ext_name_char(char c)
{
	return is_alnum(c) || in_set(c, "_-.");
}

/* %x21-3A / %x3C / %x3E-7E */
static bool is_ext_value_char(char c)
{
	return c >= 0x21 && c <= 0x7e && c != '=' && c != ';';
}

/* RFC 3986 unreserved, reserved and "%", less our delimiters "," ";". */
static bool is_uri_char(char c)
{
	return is_alnum(c) || in_set(c, "-._~:/?#[]@!$&'()*+=%");
}

/* RFC 5322 atext */
static bool is_atext(char c)
{
	return is_alnum(c) || in_set(c, "!#$%&'*+-/=?^_`{|}~");
}

static const char *skip_wsp(const char *p)
{
	while (is_wsp(*p))
		p++;
	return p;
}

/* s[0..n) equals the lowercase literal lit, ignoring ASCII case. */
static bool ascii_ieq(const char *s, size_t n, const char *lit)
{
	size_t i;

	if (n != strlen(lit))
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return true;
}

/* Length of s[0..n) before the first byte in set. */
static size_t span_until(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n && !in_set(s[i], set); i++)
		;
	return i;
}

/* Letters, digits, "-" labels; at least one dot; no empty label. */
static bool is_domain(const char *s, size_t n)
{
	size_t i, label = 0;
	bool dot = false;

	if (n == 0 || n > DOMAIN_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			dot = true;
			label = 0;
			continue;
		}
		if (!is_alnum(s[i]) && !(s[i] == '-' && label > 0))
			return false;
		if (++label > LABEL_MAX)
			return false;
	}
	return dot && label > 0 && s[n - 1] != '-';
}

static bool is_dot_atom(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '.' ? s[i - 1] == '.' : !is_atext(s[i]))
			return false;
	}
	return true;
}

static bool is_port(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return false;
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

static void free_rua(struct rua *rua, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(rua[i].uri);
		free(rua[i].target);
	}
	free(rua);
}

/*
 * Append s[0..n) to out, decoding %XX: every escape when all is set,
 * else only those of ',', ';' and '!'.  Every escape is checked either
 * way; one that encodes a control character (NUL, CR, LF, ...) is an
 * error, as it could end a header line or a string downstream.
 */
static int percent_decode(struct parser *ps, unsigned n, const char *s, size_t len,
			  bool all, struct strbuf *out)
{
	size_t i;

	strbuf_append(out, "", 0);
	for (i = 0; i < len; i++) {
		int hi, lo, c;

		if (s[i] != '%') {
			strbuf_appendc(out, s[i]);
			continue;
		}
		if (len - i < 3 || (hi = hex_digit_value(s[i + 1])) < 0
		    || (lo = hex_digit_value(s[i + 2])) < 0)
			return fail(ps, "rua URI %u: bad percent-encoding", n);
		c = hi * 16 + lo;
		if (is_ctl((unsigned char)c))
			return fail(ps, "rua URI %u: encoded control character %%%c%c",
				    n, s[i + 1], s[i + 2]);
		if (all || c == ',' || c == ';' || c == '!')
			strbuf_appendc(out, (char)c);
		else
			strbuf_append(out, s + i, 3);
		i += 2;
	}
	return 0;
}

/* Keep a URI unless one with the same scheme and target is kept already. */
static void add_rua(struct parser *ps, enum rua_scheme scheme, const char *uri, size_t len,
		    struct strbuf *target)
{
	struct rua *r;
	size_t i;

	for (i = 0; i < ps->nrua; i++) {
		if (ps->rua[i].scheme == scheme && strcmp(ps->rua[i].target, target->data) == 0) {
			strbuf_free(target);
			return;
		}
	}
	ps->rua = xrealloc(ps->rua, (ps->nrua + 1) * sizeof(*ps->rua));
	r = &ps->rua[ps->nrua++];
	r->scheme = scheme;
	r->uri = xstrndup(uri, len);
	r->target = target->data;	/* the record owns it now */
}

static int check_address(struct parser *ps, unsigned n, const char *addr)
{
	const char *at = strrchr(addr, '@');
	char q[QUOTE_BUF];
	size_t local;

	if (at == NULL)
		return fail(ps, "rua URI %u: address without \"@\"", n);
	local = (size_t)(at - addr);
	if (local == 0)
		return fail(ps, "rua URI %u: empty local part", n);
	if (local > LOCAL_MAX || !is_dot_atom(addr, local))
		return fail(ps, "rua URI %u: invalid local part \"%s\"", n, quote(q, addr, local));
	if (!is_domain(at + 1, strlen(at + 1)))
		return fail(ps, "rua URI %u: invalid domain \"%s\"", n,
			    quote(q, at + 1, strlen(at + 1)));
	return 0;
}

/* uri[0..len) is "mailto:..."; the scheme is slen bytes. */
static int parse_mailto(struct parser *ps, unsigned n, const char *uri, size_t len, size_t slen)
{
	const char *rest = uri + slen + 1;
	size_t rlen = len - slen - 1;
	struct strbuf addr;

	/* "?" starts RFC 6068 header fields: subject, cc, body... */
	if (memchr(rest, '?', rlen) != NULL)
		return fail(ps, "rua URI %u: mailto header fields (\"?\") not supported", n);
	strbuf_init(&addr);
	if (percent_decode(ps, n, rest, rlen, true, &addr) < 0
	    || check_address(ps, n, addr.data) < 0) {
		strbuf_free(&addr);
		return -1;
	}
	add_rua(ps, RUA_MAILTO, uri, len, &addr);
	return 0;
}

/* auth[0..alen) is host [":" port], already free of "@". */
static int check_authority(struct parser *ps, unsigned n, const char *auth, size_t alen)
{
	size_t hlen = span_until(auth, alen, ":");
	char q[QUOTE_BUF];

	if (!is_domain(auth, hlen))
		return fail(ps, "rua URI %u: invalid host \"%s\"", n, quote(q, auth, hlen));
	if (hlen < alen && !is_port(auth + hlen + 1, alen - hlen - 1))
		return fail(ps, "rua URI %u: invalid port \"%s\"", n,
			    quote(q, auth + hlen + 1, alen - hlen - 1));
	return 0;
}

/* uri[0..len) is "https:..."; the scheme is slen bytes. */
static int parse_https(struct parser *ps, unsigned n, const char *uri, size_t len, size_t slen)
{
	const char *auth = uri + slen + 3;	/* after "https://" */
	size_t rest, alen;
	struct strbuf url;

	if (len < slen + 3 || uri[slen + 1] != '/' || uri[slen + 2] != '/')
		return fail(ps, "rua URI %u: https URI without \"//\" and host", n);
	rest = len - slen - 3;
	alen = span_until(auth, rest, "/?#");
	if (memchr(auth, '@', alen) != NULL)
		return fail(ps, "rua URI %u: userinfo not allowed in https URI", n);
	if (check_authority(ps, n, auth, alen) < 0)
		return -1;
	strbuf_init(&url);
	strbuf_appends(&url, "https://");
	if (percent_decode(ps, n, auth, rest, false, &url) < 0) {
		strbuf_free(&url);
		return -1;
	}
	add_rua(ps, RUA_HTTPS, uri, len, &url);
	return 0;
}

/* Bytes of the RFC 3986 scheme before ":" at the start of s, or 0. */
static size_t scheme_length(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !is_alpha(s[0]))
		return 0;
	for (i = 1; i < len && (is_alnum(s[i]) || in_set(s[i], "+-.")); i++)
		;
	return i < len && s[i] == ':' ? i : 0;
}

/*
 * One URI, uri[0..len), number n in the rua field.  Returns 1 when it
 * was kept (or was a duplicate), 0 when its scheme is not ours, -1 on
 * error.  *slen gets the length of its scheme.
 */
static int parse_uri(struct parser *ps, unsigned n, const char *uri, size_t len, size_t *slen)
{
	char q[QUOTE_BUF];
	size_t i;

	for (i = 0; i < len; i++) {
		if (is_ctl((unsigned char)uri[i]))
			return fail(ps, "rua URI %u: control character \"%s\"", n,
				    quote(q, uri + i, 1));
		if (!is_uri_char(uri[i]))
			return fail(ps, "rua URI %u: invalid character \"%s\"", n,
				    quote(q, uri + i, 1));
	}
	*slen = scheme_length(uri, len);
	if (*slen == 0)
		return fail(ps, "rua URI %u: missing scheme", n);
	if (ascii_ieq(uri, *slen, "mailto"))
		return parse_mailto(ps, n, uri, len, *slen) < 0 ? -1 : 1;
	if (ascii_ieq(uri, *slen, "https"))
		return parse_https(ps, n, uri, len, *slen) < 0 ? -1 : 1;
	return 0;
}

/* ps->p is just after "rua=". */
static int parse_rua(struct parser *ps)
{
	const char *p = ps->p, *q, *unsupported = NULL;
	unsigned n = 0, first_unsupported = 0;
	size_t len, slen = 0, unsupported_slen = 0;
	char quoted[QUOTE_BUF];
	int rc;

	for (;;) {
		if (++n > TLSRPT_RECORD_MAX_URIS)
			return fail(ps, "rua: too many URIs (limit %d)", TLSRPT_RECORD_MAX_URIS);
		len = strcspn(p, " \t,;");
		if (len == 0)
			return fail(ps, "rua URI %u: empty", n);
		if ((rc = parse_uri(ps, n, p, len, &slen)) < 0)
			return -1;
		if (rc == 0 && unsupported == NULL) {
			unsupported = p;
			unsupported_slen = slen;
			first_unsupported = n;
		}
		p += len;
		q = skip_wsp(p);
		if (*q != ',')
			break;
		p = skip_wsp(q + 1);
	}
	ps->p = p;
	if (ps->nrua == 0)
		return fail(ps, "rua URI %u: unsupported scheme \"%s\"", first_unsupported,
			    quote(quoted, unsupported, unsupported_slen));
	return 0;
}

static int malformed_extension(struct parser *ps, const char *start)
{
	char q[QUOTE_BUF];

	return fail(ps, "field %u: malformed extension \"%s\"", ps->field,
		    quote(q, start, strcspn(start, ";")));
}

/* ext-name "=" ext-value, checked and ignored (R4). */
static int parse_extension(struct parser *ps)
{
	const char *start = ps->p, *q = start;

	while (is_ext_name_char(*q))
		q++;
	if (q == start || q - start > EXT_NAME_MAX || !is_alnum(*start) || *q != '=')
		return malformed_extension(ps, start);
	q++;
	if (!is_ext_value_char(*q))
		return malformed_extension(ps, start);
	while (is_ext_value_char(*q))
		q++;
	if (*q != '\0' && *q != ';' && !is_wsp(*q))
		return malformed_extension(ps, start);
	ps->p = q;
	return 0;
}

static int parse_field(struct parser *ps)
{
	if (strncmp(ps->p, "rua=", 4) != 0)
		return parse_extension(ps);
	if (ps->have_rua)
		return fail(ps, "field %u: duplicate rua", ps->field);
	ps->have_rua = true;
	ps->p += 4;
	return parse_rua(ps);
}

/*
 * ps->p is just after a field's value: expect *WSP ";" *WSP or the end.
 * Afterwards ps->p is at the next field or at the end of the text.
 */
static int parse_delimiter(struct parser *ps)
{
	const char *q = skip_wsp(ps->p);
	char quoted[QUOTE_BUF];

	if (*q == '\0') {
		if (q != ps->p)
			return fail(ps, "record: trailing whitespace");
		ps->p = q;
		return 0;
	}
	if (*q != ';') {
		if (ps->field == 1)
			return fail(ps, "version: \"" VERSION_TAG "\" must be followed by \";\"");
		return fail(ps, "field %u: unexpected \"%s\" after value", ps->field,
			    quote(quoted, q, strcspn(q, ";")));
	}
	q = skip_wsp(q + 1);
	if (*q == ';')
		return fail(ps, "field %u: empty", ps->field + 1);
	ps->p = q;
	return 0;
}

int tlsrpt_record_parse(const char *text, struct tlsrpt_record *out, char *err, size_t errlen)
{
	struct parser ps;
	size_t len;

	memset(out, 0, sizeof(*out));
	memset(&ps, 0, sizeof(ps));
	ps.err = err;
	ps.errlen = err != NULL ? errlen : 0;
	if (ps.errlen > 0)
		err[0] = '\0';
	if (text == NULL)
		return fail(&ps, "record: missing");
	len = strlen(text);
	if (len > TLSRPT_RECORD_MAX_LEN)
		return fail(&ps, "record: too long: %zu bytes, limit %d", len, TLSRPT_RECORD_MAX_LEN);
	if (strncmp(text, VERSION_TAG, strlen(VERSION_TAG)) != 0)
		return fail(&ps, "version: record must start with \"" VERSION_TAG "\"");
	ps.p = text + strlen(VERSION_TAG);
	ps.field = 1;
	for (;;) {
		if (parse_delimiter(&ps) < 0)
			goto error;
		if (*ps.p == '\0')
			break;
		ps.field++;
		if (parse_field(&ps) < 0)
			goto error;
	}
	if (!ps.have_rua) {
		fail(&ps, "rua: missing");
		goto error;
	}
	out->nrua = ps.nrua;
	out->rua = ps.rua;
	return 0;

error:
	free_rua(ps.rua, ps.nrua);
	return -1;
}

void tlsrpt_record_free(struct tlsrpt_record *r)
{
	if (r == NULL)
		return;
	free_rua(r->rua, r->nrua);
	r->rua = NULL;
	r->nrua = 0;
}
