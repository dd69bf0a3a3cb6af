/*
 * NAME
 *	sts_export - the MTA-STS policy map file of tlsrpt-milter
 * SYNOPSIS
 *	#include "sts_export.h"
 * DESCRIPTION
 *	Writes the enforce-mode MTA-STS policies of the policy map's cache
 *	(policymap_input.h) into a file that Postfix reads by itself as a
 *	texthash: table (smtp_tls_policy_maps = texthash:PATH), one line
 *	per domain:
 *	    <domain> secure match=<patterns> servername=hostname
 *	the same answer the socketmap would give.  Postfix then never asks
 *	the daemon: a daemon that is stopped, killed, hung or restarting
 *	leaves the last file in place, enforcement goes on with it, and no
 *	lookup can fail or wait.
 *
 *	What it promises:
 *	  - the file is always whole: written to a temporary file in the
 *	    same directory (policy_map_file_mode, policy_map_file_group),
 *	    flushed to disk and renamed over the old one;
 *	  - its modification time is set two seconds back, because Postfix
 *	    re-reads a texthash file that changed within the last second
 *	    after a pause of 0.3 s ("let the file cool down") - a rename
 *	    never shows a half-written file, so that pause would only delay
 *	    mail;
 *	  - it is written at start (before Postfix can need it: a missing
 *	    table makes Postfix defer), then within EXPORT_DELAY_MS of a
 *	    change of the cache, and when an exported policy expires; an
 *	    unchanged content is not written again;
 *	  - it is never removed, not even at a clean stop.
 *	A failed write keeps the previous file (logged, counted).
 *
 *	Postfix reads a texthash: table once per smtp(8) process: a change
 *	takes effect as the processes are replaced (max_idle, 100 s after a
 *	process was last busy, or after max_use, 100 deliveries).
 *
 *	Without lookups nobody tells the daemon which domains are mailed
 *	to: the inputs call sts_export_seen() with the recipient domains
 *	they see (the milter's messages, the datagrams; the log follower's
 *	sessions go through the policy decorator, which queues by itself).
 *	A domain is queued for discovery when it is due; new discoveries
 *	from this path are rate-limited (SEEN_RATE per second, bursts of
 *	SEEN_BURST) so that mail to many fresh domains cannot turn into a
 *	flood of DNS and HTTPS requests; what is dropped is counted and
 *	queued again by a later message.
 *
 *	Counters (policymap batch): sts.export_writes, sts.export_errors,
 *	sts.seen_limited.
 * DIAGNOSTICS
 *	sts_export_written, sts_export_failed, sts_seen_limited.
 * SEE ALSO
 *	policymap_input.h, contrib/postfix/main.cf-mta-sts, tlsrpt.conf(5).
 */
#ifndef TLSRPT_STS_EXPORT_H
#define TLSRPT_STS_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "policymap_input.h"
#include "util.h"
#include "writer.h"

#define EXPORT_DELAY_MS 500	/* a change reaches the file within this (coalesced) */
#define SEEN_RATE 20		/* discoveries per second from sts_export_seen() */
#define SEEN_BURST 200

struct sts_export;

/*
 * An exporter of pm's cache to path (mode; group gid, or (gid_t)-1 for
 * the writer's own).  Registers itself as pm's change hook: call before
 * policymap_input_start().
 */
struct sts_export *sts_export_new(struct policymap_input *pm, const char *path, mode_t mode,
    gid_t group);

/* Register the counters' batch with the writer (before writer_start). */
void sts_export_attach(struct sts_export *x, struct writer *w);

/*
 * Write the file once now (the cache must be loaded: after
 * policymap_input_attach) and start the thread that keeps it current.
 * -1 with err when the first write fails: Postfix would find no table.
 */
int sts_export_start(struct sts_export *x, char *err, size_t errlen);

/* A recipient domain seen by an input (ctx: the exporter).  Thread-safe, never blocks. */
void sts_export_seen(void *ctx, const char *domain);

/* Write what changed since the last write, stop the thread.  The file stays. */
void sts_export_stop(struct sts_export *x);

void sts_export_free(struct sts_export *x);

/* ---- exposed for tests ---- */

/* The file's content for pm's cache at now, into out (reset first). */
size_t sts_export_format(struct policymap_input *pm, long long now, struct strbuf *out,
    long long *next_expiry);

/* One write now, whatever changed; 0, or -1 with err. */
int sts_export_write(struct sts_export *x, char *err, size_t errlen);

unsigned long long sts_export_counter(struct sts_export *x, const char *name);

#endif
