/*
 * NAME
 *	dns_txt - look up TLSRPT records (_smtp._tls TXT) in the DNS
 * DESCRIPTION
 *	RFC 8460 section 3 discovery for domains whose TLSRPT record the MTA
 *	did not pass along: a TXT query for "_smtp._tls.<domain>", the
 *	character-strings of each record joined without separators (R6),
 *	the records not beginning with "v=TLSRPTv1;" discarded, and exactly
 *	one left required (R5).  NXDOMAIN and "no valid record" mean the
 *	domain gets no report; SERVFAIL and time-outs are temporary (R33).
 *	Lookups for many domains run concurrently on a bounded thread pool.
 *	Also generic TXT and address lookups of one name through the same
 *	resolver setting (for MTA-STS discovery).
 */
#ifndef TLSRPT_DNS_TXT_H
#define TLSRPT_DNS_TXT_H

#include <stddef.h>

enum tlsrpt_lookup_status {
	LOOKUP_FOUND,		/* exactly one TLSRPT record: text holds it */
	LOOKUP_NONE,		/* NXDOMAIN, no TXT, or no record starting v=TLSRPTv1; */
	LOOKUP_MULTIPLE,	/* more than one TLSRPT record: no reporting (R5) */
	LOOKUP_TEMPORARY,	/* SERVFAIL, time-out, network trouble: try again later */
};

struct tlsrpt_lookup {
	const char *domain;	/* in: the policy domain */
	enum tlsrpt_lookup_status status;	/* out */
	char *text;		/* out, malloc'd: the record when FOUND */
	char error[256];	/* out: why, when not FOUND */
};

/*
 * Resolve every lookup, at most "parallel" at a time.  resolver is NULL
 * (the system's resolv.conf) or "ADDRESS" / "ADDRESS:PORT" / "[V6]:PORT"
 * of one DNS server (for tests, a local server).  timeout_ms bounds each
 * lookup.  Returns 0, or -1 with err when the resolver setting is bad.
 */
int tlsrpt_lookup_all(struct tlsrpt_lookup *l, size_t n, const char *resolver,
    int parallel, long timeout_ms, char *err, size_t errlen);
void tlsrpt_lookup_free(struct tlsrpt_lookup *l, size_t n);	/* frees the texts */

/* Pure: pick the TLSRPT record out of a domain's TXT records (joined strings). */
enum tlsrpt_lookup_status tlsrpt_select_record(const char *const *txt, size_t n,
    const char **chosen);

/*
 * Generic lookups of one name, blocking, on the caller's thread
 * (thread-safe), with the resolver setting, time-out, CNAME handling and
 * classification above: every TXT record at "name" (character-strings
 * joined; records with a NUL byte or over 4096 bytes are left out), or
 * every A and AAAA address of "name" (text form, A first).  status is
 * LOOKUP_FOUND with n >= 1 items, LOOKUP_NONE (NXDOMAIN, no such
 * record, an invalid name) or LOOKUP_TEMPORARY, with error saying why.
 * Returns 0, or -1 with err when the resolver setting is bad.
 */
struct dns_answer {
	enum tlsrpt_lookup_status status;	/* out: FOUND, NONE or TEMPORARY */
	char **item;		/* out, malloc'd */
	size_t n;
	char error[256];	/* out: why, when not FOUND */
};

int dns_query_txt(const char *name, const char *resolver, long timeout_ms, struct dns_answer *a,
    char *err, size_t errlen);
int dns_query_addr(const char *name, const char *resolver, long timeout_ms, struct dns_answer *a,
    char *err, size_t errlen);
void dns_answer_free(struct dns_answer *a);

#endif
