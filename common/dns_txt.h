/*
 * NAME
 *	dns_txt - look up TLSRPT records (_smtp._tls TXT) and other names in the DNS
 * DESCRIPTION
 *	RFC 8460 section 3 discovery for domains whose TLSRPT record the MTA
 *	did not pass along: a TXT query for "_smtp._tls.<domain>", the
 *	character-strings of each record joined without separators (R6),
 *	the records not beginning with "v=TLSRPTv1;" discarded, and exactly
 *	one left required (R5).  NXDOMAIN and "no valid record" mean the
 *	domain gets no report; SERVFAIL and time-outs are temporary (R33).
 *	Also generic TXT and address lookups through the same resolver
 *	setting (MTA-STS discovery, the host names of HTTPS clients).
 *
 *	Every lookup ends within its time-out, whatever the name server
 *	does: UDP, the TCP retry after a truncated answer, and CNAME
 *	chasing all count against one deadline per lookup.  A lookup that
 *	reaches it is LOOKUP_TEMPORARY "timed out after N ms"; the others
 *	of the same call go on unaffected.  Many lookups of one call run
 *	concurrently (c-ares, one channel, no threads).  Every function is
 *	thread-safe: each call has a resolver channel of its own.
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
 * Resolve every lookup, at most "parallel" (1-64) at a time.  resolver
 * is NULL (the system's resolv.conf) or "ADDRESS" / "ADDRESS:PORT" /
 * "[V6]:PORT" of one DNS server (for tests, a local server).
 * timeout_ms bounds each lookup from its start; the whole call takes at
 * most about ceil(n / parallel) * timeout_ms.  Returns 0, or -1 with err
 * when the resolver setting or the time-out is bad.
 */
int tlsrpt_lookup_all(struct tlsrpt_lookup *l, size_t n, const char *resolver,
    int parallel, long timeout_ms, char *err, size_t errlen);
void tlsrpt_lookup_free(struct tlsrpt_lookup *l, size_t n);	/* frees the texts */

/* Pure: pick the TLSRPT record out of a domain's TXT records (joined strings). */
enum tlsrpt_lookup_status tlsrpt_select_record(const char *const *txt, size_t n,
    const char **chosen);

/*
 * Generic lookups of one name, blocking the caller for at most
 * timeout_ms, with the resolver setting, CNAME handling and
 * classification above: every TXT record at "name" (character-strings
 * joined; records with a NUL byte or over 4096 bytes are left out), or
 * the addresses of "name" (text form, IPv4 first): an IP address stands
 * for itself, then /etc/hosts is read (as the system resolver's "files"
 * source does), then the DNS is asked for A and AAAA at once.  When
 * only one of A and AAAA has answered at the deadline, its addresses
 * are the result.  status is LOOKUP_FOUND with n >= 1 items,
 * LOOKUP_NONE (NXDOMAIN, no such record, an invalid name) or
 * LOOKUP_TEMPORARY, with error saying why.  Returns 0, or -1 with err
 * when the resolver setting or the time-out is bad.
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
/* The addresses of n names at once, at most "parallel" at a time: a[i] for names[i]. */
int dns_query_addr_all(const char *const *names, struct dns_answer *a, size_t n,
    const char *resolver, int parallel, long timeout_ms, char *err, size_t errlen);
void dns_answer_free(struct dns_answer *a);

/*
 * Pure, for the tests and the fuzzer: read one DNS answer message to a
 * query for "qname" of type (16 TXT, 1 A or 28 AAAA) as the lookups do:
 * the records of that type owned by qname or by a CNAME target in the
 * message.  a is FOUND with the items, NONE with error "no TXT record at
 * QNAME" (also when the records were refused: a NUL byte, too long), or
 * TEMPORARY "malformed DNS answer for QNAME".  Header and rcode are not
 * looked at (the resolver library did that).  When the message holds
 * only a CNAME chain, next gets its end (else qname).
 */
void dns_parse_answer(const unsigned char *msg, size_t len, const char *qname, int type,
    struct dns_answer *a, char next[1025]);

#endif
