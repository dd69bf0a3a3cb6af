/*
 * NAME
 *	tlsrpt-milter - collect outbound SMTP TLS session results
 * SYNOPSIS
 *	tlsrpt-milter [-c file] [-f] [-n] [-V] [-h]
 * DESCRIPTION
 *	The daemon: binds its inputs as root, drops to run_as_user, opens the
 *	store and hands session results to one writer thread.  The main
 *	thread only waits for signals: TERM/INT stop cleanly (inputs drain,
 *	everything is committed), HUP reloads the configuration (all or
 *	nothing), USR1 logs the counters.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "dgram_input.h"
#include "heartbeat.h"
#include "logfollow.h"
#include "milter_input.h"
#include "policymap_input.h"
#include "report_mails.h"
#include "service.h"
#include "socketmap_input.h"
#include "sts_export.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "writer.h"

struct daemon {
	struct tlsrpt_conf conf;
	const char *conf_path;
	bool foreground;
	bool pid_written;
	struct store *store;
	struct writer *writer;
	struct dgram_input *dgram;		/* NULL when not configured */
	struct socketmap_input *smap;
	struct milter_input *milter;
	struct logfollow *logf;
	struct policymap_input *pmap;		/* MTA-STS policy map, NULL when not configured */
	struct sts_export *sts_file;		/* policy_map_file, NULL when none */
	struct report_mails *report_mails;
	int ready_fd;	/* daemon mode: tells the waiting parent how start-up went */
	long long watchdog_ms;	/* systemd's WATCHDOG_USEC in ms, 0: no watchdog */
	long long next_ping;	/* monotonic ms */
	bool withheld;		/* a thread is overdue: no pings */
};

static void usage(FILE *fp)
{
	fprintf(fp,
	    "usage: tlsrpt-milter [-c file] [-f] [-n] [-V] [-h]\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -f       stay in the foreground and log to stderr\n"
	    "  -n       check the configuration file and exit\n"
	    "  -V       print version and build features and exit\n"
	    "  -h       print this help and exit\n"
	    "signals: TERM/INT stop (drain and commit), HUP reload, USR1 log counters\n",
	    conf_default_path());
}

static void version(void)
{
	printf("tlsrpt-milter %s\n", PACKAGE_VERSION);
	printf("inputs: datagram (libtlsrpt protocol 1)\n");
	printf("store schema: %d\n", STORE_SCHEMA_VERSION);
	printf("systemd: %s\n", service_features());
#ifdef TLSRPT_SANITIZERS
	printf("build: sanitizers\n");
#endif
}

/* Start-up failure: say it where the operator is looking, then exit. */
static void __attribute__((noreturn, format(printf, 3, 4)))
die(struct daemon *d, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LOG_ERR, "startup_failed error=\"%s\"", msg);
	if (d->ready_fd >= 0) {
		/* if this fails the parent still sees a failed start */
		ssize_t n __attribute__((unused)) = write(d->ready_fd, msg, strlen(msg));
	} else if (!d->foreground) {
		fprintf(stderr, "tlsrpt-milter: %s\n", msg);
	}
	if (d->pid_written)
		unlink(d->conf.pid_file);
	exit(code);
}

struct identity {
	bool change;
	uid_t uid;
	gid_t gid;
	const char *name;
};

static void resolve_identity(struct daemon *d, struct identity *id, uid_t *sock_uid, gid_t *sock_gid)
{
	struct passwd *pw;
	struct group *gr;

	id->change = geteuid() == 0;
	id->uid = geteuid();
	id->gid = getegid();
	id->name = d->conf.run_as_user;
	if (id->change) {
		if ((pw = getpwnam(d->conf.run_as_user)) == NULL)
			die(d, EX_NOUSER, "%s: run_as_user %s does not exist; create it "
			    "(adduser --system --group %s) or set run_as_user", d->conf.path,
			    d->conf.run_as_user, d->conf.run_as_user);
		id->uid = pw->pw_uid;
		id->gid = pw->pw_gid;
		if (id->uid == 0) {
			log_msg(LOG_WARNING, "running_as_root run_as_user=%s (not recommended: "
			    "create a system user for tlsrpt)", id->name);
			id->change = false;
		}
	}
	*sock_uid = id->uid;
	*sock_gid = id->gid;
	if (*d->conf.datagram_socket_owner) {
		if ((pw = getpwnam(d->conf.datagram_socket_owner)) == NULL)
			die(d, EX_NOUSER, "%s: datagram_socket_owner %s does not exist",
			    d->conf.path, d->conf.datagram_socket_owner);
		*sock_uid = pw->pw_uid;
	}
	if (*d->conf.datagram_socket_group) {
		if ((gr = getgrnam(d->conf.datagram_socket_group)) == NULL)
			die(d, EX_NOUSER, "%s: datagram_socket_group %s does not exist",
			    d->conf.path, d->conf.datagram_socket_group);
		*sock_gid = gr->gr_gid;
	}
}

static void drop_privileges(struct daemon *d, const struct identity *id)
{
	if (!id->change) {
		log_msg(LOG_DEBUG, "privileges_kept reason=not_root uid=%u", (unsigned)geteuid());
		return;
	}
	if (initgroups(id->name, id->gid) != 0 || setgid(id->gid) != 0 || setuid(id->uid) != 0)
		die(d, EX_OSERR, "cannot switch to user %s: %s", id->name, strerror(errno));
	if (setuid(0) == 0)
		die(d, EX_SOFTWARE, "privileges were not dropped: still able to become root");
	log_msg(LOG_INFO, "privileges_dropped user=%s uid=%u gid=%u", id->name,
	    (unsigned)id->uid, (unsigned)id->gid);
}

/* Refuse to run twice: a pid file naming a live process stops us. */
static void check_pid_file(struct daemon *d)
{
	const char *path = d->conf.pid_file;
	char buf[32];
	ssize_t n;
	long pid;
	int fd;

	if (*path == '\0')
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			pid = strtol(buf, NULL, 10);
			if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) == 0)
				die(d, EX_UNAVAILABLE, "already running as pid %ld (pid file %s)",
				    pid, path);
		}
	}
}

static void write_pid_file(struct daemon *d)
{
	const char *path = d->conf.pid_file;
	char buf[32];
	ssize_t n;
	int fd;

	if (*path == '\0')
		return;
	/*
	 * As root, in a directory the run-as user may own: never follow a
	 * symlink planted there, and write only to a fresh regular file.
	 */
	if (unlink(path) != 0 && errno != ENOENT)
		die(d, EX_CANTCREAT, "cannot replace pid file %s: %s", path, strerror(errno));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		die(d, EX_CANTCREAT, "cannot write pid file %s: %s (set pid_file, or none)",
		    path, strerror(errno));
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n)
		die(d, EX_IOERR, "cannot write pid file %s: %s", path, strerror(errno));
	close(fd);
	d->pid_written = true;
}

/*
 * Fork into the background.  The parent waits until the child says it is
 * ready (or why it is not), so an init script sees start-up errors.
 */
static void daemonize(struct daemon *d)
{
	int pfd[2], devnull;
	char msg[1024];
	ssize_t n;
	pid_t pid;

	if (pipe(pfd) != 0)
		die(d, EX_OSERR, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die(d, EX_OSERR, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(pfd[1]);
		n = read(pfd[0], msg, sizeof(msg) - 1);
		if (n == 1 && msg[0] == '\0')
			_exit(0);	/* the child said it is ready */
		if (n < 0)
			n = 0;
		msg[n] = '\0';
		/* a message, or nothing at all: the child died before it was ready */
		fprintf(stderr, "tlsrpt-milter: %s\n", n ? msg : "start-up failed (the daemon "
		    "died before it was ready; see the mail log)");
		_exit(EX_UNAVAILABLE);
	}
	close(pfd[0]);
	fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
	d->ready_fd = pfd[1];
	if (setsid() < 0)
		die(d, EX_OSERR, "setsid: %s", strerror(errno));
	if (chdir("/") != 0)
		die(d, EX_OSERR, "chdir /: %s", strerror(errno));
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
}

static void settings_from_conf(const struct tlsrpt_conf *c, struct writer_settings *ws)
{
	ws->flush_interval_ms = c->flush_interval_ms;
	ws->flush_records = c->flush_records;
	ws->pending_limit = c->pending_limit;
	ws->busy_timeout_ms = c->store_busy_timeout_ms;
}

static void log_counters(struct daemon *d, const char *when)
{
	struct writer_totals t;
	struct strbuf sb;

	writer_totals(d->writer, &t);
	strbuf_init(&sb);
	for (int i = 1; i < DG_STATUS_COUNT; i++)
		if (t.in.rejected[i])
			strbuf_printf(&sb, " rejected_%s=%llu", dg_status_name((enum dg_status)i),
			    (unsigned long long)t.in.rejected[i]);
	log_msg(LOG_INFO, "counters event=%s received=%llu accepted=%llu stored=%llu "
	    "dropped_full=%llu commits=%llu busy_retries=%llu commit_errors=%llu "
	    "store_reopens=%llu pending_keys=%llu%s", when,
	    (unsigned long long)t.in.received, (unsigned long long)t.in.accepted,
	    (unsigned long long)t.stored_sessions, (unsigned long long)t.in.dropped_full,
	    (unsigned long long)t.commits, (unsigned long long)t.busy_retries,
	    (unsigned long long)t.commit_errors, (unsigned long long)t.store_reopens,
	    (unsigned long long)t.pending_keys, sb.data ? sb.data : "");
	strbuf_free(&sb);
}

/* Keys that only take effect at start; a reload that changes them says so. */
static void warn_restart_keys(const struct tlsrpt_conf *old, const struct tlsrpt_conf *new)
{
	static const struct {
		const char *name;
		size_t off;
	} keys[] = {
		{"store_path", offsetof(struct tlsrpt_conf, store_path)},
		{"datagram_socket", offsetof(struct tlsrpt_conf, datagram_socket)},
		{"run_as_user", offsetof(struct tlsrpt_conf, run_as_user)},
		{"pid_file", offsetof(struct tlsrpt_conf, pid_file)},
		{"datagram_socket_owner", offsetof(struct tlsrpt_conf, datagram_socket_owner)},
		{"datagram_socket_group", offsetof(struct tlsrpt_conf, datagram_socket_group)},
		{"log_file", offsetof(struct tlsrpt_conf, log_file)},
		{"log_format", offsetof(struct tlsrpt_conf, log_format)},
		{"log_start_at", offsetof(struct tlsrpt_conf, log_start_at)},
		{"socketmap_socket", offsetof(struct tlsrpt_conf, socketmap_socket)},
		{"milter_socket", offsetof(struct tlsrpt_conf, milter_socket)},
		{"policy_map_socket", offsetof(struct tlsrpt_conf, policy_map_socket)},
		{"policy_map_file", offsetof(struct tlsrpt_conf, policy_map_file)},
		{"policy_map_file_group", offsetof(struct tlsrpt_conf, policy_map_file_group)},
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *a = *(char *const *)((const char *)old + keys[i].off);
		const char *b = *(char *const *)((const char *)new + keys[i].off);

		if (strcmp(a ? a : "", b ? b : "") != 0)
			log_msg(LOG_WARNING, "reload_needs_restart key=%s (keeping \"%s\" until restart)",
			    keys[i].name, a ? a : "");
	}
	if (old->datagram_threads != new->datagram_threads ||
	    old->datagram_max_size != new->datagram_max_size ||
	    old->datagram_receive_buffer != new->datagram_receive_buffer ||
	    old->datagram_queue_size != new->datagram_queue_size ||
	    old->datagram_socket_mode != new->datagram_socket_mode ||
	    old->socketmap_socket_mode != new->socketmap_socket_mode ||
	    old->milter_socket_mode != new->milter_socket_mode ||
	    old->policy_map_socket_mode != new->policy_map_socket_mode ||
	    old->policy_map_file_mode != new->policy_map_file_mode ||
	    old->socketmap_idle_timeout_ms != new->socketmap_idle_timeout_ms ||
	    old->policy_map_idle_timeout_ms != new->policy_map_idle_timeout_ms ||
	    old->log_session_timeout_ms != new->log_session_timeout_ms)
		log_msg(LOG_WARNING, "reload_needs_restart key=*_socket_mode,*_idle_timeout,datagram_*,"
		    "log_session_timeout (these apply at the next start)");
	if (old->sts_fetch_timeout_ms != new->sts_fetch_timeout_ms ||
	    old->sts_max_policy_size != new->sts_max_policy_size ||
	    strcmp(old->resolver ? old->resolver : "", new->resolver ? new->resolver : "") != 0 ||
	    strcmp(old->https_ca_file ? old->https_ca_file : "",
	    new->https_ca_file ? new->https_ca_file : "") != 0 ||
	    old->https_allow_private != new->https_allow_private)
		log_msg(LOG_WARNING, "reload_needs_restart key=sts_*,resolver,https_ca_file,"
		    "https_allow_private (the policy map's fetches use these from the next start)");
}

static void reload(struct daemon *d)
{
	struct tlsrpt_conf fresh, keep;
	struct writer_settings ws;
	char err[1024];

	service_reloading();
	if (conf_load(d->conf_path, CONF_FOR_DAEMON, &fresh, err, sizeof(err)) != 0) {
		log_msg(LOG_ERR, "reload_failed error=\"%s\" (configuration unchanged)", err);
		service_ready();
		return;
	}
	warn_restart_keys(&d->conf, &fresh);
	/* restart-only keys keep their running values */
	keep = d->conf;
	d->conf = fresh;
	{
		char **swap[] = {&d->conf.store_path, &d->conf.datagram_socket,
		    &d->conf.run_as_user, &d->conf.pid_file, &d->conf.datagram_socket_owner,
		    &d->conf.datagram_socket_group, &d->conf.log_file, &d->conf.log_format,
		    &d->conf.log_start_at, &d->conf.socketmap_socket, &d->conf.milter_socket,
		    &d->conf.policy_map_socket, &d->conf.policy_map_file,
		    &d->conf.policy_map_file_group};
		char **orig[] = {&keep.store_path, &keep.datagram_socket, &keep.run_as_user,
		    &keep.pid_file, &keep.datagram_socket_owner, &keep.datagram_socket_group,
		    &keep.log_file, &keep.log_format, &keep.log_start_at, &keep.socketmap_socket,
		    &keep.milter_socket, &keep.policy_map_socket, &keep.policy_map_file,
		    &keep.policy_map_file_group};

		for (size_t i = 0; i < sizeof(swap) / sizeof(swap[0]); i++) {
			char *t = *swap[i];

			*swap[i] = *orig[i];
			*orig[i] = t;
		}
	}
	d->conf.datagram_threads = keep.datagram_threads;
	d->conf.datagram_max_size = keep.datagram_max_size;
	d->conf.datagram_receive_buffer = keep.datagram_receive_buffer;
	d->conf.datagram_queue_size = keep.datagram_queue_size;
	d->conf.datagram_socket_mode = keep.datagram_socket_mode;
	d->conf.socketmap_socket_mode = keep.socketmap_socket_mode;
	d->conf.milter_socket_mode = keep.milter_socket_mode;
	d->conf.policy_map_socket_mode = keep.policy_map_socket_mode;
	d->conf.policy_map_file_mode = keep.policy_map_file_mode;
	d->conf.socketmap_idle_timeout_ms = keep.socketmap_idle_timeout_ms;
	d->conf.policy_map_idle_timeout_ms = keep.policy_map_idle_timeout_ms;
	d->conf.log_session_timeout_ms = keep.log_session_timeout_ms;
	conf_free(&keep);
	log_set_level((int)d->conf.log_level);
	log_set_facility((int)d->conf.syslog_facility);
	settings_from_conf(&d->conf, &ws);
	writer_set(d->writer, &ws);
	log_msg(LOG_INFO, "reloaded config=%s log_level=%s flush_interval_ms=%lld",
	    d->conf_path, log_level_name((int)d->conf.log_level), d->conf.flush_interval_ms);
	service_ready();
}

/* The policy map file's group: policy_map_file_group, else (gid_t)-1 (the daemon's own). */
static gid_t file_group(struct daemon *d)
{
	struct group *gr;

	if (*d->conf.policy_map_file_group == '\0')
		return (gid_t)-1;
	if ((gr = getgrnam(d->conf.policy_map_file_group)) == NULL)
		die(d, EX_NOUSER, "%s: policy_map_file_group %s does not exist", d->conf.path,
		    d->conf.policy_map_file_group);
	return gr->gr_gid;
}

static const char *or_none(const char *s)
{
	return (s && *s) ? s : "none";
}

static void add_report_mail(void *ctx, const char *queue_id, long long seen)
{
	report_mails_add(ctx, queue_id, seen);
}

/* Report mails of the last week: one may still be queued at the MTA. */
static void load_report_mails(struct daemon *d)
{
	long long n = store_each_report_mail(d->store, (long long)time(NULL) - REPORT_MAILS_TTL,
	    add_report_mail, d->report_mails);

	if (n < 0)
		log_msg(LOG_WARNING, "report_mails_not_loaded store=%s (their deliveries may be "
		    "counted once)", d->conf.store_path);
	else if (n > 0)
		log_msg(LOG_INFO, "report_mails_loaded count=%lld", n);
}

/* STATUS= for systemctl status: what is served, what was stored. */
static void report_status(struct daemon *d, const char *state)
{
	struct writer_totals t;
	char line[256];

	writer_totals(d->writer, &t);
	/* "received" would count datagrams only: 0 on a log follower's host */
	snprintf(line, sizeof(line), "%s; stored %llu session results, dropped %llu", state,
	    (unsigned long long)t.stored_sessions, (unsigned long long)t.in.dropped_full);
	service_status(line);
}

/*
 * Ping the watchdog at half its interval, but only while every input
 * and the writer make progress (heartbeat.h): a stuck thread stops the
 * pings, and systemd restarts the daemon WatchdogSec after the last one.
 */
static void watchdog_tick(struct daemon *d)
{
	long long now = monotonic_ms(), late;
	const char *stuck;
	char line[160];

	if (d->watchdog_ms <= 0 || now < d->next_ping)
		return;
	d->next_ping = now + d->watchdog_ms / 2;
	stuck = heartbeat_overdue(now, &late);
	if (stuck != NULL) {
		if (!d->withheld) {
			if (late < 0)
				log_msg(LOG_ERR, "watchdog_withheld thread=%s reason=ended (no more "
				    "pings: systemd restarts the daemon)", stuck);
			else
				log_msg(LOG_ERR, "watchdog_withheld thread=%s reason=stuck "
				    "overdue_ms=%lld (no more pings: systemd restarts the daemon "
				    "unless it recovers)", stuck, late);
			snprintf(line, sizeof(line), "thread %s %s: watchdog not pinged", stuck,
			    late < 0 ? "ended" : "stuck");
			service_status(line);
		}
		d->withheld = true;
		return;
	}
	if (d->withheld)
		log_msg(LOG_NOTICE, "watchdog_resumed (every thread makes progress again)");
	d->withheld = false;
	service_watchdog_ping();
	report_status(d, "serving");
}

/* Milliseconds until the next ping, or -1 to wait for signals only. */
static long long until_ping(const struct daemon *d)
{
	long long rest;

	if (d->watchdog_ms <= 0)
		return -1;
	rest = d->next_ping - monotonic_ms();
	return rest > 0 ? rest : 0;
}

static int wait_for_signals(struct daemon *d, const sigset_t *set)
{
	for (;;) {
		long long ms = until_ping(d);
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		int sig = ms < 0 ? sigwaitinfo(set, NULL) : sigtimedwait(set, NULL, &ts);

		if (sig < 0) {
			if (errno == EAGAIN) {
				watchdog_tick(d);
				continue;
			}
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "sigwait_failed error=\"%s\"", strerror(errno));
			return SIGTERM;
		}
		switch (sig) {
		case SIGHUP:
			reload(d);
			break;
		case SIGUSR1:
			log_counters(d, "usr1");
			break;
		default:
			return sig;
		}
		watchdog_tick(d);
	}
}

int main(int argc, char **argv)
{
	struct daemon d = {.conf_path = NULL, .ready_fd = -1};
	struct writer_settings ws;
	struct identity id;
	bool check_only = false;
	uid_t sock_uid;
	gid_t sock_gid;
	sigset_t set;
	char err[1024];
	char *abs_conf = NULL;
	int c, sig, rc = 0;

	d.conf_path = conf_default_path();
	while ((c = getopt(argc, argv, "c:fnVh")) != -1) {
		switch (c) {
		case 'c':
			d.conf_path = optarg;
			break;
		case 'f':
			d.foreground = true;
			break;
		case 'n':
			check_only = true;
			break;
		case 'V':
			version();
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (conf_load(d.conf_path, CONF_FOR_DAEMON, &d.conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "tlsrpt-milter: %s\n", err);
		return EX_CONFIG;
	}
	if (check_only) {
		printf("%s: configuration OK\n", d.conf_path);
		conf_free(&d.conf);
		return 0;
	}
	/* daemon mode changes to "/": a relative -c would make every reload fail */
	if ((abs_conf = realpath(d.conf_path, NULL)) != NULL)
		d.conf_path = abs_conf;
	log_open("tlsrpt-milter", (int)d.conf.syslog_facility, d.foreground);
	log_set_level((int)d.conf.log_level);
	if (*d.conf.datagram_socket == '\0' && *d.conf.log_file == '\0' &&
	    *d.conf.socketmap_socket == '\0' && *d.conf.milter_socket == '\0' &&
	    *d.conf.policy_map_socket == '\0' && *d.conf.policy_map_file == '\0')
		die(&d, EX_CONFIG, "%s: no input is configured (datagram_socket, log_file, "
		    "socketmap_socket, milter_socket, policy_map_socket and policy_map_file are "
		    "all none)",
		    d.conf_path);
	if (strcmp(d.conf.log_file, "-") == 0 && !d.foreground)
		die(&d, EX_CONFIG, "%s: log_file - (standard input) needs -f: a daemon's standard "
		    "input is /dev/null", d.conf_path);

	/* every thread inherits this mask; only the main thread takes signals */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!d.foreground)
		check_pid_file(&d);
	resolve_identity(&d, &id, &sock_uid, &sock_gid);
	/* systemd may hold some sockets for us (socket activation) */
	if (service_sockets_init(err, sizeof(err)) < 0)
		die(&d, EX_OSERR, "%s", err);
	/* every socket is bound as root, before the privilege drop */
	if (*d.conf.datagram_socket &&
	    (d.dgram = dgram_input_open(&d.conf, sock_uid, sock_gid, err, sizeof(err))) == NULL)
		die(&d, EX_CANTCREAT, "%s", err);
	if (*d.conf.socketmap_socket &&
	    (d.smap = socketmap_input_open(&d.conf, sock_uid, sock_gid, err, sizeof(err))) == NULL)
		die(&d, EX_CANTCREAT, "%s", err);
	if (*d.conf.milter_socket &&
	    (d.milter = milter_input_open(&d.conf, sock_uid, sock_gid, err, sizeof(err))) == NULL)
		die(&d, EX_CANTCREAT, "%s", err);
	if ((*d.conf.policy_map_socket || *d.conf.policy_map_file) &&
	    (d.pmap = policymap_input_open(&d.conf, sock_uid, sock_gid, err, sizeof(err))) == NULL)
		die(&d, EX_CANTCREAT, "%s", err);
	if (service_sockets_finish(err, sizeof(err)) != 0)
		die(&d, EX_CONFIG, "%s", err);
	if (!d.foreground)
		daemonize(&d);
	if (!d.foreground)
		write_pid_file(&d);
	drop_privileges(&d, &id);
	/* libmilter runs in a child: fork it while this process has one thread */
	if (d.milter && milter_input_spawn(d.milter, err, sizeof(err)) != 0)
		die(&d, EX_OSERR, "%s", err);

	d.store = store_open(d.conf.store_path, d.conf.store_busy_timeout_ms, err, sizeof(err));
	if (d.store == NULL)
		die(&d, EX_CANTCREAT, "%s", err);
	d.report_mails = report_mails_new();
	load_report_mails(&d);
	if (*d.conf.log_file &&
	    (d.logf = logfollow_open(&d.conf, d.store, err, sizeof(err))) == NULL)
		die(&d, EX_NOINPUT, "%s", err);
	settings_from_conf(&d.conf, &ws);
	d.writer = writer_create(d.store, &ws);
	if (d.dgram)
		dgram_input_attach(d.dgram, d.writer, (int)d.conf.datagram_threads,
		    d.conf.datagram_max_size, d.conf.datagram_queue_size);
	if (d.smap)
		socketmap_input_attach(d.smap, d.writer, d.report_mails);
	if (d.milter)
		milter_input_attach(d.milter, d.writer, d.report_mails);
	if (d.logf)
		logfollow_attach(d.logf, d.writer, d.report_mails);
	if (d.pmap) {
		/* the session inputs file their results under the MTA-STS policy that applied */
		policymap_input_attach(d.pmap, d.writer, d.store);
		if (*d.conf.policy_map_file) {
			d.sts_file = sts_export_new(d.pmap, d.conf.policy_map_file,
			    (mode_t)d.conf.policy_map_file_mode, file_group(&d));
			sts_export_attach(d.sts_file, d.writer);
			if (d.milter)
				milter_input_set_seen(d.milter, sts_export_seen, d.sts_file);
			if (d.dgram)
				dgram_input_set_seen(d.dgram, sts_export_seen, d.sts_file);
			/* before Postfix can need it: a missing table defers every delivery */
			if (sts_export_start(d.sts_file, err, sizeof(err)) != 0)
				die(&d, EX_CANTCREAT, "policy_map_file: %s", err);
		}
		if (d.smap)
			socketmap_input_set_policy(d.smap, policymap_decorate, d.pmap);
		if (d.logf)
			logfollow_set_policy(d.logf, policymap_decorate, d.pmap);
		if (policymap_input_start(d.pmap, err, sizeof(err)) != 0)
			die(&d, EX_OSERR, "%s", err);
	}
	if (writer_start(d.writer) != 0 ||
	    (d.dgram && dgram_input_start(d.dgram) != 0) ||
	    (d.smap && socketmap_input_start(d.smap) != 0) ||
	    (d.milter && milter_input_start(d.milter) != 0) ||
	    (d.logf && logfollow_start(d.logf) != 0))
		die(&d, EX_OSERR, "cannot start threads");
	log_msg(LOG_NOTICE, "started version=%s config=%s store=%s datagram_socket=%s threads=%lld "
	    "log_file=%s socketmap_socket=%s milter_socket=%s policy_map_socket=%s "
	    "policy_map_file=%s",
	    PACKAGE_VERSION, d.conf_path, d.conf.store_path, or_none(d.conf.datagram_socket),
	    d.conf.datagram_threads, or_none(d.conf.log_file), or_none(d.conf.socketmap_socket),
	    or_none(d.conf.milter_socket), or_none(d.conf.policy_map_socket),
	    or_none(d.conf.policy_map_file));
	if (d.ready_fd >= 0) {
		ssize_t n __attribute__((unused)) = write(d.ready_fd, "", 1);	/* ready */

		close(d.ready_fd);
		d.ready_fd = -1;
	}
	/* every socket is bound and every input serves */
	service_ready();
	report_status(&d, "serving");
	if ((d.watchdog_ms = service_watchdog_ms()) > 0) {
		log_msg(LOG_INFO, "watchdog_enabled interval_ms=%lld ping_ms=%lld", d.watchdog_ms,
		    d.watchdog_ms / 2);
		service_watchdog_ping();
		d.next_ping = monotonic_ms() + d.watchdog_ms / 2;
	}

	sig = wait_for_signals(&d, &set);
	service_stopping();
	log_msg(LOG_NOTICE, "stopping signal=%s", sig == SIGINT ? "INT" : "TERM");
	if (d.dgram)
		dgram_input_stop(d.dgram);
	if (d.smap)
		socketmap_input_stop(d.smap);
	if (d.milter)
		milter_input_stop(d.milter);
	if (d.logf)
		logfollow_stop(d.logf);
	/* after the inputs that call its decorator */
	if (d.pmap)
		policymap_input_stop(d.pmap);
	sts_export_stop(d.sts_file);
	if (writer_stop(d.writer) != 0)
		rc = EX_TEMPFAIL;
	if (d.dgram && dgram_input_failed(d.dgram))
		rc = EX_IOERR;
	log_counters(&d, "stop");
	if (d.dgram)
		dgram_input_close(d.dgram);
	if (d.smap)
		socketmap_input_close(d.smap);
	if (d.milter)
		milter_input_close(d.milter);
	if (d.logf)
		logfollow_close(d.logf);
	sts_export_free(d.sts_file);
	if (d.pmap)
		policymap_input_close(d.pmap);
	writer_free(d.writer);
	report_mails_free(d.report_mails);
	store_close(d.store);
	if (d.pid_written && unlink(d.conf.pid_file) != 0)
		log_msg(LOG_NOTICE, "pid_file_not_removed path=%s error=\"%s\"", d.conf.pid_file,
		    strerror(errno));
	log_msg(LOG_NOTICE, "stopped");
	conf_free(&d.conf);
	log_close();
	free(abs_conf);
	return rc;
}
