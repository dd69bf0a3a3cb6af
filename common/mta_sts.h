/*
 * NAME
 *	mta_sts - MTA-STS (RFC 8461) policy discovery, parsing and caching rules
 * SYNOPSIS
 *	#include "mta_sts.h"
 * DESCRIPTION
 *	The sending side of RFC 8461: look up the "_mta-sts.<domain>" TXT
 *	record (3.1), fetch "https://mta-sts.<domain>/.well-known/mta-sts.txt"
 *	with WebPKI verification (3.3), parse the policy strictly (3.2),
 *	match MX host names against its patterns (4.1), and decide what a
 *	cache keeps when a refresh succeeds or fails (5.1).  Also the RFC
 *	8460 views of a policy (policy-string, mx-host) and the Postfix
 *	smtp_tls_policy_maps answer for an enforced policy.
 *
 *	The parsers and sts_cache_update() are pure (no I/O, no globals).
 *	sts_discover(), sts_lookup_id() and sts_refresh() block for at
 *	most opts->timeout_ms + 200 ms (the TXT lookup, the policy host's
 *	addresses and the HTTPS fetch share the time-out; after slow DNS
 *	answers the address lookup and the fetch still get 100 ms each)
 *	and are thread-safe.  The cache rows
 *	live in the store (table sts_policy, common/store_sts.c).
 *
 *	Not done here: DANE, MX lookups, the in-memory cache and the
 *	background refresh scheduling (the daemon does those), and
 *	sending-side enforcement itself (Postfix does it from our answer).
 */
#ifndef TLSRPT_MTA_STS_H
#define TLSRPT_MTA_STS_H

#include <stdbool.h>
#include <stddef.h>

struct store;

#define STS_ID_MAX		32		/* id: 1-32 alphanumerics (3.1) */
#define STS_MAX_AGE_MAX		31557600LL	/* one year, in seconds (3.2) */

enum sts_status {
	STS_OK,			/* a valid policy (any mode) */
	STS_NONE,		/* no (or more than one) _mta-sts record: no policy */
	STS_FETCH_ERROR,	/* the HTTPS fetch failed: connection, HTTP status, redirect */
	STS_INVALID,		/* bad TXT record, bad or oversize policy, not text/plain */
	STS_WEBPKI_INVALID,	/* the policy host's certificate did not verify */
	STS_TEMPORARY,		/* DNS SERVFAIL/time-out: try later, keep the old policy */
};

enum sts_mode { STS_MODE_NONE, STS_MODE_TESTING, STS_MODE_ENFORCE };

struct sts_policy {
	enum sts_mode mode;
	long long max_age;	/* seconds */
	char **mx;		/* patterns as written ("mx.example.com", "*.example.net") */
	size_t nmx;
	char *text;		/* the lines as fetched, LF-separated, no trailing LF; NULL if none */
};

/*
 * txt: the domain's TXT records at _mta-sts.<domain> (strings joined).
 * True with id set when exactly one record starts with "v=STSv1" and it
 * is valid (3.1 grammar); false with err otherwise (none, several, or
 * invalid: all mean "no policy").
 */
bool sts_parse_record(const char *const *txt, size_t n, char id[STS_ID_MAX + 1],
    char *err, size_t errlen);

/* Strict RFC 8461 3.2; err names the line.  On false *p is empty. */
bool sts_parse_policy(const char *body, size_t len, struct sts_policy *p, char *err, size_t errlen);
void sts_policy_free(struct sts_policy *p);	/* frees the members, leaves *p empty */
void sts_policy_copy(struct sts_policy *dst, const struct sts_policy *src);	/* deep */

/* "*.example.com" matches exactly one leftmost label; case-insensitive; trailing dots ignored. */
bool sts_mx_match(const struct sts_policy *p, const char *host);

/* malloc'd JSON texts (never NULL). */
char *sts_policy_strings_json(const struct sts_policy *p);	/* RFC 8460 policy-string: one element per line */
char *sts_mx_json(const struct sts_policy *p);			/* the mx patterns */

/*
 * "secure match=mx1.example.com:.example.net" (a leading "*." becomes
 * "."; patterns joined with ':'), malloc'd; NULL unless mode enforce.
 */
char *sts_postfix_answer(const struct sts_policy *p);

int sts_result_type(enum sts_status s);		/* RESULT_STS_* (session.h); 0 for OK/NONE/TEMPORARY */
const char *sts_status_name(enum sts_status s);	/* "ok", "none", "fetch-error", "invalid", "webpki-invalid", "temporary" */
bool sts_status_from_name(const char *name, enum sts_status *s);
const char *sts_mode_name(enum sts_mode m);	/* "none", "testing", "enforce" */

struct sts_fetch_opts {
	const char *resolver;	/* NULL (resolv.conf) or ADDRESS[:PORT] / [V6]:PORT, as dns_txt */
	const char *ca_file;	/* NULL: the system's trust store */
	bool allow_private;	/* allow loopback/private addresses for the policy host (tests) */
	long timeout_ms;	/* the TXT lookup plus the fetch; 0 or less: 10 s */
	size_t max_size;	/* largest policy body accepted, bytes; 0: 64 KiB */
};

struct sts_result {
	enum sts_status status;
	char id[STS_ID_MAX + 1];	/* the TXT id when one was found */
	struct sts_policy policy;	/* when OK and not unchanged */
	bool unchanged;		/* OK from the id check alone (sts_refresh): keep the cached policy */
	char error[256];	/* why, when not OK */
};

/*
 * Discovery: TXT _mta-sts.<domain>, then GET
 * https://mta-sts.<domain>/.well-known/mta-sts.txt.  Blocking;
 * thread-safe (no globals but a one-time curl_global_init).
 */
void sts_discover(const char *domain, const struct sts_fetch_opts *o, struct sts_result *r);

/*
 * Only the TXT lookup: OK with id; NONE when there is no record, more
 * than one, or an invalid one (RFC 8461 3.1: assume no policy); or
 * TEMPORARY (SERVFAIL, time-out).  err says which.
 */
enum sts_status sts_lookup_id(const char *domain, const struct sts_fetch_opts *o,
    char id[STS_ID_MAX + 1], char *err, size_t errlen);

void sts_result_free(struct sts_result *r);

/* The cache rows (common/store_sts.c).  Times are Unix seconds. */
struct sts_cached {
	char domain[256];
	enum sts_status status;	/* OK while a policy is held (even after a failed refresh) */
	char id[STS_ID_MAX + 1];
	struct sts_policy policy;
	long long fetched;	/* when the held policy was fetched; 0 if none */
	long long expires;	/* fetched + max_age; 0 if none */
	long long checked;	/* last discovery attempt */
	long long next_try;	/* when to check again */
	char error[256];	/* the last attempt's error ("" after success) */
};

int store_sts_put(struct store *st, const struct sts_cached *c, char *err, size_t errlen);	/* upsert: 0 or -1 */
int store_sts_get(struct store *st, const char *domain, struct sts_cached *c);	/* 1 found, 0 not, -1 error */
long long store_sts_each(struct store *st, void (*cb)(void *ctx, const struct sts_cached *c),
    void *ctx);		/* rows in domain order: count, or -1 */
void sts_cached_free(struct sts_cached *c);	/* frees the policy */

/* True when c holds a policy that has not expired at "now". */
bool sts_cached_usable(const struct sts_cached *c, long long now);

/*
 * The RFC 8461 5.1 cache rules, applied when a result arrives (pure).
 * c->domain must be set; a zeroed c is "never seen".  A new OK policy
 * replaces the held one; an unchanged id (r->unchanged) keeps it and
 * only moves checked/next_try; any failure, TEMPORARY, or NONE (the TXT
 * record gone) keeps a still-valid held policy with status OK and the
 * error recorded; without one the failure status is stored.
 * next_try: a daily id check, a refetch at 80% of max_age and at least
 * one hour before expiry (never sooner than 5 min); a failure is retried
 * after 5 min, doubling per consecutive failure up to 6 h (and not after
 * a held policy expires); NONE without a held policy after 1 h.
 */
void sts_cache_update(struct sts_cached *c, const struct sts_result *r, long long now);

/*
 * The refresh a cache does at c->next_try: the TXT lookup, and the
 * policy fetch only when needed (no usable held policy, its id changed,
 * or it is due for refetch before expiry); else OK with r->unchanged.
 * c may be NULL (then this is sts_discover).
 */
void sts_refresh(const char *domain, const struct sts_cached *c, const struct sts_fetch_opts *o,
    struct sts_result *r, long long now);

#endif
