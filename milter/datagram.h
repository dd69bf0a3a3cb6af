/*
 * NAME
 *	datagram - parse one libtlsrpt datagram (protocol "1")
 * SYNOPSIS
 *	enum dg_status dg_parse(struct json_arena *arena, const char *buf,
 *	    size_t len, long long when, struct tlsrpt_session *out,
 *	    char *err, size_t errlen);
 * DESCRIPTION
 *	A pure function from the bytes of one datagram to a session result
 *	or a reason it was rejected; no I/O, no global state, so the unit
 *	tests and the fuzzer drive it directly.  On DG_OK *out owns its
 *	strings (free with session_free()); on any error *out is left empty
 *	and err holds a short human-readable explanation naming the key.
 *
 *	A datagram is all-or-nothing: one bad element rejects the whole
 *	datagram, so a corrupt datagram can never add half its counts.
 */
#ifndef TLSRPT_DATAGRAM_H
#define TLSRPT_DATAGRAM_H

#include <stddef.h>

#include "json_read.h"
#include "session.h"

enum dg_status {
	DG_OK = 0,
	DG_ERR_OVERSIZE,	/* longer than the configured maximum (set by the reader) */
	DG_ERR_UTF8,		/* not valid UTF-8 */
	DG_ERR_JSON,		/* not a JSON object */
	DG_ERR_MISSING_KEY,	/* a required key is absent */
	DG_ERR_TYPE,		/* a key has the wrong JSON type */
	DG_ERR_VERSION,		/* dpv is not "1" */
	DG_ERR_POLICY_TYPE,	/* unknown policy-type */
	DG_ERR_RESULT_CODE,	/* unknown result-type code */
	DG_ERR_T_MISMATCH,	/* t differs from the number of failure-details */
	DG_ERR_VALUE,		/* a value out of range: f not 0/1, empty policies, bad domain */
	DG_STATUS_COUNT
};

/* Stable short names, used as counter names in logs and in the store. */
const char *dg_status_name(enum dg_status st);

/* "arena" is scratch memory owned by the calling thread, reused across calls. */
enum dg_status dg_parse(struct json_arena *arena, const char *buf, size_t len, long long when,
    struct tlsrpt_session *out, char *err, size_t errlen);

#endif
