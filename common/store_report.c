/*
 * NAME
 *	store_report - the store's report side: reading data for reports,
 *	storing built reports and their deliveries, and named listings
 * DESCRIPTION
 *	See store.h.  Part of the store module: the only other file that
 *	speaks SQL.  Report order is fixed here, in SQL, so that the same
 *	data always gives byte-identical JSON: policies by type, domain,
 *	strings and mx patterns; failures by result type, then receiving MX,
 *	receiving IP, sending IP, HELO, reason and additional information.
 *
 *	A report that was sent to any destination is immutable: rebuilding
 *	it is refused (REPORT_IMMUTABLE), so a receiver never gets two
 *	different reports under one report id.
 */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "util.h"

/* store_stmt() slots of this file */
enum {
	SQL_FAILURES, SQL_POLICIES, SQL_RECORD, SQL_WAS_SENT, SQL_REPORT_ID,
	SQL_UPDATE_REPORT, SQL_DELETE_DELIVERIES, SQL_INSERT_REPORT, SQL_INSERT_DELIVERY,
	SQL_DUE, SQL_DELIVERY_UPDATE, SQL_RETRY, SQL_UNRESOLVED, SQL_RESOLVED, SQL_ADD_DELIVERY,
};

/* A cached statement is reset, not finalized, when its caller is done. */
static void done(sqlite3_stmt *s)
{
	if (s)
		sqlite3_reset(s);
}

static char *col_opt(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return (t && *t) ? xstrdup((const char *)t) : NULL;
}

static char *col_str(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return xstrdup(t ? (const char *)t : "");
}

void report_data_free(struct report_data *rd)
{
	for (size_t i = 0; i < rd->npolicies; i++) {
		struct rd_policy *p = &rd->policies[i];

		for (size_t j = 0; j < p->nfailures; j++)
			failure_free(&p->failures_list[j].detail);
		free(p->failures_list);
		free(p->policy_domain);
		free(p->policy_strings);
		free(p->mx_hosts);
	}
	free(rd->policies);
	free(rd->domain);
	free(rd->record);
	memset(rd, 0, sizeof(*rd));
}

static int load_failures(struct store *st, long long policy_id, struct rd_policy *p)
{
	static const char sql[] =
	    "SELECT result_type, sending_ip, mx_name, helo, receiving_ip, additional, reason,"
	    " sessions FROM failure_day WHERE policy_id = ?1"
	    " ORDER BY result_type, mx_name, receiving_ip, sending_ip, helo, reason, additional";
	sqlite3_stmt *s;
	size_t cap = 0;
	int rc;

	if ((s = store_stmt(st, SQL_FAILURES, sql)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, policy_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct rd_failure *f;

		if (p->nfailures == cap) {
			cap = cap ? cap * 2 : 4;
			p->failures_list = xrealloc(p->failures_list, cap * sizeof(*f));
		}
		f = &p->failures_list[p->nfailures++];
		f->detail.result_type = sqlite3_column_int(s, 0);
		f->detail.sending_ip = col_opt(s, 1);
		f->detail.mx_name = col_opt(s, 2);
		f->detail.helo = col_opt(s, 3);
		f->detail.receiving_ip = col_opt(s, 4);
		f->detail.additional = col_opt(s, 5);
		f->detail.reason = col_opt(s, 6);
		f->sessions = (unsigned long long)sqlite3_column_int64(s, 7);
	}
	done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_load_report_data(struct store *st, const char *day, const char *domain,
    struct report_data *out, char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT id, policy_type, policy_domain, policy_strings, mx_hosts, successes, failures"
	    " FROM policy_day WHERE day = ?1 AND domain = ?2"
	    " ORDER BY policy_type, policy_domain, policy_strings, mx_hosts";
	sqlite3_stmt *s = NULL;
	size_t cap = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->day, sizeof(out->day), "%s", day);
	out->domain = xstrdup(domain);
	/* one read transaction: the policies and their failures agree */
	if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if ((s = store_stmt(st, SQL_POLICIES, sql)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, day, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, domain, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct rd_policy *p;

		if (out->npolicies == cap) {
			cap = cap ? cap * 2 : 4;
			out->policies = xrealloc(out->policies, cap * sizeof(*p));
		}
		p = &out->policies[out->npolicies++];
		memset(p, 0, sizeof(*p));
		p->type = sqlite3_column_int(s, 1);
		p->policy_domain = col_str(s, 2);
		p->policy_strings = col_str(s, 3);
		p->mx_hosts = col_str(s, 4);
		p->successes = (unsigned long long)sqlite3_column_int64(s, 5);
		p->failures = (unsigned long long)sqlite3_column_int64(s, 6);
		if (load_failures(st, sqlite3_column_int64(s, 0), p) != 0)
			goto fail;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	done(s);
	s = store_stmt(st, SQL_RECORD, "SELECT record FROM tlsrpt_record WHERE day = ?1 AND domain = ?2");
	if (s == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, day, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, domain, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		out->record = col_opt(s, 0);
	done(s);
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	return 0;
fail:
	store_set_err(err, errlen, "%s: reading %s %s: %s", st->path, day, domain,
	    sqlite3_errmsg(st->db));
	done(s);
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	report_data_free(out);
	return -1;
}

static long long each_pair(struct store *st, const char *sql, const char *const *params,
    int nparams, void (*cb)(void *, const char *, const char *), void *ctx,
    char *err, size_t errlen)
{
	sqlite3_stmt *s;
	char **pairs = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		store_set_err(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return -1;
	}
	for (int i = 0; i < nparams; i++) {
		if (params[i])
			sqlite3_bind_text(s, i + 1, params[i], -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, i + 1);
	}
	/*
	 * Collect first, call back after: a statement still stepping would pin
	 * this connection to an old WAL snapshot, and the callback's writes
	 * would then fail with SQLITE_BUSY_SNAPSHOT as soon as the daemon
	 * commits - without waiting.
	 */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 64;
			pairs = xrealloc(pairs, cap * sizeof(*pairs));
		}
		pairs[n++] = col_str(s, 0);
		pairs[n++] = col_str(s, 1);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		store_set_err(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
		for (size_t i = 0; i < n; i++)
			free(pairs[i]);
		free(pairs);
		return -1;
	}
	for (size_t i = 0; i < n; i += 2)
		cb(ctx, pairs[i], pairs[i + 1]);
	for (size_t i = 0; i < n; i++)
		free(pairs[i]);
	free(pairs);
	return (long long)(n / 2);
}

long long store_each_unbuilt(struct store *st, const char *before_day, const char *only_day,
    const char *only_domain, void (*cb)(void *ctx, const char *day, const char *domain),
    void *ctx, char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT DISTINCT p.day, p.domain FROM policy_day p"
	    " WHERE p.day < ?1 AND (?2 IS NULL OR p.day = ?2) AND (?3 IS NULL OR p.domain = ?3)"
	    " AND NOT EXISTS (SELECT 1 FROM report r WHERE r.day = p.day AND r.domain = p.domain)"
	    " ORDER BY p.day, p.domain";
	const char *params[] = {before_day, only_day, only_domain};

	return each_pair(st, sql, params, 3, cb, ctx, err, errlen);
}

long long store_each_domain_of_day(struct store *st, const char *day, const char *only_domain,
    void (*cb)(void *ctx, const char *day, const char *domain), void *ctx, char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT DISTINCT day, domain FROM policy_day"
	    " WHERE day = ?1 AND (?2 IS NULL OR domain = ?2) ORDER BY domain";
	const char *params[] = {day, only_domain};

	return each_pair(st, sql, params, 2, cb, ctx, err, errlen);
}

/* Has any destination of this report been sent to?  -1 on error. */
static int report_was_sent(struct store *st, long long id)
{
	sqlite3_stmt *s;
	int rc, sent = 0;

	s = store_stmt(st, SQL_WAS_SENT,
	    "SELECT count(*) FROM delivery WHERE report = ?1 AND state = 'sent'");
	if (s == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		sent = sqlite3_column_int(s, 0) > 0;
	done(s);
	return rc == SQLITE_ROW ? sent : -1;
}

static int exec_bound(struct store *st, int slot, const char *sql, long long id,
    const struct report_put *rp, const char *dest)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, slot, sql)) == NULL)
		return SQLITE_ERROR;
	for (int i = 1; i <= sqlite3_bind_parameter_count(s); i++) {
		const char *name = sqlite3_bind_parameter_name(s, i);

		if (strcmp(name, ":id") == 0)
			sqlite3_bind_int64(s, i, id);
		else if (strcmp(name, ":report_id") == 0)
			sqlite3_bind_text(s, i, rp->report_id, -1, SQLITE_STATIC);
		else if (strcmp(name, ":day") == 0)
			sqlite3_bind_text(s, i, rp->day, -1, SQLITE_STATIC);
		else if (strcmp(name, ":domain") == 0)
			sqlite3_bind_text(s, i, rp->domain, -1, SQLITE_STATIC);
		else if (strcmp(name, ":now") == 0)
			sqlite3_bind_int64(s, i, rp->now);
		else if (strcmp(name, ":json") == 0)
			sqlite3_bind_text(s, i, rp->json, -1, SQLITE_STATIC);
		else if (strcmp(name, ":gzip") == 0)
			sqlite3_bind_blob(s, i, rp->gzip, (int)rp->gzip_len, SQLITE_STATIC);
		else if (strcmp(name, ":record") == 0)
			sqlite3_bind_text(s, i, rp->record, -1, SQLITE_STATIC);
		else if (strcmp(name, ":note") == 0)
			sqlite3_bind_text(s, i, rp->note, -1, SQLITE_STATIC);
		else if (strcmp(name, ":dest") == 0)
			sqlite3_bind_text(s, i, dest, -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(s);
	done(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_report_put(struct store *st, const struct report_put *rp, enum report_put_result *res,
    char *err, size_t errlen)
{
	sqlite3_stmt *s;
	long long id = -1;
	int sent;

	if (store_refuse_moved(st, err, errlen) != 0)
		return -1;
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	s = store_stmt(st, SQL_REPORT_ID, "SELECT id FROM report WHERE day = ?1 AND domain = ?2");
	if (s == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, rp->day, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, rp->domain, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	done(s);

	if (id >= 0) {
		if ((sent = report_was_sent(st, id)) < 0)
			goto fail;
		if (sent) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			*res = REPORT_IMMUTABLE;
			return 0;
		}
		if (exec_bound(st, SQL_UPDATE_REPORT, "UPDATE report SET report_id = :report_id, built_at = :now,"
		    " json = :json, gzip = :gzip, record = :record, note = :note WHERE id = :id",
		    id, rp, NULL) != SQLITE_OK ||
		    exec_bound(st, SQL_DELETE_DELIVERIES, "DELETE FROM delivery WHERE report = :id", id, rp, NULL) != SQLITE_OK)
			goto fail;
		*res = REPORT_REPLACED;
	} else {
		if (exec_bound(st, SQL_INSERT_REPORT, "INSERT INTO report (report_id, day, domain, built_at, json, gzip,"
		    " record, note) VALUES (:report_id, :day, :domain, :now, :json, :gzip, :record, :note)",
		    0, rp, NULL) != SQLITE_OK)
			goto fail;
		id = sqlite3_last_insert_rowid(st->db);
		*res = REPORT_NEW;
	}
	for (size_t i = 0; i < rp->ndestinations; i++)
		if (exec_bound(st, SQL_INSERT_DELIVERY, "INSERT OR IGNORE INTO delivery (report, destination) VALUES (:id, :dest)",
		    id, rp, rp->destinations[i]) != SQLITE_OK)
			goto fail;
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	store_set_err(err, errlen, "%s: storing report %s: %s", st->path, rp->report_id,
	    sqlite3_errmsg(st->db));
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

char *store_report_json(struct store *st, const char *report_id, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	char *json = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT json FROM report WHERE report_id = ?1", -1, &s,
	    NULL) != SQLITE_OK) {
		store_set_err(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return NULL;
	}
	sqlite3_bind_text(s, 1, report_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		json = col_str(s, 0);
	else if (rc == SQLITE_DONE)
		store_set_err(err, errlen, "no report with id %s", report_id);
	else
		store_set_err(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
	sqlite3_finalize(s);
	return json;
}

static const struct {
	const char *name;
	int nparams;
	const char *sql;
} named_queries[] = {
	{"list", 3,
	    "SELECT r.report_id, r.day, r.domain, coalesce(d.destination, '-') AS destination,"
	    " coalesce(d.state, 'no-destination') AS state, coalesce(d.attempts, 0) AS attempts,"
	    " coalesce(d.last_error, r.note) AS note"
	    " FROM report r LEFT JOIN delivery d ON d.report = r.id"
	    " WHERE (?1 IS NULL OR r.day = ?1) AND (?2 IS NULL OR r.domain = ?2)"
	    " AND (?3 IS NULL OR coalesce(d.state, 'no-destination') = ?3)"
	    " ORDER BY r.day, r.domain, d.destination"},
	{"deliveries", 1,
	    "SELECT d.destination, d.state, d.attempts,"
	    " strftime('%Y-%m-%dT%H:%M:%SZ', d.first_attempt, 'unixepoch') AS first_attempt,"
	    " strftime('%Y-%m-%dT%H:%M:%SZ', d.last_attempt, 'unixepoch') AS last_attempt,"
	    " strftime('%Y-%m-%dT%H:%M:%SZ', d.next_try, 'unixepoch') AS next_try, d.last_error"
	    " FROM delivery d JOIN report r ON r.id = d.report WHERE r.report_id = ?1"
	    " ORDER BY d.destination"},
	{"pending", 0,
	    "SELECT r.report_id, r.day, r.domain, d.destination, d.state, d.attempts,"
	    " strftime('%Y-%m-%dT%H:%M:%SZ', d.next_try, 'unixepoch') AS next_try, d.last_error"
	    " FROM delivery d JOIN report r ON r.id = d.report"
	    " WHERE d.state IN ('pending', 'failed-temporary')"
	    " ORDER BY coalesce(d.next_try, 0), r.day, r.domain, d.destination"},
	{"stats-days", 1,
	    "SELECT day, count(DISTINCT domain) AS domains, sum(successes) AS successful,"
	    " sum(failures) AS failed,"
	    " printf('%.2f', 100.0 * sum(failures) / max(1, sum(successes) + sum(failures))) AS failed_pct"
	    " FROM policy_day WHERE day >= ?1 GROUP BY day ORDER BY day"},
	{"stats-results", 1,
	    "SELECT p.day, f.result_type, sum(f.sessions) AS sessions"
	    " FROM failure_day f JOIN policy_day p ON p.id = f.policy_id WHERE p.day >= ?1"
	    " GROUP BY p.day, f.result_type ORDER BY p.day, sessions DESC, f.result_type"},
	{"stats-domains", 1,
	    "SELECT domain, sum(failures) AS failed, sum(successes) AS successful"
	    " FROM policy_day WHERE day >= ?1 GROUP BY domain HAVING sum(failures) > 0"
	    " ORDER BY failed DESC, domain LIMIT 20"},
	{"stats-inputs", 1,
	    "SELECT day, name, value FROM input_counter WHERE day >= ?1 ORDER BY day, name"},
	/* what the milter saw received against what the hooks saw delivered */
	{"stats-coverage", 1,
	    "SELECT day, count(*) AS domains, sum(messages) AS messages,"
	    " sum(messages > 0) AS domains_with_messages, sum(sessions > 0) AS domains_with_sessions,"
	    " sum(messages > 0 AND sessions = 0) AS messages_no_sessions,"
	    " sum(sessions > 0 AND messages = 0) AS sessions_no_messages"
	    " FROM (SELECT day, domain, sum(m) AS messages, sum(s) AS sessions FROM"
	    "  (SELECT day, domain, value AS m, 0 AS s FROM domain_counter"
	    "    WHERE name = 'messages' AND day >= ?1"
	    "   UNION ALL SELECT day, domain, 0, successes + failures FROM policy_day WHERE day >= ?1)"
	    "  GROUP BY day, domain)"
	    " GROUP BY day ORDER BY day"},
	{"stats-coverage-gaps", 1,
	    "SELECT d.domain, sum(d.value) AS messages, min(d.day) AS first_day, max(d.day) AS last_day"
	    " FROM domain_counter d WHERE d.name = 'messages' AND d.day >= ?1"
	    " AND NOT EXISTS (SELECT 1 FROM policy_day p WHERE p.domain = d.domain AND p.day >= ?1)"
	    " GROUP BY d.domain ORDER BY messages DESC, d.domain LIMIT 20"},
};

long long store_query(struct store *st, const char *name, const char *const *params,
    size_t nparams, store_row_cb cb, void *ctx, char *err, size_t errlen)
{
	const char *names[16], *values[16];
	sqlite3_stmt *s;
	long long rows = 0;
	int rc, ncol;

	for (size_t q = 0; q < sizeof(named_queries) / sizeof(named_queries[0]); q++) {
		if (strcmp(named_queries[q].name, name) != 0)
			continue;
		if ((size_t)named_queries[q].nparams != nparams) {
			store_set_err(err, errlen, "query %s takes %d parameters", name,
			    named_queries[q].nparams);
			return -1;
		}
		if (sqlite3_prepare_v2(st->db, named_queries[q].sql, -1, &s, NULL) != SQLITE_OK) {
			store_set_err(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
			return -1;
		}
		for (size_t i = 0; i < nparams; i++) {
			if (params[i])
				sqlite3_bind_text(s, (int)i + 1, params[i], -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(s, (int)i + 1);
		}
		ncol = sqlite3_column_count(s);
		if (ncol > 16)
			ncol = 16;
		for (int c = 0; c < ncol; c++)
			names[c] = sqlite3_column_name(s, c);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			for (int c = 0; c < ncol; c++)
				values[c] = (const char *)sqlite3_column_text(s, c);
			rows++;
			if (cb(ctx, ncol, names, values) != 0)
				break;
		}
		if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
			store_set_err(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
			rows = -1;
		}
		sqlite3_finalize(s);
		return rows;
	}
	store_set_err(err, errlen, "no query named %s", name);
	return -1;
}

void due_deliveries_free(struct due_delivery *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].report_id);
		free(d[i].day);
		free(d[i].domain);
		free(d[i].destination);
		free(d[i].gzip);
	}
	free(d);
}

long long store_due_deliveries(struct store *st, long long now, const char *report_id,
    struct due_delivery **out, char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT r.id, r.report_id, r.day, r.domain, d.destination, d.attempts,"
	    " coalesce(d.first_attempt, 0), r.gzip"
	    " FROM delivery d JOIN report r ON r.id = d.report"
	    " WHERE (d.state = 'pending' OR (d.state = 'failed-temporary' AND d.next_try <= ?1))"
	    " AND (?2 IS NULL OR r.report_id = ?2)"
	    " ORDER BY r.day, r.domain, d.destination";
	struct due_delivery *d = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *s;
	int rc;

	*out = NULL;
	if ((s = store_stmt(st, SQL_DUE, sql)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, now);
	if (report_id)
		sqlite3_bind_text(s, 2, report_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct due_delivery *e;
		int len = sqlite3_column_bytes(s, 7);

		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			d = xrealloc(d, cap * sizeof(*d));
		}
		e = &d[n++];
		e->report = sqlite3_column_int64(s, 0);
		e->report_id = col_str(s, 1);
		e->day = col_str(s, 2);
		e->domain = col_str(s, 3);
		e->destination = col_str(s, 4);
		e->attempts = sqlite3_column_int(s, 5);
		e->first_attempt = sqlite3_column_int64(s, 6);
		e->gzip_len = (size_t)len;
		e->gzip = xmalloc((size_t)len);
		memcpy(e->gzip, sqlite3_column_blob(s, 7), (size_t)len);
	}
	done(s);
	if (rc != SQLITE_DONE) {
		due_deliveries_free(d, n);
		goto fail;
	}
	*out = d;
	return (long long)n;
fail:
	store_set_err(err, errlen, "%s: reading due deliveries: %s", st->path, sqlite3_errmsg(st->db));
	return -1;
}

int store_delivery_update(struct store *st, long long report, const char *destination,
    const struct delivery_update *u, char *err, size_t errlen)
{
	sqlite3_stmt *s = store_stmt(st, SQL_DELIVERY_UPDATE,
	    "UPDATE delivery SET state = ?3, attempts = ?4, first_attempt = ?5, last_attempt = ?6,"
	    " next_try = ?7, last_error = ?8 WHERE report = ?1 AND destination = ?2");
	int rc;

	if (store_refuse_moved(st, err, errlen) != 0)
		return -1;
	if (s == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, report);
	sqlite3_bind_text(s, 2, destination, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, u->state, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, u->attempts);
	sqlite3_bind_int64(s, 5, u->first_attempt);
	sqlite3_bind_int64(s, 6, u->last_attempt);
	if (u->next_try)
		sqlite3_bind_int64(s, 7, u->next_try);
	if (u->error)
		sqlite3_bind_text(s, 8, u->error, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	done(s);
	if (rc == SQLITE_DONE)
		return 0;
fail:
	store_set_err(err, errlen, "%s: recording a delivery: %s", st->path, sqlite3_errmsg(st->db));
	return -1;
}

long long store_retry_now(struct store *st, const char *report_id, long long now,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = store_stmt(st, SQL_RETRY,
	    "UPDATE delivery SET state = 'failed-temporary', next_try = ?1"
	    " WHERE state IN ('failed-temporary', 'failed-permanent', 'gave-up')"
	    " AND report IN (SELECT id FROM report WHERE ?2 IS NULL OR report_id = ?2)");
	int rc;

	if (store_refuse_moved(st, err, errlen) != 0)
		return -1;
	if (s == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, now);
	if (report_id)
		sqlite3_bind_text(s, 2, report_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	done(s);
	if (rc == SQLITE_DONE)
		return sqlite3_changes(st->db);
fail:
	store_set_err(err, errlen, "%s: scheduling a retry: %s", st->path, sqlite3_errmsg(st->db));
	return -1;
}

void unresolved_reports_free(struct unresolved_report *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].report_id);
		free(r[i].domain);
	}
	free(r);
}

long long store_unresolved_reports(struct store *st, struct unresolved_report **out,
    char *err, size_t errlen)
{
	sqlite3_stmt *s = store_stmt(st, SQL_UNRESOLVED,
	    "SELECT id, report_id, domain FROM report WHERE record IS NULL"
	    " AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.report = report.id)"
	    " ORDER BY day, domain");
	struct unresolved_report *r = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	if (s == NULL)
		goto fail;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			r = xrealloc(r, cap * sizeof(*r));
		}
		r[n].report = sqlite3_column_int64(s, 0);
		r[n].report_id = col_str(s, 1);
		r[n].domain = col_str(s, 2);
		n++;
	}
	done(s);
	if (rc != SQLITE_DONE) {
		unresolved_reports_free(r, n);
		goto fail;
	}
	*out = r;
	return (long long)n;
fail:
	store_set_err(err, errlen, "%s: reading reports without a record: %s", st->path,
	    sqlite3_errmsg(st->db));
	return -1;
}

int store_report_resolved(struct store *st, long long report, const char *record,
    const char *note, const char *const *destinations, size_t n, char *err, size_t errlen)
{
	sqlite3_stmt *s;

	if (store_refuse_moved(st, err, errlen) != 0)
		return -1;
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if ((s = store_stmt(st, SQL_RESOLVED, "UPDATE report SET record = ?2, note = ?3 WHERE id = ?1")) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, report);
	sqlite3_bind_text(s, 2, record, -1, SQLITE_STATIC);
	if (note)
		sqlite3_bind_text(s, 3, note, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE) {
		done(s);
		goto fail;
	}
	done(s);
	for (size_t i = 0; i < n; i++) {
		s = store_stmt(st, SQL_ADD_DELIVERY,
		    "INSERT OR IGNORE INTO delivery (report, destination) VALUES (?1, ?2)");
		if (s == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, report);
		sqlite3_bind_text(s, 2, destinations[i], -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE) {
			done(s);
			goto fail;
		}
		done(s);
	}
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	store_set_err(err, errlen, "%s: recording looked-up destinations: %s", st->path,
	    sqlite3_errmsg(st->db));
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

int store_begin(struct store *st, char *err, size_t errlen)
{
	if (store_refuse_moved(st, err, errlen) != 0)
		return -1;
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	store_set_err(err, errlen, "%s: cannot begin a write: %s", st->path, sqlite3_errmsg(st->db));
	return -1;
}

int store_end(struct store *st, char *err, size_t errlen)
{
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	store_set_err(err, errlen, "%s: cannot commit: %s", st->path, sqlite3_errmsg(st->db));
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
