/*
 * NAME
 *	tlsrpt_record - parse a TLSRPT DNS record (RFC 8460 section 3)
 * DESCRIPTION
 *	A pure function from the text of one "_smtp._tls" TXT record (its
 *	character-strings already joined) to its list of rua URIs, or an
 *	error saying what is wrong.  Text from DNS is attacker-chosen.
 */
#ifndef TLSRPT_TLSRPT_RECORD_H
#define TLSRPT_TLSRPT_RECORD_H

#include <stddef.h>

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

/* 0 and *out filled (free with tlsrpt_record_free), or -1 with err set. */
int tlsrpt_record_parse(const char *text, struct tlsrpt_record *out, char *err, size_t errlen);
void tlsrpt_record_free(struct tlsrpt_record *r);

#endif
