/*
 * Unit tests of the retry schedule (reporter/deliver.c): exponential
 * back-off from retry_interval, a last try at the end of the give-up
 * window, then gave-up; permanent failures are never retried.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "deliver.h"

#define T0 1767225600LL		/* 2026-01-01T00:00:00Z */
#define MIN 60LL
#define HOUR 3600LL

static void test_first_failure_waits_one_interval(void **state)
{
	struct delivery_update u = deliver_failure_update(false, 0, 0, T0, 15 * MIN, 24 * HOUR, "HTTP 500");

	(void)state;
	assert_string_equal(u.state, "failed-temporary");
	assert_int_equal(u.attempts, 1);
	assert_int_equal(u.first_attempt, T0);
	assert_int_equal(u.last_attempt, T0);
	assert_int_equal(u.next_try, T0 + 15 * MIN);
	assert_string_equal(u.error, "HTTP 500");
}

static void test_backoff_doubles(void **state)
{
	static const long long waits[] = {15 * MIN, 30 * MIN, 60 * MIN, 120 * MIN, 240 * MIN};
	long long now = T0;

	(void)state;
	for (int i = 0; i < 5; i++) {
		struct delivery_update u = deliver_failure_update(false, i, i ? T0 : 0, now,
		    15 * MIN, 24 * HOUR, "x");

		assert_string_equal(u.state, "failed-temporary");
		assert_int_equal(u.attempts, i + 1);
		assert_int_equal(u.next_try - now, waits[i]);
		now = u.next_try;
	}
}

static void test_last_try_at_window_end_then_gave_up(void **state)
{
	/* 6th failure at T0+23h: 8h back-off would pass the window: try at T0+24h */
	struct delivery_update u = deliver_failure_update(false, 5, T0, T0 + 23 * HOUR,
	    15 * MIN, 24 * HOUR, "x");

	(void)state;
	assert_string_equal(u.state, "failed-temporary");
	assert_int_equal(u.next_try, T0 + 24 * HOUR);
	u = deliver_failure_update(false, 6, T0, T0 + 24 * HOUR, 15 * MIN, 24 * HOUR, "x");
	assert_string_equal(u.state, "gave-up");
	assert_int_equal(u.attempts, 7);
	assert_int_equal(u.next_try, 0);
}

static void test_permanent_is_not_retried(void **state)
{
	struct delivery_update u = deliver_failure_update(true, 2, T0, T0 + HOUR, 15 * MIN,
	    24 * HOUR, "HTTP 302 (redirects are not followed)");

	(void)state;
	assert_string_equal(u.state, "failed-permanent");
	assert_int_equal(u.attempts, 3);
	assert_int_equal(u.first_attempt, T0);
	assert_int_equal(u.next_try, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_failure_waits_one_interval),
		cmocka_unit_test(test_backoff_doubles),
		cmocka_unit_test(test_last_try_at_window_end_then_gave_up),
		cmocka_unit_test(test_permanent_is_not_retried),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
