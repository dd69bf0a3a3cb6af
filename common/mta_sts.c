/*
 * NAME
 *	mta_sts - MTA-STS (RFC 8461) policy discovery, parsing and caching rules
 * DESCRIPTION
 *	See mta_sts.h.  The TXT record (3.1) and the policy (3.2) are parsed
 *	to their ABNF, strictly, with these choices where the RFC leaves
 *	room:
 *	  - TXT: of the records starting "v=STSv1" exactly one must remain
 *	    and be valid, else "no policy" (3.1).  Field names are case-
 *	    sensitive; "id" may appear once; extensions are skipped.
 *	  - policy: "version: STSv1" must be the first line; version, mode
 *	    and max_age may appear once each; unknown keys with a valid name
 *	    and value are ignored (extensions) but stay in the policy text;
 *	    lines end in LF or CRLF; empty lines are accepted only at the
 *	    end (and dropped); a NUL, a stray CR, invalid UTF-8 or a control
 *	    character is an error naming the line.  max_age above 31557600
 *	    is an error, not clamped.  mx is required unless mode is none.
 *	    mx values are ["*."] followed by an RFC 5321 Domain (LDH labels,
 *	    no trailing dot), kept as written; matching ignores case.
 *
 *	Fetch (3.3): GET https://mta-sts.<domain>/.well-known/mta-sts.txt
 *	with libcurl, in the manner of reporter/submit_https.c: https only,
 *	no redirects followed (a 3xx is a fetch error), peer and host name
 *	verified (CAINFO when ca_file is set), TLS 1.2 or later, no proxy,
 *	a time limit, and an address filter on every socket curl opens
 *	(loopback, private, link-local ... refused unless allow_private).
 *	The policy host's addresses come from curl_resolve (c-ares, with
 *	the resolver setting, within what is left of the deadline) and are
 *	handed to curl as CURLOPT_RESOLVE, so curl never resolves a name
 *	itself (see curl_resolve.h for why).
 *
 *	Classification of a fetch:
 *	    200, text/plain, valid policy          OK
 *	    200, other or no content type          INVALID (3.2: the policy
 *	                                           MUST be text/plain)
 *	    200, body over max_size                INVALID "policy larger
 *	                                           than N bytes"
 *	    200, syntax error                      INVALID "line N: ..."
 *	    3xx                                    FETCH_ERROR "HTTP 301
 *	                                           (redirects are not followed)"
 *	    other statuses                         FETCH_ERROR "HTTP 404"
 *	    certificate not verified (untrusted,   WEBPKI_INVALID, curl's text
 *	    wrong host, expired)
 *	    refused (non-public) address           FETCH_ERROR
 *	    policy host not in the DNS, connect,   FETCH_ERROR, curl's or the
 *	    time-out, TLS handshake, ...           resolver's text
 *	    CA file unreadable, out of memory      TEMPORARY (our fault, not
 *	                                           the domain's)
 *	TXT lookup: NXDOMAIN, no TXT, several or an invalid record give NONE;
 *	SERVFAIL, time-outs and network trouble give TEMPORARY.
 *
 *	Policy hosts on loopback, private and other non-public addresses are
 *	refused (netaddr.c, shared with the report submission) unless
 *	allow_private.
 * DIAGNOSTICS
 *	In r->error (printable ASCII): "_mta-sts.example.com: NXDOMAIN",
 *	"line 3: mode \"enforcing\" is not enforce, testing or none",
 *	"content type \"text/html\" is not text/plain", "HTTP 404", ...
 * SEE ALSO
 *	RFC 8461 sections 3, 4.1 and 5.1; RFC 8460 section 4.3.
 */
#include "config.h"

#include "mta_sts.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "curl_resolve.h"
#include "dns_txt.h"
#include "json_read.h"
#include "session.h"
#include "netaddr.h"
#include "util.h"

#define STS_TAG		"v=STSv1"
#define TXT_PREFIX	"_mta-sts."
#define HOST_PREFIX	"mta-sts."
#define WELL_KNOWN	"/.well-known/mta-sts.txt"
#define EXT_NAME_MAX	32	/* (ALPHA / DIGIT) *31(...) */
#define DOMAIN_MAX	253
#define LABEL_MAX	63

#define RETRY_MIN	300		/* first retry after a failure */
#define RETRY_MAX	21600		/* longest retry interval */
#define CHECK_EVERY	86400		/* id check of a held policy */
#define NONE_RECHECK	3600		/* a domain without a record */
#define EXPIRY_MARGIN	3600		/* refetch at least this long before expiry */
#define MIN_FETCH_MS	100L		/* what the fetch gets after a slow DNS answer */

/* ---- names ---------------------------------------------------------------- */

static const char *const status_names[] = {
	[STS_OK] = "ok",
	[STS_NONE] = "none",
	[STS_FETCH_ERROR] = "fetch-error",
	[STS_INVALID] = "invalid",
	[STS_WEBPKI_INVALID] = "webpki-invalid",
	[STS_TEMPORARY] = "temporary",
};

#define NSTATUS (sizeof(status_names) / sizeof(status_names[0]))

const char *sts_status_name(enum sts_status s)
{
	return (size_t)s < NSTATUS ? status_names[s] : "unknown";
}

bool sts_status_from_name(const char *name, enum sts_status *s)
{
	for (size_t i = 0; i < NSTATUS; i++)
		if (name != NULL && strcmp(name, status_names[i]) == 0) {
			*s = (enum sts_status)i;
			return true;
		}
	return false;
}

const char *sts_mode_name(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_ENFORCE: return "enforce";
	case STS_MODE_TESTING: return "testing";
	default: return "none";
	}
}

int sts_result_type(enum sts_status s)
{
	switch (s) {
	case STS_FETCH_ERROR: return RESULT_STS_POLICY_FETCH_ERROR;
	case STS_INVALID: return RESULT_STS_POLICY_INVALID;
	case STS_WEBPKI_INVALID: return RESULT_STS_WEBPKI_INVALID;
	default: return 0;
	}
}

/* Errors quote outside data: keep them printable ASCII. */
static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / "."): its length, 0 if none. */
static size_t ext_name_len(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || !is_alnum((unsigned char)p[0]))
		return 0;
	for (i = 1; i < len && i < EXT_NAME_MAX; i++)
		if (!is_alnum((unsigned char)p[i]) && p[i] != '_' && p[i] != '-' && p[i] != '.')
			break;
	return i;
}

/* ---- the TXT record (3.1) ------------------------------------------------ */

static bool is_sts_record(const char *t)
{
	size_t n = sizeof(STS_TAG) - 1;

	return strncmp(t, STS_TAG, n) == 0 &&
	    (t[n] == '\0' || t[n] == ';' || is_wsp(t[n]));
}

/* One field at *pp ("id=..." or an extension); advances *pp. */
static bool parse_txt_field(const char **pp, char id[STS_ID_MAX + 1], bool *have_id,
    char *err, size_t errlen)
{
	const char *p = *pp;
	size_t name = ext_name_len(p, strlen(p));
	size_t v = 0;

	if (name == 0 || p[name] != '=') {
		set_err(err, errlen, "bad field \"%.32s\"", p);
		return false;
	}
	if (name == 2 && memcmp(p, "id", 2) == 0) {
		while (is_alnum((unsigned char)p[3 + v]))
			v++;
		if (v == 0 || v > STS_ID_MAX) {
			set_err(err, errlen, "id must be 1-32 letters and digits");
			return false;
		}
		if (*have_id) {
			set_err(err, errlen, "more than one id field");
			return false;
		}
		memcpy(id, p + 3, v);
		id[v] = '\0';
		*have_id = true;
	} else {
		/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E) */
		while (p[name + 1 + v] > 0x20 && p[name + 1 + v] < 0x7f &&
		    p[name + 1 + v] != ';' && p[name + 1 + v] != '=')
			v++;
		if (v == 0) {
			set_err(err, errlen, "empty value of field \"%.32s\"", p);
			return false;
		}
	}
	p += name + 1 + v;
	if (*p != '\0' && *p != ';' && !is_wsp(*p)) {
		set_err(err, errlen, "bad character in field \"%.32s\"", *pp);
		return false;
	}
	*pp = p;
	return true;
}

/* sts-version 1*(sts-sep sts-field) [sts-sep], sts-sep = *WSP ";" *WSP */
static bool parse_txt(const char *t, char id[STS_ID_MAX + 1], char *err, size_t errlen)
{
	const char *p = t + sizeof(STS_TAG) - 1;
	bool have_id = false;
	size_t fields = 0;

	for (;;) {
		while (is_wsp(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p != ';') {
			set_err(err, errlen, "expected \";\" before \"%.32s\"", p);
			return false;
		}
		for (p++; is_wsp(*p); p++)
			continue;
		if (*p == '\0')
			break;		/* a trailing separator */
		if (!parse_txt_field(&p, id, &have_id, err, errlen))
			return false;
		fields++;
	}
	if (!have_id) {
		set_err(err, errlen, "no id field");
		return false;
	}
	return fields > 0;
}

bool sts_parse_record(const char *const *txt, size_t n, char id[STS_ID_MAX + 1],
    char *err, size_t errlen)
{
	const char *chosen = NULL;
	size_t found = 0;
	char why[160];

	id[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (txt[i] != NULL && is_sts_record(txt[i]) && found++ == 0)
			chosen = txt[i];
	if (found == 0) {
		set_err(err, errlen, "no record starting with \"v=STSv1\" among %zu TXT records", n);
		return false;
	}
	if (found > 1) {
		set_err(err, errlen, "%zu v=STSv1 records (RFC 8461 requires exactly one)", found);
		return false;
	}
	if (!parse_txt(chosen, id, why, sizeof(why))) {
		id[0] = '\0';
		set_err(err, errlen, "invalid v=STSv1 record: %s", why);
		return false;
	}
	return true;
}

/* ---- the policy (3.2) ------------------------------------------------------ */

/* Length of one valid UTF-8 sequence of 2-4 bytes at p, 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t len)
{
	size_t n;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* Printable ASCII, WSP or valid UTF-8 only; false with the reason. */
static bool line_chars_ok(const char *s, size_t len, const char **why)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n;

		if (p[i] == '\0')
			return *why = "NUL byte", false;
		if (p[i] == '\r')
			return *why = "CR not followed by LF", false;
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return *why = "control character", false;
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_seq(p + i, len - i)) == 0)
			return *why = "invalid UTF-8", false;
		i += n;
	}
	return true;
}

/* RFC 5321 Domain: LDH labels of 1-63, not starting or ending with "-". */
static bool domain_syntax_ok(const char *d, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '-')
			return false;
		if ((c == '-' && label == 0) || ++label > LABEL_MAX)
			return false;
	}
	return label != 0 && d[len - 1] != '-';
}

static bool mx_pattern_ok(const char *v, size_t len)
{
	if (len > 2 && v[0] == '*' && v[1] == '.')
		return domain_syntax_ok(v + 2, len - 2);
	return domain_syntax_ok(v, len);
}

struct policy_parse {
	struct sts_policy *p;
	bool have_version, have_mode, have_max_age;
	size_t line;
	char *err;
	size_t errlen;
};

static bool field_mode(struct policy_parse *pp, const char *v, size_t len)
{
	static const struct { const char *name; enum sts_mode mode; } modes[] = {
		{"enforce", STS_MODE_ENFORCE}, {"testing", STS_MODE_TESTING}, {"none", STS_MODE_NONE},
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strlen(modes[i].name) == len && memcmp(v, modes[i].name, len) == 0) {
			pp->p->mode = modes[i].mode;
			return true;
		}
	set_err(pp->err, pp->errlen, "line %zu: mode \"%.*s\" is not enforce, testing or none",
	    pp->line, (int)(len > 40 ? 40 : len), v);
	return false;
}

static bool field_max_age(struct policy_parse *pp, const char *v, size_t len)
{
	long long age = 0;

	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9' || len > 10) {
			set_err(pp->err, pp->errlen, "line %zu: max_age \"%.*s\" is not 1-10 digits",
			    pp->line, (int)(len > 40 ? 40 : len), v);
			return false;
		}
		age = age * 10 + (v[i] - '0');
	}
	if (age > STS_MAX_AGE_MAX) {
		set_err(pp->err, pp->errlen, "line %zu: max_age %lld is above %lld", pp->line, age,
		    STS_MAX_AGE_MAX);
		return false;
	}
	pp->p->max_age = age;
	return true;
}

static bool field_mx(struct policy_parse *pp, const char *v, size_t len)
{
	struct sts_policy *p = pp->p;

	if (!mx_pattern_ok(v, len)) {
		set_err(pp->err, pp->errlen, "line %zu: mx \"%.*s\" is not a host name or *.domain",
		    pp->line, (int)(len > 64 ? 64 : len), v);
		return false;
	}
	p->mx = xrealloc(p->mx, (p->nmx + 1) * sizeof(*p->mx));
	p->mx[p->nmx++] = xstrndup(v, len);
	return true;
}

static bool once(struct policy_parse *pp, bool *seen, const char *key)
{
	if (*seen) {
		set_err(pp->err, pp->errlen, "line %zu: %s given twice", pp->line, key);
		return false;
	}
	*seen = true;
	return true;
}

/* key ":" *WSP value *WSP, the line without its terminator. */
static bool policy_line(struct policy_parse *pp, const char *s, size_t len)
{
	size_t key = ext_name_len(s, len);
	const char *v;
	size_t vlen;

	if (key == 0 || key >= len || s[key] != ':') {
		set_err(pp->err, pp->errlen, "line %zu: not \"key: value\"", pp->line);
		return false;
	}
	for (v = s + key + 1; v < s + len && is_wsp(*v); v++)
		continue;
	for (vlen = (size_t)(s + len - v); vlen > 0 && is_wsp(v[vlen - 1]); vlen--)
		continue;
	if (vlen == 0) {
		set_err(pp->err, pp->errlen, "line %zu: empty value of %.*s", pp->line, (int)key, s);
		return false;
	}
#define KEY(k) (key == sizeof(k) - 1 && memcmp(s, k, key) == 0)
	if (pp->line == 1 && !(KEY("version") && vlen == 5 && memcmp(v, "STSv1", 5) == 0)) {
		set_err(pp->err, pp->errlen, "line 1: expected \"version: STSv1\"");
		return false;
	}
	if (KEY("version"))
		return once(pp, &pp->have_version, "version");
	if (KEY("mode"))
		return once(pp, &pp->have_mode, "mode") && field_mode(pp, v, vlen);
	if (KEY("max_age"))
		return once(pp, &pp->have_max_age, "max_age") && field_max_age(pp, v, vlen);
	if (KEY("mx"))
		return field_mx(pp, v, vlen);
#undef KEY
	return true;	/* an extension: ignored */
}

/* Length of the text without trailing empty (or blank) lines. */
static size_t trim_trailing_blank(const char *body, size_t len)
{
	size_t end = len;

	while (end > 0) {
		size_t start = end;

		while (start > 0 && body[start - 1] != '\n')
			start--;
		for (size_t i = start; i < end; i++)
			if (!is_wsp(body[i]) && body[i] != '\r' && body[i] != '\n')
				return end;
		if (start == 0)
			return 0;
		end = start - 1;	/* drop that line and its LF */
	}
	return 0;
}

static bool policy_complete(struct policy_parse *pp)
{
	if (!pp->have_mode)
		set_err(pp->err, pp->errlen, "no mode field");
	else if (!pp->have_max_age)
		set_err(pp->err, pp->errlen, "no max_age field");
	else if (pp->p->nmx == 0 && pp->p->mode != STS_MODE_NONE)
		set_err(pp->err, pp->errlen, "no mx field (required unless mode is none)");
	else
		return true;
	return false;
}

bool sts_parse_policy(const char *body, size_t len, struct sts_policy *p, char *err, size_t errlen)
{
	struct policy_parse pp = { p, false, false, false, 0, err, errlen };
	struct strbuf text;
	size_t end = trim_trailing_blank(body, len), pos = 0;
	bool ok = true;

	memset(p, 0, sizeof(*p));
	if (end == 0) {
		set_err(err, errlen, "empty policy");
		return false;
	}
	strbuf_init(&text);
	while (ok && pos < end) {
		const char *nl = memchr(body + pos, '\n', end - pos);
		size_t ll = (nl ? (size_t)(nl - body) : end) - pos;
		const char *why;

		pp.line++;
		if (ll > 0 && body[pos + ll - 1] == '\r')
			ll--;
		if (!line_chars_ok(body + pos, ll, &why)) {
			set_err(err, errlen, "line %zu: %s", pp.line, why);
			ok = false;
		} else {
			ok = policy_line(&pp, body + pos, ll);
		}
		if (pp.line > 1)
			strbuf_appendc(&text, '\n');
		strbuf_append(&text, body + pos, ll);
		pos += (nl ? (size_t)(nl - (body + pos)) + 1 : end - pos);
	}
	if (ok && !policy_complete(&pp))
		ok = false;
	if (!ok) {
		strbuf_free(&text);
		sts_policy_free(p);
		return false;
	}
	p->text = xstrndup(text.data, text.len);
	strbuf_free(&text);
	return true;
}

void sts_policy_free(struct sts_policy *p)
{
	for (size_t i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	free(p->text);
	memset(p, 0, sizeof(*p));
}

void sts_policy_copy(struct sts_policy *dst, const struct sts_policy *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->mode = src->mode;
	dst->max_age = src->max_age;
	dst->nmx = src->nmx;
	if (src->nmx > 0)
		dst->mx = xcalloc(src->nmx, sizeof(*dst->mx));
	for (size_t i = 0; i < src->nmx; i++)
		dst->mx[i] = xstrdup(src->mx[i]);
	dst->text = src->text ? xstrdup(src->text) : NULL;
}

/* ---- views of a policy --------------------------------------------------- */

static bool mx_match_one(const char *pattern, const char *host, size_t hlen)
{
	size_t plen = strlen(pattern);

	if (plen > 2 && pattern[0] == '*' && pattern[1] == '.') {
		size_t slen = plen - 1;		/* ".example.com" */

		if (hlen <= slen || strncasecmp(host + hlen - slen, pattern + 1, slen) != 0)
			return false;
		return memchr(host, '.', hlen - slen) == NULL;	/* exactly one label */
	}
	return plen == hlen && strncasecmp(pattern, host, hlen) == 0;
}

bool sts_mx_match(const struct sts_policy *p, const char *host)
{
	size_t hlen;

	if (host == NULL)
		return false;
	hlen = strlen(host);
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (hlen == 0)
		return false;
	for (size_t i = 0; i < p->nmx; i++)
		if (mx_match_one(p->mx[i], host, hlen))
			return true;
	return false;
}

static void json_item(struct strbuf *sb, const char *s, size_t len)
{
	if (sb->len > 1)
		strbuf_appendc(sb, ',');
	json_quote(sb, s, len);
}

/* Compact JSON, as milter/datagram.c writes these arrays (one aggregation key). */
char *sts_policy_strings_json(const struct sts_policy *p)
{
	struct strbuf sb;
	const char *s = p->text;
	char *out;

	strbuf_init(&sb);
	strbuf_appendc(&sb, '[');
	while (s != NULL && *s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		json_item(&sb, s, len);
		s = nl ? nl + 1 : s + len;
	}
	strbuf_appendc(&sb, ']');
	out = xstrndup(sb.data, sb.len);
	strbuf_free(&sb);
	return out;
}

char *sts_mx_json(const struct sts_policy *p)
{
	struct strbuf sb;
	char *out;

	strbuf_init(&sb);
	strbuf_appendc(&sb, '[');
	for (size_t i = 0; i < p->nmx; i++)
		json_item(&sb, p->mx[i], strlen(p->mx[i]));
	strbuf_appendc(&sb, ']');
	out = xstrndup(sb.data, sb.len);
	strbuf_free(&sb);
	return out;
}

/*
 * Postfix's "match=" takes host names and ".domain", which matches any
 * depth of subdomain: wider than RFC 8461's one label.  The daemon can
 * check the exact rule with sts_mx_match() where it sees the MX name.
 */
char *sts_postfix_answer(const struct sts_policy *p)
{
	struct strbuf sb;
	char *out;

	if (p->mode != STS_MODE_ENFORCE || p->nmx == 0)
		return NULL;
	strbuf_init(&sb);
	strbuf_appends(&sb, "secure match=");
	for (size_t i = 0; i < p->nmx; i++) {
		const char *m = p->mx[i];

		if (i > 0)
			strbuf_appendc(&sb, ':');
		if (m[0] == '*' && m[1] == '.')
			m++;
		for (; *m; m++)
			strbuf_appendc(&sb, (*m >= 'A' && *m <= 'Z') ? (char)(*m - 'A' + 'a') : *m);
	}
	out = xstrndup(sb.data, sb.len);
	strbuf_free(&sb);
	return out;
}

/* ---- the HTTPS fetch (3.3) ---------------------------------------------- */

struct fetch {
	struct strbuf body;
	size_t max_size;
	bool too_big;
	bool allow_private;
	bool refused;
	char refused_addr[INET6_ADDRSTRLEN];
	char curl_error[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok;

static void curl_start(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct fetch *f = clientp;
	int fd;

	(void)purpose;
	fd = net_open_socket(addr->family, addr->socktype, addr->protocol, &addr->addr,
	    addr->addrlen, f->allow_private, &f->refused, f->refused_addr, sizeof(f->refused_addr));
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static size_t take_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct fetch *f = userp;
	size_t n = size * nmemb;

	if (n > f->max_size - f->body.len) {
		f->too_big = true;
		return 0;	/* curl aborts with CURLE_WRITE_ERROR */
	}
	strbuf_append(&f->body, data, n);
	return n;
}

static CURLcode set_options(CURL *e, struct fetch *f, const char *url,
    const struct sts_fetch_opts *o, long timeout_ms, struct curl_slist *resolve)
{
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, f->curl_error);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "https");
#else
	SET(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROXY, "");		/* a proxy would defeat the address filter */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (o->ca_file != NULL && *o->ca_file != '\0')
		SET(CURLOPT_CAINFO, o->ca_file);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_USERAGENT, "tlsrpt-milter/" PACKAGE_VERSION);
	SET(CURLOPT_HTTPGET, 1L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->max_size);
	SET(CURLOPT_WRITEFUNCTION, take_body);
	SET(CURLOPT_WRITEDATA, (void *)f);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SET(CURLOPT_OPENSOCKETDATA, (void *)f);
	if (resolve != NULL)
		SET(CURLOPT_RESOLVE, resolve);
#undef SET
	return rc;
}

static enum sts_status curl_status(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:	/* also CURLE_SSL_CACERT since 7.62 */
#if LIBCURL_VERSION_NUM < 0x073e00
	case CURLE_SSL_CACERT:
#endif
#if LIBCURL_VERSION_NUM >= 0x072900
	case CURLE_SSL_INVALIDCERTSTATUS:
#endif
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return STS_WEBPKI_INVALID;
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
		return STS_TEMPORARY;
	default:
		return STS_FETCH_ERROR;
	}
}

/* Content-Type text/plain, parameters allowed (3.2). */
static bool is_text_plain(const char *ct)
{
	if (ct == NULL)
		return false;
	while (is_wsp(*ct))
		ct++;
	if (strncasecmp(ct, "text/plain", 10) != 0)
		return false;
	ct += 10;
	while (is_wsp(*ct))
		ct++;
	return *ct == '\0' || *ct == ';';
}

static void take_policy(CURL *e, struct fetch *f, struct sts_result *r)
{
	char *ct = NULL;
	char why[200];

	if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK || ct == NULL) {
		r->status = STS_INVALID;
		set_err(r->error, sizeof(r->error), "no content type (text/plain required)");
		return;
	}
	if (!is_text_plain(ct)) {
		r->status = STS_INVALID;
		set_err(r->error, sizeof(r->error), "content type \"%.60s\" is not text/plain", ct);
		return;
	}
	if (!sts_parse_policy(f->body.data ? f->body.data : "", f->body.len, &r->policy, why,
	    sizeof(why))) {
		r->status = STS_INVALID;
		set_err(r->error, sizeof(r->error), "%s", why);
		return;
	}
	r->status = STS_OK;
	r->error[0] = '\0';
}

static void classify_fetch(CURL *e, struct fetch *f, CURLcode rc, struct sts_result *r)
{
	long status = 0;
	bool too_big = f->too_big || rc == CURLE_FILESIZE_EXCEEDED;

	if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if ((rc == CURLE_OK || too_big) && status != 200 && status != 0) {
		/* a long error page does not hide the status */
		r->status = STS_FETCH_ERROR;
		set_err(r->error, sizeof(r->error), status >= 300 && status <= 399 ?
		    "HTTP %ld (redirects are not followed)" : "HTTP %ld", status);
	} else if (too_big) {
		r->status = STS_INVALID;
		set_err(r->error, sizeof(r->error), "policy larger than %zu bytes", f->max_size);
	} else if (rc == CURLE_OK) {
		take_policy(e, f, r);
	} else if (f->refused && rc == CURLE_COULDNT_CONNECT) {
		r->status = STS_FETCH_ERROR;
		set_err(r->error, sizeof(r->error), "refused to connect to non-public address %s",
		    f->refused_addr);
	} else {
		r->status = curl_status(rc);
		set_err(r->error, sizeof(r->error), "%s",
		    f->curl_error[0] ? f->curl_error : curl_easy_strerror(rc));
	}
}

/* The policy host's addresses for curl; false with r set on failure. */
static bool policy_host_addresses(const char *url, const struct sts_fetch_opts *o, long ms,
    struct curl_slist **resolve, struct sts_result *r)
{
	struct curl_resolved res;

	*resolve = NULL;
	curl_resolve_urls(&url, 1, o->resolver, 1, ms, &res);
	if (res.status == LOOKUP_FOUND) {
		*resolve = res.resolve;
		return true;
	}
	r->status = res.config_error ? STS_TEMPORARY : STS_FETCH_ERROR;
	if (res.config_error)
		set_err(r->error, sizeof(r->error), "%s", res.error);
	else
		set_err(r->error, sizeof(r->error), "policy host %s: %s", res.host, res.error);
	curl_resolved_free(&res, 1);
	return false;
}

/* GET the policy of (normalised) domain, until deadline (monotonic ms). */
static void fetch_policy(const char *domain, const struct sts_fetch_opts *o, long long deadline,
    struct sts_result *r)
{
	struct curl_slist *resolve = NULL;
	struct fetch f;
	char host[DOMAIN_MAX + sizeof(HOST_PREFIX) + 1], url[sizeof(host) + sizeof(WELL_KNOWN) + 8];
	long long left;
	CURL *e;
	CURLcode rc;

	snprintf(host, sizeof(host), HOST_PREFIX "%s", domain);
	snprintf(url, sizeof(url), "https://%s" WELL_KNOWN, host);
	left = deadline - monotonic_ms();
	if (!policy_host_addresses(url, o, (long)(left > MIN_FETCH_MS ? left : MIN_FETCH_MS),
	    &resolve, r))
		return;
	pthread_once(&curl_once, curl_start);
	memset(&f, 0, sizeof(f));
	strbuf_init(&f.body);
	f.max_size = o->max_size > 0 ? o->max_size : 65536;
	f.allow_private = o->allow_private;
	left = deadline - monotonic_ms();
	if (!curl_ok || (e = curl_easy_init()) == NULL) {
		r->status = STS_TEMPORARY;
		set_err(r->error, sizeof(r->error), "cannot set up the transfer (libcurl)");
		curl_slist_free_all(resolve);
		strbuf_free(&f.body);
		return;
	}
	rc = set_options(e, &f, url, o, (long)(left > MIN_FETCH_MS ? left : MIN_FETCH_MS), resolve);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(e);
	classify_fetch(e, &f, rc, r);
	curl_easy_cleanup(e);
	curl_slist_free_all(resolve);
	strbuf_free(&f.body);
}

/* ---- discovery --------------------------------------------------------- */

static bool normalised_domain(const char *in, char out[DOMAIN_MAX + 2])
{
	if (in == NULL || strlen(in) > DOMAIN_MAX + 1)
		return false;
	strcpy(out, in);
	return domain_normalise(out);
}

static enum sts_status lookup_id(const char *domain, const struct sts_fetch_opts *o,
    long timeout_ms, char id[STS_ID_MAX + 1], char *err, size_t errlen)
{
	char qname[DOMAIN_MAX + sizeof(TXT_PREFIX) + 1], why[200];
	struct dns_answer a;
	enum sts_status st;

	id[0] = '\0';
	snprintf(qname, sizeof(qname), TXT_PREFIX "%s", domain);
	if (dns_query_txt(qname, o->resolver, timeout_ms, &a, why, sizeof(why)) != 0) {
		set_err(err, errlen, "%s", why);
		return STS_TEMPORARY;
	}
	if (a.status == LOOKUP_FOUND) {
		st = sts_parse_record((const char *const *)a.item, a.n, id, why, sizeof(why)) ?
		    STS_OK : STS_NONE;
		if (st == STS_OK)
			set_err(err, errlen, "%s", "");
		else
			set_err(err, errlen, "%s: %s", qname, why);
	} else {
		st = a.status == LOOKUP_NONE ? STS_NONE : STS_TEMPORARY;
		if (strstr(a.error, qname) != NULL)
			set_err(err, errlen, "%s", a.error);
		else
			set_err(err, errlen, "%s: %s", qname, a.error);
	}
	dns_answer_free(&a);
	return st;
}

enum sts_status sts_lookup_id(const char *domain, const struct sts_fetch_opts *o,
    char id[STS_ID_MAX + 1], char *err, size_t errlen)
{
	char d[DOMAIN_MAX + 2];

	id[0] = '\0';
	if (!normalised_domain(domain, d)) {
		set_err(err, errlen, "invalid domain name \"%.64s\"", domain ? domain : "(null)");
		return STS_NONE;
	}
	return lookup_id(d, o, o->timeout_ms > 0 ? o->timeout_ms : 10000, id, err, errlen);
}

/* The TXT lookup into r; true when the fetch should follow. */
static bool discover_id(const char *domain, const struct sts_fetch_opts *o, char d[DOMAIN_MAX + 2],
    long long *deadline, struct sts_result *r)
{
	long timeout = o->timeout_ms > 0 ? o->timeout_ms : 10000;

	memset(r, 0, sizeof(*r));
	*deadline = monotonic_ms() + timeout;
	if (!normalised_domain(domain, d)) {
		r->status = STS_NONE;
		set_err(r->error, sizeof(r->error), "invalid domain name \"%.64s\"",
		    domain ? domain : "(null)");
		return false;
	}
	r->status = lookup_id(d, o, timeout, r->id, r->error, sizeof(r->error));
	return r->status == STS_OK;
}

void sts_discover(const char *domain, const struct sts_fetch_opts *o, struct sts_result *r)
{
	char d[DOMAIN_MAX + 2];
	long long deadline;

	if (discover_id(domain, o, d, &deadline, r))
		fetch_policy(d, o, deadline, r);
}

void sts_result_free(struct sts_result *r)
{
	sts_policy_free(&r->policy);
}

/* ---- the cache rules (5.1) ------------------------------------------------ */

bool sts_cached_usable(const struct sts_cached *c, long long now)
{
	return c->status == STS_OK && c->policy.text != NULL && c->expires > now;
}

/* When a held policy should be fetched again although its id is unchanged. */
static long long refetch_at(const struct sts_cached *c)
{
	long long at = c->fetched + c->policy.max_age / 5 * 4;

	return at > c->expires - EXPIRY_MARGIN ? c->expires - EXPIRY_MARGIN : at;
}

static long long next_after_success(const struct sts_cached *c, long long now)
{
	long long at = refetch_at(c);

	if (at > now + CHECK_EVERY)
		at = now + CHECK_EVERY;
	return at < now + RETRY_MIN ? now + RETRY_MIN : at;
}

/* 5 min, doubling while the failures go on, at most 6 h. */
static long long retry_delay(const struct sts_cached *c)
{
	long long prev = c->next_try - c->checked;
	bool failing = c->checked > 0 && c->error[0] != '\0' && c->status != STS_NONE;

	if (!failing || prev < RETRY_MIN)
		return RETRY_MIN;
	return prev >= RETRY_MAX / 2 ? RETRY_MAX : prev * 2;
}

static void keep_policy_after_failure(struct sts_cached *c, long long delay, long long now)
{
	c->next_try = now + delay;
	if (c->next_try > c->expires)
		c->next_try = c->expires;	/* then it is gone: rediscover */
}

static void drop_policy_after_failure(struct sts_cached *c, const struct sts_result *r,
    long long delay, long long now)
{
	sts_policy_free(&c->policy);
	c->status = r->status == STS_OK ? STS_TEMPORARY : r->status;
	snprintf(c->id, sizeof(c->id), "%s", r->id);
	c->fetched = 0;
	c->expires = 0;
	c->next_try = now + (c->status == STS_NONE ? NONE_RECHECK : delay);
}

void sts_cache_update(struct sts_cached *c, const struct sts_result *r, long long now)
{
	long long delay = retry_delay(c);

	c->checked = now;
	if (r->status == STS_OK && !r->unchanged) {
		sts_policy_free(&c->policy);
		sts_policy_copy(&c->policy, &r->policy);
		c->status = STS_OK;
		snprintf(c->id, sizeof(c->id), "%s", r->id);
		c->fetched = now;
		c->expires = now + c->policy.max_age;
		c->error[0] = '\0';
		c->next_try = next_after_success(c, now);
		return;
	}
	if (r->status == STS_OK && sts_cached_usable(c, now)) {	/* id unchanged */
		c->error[0] = '\0';
		c->next_try = next_after_success(c, now);
		return;
	}
	if (r->status == STS_OK)
		snprintf(c->error, sizeof(c->error), "id unchanged but no usable cached policy");
	else
		snprintf(c->error, sizeof(c->error), "%s",
		    r->error[0] ? r->error : sts_status_name(r->status));
	if (sts_cached_usable(c, now))
		keep_policy_after_failure(c, delay, now);
	else
		drop_policy_after_failure(c, r, delay, now);
}

void sts_refresh(const char *domain, const struct sts_cached *c, const struct sts_fetch_opts *o,
    struct sts_result *r, long long now)
{
	char d[DOMAIN_MAX + 2];
	long long deadline;

	if (c == NULL || !sts_cached_usable(c, now)) {
		sts_discover(domain, o, r);
		return;
	}
	if (!discover_id(domain, o, d, &deadline, r))
		return;		/* the cache keeps the policy */
	if (strcmp(r->id, c->id) == 0 && now < refetch_at(c)) {
		r->unchanged = true;
		return;
	}
	fetch_policy(d, o, deadline, r);
}

void sts_cached_free(struct sts_cached *c)
{
	sts_policy_free(&c->policy);
}
