/*
 * NAME
 *	dkim - sign a message with DKIM (RFC 6376, RFC 8463) using OpenSSL
 * DESCRIPTION
 *	RFC 8460 section 5.3 requires report mails to carry a valid DKIM
 *	signature of the reporting domain.  This signs one message:
 *	rsa-sha256 or ed25519-sha256 (chosen by the key), relaxed/relaxed
 *	canonicalisation, never "l=".  The message is CRLF-terminated text,
 *	header then body; the result is the DKIM-Signature header field
 *	(folded, ending in CRLF) to put in front of it.
 */
#ifndef TLSRPT_DKIM_H
#define TLSRPT_DKIM_H

#include <stddef.h>

struct dkim_signer;

/* Load a PEM private key (RSA >= 1024 bits, or Ed25519); NULL with err on failure. */
struct dkim_signer *dkim_signer_load(const char *key_file, const char *domain,
    const char *selector, char *err, size_t errlen);
void dkim_signer_free(struct dkim_signer *s);

/* "rsa-sha256" or "ed25519-sha256" */
const char *dkim_signer_algorithm(const struct dkim_signer *s);

/*
 * Sign msg[0..len).  sign_headers names the header fields to sign, in
 * order (a name absent from the message is still listed, which protects
 * against it being added later).  now = the t= value.  Returns the
 * malloc'd "DKIM-Signature: ...\r\n" field, or NULL with err.
 */
char *dkim_sign(struct dkim_signer *s, const char *msg, size_t len,
    const char *const *sign_headers, size_t nheaders, long long now, char *err, size_t errlen);

/*
 * The relaxed canonicalisations, exported for the unit tests and for
 * anyone checking a signature.  Both return a malloc'd, NUL-terminated
 * string and its length in *outlen.
 *
 * dkim_canon_header_relaxed: one header field (name, colon, value, with
 * any folding; a trailing CRLF is allowed and ignored) as RFC 6376 3.4.2
 * says; with_crlf appends the CRLF that ends a signed field (the
 * DKIM-Signature field itself is hashed without it).
 *
 * dkim_canon_body_relaxed: a body as RFC 6376 3.4.4 says; an empty body
 * (or one of empty lines only) gives the empty string.
 */
char *dkim_canon_header_relaxed(const char *field, size_t len, int with_crlf,
    size_t *outlen);
char *dkim_canon_body_relaxed(const char *body, size_t len, size_t *outlen);

#endif
