/*
 * NAME
 *	store_impl - what the store's source files share (not for other modules)
 */
#ifndef TLSRPT_STORE_IMPL_H
#define TLSRPT_STORE_IMPL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Which file a path named when the store was opened. */
struct store_file_id {
	bool known;
	dev_t dev;
	ino_t ino;
};

struct store {
	sqlite3 *db;		/* NULL after a failed store_follow_path() reopen */
	char *path;
	long busy_timeout_ms;
	struct store_file_id ids[3];	/* the database, its -wal and -shm, as opened */
	bool old_saved;		/* let go of old files after copying its commits home */
	bool old_shm_gone;	/* the -shm let go of was no longer at the path */
	sqlite3_stmt *upsert_policy;
	sqlite3_stmt *upsert_failure;
	sqlite3_stmt *upsert_record;
	sqlite3_stmt *upsert_counter;
	sqlite3_stmt *upsert_dcounter;
	sqlite3_stmt *upsert_report_mail;
	sqlite3_stmt *upsert_state;
	sqlite3_stmt *cached[24];	/* store_stmt(): prepared on first use, kept; slots 0-19 store_report.c, 20- store.c */
};

/*
 * A statement prepared once per store and reused (reset and unbound
 * before it is handed out).  "slot" is a fixed index per call site.
 */
sqlite3_stmt *store_stmt(struct store *st, int slot, const char *sql);

/*
 * Before a write of tlsrpt-report: -1 with err when the path no longer
 * names the files this handle has open (store_path_changed()), so that
 * nothing is written into a deleted or replaced store.  Inside a
 * transaction (checked at its start) 0.
 */
int store_refuse_moved(struct store *st, char *err, size_t errlen);

void store_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
