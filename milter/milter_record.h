/*
 * NAME
 *	milter_record - the milter child's record format and bookkeeping
 * DESCRIPTION
 *	Internal to milter_input.c, declared here so that its unit test
 *	(tests/test_milter_record.c) drives the same constants and
 *	functions rather than copies of them.  Not for other modules.
 */
#ifndef TLSRPT_MILTER_RECORD_H
#define TLSRPT_MILTER_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report_mails.h"
#include "writer.h"

#define MR_VERSION 1
#define MR_HEADER 8
#define MR_MAX_RECORD 16384	/* bytes; a message with more domains takes several */
#define MR_QID_MAX 64
#define MR_DOMAIN_MAX 253
#define MSG_MAX_DOMAINS 1000	/* distinct recipient domains counted per message */

enum { MR_MESSAGE = 1, MR_DOMAINS = 2, MR_NOTICE = 3 };
enum {
	NOTICE_CHILD_STARTED = 1,
	NOTICE_CHILD_DIED = 2,
	NOTICE_GAVE_UP = 3,	/* the supervisor exits: no more milter until restart */
	NOTICE_STOPPING = 4,	/* the supervisor was told to stop */
};

struct milter_msg;
int milter_record_rcpt_domain(const char *addr, char *out, size_t outlen);
int milter_record_header_domain(const char *value, char *out, size_t outlen);
struct milter_msg *milter_record_msg_new(void);
void milter_record_msg_reset(struct milter_msg *m);
void milter_record_msg_free(struct milter_msg *m);
int milter_record_msg_rcpt(struct milter_msg *m, const char *addr);
bool milter_record_msg_header(struct milter_msg *m, const char *name, const char *value);
void milter_record_msg_queue_id(struct milter_msg *m, const char *qid);
unsigned milter_record_msg_domains(const struct milter_msg *m);
size_t milter_record_msg_encode(const struct milter_msg *m, unsigned *next, bool first,
    uint32_t dropped, unsigned char *buf, size_t cap);
size_t milter_record_notice_encode(int event, uint32_t pid, uint32_t status,
    unsigned char *buf, size_t cap);
int milter_record_apply(struct writer *w, struct input_batch *b, struct report_mails *rm,
    const void *buf, size_t len, long long now, int *event, const char **why);
/* fn for each recipient domain of a valid MESSAGE or DOMAINS record; nothing for others. */
void milter_record_each_domain(const void *buf, size_t len,
    void (*fn)(void *ctx, const char *domain), void *ctx);

#endif
