/*
 * sched_end.c: a job's end recorded in the catalog off the loop (catwork.c).
 *
 * When a job's folder is published (or its assembly fails), what the
 * catalog is told (the job done with its document, or failed with why)
 * and what it is asked back (the billable pages for the log, the failed
 * job for its alert) run as one catwork item, so a catalog that answers
 * slowly delays the record, never the loop.
 *
 * Until its item answered, the job counts as being assembled here
 * (pm__sched_assembling: no collection starts it again); a drain waits
 * for the item as for any catwork (pm__catwork_busy). A record that fails
 * leaves the job assembling; the next collection finds the published
 * folder, checks it and records the job done (or fails it again).
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/scheduler_int.h"

#define ESC(v, buf) pm_escape_name((v), (buf), sizeof(buf))

struct pm__end {
    int64_t job;
    char *stored; /* done: the folder as the catalog stores it; NULL: failed */
    char sha[PM_SHA256_HEX];
    int pdf_pages;
    char *text;       /* failed: why; done: the log line's tail */
    size_t npages;    /* done: the pages published */
    int64_t billable; /* done: read back */
    pm_job_t j;       /* failed: read back, for its alert */
    int have_j;
    int err;         /* the record's */
    pm__end_t *next; /* s->ending */
};

static void end_free(pm__end_t *e)
{
    pm_free(e->stored);
    pm_free(e->text);
    pm_job_cleanup(&e->j);
    pm_free(e);
}

static void end_unlink(pm__serve_t *s, pm__end_t *e)
{
    for (pm__end_t **p = &s->ending; *p != NULL; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            return;
        }
    }
    assert(!"an end not in s->ending");
}

static int end_work(pm_catalog_t *cat, void *arg)
{
    pm__end_t *e = arg;
    int64_t now = pm__serve_now();

    if (e->stored != NULL) {
        e->err = pm_job_finish_doc(cat, e->job, e->stored, e->sha, e->pdf_pages,
                                   now);
        if (e->err == 0 && pm_billable_count(cat, e->job, 0, &e->billable) != 0)
            e->billable = -1; /* recorded; only the log's figure is lost */
        return e->err;
    }
    e->err = pm_job_fail(cat, e->job, e->text, now);
    if (e->err == 0)
        e->have_j = pm_job_get(cat, e->job, &e->j) == 0;
    return e->err;
}

static void end_done(pm__serve_t *s, void *arg, int err, const char *msg)
{
    pm__end_t *e = arg;

    end_unlink(s, e);
    if (err == 0 && e->stored != NULL) {
        pm_log(PM_LOG_INFO, "sched",
               "job=%lld done: %zu pages, %lld billable, %s", (long long)e->job,
               e->npages, (long long)e->billable, e->text);
    } else if (err == 0) {
        if (e->have_j)
            pm__sched_alert_job_failed(s, &e->j);
    } else if (e->stored != NULL) {
        /* Still assembling: a later round finds the folder, checks it and
         * records the job done. */
        pm_log(PM_LOG_ERROR, "sched", "job=%lld: %s, but: %s",
               (long long)e->job, e->text,
               err == -ECANCELED ? "stopped before the catalog recorded it"
                                 : msg);
    } else {
        pm_log(PM_LOG_ERROR, "sched",
               "job=%lld: cannot record its failure: %s (it stays "
               "assembling, tried again by the next collection)",
               (long long)e->job,
               err == -ECANCELED ? "stopped before the catalog recorded it"
                                 : msg);
    }
    if (err != 0 && pm__space_err(e->err))
        pm__space_lost(s, s->catalog_path);
    end_free(e); /* catwork (or end_give's caller) sees to the stop */
}

static void end_give(pm__serve_t *s, pm__end_t *e)
{
    int err;

    if (e->text == NULL) {
        pm_log(PM_LOG_ERROR, "sched",
               "job=%lld: out of memory recording its end (it stays "
               "assembling)",
               (long long)e->job);
        end_free(e);
        return;
    }
    e->next = s->ending;
    s->ending = e;
    if ((err = pm__catwork_give(s, end_work, end_done, e)) != 0) {
        /* Closing (or out of memory): the job stays assembling. */
        end_done(s, e, err, err == -ECANCELED ? "closed" : "out of memory");
    }
}

void pm__sched_end_done(pm__serve_t *s, const assembly_t *a)
{
    char esc[PM_ESCAPED_MAX];
    pm__end_t *e = pm_calloc(1, sizeof(*e));

    if (e == NULL) {
        pm_log(PM_LOG_ERROR, "sched",
               "job=%lld: out of memory recording it done (it stays "
               "assembling)",
               (long long)a->job);
        return;
    }
    e->job = a->job;
    e->stored = pm_volume_stored(s->cfg, a->final);
    memcpy(e->sha, a->sha, sizeof(e->sha));
    e->pdf_pages = a->pdf_pages;
    e->npages = a->npages;
    e->text = e->stored == NULL
                  ? NULL
                  : pm_asprintf("published to %s (PDF SHA-256 %s); archival "
                                "outputs: TIFF master %.1f ms, ALTO %.1f ms, "
                                "bag %.1f ms + %.1f ms after the report",
                                ESC(a->final, esc), a->sha, a->result.tiff_ms,
                                a->times.alto, a->times.bag, a->times.finish);
    end_give(s, e);
}

void pm__sched_end_failed(pm__serve_t *s, int64_t job, const char *why)
{
    char esc[PM_ESCAPED_MAX];
    pm__end_t *e = pm_calloc(1, sizeof(*e));

    pm_log(PM_LOG_ERROR, "sched", "job=%lld failed: %s", (long long)job,
           ESC(why, esc));
    if (e == NULL) {
        pm_log(PM_LOG_ERROR, "sched",
               "job=%lld: out of memory recording its failure (it stays "
               "assembling)",
               (long long)job);
        return;
    }
    e->job = job;
    e->text = pm_strdup(why);
    end_give(s, e);
}

int pm__sched_ending(const pm__serve_t *s, int64_t job)
{
    for (const pm__end_t *e = s->ending; e != NULL; e = e->next)
        if (e->job == job)
            return 1;
    return 0;
}
