/*
 * Unit tests of reporter/submit_mail.c: the exact header fields and
 * attachment of the report mail (RFC 8460 section 5.3, checklist
 * R17-R22, R26-R27), CRLF line ends, the base64 round trip, refusal of
 * header injection, and report_mail_sendmail() against small /bin/sh
 * stand-ins for sendmail written into a mkdtemp() directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "submit_mail.h"
#include "util.h"

#define DAY 1725321600LL	/* 2024-09-03T00:00:00Z */
#define NOW 1725422000LL	/* 2024-09-04T03:53:20Z, a Wednesday */
#define FILE_NAME "sender.example!example.com!1725321600!1725407999!001.json.gz"
#define REPORT_ID "2024.09.03T00.00.00Z+example.com@sender.example"

/* The start of a real gzip member, then arbitrary bytes: only the bytes matter here. */
static const unsigned char gz_bytes[] = {
	0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xab, 0x56, 0x4a, 0x54,
	0xb2, 0x32, 0xac, 0x05, 0x00, 0xaf, 0xac, 0x1b, 0x56, 0x07, 0x00, 0x00, 0x00, 0xff,
	0xfe, 0x00, 0x3d, 0x2d, 0x2d, 0x0d, 0x0a, 0x0a, 0x0d,
};

static void fixed_mail(struct report_mail *m)
{
	memset(m, 0, sizeof(*m));
	m->from = "tlsrpt-noreply@sender.example";
	m->to = "tls-reports@example.com";
	m->policy_domain = "example.com";
	m->submitter = "sender.example";
	m->report_id = REPORT_ID;
	m->organization_name = "Sender Example Ltd.";
	m->day_start = DAY;
	m->gzip = gz_bytes;
	m->gzip_len = sizeof(gz_bytes);
	m->now = NOW;
}

static char *build_ok(const struct report_mail *m)
{
	char err[256] = "";
	char *msg = report_mail_build(m, err, sizeof(err));

	if (msg == NULL)
		fail_msg("report_mail_build failed: %s", err);
	return msg;
}

/* End of the header block starting at p (the CRLF CRLF), or NULL. */
static const char *header_end(const char *p)
{
	return strstr(p, "\r\n\r\n");
}

/*
 * The unfolded value of the first field NAME in the header block that
 * starts at block; malloc'd, NULL when absent.  Unfolding removes the
 * CRLF before a continuation line (RFC 5322 2.2.3).
 */
static char *field(const char *block, const char *name)
{
	const char *end = header_end(block), *p = block;
	size_t nlen = strlen(name);

	while (p != NULL && p < end) {
		if (strncmp(p, name, nlen) == 0 && p[nlen] == ':') {
			struct strbuf v;
			const char *q = p + nlen + 1;

			strbuf_init(&v);
			while (*q == ' ')
				q++;
			for (;;) {
				const char *eol = strstr(q, "\r\n");

				strbuf_append(&v, q, (size_t)(eol - q));
				if (eol[2] != ' ' && eol[2] != '\t')
					break;
				q = eol + 2;
			}
			return v.data ? v.data : xstrdup("");
		}
		p = strstr(p, "\r\n");
		if (p)
			p += 2;
	}
	return NULL;
}

static void assert_field(const char *block, const char *name, const char *want)
{
	char *got = field(block, name);

	if (got == NULL)
		fail_msg("no %s field", name);
	assert_string_equal(got, want);
	free(got);
}

/* The boundary from the top-level Content-Type; malloc'd. */
static char *boundary_of(const char *msg)
{
	char *ct = field(msg, "Content-Type"), *b, *e, *out;

	assert_non_null(ct);
	b = strstr(ct, "boundary=\"");
	assert_non_null(b);
	b += strlen("boundary=\"");
	e = strchr(b, '"');
	assert_non_null(e);
	out = xstrndup(b, (size_t)(e - b));
	free(ct);
	return out;
}

/* The n-th (1-based) body part's header block. */
static const char *part(const char *msg, int n)
{
	char *b = boundary_of(msg);
	char delim[128];
	const char *p = msg;

	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", b);
	free(b);
	for (int i = 0; i < n; i++) {
		p = strstr(p, delim);
		assert_non_null(p);
		p += strlen(delim);
	}
	return p;
}

static int b64_value(int c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;

	return p ? (int)(p - a) : -1;
}

/* Decode the base64 body of the attachment (up to the closing delimiter). */
static void decode_attachment(const char *msg, struct strbuf *out)
{
	const char *p = header_end(part(msg, 2)) + 4;
	unsigned long acc = 0;
	int bits = 0;

	for (; *p && *p != '-'; p++) {
		int v = b64_value((unsigned char)*p);

		if (*p == '\r' || *p == '\n' || *p == '=')
			continue;
		assert_true(v >= 0);
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			strbuf_appendc(out, (char)((acc >> bits) & 0xff));
		}
	}
}

/* ---- the message ------------------------------------------------------ */

static void test_top_header_fields(void **state)
{
	struct report_mail m;
	char *msg, *id, *b, want[256];

	(void)state;
	fixed_mail(&m);
	msg = build_ok(&m);
	assert_field(msg, "From", "\"Sender Example Ltd.\" <tlsrpt-noreply@sender.example>");
	assert_field(msg, "To", "tls-reports@example.com");
	assert_field(msg, "Date", "Wed, 04 Sep 2024 03:53:20 +0000");
	assert_field(msg, "Subject", "Report Domain: example.com Submitter: sender.example "
	    "Report-ID: <" REPORT_ID ">");
	assert_field(msg, "TLS-Report-Domain", "example.com");
	assert_field(msg, "TLS-Report-Submitter", "sender.example");
	assert_field(msg, "TLS-Required", "No");
	assert_field(msg, "MIME-Version", "1.0");
	b = boundary_of(msg);
	snprintf(want, sizeof(want), "multipart/report; report-type=\"tlsrpt\"; boundary=\"%s\"", b);
	assert_field(msg, "Content-Type", want);
	/* the boundary cannot occur in base64 ('=' only as padding) nor in domain names */
	assert_memory_equal(b, "=_", 2);
	id = field(msg, "Message-ID");
	assert_non_null(id);
	assert_memory_equal(id, "<tlsrpt.", 8);
	assert_non_null(strstr(id, ".1725422000@sender.example>"));
	assert_int_equal(strlen(id), strlen("<tlsrpt.0123456789abcdef.1725422000@sender.example>"));
	/* the first lines, as bytes: the Subject is folded before "<" */
	assert_non_null(strstr(msg, "\r\nSubject: Report Domain: example.com Submitter: sender.example "
	    "Report-ID:\r\n <" REPORT_ID ">\r\nTLS-Report-Domain: example.com\r\n"
	    "TLS-Report-Submitter: sender.example\r\nTLS-Required: No\r\nMIME-Version: 1.0\r\n"));
	assert_memory_equal(msg, "From: \"Sender Example Ltd.\" <tlsrpt-noreply@sender.example>\r\n"
	    "To: tls-reports@example.com\r\nDate: Wed, 04 Sep 2024 03:53:20 +0000\r\nMessage-ID: <",
	    strlen("From: \"Sender Example Ltd.\" <tlsrpt-noreply@sender.example>\r\n"
	    "To: tls-reports@example.com\r\nDate: Wed, 04 Sep 2024 03:53:20 +0000\r\nMessage-ID: <"));
	free(id);
	free(b);
	free(msg);
}

static void test_parts(void **state)
{
	struct report_mail m;
	const char *text, *att;
	char *msg, *b, closing[128];

	(void)state;
	fixed_mail(&m);
	msg = build_ok(&m);
	text = part(msg, 1);
	assert_field(text, "Content-Type", "text/plain; charset=us-ascii");
	assert_field(text, "Content-Transfer-Encoding", "7bit");
	assert_memory_equal(header_end(text), "\r\n\r\nThis is an aggregate TLS report from "
	    "sender.example for example.com, 2024-09-03.\r\n", 82);
	att = part(msg, 2);
	assert_field(att, "Content-Type", "application/tlsrpt+gzip; name=\"" FILE_NAME "\"");
	assert_field(att, "Content-Disposition", "attachment; filename=\"" FILE_NAME "\"");
	assert_field(att, "Content-Transfer-Encoding", "base64");
	assert_non_null(strstr(att, "Content-Type: application/tlsrpt+gzip;\r\n name=\""
	    FILE_NAME "\"\r\nContent-Disposition: attachment;\r\n filename=\"" FILE_NAME "\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"));
	/* exactly two parts, then the closing delimiter and nothing after it */
	b = boundary_of(msg);
	snprintf(closing, sizeof(closing), "\r\n--%s--\r\n", b);
	assert_non_null(strstr(msg, closing));
	assert_string_equal(strstr(msg, closing), closing);
	{
		int n = 0;

		for (const char *p = strstr(msg, b); p; p = strstr(p + 1, b))
			n++;
		assert_int_equal(n, 4);	/* Content-Type, two delimiters, the close */
	}
	free(b);
	free(msg);
}

static void test_crlf_and_line_lengths(void **state)
{
	struct report_mail m;
	unsigned char big[5000];
	char *msg;
	const char *p, *end;
	size_t line = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + 3);
	fixed_mail(&m);
	m.gzip = big;
	m.gzip_len = sizeof(big);
	msg = build_ok(&m);
	end = header_end(msg);
	for (p = msg; *p; p++) {
		if (*p == '\n')
			assert_true(p > msg && p[-1] == '\r');
		if (*p == '\r')
			assert_int_equal(p[1], '\n');
	}
	/* header lines at most 78 columns, base64 lines exactly 76 but the last */
	for (p = msg; *p; p++, line++) {
		if (*p != '\r')
			continue;
		if (p < end)
			assert_in_range(line, 1, 78);
		line = (size_t)-1;
		p++;
	}
	p = header_end(part(msg, 2)) + 4;
	for (size_t lines = 0; lines < sizeof(big) / 57; lines++) {
		assert_int_equal(strcspn(p, "\r"), 76);
		p += 78;
	}
	assert_int_equal(strcspn(p, "\r"), 4 * ((sizeof(big) % 57 + 2) / 3));
	free(msg);
}

static void test_base64_round_trip(void **state)
{
	static const size_t sizes[] = {1, 2, 3, 4, 56, 57, 58, 114, 1000, 65537};
	unsigned char *data = xmalloc(65537);
	struct report_mail m;

	(void)state;
	for (size_t i = 0; i < 65537; i++)
		data[i] = (unsigned char)((i * 131) ^ (i >> 8));
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct strbuf out;
		char *msg;

		fixed_mail(&m);
		m.gzip = data;
		m.gzip_len = sizes[k];
		msg = build_ok(&m);
		strbuf_init(&out);
		decode_attachment(msg, &out);
		assert_int_equal(out.len, sizes[k]);
		assert_memory_equal(out.data, data, sizes[k]);
		strbuf_free(&out);
		free(msg);
	}
	fixed_mail(&m);
	{
		struct strbuf out;
		char *msg = build_ok(&m);

		strbuf_init(&out);
		decode_attachment(msg, &out);
		assert_int_equal(out.len, sizeof(gz_bytes));
		assert_memory_equal(out.data, gz_bytes, sizeof(gz_bytes));
		strbuf_free(&out);
		free(msg);
	}
	free(data);
}

static void test_pure_and_unique_id(void **state)
{
	struct report_mail m;
	char *a, *b, *id_a, *id_b;

	(void)state;
	fixed_mail(&m);
	a = build_ok(&m);
	b = build_ok(&m);
	assert_string_equal(a, b);	/* same data, same bytes */
	free(b);
	m.now = NOW + 1;
	b = build_ok(&m);
	id_a = field(a, "Message-ID");
	id_b = field(b, "Message-ID");
	assert_string_not_equal(id_a, id_b);
	free(id_a);
	free(id_b);
	free(a);
	free(b);
}

static void test_display_name(void **state)
{
	struct report_mail m;
	char *msg;

	(void)state;
	fixed_mail(&m);
	m.organization_name = "Q \"quoted\" \\ back";
	msg = build_ok(&m);
	assert_field(msg, "From", "\"Q \\\"quoted\\\" \\\\ back\" <tlsrpt-noreply@sender.example>");
	free(msg);
	/* long, with runs of spaces: folded at spaces, unfolds to the same value */
	m.organization_name = "The  Very   Long    Organization Name Of A Sender Example That Needs Folding";
	msg = build_ok(&m);
	assert_field(msg, "From", "\"The  Very   Long    Organization Name Of A Sender Example That "
	    "Needs Folding\" <tlsrpt-noreply@sender.example>");
	assert_non_null(strstr(msg, "From: \"The  Very   Long    Organization Name Of A Sender Example "
	    "That Needs\r\n Folding\" <tlsrpt-noreply@sender.example>\r\nTo: "));
	free(msg);
	m.organization_name = "Sender B\xc3\xa4" "ckerei";	/* non-ASCII: left out */
	msg = build_ok(&m);
	assert_field(msg, "From", "tlsrpt-noreply@sender.example");
	free(msg);
	m.organization_name = NULL;
	msg = build_ok(&m);
	assert_field(msg, "From", "tlsrpt-noreply@sender.example");
	free(msg);
}

/* ---- refusals --------------------------------------------------------- */

enum which { FROM, TO, DOMAIN, SUBMITTER, ID, ORG };

static const struct refusal {
	enum which field;
	const char *value;
	const char *err;
} refusals[] = {
	{TO, "a@b.example\r\nBcc: x@y.example", "to: contains a control character"},
	{TO, "a@b.example\nBcc: x@y.example", "to: contains a control character"},
	{TO, "a@b.example, x@y.example", "to: not an address of the form local@domain"},
	{TO, "<a@b.example>", "to: not an address of the form local@domain"},
	{TO, "\"a b\"@example.com", "to: not an address of the form local@domain"},
	{TO, "a..b@example.com", "to: not an address of the form local@domain"},
	{TO, "a@[192.0.2.1]", "to: not an address of the form local@domain"},
	{TO, "example.com", "to: not an address of the form local@domain"},
	{TO, "", "to: missing"},
	{TO, NULL, "to: missing"},
	{TO, "r\xc3\xa9@example.com", "to: contains a non-ASCII byte"},
	{FROM, "-oQ/tmp@sender.example", "from: starts with '-'"},
	{FROM, "tlsrpt@sender.example\t", "from: contains a control character"},
	{FROM, "tlsrpt@sender.example\x7f", "from: contains a control character"},
	{DOMAIN, "example .com", "policy_domain: not a domain name"},
	{DOMAIN, "example.com\r\nBcc: x@y.example", "policy_domain: contains a control character"},
	{DOMAIN, "-example.com", "policy_domain: not a domain name"},
	{DOMAIN, "example..com", "policy_domain: not a domain name"},
	{DOMAIN, "example", "policy_domain: not a domain name"},
	{DOMAIN, "exa_mple.com", "policy_domain: not a domain name"},
	{SUBMITTER, "sender.example\x01", "submitter: contains a control character"},
	{SUBMITTER, "sender.example>", "submitter: not a domain name"},
	{ID, "2024.09.03T00.00.00Z+example.com@other.example",
	    "report_id: right side is not the submitter domain"},
	{ID, "a b@sender.example", "report_id: not a message id of the form left@domain"},
	{ID, "x>\r\nBcc: y@z.example\r\n@sender.example", "report_id: contains a control character"},
	{ORG, "Evil\r\nBcc: x@y.example", "organization_name: contains a control character"},
};

static void test_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct refusal *r = &refusals[i];
		struct report_mail m;
		char err[256] = "";
		char *msg;

		fixed_mail(&m);
		switch (r->field) {
		case FROM: m.from = r->value; break;
		case TO: m.to = r->value; break;
		case DOMAIN: m.policy_domain = r->value; break;
		case SUBMITTER: m.submitter = r->value; break;
		case ID: m.report_id = r->value; break;
		case ORG: m.organization_name = r->value; break;
		}
		msg = report_mail_build(&m, err, sizeof(err));
		if (msg != NULL)
			fail_msg("case %zu was accepted", i);
		assert_string_equal(err, r->err);
	}
}

static void test_refusals_other(void **state)
{
	struct report_mail m;
	char err[256];

	(void)state;
	fixed_mail(&m);
	m.day_start = DAY + 1;
	assert_null(report_mail_build(&m, err, sizeof(err)));
	assert_string_equal(err, "day_start: not 00:00:00Z of a day");
	fixed_mail(&m);
	m.gzip_len = 0;
	assert_null(report_mail_build(&m, err, sizeof(err)));
	assert_string_equal(err, "gzip: empty report");
}

/* ---- report_mail_sendmail ---------------------------------------------- */

static char dir[64];

static void path_in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void write_script(const char *name, const char *body)
{
	char path[128];
	FILE *fp;

	path_in_dir(path, sizeof(path), name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0755), 0);
}

static void read_file(const char *name, struct strbuf *out)
{
	char path[128], buf[8192];
	FILE *fp;
	size_t n;

	path_in_dir(path, sizeof(path), name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		strbuf_append(out, buf, n);
	fclose(fp);
}

static int setup_dir(void **state)
{
	char body[512];
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_submit_mail.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(body, sizeof(body), "printf '%%s\\n' \"$@\" > '%s/args'\ncat > '%s/stdin'", dir, dir);
	write_script("fake-sendmail", body);
	write_script("tempfail", "cat > /dev/null\nexit 75");
	write_script("tempfail-unread", "exit 75");
	write_script("ok-unread", "exit 0");
	write_script("sleeper", "sleep 10");
	write_script("self-kill", "kill -TERM $$");
	return 0;
}

static int teardown_dir(void **state)
{
	static const char *const files[] = {"fake-sendmail", "tempfail", "tempfail-unread",
	    "ok-unread", "sleeper", "self-kill", "args", "stdin"};
	char path[128];

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		path_in_dir(path, sizeof(path), files[i]);
		unlink(path);
	}
	return rmdir(dir);
}

static int run(const char *script, const char *msg, size_t len, int timeout, char *err,
    size_t errlen)
{
	char path[128];
	const char *argv[] = {path, "-oi", NULL};

	path_in_dir(path, sizeof(path), script);
	return report_mail_sendmail(argv, "tlsrpt-noreply@sender.example",
	    "tls-reports@example.com", msg, len, timeout, err, errlen);
}

static void test_sendmail_argv_and_message(void **state)
{
	struct report_mail m;
	struct strbuf args, in;
	char err[256] = "", *msg;

	(void)state;
	fixed_mail(&m);
	msg = build_ok(&m);
	assert_int_equal(run("fake-sendmail", msg, strlen(msg), 10, err, sizeof(err)), 0);
	strbuf_init(&args);
	strbuf_init(&in);
	read_file("args", &args);
	read_file("stdin", &in);
	assert_string_equal(args.data,
	    "-oi\n-f\ntlsrpt-noreply@sender.example\n--\ntls-reports@example.com\n");
	assert_int_equal(in.len, strlen(msg));
	assert_memory_equal(in.data, msg, in.len);
	strbuf_free(&args);
	strbuf_free(&in);
	free(msg);
}

static void test_sendmail_big_message(void **state)
{
	size_t len = 1 << 20;
	char *big = xmalloc(len), err[256] = "";
	struct strbuf in;

	(void)state;
	for (size_t i = 0; i < len; i++)
		big[i] = (char)('a' + i % 26);
	assert_int_equal(run("fake-sendmail", big, len, 10, err, sizeof(err)), 0);
	strbuf_init(&in);
	read_file("stdin", &in);
	assert_int_equal(in.len, len);
	assert_memory_equal(in.data, big, len);
	strbuf_free(&in);
	free(big);
}

static void test_sendmail_exit_status(void **state)
{
	char err[256] = "";

	(void)state;
	assert_int_equal(run("tempfail", "x\r\n", 3, 10, err, sizeof(err)), -1);
	assert_string_equal(err, "sendmail exited with status 75");
	assert_int_equal(run("self-kill", "x\r\n", 3, 10, err, sizeof(err)), -1);
	assert_string_equal(err, "sendmail killed by signal 15");
}

/* The child exits without reading 1 MB: EPIPE, not a SIGPIPE death; nothing left pending. */
static void test_sendmail_epipe(void **state)
{
	size_t len = 1 << 20;
	char *big = xcalloc(1, len), err[256] = "";
	sigset_t mask, pending;

	(void)state;
	memset(big, 'x', len);
	assert_int_equal(run("tempfail-unread", big, len, 10, err, sizeof(err)), -1);
	assert_string_equal(err, "sendmail exited with status 75");
	assert_int_equal(run("ok-unread", big, len, 10, err, sizeof(err)), -1);
	assert_memory_equal(err, "sendmail exited 0 after reading ", 32);
	assert_non_null(strstr(err, " of 1048576 bytes"));
	sigprocmask(SIG_BLOCK, NULL, &mask);
	assert_false(sigismember(&mask, SIGPIPE));
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
	free(big);
}

static void test_sendmail_timeout(void **state)
{
	struct timespec t0, t1;
	char err[256] = "";
	double took;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run("sleeper", "x\r\n", 3, 1, err, sizeof(err)), -2);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_string_equal(err, "sendmail killed after 1 s");
	took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(took >= 0.9 && took < 3.0);
}

static void test_sendmail_refusals(void **state)
{
	const char *relative[] = {"sendmail", NULL};
	const char *missing[] = {"/nonexistent/sendmail", "-oi", NULL};
	char err[256] = "";
	char path[128];
	const char *argv[] = {path, NULL};

	(void)state;
	path_in_dir(path, sizeof(path), "fake-sendmail");
	assert_int_equal(report_mail_sendmail(relative, "a@b.example", "c@d.example", "x", 1, 5,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "sendmail command: not an absolute path");
	assert_int_equal(report_mail_sendmail(missing, "a@b.example", "c@d.example", "x", 1, 5,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "cannot execute /nonexistent/sendmail: No such file or directory");
	assert_int_equal(report_mail_sendmail(argv, "-oQ@b.example", "c@d.example", "x", 1, 5,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "envelope sender: starts with '-'");
	assert_int_equal(report_mail_sendmail(argv, "a@b.example", "-c@d.example", "x", 1, 5,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "envelope recipient: starts with '-'");
	assert_int_equal(report_mail_sendmail(argv, "a@b.example", "c@d.example\r\nX: y", "x", 1, 5,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "envelope recipient: contains a control character");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_top_header_fields),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_crlf_and_line_lengths),
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_pure_and_unique_id),
		cmocka_unit_test(test_display_name),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_refusals_other),
		cmocka_unit_test(test_sendmail_argv_and_message),
		cmocka_unit_test(test_sendmail_big_message),
		cmocka_unit_test(test_sendmail_exit_status),
		cmocka_unit_test(test_sendmail_epipe),
		cmocka_unit_test(test_sendmail_timeout),
		cmocka_unit_test(test_sendmail_refusals),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
