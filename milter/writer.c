/*
 * NAME
 *	writer - the one thread that commits session results to the store
 * DESCRIPTION
 *	See writer.h.  Counter deltas since the last move become per-day
 *	input_counter rows in the same transaction as the data they
 *	describe, so "received" and "stored" in the store always agree.
 */
#include "writer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heartbeat.h"
#include "log.h"
#include "util.h"

/* Past this the WAL grew under a reader: see bound_wal(). */
#define WAL_HELD_BYTES (2LL * STORE_WAL_LIMIT_BYTES)

struct writer {
	struct store *store;
	pthread_t thread;
	pthread_mutex_t lock;	/* guards settings, stopping, totals */
	pthread_cond_t wake;
	struct writer_settings set;
	bool stopping;
	bool poked;
	bool busy_timeout_changed;
	bool started;
	struct input_batch *batches;
	struct aggregate pending;
	uint64_t pending_sessions;
	uint64_t stored_sessions;
	uint64_t commits;
	uint64_t busy_retries;
	uint64_t commit_errors;
	size_t pending_keys;	/* mirror of aggregate_keys(&pending), under lock */
	uint64_t store_reopens;
	bool unsure;		/* pending was committed, maybe to files the path no longer names */
	long long wal_peak;	/* bytes, while the WAL is past its limit; 0 otherwise */
	struct log_limit busy_limit, reopen_limit;
	struct heartbeat *hb;
};

struct writer *writer_create(struct store *st, const struct writer_settings *ws)
{
	struct writer *w = xcalloc(1, sizeof(*w));
	pthread_condattr_t ca;

	w->store = st;
	w->set = *ws;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	aggregate_init(&w->pending);
	return w;
}

void writer_set(struct writer *w, const struct writer_settings *ws)
{
	pthread_mutex_lock(&w->lock);
	w->set.flush_interval_ms = ws->flush_interval_ms;
	w->set.busy_timeout_ms = ws->busy_timeout_ms;
	/* read without the lock by the parser threads */
	__atomic_store_n(&w->set.flush_records, ws->flush_records, __ATOMIC_RELAXED);
	__atomic_store_n(&w->set.pending_limit, ws->pending_limit, __ATOMIC_RELAXED);
	w->busy_timeout_changed = true;	/* applied by the writer: the connection is its own */
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

struct input_batch *writer_new_batch(struct writer *w, const char *input_name)
{
	struct input_batch *b = xcalloc(1, sizeof(*b));

	pthread_mutex_init(&b->lock, NULL);
	aggregate_init(&b->agg);
	b->input_name = input_name;
	b->next = w->batches;
	w->batches = b;
	return b;
}

void writer_poke_if_due(struct writer *w, struct input_batch *b)
{
	/* b->lock is held by the caller; settings are read racily on purpose */
	if ((long long)b->agg.sessions < __atomic_load_n(&w->set.flush_records, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&w->lock);
	w->poked = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

bool writer_batch_full(struct writer *w, struct input_batch *b)
{
	long long limit = __atomic_load_n(&w->set.pending_limit, __ATOMIC_RELAXED);
	size_t pending = __atomic_load_n(&w->pending_keys, __ATOMIC_RELAXED);

	return (long long)(pending + aggregate_keys(&b->agg)) >= limit;
}

static void count_delta(struct aggregate *a, long long now, const char *input,
    const char *what, uint64_t delta)
{
	char name[96];

	if (delta == 0)
		return;
	snprintf(name, sizeof(name), "%s.%s", input, what);
	aggregate_count(a, now, name, delta);
}

/* Move every input batch into pending; returns the session results moved. */
static uint64_t collect(struct writer *w)
{
	long long now = (long long)time(NULL);
	uint64_t moved = 0;

	for (struct input_batch *b = w->batches; b != NULL; b = b->next) {
		struct input_counters c;

		pthread_mutex_lock(&b->lock);
		moved += b->agg.sessions;
		aggregate_merge(&w->pending, &b->agg);
		c = b->now;
		pthread_mutex_unlock(&b->lock);

		count_delta(&w->pending, now, b->input_name, "received", c.received - b->flushed.received);
		count_delta(&w->pending, now, b->input_name, "accepted", c.accepted - b->flushed.accepted);
		count_delta(&w->pending, now, b->input_name, "dropped_full",
		    c.dropped_full - b->flushed.dropped_full);
		for (int i = 1; i < DG_STATUS_COUNT; i++) {
			char what[64];

			snprintf(what, sizeof(what), "rejected.%s", dg_status_name((enum dg_status)i));
			count_delta(&w->pending, now, b->input_name, what,
			    c.rejected[i] - b->flushed.rejected[i]);
		}
		b->flushed = c;
	}
	return moved;
}

/*
 * Before and after every commit: the store at the path, never a deleted
 * or replaced file.  Returns store_follow_path()'s answer (-1: no store
 * to write to now; logged).
 */
static int follow_store(struct writer *w, uint64_t sessions, const char *when)
{
	char err[512];
	const char *what;
	int rc = store_follow_path(w->store, &what, err, sizeof(err));

	if (rc > 0) {
		pthread_mutex_lock(&w->lock);
		w->store_reopens++;
		pthread_mutex_unlock(&w->lock);
		log_msg(LOG_ERR, "store_reopened reason=%s when=%s pending_sessions=%llu%s "
		    "(the store's files were deleted or replaced while the daemon ran; it now "
		    "writes to the store at the path%s)", what, when, (unsigned long long)sessions,
		    rc == 2 ? " saved=yes" : "", rc == 2 ? ", into which its earlier commits were "
		    "copied first" : ": what was committed to the old files is gone with them, "
		    "the results in memory go to the new store");
	} else if (rc < 0) {
		log_ratelimited(&w->reopen_limit, LOG_ERR, "store_reopen_failed reason=%s "
		    "pending_sessions=%llu error=\"%s\" (kept in memory, trying again at every "
		    "flush)", what, (unsigned long long)sessions, err);
	}
	return rc;
}

/*
 * Commit the pending results to the store at the path.  A commit that
 * the path changed under may have gone into the old files (w->unsure):
 * until the handle is at the path again no more results are moved into
 * pending; then, when the old files' commits were copied home
 * (store_follow_path() 2), pending is already stored, else it is made
 * again into the store at the path.
 */
static enum store_rc commit_to_path(struct writer *w, uint64_t sessions, char *err, size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int where = follow_store(w, sessions, w->unsure ? "after_commit" : "before_commit");
		enum store_rc rc;

		if (where < 0) {
			snprintf(err, errlen, "%s: no store open at the path", store_path(w->store));
			return STORE_ERROR;
		}
		if (w->unsure) {
			w->unsure = false;
			if (where == 2)
				return STORE_OK;	/* the commit was copied to the store at the path */
		}
		rc = store_commit(w->store, &w->pending, err, errlen);
		if (rc != STORE_OK || aggregate_empty(&w->pending) ||
		    store_path_changed(w->store) == NULL)
			return rc;
		w->unsure = true;
	}
	snprintf(err, errlen, "%s: its files keep changing under the commits", store_path(w->store));
	return STORE_ERROR;
}

/*
 * After a commit.  SQLite's own checkpoints (wal_autocheckpoint) and
 * journal_size_limit keep the WAL near STORE_WAL_LIMIT_BYTES; past
 * twice that it grew because a reader holds an old snapshot, under
 * which SQLite cannot start the WAL over.  Then try, at every flush, a
 * checkpoint that cuts it to nothing, never waiting for the reader: it
 * succeeds at the first flush after the reader lets go.  Logged once
 * when a reader is found holding it, once when it is cut back.
 */
static void bound_wal(struct writer *w)
{
	long long bytes = store_wal_bytes(w->store);
	char err[512];
	int rc;

	if (bytes <= WAL_HELD_BYTES)
		return;
	rc = store_checkpoint(w->store, err, sizeof(err));
	if (rc == 0) {
		if (w->wal_peak > 0)
			log_msg(LOG_INFO, "store_wal_truncated peak_bytes=%lld bytes=%lld (the "
			    "readers let go)", w->wal_peak, store_wal_bytes(w->store));
		w->wal_peak = 0;
		return;
	}
	if (rc < 0) {
		log_ratelimited(&w->busy_limit, LOG_WARNING, "store_checkpoint_failed error=\"%s\"",
		    err);
		return;
	}
	if (w->wal_peak == 0)
		log_msg(LOG_NOTICE, "store_wal_held bytes=%lld (a reader holds an old snapshot of "
		    "the store, e.g. a long transaction of another program; the WAL grows until it "
		    "lets go, then is cut back)", bytes);
	if (bytes > w->wal_peak)
		w->wal_peak = bytes;
}

static void flush_once(struct writer *w)
{
	char err[512];
	enum store_rc rc;
	uint64_t sessions;

	if (!w->unsure)
		w->pending_sessions += collect(w);
	sessions = w->pending_sessions;
	rc = commit_to_path(w, sessions, err, sizeof(err));
	pthread_mutex_lock(&w->lock);
	if (rc == STORE_OK) {
		if (!aggregate_empty(&w->pending))
			w->commits++;
		w->stored_sessions += sessions;
		w->pending_sessions = 0;
		aggregate_clear(&w->pending);
	} else if (rc == STORE_BUSY) {
		w->busy_retries++;
	} else {
		w->commit_errors++;
	}
	__atomic_store_n(&w->pending_keys, aggregate_keys(&w->pending), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&w->lock);
	if (rc == STORE_OK)
		bound_wal(w);
	if (rc != STORE_OK)
		log_ratelimited(&w->busy_limit, LOG_WARNING,
		    "store_commit_deferred reason=%s pending_sessions=%llu pending_keys=%zu "
		    "error=\"%s\" (kept in memory, retrying)",
		    rc == STORE_BUSY ? "busy" : "error", (unsigned long long)sessions,
		    aggregate_keys(&w->pending), err);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		struct timespec ts;
		long long ms = w->set.flush_interval_ms;

		/* the wait ends within the flush interval, a commit within the
		 * store's lock wait: beyond either plus a margin it is stuck */
		heartbeat_busy(w->hb, ms + HEARTBEAT_GRACE_MS);
		if (!w->poked) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += ms / 1000;
			ts.tv_nsec += (ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&w->wake, &w->lock, &ts);
		}
		if (w->stopping)
			break;
		w->poked = false;
		if (w->busy_timeout_changed) {
			store_set_busy_timeout(w->store, w->set.busy_timeout_ms);
			w->busy_timeout_changed = false;
		}
		heartbeat_busy(w->hb, w->set.busy_timeout_ms + HEARTBEAT_GRACE_MS);
		pthread_mutex_unlock(&w->lock);
		flush_once(w);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	heartbeat_idle(w->hb);
	return NULL;
}

int writer_start(struct writer *w)
{
	int rc;

	w->hb = heartbeat_register("writer");
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc != 0) {
		log_msg(LOG_ERR, "writer_start_failed error=\"%s\"", strerror(rc));
		return -1;
	}
	w->started = true;
	return 0;
}

void input_batch_publish_counters(struct input_batch *b, const char *const *names,
    const uint64_t *count, uint64_t *published, size_t n)
{
	long long now = (long long)time(NULL);
	bool locked = false;

	for (size_t i = 0; i < n; i++) {
		uint64_t v = __atomic_load_n(&count[i], __ATOMIC_RELAXED);

		if (v == published[i])
			continue;
		if (!locked) {
			pthread_mutex_lock(&b->lock);
			locked = true;
		}
		if (v > published[i])
			aggregate_count(&b->agg, now, names[i], v - published[i]);
		published[i] = v;
	}
	if (locked)
		pthread_mutex_unlock(&b->lock);
}

unsigned long long named_counter_value(const char *const *names, const uint64_t *count,
    size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (unsigned long long)__atomic_load_n(&count[i], __ATOMIC_RELAXED);
	return ~0ULL;
}

int writer_stop(struct writer *w)
{
	/* bounded: a store that stays locked still lets a stop finish */
	const int max_attempts = 10;

	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stopping = true;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	for (int i = 0; i < max_attempts; i++) {
		struct timespec pause = {0, 200 * 1000000L};

		flush_once(w);
		if (aggregate_empty(&w->pending))
			return 0;
		nanosleep(&pause, NULL);
	}
	log_msg(LOG_ERR, "store_final_commit_failed pending_sessions=%llu pending_keys=%zu "
	    "(the store stayed unavailable; these counts are lost)",
	    (unsigned long long)w->pending_sessions, aggregate_keys(&w->pending));
	return -1;
}

void writer_totals(struct writer *w, struct writer_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (struct input_batch *b = w->batches; b != NULL; b = b->next) {
		pthread_mutex_lock(&b->lock);
		t->in.received += b->now.received;
		t->in.accepted += b->now.accepted;
		t->in.dropped_full += b->now.dropped_full;
		for (int i = 0; i < DG_STATUS_COUNT; i++)
			t->in.rejected[i] += b->now.rejected[i];
		pthread_mutex_unlock(&b->lock);
	}
	pthread_mutex_lock(&w->lock);
	t->stored_sessions = w->stored_sessions;
	t->commits = w->commits;
	t->busy_retries = w->busy_retries;
	t->commit_errors = w->commit_errors;
	t->store_reopens = w->store_reopens;
	t->pending_keys = w->pending_keys;
	pthread_mutex_unlock(&w->lock);
}

void writer_free(struct writer *w)
{
	struct input_batch *b, *next;

	if (w == NULL)
		return;
	for (b = w->batches; b != NULL; b = next) {
		next = b->next;
		aggregate_free(&b->agg);
		pthread_mutex_destroy(&b->lock);
		free(b);
	}
	aggregate_free(&w->pending);
	heartbeat_unregister(w->hb);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
