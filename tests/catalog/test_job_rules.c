/*
 * test_job_rules.c: the jobs' backend-independent glue (catalog/job_rules.c)
 * on its own: the failed-pages text (named pages, "and N more", frames
 * counted from 1, file names without folders, running out of memory),
 * settling a job through a recording table of primitives (failed with its
 * pages named, or on to assembly; a primitive's error passed on), the
 * checks of a new job's pages, the status counts, the workers' state
 * names and the records' argument checks. A SQLite catalog in a temp
 * folder holds the messages; the backends' own use of these is
 * test_catalog.c's, on both backends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "catalog/ledger_rules.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

static const char SHA[] =
    "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";

/* A catalog in a fresh temp folder, for its message. */
static pm_catalog_t *open_catalog(void)
{
    char *path = pm_asprintf("%s/catalog.db", t_tmpdir());
    pm_catalog_t *cat = NULL;

    assert_non_null(path);
    assert_int_equal(pm_catalog_open(path, &cat), 0);
    pm_free(path);
    return cat;
}

static void close_catalog(pm_catalog_t *cat)
{
    pm_catalog_close(cat);
    t_tmpdir_cleanup();
}

/* ---- failed pages ---- */

static void no_failed_page_gives_no_text(void **state)
{
    pm__failed_pages_t f = {.count = 0};
    char *text = (char *)1;

    (void)state;
    assert_int_equal(pm__failed_pages_end(&f, &text), 0);
    assert_null(text);
}

static void failed_pages_are_named_with_file_and_frame(void **state)
{
    pm__failed_pages_t f = {.count = 0};
    char *text = NULL;

    (void)state;
    pm__failed_pages_add(&f, 3, "/in/box/scan_0003.tif", 0, "no image");
    pm__failed_pages_add(&f, 7, "plain.tif", 4, NULL);
    pm__failed_pages_add(&f, 9, NULL, 1, "lost");
    assert_int_equal(pm__failed_pages_end(&f, &text), 0);
    assert_string_equal(text, "page 3 (scan_0003.tif frame 1): no image; "
                              "page 7 (plain.tif frame 5): failed; "
                              "page 9 (? frame 2): lost");
    assert_int_equal(f.count, 0);
    pm_free(text);
}

static void failed_pages_past_twenty_are_counted(void **state)
{
    pm__failed_pages_t f = {.count = 0};
    char *text = NULL, *tail;

    (void)state;
    for (int page = 1; page <= PM__FAILED_PAGES_NAMED + 5; page++)
        pm__failed_pages_add(&f, page, "a.tif", page - 1, "bad");
    assert_int_equal(pm__failed_pages_end(&f, &text), 0);
    assert_non_null(strstr(text, "page 20 (a.tif frame 20): bad"));
    assert_null(strstr(text, "page 21 "));
    tail = strrchr(text, ';');
    assert_non_null(tail);
    assert_string_equal(tail, "; and 5 more failed pages");
    pm_free(text);
}

static void failed_pages_out_of_memory_is_enomem(void **state)
{
    pm__failed_pages_t f = {.count = 0};
    char *text = (char *)1;

    (void)state;
    pm_alloc_fail_at(1);
    pm__failed_pages_add(&f, 1, "a.tif", 0, "bad");
    pm_alloc_fail_at(0);
    assert_int_equal(pm__failed_pages_end(&f, &text), PM_ENOMEM);
    assert_null(text);
}

/* ---- settling a job through recorded primitives ---- */

typedef struct fake {
    int nfailed;   /* failed pages the job has */
    int fail_at;   /* which primitive fails (1-based call), 0: none */
    int calls;     /* primitive calls so far */
    char log[512]; /* what the primitives were asked */
} fake_t;

static fake_t fake;

static int fake_call(pm_catalog_t *cat, const char *what)
{
    size_t len = strlen(fake.log);

    snprintf(fake.log + len, sizeof(fake.log) - len, "%s%s", len ? "|" : "",
             what);
    if (++fake.calls == fake.fail_at)
        return pm__ledger_msg(cat, PM_EIO, "disk on fire");
    return 0;
}

static int fake_failed_pages(pm_catalog_t *cat, int64_t job,
                             pm__failed_pages_t *f)
{
    assert_int_equal(job, 42);
    for (int i = 1; i <= fake.nfailed; i++)
        pm__failed_pages_add(f, i, "x.tif", i - 1, "torn");
    return fake_call(cat, "pages");
}

static int fake_set_state(pm_catalog_t *cat, int64_t job, pm_job_state_t s,
                          int64_t now)
{
    char what[64];

    assert_int_equal(job, 42);
    assert_int_equal(now, 1000);
    snprintf(what, sizeof(what), "state %s", pm_job_state_name(s));
    return fake_call(cat, what);
}

static int fake_set_failed(pm_catalog_t *cat, int64_t job, const char *why,
                           int64_t now)
{
    char what[128];

    assert_int_equal(job, 42);
    assert_int_equal(now, 1000);
    snprintf(what, sizeof(what), "failed %s", why);
    return fake_call(cat, what);
}

static int fake_event(pm_catalog_t *cat, int64_t at, const char *actor,
                      const char *kind, int64_t job, int page,
                      const char *detail)
{
    char what[160];

    assert_int_equal(at, 1000);
    assert_int_equal(job, 42);
    assert_int_equal(page, 0);
    snprintf(what, sizeof(what), "event %s %s %s", actor, kind,
             detail ? detail : "-");
    return fake_call(cat, what);
}

static const pm__ledger_io_t fake_ledger = {.event_insert = fake_event};

static const pm__job_io_t fake_io = {
    .ledger = &fake_ledger,
    .failed_pages = fake_failed_pages,
    .set_state = fake_set_state,
    .set_failed = fake_set_failed,
};

static void settle_without_failed_pages_assembles(void **state)
{
    pm_catalog_t *cat = open_catalog();

    (void)state;
    memset(&fake, 0, sizeof(fake));
    assert_int_equal(pm__job_settle(&fake_io, cat, 42, 1000), 0);
    assert_string_equal(fake.log, "pages|state assembling|"
                                  "event catalog job.assembling -");
    close_catalog(cat);
}

static void settle_with_failed_pages_fails_naming_them(void **state)
{
    pm_catalog_t *cat = open_catalog();

    (void)state;
    memset(&fake, 0, sizeof(fake));
    fake.nfailed = 2;
    assert_int_equal(pm__job_settle(&fake_io, cat, 42, 1000), 0);
    assert_string_equal(fake.log,
                        "pages|failed page 1 (x.tif frame 1): torn; page 2 "
                        "(x.tif frame 2): torn|event catalog job.failed "
                        "page 1 (x.tif frame 1): torn; page 2 (x.tif frame "
                        "2): torn");
    close_catalog(cat);
}

static void settle_passes_a_primitive_error_on(void **state)
{
    pm_catalog_t *cat = open_catalog();

    (void)state;
    for (int at = 1; at <= 3; at++) {
        memset(&fake, 0, sizeof(fake));
        fake.nfailed = at == 2 ? 0 : 1;
        fake.fail_at = at;
        assert_int_equal(pm__job_settle(&fake_io, cat, 42, 1000), PM_EIO);
        assert_int_equal(fake.calls, at); /* nothing after the error */
        assert_string_equal(pm_catalog_errmsg(cat), "disk on fire");
    }
    close_catalog(cat);
}

static void settle_out_of_memory_is_enomem_with_message(void **state)
{
    pm_catalog_t *cat = open_catalog();

    (void)state;
    memset(&fake, 0, sizeof(fake));
    fake.nfailed = 1;
    pm_alloc_fail_at(1);
    assert_int_equal(pm__job_settle(&fake_io, cat, 42, 1000), PM_ENOMEM);
    pm_alloc_fail_at(0);
    assert_string_equal(fake.log, "pages");
    assert_string_equal(pm_catalog_errmsg(cat), "out of memory");
    close_catalog(cat);
}

/* ---- a new job's pages ---- */

static void pages_are_checked_with_the_page_named(void **state)
{
    pm_catalog_t *cat = open_catalog();
    pm_page_input_t pages[2] = {{.src = "a.tif", .frame = 0, .sha256 = SHA},
                                {.src = "b.tif", .frame = 0, .sha256 = SHA}};
    char sha[65];

    (void)state;
    assert_int_equal(pm__job_check_pages(cat, pages, 2), 0);
    assert_int_equal(pm__job_check_pages(cat, pages, 0), PM_EINVAL);
    assert_string_equal(pm_catalog_errmsg(cat),
                        "a job needs 1 to 2147483647 pages");
    pages[1].frame = -1;
    assert_int_equal(pm__job_check_pages(cat, pages, 2), PM_EINVAL);
    assert_string_equal(pm_catalog_errmsg(cat), "page 2 has no source file");
    pages[1].frame = 0;
    pages[1].sha256 = "abc";
    assert_int_equal(pm__job_check_pages(cat, pages, 2), PM_EINVAL);
    assert_string_equal(pm_catalog_errmsg(cat),
                        "page 2: the checksum is not 64 hex digits");
    assert_int_equal(pm__job_check_checksums(cat, pages, 1), 0);
    assert_int_equal(pm__job_check_checksums(cat, pages, 2), PM_EINVAL);
    assert_int_equal(pm__job_sha256_normalize(SHA, sha), 0);
    assert_string_equal(sha, "0123456789abcdef0123456789abcdef0123456789abcd"
                             "ef0123456789abcdef");
    assert_int_equal(pm__job_sha256_normalize(NULL, sha), -1);
    close_catalog(cat);
}

static void created_detail_says_pages_and_hold(void **state)
{
    char wo[] = "WO-1", why[] = "check the order";
    pm_job_t j = {.workorder = wo};
    char *d;

    (void)state;
    d = pm__job_created_detail(&j, 12);
    assert_string_equal(d, "12 pages");
    pm_free(d);
    j.hold_reason = why;
    d = pm__job_created_detail(&j, 1);
    assert_string_equal(d, "1 pages, held: check the order");
    pm_free(d);
}

/* ---- status and workers ---- */

static void status_counts_land_in_their_fields(void **state)
{
    pm_status_t s;

    (void)state;
    memset(&s, 0, sizeof(s));
    pm__status_count_jobs(&s, "queued", 1);
    pm__status_count_jobs(&s, "running", 2);
    pm__status_count_jobs(&s, "assembling", 3);
    pm__status_count_jobs(&s, "held", 4);
    pm__status_count_jobs(&s, "failed", 5);
    pm__status_count_jobs(&s, "done", 6);
    pm__status_count_jobs(&s, "cancelled", 7);
    pm__status_count_jobs(&s, "bogus", 8);
    pm__status_count_pages(&s, "queued", 9);
    pm__status_count_pages(&s, "running", 10);
    assert_int_equal(s.jobs_queued, 1);
    assert_int_equal(s.jobs_running, 2);
    assert_int_equal(s.jobs_assembling, 3);
    assert_int_equal(s.jobs_held, 4);
    assert_int_equal(s.jobs_failed, 5);
    assert_int_equal(s.jobs_done, 6);
    assert_int_equal(s.queued_pages, 9);
    assert_int_equal(s.running_pages, 10);
}

static void worker_states_parse_their_names(void **state)
{
    (void)state;
    for (int i = PM_WORKER_STARTING; i <= PM_WORKER_BUSY; i++)
        assert_int_equal(
            pm__worker_state_parse(pm_worker_state_name((pm_worker_state_t)i)),
            i);
    assert_int_equal(pm__worker_state_parse("napping"), PM_WORKER_STARTING);
    assert_int_equal(pm__worker_state_parse(NULL), PM_WORKER_STARTING);
    assert_string_equal(pm_worker_state_name((pm_worker_state_t)9), "?");
}

static void identifiers_refused_with_the_reason(void **state)
{
    pm_catalog_t *cat = open_catalog();

    (void)state;
    assert_int_equal(pm__ident_refused(cat, PM_IDENT_ACCOUNT, "ACME"), 0);
    assert_int_equal(pm__ident_refused(cat, PM_IDENT_ACCOUNT, "-x"), 1);
    assert_string_equal(pm_catalog_errmsg(cat),
                        "an account code must start with a letter or digit");
    close_catalog(cat);
}

static void records_arguments_are_checked(void **state)
{
    pm_catalog_t *cat = open_catalog();
    char code[] = "ACME", name[] = "Acme", bad[] = "-x";
    pm_account_t a = {.code = code, .name = name};
    pm_workorder_t w = {.number = code, .account = code};

    (void)state;
    assert_int_equal(pm__check_job_id(cat, 0), 0);
    assert_int_equal(pm__check_job_id(cat, -3), PM_EINVAL);
    assert_string_equal(pm_catalog_errmsg(cat), "bad job id -3");
    assert_int_equal(pm__check_event(cat, "op", "note", 0, 0), 0);
    assert_int_equal(pm__check_event(cat, "op", NULL, 0, 0), PM_EINVAL);
    assert_string_equal(pm_catalog_errmsg(cat),
                        "an event needs an actor and a kind");
    assert_int_equal(pm__check_account(cat, &a, "op"), 0);
    assert_int_equal(pm__check_account(cat, &a, NULL), PM_EINVAL);
    assert_string_equal(pm_catalog_errmsg(cat),
                        "an account needs a code and a name");
    a.code = bad;
    assert_int_equal(pm__check_account(cat, &a, "op"), PM_EINVAL);
    assert_int_equal(pm__check_workorder(cat, &w, "op"), 0);
    w.account = NULL;
    assert_int_equal(pm__check_workorder(cat, &w, "op"), PM_EINVAL);
    assert_string_equal(pm_catalog_errmsg(cat),
                        "a work order needs a number and an account");
    w.account = code;
    w.number = bad;
    assert_int_equal(pm__check_workorder(cat, &w, "op"), PM_EINVAL);
    assert_int_equal(pm__check_workorder_close(cat, "WO-1", "op"), 0);
    assert_int_equal(pm__check_workorder_close(cat, NULL, "op"), PM_EINVAL);
    assert_string_equal(pm_catalog_errmsg(cat),
                        "closing needs a number and an actor");
    close_catalog(cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_failed_page_gives_no_text),
        cmocka_unit_test(failed_pages_are_named_with_file_and_frame),
        cmocka_unit_test(failed_pages_past_twenty_are_counted),
        cmocka_unit_test(failed_pages_out_of_memory_is_enomem),
        cmocka_unit_test(settle_without_failed_pages_assembles),
        cmocka_unit_test(settle_with_failed_pages_fails_naming_them),
        cmocka_unit_test(settle_passes_a_primitive_error_on),
        cmocka_unit_test(settle_out_of_memory_is_enomem_with_message),
        cmocka_unit_test(pages_are_checked_with_the_page_named),
        cmocka_unit_test(created_detail_says_pages_and_hold),
        cmocka_unit_test(status_counts_land_in_their_fields),
        cmocka_unit_test(worker_states_parse_their_names),
        cmocka_unit_test(identifiers_refused_with_the_reason),
        cmocka_unit_test(records_arguments_are_checked),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
