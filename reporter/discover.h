/*
 * NAME
 *	discover - destinations for reports built without a TLSRPT record
 * DESCRIPTION
 *	When the MTA passed no TLSRPT record (log and milter inputs never
 *	do), a report is built without destinations; before submitting,
 *	"run" looks the domain's record up in the DNS (dns_txt), parses it
 *	strictly and adds one delivery per rua.  No record, several records
 *	or an invalid one: the report is noted and not looked up again.  A
 *	SERVFAIL or time-out leaves it for the next run (RFC 8460 R33).
 */
#ifndef TLSRPT_DISCOVER_H
#define TLSRPT_DISCOVER_H

#include <stddef.h>

#include "conf.h"
#include "store.h"

struct discover_totals {
	unsigned found, none, temporary;
};

int discover_destinations(struct store *st, const struct tlsrpt_conf *conf,
    struct discover_totals *t, char *err, size_t errlen);

#endif
