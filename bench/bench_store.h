/*
 * NAME
 *	bench_store - fill a store with generated sessions, for the benchmarks
 * DESCRIPTION
 *	bench_fill() asks "next" for session i = 0..n-1 and commits them
 *	through the aggregate in batches, the way the daemon's writer does.
 */
#ifndef TLSRPT_BENCH_STORE_H
#define TLSRPT_BENCH_STORE_H

#include "session.h"

/* Session i, built in memory the generator owns (valid until the next call). */
typedef const struct tlsrpt_session *(*bench_next_fn)(void *ctx, unsigned long long i);

/* 0 and *commits set, or -1 after printing why (prefixed with "who"). */
int bench_fill(const char *who, const char *store_path, unsigned long long n,
    bench_next_fn next, void *ctx, unsigned long long *commits);

#endif
