/*
 * NAME
 *	aggregate - session results summed in memory, keyed like the store
 * DESCRIPTION
 *	An aggregate is what the writer commits in one transaction: per
 *	(UTC day, domain, policy) the success and failure session counts,
 *	per (policy, failure shape) the failed-session count, the latest
 *	TLSRPT record text per (day, domain), and named input counters per
 *	day.  Its size grows with distinct shapes, not with mail volume, so
 *	a busy store can be waited out in memory.
 *
 *	An empty string and an absent value are the same thing here (both
 *	"unknown"), so they aggregate together.  IP addresses and MX names
 *	are made canonical here (RFC 8460 practice R31), once for every
 *	input, so two spellings of one address are one failure shape.
 *
 *	Not thread-safe: each thread owns its aggregates; aggregate_merge()
 *	moves one into another.
 */
#ifndef TLSRPT_AGGREGATE_H
#define TLSRPT_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"

struct agg_policy {
	struct agg_policy *next;	/* hash chain */
	struct agg_policy *list;	/* insertion order, for iteration */
	uint64_t hash;
	char *key;
	size_t keylen;
	char day[11];
	char *domain;
	int type;
	char *policy_domain;
	char *policy_strings;
	char *mx_hosts;
	uint64_t successes;
	uint64_t failures;
	long long store_id;	/* scratch for the store while committing */
	struct agg_policy *merged_into;	/* scratch for aggregate_merge() */
};

struct agg_failure {
	struct agg_failure *next;
	struct agg_failure *list;
	uint64_t hash;
	char *key;
	size_t keylen;
	struct agg_policy *policy;
	int result_type;
	char *sending_ip;
	char *mx_name;
	char *helo;
	char *receiving_ip;
	char *additional;
	char *reason;
	uint64_t count;
};

struct agg_record {
	struct agg_record *next;
	struct agg_record *list;
	uint64_t hash;
	char *key;
	size_t keylen;
	char day[11];
	char *domain;
	char *record;
};

struct agg_counter {
	struct agg_counter *next;
	struct agg_counter *list;
	uint64_t hash;
	char *key;
	size_t keylen;
	char day[11];
	char *name;
	uint64_t value;
};

/* A per-(day, domain) counter such as the milter's "messages". */
struct agg_dcounter {
	struct agg_dcounter *next;
	struct agg_dcounter *list;
	uint64_t hash;
	char *key;
	size_t keylen;
	char day[11];
	char *domain;
	char *name;
	uint64_t value;
};

/* A named value, last set wins: a report mail's queue id, an input's position. */
struct agg_state {
	struct agg_state *next;
	struct agg_state *list;
	uint64_t hash;
	char *key;
	size_t keylen;
	char *name;
	char *value;
	long long when;
};

struct agg_table {
	void **buckets;
	size_t nbuckets;
	size_t count;
	void *head;	/* list of entries, newest first */
};

struct aggregate {
	struct agg_table policies;
	struct agg_table failures;
	struct agg_table records;
	struct agg_table counters;
	struct agg_table dcounters;
	struct agg_table report_mails;	/* agg_state: name = queue id, value = domain */
	struct agg_table states;	/* agg_state */
	uint64_t sessions;	/* session results added */
	uint64_t policy_results;
};

void aggregate_init(struct aggregate *a);
void aggregate_free(struct aggregate *a);	/* frees everything; init again to reuse */
void aggregate_clear(struct aggregate *a);	/* frees the entries, leaves it empty and usable */
int aggregate_empty(const struct aggregate *a);
size_t aggregate_keys(const struct aggregate *a);	/* distinct entries of all kinds */

/* Add one session result.  The session is not modified or kept. */
void aggregate_add_session(struct aggregate *a, const struct tlsrpt_session *s);

/* Add n to the counter "name" of the UTC day of "when". */
void aggregate_count(struct aggregate *a, long long when, const char *name, uint64_t n);

/* Add n to the counter "name" of (UTC day of "when", domain). */
void aggregate_count_domain(struct aggregate *a, long long when, const char *domain,
    const char *name, uint64_t n);

/* Record that queue_id carries our report for domain (RFC 8460 5.3), seen at "when". */
void aggregate_report_mail(struct aggregate *a, long long when, const char *queue_id,
    const char *domain);

/* Set the state "name" (e.g. an input's read position); committed with the counts. */
void aggregate_set_state(struct aggregate *a, const char *name, const char *value, long long when);

/* Move every entry of src into dst (summing counts); src is left empty. */
void aggregate_merge(struct aggregate *dst, struct aggregate *src);

/* Iteration helpers for the store. */
#define AGG_FOREACH(tbl, type, var) \
	for (type *var = (type *)(tbl)->head; var != NULL; var = var->list)

#endif
