/*
 * NAME
 *	lru - a bounded hash table of records, least recently active first
 * SYNOPSIS
 *	#include "lru.h"
 * DESCRIPTION
 *	See lru.h.  The bucket array is sized once, to the cap rounded up to
 *	a power of two (at least 16, at most 2^20); chains are singly
 *	linked, the activity list doubly.
 */
#include "lru.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void lru_init(struct lru *t, size_t cap)
{
	size_t n = 16;

	memset(t, 0, sizeof(*t));
	t->cap = cap > 0 ? cap : 1;
	while (n < t->cap && n < ((size_t)1 << 20))
		n <<= 1;
	t->buckets = xcalloc(n, sizeof(*t->buckets));
	t->nbuckets = n;
}

void lru_free(struct lru *t)
{
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static struct lru_node **bucket(const struct lru *t, uint64_t hash)
{
	return &t->buckets[hash & (t->nbuckets - 1)];
}

struct lru_node *lru_find(const struct lru *t, const void *key, size_t keylen)
{
	uint64_t h = hash_bytes(key, keylen);
	struct lru_node *n;

	for (n = *bucket(t, h); n != NULL; n = n->hnext)
		if (n->hash == h && n->keylen == keylen && memcmp(n->key, key, keylen) == 0)
			return n;
	return NULL;
}

static void list_unlink(struct lru *t, struct lru_node *n)
{
	if (n->older != NULL)
		n->older->newer = n->newer;
	else
		t->oldest = n->newer;
	if (n->newer != NULL)
		n->newer->older = n->older;
	else
		t->newest = n->older;
	n->older = n->newer = NULL;
}

static void list_append(struct lru *t, struct lru_node *n)
{
	n->older = t->newest;
	n->newer = NULL;
	if (t->newest != NULL)
		t->newest->newer = n;
	else
		t->oldest = n;
	t->newest = n;
}

void lru_insert(struct lru *t, struct lru_node *n)
{
	struct lru_node **b;

	n->hash = hash_bytes(n->key, n->keylen);
	b = bucket(t, n->hash);
	n->hnext = *b;
	*b = n;
	list_append(t, n);
	t->count++;
}

void lru_remove(struct lru *t, struct lru_node *n)
{
	struct lru_node **pp = bucket(t, n->hash);

	while (*pp != n) {
		if (*pp == NULL)
			abort();	/* broken invariant: n is not in t */
		pp = &(*pp)->hnext;
	}
	*pp = n->hnext;
	list_unlink(t, n);
	t->count--;
}

void lru_touch(struct lru *t, struct lru_node *n, long long when)
{
	if (when > n->last)
		n->last = when;
	list_unlink(t, n);
	list_append(t, n);
}

bool lru_full(const struct lru *t)
{
	return t->count >= t->cap;
}

struct lru_node *lru_evictee(const struct lru *t)
{
	return lru_full(t) ? t->oldest : NULL;
}
