/*
 * NAME
 *	test_store - unit tests of common/store.c
 * DESCRIPTION
 *	Each test gets a store in a fresh mkdtemp() directory, commits
 *	aggregates built from datagram text, and reads the rows back with
 *	its own sqlite3 connection: schema, upserts, locking (STORE_BUSY),
 *	all-or-nothing commits, schema versions, reopening and purging.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aggregate.h"
#include "datagram.h"
#include "store.h"
#include "util.h"

#define DAY0_NOON 1709899200LL	/* 2024-03-08T12:00:00Z */
#define DAY1_LAST 1710028799LL	/* 2024-03-09T23:59:59Z */
#define DAY2_FIRST 1710028800LL	/* 2024-03-10T00:00:00Z */

#define DG_FAIL "{\"dpv\":\"1\",\"d\":\"example.net\",\"pr\":\"v=TLSRPTv1; rua=mailto:r@example.net\"," \
	"\"policies\":[{\"policy-type\":2,\"policy-string\":[\"version: STSv1\",\"mode: enforce\"]," \
	"\"mx-host\":[\"mail.example.net\"],\"failure-details\":[{\"c\":205,\"s\":\"192.0.2.10\"," \
	"\"n\":\"mail.example.net\",\"r\":\"198.51.100.7\",\"f\":\"self-signed\"}],\"t\":1,\"f\":1}]}"
#define DG_SUCCESS "{\"dpv\":\"1\",\"d\":\"example.net\",\"policies\":[{\"policy-type\":2," \
	"\"policy-string\":[\"version: STSv1\",\"mode: enforce\"],\"mx-host\":[\"mail.example.net\"]," \
	"\"t\":0,\"f\":0}]}"

#define POLICY_ROW "2024-03-10|example.net|2|example.net|[\"version: STSv1\",\"mode: enforce\"]|" \
	"[\"mail.example.net\"]"
#define Q_POLICIES "SELECT day, domain, policy_type, policy_domain, policy_strings, mx_hosts," \
	" successes, failures FROM policy_day ORDER BY day, domain, policy_type"
#define Q_FAILURES "SELECT p.day, f.result_type, f.sending_ip, f.mx_name, f.helo, f.receiving_ip," \
	" f.additional, f.reason, f.sessions FROM failure_day f JOIN policy_day p" \
	" ON p.id = f.policy_id ORDER BY p.day"
#define Q_RECORDS "SELECT day, domain, record FROM tlsrpt_record ORDER BY day, domain"
#define Q_COUNTERS "SELECT day, name, value FROM input_counter ORDER BY day, name"

struct fixture {
	char dir[64];
	char path[96];
	struct aggregate agg;
	struct strbuf rows;	/* the last q_rows() answer */
};

static struct json_arena arena;

static int group_setup(void **state)
{
	(void)state;
	json_arena_init(&arena);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	json_arena_free(&arena);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/tlsrpt.db", f->dir);
	aggregate_init(&f->agg);
	strbuf_init(&f->rows);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	struct fixture *f = *state;
	char p[128];
	int rc;

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rc = rmdir(f->dir);	/* fails if the test left something behind */
	aggregate_free(&f->agg);
	strbuf_free(&f->rows);
	free(f);
	return rc;
}

/* Parse a datagram received at "when" and add it to a. */
static void add_dg(struct aggregate *a, long long when, const char *text)
{
	struct tlsrpt_session s;
	char err[256] = "";

	if (dg_parse(&arena, text, strlen(text), when, &s, err, sizeof(err)) != DG_OK)
		fail_msg("datagram rejected: %s", err);
	aggregate_add_session(a, &s);
	session_free(&s);
}

/* The usual test aggregate: 2 successes, 1 failure, a record, a counter. */
static void fill(struct aggregate *a, long long when)
{
	add_dg(a, when, DG_SUCCESS);
	add_dg(a, when, DG_FAIL);
	add_dg(a, when, DG_SUCCESS);
	aggregate_count(a, when, "dg_ok", 3);
}

static sqlite3 *db_open(const struct fixture *f)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		fail_msg("%s: %s", f->path, db ? sqlite3_errmsg(db) : "no memory");
	return db;
}

/* Every row of a query on db: columns joined by "|", rows by "\n". */
static const char *q_rows_db(struct fixture *f, sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	strbuf_reset(&f->rows);
	strbuf_appends(&f->rows, "");
	for (int row = 0; sqlite3_step(s) == SQLITE_ROW; row++) {
		if (row)
			strbuf_appendc(&f->rows, '\n');
		for (int c = 0; c < sqlite3_column_count(s); c++) {
			const unsigned char *t = sqlite3_column_text(s, c);

			strbuf_printf(&f->rows, "%s%s", c ? "|" : "", t ? (const char *)t : "NULL");
		}
	}
	sqlite3_finalize(s);
	return f->rows.data;
}

/* The same on a connection of its own. */
static const char *q_rows(struct fixture *f, const char *sql)
{
	sqlite3 *db = db_open(f);
	const char *r = q_rows_db(f, db, sql);

	sqlite3_close(db);
	return r;
}

static long long q_count(struct fixture *f, const char *table)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return atoll(q_rows(f, sql));
}

static struct store *open_ok(struct fixture *f, long busy_ms)
{
	char err[512] = "";
	struct store *st = store_open(f->path, busy_ms, err, sizeof(err));

	if (st == NULL)
		fail_msg("store_open: %s", err);
	return st;
}

static void commit_ok(struct store *st, struct aggregate *a)
{
	char err[512] = "";
	enum store_rc rc = store_commit(st, a, err, sizeof(err));

	if (rc != STORE_OK)
		fail_msg("store_commit: %d: %s", rc, err);
	assert_string_equal(err, "");
}

static long long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000LL + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* ---- tests ---------------------------------------------------------- */

static void test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);

	assert_int_equal(STORE_SCHEMA_VERSION, 4);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	assert_string_equal(q_rows(f, "PRAGMA user_version"), "4");
	assert_string_equal(q_rows(f, "PRAGMA journal_mode"), "wal");
	assert_string_equal(q_rows(f, "SELECT name FROM sqlite_master WHERE type = 'table'"
	    " ORDER BY name"), "delivery\ndomain_counter\nfailure_day\ninput_counter\npolicy_day\nreport\n"
	    "report_mail\nstate\nsts_policy\ntlsrpt_record");
	assert_int_equal(q_count(f, "policy_day"), 0);
	store_close(st);
}

static void collect_qid(void *ctx, const char *queue_id, long long seen)
{
	struct strbuf *sb = ctx;

	strbuf_printf(sb, "%s@%lld;", queue_id, seen);
}

/* The hooks' rows: per-domain counters add up, states and report mails keep the last value. */
static void test_commit_hook_rows(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);
	struct aggregate b;
	struct strbuf sb;
	char *v;

	aggregate_count_domain(&f->agg, DAY2_FIRST, "a.example", "messages", 2);
	aggregate_count_domain(&f->agg, DAY2_FIRST + 60, "a.example", "messages", 3);
	aggregate_count_domain(&f->agg, DAY2_FIRST, "b.example", "messages", 1);
	aggregate_report_mail(&f->agg, DAY2_FIRST, "4XyZ1", "a.example");
	aggregate_set_state(&f->agg, "log:/var/log/mail.log", "one", DAY2_FIRST);
	aggregate_set_state(&f->agg, "log:/var/log/mail.log", "two", DAY2_FIRST + 1);
	assert_int_equal(aggregate_keys(&f->agg), 4);
	/* merging keeps the newer state and sums the counters */
	aggregate_init(&b);
	aggregate_count_domain(&b, DAY2_FIRST, "a.example", "messages", 10);
	aggregate_set_state(&b, "log:/var/log/mail.log", "three", DAY2_FIRST + 2);
	aggregate_merge(&f->agg, &b);
	aggregate_free(&b);
	commit_ok(st, &f->agg);
	aggregate_clear(&f->agg);
	assert_string_equal(q_rows(f, "SELECT day, domain, name, value FROM domain_counter"
	    " ORDER BY domain"), "2024-03-10|a.example|messages|15\n2024-03-10|b.example|messages|1");
	v = store_get_state(st, "log:/var/log/mail.log");
	assert_string_equal(v, "three");
	free(v);
	assert_null(store_get_state(st, "log:/nowhere"));
	/* a second commit adds to counters and replaces the state */
	aggregate_count_domain(&f->agg, DAY2_FIRST, "a.example", "messages", 1);
	aggregate_set_state(&f->agg, "log:/var/log/mail.log", "four", DAY2_FIRST + 3);
	aggregate_report_mail(&f->agg, DAY2_FIRST + 5, "4XyZ1", "a.example");
	commit_ok(st, &f->agg);
	assert_string_equal(q_rows(f, "SELECT value FROM domain_counter WHERE domain = 'a.example'"),
	    "16");
	v = store_get_state(st, "log:/var/log/mail.log");
	assert_string_equal(v, "four");
	free(v);
	strbuf_init(&sb);
	assert_int_equal(store_each_report_mail(st, 0, collect_qid, &sb), 1);
	assert_non_null(sb.data);
	assert_int_equal(strcmp(sb.data, "4XyZ1@0;") != 0, 1);	/* seen was updated */
	assert_int_equal(store_each_report_mail(st, DAY2_FIRST + 6, collect_qid, &sb), 0);
	strbuf_free(&sb);
	/* purge drops old days and old report mails */
	assert_true(store_purge_before(st, "2024-03-11", NULL, 0) >= 2);
	assert_int_equal(q_count(f, "domain_counter"), 0);
	assert_int_equal(q_count(f, "report_mail"), 0);
	store_close(st);
}

static void test_commit_rows(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);

	fill(&f->agg, DAY2_FIRST);
	commit_ok(st, &f->agg);
	assert_int_equal(aggregate_keys(&f->agg), 4);	/* clearing is the caller's job */
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|2|1");
	/* absent failure fields are stored as '' */
	assert_string_equal(q_rows(f, Q_FAILURES),
	    "2024-03-10|205|192.0.2.10|mail.example.net||198.51.100.7||self-signed|1");
	assert_string_equal(q_rows(f, Q_RECORDS),
	    "2024-03-10|example.net|v=TLSRPTv1; rua=mailto:r@example.net");
	assert_string_equal(q_rows(f, Q_COUNTERS), "2024-03-10|dg_ok|3");
	store_close(st);
}

static void test_commit_twice_adds(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);

	fill(&f->agg, DAY2_FIRST);
	commit_ok(st, &f->agg);
	commit_ok(st, &f->agg);
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|4|2");
	assert_string_equal(q_rows(f, Q_FAILURES),
	    "2024-03-10|205|192.0.2.10|mail.example.net||198.51.100.7||self-signed|2");
	assert_string_equal(q_rows(f, Q_COUNTERS), "2024-03-10|dg_ok|6");
	assert_int_equal(q_count(f, "policy_day"), 1);
	assert_int_equal(q_count(f, "failure_day"), 1);
	assert_int_equal(q_count(f, "tlsrpt_record"), 1);
	store_close(st);
}

static void test_commit_record_replaced(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);

	fill(&f->agg, DAY2_FIRST);
	commit_ok(st, &f->agg);
	aggregate_clear(&f->agg);
	add_dg(&f->agg, DAY2_FIRST, "{\"dpv\":\"1\",\"d\":\"example.net\",\"pr\":\"v=TLSRPTv1; "
	    "rua=mailto:new@example.net\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}");
	commit_ok(st, &f->agg);
	assert_string_equal(q_rows(f, Q_RECORDS),
	    "2024-03-10|example.net|v=TLSRPTv1; rua=mailto:new@example.net");
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|2|1\n"
	    "2024-03-10|example.net|9|example.net|[]|[]|1|0");
	store_close(st);
}

static void test_commit_empty(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);
	char err[64] = "untouched";

	assert_int_equal(store_commit(st, &f->agg, err, sizeof(err)), STORE_OK);
	assert_string_equal(err, "untouched");
	assert_int_equal(q_count(f, "policy_day"), 0);
	assert_int_equal(q_count(f, "failure_day"), 0);
	assert_int_equal(q_count(f, "tlsrpt_record"), 0);
	assert_int_equal(q_count(f, "input_counter"), 0);
	store_close(st);
}

static void test_busy_then_commit(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 5000);
	sqlite3 *blocker = db_open(f);
	char err[512] = "", want[512];
	struct timespec t0;

	fill(&f->agg, DAY2_FIRST);
	assert_int_equal(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	store_set_busy_timeout(st, 50);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(store_commit(st, &f->agg, err, sizeof(err)), STORE_BUSY);
	assert_true(ms_since(&t0) >= 45);	/* it did wait for the lock */
	snprintf(want, sizeof(want), "%s: cannot begin a write: database is locked", f->path);
	assert_string_equal(err, want);
	/* nothing written, the aggregate intact */
	assert_string_equal(q_rows_db(f, blocker, "SELECT count(*) FROM policy_day"), "0");
	assert_string_equal(q_rows_db(f, blocker, "SELECT count(*) FROM input_counter"), "0");
	assert_int_equal(aggregate_keys(&f->agg), 4);
	assert_int_equal(((struct agg_policy *)f->agg.policies.head)->successes, 2);
	/* the lock goes away: the same aggregate commits, counted once */
	assert_int_equal(sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(blocker);
	commit_ok(st, &f->agg);
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|2|1");
	assert_string_equal(q_rows(f, Q_COUNTERS), "2024-03-10|dg_ok|3");
	store_close(st);
}

/* A statement failing half-way through a commit leaves no row behind. */
static void test_commit_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);
	sqlite3 *db = db_open(f);
	char err[512] = "", want[512];

	assert_int_equal(sqlite3_exec(db, "DROP TABLE input_counter", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	fill(&f->agg, DAY2_FIRST);
	assert_int_equal(store_commit(st, &f->agg, err, sizeof(err)), STORE_ERROR);
	snprintf(want, sizeof(want), "%s: write failed: no such table: input_counter", f->path);
	assert_string_equal(err, want);
	assert_int_equal(q_count(f, "policy_day"), 0);
	assert_int_equal(q_count(f, "failure_day"), 0);
	assert_int_equal(q_count(f, "tlsrpt_record"), 0);
	assert_int_equal(aggregate_keys(&f->agg), 4);
	store_close(st);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", want[512];
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 5", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(store_open(f->path, 1000, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: store schema version 5 is newer than this program "
	    "supports (4); upgrade tlsrpt-milter", f->path);
	assert_string_equal(err, want);
	assert_non_null(strstr(err, "newer"));
	/* and it was left as it was */
	assert_string_equal(q_rows(f, "PRAGMA user_version"), "5");
	assert_string_equal(q_rows(f, "SELECT count(*) FROM sqlite_master"), "0");
}

static void test_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);

	fill(&f->agg, DAY2_FIRST);
	commit_ok(st, &f->agg);
	store_close(st);
	st = open_ok(f, 1000);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|2|1");
	commit_ok(st, &f->agg);
	store_close(st);
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|4|2");
	assert_string_equal(q_rows(f, Q_COUNTERS), "2024-03-10|dg_ok|6");
}

static void test_purge_before(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);
	char err[256] = "";

	fill(&f->agg, DAY0_NOON);
	fill(&f->agg, DAY1_LAST);
	fill(&f->agg, DAY2_FIRST);
	commit_ok(st, &f->agg);
	assert_int_equal(q_count(f, "policy_day"), 3);
	assert_int_equal(q_count(f, "failure_day"), 3);
	/* 2 policy rows, 2 records, 2 counters; failure rows go by cascade */
	assert_int_equal(store_purge_before(st, "2024-03-10", err, sizeof(err)), 6);
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|2|1");
	assert_string_equal(q_rows(f, Q_FAILURES),
	    "2024-03-10|205|192.0.2.10|mail.example.net||198.51.100.7||self-signed|1");
	assert_int_equal(q_count(f, "failure_day"), 1);
	assert_string_equal(q_rows(f, Q_RECORDS),
	    "2024-03-10|example.net|v=TLSRPTv1; rua=mailto:r@example.net");
	assert_string_equal(q_rows(f, Q_COUNTERS), "2024-03-10|dg_ok|3");
	assert_int_equal(store_purge_before(st, "2024-03-10", err, sizeof(err)), 0);
	assert_int_equal(store_purge_before(st, "2024-03-09", err, sizeof(err)), 0);
	assert_int_equal(q_count(f, "policy_day"), 1);
	assert_string_equal(err, "");
	store_close(st);
}

static void test_open_missing_directory(void **state)
{
	struct fixture *f = *state;
	char path[128], want[512], err[512] = "";

	snprintf(path, sizeof(path), "%s/missing/tlsrpt.db", f->dir);
	assert_null(store_open(path, 1000, err, sizeof(err)));
	snprintf(want, sizeof(want), "cannot open store %s: unable to open database file "
	    "(does its directory exist, and may this user write to it?)", path);
	assert_string_equal(err, want);
}

static void test_open_not_a_database(void **state)
{
	struct fixture *f = *state;
	char want[512], err[512] = "";
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	for (int i = 0; i < 100; i++)
		fputs("this is a text file, not an SQLite database\n", fp);
	fclose(fp);
	assert_null(store_open(f->path, 1000, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: file is not a database", f->path);
	assert_string_equal(err, want);
}

/* A store written by schema version 1 is migrated forward with its data. */
static void test_migrate_from_v1(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db = NULL;
	struct store *st;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	    "CREATE TABLE policy_day (id INTEGER PRIMARY KEY, day TEXT NOT NULL, domain TEXT NOT NULL,"
	    " policy_type INTEGER NOT NULL, policy_domain TEXT NOT NULL, policy_strings TEXT NOT NULL,"
	    " mx_hosts TEXT NOT NULL, successes INTEGER NOT NULL DEFAULT 0,"
	    " failures INTEGER NOT NULL DEFAULT 0, UNIQUE (day, domain, policy_type, policy_domain,"
	    " policy_strings, mx_hosts));"
	    "CREATE TABLE failure_day (policy_id INTEGER NOT NULL, result_type INTEGER NOT NULL,"
	    " sending_ip TEXT NOT NULL, mx_name TEXT NOT NULL, helo TEXT NOT NULL,"
	    " receiving_ip TEXT NOT NULL, additional TEXT NOT NULL, reason TEXT NOT NULL,"
	    " sessions INTEGER NOT NULL, PRIMARY KEY (policy_id, result_type, sending_ip, mx_name,"
	    " helo, receiving_ip, additional, reason)) WITHOUT ROWID;"
	    "CREATE TABLE tlsrpt_record (day TEXT NOT NULL, domain TEXT NOT NULL, record TEXT NOT NULL,"
	    " PRIMARY KEY (day, domain)) WITHOUT ROWID;"
	    "CREATE TABLE input_counter (day TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,"
	    " PRIMARY KEY (day, name)) WITHOUT ROWID;"
	    "INSERT INTO policy_day VALUES (7, '2026-01-02', 'old.example', 9, 'old.example', '[]',"
	    " '[]', 5, 1);"
	    "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = open_ok(f, 1000);
	assert_int_equal(store_schema_version(st), 4);
	assert_string_equal(q_rows(f, "SELECT id, domain, successes, failures FROM policy_day"),
	    "7|old.example|5|1");
	assert_string_equal(q_rows(f, "SELECT count(*) FROM domain_counter"), "0");
	assert_string_equal(q_rows(f, "SELECT count(*) FROM report"), "0");
	store_close(st);
}

/* ---- the path followed ----------------------------------------------- */

static void unlink_suffix(struct fixture *f, const char *suffix)
{
	char name[128];

	snprintf(name, sizeof(name), "%s%s", f->path, suffix);
	assert_int_equal(unlink(name), 0);
}

static void test_follow_deleted(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);
	char err[512] = "", want[512];
	const char *what = "x";

	fill(&f->agg, DAY2_FIRST);
	commit_ok(st, &f->agg);
	assert_null(store_path_changed(st));
	assert_int_equal(store_follow_path(st, &what, err, sizeof(err)), 0);
	assert_null(what);
	unlink_suffix(f, "");
	unlink_suffix(f, "-wal");
	unlink_suffix(f, "-shm");
	assert_string_equal(store_path_changed(st), "deleted");
	/* tlsrpt-report's writes are refused */
	assert_int_equal(store_begin(st, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: the store's files were deleted while this program ran "
	    "(deleted): nothing written; run it again", f->path);
	assert_string_equal(err, want);
	/* the daemon's writer opens the store at the path afresh */
	assert_int_equal(store_follow_path(st, &what, err, sizeof(err)), 1);
	assert_string_equal(what, "deleted");
	assert_null(store_path_changed(st));
	assert_string_equal(q_rows(f, "PRAGMA user_version"), "4");
	assert_int_equal(q_count(f, "policy_day"), 0);
	commit_ok(st, &f->agg);
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|2|1");
	assert_int_equal(store_begin(st, err, sizeof(err)), 0);
	assert_int_equal(store_end(st, err, sizeof(err)), 0);
	store_close(st);
}

static void test_follow_replaced(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);
	char other[128], err[512] = "";
	const char *what = NULL;
	sqlite3 *db;

	fill(&f->agg, DAY2_FIRST);
	commit_ok(st, &f->agg);
	snprintf(other, sizeof(other), "%s/other.db", f->dir);
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE note (t); INSERT INTO note VALUES ('mine')",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(rename(other, f->path), 0);
	assert_string_equal(store_path_changed(st), "replaced");
	assert_int_equal(store_follow_path(st, &what, err, sizeof(err)), 1);
	assert_string_equal(what, "replaced");
	/* the new file got the schema, kept its own table, and takes the commits */
	assert_string_equal(q_rows(f, "SELECT t FROM note"), "mine");
	assert_int_equal(q_count(f, "policy_day"), 0);
	commit_ok(st, &f->agg);
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|2|1");
	store_close(st);
}

/* Only -wal and -shm deleted: the commits in the deleted -wal are copied home first. */
static void test_follow_wal_deleted_saves(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);
	char err[512] = "";
	const char *what = NULL;

	fill(&f->agg, DAY2_FIRST);
	commit_ok(st, &f->agg);
	assert_true(store_wal_bytes(st) > 0);	/* the commit is in the WAL only */
	unlink_suffix(f, "-wal");
	unlink_suffix(f, "-shm");
	assert_string_equal(store_path_changed(st), "wal_deleted");
	assert_int_equal(store_follow_path(st, &what, err, sizeof(err)), 2);
	assert_string_equal(what, "wal_deleted");
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|2|1");
	commit_ok(st, &f->agg);
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|4|2");
	assert_string_equal(q_rows(f, "PRAGMA integrity_check"), "ok");
	store_close(st);
}

static void test_open_fifo_refused(void **state)
{
	struct fixture *f = *state;
	char err[512] = "", want[512];

	assert_int_equal(mkfifo(f->path, 0600), 0);
	assert_null(store_open(f->path, 1000, err, sizeof(err)));
	snprintf(want, sizeof(want), "store %s is a FIFO; store_path must name a regular file "
	    "(or none yet, to create one)", f->path);
	assert_string_equal(err, want);
	unlink(f->path);
}

/* A TRUNCATE checkpoint empties the WAL; while a reader holds it, it cannot (1). */
static void test_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f, 1000);
	char err[512] = "";
	sqlite3 *reader;

	fill(&f->agg, DAY2_FIRST);
	commit_ok(st, &f->agg);
	assert_int_equal(sqlite3_open(f->path, &reader), SQLITE_OK);
	assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM policy_day", NULL, NULL,
	    NULL), SQLITE_OK);
	commit_ok(st, &f->agg);
	assert_int_equal(store_checkpoint(st, err, sizeof(err)), 1);
	assert_true(store_wal_bytes(st) > 0);
	assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(reader);
	assert_int_equal(store_checkpoint(st, err, sizeof(err)), 0);
	assert_int_equal(store_wal_bytes(st), 0);
	assert_string_equal(q_rows(f, Q_POLICIES), POLICY_ROW "|4|2");
	store_close(st);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_creates_schema),
		T(test_commit_hook_rows),
		T(test_commit_rows),
		T(test_commit_twice_adds),
		T(test_commit_record_replaced),
		T(test_commit_empty),
		T(test_busy_then_commit),
		T(test_commit_all_or_nothing),
		T(test_newer_schema_refused),
		T(test_reopen_keeps_data),
		T(test_migrate_from_v1),
		T(test_purge_before),
		T(test_open_missing_directory),
		T(test_open_not_a_database),
		T(test_follow_deleted),
		T(test_follow_replaced),
		T(test_follow_wal_deleted_saves),
		T(test_open_fifo_refused),
		T(test_checkpoint),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
