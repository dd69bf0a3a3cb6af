/*
 * NAME
 *	service - tlsrpt-milter under systemd: notifications, watchdog,
 *	socket activation
 * SYNOPSIS
 *	#include "service.h"
 * DESCRIPTION
 *	A thin layer over libsystemd (sd_notify, sd_watchdog_enabled,
 *	sd_listen_fds_with_names) so that the rest of the daemon does not
 *	care whether it runs under systemd, or whether it was built with
 *	libsystemd at all: without NOTIFY_SOCKET every notification is a
 *	no-op, without LISTEN_FDS no socket is inherited, and a build
 *	without libsystemd (configure --without-systemd) behaves the same
 *	as a run outside systemd.
 *
 *	Socket activation: systemd passes listening sockets named with
 *	FileDescriptorName= after the configuration keys they stand for
 *	(datagram_socket, socketmap_socket, policy_map_socket).
 *	service_sockets_init() takes them over (and clears LISTEN_* from
 *	the environment); listen.c asks for each key with
 *	service_take_socket() before binding one itself, and the socket
 *	must be what the key says (type, unix path or inet port), else the
 *	start is refused.  A socket nobody took (an unknown name, a key set
 *	to none, milter_socket: libmilter binds its own socket from an
 *	address and cannot take a descriptor) is an error too: systemd
 *	would keep it listening with nobody to accept, and the MTA would
 *	wait on it.
 */
#ifndef TLSRPT_SERVICE_H
#define TLSRPT_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#define SERVICE_NONE (-1)	/* no socket was passed under that name */
#define SERVICE_BAD (-2)	/* one was, but not what the configuration says */

/* "notify, watchdog, socket activation" or "none (built without libsystemd)". */
const char *service_features(void);

/* Take over the sockets systemd passed: their number, or -1 with err. */
int service_sockets_init(char *err, size_t errlen);

/*
 * The socket passed as name: family AF_UNIX with path, or AF_INET /
 * AF_INET6 with port; type SOCK_STREAM (must be listening; made
 * non-blocking) or SOCK_DGRAM.  The descriptor (close-on-exec), or
 * SERVICE_NONE, or SERVICE_BAD with err.
 */
int service_take_socket(const char *name, int family, const char *path, int port, int type,
    char *err, size_t errlen);

/* 0, or -1 with err naming a passed socket nobody took (all are closed). */
int service_sockets_finish(char *err, size_t errlen);

/* Notifications to the service manager (no-ops without NOTIFY_SOCKET). */
void service_ready(void);
void service_reloading(void);
void service_stopping(void);
void service_status(const char *status);

/* The watchdog's interval in ms (WATCHDOG_USEC), 0 when none is asked for. */
long long service_watchdog_ms(void);
void service_watchdog_ping(void);

#endif
