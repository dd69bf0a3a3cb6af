/*
 * Unit tests of common/dkim.c: the relaxed canonicalisations (exact
 * strings, RFC 6376 3.4.6 and RFC 8463 appendix A), key loading and its
 * errors, and signatures checked here with the public key.
 *
 * The signature checks build the signed data from literal canonical
 * header lines, so the choice and order of the signed fields (RFC 6376
 * 5.4.2) are checked independently of the signer.  The keys are made
 * here with OpenSSL in a mkdtemp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dkim.h"

#define T0	1700000000LL

struct fixture {
	char dir[64];
	char rsa2048[128];	/* PKCS#8 */
	char rsa1024[128];	/* traditional "BEGIN RSA PRIVATE KEY" */
	char rsa512[128];
	char ed25519[128];
	char ec[128];
	char notakey[128];
	EVP_PKEY *rsa_pub;	/* the 2048-bit key */
	EVP_PKEY *ed_pub;
};

/* RFC 8463 appendix A: the example message, key and signature. */
static const char rfc8463_body[] =
	"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";
static const char rfc8463_bh[] = "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=";
static const char empty_bh[] = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

/* ---- helpers ---------------------------------------------------------- */

static void check_header(const char *in, int crlf, const char *want)
{
	size_t len;
	char *got = dkim_canon_header_relaxed(in, strlen(in), crlf, &len);

	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(got);
}

static void check_body(const char *in, const char *want)
{
	size_t len;
	char *got = dkim_canon_body_relaxed(in, strlen(in), &len);

	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(got);
}

static void sha256_b64(const void *p, size_t n, char out[45])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	assert_int_equal(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(mdlen, 32);
	assert_int_equal(EVP_EncodeBlock((unsigned char *)out, md, 32), 44);
}

/* Decode base64 with folding whitespace in it; returns the byte count. */
static size_t unbase64(const char *b64, unsigned char *out, size_t outcap)
{
	char *clean = malloc(strlen(b64) + 1);
	size_t n = 0, pad = 0;
	int len;

	assert_non_null(clean);
	for (; *b64; b64++)
		if (*b64 != ' ' && *b64 != '\t' && *b64 != '\r' && *b64 != '\n')
			clean[n++] = *b64;
	clean[n] = '\0';
	assert_true(n % 4 == 0 && n / 4 * 3 <= outcap);
	len = EVP_DecodeBlock(out, (unsigned char *)clean, (int)n);
	assert_true(len >= 0);
	while (n > 0 && clean[n - 1] == '=') {
		pad++;
		n--;
	}
	free(clean);
	return (size_t)len - pad;
}

/* The value of the b= tag: after a "b=" that follows ";" and FWS. */
static const char *find_b_tag(const char *field)
{
	const char *found = NULL;

	for (const char *p = strstr(field, "b="); p; p = strstr(p + 1, "b=")) {
		const char *q = p;

		while (q > field && strchr(" \t\r\n", q[-1]) != NULL)
			q--;
		if (q > field && q[-1] == ';') {
			assert_null(found);
			found = p + 2;
		}
	}
	return found;
}

/* The field with its folds removed. */
static char *unfold(const char *field)
{
	char *out = malloc(strlen(field) + 1), *o = out;

	assert_non_null(out);
	for (const char *p = field; *p; p++) {
		if (p[0] == '\r' && p[1] == '\n' && p[2] == '\t')
			p += 2;
		else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

/*
 * Check a DKIM-Signature field's b= against signed_fields (the canonical
 * signed header lines) plus the field itself with b= empty.
 */
static bool signature_ok(EVP_PKEY *pub, bool ed25519, const char *signed_fields,
    const char *field)
{
	const char *b = find_b_tag(field);
	unsigned char sig[1024], md[32];
	unsigned int mdlen = 0;
	size_t siglen, canonlen, datalen;
	char *canon, *data;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc;

	assert_non_null(b);
	siglen = unbase64(b, sig, sizeof(sig));
	canon = dkim_canon_header_relaxed(field, (size_t)(b - field), 0, &canonlen);
	datalen = strlen(signed_fields) + canonlen;
	data = malloc(datalen + 1);
	assert_non_null(data);
	memcpy(data, signed_fields, strlen(signed_fields));
	memcpy(data + strlen(signed_fields), canon, canonlen);
	if (ed25519) {
		assert_int_equal(siglen, 64);
		assert_int_equal(EVP_Digest(data, datalen, md, &mdlen, EVP_sha256(), NULL), 1);
		assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub), 1);
		rc = EVP_DigestVerify(ctx, sig, siglen, md, mdlen);
	} else {
		assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub), 1);
		rc = EVP_DigestVerify(ctx, sig, siglen, (unsigned char *)data, datalen);
	}
	EVP_MD_CTX_free(ctx);
	free(canon);
	free(data);
	return rc == 1;
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static EVP_PKEY *make_key(const char *path, const char *type, size_t bits, bool traditional)
{
	EVP_PKEY *pkey;
	BIO *bio;

	if (strcmp(type, "RSA") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
	else if (strcmp(type, "EC") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, type);
	assert_non_null(pkey);
	bio = BIO_new_file(path, "w");
	assert_non_null(bio);
	if (traditional)
		assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	BIO_free(bio);
	return pkey;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s", "/tmp/test_dkim.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->rsa2048, sizeof(fx->rsa2048), "%s/rsa2048.pem", fx->dir);
	snprintf(fx->rsa1024, sizeof(fx->rsa1024), "%s/rsa1024.pem", fx->dir);
	snprintf(fx->rsa512, sizeof(fx->rsa512), "%s/rsa512.pem", fx->dir);
	snprintf(fx->ed25519, sizeof(fx->ed25519), "%s/ed25519.pem", fx->dir);
	snprintf(fx->ec, sizeof(fx->ec), "%s/ec.pem", fx->dir);
	snprintf(fx->notakey, sizeof(fx->notakey), "%s/notakey.pem", fx->dir);
	fx->rsa_pub = make_key(fx->rsa2048, "RSA", 2048, false);
	EVP_PKEY_free(make_key(fx->rsa1024, "RSA", 1024, true));
	EVP_PKEY_free(make_key(fx->rsa512, "RSA", 512, false));
	EVP_PKEY_free(make_key(fx->ec, "EC", 0, false));
	fx->ed_pub = make_key(fx->ed25519, "ED25519", 0, false);
	write_text(fx->notakey, "this is not a key\n");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->rsa2048);
	unlink(fx->rsa1024);
	unlink(fx->rsa512);
	unlink(fx->ed25519);
	unlink(fx->ec);
	unlink(fx->notakey);
	rmdir(fx->dir);
	EVP_PKEY_free(fx->rsa_pub);
	EVP_PKEY_free(fx->ed_pub);
	free(fx);
	return 0;
}

/* ---- canonicalisation ------------------------------------------------- */

static void test_canon_header(void **state)
{
	(void)state;
	check_header("SubJect :  Hello \t World  \r\n", 1, "subject:Hello World\r\n");
	check_header("To: a@example.com,\r\n\t b@example.net \r\n", 1,
	    "to:a@example.com, b@example.net\r\n");
	check_header("X-Empty:  \t \r\n", 1, "x-empty:\r\n");
	check_header("X-Tight:v\r\n", 1, "x-tight:v\r\n");
	/* RFC 6376 3.4.6 */
	check_header("A: X\r\n", 1, "a:X\r\n");
	check_header("B : Y\t\r\n\tZ  \r\n", 1, "b:Y Z\r\n");
	/* the signature field itself: no CRLF, the value's trailing WSP goes */
	check_header("DKIM-Signature: v=1; h=From:\r\n\tTo; b=\r\n\t", 0,
	    "dkim-signature:v=1; h=From: To; b=");
}

static void test_canon_body(void **state)
{
	char bh[45];
	size_t len;
	char *canon;

	(void)state;
	/* RFC 6376 3.4.6 */
	check_body(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");
	/* an empty body, and one of empty lines only, are empty */
	check_body("", "");
	check_body("\r\n", "");
	check_body("\r\n \t\r\n\r\n", "");
	/* empty lines inside stay; a line of WSP is an empty line */
	check_body("a\r\n\r\n  \r\nb\r\n \r\n", "a\r\n\r\n\r\nb\r\n");
	/* a last line without CRLF gets one */
	check_body("abc", "abc\r\n");
	check_body("x\ty  \r\nz \t", "x y\r\nz\r\n");

	canon = dkim_canon_body_relaxed("", 0, &len);
	sha256_b64(canon, len, bh);
	assert_string_equal(bh, empty_bh);
	free(canon);
	canon = dkim_canon_body_relaxed(rfc8463_body, strlen(rfc8463_body), &len);
	sha256_b64(canon, len, bh);
	assert_string_equal(bh, rfc8463_bh);
	free(canon);
}

/* The RFC 8463 example signature verifies over our canonical header data. */
static void test_rfc8463_example(void **state)
{
	static const unsigned char pub_raw_b64[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
	static const char *const fields[] = {
		"From: Joe SixPack <joe@football.example.com>\r\n",
		"To: Suzie Q <suzie@shopping.example.net>\r\n",
		"Subject: Is dinner ready?\r\n",
		"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n",
		"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n",
	};
	static const char field[] =
		"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
		" d=football.example.com; i=@football.example.com;\r\n"
		" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
		" subject : date : message-id : from : subject : date;\r\n"
		" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
		" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
		" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n";
	unsigned char raw[48];
	char signed_fields[512] = "";
	EVP_PKEY *pub;

	(void)state;
	assert_int_equal(EVP_DecodeBlock(raw, pub_raw_b64, 44), 33);
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	assert_non_null(pub);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t len;
		char *c = dkim_canon_header_relaxed(fields[i], strlen(fields[i]), 1, &len);

		strcat(signed_fields, c);
		free(c);
	}
	assert_string_equal(signed_fields,
	    "from:Joe SixPack <joe@football.example.com>\r\n"
	    "to:Suzie Q <suzie@shopping.example.net>\r\n"
	    "subject:Is dinner ready?\r\n"
	    "date:Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
	    "message-id:<20030712040037.46341.5F8J@football.example.com>\r\n");
	assert_true(signature_ok(pub, true, signed_fields, field));
	/* and a changed field does not */
	signed_fields[strlen("from:Joe")] = 'X';
	assert_false(signature_ok(pub, true, signed_fields, field));
	EVP_PKEY_free(pub);
}

/* ---- keys ------------------------------------------------------------- */

static void expect_load_error(const char *file, const char *want_prefix)
{
	char err[512] = "";
	struct dkim_signer *s = dkim_signer_load(file, "example.com", "tlsrpt", err, sizeof(err));

	assert_null(s);
	if (strncmp(err, want_prefix, strlen(want_prefix)) != 0)
		fail_msg("error \"%s\" does not begin with \"%s\"", err, want_prefix);
}

static void test_load_errors(void **state)
{
	struct fixture *fx = *state;
	char path[256], want[512];
	char err[256];

	snprintf(path, sizeof(path), "%s/missing.pem", fx->dir);
	snprintf(want, sizeof(want), "key file %s: cannot read: No such file or directory", path);
	expect_load_error(path, want);
	snprintf(want, sizeof(want), "key file %s: is a directory, not a regular file", fx->dir);
	expect_load_error(fx->dir, want);
	/* a FIFO nobody writes to: refused at once, never read (which would block) */
	snprintf(path, sizeof(path), "%s/fifo.pem", fx->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(want, sizeof(want), "key file %s: is a FIFO, not a regular file", path);
	expect_load_error(path, want);
	unlink(path);
	expect_load_error("/dev/null", "key file /dev/null: is a character device, not a regular file");
	snprintf(want, sizeof(want), "key file %s: RSA key has 512 bits, DKIM needs at "
	    "least 1024 (RFC 8301); make a 2048-bit key", fx->rsa512);
	expect_load_error(fx->rsa512, want);
	snprintf(want, sizeof(want), "key file %s: not an RSA or Ed25519 key: no unencrypted "
	    "PEM private key found (", fx->notakey);
	expect_load_error(fx->notakey, want);
	snprintf(want, sizeof(want), "key file %s: not an RSA or Ed25519 key (type ", fx->ec);
	expect_load_error(fx->ec, want);

	assert_null(dkim_signer_load(fx->rsa2048, "exa mple.com", "tlsrpt", err, sizeof(err)));
	assert_string_equal(err, "DKIM domain \"exa mple.com\" or selector \"tlsrpt\" is empty "
	    "or contains spaces, control characters, \";\" or \"=\"");
	assert_null(dkim_signer_load(fx->rsa2048, "example.com", "", err, sizeof(err)));
}

static void test_load_ok(void **state)
{
	struct fixture *fx = *state;
	char err[256] = "";
	struct dkim_signer *s;

	s = dkim_signer_load(fx->rsa2048, "example.com", "tlsrpt", err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(dkim_signer_algorithm(s), "rsa-sha256");
	dkim_signer_free(s);
	s = dkim_signer_load(fx->rsa1024, "example.com", "tlsrpt", err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(dkim_signer_algorithm(s), "rsa-sha256");
	dkim_signer_free(s);
	s = dkim_signer_load(fx->ed25519, "example.com", "tlsrpt", err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(dkim_signer_algorithm(s), "ed25519-sha256");
	dkim_signer_free(s);
	dkim_signer_free(NULL);
}

/* ---- signing ---------------------------------------------------------- */

static const char *const report_headers[] = {
	"From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
	"Content-Type", "TLS-Report-Domain", "TLS-Report-Submitter",
};
#define NREPORT_HEADERS (sizeof(report_headers) / sizeof(report_headers[0]))

static const char report_msg[] =
	"From: TLS reports <tlsrpt@example.com>\r\n"
	"To: <rua@example.net>\r\n"
	"Subject: Report Domain: example.net\r\n"
	"  Submitter: example.com Report-ID: <1@example.com>\r\n"
	"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"Message-ID: <1@example.com>\r\n"
	"TLS-Report-Domain: example.net\r\n"
	"TLS-Report-Submitter: example.com\r\n"
	"\r\n";

/* The canonical form of report_msg's fields in report_headers order. */
static const char report_signed[] =
	"from:TLS reports <tlsrpt@example.com>\r\n"
	"to:<rua@example.net>\r\n"
	"subject:Report Domain: example.net Submitter: example.com Report-ID: <1@example.com>\r\n"
	"date:Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	"message-id:<1@example.com>\r\n"
	"tls-report-domain:example.net\r\n"
	"tls-report-submitter:example.com\r\n";

static char *sign_with(const char *key, const char *msg, size_t len,
    const char *const *names, size_t n, char *err, size_t errlen)
{
	struct dkim_signer *s = dkim_signer_load(key, "example.com", "tlsrpt", err, errlen);
	char *field;

	assert_non_null(s);
	field = dkim_sign(s, msg, len, names, n, T0, err, errlen);
	dkim_signer_free(s);
	return field;
}

static void check_report_signature(const char *key, EVP_PKEY *pub, bool ed25519)
{
	char err[256] = "", want[1024];
	char *field = sign_with(key, report_msg, strlen(report_msg), report_headers,
	    NREPORT_HEADERS, err, sizeof(err));

	assert_non_null(field);
	snprintf(want, sizeof(want),
	    "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; d=example.com;\r\n"
	    "\ts=tlsrpt; t=1700000000; h=From:To:Subject:Date:Message-ID:MIME-Version:\r\n"
	    "\tContent-Type:TLS-Report-Domain:TLS-Report-Submitter; bh=47DEQpj8HBSa+/TImW+\r\n"
	    "\t5JCeuQeRkm5NMpJWZG3hSuFU=; b=", ed25519 ? "ed25519-sha256" : "rsa-sha256");
	assert_memory_equal(field, want, strlen(want));
	assert_null(strstr(field, "l="));
	assert_string_equal(field + strlen(field) - 2, "\r\n");
	/* no line longer than 78 bytes; every fold is CRLF TAB */
	for (const char *p = field; *p;) {
		const char *eol = strstr(p, "\r\n");

		assert_non_null(eol);
		assert_true(eol - p <= 78);
		p = eol + 2;
		if (*p)
			assert_int_equal(*p, '\t');
	}
	assert_true(signature_ok(pub, ed25519, report_signed, field));
	assert_false(signature_ok(pub, ed25519, "from:someone else\r\n", field));
	free(field);
}

static void test_sign_rsa(void **state)
{
	struct fixture *fx = *state;

	check_report_signature(fx->rsa2048, fx->rsa_pub, false);
}

static void test_sign_ed25519(void **state)
{
	struct fixture *fx = *state;
	char err[256];
	char *a, *b;

	check_report_signature(fx->ed25519, fx->ed_pub, true);
	/* Ed25519 is deterministic: the same input signs the same */
	a = sign_with(fx->ed25519, report_msg, strlen(report_msg), report_headers,
	    NREPORT_HEADERS, err, sizeof(err));
	b = sign_with(fx->ed25519, report_msg, strlen(report_msg), report_headers,
	    NREPORT_HEADERS, err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a, b);
	free(a);
	free(b);
}

/* Repeated fields are signed bottom-up (RFC 6376 5.4.2); bh= of a known body. */
static void test_sign_repeated_fields(void **state)
{
	struct fixture *fx = *state;
	static const char *const names[] = { "x-dup", "From", "X-DUP", "x-dup", "Missing" };
	char msg[1024];
	char err[256] = "";
	char *field, *flat;

	snprintf(msg, sizeof(msg),
	    "X-Dup: first\r\nFrom: a@example.com\r\nx-dup :  second \r\n\r\n%s", rfc8463_body);
	field = sign_with(fx->rsa2048, msg, strlen(msg), names, 5, err, sizeof(err));
	assert_non_null(field);
	flat = unfold(field);
	assert_non_null(strstr(flat, "; h=x-dup:From:X-DUP:x-dup:Missing; bh="
	    "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b="));
	free(flat);
	assert_true(signature_ok(fx->rsa_pub, false,
	    "x-dup:second\r\nfrom:a@example.com\r\nx-dup:first\r\n", field));
	assert_false(signature_ok(fx->rsa_pub, false,
	    "x-dup:first\r\nfrom:a@example.com\r\nx-dup:second\r\n", field));
	free(field);
}

static void expect_sign_error(struct fixture *fx, const char *msg, size_t len,
    const char *const *names, size_t n, const char *want)
{
	char err[256] = "";
	char *field = sign_with(fx->rsa2048, msg, len, names, n, err, sizeof(err));

	assert_null(field);
	assert_string_equal(err, want);
}

static void test_sign_errors(void **state)
{
	struct fixture *fx = *state;
	static const char *const no_from[] = { "To", "Subject" };
	static const char *const bad_name[] = { "From", "To:" };
	static const char *const from[] = { "From" };

	expect_sign_error(fx, "From: a\r\nTo: b\r\n", 16, from, 1,
	    "message has no empty line between header and body");
	expect_sign_error(fx, "From: a\r\nTo: b", 14, from, 1,
	    "message has no empty line between header and body");
	expect_sign_error(fx, "", 0, from, 1,
	    "message has no empty line between header and body");
	expect_sign_error(fx, "From: a\r\nTo: b\n\r\n", 17, from, 1,
	    "message line 2 ends in a bare LF; DKIM signing needs CRLF line ends");
	expect_sign_error(fx, "From: a\r\n\r\nbody\n", 16, from, 1,
	    "message line 3 ends in a bare LF; DKIM signing needs CRLF line ends");
	expect_sign_error(fx, " From: a\r\n\r\n", 12, from, 1,
	    "message header begins with a continuation line");
	expect_sign_error(fx, "From: a\r\nnot a field\r\n\r\n", 24, from, 1,
	    "message header line 2 is not a \"name: value\" field");
	expect_sign_error(fx, report_msg, strlen(report_msg), no_from, 2,
	    "the From header field must be signed (RFC 6376 5.4)");
	expect_sign_error(fx, report_msg, strlen(report_msg), bad_name, 2,
	    "cannot sign header \"To:\": not a valid field name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon_header),
		cmocka_unit_test(test_canon_body),
		cmocka_unit_test(test_rfc8463_example),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_ok),
		cmocka_unit_test(test_sign_rsa),
		cmocka_unit_test(test_sign_ed25519),
		cmocka_unit_test(test_sign_repeated_fields),
		cmocka_unit_test(test_sign_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
