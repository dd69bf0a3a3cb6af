/*
 * NAME
 *	dkim - sign a message with DKIM (RFC 6376, RFC 8463) using OpenSSL
 * DESCRIPTION
 *	A signer holds one private key with its d= domain and s= selector.
 *	dkim_sign() checks that the message is CRLF text with an empty line
 *	between header and body, hashes the relaxed body (bh=), picks the
 *	signed header fields bottom-up as RFC 6376 5.4.2 says, and signs
 *	them plus its own DKIM-Signature field with an empty b=.
 *
 *	rsa-sha256 is RSASSA-PKCS1-v1_5 over SHA-256 of the header data.
 *	ed25519-sha256 (RFC 8463 section 3) is pure Ed25519 over the
 *	32-byte SHA-256 digest of the same data.
 *
 *	The field is folded before signing, so the signature covers the
 *	text the verifier sees; relaxed canonicalisation makes the folding
 *	points irrelevant anyway.  Folding happens only where RFC 6376
 *	allows FWS: between tags, around ":" in h=, inside base64 values.
 * PROMISES
 *	No global state; nothing is kept between calls but the key.  Every
 *	failure returns NULL with a message in err and frees what it made.
 * DOES NOT
 *	Verify signatures, produce l=, x=, i= or z=, or sign with simple
 *	canonicalisation.
 */
#include "dkim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "util.h"

#define RSA_MIN_BITS	1024
#define FOLD_COLUMN	76	/* fold before a line would pass this */
#define HEADER_NAME	"DKIM-Signature"

struct dkim_signer {
	EVP_PKEY *pkey;
	bool ed25519;
	char *domain;
	char *selector;
};

/* One header field of the message: raw bytes including the final CRLF. */
struct field {
	const char *start;
	size_t len;
	size_t namelen;		/* name without WSP before the colon */
	bool used;		/* already signed once (RFC 6376 5.4.2) */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The oldest queued OpenSSL error, as text; clears the queue. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "no detail from OpenSSL");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* ---- canonicalisation (RFC 6376 3.4.2, 3.4.4) ------------------------ */

char *dkim_canon_header_relaxed(const char *field, size_t len, int with_crlf,
    size_t *outlen)
{
	struct strbuf sb;
	const char *colon = memchr(field, ':', len);
	size_t namelen = colon ? (size_t)(colon - field) : len;
	bool pending_space = false;
	size_t i;

	strbuf_init(&sb);
	while (namelen > 0 && is_wsp(field[namelen - 1]))
		namelen--;
	for (i = 0; i < namelen; i++) {
		char c = field[i];

		strbuf_appendc(&sb, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
	}
	if (colon != NULL) {
		strbuf_appendc(&sb, ':');
		/* Unfold, turn WSP runs into one SP, drop WSP at both ends. */
		for (i = (size_t)(colon - field) + 1; i < len; i++) {
			char c = field[i];

			if (c == '\r' || c == '\n')
				continue;
			if (is_wsp(c)) {
				pending_space = true;
				continue;
			}
			if (pending_space && sb.len > namelen + 1)
				strbuf_appendc(&sb, ' ');
			pending_space = false;
			strbuf_appendc(&sb, c);
		}
	}
	if (with_crlf)
		strbuf_appends(&sb, "\r\n");
	strbuf_appendc(&sb, '\0');
	*outlen = sb.len - 1;
	return sb.data;
}

static bool has_text(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_wsp(line[i]))
			return true;
	return false;
}

/* Append one body line (without its CRLF) with WSP runs as one SP and no WSP at the end. */
static void canon_body_line(struct strbuf *sb, const char *line, size_t len)
{
	bool pending_space = false;

	for (size_t i = 0; i < len; i++) {
		if (is_wsp(line[i])) {
			pending_space = true;
			continue;
		}
		if (pending_space)
			strbuf_appendc(sb, ' ');
		pending_space = false;
		strbuf_appendc(sb, line[i]);
	}
	strbuf_appends(sb, "\r\n");
}

char *dkim_canon_body_relaxed(const char *body, size_t len, size_t *outlen)
{
	struct strbuf sb;
	size_t pos = 0, empty_lines = 0;

	strbuf_init(&sb);
	while (pos < len) {
		const char *crlf = NULL;
		size_t linelen;

		for (size_t i = pos; i + 1 < len; i++) {
			if (body[i] == '\r' && body[i + 1] == '\n') {
				crlf = body + i;
				break;
			}
		}
		/* A last line without CRLF is taken as if it had one (3.4.4). */
		linelen = crlf ? (size_t)(crlf - (body + pos)) : len - pos;
		if (!has_text(body + pos, linelen)) {
			/* Empty lines count only if a line with text follows. */
			empty_lines++;
		} else {
			for (; empty_lines > 0; empty_lines--)
				strbuf_appends(&sb, "\r\n");
			canon_body_line(&sb, body + pos, linelen);
		}
		pos = crlf ? pos + linelen + 2 : len;
	}
	strbuf_appendc(&sb, '\0');
	*outlen = sb.len - 1;
	return sb.data;
}

/* ---- keys ------------------------------------------------------------ */

/* Never prompt for a passphrase: an encrypted key simply fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* A d= or s= value we can put into the field as it is. */
static bool plain_tag_value(const char *v)
{
	if (*v == '\0')
		return false;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (c <= ' ' || c >= 0x7f || c == ';' || c == '=')
			return false;
	}
	return true;
}

static EVP_PKEY *read_key(const char *key_file, char *err, size_t errlen)
{
	char why[256];
	EVP_PKEY *pkey;
	const char *what;
	int fd = open_regular(key_file, &what);
	FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (fd >= 0 && fp == NULL)
		close(fd);
	if (what != NULL) {
		set_err(err, errlen, "key file %s: is %s, not a regular file", key_file, what);
		return NULL;
	}
	if (fp == NULL) {
		set_err(err, errlen, "key file %s: cannot read: %s", key_file, strerror(errno));
		return NULL;
	}
	pkey = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
	if (pkey == NULL && ferror(fp))
		set_err(err, errlen, "key file %s: cannot read: %s", key_file, strerror(errno));
	else if (pkey == NULL)
		set_err(err, errlen, "key file %s: not an RSA or Ed25519 key: "
		    "no unencrypted PEM private key found (%s)", key_file,
		    ssl_reason(why, sizeof(why)));
	fclose(fp);
	ERR_clear_error();
	return pkey;
}

static const char *key_type_name(const EVP_PKEY *pkey, int id)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	const char *name = EVP_PKEY_get0_type_name(pkey);

	if (name != NULL)
		return name;
#else
	(void)pkey;
#endif
	return OBJ_nid2sn(id);
}

struct dkim_signer *dkim_signer_load(const char *key_file, const char *domain,
    const char *selector, char *err, size_t errlen)
{
	struct dkim_signer *s;
	EVP_PKEY *pkey;
	int id, bits;

	if (!plain_tag_value(domain) || !plain_tag_value(selector)) {
		set_err(err, errlen, "DKIM domain \"%s\" or selector \"%s\" is empty or "
		    "contains spaces, control characters, \";\" or \"=\"", domain, selector);
		return NULL;
	}
	if ((pkey = read_key(key_file, err, errlen)) == NULL)
		return NULL;
	id = EVP_PKEY_id(pkey);
	bits = EVP_PKEY_bits(pkey);
	if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
		set_err(err, errlen, "key file %s: not an RSA or Ed25519 key (type %s)",
		    key_file, key_type_name(pkey, id));
		EVP_PKEY_free(pkey);
		return NULL;
	}
	if (id == EVP_PKEY_RSA && bits < RSA_MIN_BITS) {
		set_err(err, errlen, "key file %s: RSA key has %d bits, DKIM needs at "
		    "least %d (RFC 8301); make a 2048-bit key", key_file, bits, RSA_MIN_BITS);
		EVP_PKEY_free(pkey);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->pkey = pkey;
	s->ed25519 = id == EVP_PKEY_ED25519;
	s->domain = xstrdup(domain);
	s->selector = xstrdup(selector);
	return s;
}

void dkim_signer_free(struct dkim_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->pkey);
	free(s->domain);
	free(s->selector);
	free(s);
}

const char *dkim_signer_algorithm(const struct dkim_signer *s)
{
	return s->ed25519 ? "ed25519-sha256" : "rsa-sha256";
}

/* ---- the message ----------------------------------------------------- */

/* The line number (from 1) of byte offset off, for error messages. */
static size_t line_of(const char *msg, size_t off)
{
	size_t n = 1;

	for (size_t i = 0; i < off; i++)
		if (msg[i] == '\n')
			n++;
	return n;
}

/*
 * Split the header into fields; *body is where the body starts.  The
 * header must end with an empty line and every line with CRLF.
 */
static struct field *parse_header(const char *msg, size_t len, size_t *nfields,
    size_t *body, char *err, size_t errlen)
{
	struct field *f = NULL;
	size_t n = 0, pos = 0;

	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r')) {
			set_err(err, errlen, "message line %zu ends in a bare LF; "
			    "DKIM signing needs CRLF line ends", line_of(msg, i));
			return NULL;
		}
	}
	for (;;) {
		const char *eol = NULL, *colon;

		for (size_t i = pos; i + 1 < len; i++) {
			if (msg[i] == '\r' && msg[i + 1] == '\n') {
				eol = msg + i;
				break;
			}
		}
		if (eol == NULL) {
			set_err(err, errlen, "message has no empty line between header and body");
			free(f);
			return NULL;
		}
		if (eol == msg + pos)
			break;
		if (is_wsp(msg[pos])) {
			if (n == 0) {
				set_err(err, errlen, "message header begins with a continuation line");
				return NULL;
			}
			f[n - 1].len = (size_t)(eol + 2 - f[n - 1].start);
		} else {
			colon = memchr(msg + pos, ':', (size_t)(eol - (msg + pos)));
			if (colon == NULL || colon == msg + pos) {
				set_err(err, errlen, "message header line %zu is not a "
				    "\"name: value\" field", line_of(msg, pos));
				free(f);
				return NULL;
			}
			f = xrealloc(f, (n + 1) * sizeof(*f));
			f[n].start = msg + pos;
			f[n].len = (size_t)(eol + 2 - (msg + pos));
			f[n].namelen = (size_t)(colon - (msg + pos));
			while (f[n].namelen > 0 && is_wsp(f[n].start[f[n].namelen - 1]))
				f[n].namelen--;
			f[n].used = false;
			n++;
		}
		pos = (size_t)(eol - msg) + 2;
	}
	*nfields = n;
	*body = pos + 2;
	return f;
}

/* A header field name as RFC 5322 ftext allows: printable ASCII but ":". */
static bool valid_field_name(const char *name)
{
	if (*name == '\0')
		return false;
	for (; *name; name++) {
		unsigned char c = (unsigned char)*name;

		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

static bool check_names(const char *const *names, size_t n, char *err, size_t errlen)
{
	bool have_from = false;

	for (size_t i = 0; i < n; i++) {
		if (names[i] == NULL || !valid_field_name(names[i])) {
			set_err(err, errlen, "cannot sign header \"%s\": not a valid field name",
			    names[i] ? names[i] : "(null)");
			return false;
		}
		if (strcasecmp(names[i], "From") == 0)
			have_from = true;
	}
	if (!have_from) {
		set_err(err, errlen, "the From header field must be signed (RFC 6376 5.4)");
		return false;
	}
	return true;
}

/*
 * Append the canonical fields named in h= to data: for each name, the
 * lowest instance not yet used (RFC 6376 5.4.2); none left adds nothing.
 */
static void add_signed_fields(struct strbuf *data, struct field *f, size_t nf,
    const char *const *names, size_t nnames)
{
	for (size_t i = 0; i < nnames; i++) {
		size_t want = strlen(names[i]);

		for (size_t j = nf; j-- > 0;) {
			char *canon;
			size_t clen;

			if (f[j].used || f[j].namelen != want ||
			    strncasecmp(f[j].start, names[i], want) != 0)
				continue;
			f[j].used = true;
			canon = dkim_canon_header_relaxed(f[j].start, f[j].len, 1, &clen);
			strbuf_append(data, canon, clen);
			free(canon);
			break;
		}
	}
}

/* ---- the field and its folding --------------------------------------- */

struct folder {
	struct strbuf *sb;
	size_t col;
};

/* Start a new line with a tab if len more bytes would not fit. */
static void fold_if_needed(struct folder *fo, size_t len)
{
	if (fo->col > 1 && fo->col + len > FOLD_COLUMN) {
		strbuf_appends(fo->sb, "\r\n\t");
		fo->col = 1;
	}
}

static void fold_put(struct folder *fo, const char *s, size_t len)
{
	strbuf_append(fo->sb, s, len);
	fo->col += len;
}

/* "; " between tags, or ";" and a fold if the next piece would not fit. */
static void next_tag(struct folder *fo, size_t first_piece)
{
	fold_put(fo, ";", 1);
	if (fo->col + 1 + first_piece > FOLD_COLUMN)
		fold_if_needed(fo, FOLD_COLUMN);
	else
		fold_put(fo, " ", 1);
}

static void put_tag(struct folder *fo, const char *tag, const char *value)
{
	size_t tlen = strlen(tag), vlen = strlen(value);

	next_tag(fo, tlen + 1 + vlen);
	fold_put(fo, tag, tlen);
	fold_put(fo, "=", 1);
	fold_put(fo, value, vlen);
}

/* A base64 value may be broken anywhere (RFC 6376 3.5, base64string). */
static void put_base64(struct folder *fo, const char *b64)
{
	size_t left = strlen(b64);

	while (left > 0) {
		size_t room, chunk;

		fold_if_needed(fo, 2);
		room = FOLD_COLUMN - fo->col;
		chunk = left < room ? left : room;
		fold_put(fo, b64, chunk);
		b64 += chunk;
		left -= chunk;
	}
}

/* h= with folds only after a ":". */
static void put_h_tag(struct folder *fo, const char *const *names, size_t n)
{
	next_tag(fo, 2 + strlen(names[0]) + 1);
	fold_put(fo, "h=", 2);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]) + (i + 1 < n ? 1 : 0);

		if (i > 0)
			fold_if_needed(fo, len);
		fold_put(fo, names[i], strlen(names[i]));
		if (i + 1 < n)
			fold_put(fo, ":", 1);
	}
}

static char *base64(const unsigned char *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

/* bh=: base64 SHA-256 of the relaxed body. */
static char *body_hash(const char *body, size_t len, char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t clen;
	char *canon = dkim_canon_body_relaxed(body, len, &clen);
	char why[256];
	int ok = EVP_Digest(canon, clen, md, &mdlen, EVP_sha256(), NULL);

	free(canon);
	if (!ok) {
		set_err(err, errlen, "SHA-256 of the body failed: %s", ssl_reason(why, sizeof(why)));
		return NULL;
	}
	return base64(md, mdlen);
}

/*
 * The b= value for the header data: RSA signs it with SHA-256 and
 * PKCS#1 v1.5; Ed25519 signs its SHA-256 digest (RFC 8463 section 3).
 */
static char *sign_data(struct dkim_signer *s, const struct strbuf *data,
    char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE], *sig = NULL;
	const unsigned char *in = (const unsigned char *)data->data;
	unsigned int mdlen = 0;
	size_t inlen = data->len, siglen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	char why[256], *b64 = NULL;
	bool ok;

	if (ctx == NULL)
		goto fail;
	if (s->ed25519) {
		if (!EVP_Digest(in, inlen, md, &mdlen, EVP_sha256(), NULL))
			goto fail;
		in = md;
		inlen = mdlen;
		ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey) == 1;
	} else {
		ok = EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, s->pkey) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
	}
	if (!ok || EVP_DigestSign(ctx, NULL, &siglen, in, inlen) != 1)
		goto fail;
	sig = xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, in, inlen) != 1)
		goto fail;
	b64 = base64(sig, siglen);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return b64;
fail:
	set_err(err, errlen, "%s signing failed: %s", dkim_signer_algorithm(s),
	    ssl_reason(why, sizeof(why)));
	free(sig);
	EVP_MD_CTX_free(ctx);
	return NULL;
}

/* Everything of the field up to and including "b=", folded. */
static void build_field(struct folder *fo, const struct dkim_signer *s,
    const char *const *names, size_t n, long long now, const char *bh)
{
	char t[32];

	snprintf(t, sizeof(t), "%lld", now);
	fold_put(fo, HEADER_NAME ": v=1", strlen(HEADER_NAME ": v=1"));
	put_tag(fo, "a", dkim_signer_algorithm(s));
	put_tag(fo, "c", "relaxed/relaxed");
	put_tag(fo, "d", s->domain);
	put_tag(fo, "s", s->selector);
	put_tag(fo, "t", t);
	put_h_tag(fo, names, n);
	next_tag(fo, 3 + 4);
	fold_put(fo, "bh=", 3);
	put_base64(fo, bh);
	next_tag(fo, 2 + 4);
	fold_put(fo, "b=", 2);
}

char *dkim_sign(struct dkim_signer *s, const char *msg, size_t len,
    const char *const *sign_headers, size_t nheaders, long long now, char *err, size_t errlen)
{
	struct strbuf out, data;
	struct folder fo;
	struct field *f;
	size_t nf, body, clen;
	char *bh, *b, *canon;

	if (now < 0) {
		set_err(err, errlen, "signature time %lld is before 1970", now);
		return NULL;
	}
	if (!check_names(sign_headers, nheaders, err, errlen))
		return NULL;
	if ((f = parse_header(msg, len, &nf, &body, err, errlen)) == NULL)
		return NULL;
	if ((bh = body_hash(msg + body, len - body, err, errlen)) == NULL) {
		free(f);
		return NULL;
	}
	strbuf_init(&out);
	fo.sb = &out;
	fo.col = 0;
	build_field(&fo, s, sign_headers, nheaders, now, bh);
	free(bh);

	strbuf_init(&data);
	add_signed_fields(&data, f, nf, sign_headers, nheaders);
	free(f);
	canon = dkim_canon_header_relaxed(out.data, out.len, 0, &clen);
	strbuf_append(&data, canon, clen);
	free(canon);
	b = sign_data(s, &data, err, errlen);
	strbuf_free(&data);
	if (b == NULL) {
		strbuf_free(&out);
		return NULL;
	}
	put_base64(&fo, b);
	free(b);
	strbuf_appends(&out, "\r\n");
	strbuf_appendc(&out, '\0');
	return out.data;
}
