/*
 * NAME
 *	mail_build - command-line driver of report_mail_build(), for the tests
 * SYNOPSIS
 *	mail_build FROM TO POLICY_DOMAIN SUBMITTER REPORT_ID DAY_START NOW [ORGANIZATION]
 *	    < report.json.gz > message
 * DESCRIPTION
 *	Reads the gzipped report from standard input and writes the whole
 *	report mail (CRLF line ends) to standard output.  Exit 0 on success,
 *	1 when the message cannot be built (the reason on standard error),
 *	2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "submit_mail.h"
#include "util.h"

static int number(const char *what, const char *s, long long *out)
{
	char *end;

	*out = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0') {
		fprintf(stderr, "mail_build: %s \"%s\" is not a number\n", what, s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct report_mail m;
	struct strbuf gz;
	char buf[8192], err[512], *msg;
	size_t n;
	int rc = 0;

	if (argc != 8 && argc != 9) {
		fprintf(stderr, "usage: mail_build FROM TO POLICY_DOMAIN SUBMITTER REPORT_ID "
		    "DAY_START NOW [ORGANIZATION] < report.json.gz\n");
		return 2;
	}
	memset(&m, 0, sizeof(m));
	m.from = argv[1];
	m.to = argv[2];
	m.policy_domain = argv[3];
	m.submitter = argv[4];
	m.report_id = argv[5];
	m.organization_name = argc == 9 ? argv[8] : NULL;
	if (number("DAY_START", argv[6], &m.day_start) < 0 || number("NOW", argv[7], &m.now) < 0)
		return 2;
	strbuf_init(&gz);
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		strbuf_append(&gz, buf, n);
	m.gzip = (const unsigned char *)gz.data;
	m.gzip_len = gz.len;
	if ((msg = report_mail_build(&m, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mail_build: %s\n", err);
		rc = 1;
	} else if (fwrite(msg, 1, strlen(msg), stdout) != strlen(msg) || fflush(stdout) != 0) {
		fprintf(stderr, "mail_build: cannot write the message\n");
		rc = 1;
	}
	free(msg);
	strbuf_free(&gz);
	return rc;
}
