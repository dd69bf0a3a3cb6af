/*
 * NAME
 *	test_listen - unit tests of listen_check_stale() (milter/listen.c)
 * DESCRIPTION
 *	The check a unix socket path gets before an input binds it: no file,
 *	a stale socket (removed), a served socket, and a socket whose
 *	server accepts nothing and whose backlog is full (a hung process):
 *	that one must be reported at once, not waited for.  SIGALRM after
 *	5 s fails a check that blocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"

static char dir[] = "/tmp/tlsrpt-listen.XXXXXX";
static const struct listen_spec spec = {
	.option = "socketmap_socket", .holder = "another process", .type = SOCK_STREAM,
	.mode = 0660, .owner = (uid_t)-1, .group = (gid_t)-1,
};

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

/* A listening socket at path with the given backlog; its descriptor. */
static int listener(const char *path, int backlog)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	return fd;
}

static void no_file(void **state)
{
	char path[96], err[256] = "";

	(void)state;
	path_of(path, sizeof(path), "none.sock");
	assert_int_equal(listen_check_stale(path, &spec, true, err, sizeof(err)), 0);
}

static void stale_socket_removed(void **state)
{
	char path[96], err[256] = "";
	struct stat sb;

	(void)state;
	path_of(path, sizeof(path), "stale.sock");
	close(listener(path, 1));	/* the file stays, nobody serves it */
	assert_int_equal(listen_check_stale(path, &spec, true, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(errno, ENOENT);
}

static void served_socket(void **state)
{
	char path[96], err[256] = "", want[300];
	int fd;

	(void)state;
	path_of(path, sizeof(path), "served.sock");
	fd = listener(path, 8);
	assert_int_equal(listen_check_stale(path, &spec, true, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s is in use by another process; stop it first", path);
	assert_string_equal(err, want);
	close(fd);
	unlink(path);
}

static void hung_server_full_backlog(void **state)
{
	char path[96], err[256] = "", want[300];
	struct sockaddr_un sa;
	int fd, clients[64], n = 0;

	(void)state;
	path_of(path, sizeof(path), "hung.sock");
	fd = listener(path, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	/* fill the backlog: nobody accepts */
	for (; n < 64; n++) {
		clients[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(clients[n] >= 0);
		if (connect(clients[n], (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			assert_int_equal(errno, EAGAIN);
			close(clients[n]);
			break;
		}
	}
	assert_true(n < 64);
	alarm(5);
	assert_int_equal(listen_check_stale(path, &spec, true, err, sizeof(err)), -1);
	alarm(0);
	snprintf(want, sizeof(want), "%s is in use by another process (which accepts no "
	    "connections: hung?); stop it first", path);
	assert_string_equal(err, want);
	for (int i = 0; i < n; i++)
		close(clients[i]);
	close(fd);
	unlink(path);
}

static void not_a_socket(void **state)
{
	char path[96], err[256] = "", want[300];
	int fd;

	(void)state;
	path_of(path, sizeof(path), "file");
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(listen_check_stale(path, &spec, true, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s exists and is not a socket; remove it or choose "
	    "another socketmap_socket", path);
	assert_string_equal(err, want);
	unlink(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_file),
		cmocka_unit_test(stale_socket_removed),
		cmocka_unit_test(served_socket),
		cmocka_unit_test(hung_server_full_backlog),
		cmocka_unit_test(not_a_socket),
	};

	signal(SIGALRM, SIG_DFL);
	return cmocka_run_group_tests(tests, setup, teardown);
}
