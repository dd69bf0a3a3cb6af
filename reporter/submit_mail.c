/*
 * NAME
 *	submit_mail - the report mail of RFC 8460 section 5.3, and its submission
 * SUMMARY
 *	report_mail_build(): report data in, whole message out (pure).
 *	report_mail_sendmail(): hand a message to a sendmail-compatible command.
 * DESCRIPTION
 *	The message (CRLF line ends) is
 *
 *	    From: "Organization" <from>	(or the bare address)
 *	    To: <to>
 *	    Date: Wed, 04 Sep 2024 03:53:20 +0000
 *	    Message-ID: <tlsrpt.HASH.NOW@submitter>
 *	    Subject: Report Domain: D Submitter: S Report-ID: <ID>
 *	    TLS-Report-Domain: D
 *	    TLS-Report-Submitter: S
 *	    TLS-Required: No
 *	    MIME-Version: 1.0
 *	    Content-Type: multipart/report; report-type="tlsrpt"; boundary="B"
 *
 *	then a text/plain (us-ascii, 7bit) part of one human line and the
 *	application/tlsrpt+gzip attachment, base64 in lines of 76, named
 *	"S!D!BEGIN!END!001.json.gz" with END = BEGIN + 86399 (as Google does).
 *
 *	Header lines longer than 78 columns are folded at a space (the
 *	Subject usually is); a word is never split, so a line can exceed 78
 *	only when one word does (a long file name), never 998 (every field
 *	is length-limited).  Unfolding gives back the unfolded value exactly.
 *
 *	The boundary starts with "=_", which can occur neither in base64 (where
 *	'=' is only padding at the end) nor in the text part (which holds
 *	only domain names and fixed words).
 *
 *	Validation is strict, since the addresses come from DNS: every field
 *	must be printable ASCII; from and to must be plain addr-specs
 *	(dot-atom local part, '@', a domain name; no quoted local part, no
 *	address literal) that do not start with '-'; policy_domain and
 *	submitter must be domain names (LDH labels, at least two); report_id
 *	must be "left@submitter" with a dot-atom left part (RFC 8460 R26/R27).
 *	Errors name the field and never echo its value (it may hold CR/LF).
 *
 *	The display name: organization_name, when it is printable ASCII,
 *	becomes an RFC 5322 quoted-string ('"' and '\' escaped).  When it
 *	holds a non-ASCII byte the display name is left out (no RFC 2047):
 *	the address alone is a valid From, and a report mail is read by
 *	programs, not people.  A control character in it is an error, as
 *	anywhere else.
 *
 *	report_mail_sendmail() forks and execv()s argv + "-f FROM -- RCPT"
 *	(no shell), with the child in its own process group, its stdin a
 *	pipe and its stdout sent to our stderr.  The message is written
 *	without blocking and SIGPIPE is blocked around the write (a pending
 *	SIGPIPE it caused is consumed), so a child that exits early gives an
 *	error, not a dead reporter.  The whole run, write included, is
 *	bounded by timeout_s; then the child's process group is killed.
 * DIAGNOSTICS
 *	"FIELD: contains a control character", "FIELD: not a domain name",
 *	"sendmail exited with status 75", "sendmail killed by signal 9",
 *	"sendmail killed after 30 s", ...
 * SEE ALSO
 *	RFC 8460 section 5.3, RFC 6522, RFC 5322, RFC 8689 (TLS-Required).
 */
#include "submit_mail.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define MAX_FOLD	78		/* RFC 5322 2.1.1 SHOULD */
#define MAX_ADDR	254
#define MAX_DOMAIN	253
#define MAX_ID		255
#define MAX_ORG		200
#define B64_LINE_BYTES	57		/* 76 base64 characters */
#define DAY_SECONDS	86400LL
#define MAX_ARGV	64

/* ---- validation ------------------------------------------------------ */

static bool fail(char *err, size_t errlen, const char *field, const char *reason)
{
	snprintf(err, errlen, "%s: %s", field, reason);
	return false;
}

/* Present, not too long, printable ASCII only. */
static bool check_text(const char *s, const char *field, size_t max, char *err, size_t errlen)
{
	const unsigned char *p;

	if (s == NULL || *s == '\0')
		return fail(err, errlen, field, "missing");
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return fail(err, errlen, field, "contains a control character");
		if (*p > 0x7f)
			return fail(err, errlen, field, "contains a non-ASCII byte");
	}
	if ((size_t)(p - (const unsigned char *)s) > max)
		return fail(err, errlen, field, "too long");
	return true;
}

static bool is_ldh(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* n bytes of s: LDH labels of 1..63, no '-' at a label's ends, two labels at least. */
static bool is_domain(const char *s, size_t n)
{
	size_t label = 0, labels = 1;

	if (n == 0 || n > MAX_DOMAIN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			labels++;
		} else if (is_ldh((unsigned char)s[i])) {
			if (label == 0 && s[i] == '-')
				return false;
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 && s[n - 1] != '-' && labels >= 2;
}

/* RFC 5322 atext */
static bool is_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* n bytes of s: dot-atom-text (atext runs joined by single dots). */
static bool is_dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.' ? s[i - 1] == '.' : !is_atext((unsigned char)s[i]))
			return false;
	}
	return true;
}

static bool check_domain(const char *s, const char *field, char *err, size_t errlen)
{
	if (!check_text(s, field, MAX_DOMAIN, err, errlen))
		return false;
	if (!is_domain(s, strlen(s)))
		return fail(err, errlen, field, "not a domain name");
	return true;
}

static bool check_address(const char *s, const char *field, char *err, size_t errlen)
{
	const char *at;

	if (!check_text(s, field, MAX_ADDR, err, errlen))
		return false;
	if (s[0] == '-')
		return fail(err, errlen, field, "starts with '-'");
	at = strrchr(s, '@');
	if (at == NULL || !is_dot_atom(s, (size_t)(at - s)) || !is_domain(at + 1, strlen(at + 1)))
		return fail(err, errlen, field, "not an address of the form local@domain");
	return true;
}

static bool check_report_id(const char *id, const char *submitter, char *err, size_t errlen)
{
	const char *at;

	if (!check_text(id, "report_id", MAX_ID, err, errlen))
		return false;
	at = strrchr(id, '@');
	if (at == NULL || !is_dot_atom(id, (size_t)(at - id)) || !is_domain(at + 1, strlen(at + 1)))
		return fail(err, errlen, "report_id", "not a message id of the form left@domain");
	if (strcasecmp(at + 1, submitter) != 0)
		return fail(err, errlen, "report_id", "right side is not the submitter domain");
	return true;
}

/* Control characters are an error; false (no display name) when non-ASCII. */
static bool check_org(const char *org, bool *use, char *err, size_t errlen)
{
	*use = false;
	if (org == NULL || *org == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)org; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return fail(err, errlen, "organization_name", "contains a control character");
		if (*p > 0x7f)
			return true;
	}
	if (strlen(org) > MAX_ORG)
		return fail(err, errlen, "organization_name", "too long");
	*use = true;
	return true;
}

static bool check_mail(const struct report_mail *m, bool *use_org, char *err, size_t errlen)
{
	if (!check_address(m->from, "from", err, errlen) ||
	    !check_address(m->to, "to", err, errlen) ||
	    !check_domain(m->policy_domain, "policy_domain", err, errlen) ||
	    !check_domain(m->submitter, "submitter", err, errlen) ||
	    !check_report_id(m->report_id, m->submitter, err, errlen) ||
	    !check_org(m->organization_name, use_org, err, errlen))
		return false;
	if (m->day_start < 0 || m->day_start % DAY_SECONDS != 0)
		return fail(err, errlen, "day_start", "not 00:00:00Z of a day");
	if (m->now < 0 || m->now > 253402300799LL)	/* 9999-12-31T23:59:59Z */
		return fail(err, errlen, "now", "out of range");
	if (m->gzip == NULL || m->gzip_len == 0)
		return fail(err, errlen, "gzip", "empty report");
	return true;
}

/* ---- message assembly ------------------------------------------------ */

/*
 * "Name: value" CRLF, folded before a space where the line would pass
 * MAX_FOLD columns.  Spaces in value are single (callers build it so),
 * so unfolding restores value exactly.
 */
static void add_header(struct strbuf *sb, const char *name, const char *value)
{
	size_t col = strlen(name) + 2;
	const char *p = value;

	strbuf_appends(sb, name);
	strbuf_append(sb, ": ", 2);
	while (*p) {
		size_t word = strcspn(p + 1, " ") + 1;	/* the space before it, and the word */

		if (p == value) {
			word = strcspn(p, " ");
			if (word == 0)
				word = 1;
		} else if (col + word > MAX_FOLD && word > 1) {	/* no all-blank line */
			strbuf_append(sb, "\r\n", 2);
			col = 0;
		}
		strbuf_append(sb, p, word);
		col += word;
		p += word;
	}
	strbuf_append(sb, "\r\n", 2);
}

/* RFC 5322 quoted-string of printable ASCII. */
static void add_quoted(struct strbuf *sb, const char *s)
{
	strbuf_appendc(sb, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			strbuf_appendc(sb, '\\');
		strbuf_appendc(sb, *s);
	}
	strbuf_appendc(sb, '"');
}

static void add_date(struct strbuf *sb, long long now)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)now;
	struct tm tm;
	char value[64];

	gmtime_r(&t, &tm);
	snprintf(value, sizeof(value), "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	add_header(sb, "Date", value);
}

static void add_base64(struct strbuf *sb, const unsigned char *p, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	while (n > 0) {
		size_t line = n < B64_LINE_BYTES ? n : B64_LINE_BYTES;

		for (size_t i = 0; i < line; i += 3) {
			unsigned long v = (unsigned long)p[i] << 16;
			size_t k = line - i;

			if (k > 1)
				v |= (unsigned long)p[i + 1] << 8;
			if (k > 2)
				v |= p[i + 2];
			strbuf_appendc(sb, b64[(v >> 18) & 63]);
			strbuf_appendc(sb, b64[(v >> 12) & 63]);
			strbuf_appendc(sb, k > 1 ? b64[(v >> 6) & 63] : '=');
			strbuf_appendc(sb, k > 2 ? b64[v & 63] : '=');
		}
		strbuf_append(sb, "\r\n", 2);
		p += line;
		n -= line;
	}
}

static void add_headers(struct strbuf *sb, const struct report_mail *m, bool use_org,
    const char *boundary)
{
	struct strbuf v;
	uint64_t h;

	strbuf_init(&v);
	if (use_org) {
		add_quoted(&v, m->organization_name);
		strbuf_printf(&v, " <%s>", m->from);
	} else {
		strbuf_appends(&v, m->from);
	}
	add_header(sb, "From", v.data);
	add_header(sb, "To", m->to);
	add_date(sb, m->now);

	strbuf_reset(&v);
	strbuf_printf(&v, "%s %lld", m->report_id, m->now);
	h = hash_bytes(v.data, v.len);
	strbuf_reset(&v);
	strbuf_printf(&v, "<tlsrpt.%016llx.%lld@%s>", (unsigned long long)h, m->now, m->submitter);
	add_header(sb, "Message-ID", v.data);

	strbuf_reset(&v);
	strbuf_printf(&v, "Report Domain: %s Submitter: %s Report-ID: <%s>",
	    m->policy_domain, m->submitter, m->report_id);
	add_header(sb, "Subject", v.data);
	add_header(sb, "TLS-Report-Domain", m->policy_domain);
	add_header(sb, "TLS-Report-Submitter", m->submitter);
	add_header(sb, "TLS-Required", "No");
	add_header(sb, "MIME-Version", "1.0");

	strbuf_reset(&v);
	strbuf_printf(&v, "multipart/report; report-type=\"tlsrpt\"; boundary=\"%s\"", boundary);
	add_header(sb, "Content-Type", v.data);
	strbuf_free(&v);
}

static void add_text_part(struct strbuf *sb, const struct report_mail *m, const char *boundary)
{
	char day[11];

	utc_day(m->day_start, day);
	strbuf_printf(sb, "--%s\r\n", boundary);
	add_header(sb, "Content-Type", "text/plain; charset=us-ascii");
	add_header(sb, "Content-Transfer-Encoding", "7bit");
	strbuf_printf(sb, "\r\nThis is an aggregate TLS report from %s for %s, %s.\r\n"
	    "The report (RFC 8460) is the attached file.\r\n\r\n",
	    m->submitter, m->policy_domain, day);
}

static void add_report_part(struct strbuf *sb, const struct report_mail *m, const char *boundary)
{
	struct strbuf v;
	char file[2 * MAX_DOMAIN + 64];

	snprintf(file, sizeof(file), "%s!%s!%lld!%lld!001.json.gz", m->submitter,
	    m->policy_domain, m->day_start, m->day_start + DAY_SECONDS - 1);
	strbuf_init(&v);
	strbuf_printf(sb, "--%s\r\n", boundary);
	strbuf_printf(&v, "application/tlsrpt+gzip; name=\"%s\"", file);
	add_header(sb, "Content-Type", v.data);
	strbuf_reset(&v);
	strbuf_printf(&v, "attachment; filename=\"%s\"", file);
	add_header(sb, "Content-Disposition", v.data);
	add_header(sb, "Content-Transfer-Encoding", "base64");
	strbuf_append(sb, "\r\n", 2);
	add_base64(sb, m->gzip, m->gzip_len);
	strbuf_printf(sb, "\r\n--%s--\r\n", boundary);
	strbuf_free(&v);
}

char *report_mail_build(const struct report_mail *m, char *err, size_t errlen)
{
	struct strbuf sb;
	char boundary[64];
	bool use_org;

	if (!check_mail(m, &use_org, err, errlen))
		return NULL;
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%016llx",
	    (unsigned long long)hash_bytes(m->gzip, m->gzip_len));
	strbuf_init(&sb);
	add_headers(&sb, m, use_org, boundary);
	strbuf_append(&sb, "\r\n", 2);
	add_text_part(&sb, m, boundary);
	add_report_part(&sb, m, boundary);
	return sb.data;
}

/* ---- submission ------------------------------------------------------ */

static int remaining_ms(long long deadline)
{
	long long left = deadline - monotonic_ms();

	return left < 0 ? 0 : left > 1000 ? 1000 : (int)left;
}

static bool check_envelope(const char *const *argv, const char *from, const char *rcpt,
    char *err, size_t errlen)
{
	size_t n = 0;

	if (argv == NULL || argv[0] == NULL || argv[0][0] != '/')
		return fail(err, errlen, "sendmail command", "not an absolute path");
	while (argv[n] != NULL)
		if (++n > MAX_ARGV)
			return fail(err, errlen, "sendmail command", "too many arguments");
	return check_address(from, "envelope sender", err, errlen) &&
	    check_address(rcpt, "envelope recipient", err, errlen);
}

/* In the child: stdin from the pipe, stdout to stderr, default signals, exec. */
static void run_child(const char **argv, int in, int report)
{
	sigset_t none;
	int e;

	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(2, 1) < 0)		/* best effort: stdout is ours (reports) */
		close(1);
	if (dup2(in, 0) < 0) {
		e = errno;
	} else {
		execv(argv[0], (char *const *)argv);
		e = errno;
	}
	free(argv);
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/*
 * Write msg to fd (non-blocking) until done, the reader is gone (EPIPE)
 * or the deadline; SIGPIPE blocked meanwhile.  Returns the bytes written.
 */
static size_t write_message(int fd, const char *msg, size_t len, long long deadline)
{
	sigset_t pipe_set, old, pending;
	bool was_pending;
	size_t done = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	while (done < len && monotonic_ms() < deadline) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t w;

		if (poll(&pfd, 1, remaining_ms(deadline)) <= 0)
			continue;
		w = write(fd, msg + done, len - done);
		if (w > 0)
			done += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR)
			break;		/* EPIPE: the child closed its stdin */
	}
	if (!was_pending) {
		const struct timespec zero = {0, 0};

		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE))
			sigtimedwait(&pipe_set, NULL, &zero);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return done;
}

enum wait_result { CHILD_ENDED, CHILD_KILLED, CHILD_LOST };

/* Wait for pid until the deadline (polling every 20 ms); then kill its group. */
static enum wait_result wait_child(pid_t pid, long long deadline, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return CHILD_ENDED;
		if (r < 0 && errno != EINTR)
			return CHILD_LOST;	/* ECHILD: SIGCHLD ignored, reaped by the kernel */
		if (monotonic_ms() >= deadline)
			break;
		poll(NULL, 0, remaining_ms(deadline) < 20 ? remaining_ms(deadline) : 20);
	}
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return CHILD_KILLED;
}

/* argv + "-f from -- rcpt", NULL-terminated, malloc'd (the strings are not copied). */
static const char **full_argv(const char *const *argv, const char *from, const char *rcpt)
{
	size_t n = 0;
	const char **av;

	while (argv[n] != NULL)
		n++;
	av = xcalloc(n + 5, sizeof(*av));
	memcpy(av, argv, n * sizeof(*av));
	av[n] = "-f";
	av[n + 1] = from;
	av[n + 2] = "--";
	av[n + 3] = rcpt;
	av[n + 4] = NULL;
	return av;
}

static int open_pipe(int fds[2])
{
	if (pipe(fds) < 0)
		return -1;
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

/* Did exec fail?  The report pipe is closed by a successful exec. */
static bool exec_failed(int report, const char *path, char *err, size_t errlen)
{
	int e;
	ssize_t r;

	while ((r = read(report, &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (r != (ssize_t)sizeof(e))
		return false;
	snprintf(err, errlen, "cannot execute %s: %s", path, strerror(e));
	return true;
}

static int child_result(enum wait_result how, int status, size_t written, size_t len,
    int timeout_s, char *err, size_t errlen)
{
	if (how == CHILD_KILLED) {
		snprintf(err, errlen, "sendmail killed after %d s", timeout_s);
		return -2;
	}
	if (how == CHILD_LOST) {
		snprintf(err, errlen, "sendmail: exit status lost (is SIGCHLD ignored?)");
		return -1;
	}
	if (WIFSIGNALED(status)) {
		snprintf(err, errlen, "sendmail killed by signal %d", WTERMSIG(status));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "sendmail exited with status %d",
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -1;
	}
	if (written < len) {
		snprintf(err, errlen, "sendmail exited 0 after reading %zu of %zu bytes",
		    written, len);
		return -1;
	}
	return 0;
}

int report_mail_sendmail(const char *const *argv, const char *from, const char *rcpt,
    const char *msg, size_t len, int timeout_s, char *err, size_t errlen)
{
	int in[2], report[2], status = 0;
	long long deadline;
	const char **av;
	enum wait_result how;
	size_t written;
	pid_t pid;

	if (!check_envelope(argv, from, rcpt, err, errlen))
		return -1;
	if (timeout_s <= 0)
		timeout_s = 1;
	if (open_pipe(in) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (open_pipe(report) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(in[0]);
		close(in[1]);
		return -1;
	}
	av = full_argv(argv, from, rcpt);
	deadline = monotonic_ms() + (long long)timeout_s * 1000;
	pid = fork();
	if (pid == 0)
		run_child(av, in[0], report[1]);
	free(av);
	if (pid > 0)
		setpgid(pid, pid);	/* also here: no race with a kill of the group */
	close(in[0]);
	close(report[1]);
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(in[1]);
		close(report[0]);
		return -1;
	}
	if (exec_failed(report[0], argv[0], err, errlen)) {
		close(report[0]);
		close(in[1]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return -1;
	}
	close(report[0]);
	fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
	written = write_message(in[1], msg, len, deadline);
	close(in[1]);
	how = wait_child(pid, deadline, &status);
	return child_result(how, status, written, len, timeout_s, err, errlen);
}
