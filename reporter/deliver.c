/*
 * NAME
 *	deliver - submit due reports to their destinations and keep score
 * DESCRIPTION
 *	See deliver.h.  A destination URI is re-read with the TLSRPT record
 *	parser, so a destination is checked by the same strict rules at
 *	delivery as when the report was built.
 */
#include "deliver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkim.h"
#include "log.h"
#include "report_json.h"
#include "submit_https.h"
#include "submit_mail.h"
#include "tlsrpt_record.h"
#include "util.h"

struct delivery_update deliver_failure_update(bool permanent, int attempts,
    long long first_attempt, long long now, long long retry_interval_s,
    long long give_up_after_s, const char *error)
{
	struct delivery_update u;
	long long wait = retry_interval_s;

	memset(&u, 0, sizeof(u));
	u.attempts = attempts + 1;
	u.first_attempt = first_attempt ? first_attempt : now;
	u.last_attempt = now;
	u.error = error;
	if (permanent) {
		u.state = "failed-permanent";
		return u;
	}
	if (now - u.first_attempt >= give_up_after_s) {
		u.state = "gave-up";
		return u;
	}
	/* retry_interval, doubled per further failure; the last try falls at
	 * the end of the give-up window */
	for (int i = 1; i < u.attempts && wait < give_up_after_s; i++)
		wait *= 2;
	if (now + wait > u.first_attempt + give_up_after_s)
		wait = u.first_attempt + give_up_after_s - now;
	u.state = "failed-temporary";
	u.next_try = now + wait;
	return u;
}

/* The scheme and target of one stored destination URI. */
static int parse_destination(const char *uri, struct tlsrpt_record *rec, char *err, size_t errlen)
{
	struct strbuf sb;
	int rc;

	strbuf_init(&sb);
	strbuf_printf(&sb, "v=TLSRPTv1; rua=%s", uri);
	rc = tlsrpt_record_parse(sb.data, rec, err, errlen);
	strbuf_free(&sb);
	if (rc == 0 && rec->nrua != 1) {
		snprintf(err, errlen, "not one destination: %s", uri);
		tlsrpt_record_free(rec);
		return -1;
	}
	return rc;
}

struct run {
	struct store *st;
	const struct tlsrpt_conf *conf;
	const char *submitter;
	long long now;
	struct table *out;
	struct deliver_totals *t;
	struct dkim_signer *dkim;
	char *from;
	char **sendmail_argv;
	bool sendmail_hung;		/* killed at the time-out: no more mail this run */
	unsigned unrecorded_sent;	/* sent, but the store did not take it: would be sent again */
	/* the updates of a grouped transaction, replayed one by one if it fails */
	struct pending_update {
		long long report;
		const char *destination;
		struct delivery_update u;
		char error[256];
	} *held;
	size_t nheld, capheld;
	bool holding;
};

static void record(struct run *r, const struct due_delivery *d, bool ok, bool permanent,
    const char *error)
{
	static const char *const names[] = {"report_id", "destination", "result", "attempt", "detail"};
	struct delivery_update u;
	char attempt[24], msg[512];
	const char *values[5];

	if (ok) {
		memset(&u, 0, sizeof(u));
		u.state = "sent";
		u.attempts = d->attempts + 1;
		u.first_attempt = d->first_attempt ? d->first_attempt : r->now;
		u.last_attempt = r->now;
		r->t->sent++;
	} else {
		u = deliver_failure_update(permanent, d->attempts, d->first_attempt, r->now,
		    r->conf->retry_interval_ms / 1000, r->conf->give_up_after_ms / 1000, error);
		if (strcmp(u.state, "gave-up") == 0)
			r->t->gave_up++;
		else if (permanent)
			r->t->permanent++;
		else
			r->t->temporary++;
	}
	if (r->holding) {
		struct pending_update *h;

		if (r->nheld == r->capheld) {
			r->capheld = r->capheld ? r->capheld * 2 : 64;
			r->held = xrealloc(r->held, r->capheld * sizeof(*r->held));
		}
		h = &r->held[r->nheld++];
		h->report = d->report;
		h->destination = d->destination;
		h->u = u;
		/* the array may move: the error text is pointed at when replayed */
		snprintf(h->error, sizeof(h->error), "%s", u.error ? u.error : "");
		h->u.error = NULL;
	}
	if (store_delivery_update(r->st, d->report, d->destination, &u, msg, sizeof(msg)) != 0) {
		log_msg(LOG_ERR, "delivery_not_recorded report_id=%s destination=%s state=%s "
		    "error=\"%s\"", d->report_id, d->destination, u.state, msg);
		if (ok)
			r->unrecorded_sent++;
	}
	log_msg(ok ? LOG_INFO : LOG_WARNING, "delivery report_id=%s destination=%s state=%s "
	    "attempt=%d%s%s%s", d->report_id, d->destination, u.state, u.attempts,
	    error ? " error=\"" : "", error ? error : "", error ? "\"" : "");
	snprintf(attempt, sizeof(attempt), "%d", u.attempts);
	values[0] = d->report_id;
	values[1] = d->destination;
	values[2] = u.state;
	values[3] = attempt;
	values[4] = error ? error : (u.next_try ? "" : "-");
	table_add_row(r->out, 5, names, values);
}

/* Not tried: the sendmail command hung earlier in this run.  Stays due. */
static void defer_mail(struct run *r, const struct due_delivery *d)
{
	static const char *const names[] = {"report_id", "destination", "result", "attempt", "detail"};
	const char *values[5];
	char attempt[24];

	r->t->deferred++;
	log_msg(LOG_WARNING, "delivery_deferred report_id=%s destination=%s (not tried: the "
	    "sendmail command timed out earlier in this run; due again at the next run)",
	    d->report_id, d->destination);
	snprintf(attempt, sizeof(attempt), "%d", d->attempts);
	values[0] = d->report_id;
	values[1] = d->destination;
	values[2] = "deferred";
	values[3] = attempt;
	values[4] = "not tried: the sendmail command timed out earlier in this run";
	table_add_row(r->out, 5, names, values);
}

static void deliver_mail(struct run *r, const struct due_delivery *d, const char *rcpt)
{
	struct report_mail m;
	static const char *const signed_headers[] = {"From", "To", "Subject", "Date",
	    "Message-ID", "MIME-Version", "Content-Type", "TLS-Report-Domain",
	    "TLS-Report-Submitter", "TLS-Required"};
	char err[512];
	char *msg, *sig = NULL;
	struct strbuf full;
	long long start;
	int rc;

	if (r->sendmail_hung) {
		defer_mail(r, d);
		return;
	}
	memset(&m, 0, sizeof(m));
	report_day_start(d->day, &start);
	m.from = r->from;
	m.to = rcpt;
	m.policy_domain = d->domain;
	m.submitter = r->submitter;
	m.report_id = d->report_id;
	m.organization_name = r->conf->organization_name;
	m.day_start = start;
	m.gzip = d->gzip;
	m.gzip_len = d->gzip_len;
	m.now = r->now;
	if ((msg = report_mail_build(&m, err, sizeof(err))) == NULL) {
		record(r, d, false, true, err);
		return;
	}
	strbuf_init(&full);
	if (r->dkim) {
		sig = dkim_sign(r->dkim, msg, strlen(msg), signed_headers,
		    sizeof(signed_headers) / sizeof(signed_headers[0]), r->now, err, sizeof(err));
		if (sig == NULL) {
			record(r, d, false, false, err);
			free(msg);
			return;
		}
		strbuf_appends(&full, sig);
	}
	strbuf_appends(&full, msg);
	rc = report_mail_sendmail((const char *const *)r->sendmail_argv, r->from, rcpt,
	    full.data, full.len, (int)(r->conf->sendmail_timeout_ms / 1000), err, sizeof(err));
	record(r, d, rc == 0, false, rc == 0 ? NULL : err);
	if (rc == -2) {
		r->sendmail_hung = true;
		log_msg(LOG_ERR, "sendmail_timeout command=\"%s\" timeout_s=%lld (killed; no more "
		    "report mail is handed to it in this run)", r->sendmail_argv[0],
		    r->conf->sendmail_timeout_ms / 1000);
	}
	strbuf_free(&full);
	free(sig);
	free(msg);
}

/* Split sendmail_command at blanks; no shell, no quoting. */
static char **split_command(const char *cmd)
{
	char **argv = xcalloc(strlen(cmd) / 2 + 2, sizeof(*argv));
	size_t n = 0;

	for (const char *p = cmd; *p;) {
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		len = strcspn(p, " \t");
		if (len)
			argv[n++] = xstrndup(p, len);
		p += len;
	}
	argv[n] = NULL;
	return argv;
}

static void free_argv(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

static int run_setup(struct run *r, char *err, size_t errlen)
{
	const struct tlsrpt_conf *c = r->conf;

	r->from = *c->report_from ? xstrdup(c->report_from) : NULL;
	if (r->from == NULL) {
		struct strbuf sb;

		strbuf_init(&sb);
		strbuf_printf(&sb, "noreply-tlsrpt@%s", r->submitter);
		r->from = sb.data;
	}
	r->sendmail_argv = split_command(c->sendmail_command);
	if (r->sendmail_argv[0] == NULL || r->sendmail_argv[0][0] != '/') {
		snprintf(err, errlen, "%s: sendmail_command must start with an absolute path", c->path);
		return -1;
	}
	if (*c->dkim_key_file) {
		if (*c->dkim_selector == '\0') {
			snprintf(err, errlen, "%s: dkim_key_file is set but dkim_selector is not", c->path);
			return -1;
		}
		r->dkim = dkim_signer_load(c->dkim_key_file,
		    *c->dkim_domain ? c->dkim_domain : r->submitter, c->dkim_selector, err, errlen);
		if (r->dkim == NULL)
			return -1;
	}
	return 0;
}

int deliver_due(struct store *st, const struct tlsrpt_conf *conf, const char *submitter,
    long long now, const char *report_id, struct table *out, struct deliver_totals *t,
    char *err, size_t errlen)
{
	struct run r;
	struct https_options ho;
	struct due_delivery *due = NULL;
	struct https_job *jobs = NULL;
	size_t *job_of = NULL, njobs = 0;
	long long n = 0;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.st = st;
	r.conf = conf;
	r.submitter = submitter;
	r.now = now;
	r.out = out;
	r.t = t;
	if (run_setup(&r, err, errlen) != 0)
		goto out;	/* -1: the configuration */
	rc = -2;		/* from here on: the store or the run itself */
	if ((n = store_due_deliveries(st, now, report_id, &due, err, errlen)) < 0)
		goto out;
	jobs = xcalloc((size_t)n + 1, sizeof(*jobs));
	job_of = xcalloc((size_t)n + 1, sizeof(*job_of));
	for (long long i = 0; i < n; i++) {
		struct tlsrpt_record rec = {0, NULL};
		char why[512];

		if (parse_destination(due[i].destination, &rec, why, sizeof(why)) != 0) {
			record(&r, &due[i], false, true, why);
			continue;
		}
		if (rec.rua[0].scheme == RUA_MAILTO) {
			deliver_mail(&r, &due[i], rec.rua[0].target);
		} else {
			jobs[njobs].url = xstrdup(rec.rua[0].target);
			jobs[njobs].body = due[i].gzip;
			jobs[njobs].body_len = due[i].gzip_len;
			job_of[njobs++] = (size_t)i;
		}
		tlsrpt_record_free(&rec);
	}
	if (njobs) {
		memset(&ho, 0, sizeof(ho));
		ho.connect_timeout_ms = conf->https_timeout_ms < 10000 ? conf->https_timeout_ms : 10000;
		ho.total_timeout_ms = conf->https_timeout_ms;
		ho.max_response = 65536;
		ho.allow_private = conf->https_allow_private != 0;
		ho.ca_file = *conf->https_ca_file ? conf->https_ca_file : NULL;
		ho.max_parallel = 16;
		ho.resolver = *conf->resolver ? conf->resolver : NULL;
		ho.dns_timeout_ms = conf->dns_timeout_ms;
		if (https_post_all(jobs, njobs, &ho) != 0) {
			snprintf(err, errlen, "cannot start HTTPS submission (libcurl)");
			goto out;
		}
		/* all posts are done: record them in one short transaction (if it
		 * cannot be had, each update commits on its own) */
		bool grouped = store_begin(st, err, errlen) == 0;

		r.holding = grouped;
		for (size_t j = 0; j < njobs; j++)
			record(&r, &due[job_of[j]], jobs[j].result == HTTPS_DELIVERED,
			    jobs[j].result == HTTPS_PERMANENT,
			    jobs[j].result == HTTPS_DELIVERED ? NULL : jobs[j].error);
		r.holding = false;
		if (grouped && store_end(st, err, errlen) != 0) {
			/* rolled back: write them one by one rather than lose them */
			log_msg(LOG_WARNING, "delivery_batch_not_committed error=\"%s\" (recording "
			    "one by one)", err);
			r.unrecorded_sent = 0;
			for (size_t h = 0; h < r.nheld; h++) {
				struct delivery_update u = r.held[h].u;

				u.error = r.held[h].error[0] ? r.held[h].error : NULL;
				if (store_delivery_update(st, r.held[h].report, r.held[h].destination,
				    &u, err, errlen) != 0 && strcmp(u.state, "sent") == 0)
					r.unrecorded_sent++;
			}
		}
	}
	if (r.unrecorded_sent) {
		snprintf(err, errlen, "%u deliveries were sent but could not be recorded in the "
		    "store; they will be sent again", r.unrecorded_sent);
		goto out;
	}
	rc = 0;
out:
	for (size_t j = 0; j < njobs; j++)
		free((char *)jobs[j].url);
	free(jobs);
	free(job_of);
	if (due)
		due_deliveries_free(due, (size_t)(n > 0 ? n : 0));
	dkim_signer_free(r.dkim);
	free(r.from);
	free(r.held);
	free_argv(r.sendmail_argv);
	return rc;
}
