/*
 * NAME
 *	session - the session result every input produces
 * DESCRIPTION
 *	All of the daemon's inputs (datagram, socketmap, log follower, milter)
 *	turn what they hear into one struct tlsrpt_session and hand it to the
 *	writer.  A session result is one delivery attempt to one recipient
 *	policy domain, with one or more policy results, each a success or a
 *	failure with zero or more failure details.
 *
 *	Strings are owned by the session (heap, NUL-terminated); an unknown
 *	optional field is NULL, never "".  Policy strings and mx patterns are
 *	kept as their canonical compact JSON array text, because that is
 *	both the aggregation key and what the report needs.
 */
#ifndef TLSRPT_SESSION_H
#define TLSRPT_SESSION_H

#include <stdbool.h>
#include <stddef.h>

enum tlsrpt_policy_type {
	POLICY_TLSA = 1,
	POLICY_STS = 2,
	POLICY_NONE = 9,	/* no-policy-found */
};

/* RFC 8460 result types, numbered as libtlsrpt numbers them. */
enum tlsrpt_result_type {
	RESULT_STARTTLS_NOT_SUPPORTED = 201,
	RESULT_CERTIFICATE_HOST_MISMATCH = 202,
	RESULT_CERTIFICATE_NOT_TRUSTED = 203,
	RESULT_CERTIFICATE_EXPIRED = 204,
	RESULT_VALIDATION_FAILURE = 205,
	RESULT_STS_POLICY_FETCH_ERROR = 301,
	RESULT_STS_POLICY_INVALID = 302,
	RESULT_STS_WEBPKI_INVALID = 303,
	RESULT_TLSA_INVALID = 304,
	RESULT_DNSSEC_INVALID = 305,
	RESULT_DANE_REQUIRED = 306,
	RESULT_INTERNAL_UNFINISHED = 901,	/* libtlsrpt marker, never reported */
};

struct tlsrpt_failure {
	int result_type;
	char *sending_ip;	/* sending-mta-ip */
	char *mx_name;		/* receiving-mx-hostname */
	char *helo;		/* receiving-mx-helo */
	char *receiving_ip;	/* receiving-ip */
	char *additional;	/* additional-information */
	char *reason;		/* failure-reason-code */
};

struct tlsrpt_policy_result {
	int type;			/* enum tlsrpt_policy_type */
	char *policy_domain;		/* never NULL after parsing: defaults to the session domain */
	char *policy_strings;		/* JSON array text, "[]" when none */
	char *mx_hosts;			/* JSON array text, "[]" when none */
	bool failed;
	size_t nfailures;
	struct tlsrpt_failure *failures;
};

/*
 * What a log said about the certificate of a successful session (a hint
 * for the MTA-STS decorator; not stored, not reported): Postfix's
 * "Anonymous" / "Untrusted" / "Trusted" / "Verified" TLS connection.
 */
enum tls_trust {
	TLS_TRUST_UNKNOWN = 0,	/* not said (datagrams, the socketmap) */
	TLS_TRUST_ANONYMOUS,	/* no certificate */
	TLS_TRUST_UNTRUSTED,	/* chain not verified */
	TLS_TRUST_TRUSTED,	/* chain verified, name not checked */
	TLS_TRUST_VERIFIED,	/* chain and name verified */
};

struct tlsrpt_session {
	long long when;			/* receive time, seconds since the epoch (UTC day key) */
	char *domain;			/* normalised recipient policy domain */
	char *record;			/* TLSRPT TXT record text as the MTA saw it, or NULL */
	size_t npolicies;
	struct tlsrpt_policy_result *policies;
	int tls_trust;			/* enum tls_trust */
};

void session_free(struct tlsrpt_session *s);
void failure_free(struct tlsrpt_failure *f);	/* its strings, not f itself */

/*
 * Fill s (not freed first) as the one no-policy-found result the log
 * inputs make for domain at "when": policy domain = domain, policy
 * strings and mx hosts "[]".  With failed, the policy is failed with one
 * zeroed failure detail, returned for the caller to fill; else NULL.
 */
struct tlsrpt_failure *session_no_policy(struct tlsrpt_session *s, const char *domain,
    long long when, bool failed);

/* Name of a policy type / result type as RFC 8460 writes it; NULL if unknown. */
const char *policy_type_name(int type);
const char *result_type_name(int code);
bool policy_type_known(int type);
bool result_type_known(int code);

/*
 * Normalise a domain in place: lower case, one trailing dot removed.
 * Returns false if what is left is not a plausible DNS name in A-label
 * form (empty, longer than 253, an empty label, a label over 63, or a
 * byte outside [a-z0-9-_.]).
 */
bool domain_normalise(char *d);

/*
 * R31 canonical forms, as new strings (NULL for an unknown, NULL or "",
 * value): an IP address in canonical text (IPv6 per RFC 5952), anything
 * else as given; a host name in lower case without a trailing dot.
 */
char *canonical_ip(const char *s);
char *canonical_host(const char *s);

#endif
