/*
 * NAME
 *	socketmap_input - the Sendmail socketmap hook of tlsrpt-milter
 * DESCRIPTION
 *	See socketmap_input.h.  The socket is bound by listen.c and served
 *	by a netstring_server: one thread, every connection non-blocking
 *	under poll(), each request answered as soon as its netstring is
 *	complete (sendmail_map.c decides the answer and the session
 *	results), so Sendmail never waits on the store.  At most
 *	MAX_CONNECTIONS are open (the soft open file limit is raised for
 *	them); the server's limits (idle time-out socketmap_idle_timeout,
 *	connections per client process, the longest-idle connection giving
 *	way to a new one) are netstring_server.h's.  When accept()
 *	fails for want of descriptors, accepting pauses (NS_ACCEPT_PAUSE_MS).
 *	A malformed netstring gets "PERM" and the connection is closed once
 *	the answer is written.  Each connection holds its smm_conn; closing
 *	it emits the sessions still open.  Counters go to the store through
 *	aggregate_count() (socketmap.*) after every round of the server;
 *	log lines about hostile input are rate limited.
 */
#define _GNU_SOURCE
#include "config.h"

#include "socketmap_input.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "listen.h"
#include "log.h"
#include "netstring_server.h"
#include "sendmail_map.h"
#include "util.h"

#define MAX_CONNECTIONS 1024
#define FD_RESERVE 128		/* descriptors the rest of the daemon may need */

struct socketmap_input {
	struct ns_server *srv;
	char *path;		/* unix socket path, NULL for inet */
	char *endpoint;
	struct writer *writer;
	struct input_batch *batch;
	struct report_mails *rm;
	struct smm *smm;
	bool running;
	bool served;	/* started once: the socket file stays at the end */
	socketmap_policy_fn policy_fn;	/* socketmap_input_set_policy(), or NULL */
	void *policy_ctx;

	/* the serving thread's own */
	unsigned long long protocol_errors, refused, idle_closed, evicted;
	struct smm_stats counted;	/* what is already in the batch's counters */
	unsigned long long counted_errors, counted_refused, counted_idle, counted_evicted;
	bool folded_logged;
	struct log_limit proto_limit, bad_limit, refuse_limit, accept_limit, full_limit;
};

static const struct ns_ops server_ops;

/* ---- opening ---- */

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

/* The bound socket, served by a netstring server; -1 with err. */
static int open_server(struct socketmap_input *in, const struct tlsrpt_conf *conf, uid_t owner,
    gid_t group, char *err, size_t errlen)
{
	const struct listen_spec spec = {
		.option = "socketmap_socket", .holder = "another running tlsrpt-milter",
		.type = SOCK_STREAM, .mode = (mode_t)conf->socketmap_socket_mode,
		.owner = owner, .group = group,
	};
	struct ns_config cfg = {
		.name = "socketmap", .refused_hint = "", .tick_ms = 0, .drain_on_stop = true,
		.idle_timeout_ms = conf->socketmap_idle_timeout_ms,
		.proto_limit = &in->proto_limit, .refuse_limit = &in->refuse_limit,
		.accept_limit = &in->accept_limit,
	};
	int fd = listen_endpoint(in->endpoint, &spec, &in->path, err, errlen);

	if (fd < 0)
		return -1;
	if (!listen_loopback_only(in->endpoint))
		log_msg(LOG_WARNING, "socketmap_not_loopback endpoint=%s (whoever can connect "
		    "can add session results; bind to 127.0.0.1 or use a unix socket)",
		    in->endpoint);
	cfg.max_conns = connection_limit();
	cfg.refuse_at_stop = in->path != NULL;	/* a unix socket we made */
	in->srv = ns_server_new(fd, &cfg, &server_ops, in, err, errlen);
	return in->srv != NULL ? 0 : -1;
}

struct socketmap_input *socketmap_input_open(const struct tlsrpt_conf *conf, uid_t owner,
    gid_t group, char *err, size_t errlen)
{
	struct socketmap_input *in = xcalloc(1, sizeof(*in));

	in->endpoint = xstrdup(conf->socketmap_socket);
	if (open_server(in, conf, owner, group, err, errlen) != 0) {
		socketmap_input_close(in);
		return NULL;
	}
	return in;
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
	    in->refused == in->counted_refused && in->idle_closed == in->counted_idle &&
	    in->evicted == in->counted_evicted)
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
	count(in, now, "socketmap.connections_idle_closed", in->idle_closed, &in->counted_idle);
	count(in, now, "socketmap.connections_evicted", in->evicted, &in->counted_evicted);
	pthread_mutex_unlock(&in->batch->lock);
	in->counted = st;
	if (st.key_folded > 0 && !in->folded_logged) {
		in->folded_logged = true;
		log_msg(LOG_WARNING, "socketmap_key_folded (Sendmail sends the key in lower case: "
		    "add -f to the K line of the map, see contrib/sendmail/README.md; until then "
		    "queue ids lose their case and report mails are counted)");
	}
}

/* ---- the server's callbacks ---- */

static void *conn_opened(void *ctx, struct ns_conn *c)
{
	struct socketmap_input *in = ctx;

	(void)c;
	return smm_conn_new(in->smm);
}

/* The connection's open sessions end: emitted now. */
static void conn_closed(void *ctx, struct ns_conn *c)
{
	struct socketmap_input *in = ctx;

	smm_conn_close(in->smm, c->data);
}

static void handle_request(void *ctx, struct ns_conn *c, const char *req, size_t len)
{
	struct socketmap_input *in = ctx;
	char why[128], text[128];

	if (smm_conn_request(in->smm, c->data, req, len, (long long)time(NULL), &c->out, why,
	    sizeof(why)))
		return;
	ns_printable(req, len, text, sizeof(text));
	log_ratelimited(&in->bad_limit, LOG_NOTICE, "socketmap_bad_request id=%lu reason=\"%s\" "
	    "request=\"%s\" (answered NOTFOUND; is the .mc from contrib/sendmail?)", c->id, why,
	    text);
}

static void count_event(void *ctx, enum ns_event ev)
{
	struct socketmap_input *in = ctx;

	switch (ev) {
	case NS_REFUSED:
		in->refused++;
		break;
	case NS_IDLE_CLOSED:
		in->idle_closed++;
		break;
	case NS_EVICTED:
	case NS_PEER_EVICTED:
		in->evicted++;
		break;
	case NS_PROTOCOL_ERROR:
		in->protocol_errors++;
		break;
	}
}

/* After every round: the counters reach the batch at once. */
static void tick(void *ctx)
{
	publish_counters(ctx);
}

static const struct ns_ops server_ops = {
	.request = handle_request, .opened = conn_opened, .closed = conn_closed,
	.counted = count_event, .tick = tick,
};

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
	int rc = ns_server_start(in->srv);

	if (rc != 0) {
		log_msg(LOG_ERR, "socketmap_thread_failed error=\"%s\"", strerror(rc));
		return -1;
	}
	in->running = true;
	in->served = true;
	log_msg(LOG_INFO, "socketmap_listening endpoint=%s", in->endpoint);
	return 0;
}

void socketmap_input_stop(struct socketmap_input *in)
{
	struct smm_stats st;

	if (in == NULL || !in->running)
		return;
	/* the server answers what has arrived (Sendmail defers the message
	 * whose request goes unanswered), then closes every connection,
	 * which emits its open sessions */
	ns_server_stop(in->srv);
	in->running = false;
	publish_counters(in);
	smm_get_stats(in->smm, &st);
	log_msg(LOG_INFO, "socketmap_stopped requests=%llu sessions=%llu successes=%llu "
	    "failures=%llu unreported=%llu report_mails_skipped=%llu bad_requests=%llu "
	    "protocol_errors=%llu connections_refused=%llu connections_evicted=%llu "
	    "connections_idle_closed=%llu", st.requests, st.sessions,
	    st.successes, st.failures, st.unreported, st.report_mails_skipped, st.bad_requests,
	    in->protocol_errors, in->refused, in->evicted, in->idle_closed);
}

void socketmap_input_close(struct socketmap_input *in)
{
	if (in == NULL)
		return;
	ns_server_free(in->srv);
	listen_release(in->path, in->served, "socketmap");
	smm_free(in->smm);
	free(in->path);
	free(in->endpoint);
	free(in);
}
