/*
 * NAME
 *	logtime - the time stamp at the start of a mail log line
 * DESCRIPTION
 *	See logtime.h.
 */
#include "logtime.h"

#include <string.h>
#include <time.h>

static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), without the C library. */
static long long days_from_civil(int y, int m, int d)
{
	long long era;
	int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (int)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static long long iso_time(const char *s, size_t len)
{
	int y, mo, d, h, mi, se, oh, om;
	size_t i = 19;
	long long t;

	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':')
		return -1;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 60)
		return -1;
	if (i < len && s[i] == '.')
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	if (i < len && s[i] == 'Z')
		return t;
	if (i + 6 <= len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		return s[i] == '+' ? t - (oh * 3600 + om * 60) : t + (oh * 3600 + om * 60);
	}
	return -1;
}

/* Local "Mon dd hh:mm" in the year that puts it closest before now (+1 day). */
static long long classic_minute(const char *s, long long now)
{
	const char *m = NULL;
	struct tm tm, nowtm;
	time_t tnow = (time_t)now, t;
	int day, h, mi;

	for (int i = 0; i < 12; i++)
		if (memcmp(months + 3 * i, s, 3) == 0)
			m = months + 3 * i;
	if (m == NULL)
		return -1;
	day = s[4] == ' ' ? digits(s + 5, 1) : digits(s + 4, 2);
	h = digits(s + 7, 2);
	mi = digits(s + 10, 2);
	if (day < 1 || day > 31 || h < 0 || h > 23 || mi < 0 || mi > 59)
		return -1;
	localtime_r(&tnow, &nowtm);
	for (int back = 0; back < 2; back++) {
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = nowtm.tm_year - back;
		tm.tm_mon = (int)((m - months) / 3);
		tm.tm_mday = day;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_isdst = -1;
		if ((t = mktime(&tm)) == (time_t)-1)
			return -1;
		if ((long long)t <= now + 86400)
			return (long long)t;
	}
	return (long long)t;
}

long long logtime_parse(struct logtime_cache *c, const char *line, size_t len, long long now)
{
	int se;

	if (len >= 20 && line[0] >= '0' && line[0] <= '9')
		return iso_time(line, len);
	/* "Nov 23 21:16:29 " or "Nov  3 21:16:29 " */
	if (len < 16 || line[3] != ' ' || line[6] != ' ' || line[9] != ':' || line[12] != ':' ||
	    line[15] != ' ')
		return -1;
	if ((se = digits(line + 13, 2)) < 0 || se > 60)
		return -1;
	if (c->key[0] == '\0' || memcmp(c->key, line, 12) != 0 || c->now / 86400 != now / 86400) {
		long long m = classic_minute(line, now);

		if (m < 0)
			return -1;
		memcpy(c->key, line, 12);
		c->minute = m;
		c->now = now;
	}
	return c->minute + se;
}
