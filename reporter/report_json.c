/*
 * NAME
 *	report_json - build one RFC 8460 report from stored data
 * DESCRIPTION
 *	See report_json.h and ../shared/spec/rfc8460-checklist.md (R10-R16,
 *	R28, R29).  Jansson keeps object keys in insertion order, which is
 *	what makes the output deterministic.  Addresses and names arrive
 *	canonical (R31): the aggregate makes them so for every input.
 */
#include "report_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "session.h"
#include "util.h"

bool report_day_start(const char *day, long long *start)
{
	struct tm tm;
	char back[11];
	int y, m, d;
	time_t t;

	if (strlen(day) != 10 || sscanf(day, "%4d-%2d-%2d", &y, &m, &d) != 3 ||
	    day[4] != '-' || day[7] != '-')
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	utc_day((long long)t, back);	/* rejects 2026-02-30 and the like */
	if (strcmp(back, day) != 0)
		return false;
	*start = (long long)t;
	return true;
}

void report_id_make(char *buf, size_t len, const char *day, const char *domain,
    const char *submitter)
{
	snprintf(buf, len, "%.4s.%.2s.%.2sT00.00.00Z+%s@%s", day, day + 5, day + 8, domain,
	    submitter);
}

static void set_opt(json_t *obj, const char *key, const char *value)
{
	if (value && *value)
		json_object_set_new(obj, key, json_string(value));
}

/* A stored JSON array of strings; NULL when it is empty (R28: omit it). */
static json_t *string_array(const char *text, const char *what, char *err, size_t errlen,
    bool *bad)
{
	json_error_t je;
	json_t *a = json_loads(text, 0, &je);
	size_t i;
	json_t *el;

	if (a == NULL || !json_is_array(a)) {
		snprintf(err, errlen, "stored %s is not a JSON array: %s", what, text);
		json_decref(a);
		*bad = true;
		return NULL;
	}
	json_array_foreach(a, i, el) {
		if (!json_is_string(el)) {
			snprintf(err, errlen, "stored %s has a non-string element", what);
			json_decref(a);
			*bad = true;
			return NULL;
		}
	}
	if (json_array_size(a) == 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *failure_json(const struct rd_failure *rf)
{
	const struct tlsrpt_failure *f = &rf->detail;
	json_t *o = json_object();

	json_object_set_new(o, "result-type", json_string(result_type_name(f->result_type)));
	set_opt(o, "sending-mta-ip", f->sending_ip);
	set_opt(o, "receiving-mx-hostname", f->mx_name);
	set_opt(o, "receiving-mx-helo", f->helo);
	set_opt(o, "receiving-ip", f->receiving_ip);
	json_object_set_new(o, "failed-session-count", json_integer((json_int_t)rf->sessions));
	set_opt(o, "additional-information", f->additional);
	set_opt(o, "failure-reason-code", f->reason);
	return o;
}

/* The failure-details array, or NULL when there is nothing to report. */
static json_t *details_json(const struct rd_policy *p)
{
	json_t *details = NULL;

	for (size_t i = 0; i < p->nfailures; i++) {
		/* a code we cannot name must not reach a report */
		if (result_type_name(p->failures_list[i].detail.result_type) == NULL)
			continue;
		if (details == NULL)
			details = json_array();
		json_array_append_new(details, failure_json(&p->failures_list[i]));
	}
	return details;
}

static json_t *policy_json(const struct rd_policy *p, const char *domain, char *err,
    size_t errlen)
{
	json_t *entry = json_object(), *pol = json_object(), *sum = json_object();
	json_t *strings, *mx, *details;
	bool bad = false;

	json_object_set_new(pol, "policy-type", json_string(policy_type_name(p->type)));
	strings = string_array(p->policy_strings, "policy-string", err, errlen, &bad);
	if (strings)
		json_object_set_new(pol, "policy-string", strings);
	/* R11: always present; the report's domain when none was stored */
	json_object_set_new(pol, "policy-domain", json_string(p->policy_domain && *p->policy_domain ?
	    p->policy_domain : domain));
	mx = string_array(p->mx_hosts, "mx-host", err, errlen, &bad);
	if (mx)
		json_object_set_new(pol, "mx-host", mx);
	json_object_set_new(entry, "policy", pol);
	json_object_set_new(sum, "total-successful-session-count", json_integer((json_int_t)p->successes));
	json_object_set_new(sum, "total-failure-session-count", json_integer((json_int_t)p->failures));
	json_object_set_new(entry, "summary", sum);
	details = details_json(p);
	if (details)
		json_object_set_new(entry, "failure-details", details);
	if (bad || policy_type_name(p->type) == NULL) {
		if (!bad)
			snprintf(err, errlen, "stored policy type %d is unknown", p->type);
		json_decref(entry);
		return NULL;
	}
	return entry;
}

char *report_json_build(const struct report_meta *meta, const struct report_data *rd,
    bool pretty, char *err, size_t errlen)
{
	json_t *root, *range, *pols;
	char start[32], end[32];
	long long t0;
	char *text;

	if (!report_day_start(rd->day, &t0)) {
		snprintf(err, errlen, "not a day: %s", rd->day);
		return NULL;
	}
	snprintf(start, sizeof(start), "%sT00:00:00Z", rd->day);
	snprintf(end, sizeof(end), "%sT23:59:59Z", rd->day);
	root = json_object();
	json_object_set_new(root, "organization-name", json_string(meta->organization_name));
	range = json_object();
	json_object_set_new(range, "start-datetime", json_string(start));
	json_object_set_new(range, "end-datetime", json_string(end));
	json_object_set_new(root, "date-range", range);
	json_object_set_new(root, "contact-info", json_string(meta->contact_info));
	json_object_set_new(root, "report-id", json_string(meta->report_id));
	pols = json_array();
	for (size_t i = 0; i < rd->npolicies; i++) {
		json_t *p = policy_json(&rd->policies[i], rd->domain, err, errlen);

		if (p == NULL) {
			json_decref(pols);
			json_decref(root);
			return NULL;
		}
		json_array_append_new(pols, p);
	}
	json_object_set_new(root, "policies", pols);
	text = json_dumps(root, pretty ? JSON_INDENT(2) : JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		snprintf(err, errlen, "cannot encode the report (invalid UTF-8 in stored data?)");
	return text;
}

/*
 * One deflate state, reset per report: setting one up costs more than
 * compressing a typical report (a quarter megabyte allocated and zeroed).
 * Not thread-safe; tlsrpt-report builds one report at a time.
 */
static z_stream gz_stream;
static bool gz_ready;

int report_gzip(const char *data, size_t len, unsigned char **out, size_t *outlen)
{
	size_t cap = compressBound((uLong)len) + 64;
	int rc;

	if (!gz_ready) {
		/* windowBits 15 + 16: a gzip wrapper, with mtime 0 so the bytes are reproducible */
		if (deflateInit2(&gz_stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
		    Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		gz_ready = true;
	} else if (deflateReset(&gz_stream) != Z_OK) {
		return -1;
	}
	*out = xmalloc(cap);
	gz_stream.next_in = (Bytef *)(uintptr_t)data;
	gz_stream.avail_in = (uInt)len;
	gz_stream.next_out = *out;
	gz_stream.avail_out = (uInt)cap;
	rc = deflate(&gz_stream, Z_FINISH);
	*outlen = gz_stream.total_out;
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

void report_gzip_end(void)
{
	if (gz_ready)
		deflateEnd(&gz_stream);
	gz_ready = false;
}
