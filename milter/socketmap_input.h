/*
 * NAME
 *	socketmap_input - the Sendmail socketmap hook of tlsrpt-milter
 * DESCRIPTION
 *	A netstring socketmap service (Sendmail map class "socket") that
 *	the tls_server and tls_rcpt rulesets call with the server name and
 *	address, ${verify}, the TLS version, the recipient and the queue id
 *	(contrib/sendmail/).  It turns what it hears into session results
 *	(one per TLS session and recipient domain) and always answers at
 *	once, so delivery is never affected.  Deliveries of our own report
 *	messages (report_mails) are not counted.
 */
#ifndef TLSRPT_SOCKETMAP_INPUT_H
#define TLSRPT_SOCKETMAP_INPUT_H

#include <stdbool.h>
#include <sys/types.h>

#include "conf.h"
#include "report_mails.h"
#include "session.h"
#include "writer.h"

struct socketmap_input;

/* Bind conf->socketmap_socket (as root, before privileges are dropped); NULL with err. */
struct socketmap_input *socketmap_input_open(const struct tlsrpt_conf *conf, uid_t owner,
    gid_t group, char *err, size_t errlen);

/* Register the input's batch with the writer (before writer_start). */
void socketmap_input_attach(struct socketmap_input *in, struct writer *w, struct report_mails *rm);

/*
 * Optional, before socketmap_input_start: every session result passes
 * through fn before it is counted (policymap_decorate() of
 * policymap_input.h).  fn returns true with *out filled (counted instead
 * of s, then freed with session_free) or false to count s as it is.
 * mx and ip are the session's receiving MX name and address (for
 * successes too; NULL when Sendmail sent none).  Without fn every result
 * is counted as sendmail_map made it.
 */
typedef bool (*socketmap_policy_fn)(void *ctx, const struct tlsrpt_session *s, const char *mx,
    const char *ip, struct tlsrpt_session *out);
void socketmap_input_set_policy(struct socketmap_input *in, socketmap_policy_fn fn, void *ctx);

int socketmap_input_start(struct socketmap_input *in);

/* Stop serving, close open sessions (emitting what they hold), join. */
void socketmap_input_stop(struct socketmap_input *in);

/* Close the listening socket and remove its path. */
void socketmap_input_close(struct socketmap_input *in);

#endif
