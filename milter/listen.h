/*
 * NAME
 *	listen - the sockets the inputs of tlsrpt-milter listen on
 * SYNOPSIS
 *	#include "listen.h"
 * DESCRIPTION
 *	One way to bind what an input's option names, so that every input
 *	checks and reports the same things:
 *
 *	A unix socket path (listen_unix): at most sizeof(sun_path) - 1
 *	bytes; a file already there must be a socket nobody answers on
 *	(listen_check_stale: a connect() that succeeds, or that finds the
 *	backlog full, means another process still holds it, and the start
 *	is refused; the probe never blocks) and is removed;
 *	the socket is bound with its final mode (the umask is set around
 *	bind(), so there is no window with a wider one) and handed to
 *	owner:group with lchown() (a failure counts only as root).
 *
 *	An endpoint (listen_endpoint): unix:/path or local:/path as above,
 *	inet:PORT@HOST or inet6:PORT@HOST (conf_parse_endpoint); no host
 *	binds loopback, never every interface; SO_REUSEADDR.
 *
 *	A socket systemd passed under the option's name (socket
 *	activation, service.h) is taken instead of binding one: it must be
 *	what the option says, and as systemd made it, it is neither checked
 *	for staleness nor removed at the end (*made stays NULL), and its
 *	owner, group and mode are the socket unit's.
 *
 *	SOCK_STREAM sockets are non-blocking and listening (backlog
 *	LISTEN_BACKLOG); SOCK_DGRAM sockets stay blocking.  Every socket is
 *	close-on-exec.  Error texts name the option and the value, e.g.
 *	"cannot bind socketmap_socket unix:/x: Permission denied".
 */
#ifndef TLSRPT_LISTEN_H
#define TLSRPT_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define LISTEN_BACKLOG 128

struct listen_spec {
	const char *option;	/* the configuration option: "socketmap_socket" */
	const char *holder;	/* who serves a live socket: "another running tlsrpt-milter" */
	int type;		/* SOCK_STREAM or SOCK_DGRAM */
	mode_t mode;		/* a unix socket's permissions */
	uid_t owner;		/* and owner and group */
	gid_t group;
};

/*
 * A file at path: 0 when there is none or it is a socket nobody serves
 * (removed first when remove is set), -1 with err when it is not a
 * socket, is served, or cannot be checked or removed.
 */
int listen_check_stale(const char *path, const struct listen_spec *spec, bool remove,
    char *err, size_t errlen);

/*
 * Bind (and for SOCK_STREAM listen on) the unix socket path: the
 * descriptor, or -1 with err.  *made gets a copy of path as soon as the
 * socket file exists, also when a later step fails: the caller removes
 * it (listen_remove) as it does at the end; otherwise it stays NULL.
 */
int listen_unix(const char *path, const struct listen_spec *spec, char **made, char *err,
    size_t errlen);

/* The same for an endpoint value of spec->option; *made stays NULL for inet. */
int listen_endpoint(const char *endpoint, const struct listen_spec *spec, char **made,
    char *err, size_t errlen);

/* A unix endpoint, or an inet one on a loopback address (or none). */
bool listen_loopback_only(const char *endpoint);

/*
 * The end of a socket file at path (NULL: nothing).  One that was served
 * stays: a client then meets "connection refused", which every hook takes
 * as "no daemon, go on", whereas a missing file makes Sendmail's socket
 * map defer the command-line deliveries; the next start removes it.  One
 * that never served (the start failed) is removed, with
 * "<name>_socket_not_removed" when it cannot be.
 */
void listen_release(const char *path, bool served, const char *name);

#endif
