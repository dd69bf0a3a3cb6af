/*
 * NAME
 *	socketmap_input - the Sendmail socketmap hook of tlsrpt-milter
 * DESCRIPTION
 *	See socketmap_input.h.  One thread serves every connection with
 *	poll(): all sockets are non-blocking, each request is answered as
 *	soon as its netstring is complete (sendmail_map.c decides the
 *	answer and the session results), so Sendmail never waits on the
 *	store.  At most MAX_CONNECTIONS are open; a connection beyond that
 *	is closed at once (Sendmail's map lookup then fails, which the
 *	tlsrpt.mc rules ignore); the soft open file limit is raised for
 *	them.  When accept() fails for want of descriptors, accepting pauses
 *	for ACCEPT_PAUSE_MS.  A malformed netstring gets "PERM" and the
 *	connection is closed once the answer is written.  Counters go to the
 *	store through aggregate_count() (socketmap.*); log lines about
 *	hostile input are rate limited.
 */
#define _GNU_SOURCE
#include "config.h"

#include "socketmap_input.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sendmail_map.h"
#include "util.h"

#define MAX_CONNECTIONS 1024
#define FD_RESERVE 128		/* descriptors the rest of the daemon may need */
#define READ_SIZE 4096
#define OUT_LIMIT (64 * 1024)	/* unread answers: stop reading from that peer */
#define ACCEPT_PAUSE_MS 100	/* out of descriptors: try accept() again after this */

struct conn {
	int fd;
	unsigned long id;
	struct smm_decoder dec;
	struct smm_conn *sc;
	struct strbuf out;	/* answers not yet written */
	size_t out_off;
	bool closing;		/* close once out is written */
	unsigned long requests;
};

struct socketmap_input {
	int fd;			/* listening socket */
	int stop_fd;		/* eventfd: readable once stopping */
	char *path;		/* unix socket path, NULL for inet */
	char *endpoint;
	struct writer *writer;
	struct input_batch *batch;
	struct report_mails *rm;
	struct smm *smm;
	pthread_t thread;
	bool running;
	socketmap_policy_fn policy_fn;	/* socketmap_input_set_policy(), or NULL */
	void *policy_ctx;

	/* the serving thread's own */
	struct conn *conns[MAX_CONNECTIONS];
	size_t nconns;
	size_t max_conns;	/* MAX_CONNECTIONS, less when RLIMIT_NOFILE is short */
	long long accept_paused_until;	/* monotonic ms; 0 = accepting */
	struct pollfd pfds[MAX_CONNECTIONS + 2];
	unsigned long next_id;
	unsigned long long protocol_errors, refused;
	struct smm_stats counted;	/* what is already in the batch's counters */
	unsigned long long counted_errors, counted_refused;
	bool folded_logged;
	struct log_limit proto_limit, bad_limit, refuse_limit, accept_limit, full_limit;
};

/* ---- opening ---- */

static int unlink_stale_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat sb;
	int probe, rc;

	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; remove it or choose "
		    "another socketmap_socket", path);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
	close(probe);
	if (rc == 0) {
		snprintf(err, errlen, "%s is in use by another running tlsrpt-milter; stop it first",
		    path);
		return -1;
	}
	if (unlink(path) != 0) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int bind_unix(struct socketmap_input *in, const char *path, mode_t mode, uid_t owner,
    gid_t group, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t old;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socketmap_socket %s: path longer than %zu bytes", path,
		    sizeof(sa.sun_path) - 1);
		return -1;
	}
	if (unlink_stale_socket(path, err, errlen) != 0)
		return -1;
	in->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (in->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	/* the final mode from the start: no window with a wider one */
	old = umask((mode_t)(~mode & 0777));
	rc = bind(in->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0) {
		snprintf(err, errlen, "cannot bind socketmap_socket %s: %s (does the directory "
		    "exist?)", path, strerror(errno));
		return -1;
	}
	in->path = xstrdup(path);
	/* lchown: if the path was swapped for a symlink, change the link, not its target */
	if (lchown(path, owner, group) != 0 && geteuid() == 0) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int bind_inet(struct socketmap_input *in, int family, const char *host, int port,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	int rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%d", port);
	/* no host: loopback, never every interface (anyone who connects adds results) */
	if (*host == '\0')
		host = family == AF_INET6 ? "::1" : "127.0.0.1";
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "socketmap_socket host %s: %s", host, gai_strerror(rc));
		return -1;
	}
	in->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (in->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	setsockopt(in->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = bind(in->fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot bind socketmap_socket %s: %s", in->endpoint,
		    strerror(errno));
		return -1;
	}
	if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "::1") != 0 &&
	    strcmp(host, "localhost") != 0)
		log_msg(LOG_WARNING, "socketmap_not_loopback endpoint=%s (whoever can connect "
		    "can add session results; bind to 127.0.0.1 or use a unix socket)",
		    in->endpoint);
	return 0;
}

/*
 * Every connection is a descriptor: raise the soft RLIMIT_NOFILE (often
 * 1024) towards what MAX_CONNECTIONS needs, or serve fewer connections.
 */
static size_t connection_limit(void)
{
	rlim_t want = MAX_CONNECTIONS + FD_RESERVE;
	struct rlimit rl;
	size_t limit;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return MAX_CONNECTIONS;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return MAX_CONNECTIONS;
	limit = rl.rlim_cur > 2 * FD_RESERVE ? (size_t)rl.rlim_cur - FD_RESERVE :
	    (size_t)rl.rlim_cur / 2;
	log_msg(LOG_NOTICE, "socketmap_connection_limit limit=%zu (open file limit %llu; raise "
	    "LimitNOFILE to serve %d)", limit, (unsigned long long)rl.rlim_cur, MAX_CONNECTIONS);
	return limit;
}

static long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct socketmap_input *socketmap_input_open(const struct tlsrpt_conf *conf, uid_t owner,
    gid_t group, char *err, size_t errlen)
{
	struct socketmap_input *in;
	char host[256];
	int family, port;

	if (!conf_parse_endpoint(conf->socketmap_socket, &family, host, sizeof(host), &port)) {
		snprintf(err, errlen, "socketmap_socket %s: not unix:/path, local:/path or "
		    "inet:PORT@HOST", conf->socketmap_socket);
		return NULL;
	}
	in = xcalloc(1, sizeof(*in));
	in->fd = in->stop_fd = -1;
	in->endpoint = xstrdup(conf->socketmap_socket);
	if ((family == AF_UNIX ?
	    bind_unix(in, host, (mode_t)conf->socketmap_socket_mode, owner, group, err, errlen) :
	    bind_inet(in, family, host, port, err, errlen)) != 0)
		goto fail;
	if (listen(in->fd, 128) != 0) {
		snprintf(err, errlen, "listen %s: %s", in->endpoint, strerror(errno));
		goto fail;
	}
	in->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (in->stop_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	in->max_conns = connection_limit();
	return in;
fail:
	socketmap_input_close(in);
	return NULL;
}

/* ---- results and counters into the batch ---- */

static void add_session(struct socketmap_input *in, const struct tlsrpt_session *s);

/* The policy decorator, when one is set, decides what is counted. */
static void emit_session(void *ctx, const struct tlsrpt_session *s, const char *mx,
    const char *ip)
{
	struct socketmap_input *in = ctx;
	struct tlsrpt_session decorated;

	if (in->policy_fn != NULL &&
	    in->policy_fn(in->policy_ctx, s, mx, ip, &decorated)) {
		add_session(in, &decorated);
		session_free(&decorated);
		return;
	}
	add_session(in, s);
}

static void add_session(struct socketmap_input *in, const struct tlsrpt_session *s)
{
	const struct tlsrpt_policy_result *p = &s->policies[0];
	bool dropped = false;

	pthread_mutex_lock(&in->batch->lock);
	in->batch->now.accepted++;
	if (writer_batch_full(in->writer, in->batch)) {
		in->batch->now.dropped_full++;
		dropped = true;
	} else {
		aggregate_add_session(&in->batch->agg, s);
		writer_poke_if_due(in->writer, in->batch);
	}
	pthread_mutex_unlock(&in->batch->lock);
	if (dropped)
		log_ratelimited(&in->full_limit, LOG_ERR, "socketmap_dropped reason=pending_limit "
		    "domain=%s (the store has been unavailable too long; see store_commit_deferred)",
		    s->domain);
	log_msg(LOG_DEBUG, "socketmap_session domain=%s policy=%s result=%s", s->domain,
	    policy_type_name(p->type) ? policy_type_name(p->type) : "?",
	    p->failed ? result_type_name(p->failures[0].result_type) : "success");
}

static bool is_report_mail(void *ctx, const char *queue_id)
{
	struct socketmap_input *in = ctx;

	return in->rm != NULL && report_mails_contains(in->rm, queue_id);
}

static void count(struct socketmap_input *in, long long now, const char *name,
    unsigned long long now_value, unsigned long long *counted)
{
	if (now_value > *counted)
		aggregate_count(&in->batch->agg, now, name, now_value - *counted);
	*counted = now_value;
}

/* Move counter increases since the last call into the batch. */
static void publish_counters(struct socketmap_input *in)
{
	struct smm_stats st;
	long long now = (long long)time(NULL);

	smm_get_stats(in->smm, &st);
	if (memcmp(&st, &in->counted, sizeof(st)) == 0 && in->protocol_errors == in->counted_errors &&
	    in->refused == in->counted_refused)
		return;
	pthread_mutex_lock(&in->batch->lock);
	in->batch->now.received += st.requests - in->counted.requests;
	count(in, now, "socketmap.requests", st.requests, &in->counted.requests);
	count(in, now, "socketmap.sessions", st.sessions, &in->counted.sessions);
	count(in, now, "socketmap.protocol_errors", in->protocol_errors, &in->counted_errors);
	count(in, now, "socketmap.report_mails_skipped", st.report_mails_skipped,
	    &in->counted.report_mails_skipped);
	count(in, now, "socketmap.bad_requests", st.bad_requests, &in->counted.bad_requests);
	count(in, now, "socketmap.unreported", st.unreported, &in->counted.unreported);
	count(in, now, "socketmap.connections_refused", in->refused, &in->counted_refused);
	pthread_mutex_unlock(&in->batch->lock);
	in->counted = st;
	if (st.key_folded > 0 && !in->folded_logged) {
		in->folded_logged = true;
		log_msg(LOG_WARNING, "socketmap_key_folded (Sendmail sends the key in lower case: "
		    "add -f to the K line of the map, see contrib/sendmail/README.md; until then "
		    "queue ids lose their case and report mails are counted)");
	}
}

/* ---- connections ---- */

static void conn_close(struct socketmap_input *in, size_t i, const char *why)
{
	struct conn *c = in->conns[i];

	log_msg(LOG_DEBUG, "socketmap_connection_closed id=%lu requests=%lu reason=%s", c->id,
	    c->requests, why);
	smm_conn_close(in->smm, c->sc);
	smm_decoder_free(&c->dec);
	strbuf_free(&c->out);
	close(c->fd);
	free(c);
	in->conns[i] = in->conns[--in->nconns];
	in->conns[in->nconns] = NULL;
}

static void accept_all(struct socketmap_input *in)
{
	for (;;) {
		int fd = accept4(in->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE and the like: the socket stays readable, so pause
			 * rather than spin on it */
			in->accept_paused_until = monotonic_ms() + ACCEPT_PAUSE_MS;
			log_ratelimited(&in->accept_limit, LOG_ERR, "socketmap_accept_failed "
			    "error=\"%s\" (pausing %d ms)", strerror(errno), ACCEPT_PAUSE_MS);
			return;
		}
		if (in->nconns >= in->max_conns) {
			/* the newest goes: the open ones may hold sessions */
			in->refused++;
			log_ratelimited(&in->refuse_limit, LOG_WARNING, "socketmap_connection_refused "
			    "reason=too_many_connections limit=%zu", in->max_conns);
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->id = ++in->next_id;
		smm_decoder_init(&c->dec);
		strbuf_init(&c->out);
		c->sc = smm_conn_new(in->smm);
		in->conns[in->nconns++] = c;
		log_msg(LOG_DEBUG, "socketmap_connection_opened id=%lu", c->id);
	}
}

/* Printable, short: for log lines about what a peer sent. */
static void printable(const char *s, size_t len, char *out, size_t outlen)
{
	size_t j = 0;

	for (size_t i = 0; i < len && j + 4 < outlen; i++)
		out[j++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
	out[j] = '\0';
	if (j < len)
		strcat(out, "...");	/* j + 4 <= outlen: it fits */
}

static void handle_request(struct socketmap_input *in, struct conn *c)
{
	char why[128], text[128];
	size_t len;
	const char *req = smm_decoder_request(&c->dec, &len);

	c->requests++;
	if (smm_conn_request(in->smm, c->sc, req, len, (long long)time(NULL), &c->out, why,
	    sizeof(why)))
		return;
	printable(req, len, text, sizeof(text));
	log_ratelimited(&in->bad_limit, LOG_NOTICE, "socketmap_bad_request id=%lu reason=\"%s\" "
	    "request=\"%s\" (answered NOTFOUND; is the .mc from contrib/sendmail?)", c->id, why,
	    text);
}

/* Feed what was read to the decoder, answering each complete request. */
static void feed(struct socketmap_input *in, struct conn *c, const char *buf, size_t len)
{
	while (len > 0 && !c->closing) {
		size_t used;
		enum smm_status st = smm_decode(&c->dec, buf, len, &used);

		if (st == SMM_ERROR) {
			char text[160];

			in->protocol_errors++;
			log_ratelimited(&in->proto_limit, LOG_WARNING, "socketmap_protocol_error id=%lu "
			    "reason=\"%s\" (answered PERM, connection closed)", c->id,
			    smm_decoder_error(&c->dec));
			snprintf(text, sizeof(text), "PERM %s", smm_decoder_error(&c->dec));
			smm_reply(&c->out, text);
			c->closing = true;
			return;
		}
		buf += used;
		len -= used;
		if (st == SMM_REQUEST)
			handle_request(in, c);
	}
}

/* Write pending answers; false when the connection is finished. */
static bool flush_out(struct conn *c)
{
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
static bool serve(struct socketmap_input *in, struct conn *c, short revents, const char **why)
{
	char buf[READ_SIZE];

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
		if (n > 0)
			feed(in, c, buf, (size_t)n);
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
 * (a few reads: Sendmail has one request in flight, and a peer that
 * keeps writing must not hold up the stop).
 */
static void drain(struct socketmap_input *in, struct conn *c)
{
	char buf[READ_SIZE];
	ssize_t n;

	for (int reads = 0; reads < 4 && !c->closing; reads++) {
		if ((n = read(c->fd, buf, sizeof(buf))) <= 0)
			break;
		feed(in, c, buf, (size_t)n);
	}
	(void)flush_out(c);
}

/* The poll set; *timeout_ms -1, or the rest of an accept pause. */
static size_t build_pollset(struct socketmap_input *in, int *timeout_ms)
{
	long long rest = in->accept_paused_until - monotonic_ms();

	*timeout_ms = -1;
	if (in->accept_paused_until != 0 && rest <= 0)
		in->accept_paused_until = 0;
	else if (in->accept_paused_until != 0)
		*timeout_ms = (int)rest;
	in->pfds[0] = (struct pollfd){in->stop_fd, POLLIN, 0};
	in->pfds[1] = (struct pollfd){in->fd, in->accept_paused_until ? 0 : POLLIN, 0};
	for (size_t i = 0; i < in->nconns; i++) {
		struct conn *c = in->conns[i];
		short ev = 0;

		if (c->out.len - c->out_off < OUT_LIMIT && !c->closing)
			ev |= POLLIN;
		if (c->out_off < c->out.len)
			ev |= POLLOUT;
		in->pfds[i + 2] = (struct pollfd){c->fd, ev, 0};
	}
	return in->nconns + 2;
}

static void *serve_main(void *arg)
{
	struct socketmap_input *in = arg;

	for (;;) {
		int timeout_ms;
		size_t n = build_pollset(in, &timeout_ms), nconns = in->nconns;
		int rc = poll(in->pfds, n, timeout_ms);

		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "socketmap_poll_failed error=\"%s\"", strerror(errno));
			break;
		}
		if (in->pfds[0].revents & POLLIN)
			break;
		/* from the last: conn_close() moves the last connection into slot i */
		for (size_t i = nconns; i-- > 0;) {
			const char *why = NULL;

			if (in->pfds[i + 2].revents != 0 &&
			    !serve(in, in->conns[i], in->pfds[i + 2].revents, &why))
				conn_close(in, i, why);
		}
		if (in->pfds[1].revents & POLLIN)
			accept_all(in);
		publish_counters(in);
	}
	/* stopping: answer what has arrived (Sendmail defers the message
	 * whose request goes unanswered), then emit every open session */
	while (in->nconns > 0) {
		drain(in, in->conns[in->nconns - 1]);
		conn_close(in, in->nconns - 1, "stopping");
	}
	publish_counters(in);
	return NULL;
}

/* ---- the API ---- */

void socketmap_input_attach(struct socketmap_input *in, struct writer *w, struct report_mails *rm)
{
	in->writer = w;
	in->rm = rm;
	in->batch = writer_new_batch(w, "socketmap");
	in->smm = smm_new(emit_session, is_report_mail, in);
}

void socketmap_input_set_policy(struct socketmap_input *in, socketmap_policy_fn fn, void *ctx)
{
	in->policy_fn = fn;
	in->policy_ctx = ctx;
}

int socketmap_input_start(struct socketmap_input *in)
{
	int rc = pthread_create(&in->thread, NULL, serve_main, in);

	if (rc != 0) {
		log_msg(LOG_ERR, "socketmap_thread_failed error=\"%s\"", strerror(rc));
		return -1;
	}
	in->running = true;
	log_msg(LOG_INFO, "socketmap_listening endpoint=%s", in->endpoint);
	return 0;
}

void socketmap_input_stop(struct socketmap_input *in)
{
	uint64_t one = 1;
	struct smm_stats st;

	if (in == NULL || !in->running)
		return;
	if (write(in->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_msg(LOG_ERR, "socketmap_stop_signal_failed error=\"%s\"", strerror(errno));
	pthread_join(in->thread, NULL);
	in->running = false;
	smm_get_stats(in->smm, &st);
	log_msg(LOG_INFO, "socketmap_stopped requests=%llu sessions=%llu successes=%llu "
	    "failures=%llu unreported=%llu report_mails_skipped=%llu bad_requests=%llu "
	    "protocol_errors=%llu connections_refused=%llu", st.requests, st.sessions,
	    st.successes, st.failures, st.unreported, st.report_mails_skipped, st.bad_requests,
	    in->protocol_errors, in->refused);
}

void socketmap_input_close(struct socketmap_input *in)
{
	if (in == NULL)
		return;
	if (in->fd >= 0)
		close(in->fd);
	if (in->path != NULL && unlink(in->path) != 0 && errno != ENOENT)
		log_msg(LOG_NOTICE, "socketmap_socket_not_removed path=%s error=\"%s\"", in->path,
		    strerror(errno));
	if (in->stop_fd >= 0)
		close(in->stop_fd);
	smm_free(in->smm);
	free(in->path);
	free(in->endpoint);
	free(in);
}
