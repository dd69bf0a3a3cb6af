/*
 * NAME
 *	report_mails - the queue ids of our own report messages
 * DESCRIPTION
 *	A chained hash set of queue ids with an age-ordered list beside it:
 *	ids arrive in time order (nearly), so expiry and eviction at the cap
 *	take from the old end of the list.  One mutex; lookups are rare
 *	(one per logged delivery) and cheap.
 */
#include "config.h"

#include "report_mails.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define NBUCKETS 4096	/* power of two */

struct rm_entry {
	struct rm_entry *chain;		/* hash bucket */
	struct rm_entry *newer, *older;	/* age list */
	long long when;
	char id[];
};

struct report_mails {
	pthread_mutex_t lock;
	struct rm_entry *buckets[NBUCKETS];
	struct rm_entry *newest, *oldest;
	unsigned long count;
};

struct report_mails *report_mails_new(void)
{
	struct report_mails *rm = xcalloc(1, sizeof(*rm));

	pthread_mutex_init(&rm->lock, NULL);
	return rm;
}

static struct rm_entry **slot_of(struct report_mails *rm, const char *id)
{
	struct rm_entry **pp = &rm->buckets[hash_bytes(id, strlen(id)) & (NBUCKETS - 1)];

	while (*pp != NULL && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->chain;
	return pp;
}

static void unlink_entry(struct report_mails *rm, struct rm_entry *e)
{
	struct rm_entry **pp = slot_of(rm, e->id);

	*pp = e->chain;
	if (e->newer)
		e->newer->older = e->older;
	else
		rm->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		rm->oldest = e->newer;
	rm->count--;
	free(e);
}

void report_mails_add(struct report_mails *rm, const char *queue_id, long long when)
{
	struct rm_entry *e;
	size_t n;

	if (queue_id == NULL || *queue_id == '\0')
		return;
	pthread_mutex_lock(&rm->lock);
	if (*slot_of(rm, queue_id) == NULL) {
		n = strlen(queue_id);
		e = xcalloc(1, sizeof(*e) + n + 1);
		memcpy(e->id, queue_id, n + 1);
		e->when = when;
		e->chain = NULL;
		*slot_of(rm, queue_id) = e;
		e->older = rm->newest;
		if (rm->newest)
			rm->newest->newer = e;
		rm->newest = e;
		if (rm->oldest == NULL)
			rm->oldest = e;
		if (++rm->count > REPORT_MAILS_MAX)
			unlink_entry(rm, rm->oldest);
	}
	while (rm->oldest != NULL && rm->oldest->when < when - REPORT_MAILS_TTL)
		unlink_entry(rm, rm->oldest);
	pthread_mutex_unlock(&rm->lock);
}

bool report_mails_contains(struct report_mails *rm, const char *queue_id)
{
	bool found;

	if (rm == NULL || queue_id == NULL || *queue_id == '\0')
		return false;
	pthread_mutex_lock(&rm->lock);
	found = *slot_of(rm, queue_id) != NULL;
	pthread_mutex_unlock(&rm->lock);
	return found;
}

void report_mails_expire(struct report_mails *rm, long long before)
{
	pthread_mutex_lock(&rm->lock);
	while (rm->oldest != NULL && rm->oldest->when < before)
		unlink_entry(rm, rm->oldest);
	pthread_mutex_unlock(&rm->lock);
}

unsigned long report_mails_count(struct report_mails *rm)
{
	unsigned long n;

	pthread_mutex_lock(&rm->lock);
	n = rm->count;
	pthread_mutex_unlock(&rm->lock);
	return n;
}

void report_mails_free(struct report_mails *rm)
{
	if (rm == NULL)
		return;
	while (rm->oldest != NULL)
		unlink_entry(rm, rm->oldest);
	pthread_mutex_destroy(&rm->lock);
	free(rm);
}
