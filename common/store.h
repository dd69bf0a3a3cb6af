/*
 * NAME
 *	store - the SQLite store shared by the daemon and the reporter
 * DESCRIPTION
 *	The only module that speaks SQL.  The store holds aggregated
 *	counters, never one row per session: per (UTC day, domain, policy)
 *	success and failure session counts, per failure shape the
 *	failed-session count, the TLSRPT record text per (day, domain), and
 *	the daemon's input counters per day.  Its schema is versioned with
 *	PRAGMA user_version and migrated forward on open; a store written by
 *	a newer version is refused, never downgraded.
 *
 *	WAL mode: the reporter reads while the daemon writes.  A writer that
 *	finds the store locked waits up to the configured busy timeout and
 *	then reports STORE_BUSY, leaving the caller's data untouched so it
 *	can try again later; a commit is all-or-nothing.
 */
#ifndef TLSRPT_STORE_H
#define TLSRPT_STORE_H

#include <stddef.h>

#include "aggregate.h"

#define STORE_SCHEMA_VERSION 1

struct store;

enum store_rc {
	STORE_OK = 0,
	STORE_BUSY,	/* locked by another writer for longer than the busy timeout */
	STORE_ERROR,	/* anything else; err says what */
};

/*
 * Open (creating if needed) and migrate the store.  busy_timeout_ms
 * bounds every wait for a lock.  Returns NULL with err filled on error.
 */
struct store *store_open(const char *path, long busy_timeout_ms, char *err, size_t errlen);
void store_close(struct store *st);
void store_set_busy_timeout(struct store *st, long busy_timeout_ms);

/* The schema version of an open store (after migration). */
int store_schema_version(struct store *st);

/*
 * Add an aggregate's counts to the store in one transaction.  On
 * STORE_OK the caller clears the aggregate; on STORE_BUSY or
 * STORE_ERROR nothing was written and the aggregate is intact.
 */
enum store_rc store_commit(struct store *st, struct aggregate *a, char *err, size_t errlen);

/* Delete data of days before "day" (YYYY-MM-DD).  Returns rows deleted or -1. */
long long store_purge_before(struct store *st, const char *day, char *err, size_t errlen);

#endif
