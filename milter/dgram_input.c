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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define RECV_VLEN 32	/* datagrams per recvmmsg() call */

struct receiver {
	struct dgram_input *in;
	struct input_batch *batch;
	pthread_t thread;
	char *bufs;
	struct mmsghdr msgs[RECV_VLEN];
	struct iovec iov[RECV_VLEN];
};

struct dgram_input {
	int fd;
	int stop_fd;	/* eventfd: readable once stopping */
	char *path;
	struct writer *writer;
	long long max_size;
	int nrecv;	/* receivers allocated */
	int nthreads;	/* receiver threads running */
	struct receiver *recv;
	struct log_limit limits[DG_STATUS_COUNT];
	struct log_limit full_limit;
};

static int unlink_stale_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat sb;
	int probe, rc;

	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), -1);
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; remove it or choose "
		    "another datagram_socket", path);
		return -1;
	}
	/* a socket someone still reads from means another collector runs */
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
	close(probe);
	if (rc == 0) {
		snprintf(err, errlen, "%s is in use by another running collector; stop it first",
		    path);
		return -1;
	}
	if (unlink(path) != 0) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void set_receive_buffer(int fd, long long size)
{
	int v = (int)size, got = 0;
	socklen_t len = sizeof(got);

	/* FORCE lets root go beyond net.core.rmem_max; fall back quietly */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 && got < v)
		log_msg(LOG_NOTICE, "datagram_receive_buffer_limited wanted=%d got=%d "
		    "(raise net.core.rmem_max or start as root)", v, got / 2);
}

struct dgram_input *dgram_input_open(const struct tlsrpt_conf *conf, uid_t owner, gid_t group,
    char *err, size_t errlen)
{
	struct dgram_input *in;
	struct sockaddr_un sa;
	const char *path = conf->datagram_socket;
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "datagram_socket %s: path longer than %zu bytes", path,
		    sizeof(sa.sun_path) - 1);
		return NULL;
	}
	if (unlink_stale_socket(path, err, errlen) != 0)
		return NULL;
	in = xcalloc(1, sizeof(*in));
	in->fd = in->stop_fd = -1;
	in->path = xstrdup(path);
	in->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (in->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	old = umask(0177);
	rc = bind(in->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0) {
		snprintf(err, errlen, "cannot bind datagram_socket %s: %s (does the directory "
		    "exist?)", path, strerror(errno));
		goto fail;
	}
	if (chown(path, owner, group) != 0 && geteuid() == 0) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, (mode_t)conf->datagram_socket_mode) != 0) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	set_receive_buffer(in->fd, conf->datagram_receive_buffer);
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

static void reject(struct receiver *r, enum dg_status st, const char *why, size_t len)
{
	struct dgram_input *in = r->in;

	pthread_mutex_lock(&r->batch->lock);
	r->batch->now.rejected[st]++;
	pthread_mutex_unlock(&r->batch->lock);
	log_ratelimited(&in->limits[st], LOG_WARNING,
	    "datagram_rejected reason=%s bytes=%zu detail=\"%s\"", dg_status_name(st), len, why);
}

static void handle_one(struct receiver *r, const char *buf, size_t len, int flags, long long now)
{
	struct tlsrpt_session s;
	char why[256];
	enum dg_status st;
	bool dropped = false;

	if ((flags & MSG_TRUNC) || (long long)len > r->in->max_size) {
		snprintf(why, sizeof(why), "larger than datagram_max_size %lld", r->in->max_size);
		reject(r, DG_ERR_OVERSIZE, why, len);
		return;
	}
	st = dg_parse(buf, len, now, &s, why, sizeof(why));
	if (st != DG_OK) {
		reject(r, st, why, len);
		return;
	}
	pthread_mutex_lock(&r->batch->lock);
	r->batch->now.accepted++;
	if (writer_batch_full(r->in->writer, r->batch)) {
		r->batch->now.dropped_full++;
		dropped = true;
	} else {
		aggregate_add_session(&r->batch->agg, &s);
		writer_poke_if_due(r->in->writer, r->batch);
	}
	pthread_mutex_unlock(&r->batch->lock);
	if (dropped)
		log_ratelimited(&r->in->full_limit, LOG_ERR,
		    "datagram_dropped reason=pending_limit domain=%s (the store has been "
		    "unavailable too long; see store_commit_deferred)", s.domain);
	session_free(&s);
}

/* Read everything queued now; returns the number of datagrams read, -1 on a hard error. */
static int drain(struct receiver *r)
{
	struct dgram_input *in = r->in;
	struct timespec ts;
	int total = 0;

	for (;;) {
		int n;

		for (int i = 0; i < RECV_VLEN; i++)
			r->msgs[i].msg_hdr.msg_flags = 0;
		n = recvmmsg(in->fd, r->msgs, RECV_VLEN, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return total;
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "datagram_receive_failed error=\"%s\"", strerror(errno));
			return -1;
		}
		pthread_mutex_lock(&r->batch->lock);
		r->batch->now.received += (uint64_t)n;
		pthread_mutex_unlock(&r->batch->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		for (int i = 0; i < n; i++)
			handle_one(r, r->iov[i].iov_base, r->msgs[i].msg_len,
			    r->msgs[i].msg_hdr.msg_flags, (long long)ts.tv_sec);
		total += n;
	}
}

static void *receiver_main(void *arg)
{
	struct receiver *r = arg;
	struct dgram_input *in = r->in;
	struct pollfd pfd[2] = {{in->fd, POLLIN, 0}, {in->stop_fd, POLLIN, 0}};

	for (;;) {
		int n = poll(pfd, 2, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "datagram_poll_failed error=\"%s\"", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			if (drain(r) < 0)
				break;
		}
		if (pfd[1].revents & POLLIN)
			break;
	}
	/* stopping: take whatever the kernel still holds */
	drain(r);
	return NULL;
}

void dgram_input_attach(struct dgram_input *in, struct writer *w, int nthreads, long long max_size)
{
	size_t slot = (size_t)max_size + 1;	/* one spare byte shows truncation of exact fits */

	in->writer = w;
	in->max_size = max_size;
	in->nrecv = nthreads;
	in->recv = xcalloc((size_t)nthreads, sizeof(*in->recv));
	for (int t = 0; t < nthreads; t++) {
		struct receiver *r = &in->recv[t];

		r->in = in;
		r->batch = writer_new_batch(w, "datagram");
		r->bufs = xmalloc(slot * RECV_VLEN);
		for (int i = 0; i < RECV_VLEN; i++) {
			r->iov[i].iov_base = r->bufs + slot * (size_t)i;
			r->iov[i].iov_len = slot;
			memset(&r->msgs[i], 0, sizeof(r->msgs[i]));
			r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
			r->msgs[i].msg_hdr.msg_iovlen = 1;
		}
	}
}

int dgram_input_start(struct dgram_input *in)
{
	for (int t = 0; t < in->nrecv; t++) {
		int rc = pthread_create(&in->recv[t].thread, NULL, receiver_main, &in->recv[t]);

		if (rc != 0) {
			log_msg(LOG_ERR, "datagram_thread_failed error=\"%s\"", strerror(rc));
			return -1;
		}
		in->nthreads = t + 1;
	}
	return 0;
}

void dgram_input_stop(struct dgram_input *in)
{
	uint64_t one = 1;

	if (in == NULL || in->nthreads == 0)
		return;
	if (write(in->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_msg(LOG_ERR, "datagram_stop_signal_failed error=\"%s\"", strerror(errno));
	for (int t = 0; t < in->nthreads; t++)
		pthread_join(in->recv[t].thread, NULL);
	in->nthreads = 0;
}

void dgram_input_close(struct dgram_input *in)
{
	if (in == NULL)
		return;
	if (in->fd >= 0) {
		close(in->fd);
		if (unlink(in->path) != 0 && errno != ENOENT)
			log_msg(LOG_NOTICE, "datagram_socket_not_removed path=%s error=\"%s\"",
			    in->path, strerror(errno));
	}
	if (in->stop_fd >= 0)
		close(in->stop_fd);
	for (int t = 0; t < in->nrecv; t++)
		free(in->recv[t].bufs);
	free(in->recv);
	free(in->path);
	free(in);
}
