/*
 * NAME
 *	discover - destinations for reports built without a TLSRPT record
 * DESCRIPTION
 *	See discover.h.
 */
#include "discover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_txt.h"
#include "log.h"
#include "tlsrpt_record.h"
#include "util.h"

#define LOOKUP_PARALLEL 32	/* lookups in flight on one resolver channel */

/* A found record: its destinations, or a note saying why there are none. */
static int record_found(struct store *st, const struct unresolved_report *r, const char *text,
    struct discover_totals *t, char *err, size_t errlen)
{
	struct tlsrpt_record rec = {0, NULL};
	const char **dests = NULL;
	char why[512], note[600];
	int rc;

	if (tlsrpt_record_parse(text, &rec, why, sizeof(why)) != 0) {
		snprintf(note, sizeof(note), "invalid TLSRPT record: %s", why);
		t->none++;
		return store_report_resolved(st, r->report, text, note, NULL, 0, err, errlen);
	}
	dests = xcalloc(rec.nrua, sizeof(*dests));
	for (size_t i = 0; i < rec.nrua; i++)
		dests[i] = rec.rua[i].uri;
	rc = store_report_resolved(st, r->report, text, NULL, dests, rec.nrua, err, errlen);
	t->found++;
	free(dests);
	tlsrpt_record_free(&rec);
	return rc;
}

int discover_destinations(struct store *st, const struct tlsrpt_conf *conf,
    struct discover_totals *t, char *err, size_t errlen)
{
	struct unresolved_report *r = NULL;
	struct tlsrpt_lookup *l;
	long long n;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if ((n = store_unresolved_reports(st, &r, err, errlen)) <= 0)
		return n < 0 ? -1 : 0;
	l = xcalloc((size_t)n, sizeof(*l));
	for (long long i = 0; i < n; i++)
		l[i].domain = r[i].domain;
	if (tlsrpt_lookup_all(l, (size_t)n, *conf->resolver ? conf->resolver : NULL,
	    LOOKUP_PARALLEL, (long)conf->dns_timeout_ms, err, errlen) != 0) {
		rc = -1;
		goto out;
	}
	for (long long i = 0; i < n && rc == 0; i++) {
		switch (l[i].status) {
		case LOOKUP_FOUND:
			rc = record_found(st, &r[i], l[i].text, t, err, errlen);
			break;
		case LOOKUP_NONE:
		case LOOKUP_MULTIPLE:
			t->none++;
			rc = store_report_resolved(st, r[i].report, "", l[i].error, NULL, 0, err, errlen);
			break;
		case LOOKUP_TEMPORARY:
			t->temporary++;
			log_msg(LOG_WARNING, "lookup_deferred report_id=%s domain=%s error=\"%s\" "
			    "(looked up again at the next run)", r[i].report_id, r[i].domain, l[i].error);
			break;
		}
	}
out:
	tlsrpt_lookup_free(l, (size_t)n);
	free(l);
	unresolved_reports_free(r, (size_t)n);
	return rc;
}
