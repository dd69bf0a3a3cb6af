/*
 * Unit tests of logtime: the time stamps of mail log lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "logtime.h"

#define NOW 1795943789LL	/* 2026-11-29T09:16:29Z */

static long long lt(struct logtime_cache *c, const char *line, long long now)
{
	return logtime_parse(c, line, strlen(line), now);
}

static void test_iso(void **state)
{
	struct logtime_cache c = {{0}, 0, 0};

	(void)state;
	assert_int_equal(lt(&c, "2026-11-29T09:16:29Z host postfix/smtp[1]: x", NOW), NOW);
	assert_int_equal(lt(&c, "2026-11-29T09:16:29.123456+00:00 host x", NOW), NOW);
	assert_int_equal(lt(&c, "2026-11-29T10:16:29.5+01:00 host x", NOW), NOW);
	assert_int_equal(lt(&c, "2026-11-29T04:46:29-04:30 host x", NOW), NOW);
	assert_int_equal(lt(&c, "2024-02-29T00:00:00Z x", NOW), 1709164800LL);
	assert_int_equal(lt(&c, "1970-01-01T00:00:00Z x", NOW), 0);
	/* not time stamps */
	assert_int_equal(lt(&c, "2026-11-29 09:16:29 host x", NOW), -1);
	assert_int_equal(lt(&c, "2026-13-29T09:16:29Z host", NOW), -1);
	assert_int_equal(lt(&c, "2026-11-29T25:16:29Z host", NOW), -1);
	assert_int_equal(lt(&c, "2026-11-29T09:16:29 host x", NOW), -1);	/* no zone */
	assert_int_equal(lt(&c, "2026-11-29T09:16:29+0100 x", NOW), -1);
	assert_int_equal(lt(&c, "2026-11-29T09:1", NOW), -1);
}

static void test_classic(void **state)
{
	struct logtime_cache c = {{0}, 0, 0};

	(void)state;
	setenv("TZ", "UTC", 1);
	assert_int_equal(lt(&c, "Nov 29 09:16:29 host postfix/smtp[1]: x", NOW), NOW);
	/* the cached minute serves the next second, and a new minute is looked up */
	assert_int_equal(lt(&c, "Nov 29 09:16:30 host x", NOW), NOW + 1);
	assert_int_equal(lt(&c, "Nov 29 09:17:00 host x", NOW), NOW + 31);
	assert_int_equal(lt(&c, "Nov  3 00:00:00 host x", NOW), 1793664000LL);
	/* a stamp more than a day ahead of now is last year's */
	assert_int_equal(lt(&c, "Dec 31 23:59:59 host x", 1798761600LL /* 2027-01-01 */),
	    1798761599LL);
	assert_int_equal(lt(&c, "Nov 30 09:16:29 host x", NOW), NOW + 86400);
	assert_int_equal(lt(&c, "Dec  1 09:16:30 host x", NOW), NOW + 2 * 86400 + 1 - 365 * 86400);
	/* local time */
	setenv("TZ", "CET-1", 1);
	memset(&c, 0, sizeof(c));
	assert_int_equal(lt(&c, "Nov 29 10:16:29 host x", NOW), NOW);
	setenv("TZ", "UTC", 1);
	/* not time stamps */
	memset(&c, 0, sizeof(c));
	assert_int_equal(lt(&c, "Foo 29 09:16:29 host x", NOW), -1);
	assert_int_equal(lt(&c, "Nov 32 09:16:29 host x", NOW), -1);
	assert_int_equal(lt(&c, "Nov 29 9:16:29 host x", NOW), -1);
	assert_int_equal(lt(&c, "Nov 29 09:16:61 host x", NOW), -1);
	assert_int_equal(lt(&c, "Nov 29 09:16:29", NOW), -1);
	assert_int_equal(lt(&c, "postfix/smtp[1]: x", NOW), -1);
	assert_int_equal(lt(&c, "", NOW), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iso),
		cmocka_unit_test(test_classic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
