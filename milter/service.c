/*
 * NAME
 *	service - tlsrpt-milter under systemd: notifications, watchdog,
 *	socket activation
 * DESCRIPTION
 *	See service.h.  The passed sockets are kept in a small table until
 *	an input takes them; only the main thread calls in here, during
 *	start-up (sockets) and from its signal loop (notifications).
 */
#define _GNU_SOURCE
#include "config.h"

#include "service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "util.h"

#ifdef HAVE_LIBSYSTEMD

#define MAX_PASSED 16

struct passed {
	int fd;		/* -1 once taken */
	char *name;
};

static struct passed passed[MAX_PASSED];
static int npassed;

const char *service_features(void)
{
	return "notify, watchdog, socket activation (libsystemd)";
}

int service_sockets_init(char *err, size_t errlen)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);

	if (n < 0) {
		snprintf(err, errlen, "sockets passed by systemd: %s", strerror(-n));
		return -1;
	}
	if (n > MAX_PASSED) {
		snprintf(err, errlen, "systemd passed %d sockets, at most %d are expected", n,
		    MAX_PASSED);
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		passed[i].fd = SD_LISTEN_FDS_START + i;
		passed[i].name = names[i];	/* ours now */
		(void)fcntl(passed[i].fd, F_SETFD, FD_CLOEXEC);
	}
	free(names);
	npassed = n;
	return n;
}

/* Is fd what the configuration says? */
static bool socket_matches(int fd, int family, const char *path, int port, int type)
{
	int listening = type == SOCK_STREAM ? 1 : -1;

	if (family == AF_UNIX)
		return sd_is_socket_unix(fd, type, listening, path, 0) > 0;
	return sd_is_socket_inet(fd, family, type, listening, (uint16_t)port) > 0;
}

int service_take_socket(const char *name, int family, const char *path, int port, int type,
    char *err, size_t errlen)
{
	for (int i = 0; i < npassed; i++) {
		int fd = passed[i].fd;

		if (fd < 0 || strcmp(passed[i].name, name) != 0)
			continue;
		passed[i].fd = -1;
		if (!socket_matches(fd, family, path, port, type)) {
			close(fd);
			if (family == AF_UNIX)
				snprintf(err, errlen, "systemd passed %s, but not as a %s unix socket "
				    "bound to %s as the configuration says (check ListenStream=/"
				    "ListenDatagram= in the .socket unit)", name,
				    type == SOCK_STREAM ? "listening stream" : "datagram", path);
			else
				snprintf(err, errlen, "systemd passed %s, but not as a listening "
				    "%s socket on port %d as the configuration says (check "
				    "ListenStream= in the .socket unit)", name,
				    family == AF_INET6 ? "IPv6" : "IPv4", port);
			return SERVICE_BAD;
		}
		if (type == SOCK_STREAM)
			(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		log_msg(LOG_INFO, "socket_inherited name=%s fd=%d (from systemd: its owner, group "
		    "and mode are the socket unit's)", name, fd);
		return fd;
	}
	return SERVICE_NONE;
}

int service_sockets_finish(char *err, size_t errlen)
{
	int rc = 0;

	for (int i = 0; i < npassed; i++) {
		if (passed[i].fd >= 0) {
			if (rc == 0)
				snprintf(err, errlen, "systemd passed a socket named \"%s\" that no "
				    "input takes (%s); remove it from the .socket unit or set the "
				    "key, else the MTA waits on a socket nobody serves",
				    passed[i].name, strcmp(passed[i].name, "milter_socket") == 0 ?
				    "libmilter binds milter_socket itself and cannot take a "
				    "descriptor" : "its name must be datagram_socket, socketmap_socket "
				    "or policy_map_socket, and that key must be set");
			close(passed[i].fd);
			passed[i].fd = -1;
			rc = -1;
		}
		free(passed[i].name);
		passed[i].name = NULL;
	}
	npassed = 0;
	return rc;
}

void service_ready(void)
{
	sd_notify(0, "READY=1");
}

void service_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void service_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void service_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

long long service_watchdog_ms(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return (long long)(usec / 1000);
}

void service_watchdog_ping(void)
{
	sd_notify(0, "WATCHDOG=1");
}

#else	/* built without libsystemd: as outside systemd */

const char *service_features(void)
{
	return "none (built without libsystemd)";
}

int service_sockets_init(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (getenv("LISTEN_FDS") != NULL)
		log_msg(LOG_WARNING, "socket_activation_unsupported (built without libsystemd: "
		    "the passed sockets are ignored and every socket is bound as configured)");
	return 0;
}

int service_take_socket(const char *name, int family, const char *path, int port, int type,
    char *err, size_t errlen)
{
	(void)name;
	(void)family;
	(void)path;
	(void)port;
	(void)type;
	(void)err;
	(void)errlen;
	return SERVICE_NONE;
}

int service_sockets_finish(char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return 0;
}

void service_ready(void)
{
}

void service_reloading(void)
{
}

void service_stopping(void)
{
}

void service_status(const char *status)
{
	(void)status;
}

long long service_watchdog_ms(void)
{
	return 0;
}

void service_watchdog_ping(void)
{
}

#endif
