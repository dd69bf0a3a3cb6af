/*
 * NAME
 *	policymap_input - the MTA-STS policy map of tlsrpt-milter
 * DESCRIPTION
 *	See policymap_input.h.  Three parts:
 *
 *	1. The cache: a hash table of entries keyed by domain, with a
 *	   least-recently-used list for eviction, the queue of domains for
 *	   the fetch threads (a ring of domain names; an entry's "queued"
 *	   flag keeps a domain on it once), and the domains being fetched
 *	   (one slot per fetch thread).  One mutex guards all of it; every
 *	   operation under it is a few hash and string operations, so the
 *	   map thread, the fetch threads and the decorating input threads
 *	   never wait long for each other.
 *
 *	2. The map: the socket bound by listen.c, served by a
 *	   netstring_server (one thread, one poll() loop over every
 *	   connection, all non-blocking), each request answered by
 *	   policymap_request() as soon as it is complete.
 *
 *	3. The fetch threads, FETCH_THREADS of them: each takes a domain off
 *	   the queue, reads its row from the store, refreshes it
 *	   (sts_refresh; blocking, bounded by sts_fetch_timeout), applies
 *	   the cache rules (sts_cache_update), writes the row and installs
 *	   it in the cache.  So a domain whose name server or policy host
 *	   stalls holds up one thread for sts_fetch_timeout at most, and the
 *	   other domains are fetched meanwhile.  A domain is never fetched
 *	   by two threads at once: it is not queued while it is on the
 *	   queue (the entry's flag) or being fetched (the slots; the slots
 *	   also cover an entry evicted and made again during its fetch).
 *	   Threads rather than one curl multi loop because a fetch is a
 *	   sequence of blocking steps (TXT lookup, address lookup, HTTPS,
 *	   SQLite) that sts_refresh() already bounds; four threads keep that
 *	   code as it is, and the policy map only ever needs a few fetches
 *	   at once (each domain once a day or less).  The threads share one
 *	   store handle under a mutex of its own: a row's read and write
 *	   take milliseconds, the fetch itself happens outside it.
 *
 *	Counters are atomics bumped by whichever thread sees the event;
 *	the map thread moves their increases into the batch at least once
 *	a second, and at the stop.
 */
#define _GNU_SOURCE
#include "config.h"

#include "policymap_input.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "aggregate.h"
#include "heartbeat.h"
#include "listen.h"
#include "log.h"
#include "mta_sts.h"
#include "netstring_server.h"
#include "sendmail_map.h"
#include "util.h"

#define MAX_CONNECTIONS 1024
#define PUBLISH_MS 1000		/* counters reach the batch at least this often */
#define STOP_WAIT_S 3		/* how long the stop waits for the fetches under way */
#define FETCH_THREADS 4		/* fetches at once */
#define NBUCKETS (1u << 17)	/* hash buckets: above POLICYMAP_MAX_DOMAINS */
#define MX_MISMATCH_REASON "mx not in MTA-STS policy"

/* ---- counters ---- */

enum counter {
	C_REQUESTS, C_HITS, C_MISSES, C_ENFORCED, C_NOT_DOMAIN, C_BAD_REQUESTS,
	C_PROTOCOL_ERRORS, C_REFUSED, C_FETCHES, C_FETCH_FAILURES, C_QUEUE_DROPPED,
	C_STORE_ERRORS, C_EVICTED, C_DECORATED, C_MX_MISMATCH, C_CONN_IDLE, C_CONN_EVICTED,
	C_COUNT,
};

static const char *const counter_names[C_COUNT] = {
	"policymap.requests", "policymap.hits", "policymap.misses", "policymap.enforced",
	"policymap.not_domain", "policymap.bad_requests", "policymap.protocol_errors",
	"policymap.connections_refused", "sts.fetches", "sts.fetch_failures",
	"sts.queue_dropped", "sts.store_errors", "sts.evicted", "sts.decorated",
	"sts.mx_mismatch", "policymap.connections_idle_closed", "policymap.connections_evicted",
};

/* ---- the cache ---- */

struct entry {
	struct entry *hnext;
	struct entry *older, *newer;	/* the LRU list */
	uint64_t hash;
	char *domain;
	bool known;		/* a discovery result (or a store row) is held */
	bool queued;		/* on the fetch queue */
	enum sts_status status;
	struct sts_policy policy;	/* status OK: the held policy */
	long long expires;	/* status OK: when the held policy expires */
	long long next_try;
	char *answer;		/* "OK secure match=..." for mode enforce, else NULL */
	char *pstrings;		/* policy-string JSON ("[]" when no policy) */
	char *mxjson;		/* mx-host JSON ("[]" when no policy) */
	char *error;		/* the last discovery's error, NULL if none */
};

struct cache {
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* the fetch threads: queue not empty, or stopping */
	struct entry **buckets;
	size_t count;
	struct entry *oldest, *newest;
	char **queue;		/* ring of POLICYMAP_MAX_QUEUE domain names */
	size_t qhead, qlen;
	const char *fetching[FETCH_THREADS];	/* the domain each fetch thread has, or NULL */
	bool stopping;
};

struct policymap_input {
	struct ns_server *srv;	/* the map */
	char *path;		/* unix socket path, NULL for inet */
	char *endpoint;

	/* what the fetch threads need, copied: a reload frees the configuration */
	char *store_path;
	long busy_timeout_ms;
	char *resolver, *ca_file;
	struct sts_fetch_opts opts;

	struct writer *writer;
	struct input_batch *batch;
	struct store *fetch_store;	/* the fetch threads' handle, under store_lock */
	pthread_mutex_t store_lock;
	struct cache cache;
	uint64_t counters[C_COUNT];	/* atomics */
	uint64_t published[C_COUNT];	/* under publish_lock */
	/* publish_counters() runs on the map thread, or without a socket on
	 * the policy map file's thread, and at the stop on the main thread:
	 * without a socket the last two overlap, and would count twice */
	pthread_mutex_t publish_lock;

	/* policymap_set_change_hook(): told after each change of the cache */
	void (*change_fn)(void *ctx);
	void *change_ctx;

	struct fetcher {
		struct policymap_input *in;
		int slot;		/* in cache.fetching */
		pthread_t tid;
	} fetchers[FETCH_THREADS];
	int nfetchers;		/* started */
	bool map_running;
	bool served;	/* started once: the socket file stays at the end */
	bool fetch_abandoned;	/* a fetch outlived the stop: leave what it uses */
	struct log_limit proto_limit, bad_limit, refuse_limit, store_limit, queue_limit;
};

static void bump(struct policymap_input *in, enum counter c)
{
	__atomic_fetch_add(&in->counters[c], 1, __ATOMIC_RELAXED);
}

static void cache_init(struct cache *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	c->buckets = xcalloc(NBUCKETS, sizeof(*c->buckets));
	c->queue = xcalloc(POLICYMAP_MAX_QUEUE, sizeof(*c->queue));
}

static void entry_clear(struct entry *e)
{
	sts_policy_free(&e->policy);
	free(e->answer);
	free(e->pstrings);
	free(e->mxjson);
	free(e->error);
	e->answer = e->pstrings = e->mxjson = e->error = NULL;
}

static void entry_free(struct entry *e)
{
	entry_clear(e);
	free(e->domain);
	free(e);
}

static void cache_free(struct cache *c)
{
	struct entry *e = c->oldest;

	while (e != NULL) {
		struct entry *next = e->newer;

		entry_free(e);
		e = next;
	}
	for (size_t i = 0; i < c->qlen; i++)
		free(c->queue[(c->qhead + i) % POLICYMAP_MAX_QUEUE]);
	free(c->queue);
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
}

static void lru_unlink(struct cache *c, struct entry *e)
{
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_append(struct cache *c, struct entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest != NULL)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
}

/* Under lock. */
static struct entry *cache_find(struct cache *c, const char *domain, uint64_t h)
{
	for (struct entry *e = c->buckets[h & (NBUCKETS - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->domain, domain) == 0)
			return e;
	return NULL;
}

static void cache_remove(struct cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & (NBUCKETS - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->count--;
	entry_free(e);
}

/* Under lock: domain's entry, made (pending) if there is none; the newest either way. */
static struct entry *cache_get(struct policymap_input *in, const char *domain)
{
	struct cache *c = &in->cache;
	uint64_t h = hash_bytes(domain, strlen(domain));
	struct entry *e = cache_find(c, domain, h);

	if (e != NULL) {
		if (c->newest != e) {
			lru_unlink(c, e);
			lru_append(c, e);
		}
		return e;
	}
	while (c->count >= POLICYMAP_MAX_DOMAINS && c->oldest != NULL) {
		cache_remove(c, c->oldest);
		bump(in, C_EVICTED);
	}
	e = xcalloc(1, sizeof(*e));
	e->hash = h;
	e->domain = xstrdup(domain);
	e->hnext = c->buckets[h & (NBUCKETS - 1)];
	c->buckets[h & (NBUCKETS - 1)] = e;
	lru_append(c, e);
	c->count++;
	return e;
}

/* Under lock: is a fetch thread at work on domain? */
static bool being_fetched(const struct cache *c, const char *domain)
{
	for (int i = 0; i < FETCH_THREADS; i++)
		if (c->fetching[i] != NULL && strcmp(c->fetching[i], domain) == 0)
			return true;
	return false;
}

/*
 * Under lock: put e's domain on the fetch queue unless it is there, being
 * fetched, or the queue is full.
 */
static void queue_push(struct policymap_input *in, struct entry *e)
{
	struct cache *c = &in->cache;

	if (e->queued || c->stopping || being_fetched(c, e->domain))
		return;
	if (c->qlen >= POLICYMAP_MAX_QUEUE) {
		bump(in, C_QUEUE_DROPPED);
		log_ratelimited(&in->queue_limit, LOG_WARNING, "sts_queue_full domain=%s limit=%d "
		    "(dropped; a later request queues it again)", e->domain, POLICYMAP_MAX_QUEUE);
		return;
	}
	c->queue[(c->qhead + c->qlen) % POLICYMAP_MAX_QUEUE] = xstrdup(e->domain);
	c->qlen++;
	e->queued = true;
	pthread_cond_signal(&c->wake);
}

/* Under lock: true when e should be (re)discovered now. */
static bool entry_due(const struct entry *e, long long now)
{
	if (!e->known)
		return true;
	if (now >= e->next_try)
		return true;
	return e->status == STS_OK && now >= e->expires;
}

/* Under lock: the enforced policy's answer, when one applies now. */
static const char *entry_answer(const struct entry *e, long long now)
{
	if (!e->known || e->status != STS_OK || e->answer == NULL || now >= e->expires)
		return NULL;
	return e->answer;
}

/* Under lock: take over what a store row or a fresh discovery says. */
static void entry_set(struct entry *e, const struct sts_cached *row)
{
	entry_clear(e);
	e->known = true;
	e->status = row->status;
	e->next_try = row->next_try;
	e->expires = 0;
	if (row->error[0] != '\0')
		e->error = xstrdup(row->error);
	if (row->status == STS_OK) {
		char *secure = row->policy.nmx > 0 ? sts_postfix_answer(&row->policy) : NULL;

		sts_policy_copy(&e->policy, &row->policy);
		e->expires = row->expires;
		e->pstrings = sts_policy_strings_json(&row->policy);
		e->mxjson = sts_mx_json(&row->policy);
		if (secure != NULL) {
			struct strbuf sb;

			/* RFC 8461 4.2: SNI is the MX host name */
			strbuf_init(&sb);
			strbuf_printf(&sb, "OK %s%s", secure, strstr(secure, "servername=") ?
			    "" : " servername=hostname");
			e->answer = sb.data;
			free(secure);
		}
	}
	if (e->pstrings == NULL)
		e->pstrings = xstrdup("[]");
	if (e->mxjson == NULL)
		e->mxjson = xstrdup("[]");
}

static void load_row(void *ctx, const struct sts_cached *row)
{
	struct policymap_input *in = ctx;
	char domain[sizeof(row->domain)];
	struct entry *e;

	snprintf(domain, sizeof(domain), "%s", row->domain);
	if (!domain_normalise(domain))
		return;
	e = cache_get(in, domain);
	entry_set(e, row);
}

/* ---- the decorator ---- */

static char *dup_opt(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void failure_copy(struct tlsrpt_failure *dst, const struct tlsrpt_failure *src)
{
	dst->result_type = src->result_type;
	dst->sending_ip = dup_opt(src->sending_ip);
	dst->mx_name = dup_opt(src->mx_name);
	dst->helo = dup_opt(src->helo);
	dst->receiving_ip = dup_opt(src->receiving_ip);
	dst->additional = dup_opt(src->additional);
	dst->reason = dup_opt(src->reason);
}

/* out: s with its one policy result filed as sts, room for one more failure. */
static void copy_as_sts(struct tlsrpt_session *out, const struct tlsrpt_session *s,
    const char *pstrings, const char *mxjson)
{
	const struct tlsrpt_policy_result *p = &s->policies[0];
	struct tlsrpt_policy_result *q;

	memset(out, 0, sizeof(*out));
	out->when = s->when;
	out->domain = xstrdup(s->domain);
	out->record = dup_opt(s->record);
	out->npolicies = 1;
	out->policies = q = xcalloc(1, sizeof(*q));
	q->type = POLICY_STS;
	q->policy_domain = xstrdup(s->domain);
	q->policy_strings = xstrdup(pstrings);
	q->mx_hosts = xstrdup(mxjson);
	q->failed = p->failed;
	q->failures = xcalloc(p->nfailures + 1, sizeof(*q->failures));
	for (size_t i = 0; i < p->nfailures; i++)
		failure_copy(&q->failures[i], &p->failures[i]);
	q->nfailures = p->nfailures;
}

/* A new first failure detail of q (q has room for one more); q is failed now. */
static void failure_prepend(struct tlsrpt_policy_result *q, int type, const char *mx,
    const char *ip, const char *reason)
{
	memmove(&q->failures[1], &q->failures[0], q->nfailures * sizeof(*q->failures));
	memset(&q->failures[0], 0, sizeof(q->failures[0]));
	q->failures[0].result_type = type;
	q->failures[0].mx_name = dup_opt(mx);
	q->failures[0].receiving_ip = dup_opt(ip);
	q->failures[0].reason = dup_opt(reason);
	q->nfailures++;
	q->failed = true;
}

/* The receiving MX did not match the policy's patterns (see policymap_input.h). */
static void mark_mx_mismatch(struct tlsrpt_policy_result *q, const char *mx, const char *ip)
{
	bool replaced = false;

	for (size_t i = 0; i < q->nfailures; i++) {
		struct tlsrpt_failure *f = &q->failures[i];

		if (f->result_type != RESULT_CERTIFICATE_HOST_MISMATCH)
			continue;
		f->result_type = RESULT_VALIDATION_FAILURE;
		free(f->reason);
		f->reason = xstrdup(MX_MISMATCH_REASON);
		replaced = true;
	}
	if (!replaced)
		failure_prepend(q, RESULT_VALIDATION_FAILURE, mx, ip, MX_MISMATCH_REASON);
}

enum verdict { V_NONE, V_POLICY, V_ERROR };

bool policymap_decorate(void *ctx, const struct tlsrpt_session *s, const char *mx,
    const char *ip, struct tlsrpt_session *out)
{
	struct policymap_input *in = ctx;
	const struct tlsrpt_policy_result *p;
	const char *used_mx = NULL, *used_ip = NULL;
	char *pstrings = NULL, *mxjson = NULL, *error = NULL;
	enum verdict v = V_NONE;
	enum sts_status status = STS_NONE;
	bool mx_ok = true;
	long long now = (long long)time(NULL);
	struct entry *e;

	if (in == NULL || s->domain == NULL || s->npolicies != 1 ||
	    s->policies[0].type != POLICY_NONE)
		return false;
	p = &s->policies[0];
	if (p->failed) {
		for (size_t i = 0; i < p->nfailures && used_mx == NULL; i++) {
			used_mx = p->failures[i].mx_name;
			used_ip = p->failures[i].receiving_ip;
		}
	} else {
		used_mx = mx;
		used_ip = ip;
	}

	pthread_mutex_lock(&in->cache.lock);
	e = cache_get(in, s->domain);
	if (entry_due(e, now))
		queue_push(in, e);
	if (e->known && e->status == STS_OK && now < e->expires &&
	    e->policy.mode != STS_MODE_NONE) {
		v = V_POLICY;
		mx_ok = used_mx == NULL || sts_mx_match(&e->policy, used_mx);
	} else if (e->known && sts_result_type(e->status) != 0) {
		v = V_ERROR;
		status = e->status;
		error = dup_opt(e->error);
	}
	if (v != V_NONE) {
		pstrings = xstrdup(v == V_POLICY ? e->pstrings : "[]");
		mxjson = xstrdup(v == V_POLICY ? e->mxjson : "[]");
	}
	pthread_mutex_unlock(&in->cache.lock);
	if (v == V_NONE)
		return false;

	copy_as_sts(out, s, pstrings, mxjson);
	if (v == V_ERROR) {
		failure_prepend(&out->policies[0], sts_result_type(status), used_mx, used_ip, error);
	} else if (!mx_ok) {
		mark_mx_mismatch(&out->policies[0], used_mx, used_ip);
		bump(in, C_MX_MISMATCH);
	} else if (!p->failed && (s->tls_trust == TLS_TRUST_UNTRUSTED ||
	    s->tls_trust == TLS_TRUST_ANONYMOUS)) {
		/*
		 * Delivered over TLS whose certificate was not verified (at
		 * Postfix's default level: a testing-mode policy, or the first
		 * contact before the policy was cached).  The policy asks for
		 * a valid certificate, so this session failed it.
		 */
		if (s->tls_trust == TLS_TRUST_UNTRUSTED)
			failure_prepend(&out->policies[0], RESULT_CERTIFICATE_NOT_TRUSTED, used_mx,
			    used_ip, "certificate not verified (Untrusted TLS connection)");
		else
			failure_prepend(&out->policies[0], RESULT_VALIDATION_FAILURE, used_mx, used_ip,
			    "no certificate (Anonymous TLS connection)");
	}
	bump(in, C_DECORATED);
	log_msg(LOG_DEBUG, "sts_session domain=%s policy=%s mx=%s result=%s", s->domain,
	    v == V_POLICY ? "ok" : sts_status_name(status), used_mx ? used_mx : "-",
	    !out->policies[0].failed ? "success" : out->policies[0].nfailures == 0 ? "failure" :
	    result_type_name(out->policies[0].failures[0].result_type));
	free(pstrings);
	free(mxjson);
	free(error);
	return true;
}

/* ---- the fetch threads ---- */

/*
 * Under store_lock: the fetch threads' handle on the store at the path,
 * never on a deleted or replaced file (store_follow_path()); false when
 * no store is open now.
 */
static bool fetch_store_ready(struct policymap_input *in)
{
	const char *what;
	char err[256];
	int rc = store_follow_path(in->fetch_store, &what, err, sizeof(err));

	if (rc > 0)
		log_msg(LOG_ERR, "sts_store_reopened reason=%s (the store's files were deleted or "
		    "replaced; the policy cache goes on in the store at the path)", what);
	else if (rc < 0)
		log_ratelimited(&in->store_limit, LOG_WARNING, "sts_store_reopen_failed reason=%s "
		    "error=\"%s\" (the cache keeps its results in memory)", what, err);
	return rc >= 0;
}

static void fetch_one(struct policymap_input *in, const char *domain, int slot)
{
	struct sts_cached row;
	struct sts_result r;
	char err[256], why[300];
	long long now = (long long)time(NULL);
	struct entry *e;
	int found, put;

	memset(&row, 0, sizeof(row));
	pthread_mutex_lock(&in->store_lock);
	found = fetch_store_ready(in) ? store_sts_get(in->fetch_store, domain, &row) : -1;
	pthread_mutex_unlock(&in->store_lock);
	if (found < 0) {
		bump(in, C_STORE_ERRORS);
		log_ratelimited(&in->store_limit, LOG_WARNING, "sts_store_read_failed domain=%s "
		    "(fetching as if never seen)", domain);
		sts_cached_free(&row);
		memset(&row, 0, sizeof(row));
	}
	if (found <= 0)
		snprintf(row.domain, sizeof(row.domain), "%s", domain);
	memset(&r, 0, sizeof(r));
	sts_refresh(domain, found > 0 ? &row : NULL, &in->opts, &r, now);
	bump(in, C_FETCHES);
	if (r.status != STS_OK && r.status != STS_NONE)
		bump(in, C_FETCH_FAILURES);
	now = (long long)time(NULL);
	sts_cache_update(&row, &r, now);
	pthread_mutex_lock(&in->store_lock);
	put = -1;
	snprintf(err, sizeof(err), "no store open at the path");
	if (fetch_store_ready(in))
		put = store_sts_put(in->fetch_store, &row, err, sizeof(err));
	pthread_mutex_unlock(&in->store_lock);
	if (put != 0) {
		bump(in, C_STORE_ERRORS);
		log_ratelimited(&in->store_limit, LOG_WARNING, "sts_store_write_failed domain=%s "
		    "error=\"%s\" (the cache keeps the result until the restart)", domain, err);
	}
	/* the error may quote what a remote server sent */
	ns_printable(r.error, strlen(r.error), why, sizeof(why));
	log_msg(r.status == STS_OK || r.status == STS_NONE ? LOG_INFO : LOG_NOTICE,
	    "sts_policy domain=%s result=%s%s status=%s mode=%s id=%s expires=%lld next_try=%lld "
	    "error=\"%s\"", domain, sts_status_name(r.status), r.unchanged ? " unchanged=yes" : "",
	    sts_status_name(row.status),
	    row.status == STS_OK ? sts_mode_name(row.policy.mode) : "-",
	    row.id[0] ? row.id : "-", row.expires, row.next_try, why);

	pthread_mutex_lock(&in->cache.lock);
	e = cache_get(in, domain);
	entry_set(e, &row);
	e->queued = false;
	in->cache.fetching[slot] = NULL;
	pthread_mutex_unlock(&in->cache.lock);
	if (in->change_fn != NULL)
		in->change_fn(in->change_ctx);
	sts_result_free(&r);
	sts_cached_free(&row);
}

static void *fetch_main(void *arg)
{
	struct fetcher *self = arg;
	struct policymap_input *in = self->in;
	struct cache *c = &in->cache;
	/* a fetch is bounded by sts_fetch_timeout, and each of its two store
	 * steps by the busy time-out, waiting behind the other fetchers' */
	const long long bound_ms = in->opts.timeout_ms +
	    2LL * FETCH_THREADS * in->busy_timeout_ms + HEARTBEAT_GRACE_MS;
	struct heartbeat *hb = heartbeat_register("sts_fetch");

	for (;;) {
		char *domain;

		pthread_mutex_lock(&c->lock);
		heartbeat_idle(hb);	/* an empty queue is no fault */
		while (!c->stopping && c->qlen == 0)
			pthread_cond_wait(&c->wake, &c->lock);
		if (c->stopping) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		heartbeat_busy(hb, bound_ms);
		domain = c->queue[c->qhead];
		c->queue[c->qhead] = NULL;
		c->qhead = (c->qhead + 1) % POLICYMAP_MAX_QUEUE;
		c->qlen--;
		c->fetching[self->slot] = domain;
		pthread_mutex_unlock(&c->lock);
		fetch_one(in, domain, self->slot);
		free(domain);
	}
	heartbeat_unregister(hb);
	return NULL;
}

/* ---- opening ---- */

static const struct ns_ops server_ops;

/* The bound socket, served by a netstring server; -1 with err. */
static int open_server(struct policymap_input *in, const struct tlsrpt_conf *conf, uid_t owner,
    gid_t group, char *err, size_t errlen)
{
	const struct listen_spec spec = {
		.option = "policy_map_socket",
		.holder = "another running process (a second tlsrpt-milter, or an MTA-STS resolver)",
		.type = SOCK_STREAM, .mode = (mode_t)conf->policy_map_socket_mode,
		.owner = owner, .group = group,
	};
	/* one rate limit for refused connections and failed accepts */
	struct ns_config cfg = {
		.name = "policymap", .max_conns = MAX_CONNECTIONS,
		.refused_hint = " (Postfix treats the lookup as failed and defers)",
		.tick_ms = PUBLISH_MS, .drain_on_stop = true,
		.idle_timeout_ms = conf->policy_map_idle_timeout_ms,
		.proto_limit = &in->proto_limit, .refuse_limit = &in->refuse_limit,
		.accept_limit = &in->refuse_limit,
	};
	int fd = listen_endpoint(in->endpoint, &spec, &in->path, err, errlen);

	if (fd < 0)
		return -1;
	cfg.refuse_at_stop = in->path != NULL;	/* a unix socket we made */
	in->srv = ns_server_new(fd, &cfg, &server_ops, in, err, errlen);
	return in->srv != NULL ? 0 : -1;
}

struct policymap_input *policymap_input_open(const struct tlsrpt_conf *conf, uid_t owner,
    gid_t group, char *err, size_t errlen)
{
	struct policymap_input *in = xcalloc(1, sizeof(*in));

	in->endpoint = xstrdup(conf->policy_map_socket);
	cache_init(&in->cache);
	pthread_mutex_init(&in->store_lock, NULL);
	pthread_mutex_init(&in->publish_lock, NULL);
	in->store_path = xstrdup(conf->store_path);
	in->busy_timeout_ms = (long)conf->store_busy_timeout_ms;
	in->resolver = xstrdup(conf->resolver);
	in->ca_file = xstrdup(conf->https_ca_file);
	in->opts.resolver = *in->resolver ? in->resolver : NULL;
	in->opts.ca_file = *in->ca_file ? in->ca_file : NULL;
	in->opts.allow_private = conf->https_allow_private != 0;
	in->opts.timeout_ms = (long)conf->sts_fetch_timeout_ms;
	in->opts.max_size = (size_t)conf->sts_max_policy_size;
	/* without a socket the cache serves only the decorator and policymap_each_enforced() */
	if (*in->endpoint != '\0' && open_server(in, conf, owner, group, err, errlen) != 0) {
		policymap_input_close(in);
		return NULL;
	}
	return in;
}

/* ---- counters into the batch ---- */

static void publish_counters(struct policymap_input *in)
{
	/* the file thread's tick and the stop both publish */
	pthread_mutex_lock(&in->publish_lock);
	input_batch_publish_counters(in->batch, counter_names, in->counters, in->published, C_COUNT);
	pthread_mutex_unlock(&in->publish_lock);
}

/* ---- requests ---- */

/*
 * The domain of a lookup key, normalised, or false: Postfix also asks
 * for "[host]:port" and "host:port" next hops, UNIX-domain paths, and
 * parent domains (".example.com") after a NOTFOUND; none of them is a
 * policy domain.  So are IP addresses and single labels.
 */
bool policymap_key_domain(const char *key, size_t len, char *out, size_t outlen)
{
	const char *last;

	if (len == 0 || len >= outlen || key[0] == '.' || memchr(key, '[', len) != NULL ||
	    memchr(key, ':', len) != NULL || memchr(key, '/', len) != NULL)
		return false;
	memcpy(out, key, len);
	out[len] = '\0';
	if (!domain_normalise(out) || strchr(out, '.') == NULL)
		return false;
	last = strrchr(out, '.') + 1;
	return last[strspn(last, "0123456789")] != '\0';
}

static void answer(struct policymap_input *in, const char *domain, struct strbuf *out)
{
	long long now = (long long)time(NULL);
	const char *ok;
	struct entry *e;

	pthread_mutex_lock(&in->cache.lock);
	e = cache_get(in, domain);
	bump(in, e->known ? C_HITS : C_MISSES);
	if (entry_due(e, now))
		queue_push(in, e);
	ok = entry_answer(e, now);
	if (ok != NULL) {
		smm_reply(out, ok);
		bump(in, C_ENFORCED);
	}
	pthread_mutex_unlock(&in->cache.lock);
	if (ok == NULL)
		smm_reply(out, "NOTFOUND ");
}

void policymap_request(struct policymap_input *in, unsigned long conn_id, const char *req,
    size_t len, struct strbuf *out)
{
	char domain[256], text[128];
	const char *sp = memchr(req, ' ', len);

	bump(in, C_REQUESTS);
	if (sp == NULL) {
		bump(in, C_BAD_REQUESTS);
		ns_printable(req, len, text, sizeof(text));
		log_ratelimited(&in->bad_limit, LOG_NOTICE, "policymap_bad_request id=%lu "
		    "request=\"%s\" (not \"<name> <key>\"; answered PERM)", conn_id, text);
		smm_reply(out, "PERM request is not \"<name> <key>\"");
		return;
	}
	sp++;
	if (!policymap_key_domain(sp, len - (size_t)(sp - req), domain, sizeof(domain))) {
		bump(in, C_NOT_DOMAIN);
		smm_reply(out, "NOTFOUND ");
		return;
	}
	answer(in, domain, out);
}

/* ---- the server's callbacks ---- */

static void handle_request(void *ctx, struct ns_conn *c, const char *req, size_t len)
{
	policymap_request(ctx, c->id, req, len, &c->out);
}

static void count_event(void *ctx, enum ns_event ev)
{
	static const enum counter of[] = {
		[NS_PROTOCOL_ERROR] = C_PROTOCOL_ERRORS, [NS_REFUSED] = C_REFUSED,
		[NS_IDLE_CLOSED] = C_CONN_IDLE, [NS_EVICTED] = C_CONN_EVICTED,
		[NS_PEER_EVICTED] = C_CONN_EVICTED,
	};

	bump(ctx, of[ev]);
}

/*
 * At least every PUBLISH_MS: the counters reach the batch, and the fetch
 * threads' store handle lets go of deleted or replaced files even when
 * nothing is fetched (unless a fetch holds it: then that fetch checks).
 */
static void tick(void *ctx)
{
	struct policymap_input *in = ctx;

	publish_counters(in);
	if (in->fetch_store != NULL && pthread_mutex_trylock(&in->store_lock) == 0) {
		fetch_store_ready(in);
		pthread_mutex_unlock(&in->store_lock);
	}
}

static const struct ns_ops server_ops = {
	.request = handle_request, .counted = count_event, .tick = tick,
};

/* ---- the API ---- */

void policymap_input_attach(struct policymap_input *in, struct writer *w, struct store *st)
{
	long long n;

	in->writer = w;
	in->batch = writer_new_batch(w, "policymap");
	n = store_sts_each(st, load_row, in);
	if (n < 0)
		log_msg(LOG_WARNING, "sts_cache_not_loaded store=%s (policies are fetched again "
		    "as domains are looked up)", in->store_path);
	else
		log_msg(LOG_INFO, "sts_cache_loaded domains=%lld cached=%zu", n, in->cache.count);
}

int policymap_input_start(struct policymap_input *in, char *err, size_t errlen)
{
	int rc;

	in->fetch_store = store_open(in->store_path, in->busy_timeout_ms, err, errlen);
	if (in->fetch_store == NULL)
		return -1;
	for (int i = 0; i < FETCH_THREADS; i++) {
		struct fetcher *f = &in->fetchers[i];

		f->in = in;
		f->slot = i;
		rc = pthread_create(&f->tid, NULL, fetch_main, f);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start the MTA-STS fetch threads: %s",
			    strerror(rc));
			return -1;
		}
		in->nfetchers++;
	}
	if (in->srv == NULL) {
		log_msg(LOG_INFO, "policymap_started socket=none cached=%zu fetch_timeout_ms=%ld "
		    "fetch_threads=%d", in->cache.count, in->opts.timeout_ms, in->nfetchers);
		return 0;
	}
	rc = ns_server_start(in->srv);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the policy map thread: %s", strerror(rc));
		return -1;
	}
	in->map_running = true;
	in->served = true;
	log_msg(LOG_INFO, "policymap_listening endpoint=%s cached=%zu fetch_timeout_ms=%ld "
	    "fetch_threads=%d", in->endpoint, in->cache.count, in->opts.timeout_ms, in->nfetchers);
	return 0;
}

/* Wait for the fetch threads, at most STOP_WAIT_S in all: fetches may be waiting on the network. */
static void join_fetch(struct policymap_input *in)
{
	struct timespec deadline;
	int abandoned = 0;

	pthread_mutex_lock(&in->cache.lock);
	in->cache.stopping = true;
	pthread_cond_broadcast(&in->cache.wake);
	pthread_mutex_unlock(&in->cache.lock);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += STOP_WAIT_S;
	for (int i = 0; i < in->nfetchers; i++) {
		if (pthread_timedjoin_np(in->fetchers[i].tid, NULL, &deadline) == 0)
			continue;
		pthread_detach(in->fetchers[i].tid);
		abandoned++;
	}
	if (abandoned > 0) {
		in->fetch_abandoned = true;
		log_msg(LOG_NOTICE, "sts_fetch_abandoned fetches=%d (still under way %d s after the "
		    "stop; their results are lost and fetched again after the restart)", abandoned,
		    STOP_WAIT_S);
	}
	in->nfetchers = 0;
}

void policymap_input_stop(struct policymap_input *in)
{
	if (in == NULL)
		return;
	if (in->map_running) {
		ns_server_stop(in->srv);
		in->map_running = false;
	}
	if (in->nfetchers > 0)
		join_fetch(in);
	/* the writer's last commit must not find old store files held here */
	if (in->fetch_store != NULL && !in->fetch_abandoned) {
		pthread_mutex_lock(&in->store_lock);
		fetch_store_ready(in);
		pthread_mutex_unlock(&in->store_lock);
	}
	if (in->batch != NULL)
		publish_counters(in);
	log_msg(LOG_INFO, "policymap_stopped requests=%llu hits=%llu misses=%llu enforced=%llu "
	    "not_domain=%llu fetches=%llu fetch_failures=%llu queue_dropped=%llu decorated=%llu "
	    "mx_mismatch=%llu cached=%zu",
	    (unsigned long long)in->counters[C_REQUESTS], (unsigned long long)in->counters[C_HITS],
	    (unsigned long long)in->counters[C_MISSES], (unsigned long long)in->counters[C_ENFORCED],
	    (unsigned long long)in->counters[C_NOT_DOMAIN],
	    (unsigned long long)in->counters[C_FETCHES],
	    (unsigned long long)in->counters[C_FETCH_FAILURES],
	    (unsigned long long)in->counters[C_QUEUE_DROPPED],
	    (unsigned long long)in->counters[C_DECORATED],
	    (unsigned long long)in->counters[C_MX_MISMATCH], in->cache.count);
}

void policymap_input_close(struct policymap_input *in)
{
	if (in == NULL)
		return;
	ns_server_free(in->srv);
	listen_release(in->path, in->served, "policymap");
	free(in->path);
	free(in->endpoint);
	if (in->fetch_abandoned)
		return;		/* the detached fetch still uses the rest; the process ends now */
	store_close(in->fetch_store);
	pthread_mutex_destroy(&in->store_lock);
	pthread_mutex_destroy(&in->publish_lock);
	cache_free(&in->cache);
	free(in->store_path);
	free(in->resolver);
	free(in->ca_file);
	free(in);
}

/* ---- for the policy map file (sts_export.c) ---- */

void policymap_set_change_hook(struct policymap_input *in, void (*fn)(void *ctx), void *ctx)
{
	in->change_fn = fn;
	in->change_ctx = ctx;
}

size_t policymap_each_enforced(struct policymap_input *in, long long now,
    void (*fn)(void *ctx, const char *domain, const char *answer, long long expires), void *ctx)
{
	size_t n = 0;

	pthread_mutex_lock(&in->cache.lock);
	for (struct entry *e = in->cache.oldest; e != NULL; e = e->newer) {
		const char *ok = entry_answer(e, now);

		if (ok == NULL)
			continue;
		fn(ctx, e->domain, ok, e->expires);
		n++;
	}
	pthread_mutex_unlock(&in->cache.lock);
	return n;
}

bool policymap_discover(struct policymap_input *in, const char *domain,
    bool (*allow)(void *ctx), void *ctx)
{
	char d[256];
	bool queued = false;
	struct entry *e;

	if (!policymap_key_domain(domain, strlen(domain), d, sizeof(d)))
		return false;
	pthread_mutex_lock(&in->cache.lock);
	e = cache_get(in, d);
	if (!e->queued && entry_due(e, (long long)time(NULL)) && (allow == NULL || allow(ctx))) {
		queue_push(in, e);
		queued = e->queued;
	}
	pthread_mutex_unlock(&in->cache.lock);
	return queued;
}

void policymap_input_tick(struct policymap_input *in)
{
	if (in->batch != NULL && in->srv == NULL)
		publish_counters(in);
}

/* ---- for tests (tests/test_policymap.c): not used by the daemon ---- */

unsigned long long policymap_counter(struct policymap_input *in, const char *name)
{
	return named_counter_value(counter_names, in->counters, C_COUNT, name);
}

size_t policymap_cache_count(struct policymap_input *in)
{
	size_t n;

	pthread_mutex_lock(&in->cache.lock);
	n = in->cache.count;
	pthread_mutex_unlock(&in->cache.lock);
	return n;
}

const char *policymap_queue_at(struct policymap_input *in, size_t i)
{
	const char *d = NULL;

	pthread_mutex_lock(&in->cache.lock);
	if (i < in->cache.qlen)
		d = in->cache.queue[(in->cache.qhead + i) % POLICYMAP_MAX_QUEUE];
	pthread_mutex_unlock(&in->cache.lock);
	return d;
}
