/*
 * NAME
 *	heartbeat - is every thread of tlsrpt-milter making progress?
 * SYNOPSIS
 *	#include "heartbeat.h"
 * DESCRIPTION
 *	The systemd watchdog must stop being pinged when an input or the
 *	writer is stuck, not merely when the whole process is.  Each
 *	thread that must keep going registers a heartbeat and says, as it
 *	goes, by when it will report again:
 *
 *	  heartbeat_busy(hb, ms)	working: back within ms (a bound the
 *					thread knows, e.g. the store's lock
 *					wait plus a margin)
 *	  heartbeat_idle(hb)		waiting for outside input (a socket,
 *					a queue) with no deadline: nobody
 *					waiting on a quiet socket is stuck
 *	  heartbeat_dead(hb)		the thread ended although the daemon
 *					goes on: overdue at once
 *
 *	heartbeat_overdue() names a thread past its deadline.  Every call
 *	is a few atomic operations: threads call them in their loops.  The
 *	registry holds HEARTBEAT_MAX threads; one more gets a heartbeat
 *	that is never checked (and a log line), never a failure.
 */
#ifndef TLSRPT_HEARTBEAT_H
#define TLSRPT_HEARTBEAT_H

#define HEARTBEAT_MAX 64
#define HEARTBEAT_GRACE_MS 10000	/* margin on top of a thread's own bound */

struct heartbeat;

/* Register a thread (name: static text, for log lines); never NULL. */
struct heartbeat *heartbeat_register(const char *name);
void heartbeat_unregister(struct heartbeat *hb);

void heartbeat_busy(struct heartbeat *hb, long long bound_ms);
void heartbeat_idle(struct heartbeat *hb);
void heartbeat_dead(struct heartbeat *hb);

/*
 * The name of a thread past its deadline at monotonic time now (ms) and
 * by how much (*late_ms), or NULL when every thread is on time.
 */
const char *heartbeat_overdue(long long now, long long *late_ms);

#endif
