/*
 * NAME
 *	netstring_server - the server core of the socketmap services
 * SYNOPSIS
 *	#include "netstring_server.h"
 * DESCRIPTION
 *	What the Sendmail socketmap (socketmap_input) and the Postfix
 *	policy map (policymap_input) share: one thread serves the listening
 *	socket and every connection with poll(), all non-blocking.  Bytes
 *	go through the netstring decoder of sendmail_map.h; each complete
 *	request goes to ops->request at once, which appends its answer to
 *	the connection's out (smm_reply), and answers are written as the
 *	peer takes them.  The input keeps its protocol, its counters and its
 *	log lines; the core keeps the connections:
 *
 *	  - connections are limited, and a full server makes room rather
 *	    than lock out the next lookup:
 *	    . a connection with no byte read or written for
 *	      cfg->idle_timeout_ms is closed (NS_IDLE_CLOSED);
 *	    . one peer holds at most cfg->peer_limit connections; a peer is
 *	      the client process for a unix socket (SO_PEERCRED pid), the
 *	      address for inet, and as every local client shares the
 *	      loopback address, an address may hold half of max_conns;
 *	    . a newcomer beyond its peer's limit takes the place of that
 *	      peer's longest-idle connection (NS_PEER_EVICTED), one beyond
 *	      cfg->max_conns the place of the longest-idle connection of
 *	      all (NS_EVICTED);
 *	    . only an idle connection gives way: one with a request under
 *	      way (part of a netstring read, stalled for less than
 *	      NS_STALL_MS), an answer not yet taken, or bytes waiting in
 *	      the kernel is never closed for a newcomer; when nothing can
 *	      give way the newcomer is closed at once (NS_REFUSED);
 *	    each is counted through ops->counted and logged with its
 *	    reason, the peer and how long the connection was idle;
 *	  - when accept() fails for want of descriptors, accepting pauses
 *	    for NS_ACCEPT_PAUSE_MS (the socket stays readable: no spinning);
 *	  - a malformed netstring gets "PERM <why>", is counted
 *	    (NS_PROTOCOL_ERROR) and the connection closes once the answer is
 *	    written;
 *	  - a peer with NS_OUT_LIMIT bytes of unread answers is not read
 *	    from until it takes them;
 *	  - ops->tick runs after every round of poll(), or with
 *	    cfg->tick_ms at least that often and no more;
 *	  - at the stop, with cfg->refuse_at_stop the listening socket is
 *	    shut down first (shutdown(SHUT_RD): a unix client then meets
 *	    "connection refused") and the connections already in its backlog
 *	    are accepted; with cfg->drain_on_stop a connection that has sent
 *	    no request yet, or half of one, gets NS_STOP_GRACE_MS (in all)
 *	    for it; then every connection is closed ("stopping"), with
 *	    cfg->drain_on_stop after answering what has already arrived (a
 *	    few reads, so that a peer that keeps writing cannot hold it up).
 *
 *	Log events, <name> being cfg->name: <name>_connection_opened,
 *	<name>_connection_closed (debug), <name>_connection_idle_closed,
 *	<name>_connection_evicted, <name>_connection_refused (these three
 *	rate limited), <name>_accept_failed, <name>_protocol_error (rate limited with the
 *	limits cfg points to), <name>_poll_failed,
 *	<name>_stop_signal_failed.
 */
#ifndef TLSRPT_NETSTRING_SERVER_H
#define TLSRPT_NETSTRING_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "sendmail_map.h"
#include "util.h"

#define NS_READ_SIZE 4096
#define NS_OUT_LIMIT (64 * 1024)	/* unread answers: stop reading from that peer */
#define NS_ACCEPT_PAUSE_MS 100		/* out of descriptors: try accept() again after this */
#define NS_STOP_GRACE_MS 200		/* at the stop: for a request a connected client is sending */
#define NS_PEER_LIMIT 8		/* connections of one client process: a healthy one holds one */
#define NS_STALL_MS 10000	/* a request begun this long ago and not finished may give way */

/* Who is on the other end: for the per-peer limit and for log lines. */
struct ns_peer {
	int family;		/* AF_UNIX, AF_INET, AF_INET6; AF_UNSPEC when unknown */
	long pid;		/* AF_UNIX: SO_PEERCRED; 0 when unknown */
	long uid;
	char addr[48];		/* inet: the address */
};

/* One connection, as the callbacks see it. */
struct ns_conn {
	unsigned long id;	/* from 1, in the order of acceptance: for log lines */
	unsigned long requests;	/* complete requests, this one included */
	struct strbuf out;	/* answers not yet written: append with smm_reply() */
	void *data;		/* what ops->opened returned */

	/* the core's own */
	int fd;
	struct smm_decoder dec;
	size_t out_off;
	bool closing;		/* close once out is written */
	struct ns_peer peer;
	long long last_active;	/* monotonic ms of the last byte read or written */
	long long partial_since;	/* monotonic ms a request began arriving; 0: none under way */
};

enum ns_event {
	NS_PROTOCOL_ERROR,
	NS_REFUSED,		/* a newcomer closed at once: nothing could give way */
	NS_IDLE_CLOSED,		/* idle for cfg->idle_timeout_ms */
	NS_EVICTED,		/* gave way to a newcomer: every slot was taken */
	NS_PEER_EVICTED,	/* gave way to a newcomer of its own peer, at its limit */
};

struct ns_ops {
	/* A complete request (NUL-terminated, len bytes): answer into c->out. */
	void (*request)(void *ctx, struct ns_conn *c, const char *req, size_t len);
	/* Optional: a new connection; the result becomes c->data. */
	void *(*opened)(void *ctx, struct ns_conn *c);
	/* Optional: c is about to be closed (after its log line). */
	void (*closed)(void *ctx, struct ns_conn *c);
	/* Count an event (the serving thread). */
	void (*counted)(void *ctx, enum ns_event ev);
	/* Optional: see cfg->tick_ms. */
	void (*tick)(void *ctx);
};

struct ns_config {
	const char *name;		/* the prefix of the log events: "socketmap" */
	size_t max_conns;		/* open connections at most */
	size_t peer_limit;		/* of one client process (unix); 0: NS_PEER_LIMIT */
	long long idle_timeout_ms;	/* 0: none */
	const char *refused_hint;	/* appended to <name>_connection_refused, or "" */
	int tick_ms;			/* 0: ops->tick after every round */
	bool drain_on_stop;
	/*
	 * The listening socket is a unix socket of our own (not systemd's):
	 * at the stop, shut it down (new connections are refused) and
	 * accept, and with drain_on_stop answer, those in the backlog.
	 * Otherwise the backlog is left to whoever holds the socket next.
	 */
	bool refuse_at_stop;
	/* the rate limits of the log lines (the input's; one may serve two) */
	struct log_limit *proto_limit, *refuse_limit, *accept_limit;
};

struct ns_server;

/*
 * A server on listen_fd (non-blocking, listening; the server closes it,
 * also when this fails); NULL with err.  cfg and its strings and limits
 * must outlive the server.
 */
struct ns_server *ns_server_new(int listen_fd, const struct ns_config *cfg,
    const struct ns_ops *ops, void *ctx, char *err, size_t errlen);

/* Start the serving thread: 0, or pthread_create()'s error number. */
int ns_server_start(struct ns_server *srv);

/* Stop a started server: close every connection (see above) and join the thread. */
void ns_server_stop(struct ns_server *srv);

/* Close the sockets and free (NULL: nothing). */
void ns_server_free(struct ns_server *srv);

/* The peer as a log field: "pid=123 uid=0" or "addr=127.0.0.1". */
void ns_peer_text(const struct ns_peer *p, char *out, size_t outlen);

/* What a peer sent, printable and short, for a log line: at most outlen - 1 bytes. */
void ns_printable(const char *s, size_t len, char *out, size_t outlen);

#endif
