/*
 * NAME
 *	dkim_sign - command-line driver of the dkim module, for the tests
 * SYNOPSIS
 *	dkim_sign KEYFILE DOMAIN SELECTOR TIME < message > signed-message
 * DESCRIPTION
 *	Reads a CRLF message from standard input, signs the header fields a
 *	TLS report carries, and writes the DKIM-Signature field followed by
 *	the unchanged message.  Exit 0 on success, 1 on a signing error
 *	(printed on standard error), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dkim.h"
#include "util.h"

static const char *const sign_headers[] = {
	"From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
	"Content-Type", "TLS-Report-Domain", "TLS-Report-Submitter",
};

static void read_all(FILE *fp, struct strbuf *sb)
{
	char buf[8192];
	size_t n;

	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		strbuf_append(sb, buf, n);
}

int main(int argc, char **argv)
{
	struct dkim_signer *s;
	struct strbuf msg;
	char err[512], *field;
	long long now;
	char *end;

	if (argc != 5) {
		fprintf(stderr, "usage: dkim_sign KEYFILE DOMAIN SELECTOR TIME < message\n");
		return 2;
	}
	now = strtoll(argv[4], &end, 10);
	if (*argv[4] == '\0' || *end != '\0') {
		fprintf(stderr, "dkim_sign: TIME \"%s\" is not a number\n", argv[4]);
		return 2;
	}
	if ((s = dkim_signer_load(argv[1], argv[2], argv[3], err, sizeof(err))) == NULL) {
		fprintf(stderr, "dkim_sign: %s\n", err);
		return 1;
	}
	strbuf_init(&msg);
	read_all(stdin, &msg);
	field = dkim_sign(s, msg.data ? msg.data : "", msg.len, sign_headers,
	    sizeof(sign_headers) / sizeof(sign_headers[0]), now, err, sizeof(err));
	dkim_signer_free(s);
	if (field == NULL) {
		fprintf(stderr, "dkim_sign: %s\n", err);
		strbuf_free(&msg);
		return 1;
	}
	fputs(field, stdout);
	fwrite(msg.data, 1, msg.len, stdout);
	free(field);
	strbuf_free(&msg);
	return fflush(stdout) == 0 ? 0 : 1;
}
