/*
 * NAME
 *	store_sts - the MTA-STS policy cache rows of the store (table sts_policy)
 * DESCRIPTION
 *	One row per policy domain, as struct sts_cached (mta_sts.h): the
 *	status, the TXT id, the held policy (mode, max_age, the mx patterns
 *	as a JSON array, the policy lines) and the times.  A row without a
 *	policy has mode '', max_age 0, mx '[]' and policy ''.  The rules
 *	that decide what a row holds are sts_cache_update()'s; this file
 *	only reads and writes rows.
 *
 *	store_stmt() slots 22 (upsert) and 23 (get); the listing prepares
 *	its statement per call (it is rare).
 * DIAGNOSTICS
 *	store_sts_put(): err names the store and SQLite's message.  A row
 *	that cannot be understood (an unknown status, a bad mx column) is
 *	an error for store_sts_get() and skipped (not counted) by
 *	store_sts_each().
 */
#include "mta_sts.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_impl.h"
#include "util.h"

#define SQL_STS_PUT	22
#define SQL_STS_GET	23

#define COLUMNS "status, txt_id, mode, max_age, mx, policy, fetched, expires, checked, " \
	"next_try, error"

static const char *const upsert_sql =
	"INSERT INTO sts_policy (domain, " COLUMNS ")"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
	" ON CONFLICT (domain) DO UPDATE SET status = excluded.status,"
	" txt_id = excluded.txt_id, mode = excluded.mode, max_age = excluded.max_age,"
	" mx = excluded.mx, policy = excluded.policy, fetched = excluded.fetched,"
	" expires = excluded.expires, checked = excluded.checked,"
	" next_try = excluded.next_try, error = excluded.error";

static bool has_policy(const struct sts_cached *c)
{
	return c->policy.text != NULL;
}

int store_sts_put(struct store *st, const struct sts_cached *c, char *err, size_t errlen)
{
	sqlite3_stmt *s = store_stmt(st, SQL_STS_PUT, upsert_sql);
	char *mx;
	int rc;

	if (s == NULL) {
		store_set_err(err, errlen, "%s: cannot prepare the sts_policy upsert: %s", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	mx = sts_mx_json(&c->policy);
	sqlite3_bind_text(s, 1, c->domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, sts_status_name(c->status), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, has_policy(c) ? sts_mode_name(c->policy.mode) : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, has_policy(c) ? c->policy.max_age : 0);
	sqlite3_bind_text(s, 6, mx, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, has_policy(c) ? c->policy.text : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 8, c->fetched);
	sqlite3_bind_int64(s, 9, c->expires);
	sqlite3_bind_int64(s, 10, c->checked);
	sqlite3_bind_int64(s, 11, c->next_try);
	sqlite3_bind_text(s, 12, c->error, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		store_set_err(err, errlen, "%s: cannot store the MTA-STS policy of %s: %s", st->path,
		    c->domain, sqlite3_errmsg(st->db));
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	free(mx);
	return rc == SQLITE_DONE ? 0 : -1;
}

static const char *text_col(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t != NULL ? (const char *)t : "";
}

static bool mode_from_name(const char *name, enum sts_mode *m)
{
	if (strcmp(name, "enforce") == 0)
		*m = STS_MODE_ENFORCE;
	else if (strcmp(name, "testing") == 0)
		*m = STS_MODE_TESTING;
	else if (strcmp(name, "none") == 0)
		*m = STS_MODE_NONE;
	else
		return false;
	return true;
}

/* The mx column: a JSON array of strings. */
static bool mx_from_json(const char *text, struct sts_policy *p)
{
	json_t *arr = json_loads(text, 0, NULL);
	size_t i;
	json_t *v;

	if (arr == NULL || !json_is_array(arr)) {
		json_decref(arr);
		return false;
	}
	p->nmx = 0;
	p->mx = json_array_size(arr) ? xcalloc(json_array_size(arr), sizeof(*p->mx)) : NULL;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			json_decref(arr);
			return false;
		}
		p->mx[p->nmx++] = xstrdup(json_string_value(v));
	}
	json_decref(arr);
	return true;
}

/* Columns from "status" on (first_col) into c; false for a row we do not understand. */
static bool row_to_cached(sqlite3_stmt *s, int first_col, struct sts_cached *c)
{
	int k = first_col;
	const char *mode = text_col(s, k + 2), *policy = text_col(s, k + 5);

	if (!sts_status_from_name(text_col(s, k), &c->status))
		return false;
	snprintf(c->id, sizeof(c->id), "%s", text_col(s, k + 1));
	if (*policy != '\0') {
		if (!mode_from_name(mode, &c->policy.mode) || !mx_from_json(text_col(s, k + 4),
		    &c->policy))
			return false;
		c->policy.max_age = sqlite3_column_int64(s, k + 3);
		c->policy.text = xstrdup(policy);
	}
	c->fetched = sqlite3_column_int64(s, k + 6);
	c->expires = sqlite3_column_int64(s, k + 7);
	c->checked = sqlite3_column_int64(s, k + 8);
	c->next_try = sqlite3_column_int64(s, k + 9);
	snprintf(c->error, sizeof(c->error), "%s", text_col(s, k + 10));
	return true;
}

int store_sts_get(struct store *st, const char *domain, struct sts_cached *c)
{
	sqlite3_stmt *s = store_stmt(st, SQL_STS_GET,
	    "SELECT " COLUMNS " FROM sts_policy WHERE domain = ?1");
	int rc, found = -1;

	memset(c, 0, sizeof(*c));
	if (s == NULL)
		return -1;
	snprintf(c->domain, sizeof(c->domain), "%s", domain);
	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		found = 0;
	else if (rc == SQLITE_ROW)
		found = row_to_cached(s, 0, c) ? 1 : -1;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (found != 1) {
		sts_cached_free(c);
		memset(c, 0, sizeof(*c));
		snprintf(c->domain, sizeof(c->domain), "%s", domain);
	}
	return found;
}

long long store_sts_each(struct store *st, void (*cb)(void *ctx, const struct sts_cached *c),
    void *ctx)
{
	sqlite3_stmt *s;
	long long n = 0;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT domain, " COLUMNS " FROM sts_policy ORDER BY domain",
	    -1, &s, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct sts_cached c;

		memset(&c, 0, sizeof(c));
		snprintf(c.domain, sizeof(c.domain), "%s", text_col(s, 0));
		if (row_to_cached(s, 1, &c)) {
			cb(ctx, &c);
			n++;
		}
		sts_cached_free(&c);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : -1;
}
