/*
 * NAME
 *	tlsrpt_record - parse a TLSRPT DNS record (RFC 8460 section 3)
 * DESCRIPTION
 *	A pure function from the text of one "_smtp._tls" TXT record (its
 *	character-strings already joined) to its list of rua URIs, or an
 *	error saying what is wrong.  Text from DNS is attacker-chosen.
 *
 *	Strict: the record follows the RFC 8460 grammar exactly.  It starts
 *	with "v=TLSRPTv1" followed by ";" (whitespace allowed around each
 *	";", one trailing ";" allowed, no other trailing whitespace); field
 *	names are case-sensitive; "rua" must appear exactly once; unknown
 *	well-formed extensions ("name=value") are ignored and malformed
 *	fields are errors.  At most TLSRPT_RECORD_MAX_LEN bytes of text and
 *	TLSRPT_RECORD_MAX_URIS URIs as written (duplicates included).
 *
 *	URIs: the scheme is case-insensitive.  Every URI must be free of
 *	control characters, spaces, non-ASCII bytes and characters that
 *	RFC 3986 does not allow (e.g. "<", ">", '"'); every "%" must start
 *	a "%XX" hex escape and no escape may encode a control character
 *	(so no encoded NUL, CR or LF: no header injection).
 *	- "mailto:" + addr-spec: no "?" header fields; target is the
 *	  percent-decoded address, which must be a dot-atom local part of
 *	  at most 64 bytes (no quoted local parts), "@", and a domain of
 *	  letters, digits and "-" with at least one dot.
 *	- "https://" + host [":" port] [path/query]: no userinfo; host is
 *	  a domain name (as above) or a bracketed IPv6 literal; port is
 *	  1-65535.  target is the whole URL with the scheme lowercased and
 *	  only %2C, %3B and %21 decoded (the characters RFC 8460 makes the
 *	  publisher encode); other escapes stay as written, because
 *	  decoding e.g. %2F or %20 would change or break the URL handed to
 *	  the HTTP client.
 *	- Any other scheme (e.g. "http:") is skipped when the record has
 *	  at least one valid mailto/https URI, and is an error
 *	  ("rua URI N: unsupported scheme ...", N of the first such URI)
 *	  when it has none.  A malformed mailto/https URI is always an
 *	  error, even next to valid ones: the record is broken.
 *	Duplicates (same scheme and identical target) are kept once, in
 *	the order first written; uri keeps that first spelling.
 * DIAGNOSTICS
 *	Messages are one line, "where: what", e.g. "rua: missing",
 *	"field 3: malformed extension \"x\"", "rua URI 2: unsupported
 *	scheme \"ftp\"".  Fields are numbered from 1 (the version is field
 *	1), URIs from 1 within the rua field as written.  Record text quoted
 *	in a message is truncated and has non-printable bytes escaped as
 *	\xHH, so a message is safe to log.
 */
#ifndef TLSRPT_TLSRPT_RECORD_H
#define TLSRPT_TLSRPT_RECORD_H

#include <stddef.h>

#define TLSRPT_RECORD_MAX_LEN 2048	/* bytes of record text */
#define TLSRPT_RECORD_MAX_URIS 32	/* rua URIs as written */

enum rua_scheme { RUA_MAILTO, RUA_HTTPS };

struct rua {
	enum rua_scheme scheme;
	char *uri;	/* as written in the record, e.g. "mailto:tlsrpt@example.com" */
	char *target;	/* percent-decoded part after the scheme: address, or the whole https URL */
};

struct tlsrpt_record {
	size_t nrua;
	struct rua *rua;
};

/*
 * 0 and *out filled (free with tlsrpt_record_free), or -1 with err set
 * and *out empty (nrua 0, rua NULL; freeing it is harmless).  err may be
 * NULL when errlen is 0; a long message is truncated to errlen.
 */
int tlsrpt_record_parse(const char *text, struct tlsrpt_record *out, char *err, size_t errlen);
/* Frees what r holds and empties it; r may be NULL. */
void tlsrpt_record_free(struct tlsrpt_record *r);

#endif
