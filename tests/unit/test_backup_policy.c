/* Unit tests for pkg/controller/backup/policy: which tick is due (missed ticks
 * collapse into one, DST), the never-empty judgement, and retention's choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "controller/backup/policy.h"
#include "util/cron.h"
#include "util/error.h"
#include "util/timeutil.h"
#include "util/tz.h"

static int64_t ts(const char *rfc3339)
{
    lb_time t;
    if (lb_time_parse_rfc3339(&t, rfc3339) != 0)
        fail_msg("bad test time %s", rfc3339);
    return t.sec;
}

static void test_backup_due_tick_is_the_newest_missed_one(void **state)
{
    cron_schedule s;
    int64_t due, next;
    (void)state;
    assert_int_equal(cron_parse(&s, "*/5 * * * *"), 0);
    /* last tick acted on 10:00; operator down until 11:02: one run, for 11:00 */
    assert_int_equal(backup_schedule_due(&due, &next, &s, NULL, ts("2026-03-01T10:00:00Z"),
                                         ts("2026-03-01T11:02:30Z")),
                     0);
    assert_int_equal(due, ts("2026-03-01T11:00:00Z"));
    assert_int_equal(next, ts("2026-03-01T11:05:00Z"));
}

static void test_backup_due_nothing_before_the_next_tick(void **state)
{
    cron_schedule s;
    int64_t due, next;
    (void)state;
    assert_int_equal(cron_parse(&s, "0 1 * * 0"), 0);
    assert_int_equal(backup_schedule_due(&due, &next, &s, NULL, ts("2026-03-01T01:00:00Z"),
                                         ts("2026-03-03T12:00:00Z")),
                     0);
    assert_int_equal(due, 0);
    assert_int_equal(next, ts("2026-03-08T01:00:00Z"));
    /* the tick itself is due at its own second, once */
    assert_int_equal(backup_schedule_due(&due, &next, &s, NULL, ts("2026-03-01T01:00:00Z"),
                                         ts("2026-03-08T01:00:00Z")),
                     0);
    assert_int_equal(due, ts("2026-03-08T01:00:00Z"));
    assert_int_equal(backup_schedule_due(&due, &next, &s, NULL, ts("2026-03-08T01:00:00Z"),
                                         ts("2026-03-08T01:00:30Z")),
                     0);
    assert_int_equal(due, 0);
}

static void test_backup_due_after_a_year_long_outage_every_minute(void **state)
{
    cron_schedule s;
    int64_t due, next;
    (void)state;
    assert_int_equal(cron_parse(&s, "* * * * *"), 0);
    assert_int_equal(backup_schedule_due(&due, &next, &s, NULL, ts("2024-01-01T00:00:00Z"),
                                         ts("2026-01-01T00:00:30Z")),
                     0);
    assert_int_equal(due, ts("2026-01-01T00:00:00Z"));
    assert_int_equal(next, ts("2026-01-01T00:01:00Z"));
}

static void test_backup_due_in_a_time_zone_across_dst(void **state)
{
    cron_schedule s;
    lb_tz *tz = NULL;
    int64_t due, next;
    (void)state;
    if (lb_tz_load(&tz, "America/New_York") != 0)
        fail_msg("no zone database: %s", lb_error_last());
    assert_int_equal(cron_parse(&s, "30 2 * * *"), 0);
    /* 2026-03-08 02:30 does not exist in New York: fires at 03:00 EDT (07:00Z) */
    assert_int_equal(backup_schedule_due(&due, &next, &s, tz, ts("2026-03-07T07:30:00Z"),
                                         ts("2026-03-08T08:00:00Z")),
                     0);
    assert_int_equal(due, ts("2026-03-08T07:00:00Z"));
    lb_tz_free(tz);
}

static void test_backup_judge_rules(void **state)
{
    char why[256];
    backup_measure good = {1000, 500, 1};
    (void)state;
    backup_measure empty = {0, -1, 1};
    assert_int_equal(backup_judge(why, sizeof(why), &empty, NULL), BACKUP_BAD);
    assert_non_null(strstr(why, "0 bytes"));
    backup_measure nomanifest = {900, 500, 0};
    assert_int_equal(backup_judge(why, sizeof(why), &nomanifest, &good), BACKUP_BAD);
    assert_non_null(strstr(why, "manifest"));
    backup_measure zero_rows = {800, 0, 1};
    assert_int_equal(backup_judge(why, sizeof(why), &zero_rows, &good), BACKUP_SUSPICIOUS);
    assert_non_null(strstr(why, "0 rows/keys"));
    assert_non_null(strstr(why, "500"));
    backup_measure halved = {900, 200, 1};
    assert_int_equal(backup_judge(why, sizeof(why), &halved, &good), BACKUP_SUSPICIOUS);
    backup_measure small = {400, 480, 1};
    assert_int_equal(backup_judge(why, sizeof(why), &small, &good), BACKUP_SUSPICIOUS);
    assert_non_null(strstr(why, "400 bytes"));
    backup_measure fine = {700, 450, 1};
    assert_int_equal(backup_judge(why, sizeof(why), &fine, &good), BACKUP_GOOD);
    /* the first backup of an empty database is not suspicious: nothing to compare */
    assert_int_equal(backup_judge(why, sizeof(why), &zero_rows, NULL), BACKUP_GOOD);
    /* a snapshot: size and count unknown */
    backup_measure snap = {-1, -1, -1};
    assert_int_equal(backup_judge(why, sizeof(why), &snap, &good), BACKUP_GOOD);
}

static void test_backup_retention_keep_last(void **state)
{
    backup_copy c[] = {
        {100, true, false}, {400, true, false}, {200, true, false}, {300, true, false}};
    bool del[4];
    (void)state;
    assert_int_equal(backup_retention_select(del, c, 4, 2, -1, 1000), 2);
    assert_true(del[0]);  /* 100 */
    assert_false(del[1]); /* 400 newest */
    assert_true(del[2]);  /* 200 */
    assert_false(del[3]); /* 300 */
}

static void test_backup_retention_never_the_last_good_one(void **state)
{
    /* everything old; the newest is unfinished: the newest good one stays */
    backup_copy c[] = {{100, true, false}, {200, true, false}, {300, false, false}};
    bool del[3];
    (void)state;
    assert_int_equal(backup_retention_select(del, c, 3, -1, 10, 1000), 1);
    assert_true(del[0]);
    assert_false(del[1]);
    assert_false(del[2]); /* not finished: never deleted */
}

static void test_backup_retention_both_rules_and_keep(void **state)
{
    backup_copy c[] = {
        {100, true, false}, {900, true, false}, {950, true, false}, {50, true, true}};
    bool del[4];
    (void)state;
    /* keepLast 1 and maxAge 200 s at t=1000: 900 is beyond keepLast but young -> kept;
     * 100 old and beyond -> deleted; 50 is the current run's -> kept */
    assert_int_equal(backup_retention_select(del, c, 4, 1, 200, 1000), 1);
    assert_true(del[0]);
    assert_false(del[1]);
    assert_false(del[2]);
    assert_false(del[3]);
    assert_int_equal(backup_retention_select(del, NULL, 0, 1, -1, 1000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_due_tick_is_the_newest_missed_one),
        cmocka_unit_test(test_backup_due_nothing_before_the_next_tick),
        cmocka_unit_test(test_backup_due_after_a_year_long_outage_every_minute),
        cmocka_unit_test(test_backup_due_in_a_time_zone_across_dst),
        cmocka_unit_test(test_backup_judge_rules),
        cmocka_unit_test(test_backup_retention_keep_last),
        cmocka_unit_test(test_backup_retention_never_the_last_good_one),
        cmocka_unit_test(test_backup_retention_both_rules_and_keep),
    };
    return cmocka_run_group_tests_name("backup_policy", tests, NULL, NULL);
}
