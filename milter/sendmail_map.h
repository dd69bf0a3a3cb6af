/*
 * NAME
 *	sendmail_map - the Sendmail socketmap protocol and its session results
 * SYNOPSIS
 *	#include "sendmail_map.h"
 * DESCRIPTION
 *	Pure code (no I/O, no clock, no locks) behind socketmap_input:
 *
 *	1. smm_decode(): an incremental, bounded netstring decoder.  Bytes
 *	   may arrive in any split; a request is at most SMM_MAX_REQUEST
 *	   bytes.  A bad length, an over-size length, a missing ':' or ','
 *	   or a NUL byte in a request breaks the stream for good (the caller
 *	   answers PERM and closes the connection).
 *
 *	2. smm_parse_request(): "<map> <key>", where the key is the text
 *	   contrib/sendmail/tlsrpt.mc builds: "name=" fields, each followed
 *	   by its value.  Sendmail joins the tokens of the key with a blank
 *	   between two words only, so a field name follows a blank, the
 *	   start, or a value's last operator character without a blank
 *	   ("host= may.good.test.rcpt= ...").  Each field may appear once.
 *
 *	3. smm_classify(): ${verify} (and the name check) -> RFC 8460 result.
 *
 *	4. The correlator: struct smm holds what every connection shares
 *	   (callbacks, counters); struct smm_conn what one Sendmail delivery
 *	   process said on its connection, in order.  A tls_server request
 *	   starts a TLS session for the server address; each tls_rcpt
 *	   request adds its recipient domain, and the first request of a
 *	   domain in a session emits one session result (policy
 *	   no-policy-found, policy domain = recipient domain).  A session
 *	   without any tls_rcpt (a failed handshake aborts the connection
 *	   before RCPT) is emitted for the recipient host ($h, "host=") when
 *	   it ends: when the connection closes, when a new tls_server for the
 *	   same address arrives, when an aborted session is followed by
 *	   another request, or when more than SMM_MAX_SESSIONS are open on
 *	   one connection.  A plain-text retry after a failed handshake
 *	   (confTLS_FALLBACK_TO_CLEAR) is counted once, with the handshake
 *	   failure.  Requests whose queue id the skip function names (our
 *	   own report messages, RFC 8460 section 5.3) add nothing.
 *
 *	The emit callback gets a session that is freed when it returns.
 * SEE ALSO
 *	socketmap_input.h, contrib/sendmail/README.md,
 *	shared/spec/sendmail-8.17-tls.md.
 */
#ifndef TLSRPT_SENDMAIL_MAP_H
#define TLSRPT_SENDMAIL_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "session.h"
#include "util.h"

#define SMM_MAX_REQUEST 4096	/* bytes of one request (netstring payload) */
#define SMM_MAX_SESSIONS 16	/* TLS sessions held per connection */
#define SMM_MAX_DOMAINS 256	/* recipient domains remembered per TLS session */

/* ---- netstrings ---- */

enum smm_status {
	SMM_MORE,	/* every byte consumed, no request complete yet */
	SMM_REQUEST,	/* one request complete: smm_decoder_request() */
	SMM_ERROR,	/* the stream is broken: smm_decoder_error() says why */
};

struct smm_decoder {
	int state;
	size_t want;		/* payload length announced */
	size_t have;		/* payload bytes read */
	size_t digits;		/* length digits read */
	char *payload;		/* want + 1 bytes while reading a payload */
	const char *error;	/* static text once broken */
};

void smm_decoder_init(struct smm_decoder *d);
void smm_decoder_free(struct smm_decoder *d);

/*
 * Consume bytes of buf until one request completes (SMM_REQUEST, *used
 * bytes consumed; call again with the rest), all bytes are consumed
 * (SMM_MORE) or the stream is broken (SMM_ERROR, sticky).
 */
enum smm_status smm_decode(struct smm_decoder *d, const char *buf, size_t len, size_t *used);

/* The request just completed, NUL-terminated; valid until the next smm_decode(). */
const char *smm_decoder_request(const struct smm_decoder *d, size_t *len);
const char *smm_decoder_error(const struct smm_decoder *d);

/* Append text as one netstring. */
void smm_reply(struct strbuf *out, const char *text);

/* ---- requests ---- */

enum smm_hook {
	SMM_HOOK_SERVER,	/* tls_server: rcpt= absent or empty */
	SMM_HOOK_RCPT,		/* tls_rcpt: rcpt= with the recipient */
};

enum smm_san {
	SMM_SAN_UNKNOWN = -1,	/* no san= field */
	SMM_SAN_NO = 0,		/* the name is not among the certificate's DNS names */
	SMM_SAN_YES = 1,
};

/* Unknown or empty fields are NULL. */
struct smm_request {
	char *map;		/* the map name Sendmail sent */
	enum smm_hook hook;
	char *srv;		/* ${server_name}: lower case, no trailing dot */
	char *addr;		/* ${server_addr}, canonical text */
	char *verify;		/* ${verify}, upper case */
	char *version;		/* ${tls_version} */
	char *qid;		/* $i, case kept */
	char *rcpt;		/* tls_rcpt's argument, as sent */
	char *rcpt_domain;	/* its domain, normalised (NULL if none or invalid) */
	char *host;		/* $h, normalised (NULL if none or not a domain) */
	char *cn;		/* ${cn_subject}, xtext decoded */
	char *cn_issuer;	/* ${cn_issuer}, xtext decoded */
	enum smm_san san;
	bool folded;		/* the key arrived in lower case (no -f on the K line) */
};

/* 0 and *r filled (free with smm_request_free) or -1 with why. */
int smm_parse_request(const char *payload, size_t len, struct smm_request *r, char *why,
    size_t whylen);
void smm_request_free(struct smm_request *r);

/* ---- ${verify} ---- */

struct smm_outcome {
	bool report;		/* false: nothing to report (local or temporary trouble) */
	bool failed;
	int result_type;	/* enum tlsrpt_result_type when failed */
	const char *reason;	/* failure-reason-code (static), or why not reported */
	bool aborts;		/* Sendmail's default tls_server drops this connection */
};

void smm_classify(const struct smm_request *r, struct smm_outcome *o);

/*
 * True when the certificate name pattern (a DNS name, "*." wildcard in
 * the leftmost label only, matching exactly one label) covers host, as a
 * TLS client compares: case-insensitive, trailing dots ignored.
 */
bool smm_name_matches(const char *pattern, const char *host);

/* ---- the correlator ---- */

/* mx, ip: the session's receiving MX name and address (NULL if unknown), for successes too. */
typedef void (*smm_emit_fn)(void *ctx, const struct tlsrpt_session *s, const char *mx,
    const char *ip);
typedef bool (*smm_skip_fn)(void *ctx, const char *queue_id);

struct smm_stats {
	unsigned long long requests;		/* well-formed netstrings handled */
	unsigned long long bad_requests;	/* requests without a usable key */
	unsigned long long sessions;		/* session results emitted */
	unsigned long long successes;
	unsigned long long failures;
	unsigned long long report_mails_skipped;	/* deliveries of our own report messages */
	unsigned long long unreported;		/* TLS sessions that could not be reported */
	unsigned long long key_folded;		/* requests whose key arrived lower-cased */
};

struct smm;
struct smm_conn;

struct smm *smm_new(smm_emit_fn emit, smm_skip_fn skip, void *ctx);
void smm_free(struct smm *m);
void smm_get_stats(const struct smm *m, struct smm_stats *st);

struct smm_conn *smm_conn_new(struct smm *m);

/*
 * Handle one request received at "now"; appends the answer (a whole
 * netstring: "OK <result>" or "NOTFOUND") to reply.  False, with why,
 * for a request without a usable key (answered NOTFOUND).
 */
bool smm_conn_request(struct smm *m, struct smm_conn *c, const char *payload, size_t len,
    long long now, struct strbuf *reply, char *why, size_t whylen);

/* The connection ended: emit what it holds, free it. */
void smm_conn_close(struct smm *m, struct smm_conn *c);

/* The connection ended without emitting anything (its state was saved): free it. */
void smm_conn_discard(struct smm_conn *c);

/*
 * The open TLS sessions of c as text, one line each: prefix, then
 * tab-separated fields, then a newline.  smm_conn_load_session() adds
 * the session of one such line (the fields after the prefix) to c;
 * false when the line is damaged (c unchanged).
 */
void smm_conn_save(const struct smm_conn *c, const char *prefix, struct strbuf *out);
bool smm_conn_load_session(struct smm_conn *c, const char *fields, size_t len);

#endif
