/*
 * NAME
 *	test_conf - unit tests of conf/conf.c (tlsrpt.conf parser)
 * DESCRIPTION
 *	Drives conf_parse() from memory and conf_load() from files: the
 *	default of every key, every value type, comments and quoting, and
 *	the exact "file:line: reason" text of every error.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"

#define REQUIRED "organization_name Example Org\ncontact_info tlsrpt@example.org\n"

static int parse(const char *text, unsigned program, struct tlsrpt_conf *c,
    char *err, size_t errlen)
{
	return conf_parse("t.conf", text, strlen(text), program, c, err, errlen);
}

/* Parse text that must succeed for the daemon. */
static void parse_ok(const char *text, struct tlsrpt_conf *c)
{
	char err[512] = "";

	if (parse(text, CONF_FOR_DAEMON, c, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s", err);
}

/* Parse text that must fail with exactly "msg"; *out must stay untouched. */
static void expect_error(const char *text, unsigned program, const char *msg)
{
	struct tlsrpt_conf c;
	char err[512] = "";

	memset(&c, 0, sizeof(c));
	c.flush_interval_ms = 4242;
	assert_int_equal(parse(text, program, &c, err, sizeof(err)), -1);
	assert_string_equal(err, msg);
	assert_null(c.path);
	assert_int_equal(c.flush_interval_ms, 4242);
}

/* ---- booleans -------------------------------------------------------- */

static void test_bool_values(void **state)
{
	static const char *const yes[] = {"yes", "YES", "true", "on", "1"};
	static const char *const no[] = {"no", "False", "off", "0"};
	struct tlsrpt_conf c;
	char text[64];

	(void)state;
	parse_ok("", &c);
	assert_int_equal(c.https_allow_private, 0);
	conf_free(&c);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "https_allow_private %s\n", yes[i]);
		parse_ok(text, &c);
		assert_int_equal(c.https_allow_private, 1);
		conf_free(&c);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(text, sizeof(text), "https_allow_private %s\n", no[i]);
		parse_ok(text, &c);
		assert_int_equal(c.https_allow_private, 0);
		conf_free(&c);
	}
	expect_error("https_allow_private maybe\n", CONF_FOR_DAEMON,
	    "t.conf:1: https_allow_private: expected yes or no: \"maybe\"");
}

/* ---- defaults ------------------------------------------------------ */

static void test_option_table(void **state)
{
	(void)state;
	assert_int_equal(conf_noptions, 52);
	assert_string_equal(conf_options[0].name, "organization_name");
	assert_int_equal(conf_options[0].required_by, CONF_FOR_REPORTER);
	assert_string_equal(conf_options[1].name, "contact_info");
	assert_int_equal(conf_options[1].required_by, CONF_FOR_REPORTER);
	for (size_t i = 2; i < conf_noptions; i++)
		assert_int_equal(conf_options[i].required_by, 0);
	assert_string_equal(conf_default_path(), TLSRPT_SYSCONFDIR "/tlsrpt.conf");
}

static void test_defaults_strings(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	parse_ok("", &c);
	assert_string_equal(c.path, "t.conf");
	assert_null(c.organization_name);
	assert_null(c.contact_info);
	assert_string_equal(c.submitter_domain, "");
	assert_string_equal(c.store_path, TLSRPT_STATEDIR "/tlsrpt.db");
	assert_string_equal(c.datagram_socket, TLSRPT_RUNDIR "/tlsrpt.sock");
	assert_string_equal(c.datagram_socket_owner, "");
	assert_string_equal(c.datagram_socket_group, "");
	assert_string_equal(c.run_as_user, "_tlsrpt");
	assert_string_equal(c.pid_file, TLSRPT_RUNDIR "/tlsrpt-milter.pid");
	conf_free(&c);
	assert_null(c.path);
}

static void test_defaults_numbers(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	parse_ok("", &c);
	assert_int_equal(c.datagram_socket_mode, 0660);
	assert_int_equal(c.datagram_receive_buffer, 8388608);
	assert_int_equal(c.datagram_max_size, 65536);
	assert_int_equal(c.datagram_threads, 2);
	assert_int_equal(c.datagram_queue_size, 8388608);
	assert_int_equal(c.flush_interval_ms, 1000);
	assert_int_equal(c.flush_records, 20000);
	assert_int_equal(c.pending_limit, 1000000);
	assert_int_equal(c.store_busy_timeout_ms, 2000);
	assert_int_equal(c.syslog_facility, LOG_MAIL);
	assert_int_equal(c.log_level, LOG_INFO);
	assert_int_equal(c.retention_days, 35);
	assert_int_equal(c.report_grace_period_ms, 3600000);
	assert_int_equal(c.dns_timeout_ms, 5000);
	assert_int_equal(c.sendmail_timeout_ms, 60000);
	conf_free(&c);
}

/* ---- valid files --------------------------------------------------- */

static const char every_key[] =
	"organization_name Example Org\n"
	"contact_info mailto:tlsrpt@example.org\n"
	"store_path /var/tmp/x.db\n"
	"datagram_socket /tmp/x.sock\n"
	"datagram_socket_owner postfix\n"
	"datagram_socket_group mail\n"
	"datagram_socket_mode 0640\n"
	"datagram_receive_buffer 2M\n"
	"datagram_max_size 128k\n"
	"datagram_threads 16\n"
	"datagram_queue_size 1G\n"
	"run_as_user nobody\n"
	"pid_file /tmp/x.pid\n"
	"flush_interval 250ms\n"
	"flush_records 1\n"
	"pending_limit 1000\n"
	"store_busy_timeout 0\n"
	"syslog_facility local3\n"
	"log_level debug\n"
	"retention_days 3650\n";

static void test_every_key_strings(void **state)
{
	struct tlsrpt_conf c;
	char err[256] = "";

	(void)state;
	assert_int_equal(parse(every_key, CONF_FOR_REPORTER, &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c.organization_name, "Example Org");
	assert_string_equal(c.contact_info, "mailto:tlsrpt@example.org");
	assert_string_equal(c.store_path, "/var/tmp/x.db");
	assert_string_equal(c.datagram_socket, "/tmp/x.sock");
	assert_string_equal(c.datagram_socket_owner, "postfix");
	assert_string_equal(c.datagram_socket_group, "mail");
	assert_string_equal(c.run_as_user, "nobody");
	assert_string_equal(c.pid_file, "/tmp/x.pid");
	conf_free(&c);
}

static void test_every_key_numbers(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	parse_ok(every_key, &c);
	assert_int_equal(c.datagram_socket_mode, 0640);
	assert_int_equal(c.datagram_receive_buffer, 2097152);
	assert_int_equal(c.datagram_max_size, 131072);
	assert_int_equal(c.datagram_threads, 16);
	assert_int_equal(c.datagram_queue_size, 1073741824);
	assert_int_equal(c.flush_interval_ms, 250);
	assert_int_equal(c.flush_records, 1);
	assert_int_equal(c.pending_limit, 1000);
	assert_int_equal(c.store_busy_timeout_ms, 0);
	assert_int_equal(c.syslog_facility, LOG_LOCAL3);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(c.retention_days, 3650);
	conf_free(&c);
}

static void test_keys_case_insensitive(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	parse_ok("FLUSH_INTERVAL 5m\nLog_Level Warning\nSysLog_Facility DAEMON\n"
	    "Run_As_User MixedCase\n", &c);
	assert_int_equal(c.flush_interval_ms, 300000);
	assert_int_equal(c.log_level, LOG_WARNING);
	assert_int_equal(c.syslog_facility, LOG_DAEMON);
	/* values keep their case */
	assert_string_equal(c.run_as_user, "MixedCase");
	conf_free(&c);
}

static void test_comments(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	parse_ok("# full-line comment\n"
	    "   # indented comment\n"
	    "\t#tab-indented comment\n"
	    "\n"
	    "   \t \n"
	    "run_as_user mail # the mail user\n"
	    "datagram_socket_owner own#er\n"
	    "datagram_socket_group grp\t# tab before the hash\n"
	    "  flush_records   77   \n", &c);
	assert_string_equal(c.run_as_user, "mail");
	assert_string_equal(c.datagram_socket_owner, "own#er");
	assert_string_equal(c.datagram_socket_group, "grp");
	assert_int_equal(c.flush_records, 77);
	conf_free(&c);
}

static void test_quoted_values(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	parse_ok("organization_name \"Example # Org\"\n"
	    "contact_info \"  spaced  \"   # comment after the quote\n"
	    "run_as_user \"say \\\"hi\\\" \\\\ back\\slash\"\n"
	    "datagram_socket_owner \"\"\n"
	    "flush_records \"42\"\n", &c);
	assert_string_equal(c.organization_name, "Example # Org");
	assert_string_equal(c.contact_info, "  spaced  ");
	assert_string_equal(c.run_as_user, "say \"hi\" \\ back\\slash");
	assert_string_equal(c.datagram_socket_owner, "");
	assert_int_equal(c.flush_records, 42);
	conf_free(&c);
}

static void test_none_paths(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	parse_ok("datagram_socket none\npid_file NONE\n", &c);
	assert_string_equal(c.datagram_socket, "");
	assert_string_equal(c.pid_file, "");
	conf_free(&c);
	expect_error("store_path none\n", CONF_FOR_DAEMON,
	    "t.conf:1: store_path: expected an absolute path: \"none\"");
}

static void test_line_endings(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	/* no newline after the last line */
	parse_ok("flush_records 5\nretention_days 7", &c);
	assert_int_equal(c.flush_records, 5);
	assert_int_equal(c.retention_days, 7);
	conf_free(&c);
	/* a file edited on Windows */
	parse_ok("# crlf\r\n\r\nrun_as_user mail\r\ncontact_info \"x y\"\r\n"
	    "flush_interval 2s\r\n", &c);
	assert_string_equal(c.run_as_user, "mail");
	assert_string_equal(c.contact_info, "x y");
	assert_int_equal(c.flush_interval_ms, 2000);
	conf_free(&c);
}

/* ---- errors -------------------------------------------------------- */

static void test_error_unknown_key(void **state)
{
	(void)state;
	expect_error("# comment\nflush_intervall 1s\n", CONF_FOR_DAEMON,
	    "t.conf:2: unknown key \"flush_intervall\"");
	expect_error("\n\n\nFoo bar\n", CONF_FOR_DAEMON, "t.conf:4: unknown key \"Foo\"");
}

static void test_error_duplicate_key(void **state)
{
	(void)state;
	expect_error("# c\nflush_interval 1s\nretention_days 9\nFLUSH_INTERVAL 2s\n",
	    CONF_FOR_DAEMON, "t.conf:4: duplicate key flush_interval (first set at line 2)");
	expect_error("run_as_user a\nrun_as_user a\n", CONF_FOR_DAEMON,
	    "t.conf:2: duplicate key run_as_user (first set at line 1)");
}

static void test_error_bad_int(void **state)
{
	(void)state;
	expect_error("flush_records 12x\n", CONF_FOR_DAEMON,
	    "t.conf:1: flush_records: expected a whole number: \"12x\"");
	expect_error("flush_records 1.5\n", CONF_FOR_DAEMON,
	    "t.conf:1: flush_records: expected a whole number: \"1.5\"");
	expect_error("flush_records \"\"\n", CONF_FOR_DAEMON,
	    "t.conf:1: flush_records: expected a whole number: \"\"");
	expect_error("flush_records 99999999999999999999\n", CONF_FOR_DAEMON,
	    "t.conf:1: flush_records: expected a whole number: \"99999999999999999999\"");
}

static void test_error_bad_duration(void **state)
{
	(void)state;
	expect_error("flush_interval 1w\n", CONF_FOR_DAEMON,
	    "t.conf:1: flush_interval: expected a duration such as 500ms, 1s, 5m, 2h or 1d: \"1w\"");
	expect_error("store_busy_timeout -1s\n", CONF_FOR_DAEMON,
	    "t.conf:1: store_busy_timeout: expected a duration such as 500ms, 1s, 5m, 2h or 1d: \"-1s\"");
}

static void test_error_bad_size(void **state)
{
	(void)state;
	expect_error("datagram_max_size 64kb\n", CONF_FOR_DAEMON,
	    "t.conf:1: datagram_max_size: expected a size such as 65536, 64k, 8M or 1G: \"64kb\"");
}

static void test_error_bad_mode(void **state)
{
	(void)state;
	expect_error("datagram_socket_mode 0689\n", CONF_FOR_DAEMON,
	    "t.conf:1: datagram_socket_mode: expected an octal mode such as 0660: \"0689\"");
	expect_error("datagram_socket_mode rw\n", CONF_FOR_DAEMON,
	    "t.conf:1: datagram_socket_mode: expected an octal mode such as 0660: \"rw\"");
}

static void test_error_bad_level_facility(void **state)
{
	(void)state;
	expect_error("log_level verbose\n", CONF_FOR_DAEMON,
	    "t.conf:1: log_level: expected one of err, warning, notice, info, debug: \"verbose\"");
	expect_error("syslog_facility local8\n", CONF_FOR_DAEMON,
	    "t.conf:1: syslog_facility: expected a syslog facility: mail, daemon, user or "
	    "local0..local7: \"local8\"");
}

static void test_error_relative_path(void **state)
{
	(void)state;
	expect_error("store_path var/tlsrpt.db\n", CONF_FOR_DAEMON,
	    "t.conf:1: store_path: expected an absolute path: \"var/tlsrpt.db\"");
	expect_error("datagram_socket tlsrpt.sock\n", CONF_FOR_DAEMON,
	    "t.conf:1: datagram_socket: expected an absolute path or \"none\": \"tlsrpt.sock\"");
	expect_error("pid_file ./x.pid\n", CONF_FOR_DAEMON,
	    "t.conf:1: pid_file: expected an absolute path or \"none\": \"./x.pid\"");
	expect_error("log_file mail.log\n", CONF_FOR_DAEMON,
	    "t.conf:1: log_file: expected an absolute path, - (standard input), journal: or "
	    "\"none\": \"mail.log\"");
}

/* log_file: a path, -, journal: (the system's) or journal:/directory. */
static void test_log_file_sources(void **state)
{
	static const char *ok[] = {"/var/log/mail.log", "-", "journal:", "journal:/var/tmp/j"};
	struct tlsrpt_conf c;
	char text[128];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "log_file %s\n", ok[i]);
#ifdef HAVE_LIBSYSTEMD
		parse_ok(text, &c);
		assert_string_equal(c.log_file, ok[i]);
		conf_free(&c);
#else
		if (strncmp(ok[i], "journal:", 8) != 0) {
			parse_ok(text, &c);
			conf_free(&c);
		}
#endif
	}
	parse_ok("log_file none\n", &c);
	assert_string_equal(c.log_file, "");
	conf_free(&c);
#ifdef HAVE_LIBSYSTEMD
	expect_error("log_file journal:var/j\n", CONF_FOR_DAEMON,
	    "t.conf:1: log_file: expected journal: (the system journal) or journal:/directory: "
	    "\"journal:var/j\"");
#else
	expect_error("log_file journal:\n", CONF_FOR_DAEMON,
	    "t.conf:1: log_file: journal: needs a tlsrpt-milter built with libsystemd: "
	    "\"journal:\"");
#endif
}

static void test_error_out_of_range(void **state)
{
	(void)state;
	expect_error("retention_days 1\n", CONF_FOR_DAEMON,
	    "t.conf:1: retention_days: value out of range: \"1\"");
	expect_error("retention_days 3651\n", CONF_FOR_DAEMON,
	    "t.conf:1: retention_days: value out of range: \"3651\"");
	expect_error("flush_interval 9ms\n", CONF_FOR_DAEMON,
	    "t.conf:1: flush_interval: value out of range: \"9ms\"");
	expect_error("flush_interval 2h\n", CONF_FOR_DAEMON,
	    "t.conf:1: flush_interval: value out of range: \"2h\"");
	expect_error("datagram_max_size 17M\n", CONF_FOR_DAEMON,
	    "t.conf:1: datagram_max_size: value out of range: \"17M\"");
	expect_error("datagram_socket_mode 10000\n", CONF_FOR_DAEMON,
	    "t.conf:1: datagram_socket_mode: value out of range: \"10000\"");
	expect_error("datagram_threads -1\n", CONF_FOR_DAEMON,
	    "t.conf:1: datagram_threads: value out of range: \"-1\"");
}

static void test_range_edges_accepted(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	parse_ok("retention_days 2\nflush_interval 10ms\ndatagram_max_size 4096\n"
	    "datagram_socket_mode 0777\nstore_busy_timeout 10m\nflush_records 100000000\n", &c);
	assert_int_equal(c.retention_days, 2);
	assert_int_equal(c.flush_interval_ms, 10);
	assert_int_equal(c.datagram_max_size, 4096);
	assert_int_equal(c.datagram_socket_mode, 0777);
	assert_int_equal(c.store_busy_timeout_ms, 600000);
	assert_int_equal(c.flush_records, 100000000);
	conf_free(&c);
}

static void test_error_syntax(void **state)
{
	(void)state;
	expect_error("run_as_user\n", CONF_FOR_DAEMON, "t.conf:1: missing value");
	expect_error("\nrun_as_user    # only a comment\n", CONF_FOR_DAEMON,
	    "t.conf:2: missing value");
	expect_error("organization_name \"Example\n", CONF_FOR_DAEMON,
	    "t.conf:1: unterminated quoted value");
	expect_error("organization_name \"ends in escaped quote\\\"\n", CONF_FOR_DAEMON,
	    "t.conf:1: unterminated quoted value");
	expect_error("organization_name \"a\" b\n", CONF_FOR_DAEMON,
	    "t.conf:1: text after the closing quote");
}

static void test_error_nul_byte(void **state)
{
	static const char text[] = "run_as_user a\nrun_as_user\0x\n";
	struct tlsrpt_conf c;
	char err[256] = "";

	(void)state;
	assert_int_equal(conf_parse("t.conf", text, sizeof(text) - 1, CONF_FOR_DAEMON,
	    &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:2: NUL byte in line");
}

static void test_missing_required(void **state)
{
	struct tlsrpt_conf c;

	(void)state;
	expect_error("", CONF_FOR_REPORTER, "t.conf: missing required key organization_name "
	    "(organization-name written into every report)");
	expect_error("organization_name X\n", CONF_FOR_REPORTER,
	    "t.conf: missing required key contact_info "
	    "(contact-info written into every report (address or URL))");
	expect_error("contact_info x@example.org\n", CONF_FOR_REPORTER | CONF_FOR_DAEMON,
	    "t.conf: missing required key organization_name "
	    "(organization-name written into every report)");
	/* the daemon does not need them */
	parse_ok("flush_records 3\n", &c);
	assert_null(c.organization_name);
	conf_free(&c);
	parse_ok(REQUIRED, &c);
	assert_string_equal(c.organization_name, "Example Org");
	conf_free(&c);
}

static void test_error_truncated(void **state)
{
	struct tlsrpt_conf c;
	char err[8];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(parse("bogus 1\n", CONF_FOR_DAEMON, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:");
	memset(err, 'x', sizeof(err));
	assert_int_equal(parse("bogus 1\n", CONF_FOR_DAEMON, &c, err, 0), -1);
	assert_int_equal(err[0], 'x');
}

/* ---- value parsers ------------------------------------------------- */

static long long dur(const char *s)
{
	long long v = -77;

	assert_true(conf_parse_duration_ms(s, &v));
	return v;
}

static void dur_bad(const char *s)
{
	long long v = -77;

	if (conf_parse_duration_ms(s, &v))
		fail_msg("duration \"%s\" accepted as %lld", s, v);
	assert_int_equal(v, -77);
}

static void test_duration(void **state)
{
	(void)state;
	assert_int_equal(dur("0"), 0);
	assert_int_equal(dur("250ms"), 250);
	assert_int_equal(dur("250MS"), 250);
	assert_int_equal(dur("1"), 1000);	/* a bare number is seconds */
	assert_int_equal(dur("1s"), 1000);
	assert_int_equal(dur("5m"), 300000);
	assert_int_equal(dur("2h"), 7200000);
	assert_int_equal(dur("2H"), 7200000);
	assert_int_equal(dur("1d"), 86400000);
	assert_int_equal(dur("007s"), 7000);
}

static void test_duration_junk(void **state)
{
	static const char *const bad[] = {
		"", "ms", "s", "-1s", "+1s", " 1s", "1 s", "1s ", "1sec", "1.5s",
		"1w", "1ss", "1m1s", "0x10", "1mss",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		dur_bad(bad[i]);
}

static void test_duration_overflow(void **state)
{
	(void)state;
	assert_int_equal(dur("9223372036854775807ms"), LLONG_MAX);
	dur_bad("9223372036854775808ms");
	assert_int_equal(dur("9223372036854775s"), 9223372036854775000LL);
	dur_bad("9223372036854776s");
	assert_int_equal(dur("106751991167d"), 9223372036828800000LL);
	dur_bad("106751991168d");
	dur_bad("99999999999999999999999");
}

static long long sz(const char *s)
{
	long long v = -77;

	assert_true(conf_parse_size(s, &v));
	return v;
}

static void size_bad(const char *s)
{
	long long v = -77;

	if (conf_parse_size(s, &v))
		fail_msg("size \"%s\" accepted as %lld", s, v);
	assert_int_equal(v, -77);
}

static void test_size(void **state)
{
	(void)state;
	assert_int_equal(sz("0"), 0);
	assert_int_equal(sz("65536"), 65536);
	assert_int_equal(sz("64k"), 65536);
	assert_int_equal(sz("64K"), 65536);
	assert_int_equal(sz("8m"), 8388608);
	assert_int_equal(sz("8M"), 8388608);
	assert_int_equal(sz("1g"), 1073741824);
	assert_int_equal(sz("3G"), 3221225472LL);
}

static void test_size_junk_and_overflow(void **state)
{
	static const char *const bad[] = {
		"", "k", "-1", "+1", "64kb", "64 k", " 64", "1T", "1.5M", "0x10", "64k ",
		"9223372036854775808", "9007199254740992k", "8589934592G",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		size_bad(bad[i]);
	assert_int_equal(sz("9223372036854775807"), LLONG_MAX);
	assert_int_equal(sz("9007199254740991k"), 9223372036854774784LL);
	assert_int_equal(sz("8589934591G"), 9223372035781033984LL);
}

/* ---- conf_load ----------------------------------------------------- */

static void test_load_missing_file(void **state)
{
	struct tlsrpt_conf c;
	char err[256] = "";

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load("/nonexistent-tlsrpt-dir/tlsrpt.conf", CONF_FOR_DAEMON,
	    &c, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "/nonexistent-tlsrpt-dir/tlsrpt.conf: cannot open: No such file or directory");
	assert_null(c.path);
}

/* Write text to a fresh temporary file; path receives its name. */
static void write_temp(char *path, size_t pathlen, const char *text)
{
	int fd;

	snprintf(path, pathlen, "/tmp/test_conf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_load_file(void **state)
{
	struct tlsrpt_conf c;
	char path[64], err[256] = "";

	(void)state;
	write_temp(path, sizeof(path), REQUIRED "flush_interval 3s\n");
	assert_int_equal(conf_load(path, CONF_FOR_REPORTER, &c, err, sizeof(err)), 0);
	unlink(path);
	assert_string_equal(c.path, path);
	assert_string_equal(c.contact_info, "tlsrpt@example.org");
	assert_int_equal(c.flush_interval_ms, 3000);
	conf_free(&c);
}

static void test_load_file_error_names_file(void **state)
{
	struct tlsrpt_conf c;
	char path[64], want[200], err[256] = "";

	(void)state;
	write_temp(path, sizeof(path), REQUIRED "\nlog_level loud\n");
	assert_int_equal(conf_load(path, CONF_FOR_REPORTER, &c, err, sizeof(err)), -1);
	unlink(path);
	snprintf(want, sizeof(want), "%s:4: log_level: expected one of err, warning, "
	    "notice, info, debug: \"loud\"", path);
	assert_string_equal(err, want);
}

static void test_load_empty_file(void **state)
{
	struct tlsrpt_conf c;
	char path[64], want[160], err[256] = "";

	(void)state;
	write_temp(path, sizeof(path), "");
	assert_int_equal(conf_load(path, CONF_FOR_DAEMON, &c, err, sizeof(err)), 0);
	assert_int_equal(c.retention_days, 35);
	conf_free(&c);
	assert_int_equal(conf_load(path, CONF_FOR_REPORTER, &c, err, sizeof(err)), -1);
	unlink(path);
	snprintf(want, sizeof(want), "%s: missing required key organization_name "
	    "(organization-name written into every report)", path);
	assert_string_equal(err, want);
}

/* Not regular files: refused at once, never read (a FIFO would block the read). */
static void test_load_not_regular(void **state)
{
	struct tlsrpt_conf c;
	char dir[64], path[128], want[256], err[256] = "";

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_conf-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo.conf", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(conf_load(path, CONF_FOR_DAEMON, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: is a FIFO, not a regular file: the configuration must "
	    "be a regular file", path);
	assert_string_equal(err, want);
	assert_int_equal(conf_load(dir, CONF_FOR_REPORTER, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: is a directory, not a regular file: the configuration "
	    "must be a regular file", dir);
	assert_string_equal(err, want);
	assert_int_equal(conf_load("/dev/null", CONF_FOR_DAEMON, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "/dev/null: is a character device, not a regular file: the "
	    "configuration must be a regular file");
	unlink(path);
	rmdir(dir);
}

/* Files named by keys: a FIFO, a directory or a device is refused with the key's name. */
static void test_load_files_named_not_regular(void **state)
{
	static const struct {
		const char *key;
		const char *hint;
	} cases[] = {
		{"dkim_key_file", ""},
		{"https_ca_file", ""},
		{"log_file", " (a mail log written to a pipe: give it on standard input, log_file -)"},
	};
	struct tlsrpt_conf c;
	char dir[64], fifo[128], text[512], path[64], want[400], err[512] = "";

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_conf-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "%s%s %s\n", REQUIRED, cases[i].key, fifo);
		write_temp(path, sizeof(path), text);
		assert_int_equal(conf_load(path, CONF_FOR_REPORTER, &c, err, sizeof(err)), -1);
		snprintf(want, sizeof(want), "%s: %s %s is a FIFO, not a regular file%s", path,
		    cases[i].key, fifo, cases[i].hint);
		assert_string_equal(err, want);
		unlink(path);
	}
	/* a directory, a device; a missing file is left to the program that reads it */
	snprintf(text, sizeof(text), "%shttps_ca_file %s\n", REQUIRED, dir);
	write_temp(path, sizeof(path), text);
	assert_int_equal(conf_load(path, CONF_FOR_REPORTER, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: https_ca_file %s is a directory, not a regular file",
	    path, dir);
	assert_string_equal(err, want);
	unlink(path);
	write_temp(path, sizeof(path), REQUIRED "dkim_key_file /dev/zero\n");
	assert_int_equal(conf_load(path, CONF_FOR_REPORTER, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: dkim_key_file /dev/zero is a character device, not a "
	    "regular file", path);
	assert_string_equal(err, want);
	unlink(path);
	snprintf(text, sizeof(text), "%sdkim_key_file %s/missing.pem\nlog_file -\n", REQUIRED, dir);
	write_temp(path, sizeof(path), text);
	assert_int_equal(conf_load(path, CONF_FOR_REPORTER, &c, err, sizeof(err)), 0);
	conf_free(&c);
	unlink(path);
	unlink(fifo);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_not_regular),
		cmocka_unit_test(test_load_files_named_not_regular),
		cmocka_unit_test(test_option_table),
		cmocka_unit_test(test_defaults_strings),
		cmocka_unit_test(test_defaults_numbers),
		cmocka_unit_test(test_every_key_strings),
		cmocka_unit_test(test_every_key_numbers),
		cmocka_unit_test(test_keys_case_insensitive),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_quoted_values),
		cmocka_unit_test(test_none_paths),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_error_unknown_key),
		cmocka_unit_test(test_error_duplicate_key),
		cmocka_unit_test(test_error_bad_int),
		cmocka_unit_test(test_bool_values),
		cmocka_unit_test(test_error_bad_duration),
		cmocka_unit_test(test_error_bad_size),
		cmocka_unit_test(test_error_bad_mode),
		cmocka_unit_test(test_error_bad_level_facility),
		cmocka_unit_test(test_error_relative_path),
		cmocka_unit_test(test_log_file_sources),
		cmocka_unit_test(test_error_out_of_range),
		cmocka_unit_test(test_range_edges_accepted),
		cmocka_unit_test(test_error_syntax),
		cmocka_unit_test(test_error_nul_byte),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_error_truncated),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_duration_junk),
		cmocka_unit_test(test_duration_overflow),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_size_junk_and_overflow),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_file_error_names_file),
		cmocka_unit_test(test_load_empty_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
