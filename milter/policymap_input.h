/*
 * NAME
 *	policymap_input - the MTA-STS policy map of tlsrpt-milter
 * SYNOPSIS
 *	#include "policymap_input.h"
 * DESCRIPTION
 *	A Postfix smtp_tls_policy_maps service (socketmap protocol:
 *	netstrings, request "<name> <domain>") that serves MTA-STS
 *	(RFC 8461) policies from memory, plus the decorator that files the
 *	session results of the other inputs under the policy that applied.
 *
 *	The cache: one entry per recipient domain (at most
 *	POLICYMAP_MAX_DOMAINS, least recently used evicted first), loaded
 *	from the store's sts_policy table at attach time.  Four background
 *	threads, with a store handle of their own, discover and refresh
 *	policies (sts_refresh, sts_cache_update: the RFC 8461 5.1 rules),
 *	up to four domains at once and never one domain twice at once, and
 *	write each result to the store (store_sts_put) before the cache
 *	uses it.  Every fetch ends within sts_fetch_timeout (DNS included),
 *	so a domain whose name server or policy host stalls delays no
 *	other.  Domains wait for those threads on a deduplicated queue of
 *	at most POLICYMAP_MAX_QUEUE; more are dropped (counted) and queued
 *	again by a later request.
 *
 *	The map answers every request at once from the cache and never
 *	waits on the network:
 *	  "OK secure match=<patterns> servername=hostname"
 *	      for a held, unexpired policy in mode enforce (Postfix then
 *	      requires a certificate that verifies and names one of the
 *	      patterns);
 *	  "NOTFOUND " for anything else (Postfix uses its default level).
 *	A domain without an entry, an expired policy, or an entry past its
 *	next_try is queued for the fetch threads.  Keys that are not domain
 *	names (Postfix also asks for "[host]:port" next hops and, after a
 *	NOTFOUND, for the parent domains ".example.com", ".com") get
 *	NOTFOUND and cause no fetch.  The map name in the request is not
 *	checked (Postfix sends what follows the last ':' of the map,
 *	Sendmail's FEATURE(`sts') its map name).  A malformed netstring gets
 *	"PERM <why>" and the connection is closed.
 *
 *	The decorator, policymap_decorate(), sees every session result of
 *	the log follower and of the Sendmail socketmap before it is counted.
 *	A no-policy-found result of a domain whose cache entry holds an
 *	unexpired policy in mode testing or enforce becomes policy type sts
 *	(policy-domain the domain, policy-string the policy's lines, mx-host
 *	its mx patterns), and the receiving MX is checked against the
 *	patterns (RFC 8461 4.1):
 *	  - a success to an MX outside the policy becomes a failure,
 *	    validation-failure with failure-reason-code
 *	    "mx not in MTA-STS policy" (RFC 8460 has no type of its own for
 *	    this; validation-failure is its catch-all);
 *	  - a certificate-host-mismatch failure at such an MX becomes that
 *	    same validation-failure (with "secure match=" Postfix compares
 *	    the certificate with the policy's patterns, so the name it
 *	    missed is the policy's, not the MX's);
 *	  - any other failure keeps its detail and gains the
 *	    validation-failure detail as a second one (RFC 8460 4.3: failure
 *	    types are not exclusive).
 *	The MX of a failure is its receiving-mx-hostname; the MX of a success
 *	is what the input passes as mx (the log follower: the relay of the
 *	Postfix delivery line that emitted it).  When no MX is known the
 *	result is filed under the policy unchecked.
 *
 *	A domain whose last discovery failed after its TXT record was found
 *	(status fetch-error, invalid, webpki-invalid, and no policy held):
 *	its results become policy type sts with the result type
 *	sts-policy-fetch-error, sts-policy-invalid or sts-webpki-invalid
 *	(RFC 8460 4.3.2.2), the stored error as failure-reason-code and the
 *	session's MX and IP; the session counts as failed whatever its TLS
 *	outcome (the policy could not be applied), and its own failure
 *	detail, if any, is kept beside.  policy-string and mx-host are empty
 *	(the report leaves them out).  Status none, temporary, mode none,
 *	an expired policy and domains not yet fetched leave the result
 *	unchanged (no-policy-found); a domain without an entry is queued,
 *	so that later sessions get its policy.
 *
 *	Counters (aggregate_count, batch "policymap"): policymap.requests,
 *	.hits (answered from a cache entry), .misses (no entry yet: queued),
 *	.enforced (answered OK), .not_domain, .protocol_errors,
 *	.connections_refused; sts.fetches, sts.fetch_failures,
 *	sts.queue_dropped, sts.store_errors, sts.evicted, sts.decorated,
 *	sts.mx_mismatch.
 * SEE ALSO
 *	common/mta_sts.h, contrib/postfix/main.cf-mta-sts, tlsrpt-milter(8).
 */
#ifndef TLSRPT_POLICYMAP_INPUT_H
#define TLSRPT_POLICYMAP_INPUT_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf.h"
#include "session.h"
#include "store.h"
#include "writer.h"

#define POLICYMAP_MAX_DOMAINS 100000	/* cache entries */
#define POLICYMAP_MAX_QUEUE 10000	/* domains waiting for the fetch threads */

struct policymap_input;

/*
 * Bind conf->policy_map_socket (as root, before privileges are dropped);
 * NULL with err.  With policy_map_socket none there is no map to serve:
 * the cache then feeds the decorator and the policy map file
 * (sts_export.h) only.
 */
struct policymap_input *policymap_input_open(const struct tlsrpt_conf *conf, uid_t owner,
    gid_t group, char *err, size_t errlen);

/*
 * Register the counters' batch with the writer (before writer_start) and
 * load the cache from st (the daemon's store; only read here).
 */
void policymap_input_attach(struct policymap_input *in, struct writer *w, struct store *st);

/* Open the fetch threads' store handle, start the map and fetch threads. */
int policymap_input_start(struct policymap_input *in, char *err, size_t errlen);

/* Stop serving and fetching (a fetch under way is waited for), publish the counters. */
void policymap_input_stop(struct policymap_input *in);

/* Close the listening socket, remove its path, free the cache. */
void policymap_input_close(struct policymap_input *in);

/*
 * The decorator (ctx: the struct policymap_input).  Thread-safe.  mx
 * and ip: the receiving MX host and IP of a successful session when the
 * input knows them, else NULL.  Returns true with *out filled (a new
 * session: the caller counts it instead of s and frees it with
 * session_free) or false when s stays as it is.
 */
bool policymap_decorate(void *ctx, const struct tlsrpt_session *s, const char *mx,
    const char *ip, struct tlsrpt_session *out);

/*
 * ---- For the policy map file (sts_export.c) ----
 *
 * fn is called (from the fetch thread, no lock held) after each
 * discovery result went into the cache.  Set it before
 * policymap_input_start().
 */
void policymap_set_change_hook(struct policymap_input *in, void (*fn)(void *ctx), void *ctx);

/*
 * fn for every domain whose cached policy the map would answer "OK"
 * at now (mode enforce, not expired), with that answer and the expiry;
 * under the cache's lock: fn must be quick and must not call back.
 * Returns how many.
 */
size_t policymap_each_enforced(struct policymap_input *in, long long now,
    void (*fn)(void *ctx, const char *domain, const char *answer, long long expires), void *ctx);

/*
 * Queue a discovery of domain when it is due (never fetched, past its
 * next_try, or its policy expired), as a lookup would.  Thread-safe.
 * allow (may be NULL) is asked, under the cache's lock, only for a due
 * domain that is not queued yet: false leaves it unqueued (a rate
 * limit).  True when it was queued now; false for a key that is no
 * policy domain, a domain not due or already queued, one allow refused,
 * or a full queue.
 */
bool policymap_discover(struct policymap_input *in, const char *domain,
    bool (*allow)(void *ctx), void *ctx);

/*
 * Without a socket nothing publishes the counters: call this at least
 * once a second, from one thread only.  A no-op when the map is served.
 */
void policymap_input_tick(struct policymap_input *in);

/*
 * ---- Exposed for tests (tests/test_policymap.c).  The first two are the
 * map thread's own request handling; the others only read state and are
 * not used by the daemon. ----
 */
struct strbuf;

/* The domain of a map key, normalised into out; false for keys that are no policy domain. */
bool policymap_key_domain(const char *key, size_t len, char *out, size_t outlen);

/* One decoded request "<name> <key>" (len bytes): its netstring answer appended to out. */
void policymap_request(struct policymap_input *in, unsigned long conn_id, const char *req,
    size_t len, struct strbuf *out);

/* A counter by its name ("policymap.hits", "sts.evicted", ...); ~0ULL for an unknown name. */
unsigned long long policymap_counter(struct policymap_input *in, const char *name);

size_t policymap_cache_count(struct policymap_input *in);	/* cache entries */

/* The i-th domain on the fetch queue (0: the next to fetch), NULL past its end. */
const char *policymap_queue_at(struct policymap_input *in, size_t i);

#endif
