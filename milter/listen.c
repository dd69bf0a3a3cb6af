/*
 * NAME
 *	listen - the sockets the inputs of tlsrpt-milter listen on
 * DESCRIPTION
 *	See listen.h.  Called as root before the privilege drop, from one
 *	thread (the umask is the process's).
 */
#define _GNU_SOURCE
#include "config.h"

#include "listen.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "service.h"
#include "util.h"

/* Streams are served with poll() and accept(); a datagram reader blocks. */
static int socket_flags(int type)
{
	return type | SOCK_CLOEXEC | (type == SOCK_STREAM ? SOCK_NONBLOCK : 0);
}

static void unix_address(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, strlen(path));
}

/* An inet endpoint without host: loopback, never every interface. */
static const char *inet_host(int family, const char *host)
{
	if (*host == '\0')
		return family == AF_INET6 ? "::1" : "127.0.0.1";
	return host;
}

int listen_check_stale(const char *path, const struct listen_spec *spec, bool remove,
    char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat sb;
	int probe, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s %s: path longer than %zu bytes", spec->option, path,
		    sizeof(sa.sun_path) - 1);
		return -1;
	}
	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; remove it or choose "
		    "another %s", path, spec->option);
		return -1;
	}
	/*
	 * A socket someone still serves means another process runs.  The
	 * probe does not block: a blocking connect() to a stream socket
	 * whose backlog is full (its server hung) would wait for ever.
	 */
	unix_address(&sa, path);
	probe = socket(AF_UNIX, spec->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
	if (rc != 0)
		rc = errno == EAGAIN ? 1 : -1;
	close(probe);
	if (rc >= 0) {
		snprintf(err, errlen, "%s is in use by %s%s; stop it first", path, spec->holder,
		    rc > 0 ? " (which accepts no connections: hung?)" : "");
		return -1;
	}
	if (remove && unlink(path) != 0) {
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int bind_unix(const char *path, const struct listen_spec *spec, char **made,
    char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, rc;

	if (listen_check_stale(path, spec, true, err, errlen) != 0)
		return -1;
	fd = socket(AF_UNIX, socket_flags(spec->type), 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	unix_address(&sa, path);
	/* the final mode from the start: no window with a wider one */
	old = umask((mode_t)(~spec->mode & 0777));
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0) {
		snprintf(err, errlen, "cannot bind %s %s: %s (does the directory exist?)",
		    spec->option, path, strerror(errno));
		close(fd);
		return -1;
	}
	*made = xstrdup(path);
	/* lchown: if the path was swapped for a symlink, change the link, not its target */
	if (lchown(path, spec->owner, spec->group) != 0 && geteuid() == 0) {
		snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int bind_inet(const char *endpoint, int family, const char *host, int port,
    const struct listen_spec *spec, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	int fd, rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = spec->type;
	snprintf(portstr, sizeof(portstr), "%d", port);
	host = inet_host(family, host);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s host %s: %s", spec->option, host, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, socket_flags(spec->type), 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	rc = bind(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot bind %s %s: %s", spec->option, endpoint,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* A stream socket listens; what names it in the error. */
static int start_listening(int fd, const struct listen_spec *spec, const char *what,
    char *err, size_t errlen)
{
	if (fd < 0 || spec->type != SOCK_STREAM || listen(fd, LISTEN_BACKLOG) == 0)
		return fd;
	snprintf(err, errlen, "listen %s: %s", what, strerror(errno));
	close(fd);
	return -1;
}

int listen_unix(const char *path, const struct listen_spec *spec, char **made, char *err,
    size_t errlen)
{
	int fd;

	*made = NULL;
	fd = service_take_socket(spec->option, AF_UNIX, path, 0, spec->type, err, errlen);
	if (fd != SERVICE_NONE)
		return fd >= 0 ? fd : -1;
	return start_listening(bind_unix(path, spec, made, err, errlen), spec, path, err, errlen);
}

int listen_endpoint(const char *endpoint, const struct listen_spec *spec, char **made,
    char *err, size_t errlen)
{
	char host[256];
	int family, port, fd;

	*made = NULL;
	if (!conf_parse_endpoint(endpoint, &family, host, sizeof(host), &port)) {
		snprintf(err, errlen, "%s %s: not unix:/path, local:/path or inet:PORT@HOST",
		    spec->option, endpoint);
		return -1;
	}
	fd = service_take_socket(spec->option, family, host, port, spec->type, err, errlen);
	if (fd != SERVICE_NONE)
		return fd >= 0 ? fd : -1;
	fd = family == AF_UNIX ? bind_unix(host, spec, made, err, errlen) :
	    bind_inet(endpoint, family, host, port, spec, err, errlen);
	return start_listening(fd, spec, endpoint, err, errlen);
}

bool listen_loopback_only(const char *endpoint)
{
	char host[256];
	const char *h;
	int family, port;

	if (!conf_parse_endpoint(endpoint, &family, host, sizeof(host), &port))
		return false;
	if (family == AF_UNIX)
		return true;
	h = inet_host(family, host);
	return strcmp(h, "127.0.0.1") == 0 || strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;
}

void listen_release(const char *path, bool served, const char *name)
{
	if (path == NULL)
		return;
	if (served) {
		log_msg(LOG_DEBUG, "%s_socket_kept path=%s (refuses connections until the next start)",
		    name, path);
		return;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		log_msg(LOG_NOTICE, "%s_socket_not_removed path=%s error=\"%s\"", name, path,
		    strerror(errno));
}
