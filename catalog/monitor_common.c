/*
 * monitor_common.c: the web interface's reads, the part that is the same
 * on every backend (monitor.h, monitor_int.h): the stage histograms'
 * buckets and how a time is counted in them, the rejection reasons, and
 * freeing the breakdowns. The SQL is each backend's (monitor.c,
 * pg_monitor.c).
 */
#include <assert.h>
#include <string.h>

#include "catalog/monitor.h"
#include "catalog/monitor_int.h"
#include "pipeline/base/pm.h"

const double pm_stage_bucket_ms[PM_STAGE_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000};

const char *const pm_stage_names[PM_STAGES] = {
    "decode", "orient", "deskew", "blank", "ocr", "encode", "total"};

/* ---- histograms ---- */

int pm__stage_bucket(double ms)
{
    int b = PM_STAGE_BUCKETS;

    while (b > 0 && ms <= pm_stage_bucket_ms[b - 1])
        b--;
    return b;
}

void pm__stage_hist_add(pm_stage_hist_t *h, int first, int64_t count,
                        double sum_ms)
{
    assert(first >= 0 && first <= PM_STAGE_BUCKETS && count >= 0);
    h->count += count;
    h->sum_ms += sum_ms;
    for (int b = first; b < PM_STAGE_BUCKETS; b++)
        h->le[b] += count;
}

/* ---- rejections ---- */

const char *pm_rejection_reason(const char *detail)
{
    static const struct {
        const char *text, *reason;
    } known[] = {
        {"is not in the catalog", "unknown_work_order"},
        {"takes no new batches", "closed_work_order"},
        {"is not work order", "account_mismatch"},
        {"is not in the configuration", "unknown_profile"},
        {"expected_pages", "page_count"},
        {"zero-byte file", "unreadable_page"},
        {"not a supported image", "unreadable_page"},
        {"not a readable", "unreadable_page"},
        {"page counting", "unreadable_page"},
        {"the catalog could not record", "catalog"},
    };

    for (size_t i = 0; detail != NULL && i < sizeof(known) / sizeof(*known);
         i++)
        if (strstr(detail, known[i].text) != NULL)
            return known[i].reason;
    return "other";
}

/* ---- breakdowns ---- */

void pm__monitor_count_cleanup(void *item)
{
    pm_free(((pm_monitor_count_t *)item)->name);
}

void pm_monitor_count_list_free(pm_monitor_count_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        pm__monitor_count_cleanup(&v[i]);
    pm_free(v);
}
