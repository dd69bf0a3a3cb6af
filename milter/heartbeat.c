/*
 * NAME
 *	heartbeat - is every thread of tlsrpt-milter making progress?
 * DESCRIPTION
 *	See heartbeat.h.  A fixed table of slots; a slot's deadline is
 *	monotonic ms, 0 for idle, 1 for dead (always past).  Threads write
 *	their own slot's deadline, the watchdog reads all: relaxed atomics
 *	suffice, a stale read is at most one round late.
 */
#include "config.h"

#include "heartbeat.h"

#include <pthread.h>
#include <stdbool.h>

#include "log.h"
#include "util.h"

struct heartbeat {
	const char *name;
	long long deadline;	/* atomic */
	bool used;		/* under lock */
	bool checked;		/* false for the spare slot handed out when full */
};

static struct heartbeat slots[HEARTBEAT_MAX];
static struct heartbeat spare;	/* shared by registrations beyond HEARTBEAT_MAX */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct heartbeat *heartbeat_register(const char *name)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < HEARTBEAT_MAX; i++) {
		if (slots[i].used)
			continue;
		slots[i].name = name;
		__atomic_store_n(&slots[i].deadline, 0, __ATOMIC_RELAXED);
		slots[i].checked = true;
		__atomic_store_n(&slots[i].used, true, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&lock);
		return &slots[i];
	}
	pthread_mutex_unlock(&lock);
	log_msg(LOG_WARNING, "heartbeat_table_full thread=%s (this thread is not watched)", name);
	return &spare;
}

void heartbeat_unregister(struct heartbeat *hb)
{
	if (hb == NULL || hb == &spare)
		return;
	pthread_mutex_lock(&lock);
	__atomic_store_n(&hb->used, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
}

void heartbeat_busy(struct heartbeat *hb, long long bound_ms)
{
	__atomic_store_n(&hb->deadline, monotonic_ms() + bound_ms, __ATOMIC_RELAXED);
}

void heartbeat_idle(struct heartbeat *hb)
{
	__atomic_store_n(&hb->deadline, 0, __ATOMIC_RELAXED);
}

void heartbeat_dead(struct heartbeat *hb)
{
	__atomic_store_n(&hb->deadline, 1, __ATOMIC_RELAXED);
}

const char *heartbeat_overdue(long long now, long long *late_ms)
{
	for (int i = 0; i < HEARTBEAT_MAX; i++) {
		long long d;

		if (!__atomic_load_n(&slots[i].used, __ATOMIC_ACQUIRE) || !slots[i].checked)
			continue;
		d = __atomic_load_n(&slots[i].deadline, __ATOMIC_RELAXED);
		if (d != 0 && now > d) {
			*late_ms = d == 1 ? -1 : now - d;
			return slots[i].name;
		}
	}
	return NULL;
}
