/*
 * NAME
 *	sts_export - the MTA-STS policy map file of tlsrpt-milter
 * DESCRIPTION
 *	See sts_export.h.  One thread sleeps until the cache changed (the
 *	policy map's change hook sets "dirty"), an exported policy expires,
 *	or a second passed (the counters, the policy map's included, reach
 *	the writer's batch then); it writes at most once per
 *	EXPORT_DELAY_MS, so a burst of fetches becomes one file.
 */
#define _GNU_SOURCE
#include "config.h"

#include "sts_export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aggregate.h"
#include "log.h"
#include "util.h"

#define TICK_MS 1000		/* counters reach the batch at least this often */
#define COOL_DOWN_S 2		/* mtime set back this far (see sts_export.h) */
#define RETRY_MS 5000		/* after a failed write */

enum counter { C_WRITES, C_ERRORS, C_SEEN_LIMITED, C_COUNT };

static const char *const counter_names[C_COUNT] = {
	"sts.export_writes", "sts.export_errors", "sts.seen_limited",
};

struct sts_export {
	struct policymap_input *pm;
	char *path;
	mode_t mode;
	gid_t group;
	struct input_batch *batch;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* CLOCK_MONOTONIC */
	bool dirty, stopping, running;
	long long dirty_since_ms;
	long long next_expiry;	/* of the policies in the file; 0: none */
	uint64_t written_hash;	/* of the content last written */
	bool written;

	/* sts_export_seen()'s token bucket, under lock */
	double tokens;
	long long tokens_ms;

	uint64_t counters[C_COUNT];	/* atomics */
	uint64_t published[C_COUNT];	/* the thread only */
	struct log_limit err_limit, seen_limit;
};

static void bump(struct sts_export *x, enum counter c)
{
	__atomic_fetch_add(&x->counters[c], 1, __ATOMIC_RELAXED);
}

/* ---- the content ---- */

struct line {
	const char *domain;	/* points into the strbuf of collect */
	size_t off, len;	/* the whole line in that strbuf */
};

struct collect {
	struct strbuf text;	/* the lines, in cache order */
	struct line *lines;
	size_t n, cap;
	long long next_expiry;
};

static void add_line(void *ctx, const char *domain, const char *answer, long long expires)
{
	struct collect *c = ctx;
	size_t off = c->text.len;

	/* the socketmap's answer is "OK <value>": the table holds the value */
	if (strncmp(answer, "OK ", 3) == 0)
		answer += 3;
	strbuf_printf(&c->text, "%s %s\n", domain, answer);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->lines = xrealloc(c->lines, c->cap * sizeof(*c->lines));
	}
	c->lines[c->n].off = off;
	c->lines[c->n].len = c->text.len - off;
	c->n++;
	if (c->next_expiry == 0 || expires < c->next_expiry)
		c->next_expiry = expires;
}

static const char *line_text;	/* qsort has no context argument: guarded by sort_lock */
static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int line_cmp(const void *a, const void *b)
{
	const struct line *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = memcmp(line_text + x->off, line_text + y->off, n);

	return r != 0 ? r : (x->len > y->len) - (x->len < y->len);
}

size_t sts_export_format(struct policymap_input *pm, long long now, struct strbuf *out,
    long long *next_expiry)
{
	struct collect c;

	memset(&c, 0, sizeof(c));
	strbuf_init(&c.text);
	policymap_each_enforced(pm, now, add_line, &c);
	/* sorted: the same policies give the same bytes, so nothing is rewritten */
	pthread_mutex_lock(&sort_lock);
	line_text = c.text.data;
	if (c.n > 1)
		qsort(c.lines, c.n, sizeof(*c.lines), line_cmp);
	line_text = NULL;
	pthread_mutex_unlock(&sort_lock);

	strbuf_reset(out);
	strbuf_printf(out, "# MTA-STS policies in mode enforce, written by tlsrpt-milter: do not edit,\n"
	    "# the daemon replaces this file.  Postfix: smtp_tls_policy_maps = texthash:<this file>\n"
	    "# %zu domains\n", c.n);
	for (size_t i = 0; i < c.n; i++)
		strbuf_append(out, c.text.data + c.lines[i].off, c.lines[i].len);
	if (next_expiry != NULL)
		*next_expiry = c.next_expiry;
	strbuf_free(&c.text);
	free(c.lines);
	return c.n;
}

/* ---- the write ---- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The directory of path, opened for fsync; -1 when that fails (not fatal). */
static int open_dir_of(const char *path)
{
	char *copy = xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	free(copy);
	return fd;
}

/* content into a temporary file beside path, then renamed over it; -1 with err. */
static int replace_file(const struct sts_export *x, const struct strbuf *content, char *err,
    size_t errlen)
{
	size_t tlen = strlen(x->path) + 8;
	char *tmp = xmalloc(tlen);
	struct timespec times[2];
	const char *step;
	int fd, dfd;

	snprintf(tmp, tlen, "%s.XXXXXX", x->path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a file beside %s: %s", x->path, strerror(errno));
		free(tmp);
		return -1;
	}
	clock_gettime(CLOCK_REALTIME, &times[0]);
	times[0].tv_sec -= COOL_DOWN_S;
	times[1] = times[0];
	step = "write";
	if (write_all(fd, content->data ? content->data : "", content->len) != 0)
		goto fail;
	step = "chmod";
	if (fchmod(fd, x->mode) != 0)
		goto fail;
	step = "chown (is run_as_user a member of policy_map_file_group?)";
	if (x->group != (gid_t)-1 && fchown(fd, (uid_t)-1, x->group) != 0)
		goto fail;
	step = "fsync";
	if (fsync(fd) != 0)
		goto fail;
	step = "set the modification time";
	if (futimens(fd, times) != 0)
		goto fail;
	step = "close";
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	step = "rename";
	if (rename(tmp, x->path) != 0)
		goto fail;
	free(tmp);
	/* the rename itself survives a crash only with its directory on disk */
	if ((dfd = open_dir_of(x->path)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	snprintf(err, errlen, "%s of %s failed: %s", step, tmp, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* "<name>.XXXXXX", mkostemp()'s pattern for name: a temporary file of ours. */
static bool is_our_temp(const char *entry, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(entry, name, n) != 0 || entry[n] != '.' || strlen(entry + n + 1) != 6)
		return false;
	for (const char *p = entry + n + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

/*
 * Temporary files a killed daemon left between mkostemp() and rename():
 * nobody else writes "<path>.XXXXXX" files, and a directory that gathered
 * one per crash would grow without end.
 */
static void remove_stale_temps(const struct sts_export *x)
{
	char *copy = xstrdup(x->path), *copy2 = xstrdup(x->path);
	const char *dir = dirname(copy), *name = basename(copy2);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (!is_our_temp(de->d_name, name))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_msg(LOG_NOTICE, "sts_export_stale_removed file=%s/%s (left by a daemon "
			    "that was killed while writing)", dir, de->d_name);
	}
	if (d != NULL)
		closedir(d);
	free(copy);
	free(copy2);
}

/* One export; under no lock.  force: write even when the content is unchanged. */
static int export_now(struct sts_export *x, bool force, char *err, size_t errlen)
{
	struct strbuf content;
	long long next_expiry = 0;
	size_t n;
	uint64_t h;
	int rc = 0;

	strbuf_init(&content);
	n = sts_export_format(x->pm, (long long)time(NULL), &content, &next_expiry);
	h = hash_bytes(content.data, content.len);
	if (force || !x->written || h != x->written_hash) {
		rc = replace_file(x, &content, err, errlen);
		if (rc == 0) {
			x->written = true;
			x->written_hash = h;
			bump(x, C_WRITES);
			log_msg(LOG_INFO, "sts_export_written path=%s domains=%zu bytes=%zu", x->path, n,
			    content.len);
		} else {
			bump(x, C_ERRORS);
		}
	}
	pthread_mutex_lock(&x->lock);
	x->next_expiry = next_expiry;
	pthread_mutex_unlock(&x->lock);
	strbuf_free(&content);
	return rc;
}

/* ---- counters ---- */

static void publish_counters(struct sts_export *x)
{
	if (x->batch != NULL)
		input_batch_publish_counters(x->batch, counter_names, x->counters, x->published,
		    C_COUNT);
	policymap_input_tick(x->pm);
}

/* ---- the thread ---- */

static void change_hook(void *ctx)
{
	struct sts_export *x = ctx;

	pthread_mutex_lock(&x->lock);
	if (!x->dirty) {
		x->dirty = true;
		x->dirty_since_ms = monotonic_ms();
	}
	pthread_cond_signal(&x->wake);
	pthread_mutex_unlock(&x->lock);
}

static void deadline_in(struct timespec *ts, long long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *export_main(void *arg)
{
	struct sts_export *x = arg;
	long long last_tick = monotonic_ms();
	char err[512];

	pthread_mutex_lock(&x->lock);
	while (!x->stopping) {
		long long now_ms = monotonic_ms();
		long long wait_ms = TICK_MS - (now_ms - last_tick);
		struct timespec ts;
		bool failed;

		/* an exported policy expired: it must leave the file */
		if (x->next_expiry != 0 && (long long)time(NULL) >= x->next_expiry && !x->dirty) {
			x->dirty = true;
			x->dirty_since_ms = now_ms - EXPORT_DELAY_MS;
		}
		if (x->dirty && now_ms - x->dirty_since_ms >= EXPORT_DELAY_MS) {
			x->dirty = false;
			pthread_mutex_unlock(&x->lock);
			failed = export_now(x, false, err, sizeof(err)) != 0;
			if (failed)
				log_ratelimited(&x->err_limit, LOG_ERR, "sts_export_failed error=\"%s\" "
				    "(Postfix keeps reading the previous file; retrying in %d s)", err,
				    RETRY_MS / 1000);
			pthread_mutex_lock(&x->lock);
			if (failed && !x->dirty) {
				x->dirty = true;
				x->dirty_since_ms = monotonic_ms() + RETRY_MS - EXPORT_DELAY_MS;
			}
			continue;
		}
		if (now_ms - last_tick >= TICK_MS) {
			pthread_mutex_unlock(&x->lock);
			publish_counters(x);
			last_tick = monotonic_ms();
			pthread_mutex_lock(&x->lock);
			continue;
		}
		if (x->dirty && EXPORT_DELAY_MS - (now_ms - x->dirty_since_ms) < wait_ms)
			wait_ms = EXPORT_DELAY_MS - (now_ms - x->dirty_since_ms);
		if (wait_ms < 1)
			wait_ms = 1;
		deadline_in(&ts, wait_ms);
		pthread_cond_timedwait(&x->wake, &x->lock, &ts);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* ---- the API ---- */

struct sts_export *sts_export_new(struct policymap_input *pm, const char *path, mode_t mode,
    gid_t group)
{
	struct sts_export *x = xcalloc(1, sizeof(*x));
	pthread_condattr_t ca;

	x->pm = pm;
	x->path = xstrdup(path);
	x->mode = mode;
	x->group = group;
	x->tokens = SEEN_BURST;
	x->tokens_ms = monotonic_ms();
	pthread_mutex_init(&x->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->wake, &ca);
	pthread_condattr_destroy(&ca);
	policymap_set_change_hook(pm, change_hook, x);
	return x;
}

void sts_export_attach(struct sts_export *x, struct writer *w)
{
	x->batch = writer_new_batch(w, "sts_export");
}

int sts_export_start(struct sts_export *x, char *err, size_t errlen)
{
	int rc;

	remove_stale_temps(x);
	if (export_now(x, true, err, errlen) != 0)
		return -1;
	rc = pthread_create(&x->thread, NULL, export_main, x);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the policy map file thread: %s", strerror(rc));
		return -1;
	}
	x->running = true;
	return 0;
}

/* policymap_discover()'s allow: one token of the bucket, or a refusal (counted). */
static bool take_token(void *ctx)
{
	struct sts_export *x = ctx;
	long long now = monotonic_ms();
	bool allowed;

	pthread_mutex_lock(&x->lock);
	x->tokens += (double)(now - x->tokens_ms) * SEEN_RATE / 1000.0;
	if (x->tokens > SEEN_BURST)
		x->tokens = SEEN_BURST;
	x->tokens_ms = now;
	allowed = x->tokens >= 1.0;
	if (allowed)
		x->tokens -= 1.0;
	pthread_mutex_unlock(&x->lock);
	if (!allowed)
		bump(x, C_SEEN_LIMITED);
	return allowed;
}

void sts_export_seen(void *ctx, const char *domain)
{
	struct sts_export *x = ctx;
	unsigned long long before;

	if (x == NULL || domain == NULL)
		return;
	before = __atomic_load_n(&x->counters[C_SEEN_LIMITED], __ATOMIC_RELAXED);
	/* only a domain that is due for a discovery costs a token */
	if (!policymap_discover(x->pm, domain, take_token, x) &&
	    __atomic_load_n(&x->counters[C_SEEN_LIMITED], __ATOMIC_RELAXED) != before)
		log_ratelimited(&x->seen_limit, LOG_NOTICE, "sts_seen_limited domain=%s rate=%d/s "
		    "(not queued for discovery now; a later message queues it)", domain, SEEN_RATE);
}

void sts_export_stop(struct sts_export *x)
{
	char err[512];

	if (x == NULL || !x->running)
		return;
	pthread_mutex_lock(&x->lock);
	x->stopping = true;
	pthread_cond_signal(&x->wake);
	pthread_mutex_unlock(&x->lock);
	pthread_join(x->thread, NULL);
	x->running = false;
	if (x->dirty && export_now(x, false, err, sizeof(err)) != 0)
		log_msg(LOG_ERR, "sts_export_failed error=\"%s\" (at the stop: the file keeps "
		    "the previous policies)", err);
	publish_counters(x);
}

void sts_export_free(struct sts_export *x)
{
	if (x == NULL)
		return;
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->wake);
	free(x->path);
	free(x);
}

int sts_export_write(struct sts_export *x, char *err, size_t errlen)
{
	return export_now(x, true, err, errlen);
}

unsigned long long sts_export_counter(struct sts_export *x, const char *name)
{
	return named_counter_value(counter_names, x->counters, C_COUNT, name);
}
