/*
 * NAME
 *	report_json - build one RFC 8460 report from stored data
 * DESCRIPTION
 *	Pure functions: store data in, JSON text (and its gzip form) out.
 *	The JSON has the shape real receivers parse (Google's): compact,
 *	keys in a fixed order, arrays for policy-string and mx-host, and no
 *	null, empty string or empty array anywhere (unknown optional fields
 *	are omitted).  Same data, same bytes.
 *
 *	Report id: "<YYYY>.<MM>.<DD>T00.00.00Z+<policy-domain>@<submitter>",
 *	unique per (day, policy domain) for one submitter, the same when an
 *	unsent report is rebuilt, and usable as is as the msg-id in a
 *	report mail's Subject (RFC 8460 section 5.3).
 */
#ifndef TLSRPT_REPORT_JSON_H
#define TLSRPT_REPORT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct report_meta {
	const char *organization_name;
	const char *contact_info;
	const char *report_id;
};

/* "YYYY-MM-DD" -> seconds since the epoch at 00:00:00Z; false if not a real date. */
bool report_day_start(const char *day, long long *start);

/* The report id of (day, domain) for a submitter domain. */
void report_id_make(char *buf, size_t len, const char *day, const char *domain,
    const char *submitter);

/* Compact (or indented) JSON text, malloc'd; NULL with err on bad stored data. */
char *report_json_build(const struct report_meta *meta, const struct report_data *rd,
    bool pretty, char *err, size_t errlen);

/*
 * gzip (RFC 1952) of len bytes, malloc'd into *out; 0 on success.  Keeps
 * its deflate state between calls (not thread-safe): report_gzip_end()
 * releases it.
 */
int report_gzip(const char *data, size_t len, unsigned char **out, size_t *outlen);
void report_gzip_end(void);

#endif
