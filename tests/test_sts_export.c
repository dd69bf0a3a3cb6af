/*
 * Unit tests of milter/sts_export.c: the policy map file's content, its
 * atomic write (mode, modification time set back, no temporary file
 * left), and the rate-limited discovery of seen domains; with a policy
 * map without a socket, its cache loaded from a store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "mta_sts.h"
#include "policymap_input.h"
#include "store.h"
#include "sts_export.h"
#include "util.h"
#include "writer.h"
#include "sts_rows.h"

#define OTHER_TEXT "version: STSv1\nmode: enforce\nmx: mx.other.example\nmax_age: 604800"

#define HEADER "# MTA-STS policies in mode enforce, written by tlsrpt-milter: do not edit,\n" \
	"# the daemon replaces this file.  Postfix: smtp_tls_policy_maps = texthash:<this file>\n"

static const struct sts_row rows[] = {
	{"zeta.example", STS_OK, OTHER_TEXT, 7200, 3600, ""},
	{"enforce.example", STS_OK, ENFORCE_TEXT, 86400, 3600, ""},
	{"expired.example", STS_OK, ENFORCE_TEXT, -10, 3600, ""},
	{"testing.example", STS_OK, TESTING_TEXT, 86400, 3600, ""},
};

struct fixture {
	char dir[64];
	char db[128];
	char map[128];
	struct store *st;
	struct writer *w;
	struct policymap_input *in;
	struct sts_export *x;
	long long now;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct writer_settings ws = {1000, 1000, 100000, 1000};
	char err[256] = "";

	f->now = (long long)time(NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_sts_export-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/tlsrpt.db", f->dir);
	snprintf(f->map, sizeof(f->map), "%s/mta-sts.policy", f->dir);
	f->st = store_open(f->db, 1000, err, sizeof(err));
	if (f->st == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		put_sts_row(f->st, &rows[i], f->now);
	f->in = open_policymap(f->db, "", err, sizeof(err));	/* no socket: the file only */
	if (f->in == NULL)
		return -1;
	f->w = writer_create(f->st, &ws);
	policymap_input_attach(f->in, f->w, f->st);
	f->x = sts_export_new(f->in, f->map, 0640, (gid_t)-1);
	sts_export_attach(f->x, f->w);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	static const char *const suffixes[] = {"/tlsrpt.db", "/tlsrpt.db-wal", "/tlsrpt.db-shm",
	    "/mta-sts.policy"};
	struct fixture *f = *state;
	char p[160];
	int rc;

	sts_export_stop(f->x);
	sts_export_free(f->x);
	policymap_input_stop(f->in);
	policymap_input_close(f->in);
	writer_free(f->w);
	store_close(f->st);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->dir, suffixes[i]);
		unlink(p);
	}
	rc = rmdir(f->dir);	/* fails when a temporary file was left */
	free(f);
	return rc;
}

/* A start removes the temporary files a killed daemon left, and nothing else. */
static void stale_temps(void **state)
{
	static const char *const names[] = {"mta-sts.policy.Ab3dE9", "mta-sts.policy.x1",
	    "mta-sts.policy.bak", "other.policy.Ab3dE9"};
	struct fixture *f = *state;
	char p[200], err[256] = "";
	struct stat st;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		FILE *fp = fopen(p, "w");

		assert_non_null(fp);
		fclose(fp);
	}
	assert_int_equal(sts_export_start(f->x, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		assert_int_equal(stat(p, &st) == 0, i != 0);	/* only the mkostemp() name went */
		unlink(p);
	}
}

/* Sorted by line, only unexpired enforce policies, the value without "OK ". */
static void format_content(void **state)
{
	struct fixture *f = *state;
	struct strbuf sb;
	long long next = 0;

	strbuf_init(&sb);
	assert_int_equal(sts_export_format(f->in, f->now, &sb, &next), 2);
	assert_string_equal(sb.data, HEADER "# 2 domains\n"
	    "enforce.example secure match=mx1.enforce.example:.enforce.net servername=hostname\n"
	    "zeta.example secure match=mx.other.example servername=hostname\n");
	assert_true(next == f->now + 7200);
	/* at zeta's expiry it leaves the file */
	assert_int_equal(sts_export_format(f->in, f->now + 7200, &sb, &next), 1);
	assert_true(next == f->now + 86400);
	strbuf_free(&sb);
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = xcalloc(1, 4096);

	assert_non_null(fp);
	assert_true(fread(buf, 1, 4095, fp) > 0);
	fclose(fp);
	return buf;
}

/* The write: whole, mode, mtime two seconds back, nothing left beside it. */
static void write_file(void **state)
{
	struct fixture *f = *state;
	struct strbuf sb;
	struct stat st;
	char err[256] = "";
	char *got;
	DIR *d;
	struct dirent *de;
	int others = 0;

	strbuf_init(&sb);
	assert_int_equal(sts_export_start(f->x, err, sizeof(err)), 0);
	assert_int_equal(stat(f->map, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_true(st.st_mtime <= (time_t)time(NULL) - 2);
	sts_export_format(f->in, (long long)time(NULL), &sb, NULL);
	got = slurp(f->map);
	assert_string_equal(got, sb.data);
	free(got);
	assert_int_equal(sts_export_counter(f->x, "sts.export_writes"), 1);
	assert_int_equal(sts_export_counter(f->x, "sts.export_errors"), 0);
	d = opendir(f->dir);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "mta-sts.policy.", 15) == 0)
			others++;
	closedir(d);
	assert_int_equal(others, 0);
	strbuf_free(&sb);
}

/* A directory that cannot be written: an error, and the start fails. */
static void write_fails(void **state)
{
	struct fixture *f = *state;
	struct sts_export *bad = sts_export_new(f->in, "/nonexistent-dir/mta-sts.policy", 0644,
	    (gid_t)-1);
	char err[256] = "";

	assert_int_equal(sts_export_start(bad, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot create a file beside /nonexistent-dir/mta-sts.policy"));
	assert_int_equal(sts_export_counter(bad, "sts.export_errors"), 1);
	sts_export_free(bad);
	/* the fixture's exporter is the map's change hook again */
	policymap_set_change_hook(f->in, NULL, NULL);
}

/* Discovery: only due domain names, once while queued. */
static void discover(void **state)
{
	struct fixture *f = *state;

	assert_true(policymap_discover(f->in, "new.example", NULL, NULL));
	assert_false(policymap_discover(f->in, "new.example", NULL, NULL));	/* already queued */
	assert_false(policymap_discover(f->in, "enforce.example", NULL, NULL));	/* not due */
	assert_true(policymap_discover(f->in, "expired.example", NULL, NULL));	/* expired: due */
	assert_false(policymap_discover(f->in, "[192.0.2.1]", NULL, NULL));
	assert_false(policymap_discover(f->in, "localhost", NULL, NULL));
	assert_string_equal(policymap_queue_at(f->in, 0), "new.example");
	assert_string_equal(policymap_queue_at(f->in, 1), "expired.example");
	assert_null(policymap_queue_at(f->in, 2));
}

/* Seen domains: a burst of SEEN_BURST, the rest counted and dropped. */
static void seen_rate_limited(void **state)
{
	struct fixture *f = *state;
	char d[64];
	size_t queued = 0;
	unsigned long long limited;

	for (int i = 0; i < SEEN_BURST + 100; i++) {
		snprintf(d, sizeof(d), "d%d.example", i);
		sts_export_seen(f->x, d);
	}
	sts_export_seen(f->x, "enforce.example");	/* not due: costs nothing */
	while (policymap_queue_at(f->in, queued) != NULL)
		queued++;
	limited = sts_export_counter(f->x, "sts.seen_limited");
	/* tokens refill at SEEN_RATE per second while the loop runs */
	assert_true(queued >= SEEN_BURST && queued <= SEEN_BURST + 5);
	assert_int_equal(limited + queued, SEEN_BURST + 100);	/* not enforce.example */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(format_content, setup, teardown),
		cmocka_unit_test_setup_teardown(write_file, setup, teardown),
		cmocka_unit_test_setup_teardown(stale_temps, setup, teardown),
		cmocka_unit_test_setup_teardown(write_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(discover, setup, teardown),
		cmocka_unit_test_setup_teardown(seen_rate_limited, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
