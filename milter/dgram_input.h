/*
 * NAME
 *	dgram_input - the libtlsrpt datagram socket input of tlsrpt-milter
 * DESCRIPTION
 *	Binds the unix datagram socket that Postfix's libtlsrpt sends to
 *	(as root, before privileges are dropped), sets its owner, group,
 *	mode and a large receive buffer, and runs receiver threads that read
 *	datagrams in batches (recvmmsg), parse them with dg_parse() and add
 *	the results to their input_batch.  Parsing happens here, never on
 *	the writer's thread.
 *
 *	Stopping drains: after dgram_input_stop() is called every receiver
 *	reads until the socket queue is empty, so everything the kernel
 *	accepted before the stop is counted.
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

/* Register one input batch per receiver with the writer (before writer_start). */
void dgram_input_attach(struct dgram_input *in, struct writer *w, int nthreads,
    long long max_size);

/* Start the receiver threads. */
int dgram_input_start(struct dgram_input *in);

/* Ask the receivers to drain and finish, and wait for them. */
void dgram_input_stop(struct dgram_input *in);

/* Close the socket and remove its path. */
void dgram_input_close(struct dgram_input *in);

#endif
