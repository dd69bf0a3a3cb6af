/*
 * NAME
 *	submit_mail - the report mail of RFC 8460 section 5.3, and its submission
 * DESCRIPTION
 *	report_mail_build() is a pure function: report data in, the whole
 *	message out (CRLF line ends): From, To, Date, Message-ID, Subject
 *	"Report Domain: D Submitter: S Report-ID: <ID>", TLS-Report-Domain,
 *	TLS-Report-Submitter, TLS-Required: No (RFC 8689), MIME-Version, a
 *	multipart/report; report-type="tlsrpt" body with a short text/plain
 *	part and the application/tlsrpt+gzip attachment, base64, named
 *	"<submitter>!<domain>!<begin>!<end>!<seq>.json.gz".  Every header value
 *	that came from outside (addresses from DNS) is checked: no CR, LF or
 *	other control characters, no header injection.
 *
 *	report_mail_sendmail() hands the message to a sendmail-compatible
 *	command (execv, no shell) with an explicit envelope sender and
 *	recipient.
 */
#ifndef TLSRPT_SUBMIT_MAIL_H
#define TLSRPT_SUBMIT_MAIL_H

#include <stddef.h>

struct report_mail {
	const char *from;		/* header From: and envelope sender, an addr-spec */
	const char *to;			/* the rua's address (percent-decoded) */
	const char *policy_domain;
	const char *submitter;		/* submitter domain */
	const char *report_id;		/* RFC 5322 msg-id left@right, without <> */
	const char *organization_name;
	long long day_start;		/* the report's day, 00:00:00Z, seconds since the epoch */
	const unsigned char *gzip;	/* the report, gzipped */
	size_t gzip_len;
	long long now;			/* Date: and Message-ID */
};

/* The message, malloc'd, NUL-terminated, CRLF line ends; NULL with err. */
char *report_mail_build(const struct report_mail *m, char *err, size_t errlen);

/*
 * Run argv (argv[0] an absolute path, e.g. {"/usr/sbin/sendmail", "-oi",
 * NULL}) with "-f FROM -- RCPT" appended, write msg to its stdin, and wait
 * at most timeout_s.  0 when it exited 0; -2 with err when it was killed
 * at the time-out; else -1 with err (exit status, signal, refusal).
 */
int report_mail_sendmail(const char *const *argv, const char *from, const char *rcpt,
    const char *msg, size_t len, int timeout_s, char *err, size_t errlen);

#endif
