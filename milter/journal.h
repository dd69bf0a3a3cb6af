/*
 * NAME
 *	journal - the systemd journal as a source of mail log records
 * SYNOPSIS
 *	#include "journal.h"
 * DESCRIPTION
 *	Reads the entries of syslog facility mail (SYSLOG_FACILITY=2: what
 *	rsyslog writes to /var/log/mail.log) from the local system's journal
 *	or from the journal files of one directory, through libsystemd's
 *	sd-journal, and hands each on as a struct logrec (logline.h) built
 *	from its fields: SYSLOG_IDENTIFIER (else _COMM), SYSLOG_PID (else
 *	_PID) and MESSAGE, with __REALTIME_TIMESTAMP as its time.  Nothing
 *	is printed into a line and read apart again.
 *
 *	The position is the entry last handed on (struct journal_pos: its
 *	cursor, and its time stamps, which recognise a copy of it whose
 *	cursor differs), or "head" before any entry was read.  The caller
 *	saves it with the results of the entries before it and gives it
 *	back to journal_seek() on the next start.
 *
 *	Not thread-safe: one thread at a time (the follower's).
 * DIAGNOSTICS
 *	Functions that can fail return a negative errno (as sd-journal
 *	does); journal_open() and journal_seek() say why in err.
 * SEE ALSO
 *	sd-journal(3), logfollow.c (the checkpoint that holds the position).
 */
#ifndef TLSRPT_JOURNAL_H
#define TLSRPT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "logline.h"

struct journal;

/* Where a reader stands: after the entry of cursor, or at the head when cursor is NULL. */
struct journal_pos {
	char *cursor;			/* malloc'ed; NULL: before the first entry */
	unsigned long long realtime;	/* the entry's __REALTIME_TIMESTAMP (us) */
	unsigned long long monotonic;	/* its __MONOTONIC_TIMESTAMP (us) of boot_id */
	char boot_id[33];		/* 32 hex digits */
};

struct journal_entry {
	struct logrec rec;		/* spans valid until the next journal_next() */
	bool tagged;			/* rec has an identifier and a pid */
	long long when;			/* seconds since the epoch */
};

/*
 * The local system's journal (dir NULL: system and users' journals, not
 * those of other machines) or the journal files in dir.  Fails when no
 * journal file of the system can be read (run_as_user lacks group
 * systemd-journal) or dir cannot be opened.
 */
struct journal *journal_open(const char *dir, char *err, size_t errlen);
void journal_close(struct journal *j);

enum journal_seek {
	JOURNAL_RESUMED,	/* at the saved entry: the next one is the first after it */
	JOURNAL_GONE,		/* the saved entry is no longer there: on from the first after
				 * where it was (what lay between is lost if it is gone too) */
	JOURNAL_AT_HEAD,	/* pos said head: every entry is still to be read */
	JOURNAL_BAD_CURSOR,	/* sd-journal does not take the saved cursor: nothing moved */
};

/*
 * Go back to a saved position.  *first_us: for JOURNAL_GONE, the time of
 * the first entry after it (0: none yet).
 */
int journal_seek(struct journal *j, const struct journal_pos *pos, enum journal_seek *how,
    unsigned long long *first_us);

/*
 * Without a saved position: after the last entry there is now, or, 1,
 * at the head when there is none.
 */
int journal_seek_tail(struct journal *j);
int journal_seek_head(struct journal *j);

/* The next entry into *e: 1, or 0 at the end for now, or a negative errno. */
int journal_next(struct journal *j, struct journal_entry *e);

/* The position after the last entry journal_next() returned; pos is the reader's own. */
const struct journal_pos *journal_position(struct journal *j);

/*
 * Wait for new entries, at most timeout_ms, or until stop_fd is readable.
 * True when stop_fd is (the caller stops).  At the end of the journal it
 * now and then seeks to the position again, so that an entry sd-journal
 * passed over while it was being written is found (journal.c, reseek).
 */
bool journal_wait(struct journal *j, int stop_fd, int timeout_ms);

/* After journal_next() failed: take in the journal's changes and seek to the position again. */
int journal_recover(struct journal *j);

void journal_pos_free(struct journal_pos *pos);

#endif
