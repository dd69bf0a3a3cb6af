/*
 * NAME
 *	store - the SQLite store shared by the daemon and the reporter
 * DESCRIPTION
 *	See store.h.  Unknown optional failure fields are stored as '' so
 *	that they take part in the primary key (SQLite treats NULLs as
 *	distinct in unique constraints); readers turn '' back into "absent".
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_impl.h"
#include "util.h"


/*
 * migrations[i] takes a store from user_version i to i + 1.  Append only:
 * a released migration is never edited.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the aggregated counters */
	"CREATE TABLE policy_day ("
	"  id INTEGER PRIMARY KEY,"
	"  day TEXT NOT NULL,"
	"  domain TEXT NOT NULL,"
	"  policy_type INTEGER NOT NULL,"
	"  policy_domain TEXT NOT NULL,"
	"  policy_strings TEXT NOT NULL,"
	"  mx_hosts TEXT NOT NULL,"
	"  successes INTEGER NOT NULL DEFAULT 0,"
	"  failures INTEGER NOT NULL DEFAULT 0,"
	"  UNIQUE (day, domain, policy_type, policy_domain, policy_strings, mx_hosts));"
	"CREATE TABLE failure_day ("
	"  policy_id INTEGER NOT NULL REFERENCES policy_day(id) ON DELETE CASCADE,"
	"  result_type INTEGER NOT NULL,"
	"  sending_ip TEXT NOT NULL,"
	"  mx_name TEXT NOT NULL,"
	"  helo TEXT NOT NULL,"
	"  receiving_ip TEXT NOT NULL,"
	"  additional TEXT NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  sessions INTEGER NOT NULL,"
	"  PRIMARY KEY (policy_id, result_type, sending_ip, mx_name, helo,"
	"               receiving_ip, additional, reason)) WITHOUT ROWID;"
	"CREATE TABLE tlsrpt_record ("
	"  day TEXT NOT NULL,"
	"  domain TEXT NOT NULL,"
	"  record TEXT NOT NULL,"
	"  PRIMARY KEY (day, domain)) WITHOUT ROWID;"
	"CREATE TABLE input_counter ("
	"  day TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  value INTEGER NOT NULL,"
	"  PRIMARY KEY (day, name)) WITHOUT ROWID;",

	/* 1 -> 2: built reports and their deliveries, one per rua */
	"CREATE TABLE report ("
	"  id INTEGER PRIMARY KEY,"
	"  report_id TEXT NOT NULL UNIQUE,"
	"  day TEXT NOT NULL,"
	"  domain TEXT NOT NULL,"
	"  built_at INTEGER NOT NULL,"
	"  json TEXT NOT NULL,"
	"  gzip BLOB NOT NULL,"
	"  record TEXT,"
	"  note TEXT,"
	"  UNIQUE (day, domain));"
	"CREATE TABLE delivery ("
	"  report INTEGER NOT NULL REFERENCES report(id) ON DELETE CASCADE,"
	"  destination TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent',"
	"    'failed-temporary', 'failed-permanent', 'gave-up')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  first_attempt INTEGER,"
	"  last_attempt INTEGER,"
	"  next_try INTEGER,"
	"  last_error TEXT,"
	"  PRIMARY KEY (report, destination)) WITHOUT ROWID;"
	"CREATE INDEX delivery_state ON delivery (state, next_try);",
	/* 2 -> 3: the hooks of the installed base (milter, log follower) */
	"CREATE TABLE domain_counter ("
	"  day TEXT NOT NULL,"
	"  domain TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  value INTEGER NOT NULL,"
	"  PRIMARY KEY (day, domain, name)) WITHOUT ROWID;"
	"CREATE TABLE report_mail ("
	"  queue_id TEXT PRIMARY KEY,"
	"  domain TEXT NOT NULL,"
	"  seen INTEGER NOT NULL);"
	"CREATE TABLE state ("
	"  name TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL,"
	"  updated INTEGER NOT NULL);",
	/* 3 -> 4: the MTA-STS policy cache (RFC 8461 section 5), one row per domain */
	"CREATE TABLE sts_policy ("
	"  domain TEXT PRIMARY KEY,"
	"  status TEXT NOT NULL,"		/* ok, none, fetch-error, invalid, webpki-invalid, temporary */
	"  txt_id TEXT NOT NULL DEFAULT '',"
	"  mode TEXT NOT NULL DEFAULT '',"	/* enforce, testing, none; '' without a policy */
	"  max_age INTEGER NOT NULL DEFAULT 0,"
	"  mx TEXT NOT NULL DEFAULT '[]',"	/* JSON array of the mx patterns */
	"  policy TEXT NOT NULL DEFAULT '',"	/* the policy lines as fetched */
	"  fetched INTEGER NOT NULL DEFAULT 0,"	/* last successful fetch */
	"  expires INTEGER NOT NULL DEFAULT 0,"	/* fetched + max_age */
	"  checked INTEGER NOT NULL DEFAULT 0,"	/* last attempt */
	"  next_try INTEGER NOT NULL DEFAULT 0,"
	"  error TEXT NOT NULL DEFAULT '');",
};

#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

_Static_assert(NMIGRATIONS == STORE_SCHEMA_VERSION, "one migration per schema version");

void store_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int exec_sql(struct store *st, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		store_set_err(err, errlen, "%s: %s", st->path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
	}
	return rc;
}

static int user_version(struct store *st)
{
	sqlite3_stmt *s;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

int store_schema_version(struct store *st)
{
	return user_version(st);
}

static int migrate(struct store *st, char *err, size_t errlen)
{
	char sql[64];
	int v;

	if (exec_sql(st, "BEGIN IMMEDIATE", err, errlen) != SQLITE_OK)
		return -1;
	/* read the version inside the write lock: two processes may race here */
	v = user_version(st);
	if (v < 0 || v > STORE_SCHEMA_VERSION) {
		exec_sql(st, "ROLLBACK", NULL, 0);
		if (v < 0)
			store_set_err(err, errlen, "%s: cannot read the schema version: %s",
			    st->path, sqlite3_errmsg(st->db));
		else
			store_set_err(err, errlen, "%s: store schema version %d is newer than this "
			    "program supports (%d); upgrade tlsrpt-milter", st->path, v,
			    STORE_SCHEMA_VERSION);
		return -1;
	}
	for (; v < STORE_SCHEMA_VERSION; v++) {
		if (exec_sql(st, migrations[v], err, errlen) != SQLITE_OK)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (exec_sql(st, sql, err, errlen) != SQLITE_OK)
			goto fail;
	}
	if (exec_sql(st, "COMMIT", err, errlen) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	exec_sql(st, "ROLLBACK", NULL, 0);
	return -1;
}

static int prepare(struct store *st, sqlite3_stmt **out, const char *sql, char *err, size_t errlen)
{
	int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);

	if (rc != SQLITE_OK)
		store_set_err(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
	return rc;
}

static int prepare_all(struct store *st, char *err, size_t errlen)
{
	if (prepare(st, &st->upsert_policy,
	    "INSERT INTO policy_day (day, domain, policy_type, policy_domain,"
	    " policy_strings, mx_hosts, successes, failures)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
	    " ON CONFLICT (day, domain, policy_type, policy_domain, policy_strings, mx_hosts)"
	    " DO UPDATE SET successes = successes + excluded.successes,"
	    " failures = failures + excluded.failures"
	    " RETURNING id", err, errlen) != SQLITE_OK)
		return -1;
	if (prepare(st, &st->upsert_failure,
	    "INSERT INTO failure_day (policy_id, result_type, sending_ip, mx_name, helo,"
	    " receiving_ip, additional, reason, sessions)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	    " ON CONFLICT DO UPDATE SET sessions = sessions + excluded.sessions",
	    err, errlen) != SQLITE_OK)
		return -1;
	if (prepare(st, &st->upsert_record,
	    "INSERT INTO tlsrpt_record (day, domain, record) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT DO UPDATE SET record = excluded.record", err, errlen) != SQLITE_OK)
		return -1;
	if (prepare(st, &st->upsert_dcounter,
	    "INSERT INTO domain_counter (day, domain, name, value) VALUES (?1, ?2, ?3, ?4)"
	    " ON CONFLICT DO UPDATE SET value = value + excluded.value", err, errlen) != SQLITE_OK)
		return -1;
	if (prepare(st, &st->upsert_report_mail,
	    "INSERT INTO report_mail (queue_id, domain, seen) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT DO UPDATE SET domain = excluded.domain, seen = excluded.seen",
	    err, errlen) != SQLITE_OK)
		return -1;
	if (prepare(st, &st->upsert_state,
	    "INSERT INTO state (name, value, updated) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT DO UPDATE SET value = excluded.value, updated = excluded.updated",
	    err, errlen) != SQLITE_OK)
		return -1;
	if (prepare(st, &st->upsert_counter,
	    "INSERT INTO input_counter (day, name, value) VALUES (?1, ?2, ?3)"
	    " ON CONFLICT DO UPDATE SET value = value + excluded.value", err, errlen) != SQLITE_OK)
		return -1;
	return 0;
}

/* The files of a store: the database, then SQLite's -wal and -shm beside it. */
static const char *const file_suffix[3] = {"", "-wal", "-shm"};

static char *file_name(const struct store *st, int i)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "%s%s", st->path, file_suffix[i]);
	return sb.data;
}

/*
 * What the store's path names now, as the identity of the open files:
 * every later store_path_changed() compares with it.  After the open
 * (and its transactions) the -wal and -shm files exist.
 */
static void record_ids(struct store *st)
{
	for (int i = 0; i < 3; i++) {
		char *name = file_name(st, i);
		struct stat sb;

		st->ids[i].known = stat(name, &sb) == 0;
		st->ids[i].dev = sb.st_dev;
		st->ids[i].ino = sb.st_ino;
		free(name);
	}
}

static void finalize_all(struct store *st)
{
	sqlite3_stmt **owned[] = {&st->upsert_policy, &st->upsert_failure, &st->upsert_record,
	    &st->upsert_counter, &st->upsert_dcounter, &st->upsert_report_mail, &st->upsert_state};

	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		sqlite3_finalize(*owned[i]);
		*owned[i] = NULL;
	}
	for (size_t i = 0; i < sizeof(st->cached) / sizeof(st->cached[0]); i++) {
		sqlite3_finalize(st->cached[i]);
		st->cached[i] = NULL;
	}
}

/*
 * journal_size_limit: a WAL that a checkpoint has emptied is cut back
 * to this at the next commit (without it the file keeps the largest
 * size it ever had).  wal_autocheckpoint: SQLite's default, said
 * explicitly: a commit that leaves more pages than this checkpoints.
 */
#define WAL_SIZE_LIMIT (STORE_WAL_LIMIT_BYTES)
#define WAL_AUTOCHECKPOINT_PAGES 1000

/* Open st->path into st (st->db NULL on entry); 0, or -1 with err and st->db NULL. */
static int open_db(struct store *st, char *err, size_t errlen)
{
	char pragmas[160];
	struct stat sb;
	int rc;

	/* SQLite would block reading a FIFO's "header" for ever */
	if (stat(st->path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		store_set_err(err, errlen, "store %s is %s; store_path must name a regular file "
		    "(or none yet, to create one)", st->path, file_type_name(sb.st_mode));
		return -1;
	}
	rc = sqlite3_open_v2(st->path, &st->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_set_err(err, errlen, "cannot open store %s: %s (does its directory exist, "
		    "and may this user write to it?)", st->path,
		    st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(st->db, (int)st->busy_timeout_ms);
	snprintf(pragmas, sizeof(pragmas), "PRAGMA journal_size_limit = %d;"
	    "PRAGMA wal_autocheckpoint = %d", WAL_SIZE_LIMIT, WAL_AUTOCHECKPOINT_PAGES);
	if (exec_sql(st, "PRAGMA journal_mode = WAL", err, errlen) != SQLITE_OK ||
	    exec_sql(st, "PRAGMA synchronous = NORMAL", err, errlen) != SQLITE_OK ||
	    exec_sql(st, "PRAGMA foreign_keys = ON", err, errlen) != SQLITE_OK ||
	    exec_sql(st, pragmas, err, errlen) != SQLITE_OK)
		goto fail;
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		store_set_err(err, errlen, "store %s is read-only for this user (uid %u); make it and its "
		    "directory writable by the user the program runs as", st->path, (unsigned)geteuid());
		goto fail;
	}
	if (migrate(st, err, errlen) != 0 || prepare_all(st, err, errlen) != 0)
		goto fail;
	record_ids(st);
	return 0;
fail:
	finalize_all(st);
	sqlite3_close(st->db);
	st->db = NULL;
	return -1;
}

struct store *store_open(const char *path, long busy_timeout_ms, char *err, size_t errlen)
{
	struct store *st = xcalloc(1, sizeof(*st));

	st->path = xstrdup(path);
	st->busy_timeout_ms = busy_timeout_ms;
	if (open_db(st, err, errlen) != 0) {
		store_close(st);
		return NULL;
	}
	return st;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	finalize_all(st);
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

void store_set_busy_timeout(struct store *st, long busy_timeout_ms)
{
	st->busy_timeout_ms = busy_timeout_ms;
	if (st->db != NULL)
		sqlite3_busy_timeout(st->db, (int)busy_timeout_ms);
}

long long store_wal_bytes(struct store *st)
{
	char *name = file_name(st, 1);
	struct stat sb;
	long long n = stat(name, &sb) == 0 ? (long long)sb.st_size : -1;

	free(name);
	return n;
}

int store_checkpoint(struct store *st, char *err, size_t errlen)
{
	int rc, frames = -1, copied = -1;

	if (st->db == NULL)
		return -1;
	/* never wait: a reader that still holds the WAL makes this a PASSIVE one */
	sqlite3_busy_timeout(st->db, 0);
	rc = sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_TRUNCATE, &frames, &copied);
	sqlite3_busy_timeout(st->db, (int)st->busy_timeout_ms);
	if (rc == SQLITE_OK)
		return 0;
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return 1;
	store_set_err(err, errlen, "%s: checkpoint failed: %s", st->path, sqlite3_errmsg(st->db));
	return -1;
}

int store_refuse_moved(struct store *st, char *err, size_t errlen)
{
	const char *what;

	if (st->db != NULL && !sqlite3_get_autocommit(st->db))
		return 0;
	if ((what = store_path_changed(st)) == NULL)
		return 0;
	store_set_err(err, errlen, "%s: the store's files were %s while this program ran "
	    "(%s): nothing written; run it again", st->path,
	    strstr(what, "deleted") ? "deleted" : "replaced", what);
	return -1;
}

const char *store_path(const struct store *st)
{
	return st->path;
}

const char *store_path_changed(struct store *st)
{
	static const char *const what[3][2] = {
		{"deleted", "replaced"}, {"wal_deleted", "wal_replaced"},
		{"shm_deleted", "shm_replaced"},
	};
	int moved = 0;

	if (st->db == NULL)
		return "not_open";
	for (int i = 0; i < 3; i++) {
		char *name;
		struct stat sb;
		int rc;

		if (!st->ids[i].known)
			continue;
		name = file_name(st, i);
		rc = stat(name, &sb);
		free(name);
		/* any other error (EACCES on the directory...) proves nothing */
		if (rc != 0 && errno == ENOENT)
			return what[i][0];
		if (rc == 0 && (sb.st_dev != st->ids[i].dev || sb.st_ino != st->ids[i].ino))
			return what[i][1];
	}
	/* SQLite's own view: the inode it holds against the one at the path */
	if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
	    moved)
		return "replaced";
	return NULL;
}

/* True when file i at the path is still the one this handle opened. */
static bool still_ours(const struct store *st, int i)
{
	char *name = file_name(st, i);
	struct stat sb;
	bool same = st->ids[i].known && stat(name, &sb) == 0 &&
	    sb.st_dev == st->ids[i].dev && sb.st_ino == st->ids[i].ino;

	free(name);
	return same;
}

/*
 * Let go of files the path no longer names.  No checkpoint on the way
 * out: it would copy our WAL's pages into whatever database now holds
 * them, over what others wrote since.  Only when the database is still
 * ours and nobody has opened it afresh (no new -shm) are our WAL's
 * pages copied home first, as the close of the last connection would.
 * Our old -wal and -shm still at the path belong to the old database:
 * they are removed, so that the new one does not take their pages.
 */
static bool let_go(struct store *st)
{
	char *shm = file_name(st, 2);
	bool db_ours = still_ours(st, 0), fresh_shm = access(shm, F_OK) == 0 && !still_ours(st, 2);
	bool saved = false;
	int frames = -1, copied = -1;

	/* decided while the old files are held: once closed, their inode numbers may be reused */
	st->old_shm_gone = !still_ours(st, 2);

	/*
	 * A PASSIVE checkpoint copies whole commits only: all frames, or not
	 * our last commit.  Another connection's checkpoint (SQLITE_BUSY) or
	 * a reader's snapshot may hold it up a moment: try for up to 0.5 s.
	 */
	for (int tries = 0; db_ours && !fresh_shm && !saved && tries < 50; tries++) {
		struct timespec pause = {0, 10 * 1000000L};
		int rc = sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_PASSIVE,
		    &frames, &copied);

		saved = rc == SQLITE_OK && frames >= 0 && copied == frames;
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			break;
		if (!saved)
			nanosleep(&pause, NULL);
	}
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	finalize_all(st);
	sqlite3_close(st->db);
	st->db = NULL;
	if (!db_ours) {
		for (int i = 1; i < 3; i++) {
			if (still_ours(st, i)) {
				char *name = file_name(st, i);

				unlink(name);
				free(name);
			}
		}
	}
	free(shm);
	return saved;
}

/*
 * True when a descriptor of this process still refers to the -shm file
 * this handle let go of: by its identity while it is at the path, else
 * by the name the kernel gives a deleted file (once freed, its inode
 * number may already be a new file's).
 */
static bool old_shm_held_here(const struct store *st)
{
	DIR *dir = opendir("/proc/self/fd");
	bool linked = !st->old_shm_gone, held = false;
	char *deleted = file_name(st, 2), target[PATH_MAX + 16];
	struct dirent *de;

	if (dir == NULL) {
		free(deleted);
		return false;
	}
	deleted = xrealloc(deleted, strlen(deleted) + sizeof(" (deleted)"));
	strcat(deleted, " (deleted)");
	while (!held && (de = readdir(dir)) != NULL) {
		struct stat sb;
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		if (linked) {
			held = fstatat(dirfd(dir), de->d_name, &sb, 0) == 0 &&
			    sb.st_dev == st->ids[2].dev && sb.st_ino == st->ids[2].ino;
		} else if ((n = readlinkat(dirfd(dir), de->d_name, target, sizeof(target) - 1)) > 0) {
			target[n] = '\0';
			held = strcmp(target, deleted) == 0;
		}
	}
	closedir(dir);
	free(deleted);
	return held;
}

int store_follow_path(struct store *st, const char **what, char *err, size_t errlen)
{
	*what = store_path_changed(st);
	if (*what == NULL)
		return 0;
	if (st->db != NULL)
		st->old_saved = let_go(st);
	/*
	 * SQLite shares one -shm mapping among a process's connections to a
	 * database file: while another connection here still holds the old
	 * one (the daemon's policy map has its own), a new connection to
	 * the same database would take that mapping over for a new -wal.
	 */
	if (still_ours(st, 0) && st->ids[2].known && old_shm_held_here(st)) {
		store_set_err(err, errlen, "%s: another connection of this process still holds "
		    "its deleted -shm file; trying again at the next commit", st->path);
		return -1;
	}
	if (open_db(st, err, errlen) != 0)
		return -1;
	return st->old_saved ? 2 : 1;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

/* Run a bound statement to completion; returns the sqlite result code. */
static int step_done(sqlite3_stmt *s, long long *rowid)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (rowid)
			*rowid = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int commit_policies(struct store *st, struct aggregate *a)
{
	sqlite3_stmt *s = st->upsert_policy;
	int rc;

	AGG_FOREACH(&a->policies, struct agg_policy, p) {
		sqlite3_bind_text(s, 1, p->day, -1, SQLITE_STATIC);
		bind_text(s, 2, p->domain);
		sqlite3_bind_int(s, 3, p->type);
		bind_text(s, 4, p->policy_domain);
		bind_text(s, 5, p->policy_strings);
		bind_text(s, 6, p->mx_hosts);
		sqlite3_bind_int64(s, 7, (sqlite3_int64)p->successes);
		sqlite3_bind_int64(s, 8, (sqlite3_int64)p->failures);
		p->store_id = -1;
		if ((rc = step_done(s, &p->store_id)) != SQLITE_OK)
			return rc;
		if (p->store_id < 0)
			return SQLITE_INTERNAL;
	}
	return SQLITE_OK;
}

static int commit_failures(struct store *st, struct aggregate *a)
{
	sqlite3_stmt *s = st->upsert_failure;
	int rc;

	AGG_FOREACH(&a->failures, struct agg_failure, f) {
		sqlite3_bind_int64(s, 1, f->policy->store_id);
		sqlite3_bind_int(s, 2, f->result_type);
		bind_text(s, 3, f->sending_ip);
		bind_text(s, 4, f->mx_name);
		bind_text(s, 5, f->helo);
		bind_text(s, 6, f->receiving_ip);
		bind_text(s, 7, f->additional);
		bind_text(s, 8, f->reason);
		sqlite3_bind_int64(s, 9, (sqlite3_int64)f->count);
		if ((rc = step_done(s, NULL)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int commit_records(struct store *st, struct aggregate *a)
{
	sqlite3_stmt *s = st->upsert_record;
	int rc;

	AGG_FOREACH(&a->records, struct agg_record, r) {
		sqlite3_bind_text(s, 1, r->day, -1, SQLITE_STATIC);
		bind_text(s, 2, r->domain);
		bind_text(s, 3, r->record);
		if ((rc = step_done(s, NULL)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int commit_counters(struct store *st, struct aggregate *a)
{
	sqlite3_stmt *s = st->upsert_counter;
	int rc;

	AGG_FOREACH(&a->counters, struct agg_counter, c) {
		sqlite3_bind_text(s, 1, c->day, -1, SQLITE_STATIC);
		bind_text(s, 2, c->name);
		sqlite3_bind_int64(s, 3, (sqlite3_int64)c->value);
		if ((rc = step_done(s, NULL)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int commit_dcounters(struct store *st, struct aggregate *a)
{
	sqlite3_stmt *s = st->upsert_dcounter;
	int rc;

	AGG_FOREACH(&a->dcounters, struct agg_dcounter, c) {
		sqlite3_bind_text(s, 1, c->day, -1, SQLITE_STATIC);
		bind_text(s, 2, c->domain);
		bind_text(s, 3, c->name);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)c->value);
		if ((rc = step_done(s, NULL)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int commit_states(sqlite3_stmt *s, struct agg_table *t)
{
	int rc;

	AGG_FOREACH(t, struct agg_state, v) {
		bind_text(s, 1, v->name);
		bind_text(s, 2, v->value);
		sqlite3_bind_int64(s, 3, v->when);
		if ((rc = step_done(s, NULL)) != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static enum store_rc classify(int rc)
{
	return (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? STORE_BUSY : STORE_ERROR;
}

enum store_rc store_commit(struct store *st, struct aggregate *a, char *err, size_t errlen)
{
	int rc;

	if (aggregate_empty(a))
		return STORE_OK;
	if (st->db == NULL) {
		store_set_err(err, errlen, "%s: not open (its file was deleted or replaced, and "
		    "opening the new one failed)", st->path);
		return STORE_ERROR;
	}
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		store_set_err(err, errlen, "%s: cannot begin a write: %s", st->path, sqlite3_errmsg(st->db));
		return classify(rc);
	}
	if ((rc = commit_policies(st, a)) != SQLITE_OK ||
	    (rc = commit_failures(st, a)) != SQLITE_OK ||
	    (rc = commit_records(st, a)) != SQLITE_OK ||
	    (rc = commit_counters(st, a)) != SQLITE_OK ||
	    (rc = commit_dcounters(st, a)) != SQLITE_OK ||
	    (rc = commit_states(st->upsert_report_mail, &a->report_mails)) != SQLITE_OK ||
	    (rc = commit_states(st->upsert_state, &a->states)) != SQLITE_OK)
		goto fail;
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	return STORE_OK;
fail:
	store_set_err(err, errlen, "%s: write failed: %s", st->path, sqlite3_errmsg(st->db));
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return classify(rc);
}

long long store_purge_before(struct store *st, const char *day, char *err, size_t errlen)
{
	static const char *const sql[] = {
		"DELETE FROM report WHERE day < ?1",
		"DELETE FROM policy_day WHERE day < ?1",
		"DELETE FROM tlsrpt_record WHERE day < ?1",
		"DELETE FROM input_counter WHERE day < ?1",
		"DELETE FROM domain_counter WHERE day < ?1",
		"DELETE FROM report_mail WHERE seen < CAST(strftime('%s', ?1) AS INTEGER)",
	};
	long long total = 0;
	sqlite3_stmt *s;

	if (store_refuse_moved(st, err, errlen) != 0 ||
	    exec_sql(st, "BEGIN IMMEDIATE", err, errlen) != SQLITE_OK)
		return -1;
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		if (sqlite3_prepare_v2(st->db, sql[i], -1, &s, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_text(s, 1, day, -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE) {
			sqlite3_finalize(s);
			goto fail;
		}
		total += sqlite3_changes(st->db);
		sqlite3_finalize(s);
	}
	if (exec_sql(st, "COMMIT", err, errlen) != SQLITE_OK)
		goto fail;
	return total;
fail:
	store_set_err(err, errlen, "%s: purge failed: %s", st->path, sqlite3_errmsg(st->db));
	exec_sql(st, "ROLLBACK", NULL, 0);
	return -1;
}

sqlite3_stmt *store_stmt(struct store *st, int slot, const char *sql)
{
	sqlite3_stmt **s = &st->cached[slot];

	if (*s == NULL) {
		if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL) != SQLITE_OK)
			return NULL;
	} else {
		sqlite3_reset(*s);
		sqlite3_clear_bindings(*s);
	}
	return *s;
}

char *store_get_state(struct store *st, const char *name)
{
	sqlite3_stmt *s = store_stmt(st, 20, "SELECT value FROM state WHERE name = ?1");
	char *v = NULL;

	if (s == NULL)
		return NULL;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
		v = xstrdup((const char *)sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	return v;
}

long long store_each_report_mail(struct store *st, long long since,
    void (*cb)(void *ctx, const char *queue_id, long long seen), void *ctx)
{
	sqlite3_stmt *s = store_stmt(st, 21,
	    "SELECT queue_id, seen FROM report_mail WHERE seen >= ?1");
	long long n = 0;
	int rc;

	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, since);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		cb(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1));
		n++;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? n : -1;
}
