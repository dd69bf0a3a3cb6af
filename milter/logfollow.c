/*
 * NAME
 *	logfollow - the mail log input of tlsrpt-milter
 * DESCRIPTION
 *	One thread reads log_file (or standard input) in large chunks,
 *	splits complete lines, takes each line's time stamp (logtime),
 *	splits the rest into tag and message (struct logrec) and hands
 *	Postfix records to pfl_parse_rec()/pfs_feed() and Sendmail records
 *	to smh_feed_rec() (the lines of the tlsrpt.mc hook) and
 *	sml_feed_rec() (the others, except those of processes that log hook
 *	lines).  The session results of a chunk go into a private
 *	aggregate; at the end of the chunk they move into the input's batch
 *	together with the checkpoint (aggregate_set_state), under one lock,
 *	so the writer always commits results and the position that produced
 *	them in the same transaction.
 *
 *	The checkpoint, state "log:<path>", is a first line
 *	    tlsrpt-log 1 <dev> <ino> <offset> <fplen> <fphash>
 *	(the file's identity, the offset after the last line read, and a
 *	hash of its first fplen bytes, which survives a copytruncate copy),
 *	followed by pfs_save()'s text (the Postfix sessions still open) and
 *	smh_save()'s (the hook's Sendmail processes and their TLS sessions).
 *	A restart restores them and goes on at the offset: nothing is lost,
 *	nothing counted twice.  (What sendmail_log.c holds of Sendmail's
 *	STARTTLS lines is not saved: such a session cut by a restart is
 *	counted from what follows.)
 *
 *	Where to start:
 *	1. the saved file, if the path still names it (same device and
 *	   inode, at least offset bytes, same first bytes): at offset;
 *	2. else "<path>.1", if it has the saved first bytes and at least
 *	   offset bytes (renamed, or the copy of a copytruncate): its rest
 *	   first, then the new file from its start;
 *	3. else the file from its start (log_position_lost: the lines between
 *	   the saved offset and the rotation are gone, e.g. compressed);
 *	4. without a saved position: log_start_at (end or beginning).
 *
 *	Rotation while running: at end of file the path is checked; another
 *	inode means a rename rotation (the old file is read to its end, with
 *	one more look after a short pause for late writes, then the new file
 *	from its start); the same inode with fewer bytes than the offset
 *	means copytruncate (read again from the start).
 *
 *	The journal ("journal:" or "journal:/dir", journal.h) is read entry
 *	by entry: each entry's fields are the record the parsers read (no
 *	line is put together and taken apart) and its time stamp the time.
 *	Its checkpoint, state "log:journal:[dir]", has the first line
 *	    tlsrpt-journal 1 <cursor> <realtime> <boot id> <monotonic>
 *	(the last entry handed on; "tlsrpt-journal 1 head" before any)
 *	followed by the same saved sessions.  Where to start:
 *	1. the saved entry if the journal still has it: after it;
 *	2. else the first entry after where it was (log_position_lost: the
 *	   entry was vacuumed; so are those between, if any);
 *	3. without a saved position: log_start_at, end meaning after the
 *	   last entry the journal holds now (which is saved at once).
 *
 *	Standard input ("-") has no position; at its end the follower
 *	commits what it has (closing every open session) and asks the
 *	daemon to stop.  What is logged while the pipe or the daemon is
 *	down is never read, and journalctl -f repeats its last lines at
 *	start: use "journal:" for the journal.
 */
#include "config.h"

#include "logfollow.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aggregate.h"
#include "heartbeat.h"
#include "journal.h"
#include "log.h"
#include "logline.h"
#include "logtime.h"
#include "postfix_log.h"
#include "postfix_sessions.h"
#include "sendmail_hook_log.h"
#include "sendmail_log.h"
#include "util.h"

#define CHUNK (1 << 20)		/* read size; also the longest line kept */
#define FP_MAX 1024		/* bytes of a file's start that identify it */
#define IDLE_MS 200		/* poll interval at end of file */
#define CHECKPOINT_MS 100	/* at most this often while reading a backlog */
#define CHECKPOINT_KEYS 50000	/* ... unless the chunks' results grow this large */
#define ROTATE_GRACE_MS 1000	/* late writes to a renamed file */
#define JOURNAL_CHUNK 4096	/* entries read between looks at the clock */
#define TLS_WARN_DELIVERIES 20	/* plain deliveries before warning about smtp_tls_loglevel */

enum fmt { FMT_AUTO, FMT_POSTFIX, FMT_SENDMAIL };

#define HB_ROUND_MS (IDLE_MS * 5 + HEARTBEAT_GRACE_MS)	/* one turn of the loop at most */

struct logfollow {
	struct heartbeat *hb;
	/* configuration */
	char *path;		/* NULL for standard input and the journal */
	char *label;		/* what the log lines name: the path, "-", "journal:[dir]" */
	char *state_name;	/* "log:<label>" */
	enum fmt fmt;
	long long stale_s;

	/* wiring */
	struct writer *writer;
	struct input_batch *batch;
	struct report_mails *rm;

	/* the file being read */
	int fd;
	dev_t dev;
	ino_t ino;
	long long offset;	/* after the last complete line handed on */
	unsigned char fp[FP_MAX];
	size_t fplen;
	int pending_fd;		/* start: <path>.1 read first, then fd from 0 */

	/* or the journal */
	struct journal *jn;
	unsigned long long entries;	/* read in this run */

	/* parsing */
	struct pfs *pfs;
	struct sml *sml;
	struct smh *smh;	/* tlsrpt.mc's syslog hook lines */
	struct smh_stats smh_counted;	/* what the batch's counters already hold */
	struct logtime_cache tc;
	struct log_limit hook_limit;
	struct aggregate local;	/* results of the current chunk */
	char *buf;
	size_t buflen;
	bool skipping;		/* inside an over-long line */

	/* counters since the last checkpoint */
	uint64_t lines, misses, long_lines, unstamped;
	uint64_t plain_warned_at;
	long long last_when;	/* time stamp of the last line */
	long long last_wall;	/* when (by the clock) that line was read */
	bool dirty;		/* lines read since the last checkpoint */
	char *last_state;	/* the checkpoint last handed to the writer */
	bool tls_warned;

	/* the policy decorator (logfollow_set_policy), and the MX of the line being fed */
	logfollow_policy_fn policy_fn;
	void *policy_ctx;
	const char *hint_mx, *hint_ip;

	/* thread */
	pthread_t thread;
	bool started;
	int stop_pipe[2];
	volatile bool stop;
	volatile bool ended;
};

/* ---- file identity ---- */

static uint64_t fp_hash(const unsigned char *p, size_t n)
{
	return hash_bytes(p, n);
}

/* Read up to FP_MAX bytes of fd's start (pread: the offset is not moved). */
static size_t read_fp(int fd, unsigned char *out)
{
	ssize_t n = pread(fd, out, FP_MAX, 0);

	return n > 0 ? (size_t)n : 0;
}

/* True when fd starts with the fplen bytes hashing to hash. */
static bool fp_matches(int fd, size_t fplen, uint64_t hash)
{
	unsigned char b[FP_MAX];
	size_t n = read_fp(fd, b);

	if (fplen == 0)
		return true;
	return n >= fplen && fp_hash(b, fplen) == hash;
}

static void take_file(struct logfollow *lf, int fd, long long offset)
{
	struct stat st;

	if (fstat(fd, &st) == 0) {
		lf->dev = st.st_dev;
		lf->ino = st.st_ino;
	}
	lf->fd = fd;
	lf->offset = offset;
	lf->fplen = read_fp(fd, lf->fp);
	lseek(fd, (off_t)offset, SEEK_SET);
}

/* ---- emitting ---- */

static void emit(void *ctx, const struct tlsrpt_session *s)
{
	struct logfollow *lf = ctx;
	struct tlsrpt_session decorated;

	if (lf->policy_fn != NULL &&
	    lf->policy_fn(lf->policy_ctx, s, lf->hint_mx, lf->hint_ip, &decorated)) {
		aggregate_add_session(&lf->local, &decorated);
		session_free(&decorated);
		return;
	}
	aggregate_add_session(&lf->local, s);
}

/* A result of the hook lines, with its MX (for the policy decorator). */
static void emit_hook(void *ctx, const struct tlsrpt_session *s, const char *mx, const char *ip)
{
	struct logfollow *lf = ctx;

	lf->hint_mx = mx;
	lf->hint_ip = ip;
	emit(lf, s);
	lf->hint_mx = lf->hint_ip = NULL;
}

/*
 * Every correlator closes the sessions that went stale by log time now
 * (-1: all of them, at the end of the input).
 */
static void expire_sessions(struct logfollow *lf, long long now)
{
	pfs_expire(lf->pfs, now, emit, lf);
	sml_expire(lf->sml, now, emit, lf);
	smh_expire(lf->smh, now);
}

static bool skip_report_mail(void *ctx, const char *queue_id)
{
	struct logfollow *lf = ctx;

	return report_mails_contains(lf->rm, queue_id);
}

static void count_delta(struct logfollow *lf, long long now, const char *name,
    unsigned long long value, unsigned long long *counted)
{
	if (value > *counted)
		aggregate_count(&lf->local, now, name, value - *counted);
	*counted = value;
}

/* The hook lines' counters since the last checkpoint, into the chunk's results. */
static void count_hook_lines(struct logfollow *lf, long long now)
{
	struct smh_stats st;
	struct smh_stats *c = &lf->smh_counted;

	smh_get_stats(lf->smh, &st);
	count_delta(lf, now, "log.sendmail_hook_lines", st.requests, &c->requests);
	count_delta(lf, now, "log.sendmail_hook_bad", st.bad, &c->bad);
	count_delta(lf, now, "log.sendmail_hook_unreported", st.map.unreported,
	    &c->map.unreported);
	count_delta(lf, now, "log.sendmail_hook_report_mails_skipped",
	    st.map.report_mails_skipped, &c->map.report_mails_skipped);
	count_delta(lf, now, "log.sendmail_hook_dropped", st.dropped, &c->dropped);
}

/* The journal's position line: "tlsrpt-journal 1 <cursor> <realtime> <boot id> <monotonic>". */
static void save_journal_pos(struct logfollow *lf, struct strbuf *sb)
{
	const struct journal_pos *p = journal_position(lf->jn);

	if (p->cursor == NULL)
		strbuf_appends(sb, "tlsrpt-journal 1 head\n");
	else
		strbuf_printf(sb, "tlsrpt-journal 1 %s %llu %s %llu\n", p->cursor, p->realtime,
		    p->boot_id[0] ? p->boot_id : "-", p->monotonic);
}

/*
 * Move the chunk's results and the checkpoint into the batch, under one
 * lock, so that both are committed together or not at all.  False when
 * the batch is full (the store is away): the results stay in lf->local.
 */
static bool checkpoint(struct logfollow *lf)
{
	struct strbuf sb;
	long long now = (long long)time(NULL);

	strbuf_init(&sb);
	if (lf->path != NULL && lf->fd >= 0 && lf->fplen < FP_MAX &&
	    lf->offset > (long long)lf->fplen) {
		/* the file was short when opened: identify it by more of what was read */
		unsigned char b[FP_MAX];
		size_t n = read_fp(lf->fd, b);

		if ((long long)n > lf->offset)
			n = (size_t)lf->offset;
		if (n > lf->fplen && memcmp(b, lf->fp, lf->fplen) == 0) {
			memcpy(lf->fp, b, n);
			lf->fplen = n;
		}
	}
	if (lf->path != NULL)
		strbuf_printf(&sb, "tlsrpt-log 1 %llu %llu %lld %zu %llu\n",
		    (unsigned long long)lf->dev, (unsigned long long)lf->ino, lf->offset,
		    lf->fplen, (unsigned long long)fp_hash(lf->fp, lf->fplen));
	else if (lf->jn != NULL)
		save_journal_pos(lf, &sb);
	if (lf->path != NULL || lf->jn != NULL) {
		pfs_save(lf->pfs, &sb);
		smh_save(lf->smh, &sb);
	}
	count_hook_lines(lf, now);
	if (lf->lines)
		aggregate_count(&lf->local, now, "log.lines", lf->lines);
	if (lf->misses)
		aggregate_count(&lf->local, now, "log.parse_misses", lf->misses);
	if (lf->long_lines)
		aggregate_count(&lf->local, now, "log.long_lines", lf->long_lines);
	if (lf->unstamped)
		aggregate_count(&lf->local, now, "log.unstamped_lines", lf->unstamped);
	lf->lines = lf->misses = lf->long_lines = lf->unstamped = 0;
	if (aggregate_empty(&lf->local) && lf->last_state != NULL && sb.data != NULL &&
	    strcmp(lf->last_state, sb.data) == 0) {
		strbuf_free(&sb);	/* nothing new: no write to the store */
		return true;
	}
	pthread_mutex_lock(&lf->batch->lock);
	if (writer_batch_full(lf->writer, lf->batch)) {
		/* the store is away and memory is at its limit: keep the results here */
		pthread_mutex_unlock(&lf->batch->lock);
		strbuf_free(&sb);
		return false;
	}
	lf->batch->now.accepted += lf->local.sessions;
	aggregate_merge(&lf->batch->agg, &lf->local);
	if (lf->path != NULL || lf->jn != NULL)
		aggregate_set_state(&lf->batch->agg, lf->state_name, sb.data, now);
	writer_poke_if_due(lf->writer, lf->batch);
	pthread_mutex_unlock(&lf->batch->lock);
	free(lf->last_state);
	lf->last_state = sb.data ? xstrdup(sb.data) : NULL;
	strbuf_free(&sb);
	return true;
}

/* Warn (once an hour at most) when Postfix delivers but logs no TLS session at all. */
static void check_tls_logging(struct logfollow *lf)
{
	struct pfs_stats st;

	if (pfs_tls_logging_seen(lf->pfs))
		return;
	pfs_get_stats(lf->pfs, &st);
	if (st.plain_unseen >= lf->plain_warned_at + TLS_WARN_DELIVERIES &&
	    (!lf->tls_warned || st.plain_unseen >= lf->plain_warned_at + 1000)) {
		log_msg(LOG_WARNING, "log_tls_logging_missing deliveries=%llu file=%s (Postfix logs "
		    "no TLS sessions: set smtp_tls_loglevel = 1 in main.cf; until then successes "
		    "and plain-text deliveries cannot be told apart and are not counted)",
		    (unsigned long long)st.plain_unseen, lf->label);
		lf->plain_warned_at = st.plain_unseen;
		lf->tls_warned = true;
	}
}

/* ---- one line ---- */

/* Printable, without quotes or backslashes that would end the field early. */
static void quotable(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f && src[i] != '"' && src[i] != '\\'
		    ? src[i] : '?';
	dst[n] = '\0';
}

/* A record quoted in our own log, short: its tag and the start of its message. */
static void log_miss(const struct logrec *r)
{
	char name[40], text[304];
	size_t nn = r->name.n < 39 ? r->name.n : 39, n = r->msg.n < 300 ? r->msg.n : 300;

	if (log_get_level() < LOG_DEBUG)
		return;
	quotable(name, r->name.p, nn);
	quotable(text, r->msg.p, n);
	log_msg(LOG_DEBUG, "log_parse_miss program=\"%s\" pid=%ld message=\"%s%s\"", name, r->pid,
	    text, r->msg.n > n ? "..." : "");
}

/*
 * A Sendmail line: the hook's lines first; a process that logs them is
 * reported by them alone (sendmail_hook_log.h), so that a session counts
 * once when the log also holds Sendmail's own STARTTLS lines.
 */
static void handle_sendmail(struct logfollow *lf, const struct logrec *r, long long when)
{
	char why[128];
	long pid;

	switch (smh_feed_rec(lf->smh, r, when, &pid, why, sizeof(why))) {
	case SMH_HOOKED:
		sml_forget(lf->sml, pid);
		return;
	case SMH_USED:
	case SMH_SUPERSEDED:
		return;
	case SMH_BAD:
		lf->misses++;
		log_ratelimited(&lf->hook_limit, LOG_WARNING, "log_sendmail_hook_bad pid=%ld "
		    "reason=\"%s\" (see contrib/sendmail/README.md)", pid, why);
		log_miss(r);
		return;
	case SMH_OTHER:
		break;
	}
	if (sml_feed_rec(lf->sml, r, when, emit, lf) == SML_MALFORMED) {
		lf->misses++;
		log_miss(r);
	}
}

/* One record (a line's or a journal entry's) logged at "when". */
static void handle_record(struct logfollow *lf, const struct logrec *r, long long when)
{
	struct pfl_event ev;
	enum pfl_kind k;

	if (lf->fmt != FMT_SENDMAIL) {
		k = pfl_parse_rec(r, &ev);
		if (k == PFL_MALFORMED) {
			lf->misses++;
			log_miss(r);
			return;
		}
		if (k != PFL_IGNORED) {
			/* a success is emitted by its delivery line: the relay is its MX */
			if (k == PFL_DELIVERY && ev.mx[0] != '\0') {
				lf->hint_mx = ev.mx;
				lf->hint_ip = ev.ip[0] != '\0' ? ev.ip : NULL;
			}
			pfs_feed(lf->pfs, &ev, when, emit, lf);
			lf->hint_mx = lf->hint_ip = NULL;
			return;
		}
	}
	if (lf->fmt != FMT_POSTFIX)
		handle_sendmail(lf, r, when);
}

static void handle_line(struct logfollow *lf, const char *line, size_t len)
{
	long long now = (long long)time(NULL);
	long long when = logtime_parse(&lf->tc, line, len, now);
	struct logrec r;

	lf->lines++;
	if (when < 0) {
		when = now;	/* journalctl -o cat and friends: no stamp */
		lf->unstamped++;
	}
	lf->last_when = when;
	lf->last_wall = now;
	if (ll_split_line(line, len, &r))	/* without a tag no parser uses it */
		handle_record(lf, &r, when);
}

/* Hand on every complete line of buf; keep an incomplete tail.  Returns bytes consumed. */
static size_t handle_lines(struct logfollow *lf, bool flush_tail)
{
	size_t start = 0;

	while (start < lf->buflen) {
		char *nl = memchr(lf->buf + start, '\n', lf->buflen - start);
		size_t end = nl ? (size_t)(nl - lf->buf) : lf->buflen;

		if (nl == NULL && !flush_tail && !lf->skipping)
			break;
		if (lf->skipping) {
			lf->skipping = nl == NULL;	/* the rest of an over-long line */
		} else {
			size_t len = end - start;

			if (len > 0 && lf->buf[start + len - 1] == '\r')
				len--;
			handle_line(lf, lf->buf + start, len);
		}
		start = nl ? end + 1 : end;
	}
	return start;
}

/*
 * Read what fd has now and hand it on.  Returns 1 after progress, 0 at
 * end of file, -1 on a read error.
 */
static int read_some(struct logfollow *lf)
{
	ssize_t n = read(lf->fd, lf->buf + lf->buflen, CHUNK - lf->buflen);
	size_t used;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (n == 0)
		return 0;
	lf->buflen += (size_t)n;
	used = handle_lines(lf, false);
	if (used == 0 && lf->buflen == CHUNK) {
		/* a line longer than the buffer: drop it to its end, counted */
		lf->long_lines++;
		lf->skipping = true;
		used = lf->buflen;
	}
	memmove(lf->buf, lf->buf + used, lf->buflen - used);
	lf->buflen -= used;
	lf->offset += (long long)used;
	/* processes that never log again are closed by log time, not only when idle */
	if (lf->last_when > 0)
		expire_sessions(lf, lf->last_when);
	return 1;
}

/* ---- rotation ---- */

static int open_log(const char *path)
{
	return open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

/* Wait up to ms for a stop request; true when stopping. */
static bool idle(struct logfollow *lf, int ms)
{
	struct pollfd p = {.fd = lf->stop_pipe[0], .events = POLLIN};

	if (lf->stop)
		return true;
	poll(&p, 1, ms);
	return lf->stop;
}

/* Switch to a new file from its start, handing on an unterminated last line of the old. */
static void switch_to(struct logfollow *lf, int fd, const char *why)
{
	if (lf->buflen > 0) {
		handle_lines(lf, true);
		lf->buflen = 0;
	}
	lf->skipping = false;
	close(lf->fd);
	take_file(lf, fd, 0);
	checkpoint(lf);
	log_msg(LOG_INFO, "log_rotated file=%s how=%s", lf->path, why);
}

/* At end of file: follow a rotation if there was one.  True when it switched. */
static bool follow_rotation(struct logfollow *lf, long long *renamed_at_ms)
{
	struct stat cur, now;
	int fd;

	if (lf->pending_fd >= 0) {	/* done with <path>.1: on to the file itself */
		fd = lf->pending_fd;
		lf->pending_fd = -1;
		switch_to(lf, fd, "resume-after-rotated");
		return true;
	}
	if (fstat(lf->fd, &cur) != 0)
		return false;
	if (stat(lf->path, &now) != 0 || now.st_ino != cur.st_ino || now.st_dev != cur.st_dev) {
		long long t = monotonic_ms();

		if (stat(lf->path, &now) != 0)
			return false;	/* renamed, new file not there yet */
		if (*renamed_at_ms == 0) {
			*renamed_at_ms = t;	/* give the writer a moment to reopen */
			return false;
		}
		if (t - *renamed_at_ms < ROTATE_GRACE_MS)
			return false;
		if ((fd = open_log(lf->path)) < 0)
			return false;
		*renamed_at_ms = 0;
		switch_to(lf, fd, "rename");
		return true;
	}
	if ((long long)cur.st_size < lf->offset ||
	    !fp_matches(lf->fd, lf->fplen, fp_hash(lf->fp, lf->fplen))) {
		/* shorter, or other first bytes: truncated (and maybe written again) */
		lf->buflen = 0;
		lf->skipping = false;
		take_file(lf, lf->fd, 0);
		checkpoint(lf);
		log_msg(LOG_INFO, "log_rotated file=%s how=copytruncate", lf->path);
		return true;
	}
	return false;
}

/* ---- the thread ---- */

/*
 * Standard input is a pipe (journalctl -f) that may stay quiet for long:
 * wait for data or a stop request, IDLE_MS at most, rather than block in
 * read() where a stop would not be seen.  True when fd has something
 * (data, end or an error) for read().
 */
static bool stdin_ready(struct logfollow *lf)
{
	struct pollfd p[2] = {{.fd = lf->fd, .events = POLLIN},
	    {.fd = lf->stop_pipe[0], .events = POLLIN}};

	if (lf->stop)
		return false;
	return poll(p, 2, IDLE_MS) > 0 && p[0].revents != 0;
}

/*
 * Quiet: now and then close the sessions that went stale.  Log time goes
 * on with the clock while nothing is logged, so an old log being read is
 * judged by its own time stamps.
 */
static void quiet(struct logfollow *lf, long long *last_cp)
{
	long long now;

	if (monotonic_ms() - *last_cp < 1000)
		return;
	now = lf->last_when > 0 ? lf->last_when + ((long long)time(NULL) - lf->last_wall)
	    : (long long)time(NULL);
	expire_sessions(lf, now);
	checkpoint(lf);
	*last_cp = monotonic_ms();
}

/* The file is there again: after a read error, the same file goes on at the offset. */
static void reopened(struct logfollow *lf, int fd)
{
	struct stat st;

	if (lf->dev != 0 && fstat(fd, &st) == 0 && st.st_dev == lf->dev && st.st_ino == lf->ino &&
	    (long long)st.st_size >= lf->offset) {
		take_file(lf, fd, lf->offset);
		log_msg(LOG_INFO, "log_file_reopened file=%s offset=%lld", lf->path, lf->offset);
		return;
	}
	lf->skipping = false;
	take_file(lf, fd, 0);
	log_msg(LOG_INFO, "log_file_appeared file=%s", lf->path);
}

/* "offset=N" (bytes) for a file, "entries=N" (read since start) for the journal. */
static const char *where(const struct logfollow *lf, char *buf, size_t size)
{
	if (lf->jn != NULL)
		snprintf(buf, size, "entries=%llu", lf->entries);
	else
		snprintf(buf, size, "offset=%lld", lf->offset);
	return buf;
}

/* The store is away and the batch full: the log is the buffer, read no further. */
static void wait_for_room(struct logfollow *lf)
{
	char w[48];

	log_msg(LOG_WARNING, "log_follow_paused file=%s %s (the store is not taking "
	    "commits and pending_limit is reached; reading goes on when it is back)",
	    lf->label, where(lf, w, sizeof(w)));
	while (!checkpoint(lf)) {
		heartbeat_busy(lf->hb, HB_ROUND_MS);	/* waiting for the writer is progress */
		if (idle(lf, IDLE_MS))
			return;
	}
	log_msg(LOG_INFO, "log_follow_resumed file=%s %s", lf->label, where(lf, w, sizeof(w)));
}

/*
 * A checkpoint serialises every open session: while a backlog is read,
 * take one per CHECKPOINT_MS (or when the chunks' results grow large),
 * not one per chunk.
 */
static bool checkpoint_due(struct logfollow *lf, long long last_cp)
{
	return lf->stop || monotonic_ms() - last_cp >= CHECKPOINT_MS ||
	    aggregate_keys(&lf->local) >= CHECKPOINT_KEYS;
}

/* Commit what the chunks read since the last checkpoint. */
static void commit_read(struct logfollow *lf, long long *last_cp)
{
	if (!checkpoint(lf))
		wait_for_room(lf);
	lf->dirty = false;
	*last_cp = monotonic_ms();
	check_tls_logging(lf);
}

/* ---- the journal ---- */

/* One entry: its fields are the record, its time stamp the time. */
static void handle_entry(struct logfollow *lf, const struct journal_entry *e)
{
	lf->lines++;
	lf->entries++;
	lf->last_when = e->when;
	lf->last_wall = (long long)time(NULL);
	if (e->tagged)		/* without a name and a pid no parser uses it */
		handle_record(lf, &e->rec, e->when);
}

/*
 * Hand on what the journal has now, JOURNAL_CHUNK entries at most.
 * Returns how many; *err a negative errno when reading failed after them.
 */
static int read_entries(struct logfollow *lf, int *err)
{
	struct journal_entry e;
	int r = 0, n;

	for (n = 0; n < JOURNAL_CHUNK && !lf->stop; n++) {
		if ((r = journal_next(lf->jn, &e)) <= 0)
			break;
		handle_entry(lf, &e);
	}
	if (n > 0 && lf->last_when > 0)
		expire_sessions(lf, lf->last_when);
	*err = r < 0 ? r : 0;
	return n;
}

/*
 * The journal's loop: as the file's, with entries for lines, the cursor
 * for the offset, and journal_wait() at the end.  sd-journal follows
 * journald's rotations and vacuuming by itself.
 */
static void follow_journal(struct logfollow *lf)
{
	long long last_cp = monotonic_ms();
	struct log_limit errlimit = {0};
	int n, err;

	for (;;) {
		heartbeat_busy(lf->hb, HB_ROUND_MS);
		n = read_entries(lf, &err);
		if (err < 0) {	/* what was read before stays for the next checkpoint */
			log_ratelimited(&errlimit, LOG_ERR, "log_read_failed file=%s error=\"%s\" "
			    "(trying again)", lf->label, strerror(-err));
			(void)journal_recover(lf->jn);
		}
		if (n > 0) {
			lf->dirty = true;
			if (err == 0 && !checkpoint_due(lf, last_cp))
				continue;
		}
		if (lf->dirty)
			commit_read(lf, &last_cp);
		if (lf->stop)
			break;
		if (n > 0 && err == 0)
			continue;
		quiet(lf, &last_cp);
		if (err < 0 ? idle(lf, IDLE_MS * 5)
		    : journal_wait(lf->jn, lf->stop_pipe[0], IDLE_MS) || lf->stop)
			break;
	}
}

static void *follow(void *arg)
{
	struct logfollow *lf = arg;
	long long renamed_at_ms = 0, last_cp = monotonic_ms();
	int r;

	if (lf->jn != NULL) {
		follow_journal(lf);
		checkpoint(lf);
		heartbeat_idle(lf->hb);
		return NULL;
	}
	for (;;) {
		heartbeat_busy(lf->hb, HB_ROUND_MS);
		if (lf->fd < 0) {	/* waiting for the file to appear */
			int fd = lf->path ? open_log(lf->path) : -1;

			if (fd >= 0)
				reopened(lf, fd);
			else if (idle(lf, IDLE_MS * 5))
				break;
			continue;
		}
		if (lf->path == NULL && !stdin_ready(lf)) {
			if (lf->stop)
				break;
			quiet(lf, &last_cp);
			continue;
		}
		r = read_some(lf);
		if (r > 0) {
			lf->dirty = true;
			if (!checkpoint_due(lf, last_cp))
				continue;
			commit_read(lf, &last_cp);
			if (lf->stop)
				break;
			continue;
		}
		if (r < 0) {
			log_msg(LOG_ERR, "log_read_failed file=%s error=\"%s\"", lf->label,
			    strerror(errno));
			if (lf->path == NULL) {
				lf->ended = true;
				break;
			}
			close(lf->fd);
			lf->fd = -1;
			lf->buflen = 0;	/* read again from the offset */
			if (lf->pending_fd >= 0) {	/* the path itself is reopened next */
				close(lf->pending_fd);
				lf->pending_fd = -1;
			}
			continue;
		}
		/* end of file */
		if (lf->path == NULL) {
			handle_lines(lf, true);
			lf->buflen = 0;
			expire_sessions(lf, -1);
			checkpoint(lf);
			lf->ended = true;
			log_msg(LOG_NOTICE, "log_input_ended (standard input closed; stopping)");
			kill(getpid(), SIGTERM);
			break;
		}
		if (lf->dirty)	/* caught up: commit what the last chunks read */
			commit_read(lf, &last_cp);
		if (follow_rotation(lf, &renamed_at_ms))
			continue;
		quiet(lf, &last_cp);
		if (idle(lf, IDLE_MS))
			break;
	}
	checkpoint(lf);
	heartbeat_idle(lf->hb);
	return NULL;
}

/* ---- where to start ---- */

struct saved {
	unsigned long long dev, ino;
	long long offset;
	size_t fplen;
	unsigned long long fphash;
	const char *sessions;	/* pfs text, inside the saved string */
};

static bool parse_saved(const char *v, struct saved *s)
{
	int n = 0;

	if (sscanf(v, "tlsrpt-log 1 %llu %llu %lld %zu %llu%n", &s->dev, &s->ino, &s->offset,
	    &s->fplen, &s->fphash, &n) != 5 || n <= 0 || s->offset < 0 || s->fplen > FP_MAX)
		return false;
	s->sessions = v + n;
	if (*s->sessions == '\n')
		s->sessions++;
	return true;
}

/* The saved open sessions: the hook's lines (H, I) to smh, the rest to pfs. */
static bool load_sessions(struct logfollow *lf, const char *text)
{
	struct strbuf pf, hk;
	const char *line = text;
	bool ok;

	strbuf_init(&pf);
	strbuf_init(&hk);
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);

		strbuf_append((line[0] == 'H' || line[0] == 'I') && line[1] == '\t' ? &hk : &pf,
		    line, n);
		line += n;
	}
	ok = pfs_load(lf->pfs, pf.data ? pf.data : "", pf.len);
	ok = smh_load(lf->smh, hk.data ? hk.data : "", hk.len) && ok;
	strbuf_free(&pf);
	strbuf_free(&hk);
	return ok;
}

static int start_position(struct logfollow *lf, struct store *st, const char *start_at,
    char *err, size_t errlen)
{
	char *v = store_get_state(st, lf->state_name);
	struct saved sv;
	struct stat sb;
	int fd = open_log(lf->path), fd1;
	char rotated[4096];

	if (fd < 0 && errno != ENOENT) {
		snprintf(err, errlen, "log_file %s: %s (run_as_user must be able to read it; on "
		    "Debian add it to group adm)", lf->path, strerror(errno));
		free(v);
		return -1;
	}
	if (v != NULL && parse_saved(v, &sv)) {
		if (!load_sessions(lf, sv.sessions))
			log_msg(LOG_WARNING, "log_state_damaged file=%s (some open sessions of the "
			    "last run were not restored)", lf->path);
		if (fd >= 0 && fstat(fd, &sb) == 0 && (unsigned long long)sb.st_ino == sv.ino &&
		    (unsigned long long)sb.st_dev == sv.dev && sb.st_size >= sv.offset &&
		    fp_matches(fd, sv.fplen, sv.fphash)) {
			take_file(lf, fd, sv.offset);
			log_msg(LOG_INFO, "log_resumed file=%s offset=%lld", lf->path, sv.offset);
			free(v);
			return 0;
		}
		snprintf(rotated, sizeof(rotated), "%s.1", lf->path);
		fd1 = open_log(rotated);
		if (fd1 >= 0 && fstat(fd1, &sb) == 0 && sb.st_size >= sv.offset &&
		    fp_matches(fd1, sv.fplen, sv.fphash)) {
			take_file(lf, fd1, sv.offset);
			lf->pending_fd = fd;	/* may be -1: waits for the file */
			log_msg(LOG_INFO, "log_resumed file=%s offset=%lld (rotated while stopped; "
			    "then %s from its start)", rotated, sv.offset, lf->path);
			free(v);
			return 0;
		}
		if (fd1 >= 0)
			close(fd1);
		log_msg(LOG_WARNING, "log_position_lost file=%s offset=%lld (the file was rotated "
		    "while the daemon was stopped and %s does not hold the rest; reading %s from "
		    "its start)", lf->path, sv.offset, rotated, lf->path);
		if (fd >= 0)
			take_file(lf, fd, 0);
		free(v);
		return 0;
	}
	if (v != NULL)
		log_msg(LOG_WARNING, "log_state_unreadable file=%s (starting per log_start_at)",
		    lf->path);
	free(v);
	if (fd < 0) {
		log_msg(LOG_WARNING, "log_file_missing file=%s (waiting for it to appear)", lf->path);
		return 0;
	}
	if (strcmp(start_at, "beginning") == 0) {
		take_file(lf, fd, 0);
	} else {
		fstat(fd, &sb);
		take_file(lf, fd, (long long)sb.st_size);
	}
	log_msg(LOG_INFO, "log_started file=%s offset=%lld (no saved position; log_start_at=%s)",
	    lf->path, lf->offset, start_at);
	return 0;
}

/*
 * The journal's saved position: "tlsrpt-journal 1 head" or "tlsrpt-journal
 * 1 <cursor> <realtime> <boot id|-> <monotonic>".  *rest: the saved open
 * sessions after that line.
 */
static bool parse_journal_saved(const char *v, struct journal_pos *pos, const char **rest)
{
	static const char head[] = "tlsrpt-journal 1 ";
	const char *p = v + sizeof(head) - 1, *end;
	char boot[40];
	int n = 0;

	memset(pos, 0, sizeof(*pos));
	if (strncmp(v, head, sizeof(head) - 1) != 0)
		return false;
	if (strncmp(p, "head", 4) == 0 && (p[4] == '\n' || p[4] == '\0')) {
		end = p + 4;
	} else {
		const char *sp = strchr(p, ' ');

		if (sp == NULL || sp == p || memchr(p, '\n', (size_t)(sp - p)) != NULL ||
		    sscanf(sp, " %llu %39s %llu%n", &pos->realtime, boot, &pos->monotonic, &n) != 3)
			return false;
		if (strcmp(boot, "-") != 0) {
			if (strlen(boot) != 32)
				return false;
			memcpy(pos->boot_id, boot, 33);
		}
		pos->cursor = xmalloc((size_t)(sp - p) + 1);
		memcpy(pos->cursor, p, (size_t)(sp - p));
		pos->cursor[sp - p] = '\0';
		end = sp + n;
	}
	*rest = *end == '\n' ? end + 1 : end;
	return true;
}

/* Without a usable saved position: log_start_at. */
static int journal_start_fresh(struct logfollow *lf, const char *start_at, char *err,
    size_t errlen)
{
	bool head = strcmp(start_at, "beginning") == 0;
	int r = head ? journal_seek_head(lf->jn) : journal_seek_tail(lf->jn);

	if (r < 0) {
		snprintf(err, errlen, "log_file %s: cannot seek: %s", lf->label, strerror(-r));
		return -1;
	}
	log_msg(LOG_INFO, "log_started file=%s at=%s (no saved position; log_start_at=%s: %s)",
	    lf->label, head || r == 1 ? "head" : "tail", start_at, head ? "every mail entry the "
	    "journal holds is read" : r == 1 ? "the journal holds no mail entry yet" : "entries "
	    "logged from now on are read");
	return 0;
}

static int journal_start(struct logfollow *lf, struct store *st, const char *start_at,
    char *err, size_t errlen)
{
	char *v = store_get_state(st, lf->state_name);
	struct journal_pos pos;
	const char *sessions;
	enum journal_seek how;
	unsigned long long first_us;
	int r;

	if (v == NULL)
		return journal_start_fresh(lf, start_at, err, errlen);
	if (!parse_journal_saved(v, &pos, &sessions)) {
		log_msg(LOG_WARNING, "log_state_unreadable file=%s (starting per log_start_at)",
		    lf->label);
		free(v);
		return journal_start_fresh(lf, start_at, err, errlen);
	}
	if (!load_sessions(lf, sessions))
		log_msg(LOG_WARNING, "log_state_damaged file=%s (some open sessions of the "
		    "last run were not restored)", lf->label);
	free(v);
	r = journal_seek(lf->jn, &pos, &how, &first_us);
	if (r < 0) {
		snprintf(err, errlen, "log_file %s: cannot seek: %s", lf->label, strerror(-r));
		journal_pos_free(&pos);
		return -1;
	}
	switch (how) {
	case JOURNAL_RESUMED:
		log_msg(LOG_INFO, "log_resumed file=%s cursor_time=%llu", lf->label,
		    pos.realtime / 1000000);
		break;
	case JOURNAL_AT_HEAD:
		log_msg(LOG_INFO, "log_resumed file=%s at=head (no entry was read before)",
		    lf->label);
		break;
	case JOURNAL_GONE:
		log_msg(LOG_WARNING, "log_position_lost file=%s cursor_time=%llu next_time=%llu (the "
		    "last entry read is no longer in the journal, e.g. vacuumed while the daemon "
		    "was stopped; reading on from the first entry after it%s)", lf->label,
		    pos.realtime / 1000000, first_us / 1000000, first_us ? "; entries between "
		    "the two times that were vacuumed too are lost" : ", none yet");
		break;
	case JOURNAL_BAD_CURSOR:
		log_msg(LOG_WARNING, "log_state_unreadable file=%s (the journal does not take the "
		    "saved cursor; starting per log_start_at)", lf->label);
		journal_pos_free(&pos);
		return journal_start_fresh(lf, start_at, err, errlen);
	}
	journal_pos_free(&pos);
	return 0;
}

/* ---- the API ---- */

struct logfollow *logfollow_open(const struct tlsrpt_conf *conf, struct store *st, char *err,
    size_t errlen)
{
	struct logfollow *lf = xcalloc(1, sizeof(*lf));
	struct strbuf sb;

	lf->fd = -1;
	lf->pending_fd = -1;
	lf->stop_pipe[0] = lf->stop_pipe[1] = -1;
	lf->fmt = strcmp(conf->log_format, "postfix") == 0 ? FMT_POSTFIX
	    : strcmp(conf->log_format, "sendmail") == 0 ? FMT_SENDMAIL : FMT_AUTO;
	lf->stale_s = conf->log_session_timeout_ms / 1000;
	lf->pfs = pfs_new(lf->stale_s);
	lf->sml = sml_new(lf->stale_s);
	lf->smh = smh_new(lf->stale_s, SML_MAX_PIDS, emit_hook, skip_report_mail, lf);
	lf->buf = xmalloc(CHUNK);
	aggregate_init(&lf->local);
	if (pipe(lf->stop_pipe) != 0) {
		snprintf(err, errlen, "log_file: pipe: %s", strerror(errno));
		goto fail;
	}
	lf->label = xstrdup(conf->log_file);
	if (strcmp(conf->log_file, "-") == 0) {
		lf->fd = 0;
		lf->state_name = xstrdup("log:-");
		log_msg(LOG_NOTICE, "log_started file=- (standard input has no position: what is "
		    "logged while the pipe or the daemon is down is not read, and a restarted "
		    "journalctl -f repeats lines; for the journal use log_file journal:)");
		return lf;
	}
	strbuf_init(&sb);
	strbuf_printf(&sb, "log:%s", conf->log_file);
	lf->state_name = xstrdup(sb.data);
	strbuf_free(&sb);
	if (strncmp(conf->log_file, "journal:", 8) == 0) {
		const char *dir = conf->log_file[8] ? conf->log_file + 8 : NULL;

		if ((lf->jn = journal_open(dir, err, errlen)) == NULL ||
		    journal_start(lf, st, conf->log_start_at, err, errlen) != 0)
			goto fail;
		return lf;
	}
	lf->path = xstrdup(conf->log_file);
	if (start_position(lf, st, conf->log_start_at, err, errlen) != 0)
		goto fail;
	return lf;
fail:
	logfollow_close(lf);
	return NULL;
}

void logfollow_attach(struct logfollow *lf, struct writer *w, struct report_mails *rm)
{
	lf->writer = w;
	lf->rm = rm;
	lf->batch = writer_new_batch(w, "log");
	pfs_set_skip(lf->pfs, skip_report_mail, lf);
	sml_set_skip(lf->sml, skip_report_mail, lf);
}

void logfollow_set_policy(struct logfollow *lf, logfollow_policy_fn fn, void *ctx)
{
	lf->policy_fn = fn;
	lf->policy_ctx = ctx;
}

int logfollow_start(struct logfollow *lf)
{
	lf->hb = heartbeat_register("log_follower");
	if (pthread_create(&lf->thread, NULL, follow, lf) != 0)
		return -1;
	lf->started = true;
	return 0;
}

void logfollow_stop(struct logfollow *lf)
{
	struct pfs_stats st;
	struct sml_stats sm;
	struct smh_stats hk;
	char w[48];

	if (!lf->started)
		return;
	lf->stop = true;
	if (write(lf->stop_pipe[1], "x", 1) < 0) {
		/* the flag alone stops it within IDLE_MS */
	}
	pthread_join(lf->thread, NULL);
	lf->started = false;
	/* the sum of the correlators: a log may hold Postfix and Sendmail lines */
	pfs_get_stats(lf->pfs, &st);
	sml_get_stats(lf->sml, &sm);
	smh_get_stats(lf->smh, &hk);
	log_msg(LOG_INFO, "log_stopped file=%s %s open_sessions=%zu emitted_success=%llu "
	    "emitted_failure=%llu no_delivery=%llu uncounted=%llu report_mails_skipped=%llu "
	    "dropped=%llu sendmail_hook_lines=%llu sendmail_hook_bad=%llu "
	    "sendmail_hook_superseded=%llu sendmail_hook_processes=%zu",
	    lf->label, where(lf, w, sizeof(w)), st.pids + sm.open,
	    st.emitted_success + sm.emitted_success + hk.map.successes,
	    st.emitted_failure + sm.emitted_failure + hk.map.failures,
	    st.no_delivery + sm.no_delivery, st.uncounted + sm.uncounted + hk.map.unreported,
	    st.report_mails_skipped + sm.skipped_report_mails + hk.map.report_mails_skipped,
	    pfs_dropped(lf->pfs) + sm.dropped + hk.dropped, hk.requests, hk.bad, hk.superseded,
	    hk.processes);
}

bool logfollow_ended(struct logfollow *lf)
{
	return lf->ended;
}

void logfollow_close(struct logfollow *lf)
{
	if (lf == NULL)
		return;
	heartbeat_unregister(lf->hb);
	if (lf->fd > 0)
		close(lf->fd);
	if (lf->pending_fd >= 0)
		close(lf->pending_fd);
	for (int i = 0; i < 2; i++)
		if (lf->stop_pipe[i] >= 0)
			close(lf->stop_pipe[i]);
	pfs_free(lf->pfs);
	sml_free(lf->sml);
	smh_free(lf->smh);
	aggregate_free(&lf->local);
	free(lf->buf);
	free(lf->path);
	free(lf->label);
	journal_close(lf->jn);
	free(lf->state_name);
	free(lf->last_state);
	free(lf);
}
