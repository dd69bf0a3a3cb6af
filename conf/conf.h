/*
 * NAME
 *	conf - the tlsrpt.conf parser shared by tlsrpt-milter and tlsrpt-report
 * DESCRIPTION
 *	One option table (conf_options[] in conf.c) gives every key its
 *	type, default, bounds and the programs that require it; the sample
 *	conf/tlsrpt.conf and tlsrpt.conf(5) describe the same keys, and a
 *	test keeps the three in agreement.
 *
 *	Syntax: one "key value" per line; keys are case-insensitive; "#" at
 *	the start of a line or after white space starts a comment; a value
 *	may be put in double quotes to keep "#" or surrounding blanks.  An
 *	unknown key, a duplicate key, a bad value or a missing required key
 *	is an error "file:line: reason"; nothing is half-applied.
 */
#ifndef TLSRPT_CONF_H
#define TLSRPT_CONF_H

#include <stdbool.h>
#include <stddef.h>

/* Which program is loading: decides which keys are required. */
#define CONF_FOR_DAEMON 1u
#define CONF_FOR_REPORTER 2u

struct tlsrpt_conf {
	char *path;			/* the file this came from */
	char *organization_name;
	char *contact_info;
	char *submitter_domain;		/* "" = the domain of contact_info */
	long long report_grace_period_ms;
	char *report_from;		/* "" = noreply-tlsrpt@<submitter domain> */
	char *sendmail_command;
	char *dkim_key_file;		/* "" = the MTA signs report mails */
	char *dkim_selector;
	char *dkim_domain;		/* "" = the submitter domain */
	char *https_ca_file;		/* "" = the system trust store */
	long long https_allow_private;	/* boolean */
	long long https_timeout_ms;
	long long sendmail_timeout_ms;
	long long retry_interval_ms;
	long long give_up_after_ms;
	char *resolver;			/* "" = the system's resolv.conf */
	long long dns_timeout_ms;
	char *store_path;
	char *datagram_socket;		/* "" when disabled ("none") */
	char *datagram_socket_owner;
	char *datagram_socket_group;
	long long datagram_socket_mode;
	long long datagram_receive_buffer;
	long long datagram_max_size;
	long long datagram_threads;
	long long datagram_queue_size;
	char *run_as_user;
	char *pid_file;
	long long flush_interval_ms;
	long long flush_records;
	long long pending_limit;
	long long store_busy_timeout_ms;
	long long syslog_facility;
	long long log_level;
	long long retention_days;
	char *log_file;			/* "" = none, "-" = standard input, "journal:[/dir]" */
	char *log_format;		/* auto, postfix, sendmail */
	char *log_start_at;		/* end, beginning: first start without a saved position */
	long long log_session_timeout_ms;
	char *socketmap_socket;		/* endpoint, "" = none */
	long long socketmap_socket_mode;
	long long socketmap_idle_timeout_ms;
	char *milter_socket;		/* endpoint, "" = none */
	long long milter_socket_mode;
	char *policy_map_socket;	/* endpoint, "" = none */
	long long policy_map_socket_mode;
	char *policy_map_file;		/* texthash: table path, "" = none */
	char *policy_map_file_group;
	long long policy_map_file_mode;
	long long policy_map_idle_timeout_ms;
	long long sts_fetch_timeout_ms;
	long long sts_max_policy_size;
};

enum conf_type {
	CONF_STRING,
	CONF_PATH,	/* an absolute path, or "none" where allowed */
	CONF_INT,
	CONF_DURATION,	/* stored in milliseconds: 250ms, 1s, 5m, 2h, 1d */
	CONF_SIZE,	/* bytes: 65536, 64k, 8M, 1G */
	CONF_MODE,	/* octal file mode */
	CONF_LEVEL,	/* syslog severity name */
	CONF_FACILITY,	/* syslog facility name */
	CONF_BOOL,	/* yes/no, true/false, on/off, 1/0 */
	CONF_ENDPOINT,	/* unix:/path, local:/path, inet:PORT@HOST, inet6:PORT@HOST, or none */
	CONF_SOURCE,	/* an absolute path, "-" (standard input) or none */
	CONF_CHOICE,	/* one of the words in "choices" */
};

struct conf_option {
	const char *name;
	enum conf_type type;
	const char *def;	/* default as written in the file; NULL = none */
	unsigned required_by;	/* CONF_FOR_* mask */
	long long min, max;	/* for numeric types */
	bool allow_none;	/* CONF_PATH: "none" disables */
	size_t offset;
	const char *help;	/* one line, for -h style listings */
	const char *choices;	/* CONF_CHOICE: the allowed words, separated by '|' */
};

extern const struct conf_option conf_options[];
extern const size_t conf_noptions;

/* Built-in default configuration path (sysconfdir/tlsrpt/tlsrpt.conf). */
const char *conf_default_path(void);

/*
 * Load a configuration file for the given program.  Returns 0 and fills
 * *out (free with conf_free) or -1 with err holding "file:line: reason".
 */
int conf_load(const char *path, unsigned program, struct tlsrpt_conf *out,
    char *err, size_t errlen);

/* Parse from memory; "name" is used in messages.  Same rules. */
int conf_parse(const char *name, const char *text, size_t len, unsigned program,
    struct tlsrpt_conf *out, char *err, size_t errlen);

void conf_free(struct tlsrpt_conf *c);

/* Value parsers, exposed for tests. */
bool conf_parse_duration_ms(const char *s, long long *out);
bool conf_parse_size(const char *s, long long *out);

/*
 * Split a CONF_ENDPOINT value: unix:/path and local:/path give *family
 * AF_UNIX and the path in host; inet:PORT@HOST and inet6:PORT@HOST give
 * AF_INET/AF_INET6, the port and the host (an address or name; empty
 * for any).  Returns false on a malformed value.
 */
bool conf_parse_endpoint(const char *v, int *family, char *host, size_t hostlen, int *port);

#endif
