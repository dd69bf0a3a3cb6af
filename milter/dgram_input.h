/*
 * NAME
 *	dgram_input - the libtlsrpt datagram socket input of tlsrpt-milter
 * DESCRIPTION
 *	Binds the unix datagram socket that Postfix's libtlsrpt sends to
 *	(as root, before privileges are dropped), sets its owner, group,
 *	mode and a large receive buffer.  One reader thread does nothing but
 *	copy datagrams out of the kernel (recvmmsg) into chunks on a bounded
 *	in-memory queue (when it is full the reader pauses, so the kernel
 *	queue pushes back on senders; nothing read is thrown away): the kernel queues only net.unix.max_dgram_qlen
 *	datagrams per socket (10 unless raised), and libtlsrpt sends
 *	non-blocking, so every microsecond the socket is not read risks a
 *	lost datagram.  Parser threads take chunks, run dg_parse() and add
 *	the results to their input_batch; parsing never happens on the
 *	reader's or the writer's thread.
 *
 *	Stopping refuses, then drains: after dgram_input_stop() the reader
 *	shuts the socket down for reading (senders get EPIPE from then on),
 *	reads until the kernel queue is empty and closes the in-memory
 *	queue; the parsers finish every chunk, so everything the kernel
 *	accepted is counted.  A socket systemd passed is not shut down (it
 *	outlives us): what arrives after the drain waits for the next start.
 */
#ifndef TLSRPT_DGRAM_INPUT_H
#define TLSRPT_DGRAM_INPUT_H

#include <sys/types.h>

#include "conf.h"
#include "writer.h"

struct dgram_input;

/* Bind and prepare the socket; NULL with err on failure.  No threads yet. */
struct dgram_input *dgram_input_open(const struct tlsrpt_conf *conf, uid_t owner, gid_t group,
    char *err, size_t errlen);

/* Register the reader's and each parser's batch with the writer (before writer_start). */
void dgram_input_attach(struct dgram_input *in, struct writer *w, int nthreads,
    long long max_size, long long queue_limit);

/*
 * fn (from the parser threads, concurrently) for the policy domain of
 * each accepted session: the policy map file discovers its MTA-STS
 * policy (sts_export_seen).  Set before dgram_input_start().
 */
void dgram_input_set_seen(struct dgram_input *in, void (*fn)(void *ctx, const char *domain),
    void *ctx);

/* Start the reader and parser threads. */
int dgram_input_start(struct dgram_input *in);

/* Ask the receivers to drain and finish, and wait for them. */
void dgram_input_stop(struct dgram_input *in);

/* True when the reader ended on an error rather than on a stop request. */
bool dgram_input_failed(struct dgram_input *in);

/* Close the socket and remove its path. */
void dgram_input_close(struct dgram_input *in);

#endif
