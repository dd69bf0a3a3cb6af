/*
 * NAME
 *	dgram_input - the libtlsrpt datagram socket input of tlsrpt-milter
 * DESCRIPTION
 *	See dgram_input.h.  A datagram that does not fit the buffer arrives
 *	with MSG_TRUNC and is rejected as oversize; every rejection is
 *	counted and logged at most LOG_LIMIT_BURST times a minute per
 *	reason.
 */
#define _GNU_SOURCE
#include "dgram_input.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "heartbeat.h"
#include "listen.h"
#include "log.h"
#include "util.h"

#define RECV_VLEN 32		/* datagrams per recvmmsg() call */
#define CHUNK_SIZE (64 * 1024)	/* bytes of datagrams handed to a parser at once */

/*
 * The reader copies datagrams out of the kernel into chunks; parsers take
 * whole chunks.  Each record in a chunk: struct rec header, then the bytes,
 * padded to 8.
 */
struct rec {
	uint32_t len;
	uint32_t pad;
	int64_t when;
};

struct chunk {
	struct chunk *next;
	size_t used;
	size_t cap;
	char data[];
};

struct parser {
	struct json_arena arena;
	struct dgram_input *in;
	struct input_batch *batch;
	pthread_t thread;
	struct heartbeat *hb;
};

#define HB_WORK_MS HEARTBEAT_GRACE_MS	/* a chunk, a drain: milliseconds when well */

struct dgram_input {
	int fd;
	int stop_fd;	/* eventfd: readable once stopping */
	bool stop_asked;	/* set with stop_fd: the reader leaves a drain (atomic) */
	bool failed;	/* the reader ended on an error */
	char *path;
	struct writer *writer;
	long long max_size;
	long long queue_limit;	/* bytes of chunks waiting for parsers */

	/* reader thread and its buffers */
	pthread_t reader;
	bool reader_running;
	bool served;	/* started once: the socket file stays at the end */
	struct heartbeat *reader_hb;
	struct input_batch *reader_batch;	/* counters only */
	char *bufs;
	struct mmsghdr msgs[RECV_VLEN];
	struct iovec iov[RECV_VLEN];
	struct chunk *filling;

	/* the queue between reader and parsers */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;		/* a chunk is waiting, or the queue closed */
	pthread_cond_t qspace;		/* parsers took a chunk */
	struct chunk *qhead, *qtail;
	size_t qbytes;
	bool qclosed;

	int nparsers;	/* allocated */
	int nrunning;	/* parser threads started */
	struct parser *parsers;
	struct log_limit limits[DG_STATUS_COUNT];
	struct log_limit full_limit;
	/* dgram_input_set_seen(): told the policy domain of each session */
	void (*seen_fn)(void *ctx, const char *domain);
	void *seen_ctx;
	struct log_limit queue_limit_log;
};

/*
 * The kernel queues at most net.unix.max_dgram_qlen datagrams on the
 * socket no matter how large the buffer; the kernel default is 10, which
 * a burst from many smtp processes overflows in well under a millisecond.
 */
static void check_queue_length(void)
{
	FILE *fp = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
	long qlen = 0;

	if (fp == NULL)
		return;
	if (fscanf(fp, "%ld", &qlen) == 1 && qlen < 512)
		log_msg(LOG_NOTICE, "datagram_queue_short net.unix.max_dgram_qlen=%ld (bursts "
		    "may be lost in the kernel; set it to 512 or more, see tlsrpt-milter(8))", qlen);
	fclose(fp);
}

static void set_receive_buffer(int fd, long long size)
{
	int v = (int)size, got = 0;
	socklen_t len = sizeof(got);

	/* FORCE lets root go beyond net.core.rmem_max; fall back quietly */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	/* the kernel reports twice what it granted (bookkeeping overhead) */
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 && got / 2 < v)
		log_msg(LOG_NOTICE, "datagram_receive_buffer_limited wanted=%d got=%d "
		    "(raise net.core.rmem_max or start as root)", v, got / 2);
}

struct dgram_input *dgram_input_open(const struct tlsrpt_conf *conf, uid_t owner, gid_t group,
    char *err, size_t errlen)
{
	const struct listen_spec spec = {
		.option = "datagram_socket", .holder = "another running collector",
		.type = SOCK_DGRAM, .mode = (mode_t)conf->datagram_socket_mode,
		.owner = owner, .group = group,
	};
	struct dgram_input *in = xcalloc(1, sizeof(*in));

	in->fd = in->stop_fd = -1;
	pthread_mutex_init(&in->qlock, NULL);
	pthread_cond_init(&in->qcond, NULL);
	pthread_cond_init(&in->qspace, NULL);
	in->fd = listen_unix(conf->datagram_socket, &spec, &in->path, err, errlen);
	if (in->fd < 0)
		goto fail;
	set_receive_buffer(in->fd, conf->datagram_receive_buffer);
	check_queue_length();
	in->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->stop_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	return in;
fail:
	dgram_input_close(in);
	return NULL;
}

static void count_reader(struct dgram_input *in, uint64_t received, uint64_t oversize)
{
	struct input_batch *b = in->reader_batch;

	pthread_mutex_lock(&b->lock);
	b->now.received += received;
	b->now.rejected[DG_ERR_OVERSIZE] += oversize;
	pthread_mutex_unlock(&b->lock);
}

/* Hand the chunk being filled to the parsers. */
static void push_chunk(struct dgram_input *in)
{
	struct chunk *c = in->filling;

	if (c == NULL || c->used == 0)
		return;
	in->filling = NULL;
	/* A chunk handed over after a short read holds a few datagrams: give
	 * the rest back, so that the queue limit bounds real memory. */
	if (c->used + 4096 <= c->cap) {
		c = xrealloc(c, sizeof(*c) + c->used);
		c->cap = c->used;
	}
	pthread_mutex_lock(&in->qlock);
	if (in->qtail)
		in->qtail->next = c;
	else
		in->qhead = c;
	in->qtail = c;
	in->qbytes += sizeof(*c) + c->cap;
	pthread_cond_signal(&in->qcond);
	pthread_mutex_unlock(&in->qlock);
}

/*
 * Back-pressure: while the parsers are datagram_queue_size behind, stop
 * reading, so that the kernel queue fills and senders see it (a blocking
 * sender waits, libtlsrpt's non-blocking one loses the datagram in the
 * kernel), rather than reading datagrams only to throw them away.
 */
static void wait_for_space(struct dgram_input *in)
{
	bool waited = false;

	pthread_mutex_lock(&in->qlock);
	while ((long long)in->qbytes >= in->queue_limit && in->qhead != NULL) {
		waited = true;
		pthread_cond_wait(&in->qspace, &in->qlock);
	}
	pthread_mutex_unlock(&in->qlock);
	if (waited)
		log_ratelimited(&in->queue_limit_log, LOG_NOTICE,
		    "datagram_queue_full limit=%lld (parsers are behind; reading paused)",
		    in->queue_limit);
}

/* Copy one datagram into the chunk being filled. */
static void stash(struct dgram_input *in, const char *buf, size_t len, long long when)
{
	size_t need = (sizeof(struct rec) + len + 7) & ~(size_t)7;
	struct rec r = {(uint32_t)len, 0, when};

	if (in->filling && in->filling->used + need > in->filling->cap)
		push_chunk(in);
	if (in->filling == NULL) {
		size_t cap = need > CHUNK_SIZE ? need : CHUNK_SIZE;

		wait_for_space(in);
		in->filling = xmalloc(sizeof(struct chunk) + cap);
		in->filling->next = NULL;
		in->filling->used = 0;
		in->filling->cap = cap;
	}
	memcpy(in->filling->data + in->filling->used, &r, sizeof(r));
	memcpy(in->filling->data + in->filling->used + sizeof(r), buf, len);
	in->filling->used += need;
}

/*
 * Read everything queued in the kernel now; -1 on a hard error.  Not
 * the last drain: return once a stop is asked for, as senders faster
 * than the reader would keep it here for ever; the last drain comes
 * after refuse_more(), when the queue can only shrink.
 */
static int drain(struct dgram_input *in, bool last)
{
	struct timespec ts;

	for (;;) {
		uint64_t oversize = 0;
		int n;

		if (!last && __atomic_load_n(&in->stop_asked, __ATOMIC_RELAXED)) {
			push_chunk(in);
			return 0;
		}

		for (int i = 0; i < RECV_VLEN; i++)
			in->msgs[i].msg_hdr.msg_flags = 0;
		n = recvmmsg(in->fd, in->msgs, RECV_VLEN, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			push_chunk(in);
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			log_msg(LOG_ERR, "datagram_receive_failed error=\"%s\"", strerror(errno));
			return -1;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		for (int i = 0; i < n; i++) {
			size_t len = in->msgs[i].msg_len;

			if ((in->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || (long long)len > in->max_size) {
				oversize++;
				log_ratelimited(&in->limits[DG_ERR_OVERSIZE], LOG_WARNING,
				    "datagram_rejected reason=oversize detail=\"larger than "
				    "datagram_max_size %lld\"", in->max_size);
			} else {
				stash(in, in->iov[i].iov_base, len, (long long)ts.tv_sec);
			}
		}
		count_reader(in, (uint64_t)n, oversize);
	}
}

static bool stopping(struct dgram_input *in)
{
	struct pollfd p = {in->stop_fd, POLLIN, 0};

	return poll(&p, 1, 0) == 1;
}

/*
 * Stop accepting before the last drain.  After shutdown(SHUT_RD) the
 * kernel refuses every further datagram to this socket with EPIPE
 * (libtlsrpt counts it as not sent, as when no daemon runs) but keeps
 * those already queued readable: a sender's datagram is either refused
 * or read by the drain that follows, never queued where nobody reads it.
 * A socket systemd passed us (in->path NULL) is left open: systemd keeps
 * it, and what queues there after this drain is the next start's.
 */
static void refuse_more(struct dgram_input *in)
{
	if (in->path == NULL)
		return;
	if (shutdown(in->fd, SHUT_RD) != 0)
		log_msg(LOG_ERR, "datagram_shutdown_failed error=\"%s\" (datagrams sent during "
		    "the stop may stay unread in the kernel)", strerror(errno));
}

static void *reader_main(void *arg)
{
	struct dgram_input *in = arg;
	struct pollfd pfd[2] = {{in->fd, POLLIN, 0}, {in->stop_fd, POLLIN, 0}};

	for (;;) {
		int n;

		heartbeat_idle(in->reader_hb);	/* a quiet socket is no fault */
		n = poll(pfd, 2, -1);
		heartbeat_busy(in->reader_hb, HB_WORK_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "datagram_poll_failed error=\"%s\"", strerror(errno));
			break;
		}
		if ((pfd[0].revents & POLLIN) && drain(in, false) < 0)
			break;
		if (pfd[1].revents & POLLIN)
			break;
	}
	if (!stopping(in)) {
		/* the input is dead: stop the daemon, with a failure status, so a
		 * supervisor restarts it rather than leaving it deaf */
		__atomic_store_n(&in->failed, true, __ATOMIC_RELAXED);
		log_msg(LOG_ERR, "datagram_input_failed (stopping the daemon)");
		kill(getpid(), SIGTERM);
	}
	/* stopping: refuse, take whatever the kernel still holds, then close the queue */
	heartbeat_idle(in->reader_hb);
	refuse_more(in);
	drain(in, true);
	push_chunk(in);
	pthread_mutex_lock(&in->qlock);
	in->qclosed = true;
	pthread_cond_broadcast(&in->qcond);
	pthread_mutex_unlock(&in->qlock);
	return NULL;
}

static void reject(struct parser *p, enum dg_status st, const char *why, size_t len)
{
	pthread_mutex_lock(&p->batch->lock);
	p->batch->now.rejected[st]++;
	pthread_mutex_unlock(&p->batch->lock);
	log_ratelimited(&p->in->limits[st], LOG_WARNING,
	    "datagram_rejected reason=%s bytes=%zu detail=\"%s\"", dg_status_name(st), len, why);
}

static void handle_one(struct parser *p, const char *buf, size_t len, long long when)
{
	struct tlsrpt_session s;
	char why[256];
	enum dg_status st;
	bool dropped = false;

	st = dg_parse(&p->arena, buf, len, when, &s, why, sizeof(why));
	if (st != DG_OK) {
		reject(p, st, why, len);
		return;
	}
	pthread_mutex_lock(&p->batch->lock);
	p->batch->now.accepted++;
	if (writer_batch_full(p->in->writer, p->batch)) {
		p->batch->now.dropped_full++;
		dropped = true;
	} else {
		aggregate_add_session(&p->batch->agg, &s);
		writer_poke_if_due(p->in->writer, p->batch);
	}
	pthread_mutex_unlock(&p->batch->lock);
	if (dropped)
		log_ratelimited(&p->in->full_limit, LOG_ERR,
		    "datagram_dropped reason=pending_limit domain=%s (the store has been "
		    "unavailable too long; see store_commit_deferred)", s.domain);
	if (p->in->seen_fn != NULL && s.domain != NULL)
		p->in->seen_fn(p->in->seen_ctx, s.domain);
	session_free(&s);
}

static void *parser_main(void *arg)
{
	struct parser *p = arg;
	struct dgram_input *in = p->in;

	json_arena_init(&p->arena);

	for (;;) {
		struct chunk *c;

		heartbeat_idle(p->hb);	/* waiting for the reader */
		pthread_mutex_lock(&in->qlock);
		while (in->qhead == NULL && !in->qclosed)
			pthread_cond_wait(&in->qcond, &in->qlock);
		heartbeat_busy(p->hb, HB_WORK_MS);
		c = in->qhead;
		if (c != NULL) {
			in->qhead = c->next;
			if (in->qhead == NULL)
				in->qtail = NULL;
			in->qbytes -= sizeof(*c) + c->cap;
			pthread_cond_signal(&in->qspace);
		}
		pthread_mutex_unlock(&in->qlock);
		if (c == NULL) {
			heartbeat_idle(p->hb);
			break;	/* closed and empty */
		}
		for (size_t off = 0; off < c->used;) {
			struct rec r;

			memcpy(&r, c->data + off, sizeof(r));
			handle_one(p, c->data + off + sizeof(r), r.len, r.when);
			off += (sizeof(r) + r.len + 7) & ~(size_t)7;
		}
		free(c);
	}
	json_arena_free(&p->arena);
	return NULL;
}

void dgram_input_attach(struct dgram_input *in, struct writer *w, int nthreads,
    long long max_size, long long queue_limit)
{
	size_t slot = (size_t)max_size + 1;	/* one spare byte shows truncation of exact fits */

	in->writer = w;
	in->max_size = max_size;
	in->queue_limit = queue_limit;
	in->reader_batch = writer_new_batch(w, "datagram");
	in->bufs = xmalloc(slot * RECV_VLEN);
	for (int i = 0; i < RECV_VLEN; i++) {
		in->iov[i].iov_base = in->bufs + slot * (size_t)i;
		in->iov[i].iov_len = slot;
		memset(&in->msgs[i], 0, sizeof(in->msgs[i]));
		in->msgs[i].msg_hdr.msg_iov = &in->iov[i];
		in->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	in->nparsers = nthreads;
	in->parsers = xcalloc((size_t)nthreads, sizeof(*in->parsers));
	for (int t = 0; t < nthreads; t++) {
		in->parsers[t].in = in;
		in->parsers[t].batch = writer_new_batch(w, "datagram");
		in->parsers[t].hb = heartbeat_register("datagram_parser");
	}
	in->reader_hb = heartbeat_register("datagram_reader");
}

void dgram_input_set_seen(struct dgram_input *in, void (*fn)(void *ctx, const char *domain),
    void *ctx)
{
	in->seen_fn = fn;
	in->seen_ctx = ctx;
}

int dgram_input_start(struct dgram_input *in)
{
	int rc;

	for (int t = 0; t < in->nparsers; t++) {
		rc = pthread_create(&in->parsers[t].thread, NULL, parser_main, &in->parsers[t]);
		if (rc != 0) {
			log_msg(LOG_ERR, "datagram_thread_failed error=\"%s\"", strerror(rc));
			return -1;
		}
		in->nrunning = t + 1;
	}
	rc = pthread_create(&in->reader, NULL, reader_main, in);
	if (rc != 0) {
		log_msg(LOG_ERR, "datagram_thread_failed error=\"%s\"", strerror(rc));
		return -1;
	}
	in->reader_running = true;
	in->served = true;
	return 0;
}

bool dgram_input_failed(struct dgram_input *in)
{
	return __atomic_load_n(&in->failed, __ATOMIC_RELAXED);
}

void dgram_input_stop(struct dgram_input *in)
{
	uint64_t one = 1;

	if (in == NULL)
		return;
	__atomic_store_n(&in->stop_asked, true, __ATOMIC_RELAXED);
	if (write(in->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_msg(LOG_ERR, "datagram_stop_signal_failed error=\"%s\"", strerror(errno));
	if (in->reader_running) {
		pthread_join(in->reader, NULL);
		in->reader_running = false;
	} else {
		/* no reader: nobody will close the queue */
		pthread_mutex_lock(&in->qlock);
		in->qclosed = true;
		pthread_cond_broadcast(&in->qcond);
		pthread_mutex_unlock(&in->qlock);
	}
	for (int t = 0; t < in->nrunning; t++)
		pthread_join(in->parsers[t].thread, NULL);
	in->nrunning = 0;
}

void dgram_input_close(struct dgram_input *in)
{
	if (in == NULL)
		return;
	if (in->fd >= 0)
		close(in->fd);
	listen_release(in->path, in->served, "datagram");
	if (in->stop_fd >= 0)
		close(in->stop_fd);
	free(in->bufs);
	free(in->filling);
	while (in->qhead) {
		struct chunk *c = in->qhead;

		in->qhead = c->next;
		free(c);
	}
	for (int t = 0; in->parsers != NULL && t < in->nparsers; t++)
		heartbeat_unregister(in->parsers[t].hb);
	heartbeat_unregister(in->reader_hb);
	free(in->parsers);
	pthread_mutex_destroy(&in->qlock);
	pthread_cond_destroy(&in->qcond);
	pthread_cond_destroy(&in->qspace);
	free(in->path);
	free(in);
}
