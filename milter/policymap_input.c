/*
 * NAME
 *	policymap_input - the MTA-STS policy map of tlsrpt-milter
 * DESCRIPTION
 *	See policymap_input.h.  Three parts:
 *
 *	1. The cache: a hash table of entries keyed by domain, with a
 *	   least-recently-used list for eviction, and the queue of domains
 *	   for the fetch thread (a ring of domain names; an entry's "queued"
 *	   flag keeps a domain on it once).  One mutex guards all of it;
 *	   every operation under it is a few hash and string operations,
 *	   so the map thread, the fetch thread and the decorating input
 *	   threads never wait long for each other.
 *
 *	2. The map thread: one poll() loop over every connection, all
 *	   non-blocking (the netstring decoder of sendmail_map.h), each
 *	   request answered as soon as it is complete.
 *
 *	3. The fetch thread: takes a domain off the queue, reads its row
 *	   from the store (its own handle), refreshes it (sts_refresh;
 *	   blocking, bounded by sts_fetch_timeout), applies the cache rules
 *	   (sts_cache_update), writes the row and installs it in the cache.
 *
 *	Counters are atomics bumped by whichever thread sees the event;
 *	the map thread moves their increases into the batch at least once
 *	a second, and at the stop.
 */
#define _GNU_SOURCE
#include "config.h"

#include "policymap_input.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "aggregate.h"
#include "log.h"
#include "mta_sts.h"
#include "sendmail_map.h"
#include "util.h"

#define MAX_CONNECTIONS 1024
#define READ_SIZE 4096
#define OUT_LIMIT (64 * 1024)	/* unread answers: stop reading from that peer */
#define PUBLISH_MS 1000		/* counters reach the batch at least this often */
#define ACCEPT_PAUSE_MS 100	/* out of descriptors: try accept() again after this */
#define STOP_WAIT_S 3		/* how long the stop waits for a fetch under way */
#define NBUCKETS (1u << 17)	/* hash buckets: above POLICYMAP_MAX_DOMAINS */
#define MX_MISMATCH_REASON "mx not in MTA-STS policy"

/* ---- counters ---- */

enum counter {
	C_REQUESTS, C_HITS, C_MISSES, C_ENFORCED, C_NOT_DOMAIN, C_BAD_REQUESTS,
	C_PROTOCOL_ERRORS, C_REFUSED, C_FETCHES, C_FETCH_FAILURES, C_QUEUE_DROPPED,
	C_STORE_ERRORS, C_EVICTED, C_DECORATED, C_MX_MISMATCH, C_COUNT,
};

static const char *const counter_names[C_COUNT] = {
	"policymap.requests", "policymap.hits", "policymap.misses", "policymap.enforced",
	"policymap.not_domain", "policymap.bad_requests", "policymap.protocol_errors",
	"policymap.connections_refused", "sts.fetches", "sts.fetch_failures",
	"sts.queue_dropped", "sts.store_errors", "sts.evicted", "sts.decorated",
	"sts.mx_mismatch",
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
	pthread_cond_t wake;	/* the fetch thread: queue not empty, or stopping */
	struct entry **buckets;
	size_t count;
	struct entry *oldest, *newest;
	char **queue;		/* ring of POLICYMAP_MAX_QUEUE domain names */
	size_t qhead, qlen;
	bool stopping;
};

struct conn {
	int fd;
	unsigned long id;
	struct smm_decoder dec;
	struct strbuf out;	/* answers not yet written */
	size_t out_off;
	bool closing;		/* close once out is written */
	unsigned long requests;
};

struct policymap_input {
	int fd;			/* listening socket */
	int stop_fd;		/* eventfd: readable once stopping */
	char *path;		/* unix socket path, NULL for inet */
	char *endpoint;

	/* what the fetch thread needs, copied: a reload frees the configuration */
	char *store_path;
	long busy_timeout_ms;
	char *resolver, *ca_file;
	struct sts_fetch_opts opts;

	struct writer *writer;
	struct input_batch *batch;
	struct store *fetch_store;	/* the fetch thread's own handle */
	struct cache cache;
	uint64_t counters[C_COUNT];	/* atomics */
	uint64_t published[C_COUNT];	/* map thread only */

	pthread_t map_thread, fetch_thread;
	bool map_running, fetch_running;
	bool fetch_abandoned;	/* a fetch outlived the stop: leave what it uses */

	/* the map thread's own */
	struct conn *conns[MAX_CONNECTIONS];
	size_t nconns;
	struct pollfd pfds[MAX_CONNECTIONS + 2];
	unsigned long next_id;
	long long accept_paused_until;	/* monotonic ms; 0 = accepting */
	struct log_limit proto_limit, bad_limit, refuse_limit, store_limit, queue_limit;
};

static void bump(struct policymap_input *in, enum counter c)
{
	__atomic_fetch_add(&in->counters[c], 1, __ATOMIC_RELAXED);
}

static long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* Under lock: put e's domain on the fetch queue unless it is there or the queue is full. */
static void queue_push(struct policymap_input *in, struct entry *e)
{
	struct cache *c = &in->cache;

	if (e->queued || c->stopping)
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
	}
	bump(in, C_DECORATED);
	log_msg(LOG_DEBUG, "sts_session domain=%s policy=%s mx=%s result=%s", s->domain,
	    v == V_POLICY ? "ok" : sts_status_name(status), used_mx ? used_mx : "-",
	    out->policies[0].failed ? result_type_name(out->policies[0].failures[0].result_type) :
	    "success");
	free(pstrings);
	free(mxjson);
	free(error);
	return true;
}

/* ---- the fetch thread ---- */

static void printable(const char *s, size_t len, char *out, size_t outlen);

static void fetch_one(struct policymap_input *in, const char *domain)
{
	struct sts_cached row;
	struct sts_result r;
	char err[256], why[300];
	long long now = (long long)time(NULL);
	struct entry *e;
	int found;

	memset(&row, 0, sizeof(row));
	found = store_sts_get(in->fetch_store, domain, &row);
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
	if (store_sts_put(in->fetch_store, &row, err, sizeof(err)) != 0) {
		bump(in, C_STORE_ERRORS);
		log_ratelimited(&in->store_limit, LOG_WARNING, "sts_store_write_failed domain=%s "
		    "error=\"%s\" (the cache keeps the result until the restart)", domain, err);
	}
	/* the error may quote what a remote server sent */
	printable(r.error, strlen(r.error), why, sizeof(why));
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
	pthread_mutex_unlock(&in->cache.lock);
	sts_result_free(&r);
	sts_cached_free(&row);
}

static void *fetch_main(void *arg)
{
	struct policymap_input *in = arg;
	struct cache *c = &in->cache;

	for (;;) {
		char *domain;

		pthread_mutex_lock(&c->lock);
		while (!c->stopping && c->qlen == 0)
			pthread_cond_wait(&c->wake, &c->lock);
		if (c->stopping) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		domain = c->queue[c->qhead];
		c->queue[c->qhead] = NULL;
		c->qhead = (c->qhead + 1) % POLICYMAP_MAX_QUEUE;
		c->qlen--;
		pthread_mutex_unlock(&c->lock);
		fetch_one(in, domain);
		free(domain);
	}
	return NULL;
}

/* ---- opening ---- */

static int unlink_stale_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat sb;
	int probe, rc;

	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; remove it or choose "
		    "another policy_map_socket", path);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
	close(probe);
	if (rc == 0) {
		snprintf(err, errlen, "%s is in use by another running process (a second "
		    "tlsrpt-milter, or an MTA-STS resolver); stop it first", path);
		return -1;
	}
	if (unlink(path) != 0) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int bind_unix(struct policymap_input *in, const char *path, mode_t mode, uid_t owner,
    gid_t group, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "policy_map_socket %s: path longer than %zu bytes", path,
		    sizeof(sa.sun_path) - 1);
		return -1;
	}
	if (unlink_stale_socket(path, err, errlen) != 0)
		return -1;
	in->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (in->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	old = umask((mode_t)(~mode & 0777));
	rc = bind(in->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0) {
		snprintf(err, errlen, "cannot bind policy_map_socket %s: %s (does the directory "
		    "exist?)", path, strerror(errno));
		return -1;
	}
	in->path = xstrdup(path);
	if (lchown(path, owner, group) != 0 && geteuid() == 0) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int bind_inet(struct policymap_input *in, int family, const char *host, int port,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	int rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (*host == '\0')
		host = family == AF_INET6 ? "::1" : "127.0.0.1";
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "policy_map_socket host %s: %s", host, gai_strerror(rc));
		return -1;
	}
	in->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (in->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	setsockopt(in->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = bind(in->fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot bind policy_map_socket %s: %s", in->endpoint,
		    strerror(errno));
		return -1;
	}
	return 0;
}

struct policymap_input *policymap_input_open(const struct tlsrpt_conf *conf, uid_t owner,
    gid_t group, char *err, size_t errlen)
{
	struct policymap_input *in;
	char host[256];
	int family, port;

	if (!conf_parse_endpoint(conf->policy_map_socket, &family, host, sizeof(host), &port)) {
		snprintf(err, errlen, "policy_map_socket %s: not unix:/path, local:/path or "
		    "inet:PORT@HOST", conf->policy_map_socket);
		return NULL;
	}
	in = xcalloc(1, sizeof(*in));
	in->fd = in->stop_fd = -1;
	in->endpoint = xstrdup(conf->policy_map_socket);
	cache_init(&in->cache);
	in->store_path = xstrdup(conf->store_path);
	in->busy_timeout_ms = (long)conf->store_busy_timeout_ms;
	in->resolver = xstrdup(conf->resolver);
	in->ca_file = xstrdup(conf->https_ca_file);
	in->opts.resolver = *in->resolver ? in->resolver : NULL;
	in->opts.ca_file = *in->ca_file ? in->ca_file : NULL;
	in->opts.allow_private = conf->https_allow_private != 0;
	in->opts.timeout_ms = (long)conf->sts_fetch_timeout_ms;
	in->opts.max_size = (size_t)conf->sts_max_policy_size;
	if ((family == AF_UNIX ?
	    bind_unix(in, host, (mode_t)conf->policy_map_socket_mode, owner, group, err, errlen) :
	    bind_inet(in, family, host, port, err, errlen)) != 0)
		goto fail;
	if (listen(in->fd, 128) != 0) {
		snprintf(err, errlen, "listen %s: %s", in->endpoint, strerror(errno));
		goto fail;
	}
	in->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->stop_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	return in;
fail:
	policymap_input_close(in);
	return NULL;
}

/* ---- counters into the batch ---- */

static void publish_counters(struct policymap_input *in)
{
	uint64_t now_v[C_COUNT];
	long long now = (long long)time(NULL);
	bool any = false;

	for (int i = 0; i < C_COUNT; i++) {
		now_v[i] = __atomic_load_n(&in->counters[i], __ATOMIC_RELAXED);
		any |= now_v[i] != in->published[i];
	}
	if (!any)
		return;
	pthread_mutex_lock(&in->batch->lock);
	for (int i = 0; i < C_COUNT; i++)
		if (now_v[i] > in->published[i])
			aggregate_count(&in->batch->agg, now, counter_names[i],
			    now_v[i] - in->published[i]);
	pthread_mutex_unlock(&in->batch->lock);
	memcpy(in->published, now_v, sizeof(now_v));
}

/* ---- requests ---- */

/*
 * The domain of a lookup key, normalised, or false: Postfix also asks
 * for "[host]:port" and "host:port" next hops, UNIX-domain paths, and
 * parent domains (".example.com") after a NOTFOUND; none of them is a
 * policy domain.  So are IP addresses and single labels.
 */
static bool key_domain(const char *key, size_t len, char *out, size_t outlen)
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

/* Printable, short: for log lines about what a peer sent. */
static void printable(const char *s, size_t len, char *out, size_t outlen)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 4 < outlen; i++)
		out[j++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
	out[j] = '\0';
	if (j < len)
		strcat(out, "...");
}

static void handle_request(struct policymap_input *in, struct conn *c)
{
	char domain[256], text[128];
	size_t len;
	const char *req = smm_decoder_request(&c->dec, &len);
	const char *sp = memchr(req, ' ', len);

	c->requests++;
	bump(in, C_REQUESTS);
	if (sp == NULL) {
		bump(in, C_BAD_REQUESTS);
		printable(req, len, text, sizeof(text));
		log_ratelimited(&in->bad_limit, LOG_NOTICE, "policymap_bad_request id=%lu "
		    "request=\"%s\" (not \"<name> <key>\"; answered PERM)", c->id, text);
		smm_reply(&c->out, "PERM request is not \"<name> <key>\"");
		return;
	}
	sp++;
	if (!key_domain(sp, len - (size_t)(sp - req), domain, sizeof(domain))) {
		bump(in, C_NOT_DOMAIN);
		smm_reply(&c->out, "NOTFOUND ");
		return;
	}
	answer(in, domain, &c->out);
}

/* ---- connections ---- */

static void conn_close(struct policymap_input *in, size_t i, const char *why)
{
	struct conn *c = in->conns[i];

	log_msg(LOG_DEBUG, "policymap_connection_closed id=%lu requests=%lu reason=%s", c->id,
	    c->requests, why);
	smm_decoder_free(&c->dec);
	strbuf_free(&c->out);
	close(c->fd);
	free(c);
	in->conns[i] = in->conns[--in->nconns];
	in->conns[in->nconns] = NULL;
}

static void accept_all(struct policymap_input *in)
{
	for (;;) {
		int fd = accept4(in->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and the like: the socket stays readable, so pause rather than spin */
			in->accept_paused_until = monotonic_ms() + ACCEPT_PAUSE_MS;
			log_ratelimited(&in->refuse_limit, LOG_ERR, "policymap_accept_failed "
			    "error=\"%s\" (pausing %d ms)", strerror(errno), ACCEPT_PAUSE_MS);
			return;
		}
		if (in->nconns == MAX_CONNECTIONS) {
			bump(in, C_REFUSED);
			log_ratelimited(&in->refuse_limit, LOG_WARNING, "policymap_connection_refused "
			    "reason=too_many_connections limit=%d (Postfix treats the lookup as "
			    "failed and defers)", MAX_CONNECTIONS);
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->id = ++in->next_id;
		smm_decoder_init(&c->dec);
		strbuf_init(&c->out);
		in->conns[in->nconns++] = c;
		log_msg(LOG_DEBUG, "policymap_connection_opened id=%lu", c->id);
	}
}

static void feed(struct policymap_input *in, struct conn *c, const char *buf, size_t len)
{
	while (len > 0 && !c->closing) {
		size_t used;
		enum smm_status st = smm_decode(&c->dec, buf, len, &used);

		if (st == SMM_ERROR) {
			char text[160];

			bump(in, C_PROTOCOL_ERRORS);
			log_ratelimited(&in->proto_limit, LOG_WARNING, "policymap_protocol_error id=%lu "
			    "reason=\"%s\" (answered PERM, connection closed)", c->id,
			    smm_decoder_error(&c->dec));
			snprintf(text, sizeof(text), "PERM %s", smm_decoder_error(&c->dec));
			smm_reply(&c->out, text);
			c->closing = true;
			return;
		}
		buf += used;
		len -= used;
		if (st == SMM_REQUEST)
			handle_request(in, c);
	}
}

/* Write pending answers; false when the connection is finished. */
static bool flush_out(struct conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
		    MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		c->out_off += (size_t)n;
	}
	strbuf_reset(&c->out);
	c->out_off = 0;
	return !c->closing;
}

static bool serve(struct policymap_input *in, struct conn *c, short revents, const char **why)
{
	char buf[READ_SIZE];

	if (revents & POLLIN) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n == 0) {
			*why = "eof";
			return false;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			*why = "read_error";
			return false;
		}
		if (n > 0)
			feed(in, c, buf, (size_t)n);
	} else if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
		*why = "hangup";
		return false;
	}
	if (!flush_out(c)) {
		*why = c->closing ? "protocol_error" : "write_error";
		return false;
	}
	return true;
}

static size_t build_pollset(struct policymap_input *in, int *timeout_ms)
{
	*timeout_ms = PUBLISH_MS;
	if (in->accept_paused_until != 0 && monotonic_ms() >= in->accept_paused_until)
		in->accept_paused_until = 0;
	else if (in->accept_paused_until != 0)
		*timeout_ms = ACCEPT_PAUSE_MS;
	in->pfds[0] = (struct pollfd){in->stop_fd, POLLIN, 0};
	in->pfds[1] = (struct pollfd){in->fd, in->accept_paused_until ? 0 : POLLIN, 0};
	for (size_t i = 0; i < in->nconns; i++) {
		struct conn *c = in->conns[i];
		short ev = 0;

		if (c->out.len - c->out_off < OUT_LIMIT && !c->closing)
			ev |= POLLIN;
		if (c->out_off < c->out.len)
			ev |= POLLOUT;
		in->pfds[i + 2] = (struct pollfd){c->fd, ev, 0};
	}
	return in->nconns + 2;
}

static void *map_main(void *arg)
{
	struct policymap_input *in = arg;
	long long last_publish = monotonic_ms();

	for (;;) {
		int timeout_ms;
		size_t n = build_pollset(in, &timeout_ms), nconns = in->nconns;
		int rc = poll(in->pfds, n, timeout_ms);

		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "policymap_poll_failed error=\"%s\"", strerror(errno));
			break;
		}
		if (in->pfds[0].revents & POLLIN)
			break;
		/* from the last: conn_close() moves the last connection into slot i */
		for (size_t i = nconns; i-- > 0;) {
			const char *why = NULL;

			if (in->pfds[i + 2].revents != 0 &&
			    !serve(in, in->conns[i], in->pfds[i + 2].revents, &why))
				conn_close(in, i, why);
		}
		if (in->pfds[1].revents & POLLIN)
			accept_all(in);
		if (monotonic_ms() - last_publish >= PUBLISH_MS) {
			publish_counters(in);
			last_publish = monotonic_ms();
		}
	}
	while (in->nconns > 0)
		conn_close(in, in->nconns - 1, "stopping");
	return NULL;
}

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
	rc = pthread_create(&in->fetch_thread, NULL, fetch_main, in);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the MTA-STS fetch thread: %s", strerror(rc));
		return -1;
	}
	in->fetch_running = true;
	rc = pthread_create(&in->map_thread, NULL, map_main, in);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the policy map thread: %s", strerror(rc));
		return -1;
	}
	in->map_running = true;
	log_msg(LOG_INFO, "policymap_listening endpoint=%s cached=%zu fetch_timeout_ms=%ld",
	    in->endpoint, in->cache.count, in->opts.timeout_ms);
	return 0;
}

/* Wait for the fetch thread, at most STOP_WAIT_S: a fetch may be waiting on the network. */
static void join_fetch(struct policymap_input *in)
{
	struct timespec deadline;

	pthread_mutex_lock(&in->cache.lock);
	in->cache.stopping = true;
	pthread_cond_signal(&in->cache.wake);
	pthread_mutex_unlock(&in->cache.lock);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += STOP_WAIT_S;
	if (pthread_timedjoin_np(in->fetch_thread, NULL, &deadline) != 0) {
		in->fetch_abandoned = true;
		log_msg(LOG_NOTICE, "sts_fetch_abandoned (a policy fetch was still under way "
		    "%d s after the stop; its result is lost and fetched again after the restart)",
		    STOP_WAIT_S);
		pthread_detach(in->fetch_thread);
	}
	in->fetch_running = false;
}

void policymap_input_stop(struct policymap_input *in)
{
	uint64_t one = 1;

	if (in == NULL)
		return;
	if (in->map_running) {
		if (write(in->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_msg(LOG_ERR, "policymap_stop_signal_failed error=\"%s\"", strerror(errno));
		pthread_join(in->map_thread, NULL);
		in->map_running = false;
	}
	if (in->fetch_running)
		join_fetch(in);
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
	if (in->fd >= 0)
		close(in->fd);
	if (in->path != NULL && unlink(in->path) != 0 && errno != ENOENT)
		log_msg(LOG_NOTICE, "policymap_socket_not_removed path=%s error=\"%s\"", in->path,
		    strerror(errno));
	if (in->stop_fd >= 0)
		close(in->stop_fd);
	free(in->path);
	free(in->endpoint);
	if (in->fetch_abandoned)
		return;		/* the detached fetch still uses the rest; the process ends now */
	store_close(in->fetch_store);
	cache_free(&in->cache);
	free(in->store_path);
	free(in->resolver);
	free(in->ca_file);
	free(in);
}
