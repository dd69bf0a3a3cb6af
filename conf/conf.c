/*
 * NAME
 *	conf - the tlsrpt.conf parser shared by tlsrpt-milter and tlsrpt-report
 * DESCRIPTION
 *	See conf.h.  Parsing fills a fresh struct; the caller swaps it in
 *	only when the whole file was good, which is what makes a failed
 *	SIGHUP reload change nothing.
 */
#include "config.h"

#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#ifndef TLSRPT_SYSCONFDIR
#define TLSRPT_SYSCONFDIR "/etc/tlsrpt"
#endif
#ifndef TLSRPT_STATEDIR
#define TLSRPT_STATEDIR "/var/lib/tlsrpt"
#endif
#ifndef TLSRPT_RUNDIR
#define TLSRPT_RUNDIR "/run/tlsrpt"
#endif

#define OFF(field) offsetof(struct tlsrpt_conf, field)
#define BOTH (CONF_FOR_DAEMON | CONF_FOR_REPORTER)

const struct conf_option conf_options[] = {
	{"organization_name", CONF_STRING, NULL, CONF_FOR_REPORTER, 0, 0, false,
	    OFF(organization_name), "organization-name written into every report", NULL},
	{"contact_info", CONF_STRING, NULL, CONF_FOR_REPORTER, 0, 0, false,
	    OFF(contact_info), "contact-info written into every report (address or URL)", NULL},
	{"submitter_domain", CONF_STRING, "", 0, 0, 0, false,
	    OFF(submitter_domain), "our domain in report ids (default: the domain of contact_info)", NULL},
	{"report_grace_period", CONF_DURATION, "1h", 0, 0, 23 * 3600 * 1000LL, false,
	    OFF(report_grace_period_ms), "wait after UTC midnight before a day's reports are built", NULL},
	{"report_from", CONF_STRING, "", 0, 0, 0, false,
	    OFF(report_from), "From: and envelope sender of report mails (default noreply-tlsrpt@<submitter_domain>)", NULL},
	{"sendmail_command", CONF_STRING, "/usr/sbin/sendmail -oi", 0, 0, 0, false,
	    OFF(sendmail_command), "sendmail-compatible command that submits report mails", NULL},
	{"sendmail_timeout", CONF_DURATION, "60s", 0, 1000, 600 * 1000LL, false,
	    OFF(sendmail_timeout_ms), "longest time the sendmail command may take for one report mail",
	    NULL},
	{"dkim_key_file", CONF_STRING, "", 0, 0, 0, false,
	    OFF(dkim_key_file), "PEM private key (RSA or Ed25519) to DKIM-sign report mails, or empty", NULL},
	{"dkim_selector", CONF_STRING, "", 0, 0, 0, false,
	    OFF(dkim_selector), "DKIM selector of dkim_key_file (its key record should say s=tlsrpt)", NULL},
	{"dkim_domain", CONF_STRING, "", 0, 0, 0, false,
	    OFF(dkim_domain), "DKIM signing domain (default: the submitter domain)", NULL},
	{"https_ca_file", CONF_STRING, "", 0, 0, 0, false,
	    OFF(https_ca_file), "CA bundle for https: destinations (default: the system's)", NULL},
	{"https_allow_private", CONF_BOOL, "no", 0, 0, 1, false,
	    OFF(https_allow_private), "allow https: destinations on loopback/private addresses (tests only)", NULL},
	{"https_timeout", CONF_DURATION, "60s", 0, 1000, 600 * 1000LL, false,
	    OFF(https_timeout_ms), "longest time one https: submission may take", NULL},
	{"retry_interval", CONF_DURATION, "15m", 0, 1000, 24 * 3600 * 1000LL, false,
	    OFF(retry_interval_ms), "wait before the first retry of a failed submission; doubles each time", NULL},
	{"give_up_after", CONF_DURATION, "24h", 0, 60 * 1000LL, 30 * 86400 * 1000LL, false,
	    OFF(give_up_after_ms), "stop retrying a destination this long after its first attempt", NULL},
	{"resolver", CONF_STRING, "", 0, 0, 0, false,
	    OFF(resolver), "DNS server for all lookups, ADDRESS[:PORT] or [IPV6]:PORT (default: the system's)",
	    NULL},
	{"dns_timeout", CONF_DURATION, "5s", 0, 1000, 60 * 1000LL, false,
	    OFF(dns_timeout_ms), "longest time one DNS lookup of tlsrpt-report may take, TCP retry included",
	    NULL},
	{"store_path", CONF_PATH, TLSRPT_STATEDIR "/tlsrpt.db", 0, 0, 0, false,
	    OFF(store_path), "SQLite store shared by the daemon and the reporter", NULL},
	{"datagram_socket", CONF_PATH, TLSRPT_RUNDIR "/tlsrpt.sock", 0, 0, 0, true,
	    OFF(datagram_socket), "unix datagram socket for libtlsrpt (Postfix >= 3.10), or none", NULL},
	{"datagram_socket_owner", CONF_STRING, "", 0, 0, 0, false,
	    OFF(datagram_socket_owner), "owner of the datagram socket (default: run_as_user)", NULL},
	{"datagram_socket_group", CONF_STRING, "", 0, 0, 0, false,
	    OFF(datagram_socket_group), "group of the datagram socket (default: run_as_user's group)", NULL},
	{"datagram_socket_mode", CONF_MODE, "0660", 0, 0, 0777, false,
	    OFF(datagram_socket_mode), "permissions of the datagram socket, octal", NULL},
	{"datagram_receive_buffer", CONF_SIZE, "8M", 0, 65536, 1LL << 30, false,
	    OFF(datagram_receive_buffer), "kernel receive buffer (SO_RCVBUF) of the datagram socket", NULL},
	{"datagram_max_size", CONF_SIZE, "64k", 0, 4096, 16LL << 20, false,
	    OFF(datagram_max_size), "largest datagram accepted; longer ones are rejected as oversize", NULL},
	{"datagram_threads", CONF_INT, "2", 0, 1, 16, false,
	    OFF(datagram_threads), "threads parsing datagrams (one more thread only reads the socket)", NULL},
	{"datagram_queue_size", CONF_SIZE, "8M", 0, 1LL << 20, 1LL << 30, false,
	    OFF(datagram_queue_size), "memory for datagrams read but not yet parsed", NULL},
	{"run_as_user", CONF_STRING, "_tlsrpt", 0, 0, 0, false,
	    OFF(run_as_user), "user the daemon switches to after binding its sockets", NULL},
	{"pid_file", CONF_PATH, TLSRPT_RUNDIR "/tlsrpt-milter.pid", 0, 0, 0, true,
	    OFF(pid_file), "pid file written in daemon mode, or none", NULL},
	{"flush_interval", CONF_DURATION, "1s", 0, 10, 3600 * 1000LL, false,
	    OFF(flush_interval_ms), "longest time a session result waits in memory before commit", NULL},
	{"flush_records", CONF_INT, "20000", 0, 1, 100000000, false,
	    OFF(flush_records), "commit early once this many session results are waiting", NULL},
	{"pending_limit", CONF_INT, "1000000", 0, 1000, 1000000000, false,
	    OFF(pending_limit), "most distinct counters held in memory while the store is unavailable", NULL},
	{"store_busy_timeout", CONF_DURATION, "2s", 0, 0, 600 * 1000LL, false,
	    OFF(store_busy_timeout_ms), "longest wait for a store lock before trying again later", NULL},
	{"syslog_facility", CONF_FACILITY, "mail", 0, 0, 0, false,
	    OFF(syslog_facility), "syslog facility", NULL},
	{"log_level", CONF_LEVEL, "info", 0, 0, 0, false,
	    OFF(log_level), "least severe level logged: err, warning, notice, info, debug", NULL},
	{"retention_days", CONF_INT, "35", 0, 2, 3650, false,
	    OFF(retention_days), "days of data and reports kept before purge", NULL},
	{"log_file", CONF_SOURCE, "none", 0, 0, 0, true,
	    OFF(log_file), "mail log to follow: a file (path), journal: (systemd's), - for standard input, or none", NULL},
	{"log_format", CONF_CHOICE, "auto", 0, 0, 0, false,
	    OFF(log_format), "mail log lines to read: auto, postfix or sendmail", "auto|postfix|sendmail"},
	{"log_start_at", CONF_CHOICE, "end", 0, 0, 0, false,
	    OFF(log_start_at), "where to start in log_file without a saved position: end or beginning",
	    "end|beginning"},
	{"log_session_timeout", CONF_DURATION, "5m", 0, 10 * 1000LL, 86400 * 1000LL, false,
	    OFF(log_session_timeout_ms), "a logged session with no further line for this long is closed",
	    NULL},
	{"socketmap_socket", CONF_ENDPOINT, "none", 0, 0, 0, true,
	    OFF(socketmap_socket), "Sendmail socketmap endpoint (unix:/path or inet:PORT@127.0.0.1), or none",
	    NULL},
	{"socketmap_socket_mode", CONF_MODE, "0660", 0, 0, 0777, false,
	    OFF(socketmap_socket_mode), "permission bits of a unix socketmap socket", NULL},
	{"socketmap_idle_timeout", CONF_DURATION, "1h", 0, 1000, 86400 * 1000LL, false,
	    OFF(socketmap_idle_timeout_ms), "close a socketmap connection idle this long (Sendmail's next lookup on it fails)",
	    NULL},
	{"milter_socket", CONF_ENDPOINT, "none", 0, 0, 0, true,
	    OFF(milter_socket), "milter endpoint (unix:/path or inet:PORT@127.0.0.1), or none", NULL},
	{"milter_socket_mode", CONF_MODE, "0660", 0, 0, 0777, false,
	    OFF(milter_socket_mode), "permission bits of a unix milter socket", NULL},
	{"policy_map_socket", CONF_ENDPOINT, "none", 0, 0, 0, true,
	    OFF(policy_map_socket), "Postfix smtp_tls_policy_maps socketmap (MTA-STS), or none", NULL},
	{"policy_map_socket_mode", CONF_MODE, "0660", 0, 0, 0777, false,
	    OFF(policy_map_socket_mode), "permission bits of a unix policy map socket", NULL},
	{"policy_map_file", CONF_PATH, "none", 0, 0, 0, true,
	    OFF(policy_map_file), "MTA-STS enforce policies written for Postfix as a texthash: table, or none",
	    NULL},
	{"policy_map_file_group", CONF_STRING, "", 0, 0, 0, false,
	    OFF(policy_map_file_group), "group of the policy map file (default: run_as_user's group)", NULL},
	{"policy_map_file_mode", CONF_MODE, "0644", 0, 0, 0777, false,
	    OFF(policy_map_file_mode), "permission bits of the policy map file", NULL},
	{"policy_map_idle_timeout", CONF_DURATION, "5m", 0, 1000, 86400 * 1000LL, false,
	    OFF(policy_map_idle_timeout_ms), "close a policy map connection idle this long (Postfix closes its own after 10s)",
	    NULL},
	{"sts_fetch_timeout", CONF_DURATION, "10s", 0, 1000, 120 * 1000LL, false,
	    OFF(sts_fetch_timeout_ms), "longest MTA-STS TXT lookup plus policy fetch", NULL},
	{"sts_max_policy_size", CONF_SIZE, "64k", 0, 1024, 1LL << 20, false,
	    OFF(sts_max_policy_size), "largest MTA-STS policy accepted", NULL},
};

const size_t conf_noptions = sizeof(conf_options) / sizeof(conf_options[0]);

const char *conf_default_path(void)
{
	return TLSRPT_SYSCONFDIR "/tlsrpt.conf";
}

bool conf_parse_endpoint(const char *v, int *family, char *host, size_t hostlen, int *port)
{
	const char *rest, *at;
	char *end;
	long n;

	*port = 0;
	if (strncasecmp(v, "unix:", 5) == 0 || strncasecmp(v, "local:", 6) == 0) {
		rest = strchr(v, ':') + 1;
		if (rest[0] != '/' || strlen(rest) >= hostlen || strlen(rest) > 107)
			return false;
		*family = AF_UNIX;
		memcpy(host, rest, strlen(rest) + 1);
		return true;
	}
	if (strncasecmp(v, "inet:", 5) == 0) {
		*family = AF_INET;
		rest = v + 5;
	} else if (strncasecmp(v, "inet6:", 6) == 0) {
		*family = AF_INET6;
		rest = v + 6;
	} else
		return false;
	errno = 0;
	n = strtol(rest, &end, 10);
	if (errno || end == rest || n < 1 || n > 65535 || (*end != '@' && *end != '\0'))
		return false;
	*port = (int)n;
	at = *end == '@' ? end + 1 : end;
	if (strlen(at) >= hostlen)
		return false;
	memcpy(host, at, strlen(at) + 1);
	return true;
}

bool conf_parse_duration_ms(const char *s, long long *out)
{
	static const struct {
		const char *suffix;
		long long ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000},
	    {"h", 3600000}, {"d", 86400000}};
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno)
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		if (v > LLONG_MAX / units[i].ms)
			return false;
		*out = v * units[i].ms;
		return true;
	}
	return false;
}

bool conf_parse_size(const char *s, long long *out)
{
	char *end;
	long long v, mul = 1;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno)
		return false;
	if (*end && end[1] == '\0') {
		switch (*end) {
		case 'k': case 'K': mul = 1LL << 10; break;
		case 'm': case 'M': mul = 1LL << 20; break;
		case 'g': case 'G': mul = 1LL << 30; break;
		default: return false;
		}
	} else if (*end) {
		return false;
	}
	if (v > LLONG_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

static int fail(char *err, size_t errlen, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (errlen == 0)
		return -1;
	if (line)
		n = snprintf(err, errlen, "%s:%u: ", file, line);
	else
		n = snprintf(err, errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static const struct conf_option *find_option(const char *name)
{
	for (size_t i = 0; i < conf_noptions; i++)
		if (strcasecmp(conf_options[i].name, name) == 0)
			return &conf_options[i];
	return NULL;
}

/* Convert and store one value.  Returns NULL or a reason. */
static const char *set_value(struct tlsrpt_conf *c, const struct conf_option *o, const char *v)
{
	void *slot = (char *)c + o->offset;
	long long n = 0;
	char *end;

	switch (o->type) {
	case CONF_STRING:
		break;
	case CONF_PATH:
		if (o->allow_none && strcasecmp(v, "none") == 0) {
			v = "";
			break;
		}
		if (v[0] != '/')
			return o->allow_none ? "expected an absolute path or \"none\""
			    : "expected an absolute path";
		break;
	case CONF_INT:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || end == v || *end)
			return "expected a whole number";
		break;
	case CONF_DURATION:
		if (!conf_parse_duration_ms(v, &n))
			return "expected a duration such as 500ms, 1s, 5m, 2h or 1d";
		break;
	case CONF_SIZE:
		if (!conf_parse_size(v, &n))
			return "expected a size such as 65536, 64k, 8M or 1G";
		break;
	case CONF_MODE:
		errno = 0;
		n = strtoll(v, &end, 8);
		if (errno || end == v || *end)
			return "expected an octal mode such as 0660";
		break;
	case CONF_LEVEL:
		if ((n = log_level_from_name(v)) < 0)
			return "expected one of err, warning, notice, info, debug";
		break;
	case CONF_FACILITY:
		if ((n = log_facility_from_name(v)) < 0)
			return "expected a syslog facility: mail, daemon, user or local0..local7";
		break;
	case CONF_SOURCE:
		if (strcasecmp(v, "none") == 0) {
			v = "";
			break;
		}
		if (strncmp(v, "journal:", 8) == 0) {
#ifndef HAVE_LIBSYSTEMD
			return "journal: needs a tlsrpt-milter built with libsystemd";
#endif
			if (v[8] != '\0' && v[8] != '/')
				return "expected journal: (the system journal) or journal:/directory";
			break;
		}
		if (strcmp(v, "-") != 0 && v[0] != '/')
			return "expected an absolute path, - (standard input), journal: or \"none\"";
		break;
	case CONF_ENDPOINT: {
		char host[256];
		int family, port;

		if (strcasecmp(v, "none") == 0) {
			v = "";
			break;
		}
		if (!conf_parse_endpoint(v, &family, host, sizeof(host), &port))
			return "expected unix:/absolute/path, inet:PORT@ADDRESS, inet6:PORT@ADDRESS "
			    "or \"none\"";
		break;
	}
	case CONF_CHOICE: {
		size_t vl = strlen(v);
		const char *w = o->choices;
		bool ok = false;

		while (w != NULL && *w) {
			const char *bar = strchr(w, '|');
			size_t wl = bar ? (size_t)(bar - w) : strlen(w);

			if (wl == vl && strncasecmp(w, v, vl) == 0) {
				ok = true;
				break;
			}
			w = bar ? bar + 1 : w + wl;
		}
		if (!ok)
			return "not one of the allowed values (see tlsrpt.conf(5))";
		break;
	}
	case CONF_BOOL:
		if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
		    strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0)
			n = 1;
		else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 ||
		    strcasecmp(v, "off") == 0 || strcmp(v, "0") == 0)
			n = 0;
		else
			return "expected yes or no";
		break;
	}
	if (o->type == CONF_STRING || o->type == CONF_PATH || o->type == CONF_SOURCE ||
	    o->type == CONF_ENDPOINT || o->type == CONF_CHOICE) {
		char **sp = slot;

		free(*sp);
		*sp = xstrdup(v);
		return NULL;
	}
	if (o->type == CONF_INT || o->type == CONF_DURATION || o->type == CONF_SIZE ||
	    o->type == CONF_MODE) {
		if (n < o->min || n > o->max)
			return "value out of range";
	}
	*(long long *)slot = n;
	return NULL;
}

/* Split one line into key and value in place.  Returns NULL or a reason. */
static const char *split_line(char *line, char **key, char **value)
{
	char *p = line, *k, *v, *out;

	*key = *value = NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return NULL;
	k = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	*key = k;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '"') {
		v = out = ++p;
		for (; *p && *p != '"'; p++) {
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			*out++ = *p;
		}
		if (*p != '"')
			return "unterminated quoted value";
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != '#')
			return "text after the closing quote";
		*out = '\0';
		*value = v;
		return NULL;
	}
	v = p;
	/* a comment starts at "#" after white space */
	for (; *p; p++)
		if (*p == '#' && (p[-1] == ' ' || p[-1] == '\t'))
			break;
	*p = '\0';
	while (p > v && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\r'))
		*--p = '\0';
	if (*v == '\0')
		return "missing value";
	*value = v;
	return NULL;
}

static void set_defaults(struct tlsrpt_conf *c)
{
	for (size_t i = 0; i < conf_noptions; i++) {
		const char *why;

		if (conf_options[i].def == NULL)
			continue;
		why = set_value(c, &conf_options[i], conf_options[i].def);
		if (why != NULL) {
			fprintf(stderr, "built-in default of %s is invalid: %s\n",
			    conf_options[i].name, why);
			abort();
		}
	}
}

int conf_parse(const char *name, const char *text, size_t len, unsigned program,
    struct tlsrpt_conf *out, char *err, size_t errlen)
{
	unsigned seen_at[64] = {0};
	struct tlsrpt_conf c;
	unsigned lineno = 0;
	size_t pos = 0;
	int rc = 0;

	_Static_assert(sizeof(seen_at) / sizeof(seen_at[0]) >= 20, "room for every option");
	memset(&c, 0, sizeof(c));
	set_defaults(&c);
	c.path = xstrdup(name);
	while (pos < len && rc == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *line = xstrndup(text + pos, n);
		const struct conf_option *o;
		char *key, *value;
		const char *why;

		pos += n + 1;
		lineno++;
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';	/* CRLF line ends: else a blank line reads as a key */
		if (strlen(line) != n)
			rc = fail(err, errlen, name, lineno, "NUL byte in line");
		else if ((why = split_line(line, &key, &value)) != NULL)
			rc = fail(err, errlen, name, lineno, "%s", why);
		else if (key == NULL)
			;	/* blank or comment */
		else if ((o = find_option(key)) == NULL)
			rc = fail(err, errlen, name, lineno, "unknown key \"%s\"", key);
		else if (seen_at[o - conf_options])
			rc = fail(err, errlen, name, lineno, "duplicate key %s (first set at line %u)",
			    o->name, seen_at[o - conf_options]);
		else if ((why = set_value(&c, o, value)) != NULL)
			rc = fail(err, errlen, name, lineno, "%s: %s: \"%s\"", o->name, why, value);
		else
			seen_at[o - conf_options] = lineno;
		free(line);
	}
	for (size_t i = 0; rc == 0 && i < conf_noptions; i++) {
		if ((conf_options[i].required_by & program) && !seen_at[i])
			rc = fail(err, errlen, name, 0, "missing required key %s (%s)",
			    conf_options[i].name, conf_options[i].help);
	}
	if (rc != 0) {
		conf_free(&c);
		return -1;
	}
	*out = c;
	return 0;
}

/*
 * The files the programs read by a path from the configuration must be
 * regular files when they are there (a missing one is reported by its
 * user): a FIFO would block the program that reads it, a directory or
 * a device is a mistake.  store_path is checked by the store itself.
 */
static int check_files(const struct tlsrpt_conf *c, char *err, size_t errlen)
{
	const struct {
		const char *key;
		const char *path;
	} files[] = {
		{"dkim_key_file", c->dkim_key_file},
		{"https_ca_file", c->https_ca_file},
		/* "-" is standard input, which may be a pipe; journal: is not a file */
		{"log_file", strcmp(c->log_file, "-") == 0 || strncmp(c->log_file, "journal:", 8) == 0 ?
		    "" : c->log_file},
	};
	struct stat sb;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].path == NULL || *files[i].path == '\0' || stat(files[i].path, &sb) != 0 ||
		    S_ISREG(sb.st_mode))
			continue;
		return fail(err, errlen, c->path, 0, "%s %s is %s, not a regular file%s", files[i].key,
		    files[i].path, file_type_name(sb.st_mode), strcmp(files[i].key, "log_file") == 0 ?
		    " (a mail log written to a pipe: give it on standard input, log_file -)" : "");
	}
	return 0;
}

int conf_load(const char *path, unsigned program, struct tlsrpt_conf *out,
    char *err, size_t errlen)
{
	const char *what;
	struct strbuf sb;
	char buf[8192];
	size_t n;
	FILE *fp;
	int rc, fd;

	if ((fd = open_regular(path, &what)) < 0 && what != NULL)
		return fail(err, errlen, path, 0, "is %s, not a regular file: the configuration "
		    "must be a regular file", what);
	if (fd < 0)
		return fail(err, errlen, path, 0, "cannot open: %s", strerror(errno));
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return fail(err, errlen, path, 0, "cannot open: %s", strerror(errno));
	}
	strbuf_init(&sb);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		strbuf_append(&sb, buf, n);
		if (sb.len > (1u << 20)) {
			fclose(fp);
			strbuf_free(&sb);
			return fail(err, errlen, path, 0, "larger than 1 MB; is this a configuration file?");
		}
	}
	if (ferror(fp)) {
		fclose(fp);
		strbuf_free(&sb);
		return fail(err, errlen, path, 0, "read error: %s", strerror(errno));
	}
	fclose(fp);
	rc = conf_parse(path, sb.data ? sb.data : "", sb.len, program, out, err, errlen);
	strbuf_free(&sb);
	if (rc == 0 && (rc = check_files(out, err, errlen)) != 0)
		conf_free(out);
	return rc;
}

void conf_free(struct tlsrpt_conf *c)
{
	free(c->path);
	for (size_t i = 0; i < conf_noptions; i++) {
		if (conf_options[i].type == CONF_STRING || conf_options[i].type == CONF_PATH ||
		    conf_options[i].type == CONF_SOURCE || conf_options[i].type == CONF_ENDPOINT ||
		    conf_options[i].type == CONF_CHOICE) {
			char **sp = (char **)((char *)c + conf_options[i].offset);

			free(*sp);
		}
	}
	memset(c, 0, sizeof(*c));
}
