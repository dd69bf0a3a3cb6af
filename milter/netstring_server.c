/*
 * NAME
 *	netstring_server - the server core of the socketmap services
 * DESCRIPTION
 *	See netstring_server.h.  The serving thread owns the connections;
 *	the poll set is the stop eventfd, the listening socket (left out
 *	while accepting pauses), then one entry per connection in the order
 *	of conns[].
 */
#define _GNU_SOURCE
#include "config.h"

#include "netstring_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "heartbeat.h"
#include "util.h"

#define EVICT_TRIES 4		/* victims with bytes waiting in the kernel skipped per newcomer */
#define HB_ROUND_MS 10000	/* one round of the serving thread takes at most this */

struct ns_server {
	int fd;			/* listening socket */
	int stop_fd;		/* eventfd: readable once stopping */
	struct ns_config cfg;
	struct ns_ops ops;
	void *ctx;
	pthread_t thread;

	/* the serving thread's own */
	struct ns_conn **conns;	/* cfg.max_conns */
	size_t nconns;
	struct pollfd *pfds;	/* cfg.max_conns + 2 */
	unsigned long next_id;
	long long accept_paused_until;	/* monotonic ms; 0 = accepting */
	long long last_tick;		/* monotonic ms */
	long long next_sweep;		/* monotonic ms: the next idle connection is due */
	struct heartbeat *hb;
	struct log_limit idle_limit, evict_limit;
};

void ns_printable(const char *s, size_t len, char *out, size_t outlen)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 4 < outlen; i++)
		out[j++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
	out[j] = '\0';
	if (j < len)
		strcat(out, "...");	/* j + 4 <= outlen: it fits */
}

/* ---- peers ---- */

void ns_peer_text(const struct ns_peer *p, char *out, size_t outlen)
{
	if (p->family == AF_UNIX && p->pid > 0)
		snprintf(out, outlen, "pid=%ld uid=%ld", p->pid, p->uid);
	else if (p->family == AF_INET || p->family == AF_INET6)
		snprintf(out, outlen, "addr=%s", p->addr);
	else
		snprintf(out, outlen, "peer=unknown");
}

static void identify(int fd, const struct sockaddr_storage *ss, struct ns_peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	memset(p, 0, sizeof(*p));
	p->family = ss->ss_family;
	if (p->family == AF_UNIX) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0) {
			p->pid = (long)cred.pid;
			p->uid = (long)cred.uid;
		}
	} else if (p->family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, p->addr, sizeof(p->addr));
	} else if (p->family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, p->addr,
		    sizeof(p->addr));
	} else {
		p->family = AF_UNSPEC;
	}
}

/* Unknown peers are nobody's: no limit of their own. */
static bool same_peer(const struct ns_peer *a, const struct ns_peer *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_UNIX)
		return a->pid > 0 && a->pid == b->pid;
	if (a->family == AF_INET || a->family == AF_INET6)
		return strcmp(a->addr, b->addr) == 0;
	return false;
}

/* Every local client shares the loopback address: an address may hold half the slots. */
static size_t peer_limit(const struct ns_server *srv, const struct ns_peer *p)
{
	if (p->family == AF_UNIX)
		return srv->cfg.peer_limit > 0 ? srv->cfg.peer_limit : NS_PEER_LIMIT;
	if (p->family == AF_INET || p->family == AF_INET6)
		return srv->cfg.max_conns / 2 > 0 ? srv->cfg.max_conns / 2 : 1;
	return srv->cfg.max_conns;
}

/* ---- connections ---- */

static void conn_open(struct ns_server *srv, int fd, const struct ns_peer *peer)
{
	struct ns_conn *c = xcalloc(1, sizeof(*c));
	char who[80];

	c->fd = fd;
	c->id = ++srv->next_id;
	c->peer = *peer;
	c->last_active = monotonic_ms();
	smm_decoder_init(&c->dec);
	strbuf_init(&c->out);
	if (srv->ops.opened != NULL)
		c->data = srv->ops.opened(srv->ctx, c);
	srv->conns[srv->nconns++] = c;
	ns_peer_text(peer, who, sizeof(who));
	log_msg(LOG_DEBUG, "%s_connection_opened id=%lu %s", srv->cfg.name, c->id, who);
}

static void conn_close(struct ns_server *srv, size_t i, const char *why)
{
	struct ns_conn *c = srv->conns[i];

	log_msg(LOG_DEBUG, "%s_connection_closed id=%lu requests=%lu reason=%s", srv->cfg.name,
	    c->id, c->requests, why);
	if (srv->ops.closed != NULL)
		srv->ops.closed(srv->ctx, c);
	smm_decoder_free(&c->dec);
	strbuf_free(&c->out);
	close(c->fd);
	free(c);
	srv->conns[i] = srv->conns[--srv->nconns];
	srv->conns[srv->nconns] = NULL;
}

/* Nothing under way: no request begun (or one stalled), no answer waiting to be taken. */
static bool conn_idle(const struct ns_conn *c, long long now)
{
	if (c->closing || c->out_off < c->out.len)
		return false;
	return c->partial_since == 0 || now - c->partial_since >= NS_STALL_MS;
}

/* Bytes the peer sent that poll() has not reported yet make a connection active. */
static bool bytes_waiting(const struct ns_conn *c)
{
	char b;

	return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/* Close connections idle for cfg.idle_timeout_ms; note when the next one is due. */
static void sweep_idle(struct ns_server *srv)
{
	long long now = monotonic_ms(), timeout = srv->cfg.idle_timeout_ms, next = 0;
	char who[80];

	if (timeout <= 0 || now < srv->next_sweep)
		return;
	for (size_t i = srv->nconns; i-- > 0;) {
		struct ns_conn *c = srv->conns[i];
		long long due = c->last_active + timeout;

		if (due > now) {
			if (next == 0 || due < next)
				next = due;
			continue;
		}
		srv->ops.counted(srv->ctx, NS_IDLE_CLOSED);
		ns_peer_text(&c->peer, who, sizeof(who));
		log_ratelimited(&srv->idle_limit, LOG_INFO, "%s_connection_idle_closed id=%lu "
		    "requests=%lu idle_ms=%lld %s", srv->cfg.name, c->id, c->requests,
		    now - c->last_active, who);
		conn_close(srv, i, "idle_timeout");
	}
	srv->next_sweep = next ? next : now + timeout;
}

/* The newest goes: every open one is under way. */
static void refuse(struct ns_server *srv, int fd, const struct ns_peer *peer, const char *why,
    size_t limit)
{
	char who[80];

	ns_peer_text(peer, who, sizeof(who));
	srv->ops.counted(srv->ctx, NS_REFUSED);
	log_ratelimited(srv->cfg.refuse_limit, LOG_WARNING, "%s_connection_refused "
	    "reason=%s limit=%zu %s (no connection was idle)%s", srv->cfg.name, why, limit, who,
	    srv->cfg.refused_hint);
	close(fd);
}

/*
 * The longest-idle connection that may give way (of peer, or of all when
 * peer is NULL), skipping those with bytes waiting; -1 when none.
 */
static long find_victim(struct ns_server *srv, const struct ns_peer *peer, long long now)
{
	for (int tries = 0; tries < EVICT_TRIES; tries++) {
		long victim = -1;

		for (size_t i = 0; i < srv->nconns; i++) {
			struct ns_conn *c = srv->conns[i];

			if ((peer != NULL && !same_peer(&c->peer, peer)) || !conn_idle(c, now))
				continue;
			if (victim < 0 || c->last_active < srv->conns[victim]->last_active)
				victim = (long)i;
		}
		if (victim < 0 || !bytes_waiting(srv->conns[victim]))
			return victim;
		srv->conns[victim]->last_active = now;	/* active after all: poll() reports it next */
	}
	return -1;
}

static void evict(struct ns_server *srv, long i, enum ns_event ev, const char *why, size_t limit)
{
	struct ns_conn *c = srv->conns[i];
	char who[80];

	srv->ops.counted(srv->ctx, ev);
	ns_peer_text(&c->peer, who, sizeof(who));
	log_ratelimited(&srv->evict_limit, LOG_NOTICE, "%s_connection_evicted id=%lu reason=%s "
	    "limit=%zu requests=%lu idle_ms=%lld %s (making room for a new connection)",
	    srv->cfg.name, c->id, why, limit, c->requests, monotonic_ms() - c->last_active, who);
	conn_close(srv, (size_t)i, why);
}

/* A new connection: room is made by an idle one of its peer's, or of anyone's, or it goes. */
static void admit(struct ns_server *srv, int fd, const struct ns_peer *peer)
{
	long long now = monotonic_ms();
	size_t mine = 0, limit = peer_limit(srv, peer);
	long victim;

	for (size_t i = 0; i < srv->nconns; i++)
		mine += same_peer(&srv->conns[i]->peer, peer);
	if (mine >= limit) {
		if ((victim = find_victim(srv, peer, now)) < 0) {
			refuse(srv, fd, peer, "peer_limit", limit);
			return;
		}
		evict(srv, victim, NS_PEER_EVICTED, "peer_limit", limit);
	} else if (srv->nconns >= srv->cfg.max_conns) {
		if ((victim = find_victim(srv, NULL, now)) < 0) {
			refuse(srv, fd, peer, "too_many_connections", srv->cfg.max_conns);
			return;
		}
		evict(srv, victim, NS_EVICTED, "too_many_connections", srv->cfg.max_conns);
	}
	conn_open(srv, fd, peer);
}

static void accept_all(struct ns_server *srv)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct ns_peer peer;
		int fd = accept4(srv->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and the like: the socket stays readable, so pause
			 * rather than spin on it */
			srv->accept_paused_until = monotonic_ms() + NS_ACCEPT_PAUSE_MS;
			log_ratelimited(srv->cfg.accept_limit, LOG_ERR, "%s_accept_failed "
			    "error=\"%s\" (pausing %d ms)", srv->cfg.name, strerror(errno),
			    NS_ACCEPT_PAUSE_MS);
			return;
		}
		if (sl == 0)
			ss.ss_family = AF_UNSPEC;
		identify(fd, &ss, &peer);
		admit(srv, fd, &peer);
	}
}

/* ---- requests and answers ---- */

static void protocol_error(struct ns_server *srv, struct ns_conn *c)
{
	char text[160];

	srv->ops.counted(srv->ctx, NS_PROTOCOL_ERROR);
	log_ratelimited(srv->cfg.proto_limit, LOG_WARNING, "%s_protocol_error id=%lu "
	    "reason=\"%s\" (answered PERM, connection closed)", srv->cfg.name, c->id,
	    smm_decoder_error(&c->dec));
	snprintf(text, sizeof(text), "PERM %s", smm_decoder_error(&c->dec));
	smm_reply(&c->out, text);
	c->closing = true;
}

/* Feed what was read to the decoder, handing on each complete request. */
static void feed(struct ns_server *srv, struct ns_conn *c, const char *buf, size_t len)
{
	if (c->partial_since == 0)
		c->partial_since = c->last_active;
	while (len > 0 && !c->closing) {
		size_t used, reqlen;
		enum smm_status st = smm_decode(&c->dec, buf, len, &used);
		const char *req;

		if (st == SMM_ERROR) {
			protocol_error(srv, c);
			return;
		}
		buf += used;
		len -= used;
		if (st != SMM_REQUEST)
			continue;
		c->partial_since = len > 0 ? c->last_active : 0;
		req = smm_decoder_request(&c->dec, &reqlen);
		c->requests++;
		srv->ops.request(srv->ctx, c, req, reqlen);
	}
}

/* Write pending answers; false when the connection is finished. */
static bool flush_out(struct ns_conn *c)
{
	if (c->out_off < c->out.len)
		c->last_active = monotonic_ms();
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
		    MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		c->out_off += (size_t)n;
	}
	strbuf_reset(&c->out);
	c->out_off = 0;
	return !c->closing;
}

/* Serve one connection's poll events; false to close it (with *why). */
static bool serve(struct ns_server *srv, struct ns_conn *c, short revents, const char **why)
{
	char buf[NS_READ_SIZE];

	if (revents & POLLIN) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n == 0) {
			*why = "eof";
			return false;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			*why = "read_error";
			return false;
		}
		if (n > 0) {
			c->last_active = monotonic_ms();
			feed(srv, c, buf, (size_t)n);
		}
	} else if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
		*why = "hangup";
		return false;
	}
	if (!flush_out(c)) {
		*why = c->closing ? "protocol_error" : "write_error";
		return false;
	}
	return true;
}

/*
 * Stopping: answer what has arrived, as far as the socket takes it now
 * (a few reads: a peer has one request in flight, and a peer that keeps
 * writing must not hold up the stop).
 */
static void drain(struct ns_server *srv, struct ns_conn *c)
{
	char buf[NS_READ_SIZE];
	ssize_t n;

	for (int reads = 0; reads < 4 && !c->closing; reads++) {
		if ((n = read(c->fd, buf, sizeof(buf))) <= 0)
			break;
		feed(srv, c, buf, (size_t)n);
	}
	(void)flush_out(c);
}

/* ---- the serving thread ---- */

static bool stopping(struct ns_server *srv)
{
	struct pollfd p = {srv->stop_fd, POLLIN, 0};

	return poll(&p, 1, 0) == 1;
}

/* The poll set; *timeout_ms from cfg.tick_ms (-1: none), shorter for the rest of a pause. */
static size_t build_pollset(struct ns_server *srv, int *timeout_ms)
{
	long long rest = srv->accept_paused_until - monotonic_ms();

	*timeout_ms = srv->cfg.tick_ms > 0 ? srv->cfg.tick_ms : -1;
	if (srv->accept_paused_until != 0 && rest <= 0)
		srv->accept_paused_until = 0;
	else if (srv->accept_paused_until != 0 && (*timeout_ms < 0 || rest < *timeout_ms))
		*timeout_ms = (int)rest;
	if (srv->cfg.idle_timeout_ms > 0) {
		long long due = srv->next_sweep - monotonic_ms();

		if (due < 0)
			due = 0;
		if (*timeout_ms < 0 || due < *timeout_ms)
			*timeout_ms = (int)due;
	}
	srv->pfds[0] = (struct pollfd){srv->stop_fd, POLLIN, 0};
	srv->pfds[1] = (struct pollfd){srv->fd, srv->accept_paused_until ? 0 : POLLIN, 0};
	for (size_t i = 0; i < srv->nconns; i++) {
		struct ns_conn *c = srv->conns[i];
		short ev = 0;

		if (c->out.len - c->out_off < NS_OUT_LIMIT && !c->closing)
			ev |= POLLIN;
		if (c->out_off < c->out.len)
			ev |= POLLOUT;
		srv->pfds[i + 2] = (struct pollfd){c->fd, ev, 0};
	}
	return srv->nconns + 2;
}

static void maybe_tick(struct ns_server *srv)
{
	if (srv->ops.tick == NULL ||
	    (srv->cfg.tick_ms > 0 && monotonic_ms() - srv->last_tick < srv->cfg.tick_ms))
		return;
	srv->ops.tick(srv->ctx);
	srv->last_tick = monotonic_ms();
}

/* One poll() and what it found; false once stopping (or poll() broke). */
static bool serve_round(struct ns_server *srv)
{
	int timeout_ms;
	size_t n = build_pollset(srv, &timeout_ms), nconns = srv->nconns;
	int rc;

	heartbeat_idle(srv->hb);	/* waiting for peers: no deadline */
	rc = poll(srv->pfds, n, timeout_ms);
	heartbeat_busy(srv->hb, HB_ROUND_MS);
	if (rc < 0) {
		if (errno == EINTR)
			return true;
		log_msg(LOG_ERR, "%s_poll_failed error=\"%s\"", srv->cfg.name, strerror(errno));
		return false;
	}
	if (srv->pfds[0].revents & POLLIN)
		return false;
	/* from the last: conn_close() moves the last connection into slot i */
	for (size_t i = nconns; i-- > 0;) {
		const char *why = NULL;

		if (srv->pfds[i + 2].revents != 0 &&
		    !serve(srv, srv->conns[i], srv->pfds[i + 2].revents, &why))
			conn_close(srv, i, why);
	}
	sweep_idle(srv);
	if (srv->pfds[1].revents & POLLIN)
		accept_all(srv);
	maybe_tick(srv);
	return true;
}

/*
 * Stopping, cfg.refuse_at_stop: refuse new connections, then take those
 * that made it into the backlog, so that they are answered (drain_on_stop)
 * rather than reset when the socket closes.  After shutdown(SHUT_RD) of
 * a unix listener, connect() fails with ECONNREFUSED and accept() still
 * returns the backlog, then EAGAIN.  (On an inet listener the same call
 * would reset the backlog, hence unix sockets only.)
 */
static void refuse_and_take_backlog(struct ns_server *srv)
{
	if (!srv->cfg.refuse_at_stop)
		return;
	if (shutdown(srv->fd, SHUT_RD) != 0) {
		log_msg(LOG_ERR, "%s_shutdown_failed error=\"%s\"", srv->cfg.name, strerror(errno));
		return;
	}
	srv->accept_paused_until = 0;
	accept_all(srv);
}

/* At the stop: a client that connected has its request on the way. */
static bool awaited(const struct ns_conn *c)
{
	return !c->closing && (c->requests == 0 || c->partial_since != 0);
}

/*
 * Stopping, with drain_on_stop: serve the connections that have sent no
 * request yet, or part of one, until each has one or NS_STOP_GRACE_MS
 * have passed.  pfds[i] is conns[i]'s (events 0 for the others).
 */
static void stop_grace(struct ns_server *srv)
{
	long long deadline = monotonic_ms() + NS_STOP_GRACE_MS;

	for (;;) {
		long long rest = deadline - monotonic_ms();
		size_t waiting = 0, nconns = srv->nconns;
		int rc;

		for (size_t i = 0; i < nconns; i++) {
			bool w = awaited(srv->conns[i]);

			srv->pfds[i] = (struct pollfd){srv->conns[i]->fd, w ? POLLIN : 0, 0};
			waiting += w;
		}
		if (waiting == 0 || rest <= 0)
			return;
		rc = poll(srv->pfds, nconns, (int)rest);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return;
		/* from the last: conn_close() moves the last connection into slot i */
		for (size_t i = nconns; i-- > 0;) {
			const char *why = NULL;

			if ((srv->pfds[i].events & POLLIN) && srv->pfds[i].revents != 0 &&
			    !serve(srv, srv->conns[i], srv->pfds[i].revents, &why))
				conn_close(srv, i, why);
		}
	}
}

static void *serve_main(void *arg)
{
	struct ns_server *srv = arg;

	srv->last_tick = monotonic_ms();
	heartbeat_busy(srv->hb, HB_ROUND_MS);
	while (serve_round(srv))
		;
	if (!stopping(srv)) {
		heartbeat_dead(srv->hb);	/* poll() broke: the input is gone */
	} else {
		heartbeat_idle(srv->hb);
		refuse_and_take_backlog(srv);
		if (srv->cfg.drain_on_stop)
			stop_grace(srv);
	}
	while (srv->nconns > 0) {
		if (srv->cfg.drain_on_stop)
			drain(srv, srv->conns[srv->nconns - 1]);
		conn_close(srv, srv->nconns - 1, "stopping");
	}
	return NULL;
}

/* ---- the API ---- */

struct ns_server *ns_server_new(int listen_fd, const struct ns_config *cfg,
    const struct ns_ops *ops, void *ctx, char *err, size_t errlen)
{
	struct ns_server *srv = xcalloc(1, sizeof(*srv));

	srv->fd = listen_fd;
	srv->cfg = *cfg;
	srv->ops = *ops;
	srv->ctx = ctx;
	srv->conns = xcalloc(cfg->max_conns, sizeof(*srv->conns));
	srv->pfds = xcalloc(cfg->max_conns + 2, sizeof(*srv->pfds));
	srv->hb = heartbeat_register(cfg->name);
	srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->stop_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		ns_server_free(srv);
		return NULL;
	}
	return srv;
}

int ns_server_start(struct ns_server *srv)
{
	return pthread_create(&srv->thread, NULL, serve_main, srv);
}

void ns_server_stop(struct ns_server *srv)
{
	uint64_t one = 1;

	if (write(srv->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_msg(LOG_ERR, "%s_stop_signal_failed error=\"%s\"", srv->cfg.name,
		    strerror(errno));
	pthread_join(srv->thread, NULL);
}

void ns_server_free(struct ns_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->fd >= 0)
		close(srv->fd);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	heartbeat_unregister(srv->hb);
	free(srv->conns);
	free(srv->pfds);
	free(srv);
}
