/*
 * NAME
 *	log - one logging path for both programs
 * DESCRIPTION
 *	See log.h.  The level check happens before formatting so that debug
 *	logging costs nothing when it is off.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int log_level = LOG_INFO;
static bool log_to_stderr = true;
static bool syslog_opened;
static int log_facility = LOG_MAIL;
static const char *log_ident = "tlsrpt";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct {
	const char *name;
	int value;
} level_names[] = {
	{"err", LOG_ERR}, {"error", LOG_ERR}, {"warning", LOG_WARNING},
	{"warn", LOG_WARNING}, {"notice", LOG_NOTICE}, {"info", LOG_INFO},
	{"debug", LOG_DEBUG},
};

static const struct {
	const char *name;
	int value;
} facility_names[] = {
	{"mail", LOG_MAIL}, {"daemon", LOG_DAEMON}, {"user", LOG_USER},
	{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
	{"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int log_level_from_name(const char *name)
{
	for (size_t i = 0; i < NELEM(level_names); i++)
		if (strcasecmp(name, level_names[i].name) == 0)
			return level_names[i].value;
	return -1;
}

const char *log_level_name(int level)
{
	for (size_t i = 0; i < NELEM(level_names); i++)
		if (level_names[i].value == level)
			return level_names[i].name;
	return "unknown";
}

int log_facility_from_name(const char *name)
{
	for (size_t i = 0; i < NELEM(facility_names); i++)
		if (strcasecmp(name, facility_names[i].name) == 0)
			return facility_names[i].value;
	return -1;
}

void log_open(const char *ident, int facility, bool to_stderr)
{
	pthread_mutex_lock(&log_lock);
	log_ident = ident;
	log_facility = facility;
	log_to_stderr = to_stderr;
	if (!to_stderr) {
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
		syslog_opened = true;
	}
	pthread_mutex_unlock(&log_lock);
}

void log_set_facility(int facility)
{
	pthread_mutex_lock(&log_lock);
	if (syslog_opened && facility != log_facility) {
		closelog();
		openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
	}
	log_facility = facility;
	pthread_mutex_unlock(&log_lock);
}

void log_set_level(int level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (syslog_opened)
		closelog();
	syslog_opened = false;
	pthread_mutex_unlock(&log_lock);
}

void log_detach(void)
{
	pthread_mutex_lock(&log_lock);
	if (syslog_opened)
		closelog();
	pthread_mutex_unlock(&log_lock);
}

void log_reopen(void)
{
	pthread_mutex_lock(&log_lock);
	if (syslog_opened)
		openlog(log_ident, LOG_PID | LOG_NDELAY, log_facility);
	pthread_mutex_unlock(&log_lock);
}

static void log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;

	if (level > log_get_level())
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (!log_to_stderr) {
		syslog(level, "%s", line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: %s: %s\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident,
	    log_level_name(level), line);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_ratelimited(struct log_limit *lim, int level, const char *fmt, ...)
{
	static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned long suppressed = 0;
	bool print;
	va_list ap;
	long long now = (long long)time(NULL);

	if (level > log_get_level())
		return;
	pthread_mutex_lock(&limit_lock);
	if (now - lim->window_start >= 60) {
		suppressed = lim->suppressed;
		lim->window_start = now;
		lim->printed = 0;
		lim->suppressed = 0;
	}
	print = lim->printed < LOG_LIMIT_BURST;
	if (print)
		lim->printed++;
	else
		lim->suppressed++;
	pthread_mutex_unlock(&limit_lock);

	if (suppressed)
		log_msg(level, "log_suppressed count=%lu (similar messages in the last minute)",
		    suppressed);
	if (!print)
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
