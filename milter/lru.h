/*
 * NAME
 *	lru - a bounded hash table of records, least recently active first
 * SYNOPSIS
 *	#include "lru.h"
 * DESCRIPTION
 *	The per-process and per-queue-id tables of the log correlators
 *	(postfix_sessions.c, sendmail_log.c).  Intrusive: the caller's
 *	record embeds a struct lru_node, as its first member so that a node
 *	pointer converts back to the record, and owns the memory and the
 *	key bytes.  The table links the nodes into hash buckets by key and
 *	into a list from the least to the most recently active (oldest to
 *	newest); it allocates only its bucket array.
 *
 *	The cap is kept by the caller: before inserting a new record it asks
 *	lru_evictee() for the record to drop (the oldest, once the table
 *	holds cap records), removes it and frees it, counting the loss as it
 *	sees fit.  Records are found by key, moved to the newest end by
 *	lru_touch() and visited oldest first through t->oldest and
 *	node->newer.
 *
 *	Pure: no I/O, no clock; "last" is whatever time the caller passes.
 */
#ifndef TLSRPT_LRU_H
#define TLSRPT_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lru_node {
	const void *key;	/* the caller's bytes; fixed while the node is in a table */
	size_t keylen;
	uint64_t hash;		/* of the key, set by lru_insert() */
	struct lru_node *hnext;	/* the bucket's chain */
	struct lru_node *older, *newer;
	long long last;		/* time of the latest activity (see lru_touch) */
};

struct lru {
	struct lru_node **buckets;
	size_t nbuckets;	/* a power of two */
	size_t count, cap;
	struct lru_node *oldest, *newest;
};

/* An empty table for at most cap records (0 counts as 1). */
void lru_init(struct lru *t, size_t cap);

/* Free the bucket array; the records are the caller's to free first. */
void lru_free(struct lru *t);

/* The record with this key, or NULL; does not count as activity. */
struct lru_node *lru_find(const struct lru *t, const void *key, size_t keylen);

/* Add n (key and keylen set, last as the caller wants it) as the newest. */
void lru_insert(struct lru *t, struct lru_node *n);

/* Take n out of the table (the caller frees it). */
void lru_remove(struct lru *t, struct lru_node *n);

/* Activity of n at "when": n becomes the newest, last the later of the two. */
void lru_touch(struct lru *t, struct lru_node *n, long long when);

/* Whether the table holds cap records. */
bool lru_full(const struct lru *t);

/* The record to drop before an insert (the oldest, when full), or NULL. */
struct lru_node *lru_evictee(const struct lru *t);

#endif
