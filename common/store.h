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
#include "session.h"

#define STORE_SCHEMA_VERSION 4

struct store;

enum store_rc {
	STORE_OK = 0,
	STORE_BUSY,	/* locked by another writer for longer than the busy timeout */
	STORE_ERROR,	/* anything else; err says what */
};

/*
 * Open (creating if needed) and migrate the store.  busy_timeout_ms
 * bounds every wait for a lock.  Returns NULL with err filled on error.
 * The path must name a regular file, or nothing yet.
 *
 * The WAL is bounded: PRAGMA journal_size_limit STORE_WAL_LIMIT_BYTES
 * and wal_autocheckpoint 1000 pages on every connection; see also
 * store_checkpoint().
 */
#define STORE_WAL_LIMIT_BYTES (4 * 1024 * 1024)
struct store *store_open(const char *path, long busy_timeout_ms, char *err, size_t errlen);
void store_close(struct store *st);
void store_set_busy_timeout(struct store *st, long busy_timeout_ms);

/*
 * Whether the path still names the files this handle has open: NULL
 * when it does, else what changed: "deleted" or "replaced" (the
 * database), "wal_deleted", "wal_replaced", "shm_deleted",
 * "shm_replaced" (SQLite's files beside it), or "not_open" (an earlier
 * reopen failed).  A few stat() calls: cheap enough for every commit.
 */
const char *store_path_changed(struct store *st);

/* The path the store was opened with. */
const char *store_path(const struct store *st);

/* The size of the store's -wal file now, or -1. */
long long store_wal_bytes(struct store *st);

/*
 * Copy the WAL into the database and cut it to 0 bytes (a TRUNCATE
 * checkpoint), without waiting: 0 done, 1 a reader or writer still
 * holds part of it (what could be copied was: a PASSIVE checkpoint),
 * -1 with err on an error.  SQLite's own checkpoints cannot shrink a
 * WAL that a long reader made grow until the next commit after it is
 * fully copied; this does it at once.
 */
int store_checkpoint(struct store *st, char *err, size_t errlen);

/*
 * Make the handle write to the store at its path: 0 when it already
 * does; 1 when the files there were deleted or replaced (*what as
 * above) and the handle now has the store at the path open (created,
 * with its schema, when there is none): what this handle committed to
 * the old files is not in it; 2 the same, but the database file was
 * still the one at the path (its -wal or -shm went) and every commit of
 * this handle was first copied into it (a checkpoint through the old
 * files, done only when no other process has opened it since); -1 with
 * err when opening failed: the handle then holds no store
 * (store_commit() fails) until a later call succeeds.  Otherwise old
 * files are let go without a checkpoint, which could copy pages over
 * what others wrote since; the old -wal and -shm of a replaced database
 * are removed, so that the new database does not take their pages.
 */
int store_follow_path(struct store *st, const char **what, char *err, size_t errlen);

/* The schema version of an open store (after migration). */
int store_schema_version(struct store *st);

/*
 * Add an aggregate's counts to the store in one transaction.  On
 * STORE_OK the caller clears the aggregate; on STORE_BUSY or
 * STORE_ERROR nothing was written and the aggregate is intact.
 */
enum store_rc store_commit(struct store *st, struct aggregate *a, char *err, size_t errlen);

/* Delete data and reports of days before "day" (YYYY-MM-DD).  Returns rows deleted or -1. */
/* The state "name" (malloc'd), or NULL when unset or on error. */
char *store_get_state(struct store *st, const char *name);

/* Call cb for every report mail seen at or after "since"; the count or -1. */
long long store_each_report_mail(struct store *st, long long since,
    void (*cb)(void *ctx, const char *queue_id, long long seen), void *ctx);

long long store_purge_before(struct store *st, const char *day, char *err, size_t errlen);

/* ---- reading for reports (tlsrpt-report) ------------------------------ */

/* One failure shape and its failed-session count. */
struct rd_failure {
	struct tlsrpt_failure detail;	/* NULL fields = unknown */
	unsigned long long sessions;
};

struct rd_policy {
	int type;
	char *policy_domain;
	char *policy_strings;	/* JSON array text */
	char *mx_hosts;		/* JSON array text */
	unsigned long long successes, failures;
	size_t nfailures;
	struct rd_failure *failures_list;
};

/* Everything committed for one (UTC day, policy domain), in report order. */
struct report_data {
	char day[11];
	char *domain;
	char *record;	/* TLSRPT record text the MTA saw, or NULL */
	size_t npolicies;
	struct rd_policy *policies;
};

int store_load_report_data(struct store *st, const char *day, const char *domain,
    struct report_data *out, char *err, size_t errlen);
void report_data_free(struct report_data *rd);

/*
 * Call cb for each (day, domain) with session data that has no report yet,
 * days before "before_day" only; only_day / only_domain (or NULL) filter.
 * Ordered by day, then domain.  Returns the number of pairs or -1.
 */
long long store_each_unbuilt(struct store *st, const char *before_day, const char *only_day,
    const char *only_domain, void (*cb)(void *ctx, const char *day, const char *domain),
    void *ctx, char *err, size_t errlen);

/* Domains with session data on one day (any report state); same contract. */
long long store_each_domain_of_day(struct store *st, const char *day, const char *only_domain,
    void (*cb)(void *ctx, const char *day, const char *domain), void *ctx, char *err, size_t errlen);

/* ---- reports and their deliveries ------------------------------------- */

enum report_put_result {
	REPORT_NEW,		/* first report for this (day, domain) */
	REPORT_REPLACED,	/* an unsent report was rebuilt, same report id */
	REPORT_IMMUTABLE,	/* already sent to some destination: left alone */
};

struct report_put {
	const char *day, *domain, *report_id;
	const char *json;
	const unsigned char *gzip;
	size_t gzip_len;
	const char *record;	/* TLSRPT record the destinations came from, or NULL */
	const char *note;	/* why there is no destination, or NULL */
	const char *const *destinations;	/* rua URIs, each a pending delivery */
	size_t ndestinations;
	long long now;
};

int store_report_put(struct store *st, const struct report_put *rp, enum report_put_result *res,
    char *err, size_t errlen);

/* One delivery that is due: a report and one of its destinations. */
struct due_delivery {
	long long report;		/* report row */
	char *report_id, *day, *domain, *destination;
	int attempts;
	long long first_attempt;	/* 0: never tried */
	unsigned char *gzip;
	size_t gzip_len;
};

/*
 * Deliveries due at "now": pending ones, and failed-temporary ones whose
 * next try has come; only those of report_id when it is not NULL.
 * Returns how many (*out malloc'd, free with due_deliveries_free) or -1.
 */
long long store_due_deliveries(struct store *st, long long now, const char *report_id,
    struct due_delivery **out, char *err, size_t errlen);
void due_deliveries_free(struct due_delivery *d, size_t n);

/*
 * Group several writes into one transaction (far fewer syncs); 0 or -1.
 * Hold it only briefly: the daemon's writer waits for it.
 */
int store_begin(struct store *st, char *err, size_t errlen);
int store_end(struct store *st, char *err, size_t errlen);

/* Record the outcome of one attempt. */
struct delivery_update {
	const char *state;	/* sent, failed-temporary, failed-permanent, gave-up */
	int attempts;
	long long first_attempt, last_attempt, next_try;	/* next_try 0: none */
	const char *error;	/* NULL when sent */
};
int store_delivery_update(struct store *st, long long report, const char *destination,
    const struct delivery_update *u, char *err, size_t errlen);

/*
 * Make the unsent deliveries of one report (or of all when report_id is
 * NULL) due now, whatever their state.  Returns how many or -1.
 */
long long store_retry_now(struct store *st, const char *report_id, long long now,
    char *err, size_t errlen);

/*
 * Reports built without a TLSRPT record (the MTA passed none): their
 * destinations come from a DNS lookup.  record NULL = not looked up yet.
 */
struct unresolved_report {
	long long report;
	char *report_id, *domain;
};
long long store_unresolved_reports(struct store *st, struct unresolved_report **out,
    char *err, size_t errlen);
void unresolved_reports_free(struct unresolved_report *r, size_t n);

/* Record the looked-up record ("" when there is none) and its destinations. */
int store_report_resolved(struct store *st, long long report, const char *record,
    const char *note, const char *const *destinations, size_t n, char *err, size_t errlen);

/* The stored JSON of a report, or NULL (not found or error: err says which). */
char *store_report_json(struct store *st, const char *report_id, char *err, size_t errlen);

/*
 * Generic listings for the CLI: run a named query and call cb once per
 * row with column names and text values (NULL for SQL NULL).  Names:
 *   "list"        params: day, domain, state (each may be NULL)
 *   "deliveries"  params: report_id
 *   "pending"     params: none
 *   "stats-days", "stats-results", "stats-domains", "stats-inputs"
 *                 params: first day
 * Returns rows seen or -1.
 */
typedef int (*store_row_cb)(void *ctx, int ncol, const char *const *names,
    const char *const *values);
long long store_query(struct store *st, const char *name, const char *const *params,
    size_t nparams, store_row_cb cb, void *ctx, char *err, size_t errlen);

#endif
