/*
 * Unit tests of heartbeat.c: which thread the watchdog calls overdue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "heartbeat.h"
#include "util.h"

/* Idle threads have no deadline, however long they wait. */
static void test_idle_never_overdue(void **state)
{
	struct heartbeat *hb = heartbeat_register("reader");
	long long late = 0;

	(void)state;
	heartbeat_idle(hb);
	assert_null(heartbeat_overdue(monotonic_ms() + 86400000LL, &late));
	heartbeat_unregister(hb);
}

/* Busy: on time until the bound has passed, then named with how late. */
static void test_busy_bound(void **state)
{
	struct heartbeat *a = heartbeat_register("parser");
	struct heartbeat *b = heartbeat_register("writer");
	long long now = monotonic_ms(), late = 0;

	(void)state;
	heartbeat_idle(a);
	heartbeat_busy(b, 5000);
	assert_null(heartbeat_overdue(now + 4000, &late));
	assert_string_equal(heartbeat_overdue(now + 5100 + 2000, &late), "writer");
	assert_true(late >= 2000 && late <= 2100);
	heartbeat_busy(b, 60000);	/* reported again: on time */
	assert_null(heartbeat_overdue(now + 7100, &late));
	heartbeat_unregister(a);
	heartbeat_unregister(b);
}

/* A thread that ended is overdue at once, late -1; unregistered, never. */
static void test_dead_and_unregistered(void **state)
{
	struct heartbeat *hb = heartbeat_register("socketmap");
	long long late = 0;

	(void)state;
	heartbeat_dead(hb);
	assert_string_equal(heartbeat_overdue(monotonic_ms(), &late), "socketmap");
	assert_int_equal(late, -1);
	heartbeat_unregister(hb);
	assert_null(heartbeat_overdue(monotonic_ms(), &late));
}

/* Beyond HEARTBEAT_MAX: a heartbeat that works but is never checked. */
static void test_table_full(void **state)
{
	struct heartbeat *hb[HEARTBEAT_MAX + 1];
	long long late = 0;

	(void)state;
	for (int i = 0; i <= HEARTBEAT_MAX; i++) {
		hb[i] = heartbeat_register("t");
		assert_non_null(hb[i]);
	}
	heartbeat_dead(hb[HEARTBEAT_MAX]);
	assert_null(heartbeat_overdue(monotonic_ms(), &late));
	heartbeat_dead(hb[0]);
	assert_non_null(heartbeat_overdue(monotonic_ms(), &late));
	for (int i = 0; i <= HEARTBEAT_MAX; i++)
		heartbeat_unregister(hb[i]);
	assert_null(heartbeat_overdue(monotonic_ms(), &late));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_never_overdue),
		cmocka_unit_test(test_busy_bound),
		cmocka_unit_test(test_dead_and_unregistered),
		cmocka_unit_test(test_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
