/*
 * NAME
 *	journal - the systemd journal as a source of mail log records
 * DESCRIPTION
 *	See journal.h.  Facility mail rather than a list of identifiers: a
 *	journal match is exact, and Postfix's syslog_name may be anything
 *	(postfix-out/smtp, a second instance), so a match on names would
 *	miss lines; the parsers pick their programs from what facility mail
 *	holds, as they do from /var/log/mail.log.
 *
 *	Going back to a saved position: sd_journal_seek_cursor() and
 *	sd_journal_next() land on the saved entry if it is still there,
 *	else on the first entry after where it was.  The saved entry is
 *	recognised by its cursor (sd_journal_test_cursor) or, for a copy of
 *	it that journald moved from /run/log/journal to /var/log/journal
 *	(another cursor), by its boot id and both time stamps; it was read
 *	before and is skipped.  Any other entry is the first not yet read
 *	and is handed on first.
 *
 *	Starting at the tail takes the last entry there is as the position
 *	(sd_journal_previous after sd_journal_seek_tail), so that a stop
 *	before the next entry still saves a position; with no entry at all
 *	the position is the head: whatever comes is new.
 *
 *	The position is taken as each entry is handed on (its cursor, time
 *	stamps and boot id), so that no later failure can lose the way back
 *	to it.  At the end of the journal, once a second, reseek() goes back
 *	to the position and on from there: sd-journal looks no further into
 *	a file whose entry count has not changed since it last found
 *	nothing, and a matching entry that the writer had counted but not
 *	yet linked for the match is found only that way (seen once under
 *	load: the last entry of an append stayed unread).  The same after a
 *	read error, after sd_journal_process() (a file that went away).
 */
#include "config.h"

#include "journal.h"

#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>

#define MATCH_MAIL "SYSLOG_FACILITY=2"
#define RESEEK_MS 1000		/* at the end, look again from the position this often */

struct field {
	const char *name;	/* "MESSAGE=" */
	size_t namelen;
	struct strbuf value;
	bool seen;
};

enum { F_MESSAGE, F_IDENT, F_SYSLOG_PID, F_PID, F_COMM, F_COUNT };

struct journal {
	sd_journal *sd;
	int fd;				/* sd_journal_get_fd(): inotify */
	struct journal_pos pos;
	bool pending;			/* the current entry is still to be handed on */
	int empty_waits;		/* journal_wait() calls since the last entry */
	long long reseek_ms;		/* when reseek() last ran (monotonic) */
	struct field f[F_COUNT];
};

static void say(char *err, size_t errlen, const char *what, const char *dir, int r)
{
	snprintf(err, errlen, "log_file journal:%s: %s: %s%s", dir ? dir : "", what, strerror(-r),
	    r == -EACCES ? " (run_as_user must be able to read it: group systemd-journal for "
	    "the system journal)" : "");
}

/* Why no file of the system journal could be read: none there, or not ours to read. */
static void no_system_journal(char *err, size_t errlen)
{
	static const char *const roots[] = {"/var/log/journal", "/run/log/journal"};
	char pattern[128], mid[33];
	sd_id128_t machine;
	bool found = false;
	glob_t g;

	if (sd_id128_get_machine(&machine) < 0) {
		snprintf(err, errlen, "log_file journal:: no machine id (/etc/machine-id): no "
		    "system journal to read");
		return;
	}
	sd_id128_to_string(machine, mid);
	for (size_t i = 0; i < 2 && !found; i++) {
		snprintf(pattern, sizeof(pattern), "%s/%s/*.journal", roots[i], mid);
		found = glob(pattern, 0, NULL, &g) == 0;
		globfree(&g);
	}
	if (found)
		snprintf(err, errlen, "log_file journal:: the journal files are not readable as "
		    "uid %u: run_as_user needs group systemd-journal (adduser _tlsrpt "
		    "systemd-journal; on Debian group adm works too)", (unsigned)geteuid());
	else
		snprintf(err, errlen, "log_file journal:: no journal files in /var/log/journal/%s "
		    "or /run/log/journal/%s (is systemd-journald running?)", mid, mid);
}

struct journal *journal_open(const char *dir, char *err, size_t errlen)
{
	static const char *names[F_COUNT] = {"MESSAGE=", "SYSLOG_IDENTIFIER=", "SYSLOG_PID=",
	    "_PID=", "_COMM="};
	struct journal *j = xcalloc(1, sizeof(*j));
	uint64_t bytes = 0;
	int r;

	j->fd = -1;
	for (int i = 0; i < F_COUNT; i++) {
		j->f[i].name = names[i];
		j->f[i].namelen = strlen(names[i]);
		strbuf_init(&j->f[i].value);
	}
	r = dir != NULL ? sd_journal_open_directory(&j->sd, dir, 0)
	    : sd_journal_open(&j->sd, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0) {
		say(err, errlen, "cannot open the journal", dir, r);
		goto fail;
	}
	if ((r = sd_journal_add_match(j->sd, MATCH_MAIL, 0)) < 0) {
		say(err, errlen, "sd_journal_add_match", dir, r);
		goto fail;
	}
	/* before the first read, so that no change is missed (sd_journal_get_fd(3)) */
	if ((j->fd = sd_journal_get_fd(j->sd)) < 0) {
		say(err, errlen, "sd_journal_get_fd", dir, j->fd);
		goto fail;
	}
	if (dir == NULL && sd_journal_get_usage(j->sd, &bytes) >= 0 && bytes == 0) {
		no_system_journal(err, errlen);
		goto fail;
	}
	return j;
fail:
	journal_close(j);
	return NULL;
}

void journal_pos_free(struct journal_pos *pos)
{
	free(pos->cursor);
	memset(pos, 0, sizeof(*pos));
}

void journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->sd != NULL)
		sd_journal_close(j->sd);
	for (int i = 0; i < F_COUNT; i++)
		strbuf_free(&j->f[i].value);
	journal_pos_free(&j->pos);
	free(j);
}

/* The current entry's position into pos; false (pos unchanged) when there is none. */
static bool current_pos(struct journal *j, struct journal_pos *pos)
{
	char *cursor = NULL;
	uint64_t rt, mono;
	sd_id128_t boot;

	if (sd_journal_get_cursor(j->sd, &cursor) < 0)
		return false;
	if (sd_journal_get_realtime_usec(j->sd, &rt) < 0 ||
	    sd_journal_get_monotonic_usec(j->sd, &mono, &boot) < 0) {
		free(cursor);
		return false;
	}
	journal_pos_free(pos);
	pos->cursor = cursor;
	pos->realtime = rt;
	pos->monotonic = mono;
	sd_id128_to_string(boot, pos->boot_id);
	return true;
}

/* Whether the current entry is the one pos names (itself, or a copy with another cursor). */
static bool is_saved_entry(struct journal *j, const struct journal_pos *pos)
{
	struct journal_pos cur = {0};
	bool same;

	if (sd_journal_test_cursor(j->sd, pos->cursor) > 0)
		return true;
	if (pos->boot_id[0] == '\0' || !current_pos(j, &cur))
		return false;
	same = cur.realtime == pos->realtime && cur.monotonic == pos->monotonic &&
	    strcmp(cur.boot_id, pos->boot_id) == 0;
	journal_pos_free(&cur);
	return same;
}

static void set_pos(struct journal *j, const struct journal_pos *pos)
{
	journal_pos_free(&j->pos);
	j->pos = *pos;
	j->pos.cursor = pos->cursor ? xstrdup(pos->cursor) : NULL;
	j->pending = false;
}

int journal_seek(struct journal *j, const struct journal_pos *pos, enum journal_seek *how,
    unsigned long long *first_us)
{
	uint64_t rt = 0;
	int r;

	*first_us = 0;
	if (pos->cursor == NULL) {
		*how = JOURNAL_AT_HEAD;
		return journal_seek_head(j);
	}
	if (sd_journal_seek_cursor(j->sd, pos->cursor) < 0) {
		*how = JOURNAL_BAD_CURSOR;
		return 0;
	}
	set_pos(j, pos);
	if ((r = sd_journal_next(j->sd)) < 0)
		return r;
	if (r > 0 && is_saved_entry(j, pos)) {
		*how = JOURNAL_RESUMED;
		return 0;
	}
	*how = JOURNAL_GONE;
	if (r > 0) {
		j->pending = true;	/* the first entry not yet read */
		if (sd_journal_get_realtime_usec(j->sd, &rt) >= 0)
			*first_us = rt;
	}
	return 0;
}

int journal_seek_head(struct journal *j)
{
	struct journal_pos head = {0};

	set_pos(j, &head);
	return sd_journal_seek_head(j->sd);
}

int journal_seek_tail(struct journal *j)
{
	int r;

	if ((r = sd_journal_seek_tail(j->sd)) < 0)
		return r;
	if ((r = sd_journal_previous(j->sd)) < 0)
		return r;
	if (r == 0) {	/* nothing there: next() after a bare seek_tail would find nothing new */
		r = journal_seek_head(j);
		return r < 0 ? r : 1;
	}
	j->pending = false;
	if (!current_pos(j, &j->pos))
		return -EADDRNOTAVAIL;
	return 0;
}

/* A pid as the syslog tag has it: 1 to 9 digits. */
static bool read_pid(const struct strbuf *v, long *pid)
{
	long n = 0;

	if (v->len == 0 || v->len > 9)
		return false;
	for (size_t i = 0; i < v->len; i++) {
		if (v->data[i] < '0' || v->data[i] > '9')
			return false;
		n = n * 10 + (v->data[i] - '0');
	}
	*pid = n;
	return true;
}

/* The fields of the current entry the parsers need, copied (sd-journal reuses its buffer). */
static void read_fields(struct journal *j)
{
	const void *d;
	size_t n;

	for (int i = 0; i < F_COUNT; i++) {
		strbuf_reset(&j->f[i].value);
		j->f[i].seen = false;
	}
	sd_journal_restart_data(j->sd);
	/* a field that cannot be read ends the list: the entry has what came before */
	while (sd_journal_enumerate_data(j->sd, &d, &n) > 0) {
		for (int i = 0; i < F_COUNT; i++) {
			struct field *f = &j->f[i];

			if (!f->seen && n >= f->namelen && memcmp(d, f->name, f->namelen) == 0) {
				strbuf_append(&f->value, (const char *)d + f->namelen,
				    n - f->namelen);
				f->seen = true;
				break;
			}
		}
	}
}

static struct span value(const struct field *f)
{
	struct span s = {f->value.data ? f->value.data : "", f->value.len};

	return s;
}

int journal_next(struct journal *j, struct journal_entry *e)
{
	const struct field *ident;
	uint64_t rt = 0;
	int r;

	if (j->pending) {
		j->pending = false;
	} else if ((r = sd_journal_next(j->sd)) <= 0) {
		return r;
	}
	/*
	 * The position now, not when it is saved: a failing sd_journal_next()
	 * or sd_journal_process() can drop the current entry's file, and
	 * with it the way back to this entry.
	 */
	(void)current_pos(j, &j->pos);
	j->empty_waits = 0;
	read_fields(j);
	memset(e, 0, sizeof(*e));
	if (sd_journal_get_realtime_usec(j->sd, &rt) >= 0)
		e->when = (long long)(rt / 1000000);
	ident = j->f[F_IDENT].seen ? &j->f[F_IDENT] : &j->f[F_COMM];
	e->rec.name = value(ident);
	e->rec.msg = value(&j->f[F_MESSAGE]);
	e->tagged = e->rec.name.n > 0 && (read_pid(&j->f[F_SYSLOG_PID].value, &e->rec.pid) ||
	    read_pid(&j->f[F_PID].value, &e->rec.pid));
	/* about the length of the line "name[pid]: message", for the parsers' limits */
	e->rec.size = e->rec.name.n + 14 + e->rec.msg.n;
	return 1;
}

const struct journal_pos *journal_position(struct journal *j)
{
	return &j->pos;
}

/*
 * Seek to the position again.  sd_journal_next() keeps, per file, the
 * entry count it saw when it last found no more entries, and looks no
 * further until that count changes: an entry that a writer had counted
 * but not yet linked into the lists a match searches (the writer links
 * it there right after) stays unseen until the file gets another entry.
 * A seek drops what sd-journal keeps per file, and the saved entry,
 * found again, is skipped (or, gone, the one after it is handed on).
 */
static int reseek(struct journal *j)
{
	int r;

	j->reseek_ms = monotonic_ms();
	if (j->pending)
		return 0;	/* already at an entry still to be handed on */
	if (j->pos.cursor == NULL)
		return sd_journal_seek_head(j->sd);
	if ((r = sd_journal_seek_cursor(j->sd, j->pos.cursor)) < 0)
		return r;
	if ((r = sd_journal_next(j->sd)) <= 0)
		return r;	/* the saved entry is gone, nothing after it yet */
	if (!is_saved_entry(j, &j->pos))
		j->pending = true;	/* gone (vacuumed): this is the first after it */
	return 0;
}

int journal_recover(struct journal *j)
{
	(void)sd_journal_process(j->sd);
	return reseek(j);
}

bool journal_wait(struct journal *j, int stop_fd, int timeout_ms)
{
	struct pollfd p[2] = {{.fd = j->fd, .events = (short)sd_journal_get_events(j->sd)},
	    {.fd = stop_fd, .events = POLLIN}};
	uint64_t until;
	struct timespec now;

	/* found nothing twice in a row: look again from the position, once a second at most */
	if (++j->empty_waits >= 2 && monotonic_ms() - j->reseek_ms >= RESEEK_MS)
		(void)reseek(j);
	if (sd_journal_get_timeout(j->sd, &until) >= 0 && until != UINT64_MAX &&
	    clock_gettime(CLOCK_MONOTONIC, &now) == 0) {
		uint64_t t = (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
		uint64_t ms = until > t ? (until - t + 999) / 1000 : 0;

		if (ms < (uint64_t)timeout_ms)
			timeout_ms = (int)ms;
	}
	if (poll(p, 2, timeout_ms) > 0 && p[1].revents != 0)
		return true;
	(void)sd_journal_process(j->sd);
	return false;
}

#else	/* built --without-systemd: journal_open() says so, nothing else is reached */

struct journal *journal_open(const char *dir, char *err, size_t errlen)
{
	snprintf(err, errlen, "log_file journal:%s: this tlsrpt-milter was built without "
	    "libsystemd (configure --without-systemd)", dir ? dir : "");
	return NULL;
}

void journal_close(struct journal *j)
{
	(void)j;
}

void journal_pos_free(struct journal_pos *pos)
{
	free(pos->cursor);
	memset(pos, 0, sizeof(*pos));
}

int journal_seek(struct journal *j, const struct journal_pos *pos, enum journal_seek *how,
    unsigned long long *first_us)
{
	(void)j;
	(void)pos;
	*how = JOURNAL_BAD_CURSOR;
	*first_us = 0;
	return -ENOSYS;
}

int journal_seek_tail(struct journal *j)
{
	(void)j;
	return -ENOSYS;
}

int journal_seek_head(struct journal *j)
{
	(void)j;
	return -ENOSYS;
}

int journal_next(struct journal *j, struct journal_entry *e)
{
	(void)j;
	(void)e;
	return -ENOSYS;
}

const struct journal_pos *journal_position(struct journal *j)
{
	static const struct journal_pos none;

	(void)j;
	return &none;
}

bool journal_wait(struct journal *j, int stop_fd, int timeout_ms)
{
	(void)j;
	(void)stop_fd;
	(void)timeout_ms;
	return true;
}

int journal_recover(struct journal *j)
{
	(void)j;
	return -ENOSYS;
}

#endif
