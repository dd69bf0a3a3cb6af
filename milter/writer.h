/*
 * NAME
 *	writer - the one thread that commits session results to the store
 * DESCRIPTION
 *	Inputs never touch SQLite.  Each input thread owns a struct
 *	input_batch: it adds session results to the batch's aggregate under
 *	the batch's own lock, and bumps its counters.  The writer wakes every
 *	flush interval (or when an input asks because flush_records results
 *	are waiting), moves every batch into its pending aggregate and
 *	commits that in one transaction.  When the store is busy or failing
 *	the pending aggregate is kept and retried; inputs go on batching, and
 *	only once pending_limit distinct counters are held do inputs drop
 *	(counted) rather than grow without bound.
 *
 *	Before and after every commit the writer checks that the store's
 *	path still names the files it has open (store_follow_path()): when
 *	they were deleted or replaced it logs store_reopened and opens the
 *	store at the path (a new one, with its schema, when there is none),
 *	and the pending results go there; a commit the path changed under is
 *	made again there.  It never keeps writing into a deleted file.
 */
#ifndef TLSRPT_WRITER_H
#define TLSRPT_WRITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "aggregate.h"
#include "datagram.h"
#include "store.h"

/* Counters every input keeps; all monotonic since start. */
struct input_counters {
	uint64_t received;
	uint64_t accepted;
	uint64_t rejected[DG_STATUS_COUNT];
	uint64_t dropped_full;	/* accepted but dropped: memory limit while the store was unavailable */
};

struct input_batch {
	pthread_mutex_t lock;
	struct aggregate agg;
	struct input_counters now;	/* under lock */
	struct input_counters flushed;	/* writer's copy at last move; writer only */
	const char *input_name;		/* "datagram", ... */
	struct input_batch *next;
};

struct writer_settings {
	long long flush_interval_ms;
	long long flush_records;
	long long pending_limit;
	long long busy_timeout_ms;
};

struct writer;

struct writer *writer_create(struct store *st, const struct writer_settings *ws);
void writer_set(struct writer *w, const struct writer_settings *ws);

/* Register an input's batch before writer_start(). */
struct input_batch *writer_new_batch(struct writer *w, const char *input_name);

int writer_start(struct writer *w);

/* Called by an input after adding a session: wakes the writer early when due. */
void writer_poke_if_due(struct writer *w, struct input_batch *b);

/* True while inputs should drop rather than batch (memory limit reached). */
bool writer_batch_full(struct writer *w, struct input_batch *b);

/*
 * Named counters of an input: count[i] is counter names[i], bumped by any
 * of its threads with __atomic_fetch_add.  One thread publishes them now
 * and then: input_batch_publish_counters() adds each one's increase since
 * the last publication (published[], that thread's copy) to the batch.
 * named_counter_value() is count[i] of the counter name, or ~0ULL when
 * names[] has no such name.
 */
void input_batch_publish_counters(struct input_batch *b, const char *const *names,
    const uint64_t *count, uint64_t *published, size_t n);
unsigned long long named_counter_value(const char *const *names, const uint64_t *count,
    size_t n, const char *name);

/* Final flush and join: call after every input has stopped adding. */
int writer_stop(struct writer *w);

/* Totals for logging, summed over inputs and the writer. */
struct writer_totals {
	struct input_counters in;
	uint64_t stored_sessions;	/* session results committed */
	uint64_t commits;
	uint64_t busy_retries;
	uint64_t commit_errors;
	uint64_t store_reopens;	/* the store's files were deleted or replaced: reopened at the path */
	uint64_t pending_keys;
};

void writer_totals(struct writer *w, struct writer_totals *t);
void writer_free(struct writer *w);

#endif
