/*
 * NAME
 *	bench_store - fill a store with generated sessions, for the benchmarks
 * DESCRIPTION
 *	See bench_store.h.
 */
#include "bench_store.h"

#include <stdio.h>

#include "aggregate.h"
#include "store.h"

#define BATCH_SESSIONS 20000	/* the daemon's default flush_records */

int bench_fill(const char *who, const char *store_path, unsigned long long n,
    bench_next_fn next, void *ctx, unsigned long long *commits)
{
	unsigned long long in_batch = 0;
	struct aggregate agg;
	struct store *st;
	char err[1024];
	int rc = 0;

	*commits = 0;
	if ((st = store_open(store_path, 10000, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", who, err);
		return -1;
	}
	aggregate_init(&agg);
	for (unsigned long long i = 0; i < n && rc == 0; i++) {
		aggregate_add_session(&agg, next(ctx, i));
		if (++in_batch < BATCH_SESSIONS && i + 1 < n)
			continue;
		if (store_commit(st, &agg, err, sizeof(err)) != STORE_OK) {
			fprintf(stderr, "%s: commit: %s\n", who, err);
			rc = -1;
		}
		aggregate_clear(&agg);
		in_batch = 0;
		(*commits)++;
	}
	aggregate_free(&agg);
	store_close(st);
	return rc;
}
