/*
 * intake_record.c: intake's catalog calls (intake.c has the steps), made
 * on the step's pool thread with intake's own session (s->intake_cat),
 * never on the loop: the work order check, the duplicate check, the job
 * recorded, the rejection's event. Each call waits at most PM__ANSWER_MS;
 * a lost session is opened again by the next step. A recording whose
 * answer was lost is settled by asking again (settle_lost_answer): a batch
 * is never rejected for the catalog's fault, never recorded twice.
 */
#define _GNU_SOURCE /* renameat2 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/intake_int.h"

/* Intake's own catalog session (see the top), opened at the first need
 * and again after it was lost: NULL when it cannot be (logged; the
 * batch is tried again at the next scan). */
pm_catalog_t *pm__intake_catalog(pm__serve_t *s)
{
    char msg[2048];
    pm_catalog_t *cat =
        pm__session_open(s, &s->intake_cat, NULL, msg, sizeof(msg));

    if (cat == NULL)
        pm_log(PM_LOG_ERROR, "intake", "%s", msg);
    return cat;
}

/* A batch that went to _rejected/: its "batch.rejected" event. */
void pm__intake_record_rejection(pm__intake_t *it)
{
    pm__serve_t *s = it->s;
    const char *why = it->why ? it->why : it->b->error;
    char name[PM_ESCAPED_MAX], *detail;
    pm_catalog_t *cat = pm__intake_catalog(s);

    if (cat == NULL)
        return; /* logged */
    pm_escape_name(it->b->name, name, sizeof(name));
    detail =
        pm_asprintf("hot folder %s, batch %s: %s",
                    pm_hotfolder_cfg(it->w->hf)->name, name, why ? why : "?");
    if (detail == NULL ||
        pm_event_add(cat, s->owner, "batch.rejected", 0, 0, detail) != 0)
        pm_log(PM_LOG_ERROR, "intake", "cannot record the rejection: %s",
               pm_catalog_errmsg(cat));
    pm_free(detail);
}

static const char what_wo[] =
    "Create the work order (pagemill workorder add NUMBER --account CODE) "
    "or correct the batch name or batch.ini, and move the batch back into "
    "the hot folder.";

/* The work order decides: go on (with the account), hold, or reject.
 * Returns -1 when the catalog failed (logged: the batch is left for the
 * next scan). */
int pm__intake_check_workorder(pm__intake_t *it, pm_catalog_t *cat)
{
    char name[PM_ESCAPED_MAX];
    pm_batch_t *b = it->b;
    pm_workorder_t wo = {0};
    int err = pm_workorder_get(cat, b->work_order, &wo);

    if (err == PM_ENOENT && pm_hotfolder_cfg(it->w->hf)->hold_unknown) {
        it->hold = pm_asprintf("unknown work order %s", b->work_order);
        it->account = b->account ? pm_strdup(b->account) : NULL;
    } else if (err == PM_ENOENT) {
        pm__intake_reject_here(
            it,
            pm_asprintf("work order %s is not in the catalog", b->work_order),
            what_wo);
    } else if (err != 0) {
        pm_log(PM_LOG_ERROR, "intake", "batch %s: work order %s: %s",
               pm_escape_name(b->name, name, sizeof(name)), b->work_order,
               pm_catalog_errmsg(cat));
        return -1;
    } else if (strcmp(wo.status, "open") != 0) {
        pm__intake_reject_here(
            it,
            pm_asprintf("work order %s is %s: it takes no new batches",
                        b->work_order, wo.status),
            what_wo);
    } else if (b->account != NULL && strcmp(b->account, wo.account) != 0) {
        pm__intake_reject_here(
            it,
            pm_asprintf("the batch's account %s (batch.ini or the hot "
                        "folder's) is not work order %s's account %s",
                        b->account, b->work_order, wo.account),
            what_wo);
    } else {
        it->account = pm_strdup(wo.account);
    }
    pm_workorder_cleanup(&wo);
    return 0;
}

/* Holds the job as a possible duplicate when its files were seen before. */
static void check_duplicate(pm__intake_t *it, pm_catalog_t *cat)
{
    char name[PM_ESCAPED_MAX];
    int64_t dup = 0;
    char *hold;

    if (pm_job_find_duplicate(cat, it->pages, it->npages, &dup) != 0) {
        pm_log(PM_LOG_ERROR, "intake", "batch %s: duplicate check: %s",
               pm_escape_name(it->b->name, name, sizeof(name)),
               pm_catalog_errmsg(cat));
        return;
    }
    if (dup == 0)
        return;
    hold = it->hold
               ? pm_asprintf("%s; possible duplicate of job %lld", it->hold,
                             (long long)dup)
               : pm_asprintf("possible duplicate of job %lld", (long long)dup);
    if (hold != NULL) {
        pm_free(it->hold);
        it->hold = hold;
    }
    it->duplicate_of = dup;
}
/* Moves `from` to `to` unless `to` exists; 0 or -errno (-EEXIST). */
static int move_noreplace(const char *from, const char *to)
{
    struct stat st;

    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    if (lstat(to, &st) == 0) /* a file system without RENAME_NOREPLACE */
        return -EEXIST;
    return rename(from, to) == 0 ? 0 : -errno;
}

/* Puts a batch taken into the spool back where the operator left it (the
 * catalog could not record it for want of space, which is no fault of
 * the batch): 0, or -errno when it stays in the spool. */
static int unspool(pm__intake_t *it)
{
    const char *hot = pm_hotfolder_cfg(it->w->hf)->path;
    char *dst = pm_asprintf("%s/%s", hot, it->b->name);
    char *src = it->b->is_file ? pm_asprintf("%s/%s", it->spooled, it->b->name)
                               : pm_strdup(it->spooled);
    int err = dst != NULL && src != NULL ? move_noreplace(src, dst) : PM_ENOMEM;

    if (err == 0 && it->b->is_file)
        rmdir(it->spooled);
    if (err == 0)
        err = pm_fsync_dir(hot);
    pm_free(dst);
    pm_free(src);
    return err;
}

/* Frees what stored_paths made. */
static void free_stored_paths(char *source, pm_page_input_t *v, size_t n)
{
    for (size_t k = 0; v != NULL && k < n; k++)
        pm_free((char *)v[k].src);
    pm_free(v);
    pm_free(source);
}

/* The batch's paths as the catalog records them (config/volume.h): the
 * spooled folder and, per page, its file. 0, or PM_ENOMEM (all freed). */
static int stored_paths(const pm_config_t *cfg, pm__intake_t *it, char **source,
                        pm_page_input_t **pages)
{
    pm_page_input_t *v = pm_calloc(it->npages + 1, sizeof(*v));
    int err = v == NULL ? PM_ENOMEM : pm_volume_store(cfg, it->spooled, source);

    for (size_t k = 0; err == 0 && k < it->npages; k++) {
        v[k] = it->pages[k];
        v[k].src = NULL;
        err = pm_volume_store(cfg, it->pages[k].src, (char **)&v[k].src);
    }
    if (err != 0) {
        free_stored_paths(*source, v, it->npages);
        *source = NULL;
        v = NULL;
    }
    *pages = v;
    return err;
}

/* The session was lost while recording the job of the batch spooled as
 * `source`: the job may have been committed with its answer lost. Asked
 * again on a new session: recorded (it->job), or not (the batch goes
 * back to its hot folder, taken again at a later scan), or, when the
 * catalog cannot say, the batch stays in the spool (the next start
 * reports it if no job records it). Never rejected for the catalog's
 * fault, never recorded twice. */
static void settle_lost_answer(pm__intake_t *it, const char *source)
{
    char name[PM_ESCAPED_MAX];
    pm_catalog_t *cat = pm__intake_catalog(it->s);
    int64_t job = 0;
    int err = cat != NULL ? pm_job_by_source(cat, source, &job) : PM_ECATALOG;

    pm_escape_name(it->b->name, name, sizeof(name));
    if (err == 0 && job > 0) {
        pm_log(PM_LOG_WARN, "intake",
               "batch %s: the catalog's session was lost with the answer; "
               "job %lld was recorded, found on a new session",
               name, (long long)job);
        it->job = job;
        return;
    }
    it->err = 1;
    if (err == 0 && unspool(it) == 0) { /* forgotten by the loop */
        pm_log(PM_LOG_WARN, "intake",
               "batch %s: not recorded (the catalog's session was lost); "
               "back in the hot folder, taken again at a later scan",
               name);
        return;
    }
    pm_log(PM_LOG_ERROR, "intake",
           "batch %s: the catalog's session was lost while recording its "
           "job, and whether it was recorded cannot be told now; it stays "
           "in the spool (%s); the next start reports it if no job records it",
           name, source);
}

#ifdef PM_TEST_HOOKS
/* Test hook (test builds only, like publish.c's): PAGEMILL_TEST_CUT_RECORD
 * names a flag file holding "before" or "after"; the first job record
 * that finds it removes it and cuts intake's session there (before the
 * job's statements, or after their commit, its answer lost), as a network
 * cut would. 1 when it cut. */
static int test_cut(pm_catalog_t *cat, const char *when)
{
    const char *flag = getenv("PAGEMILL_TEST_CUT_RECORD");
    char what[16] = "";
    FILE *fp;

    if (flag == NULL || *flag == '\0' || (fp = fopen(flag, "re")) == NULL)
        return 0;
    if (fgets(what, sizeof(what), fp) == NULL)
        what[0] = '\0';
    fclose(fp);
    what[strcspn(what, "\n")] = '\0';
    if (strcmp(what, when) != 0 || unlink(flag) != 0)
        return 0;
    pm_log(PM_LOG_WARN, "intake",
           "PAGEMILL_TEST_CUT_RECORD: intake's session cut %s the job's "
           "record (test hook)",
           when);
    pm_catalog_interrupt(cat);
    if (strcmp(when, "after") == 0) { /* the session learns it is gone */
        int64_t none = 0;

        (void)pm_job_by_source(cat, "", &none);
    }
    return 1;
}
#else
#define test_cut(cat, when) 0
#endif

/* Records the job of a batch taken into the spool: it->job; or, when
 * the catalog is full, the batch back in its hot folder
 * (it->space_lost); or, when the catalog refuses it, the batch rejected
 * so that it is not lost to a person. */
void pm__intake_record_job(pm__intake_t *it, pm_catalog_t *cat)
{
    char name[PM_ESCAPED_MAX];
    pm__serve_t *s = it->s;
    pm_batch_t *b = it->b;
    const pm_profile_t *p = pm_config_profile(s->cfg, b->profile);
    pm_page_input_t *pages = NULL;
    char *source = NULL;
    pm_job_t j = {0};
    int err;

    check_duplicate(it, cat);
    j.workorder = b->work_order;
    j.account = it->account;
    j.hotfolder = pm_hotfolder_cfg(it->w->hf)->name;
    j.profile = b->profile;
    j.batch = b->name;
    j.operator_name = b->operator_name;
    j.notes = b->notes;
    j.hold_reason = it->hold;
    j.duplicate_of = it->duplicate_of;
    j.bill_blank = p != NULL && p->bill_blank; /* fixed at intake */
    err = stored_paths(s->cfg, it, &source, &pages);
    j.source_path = source;
    if (err == 0) {
        (void)test_cut(cat, "before");
        err = pm_job_create(cat, &j, pages, it->npages, ACTOR_INTAKE, &it->job);
    }
    if (err == 0 && test_cut(cat, "after"))
        err = PM_ECATALOG; /* committed; the answer "lost" */
    if (err != 0 && source != NULL && !pm_catalog_connected(cat)) {
        settle_lost_answer(it, source);
        free_stored_paths(source, pages, it->npages);
        return;
    }
    free_stored_paths(source, pages, it->npages);
    if (err != 0 &&
        (pm__space_err(err) || pm__space_text(pm_catalog_errmsg(cat))) &&
        unspool(it) == 0) {
        it->space_lost = 1; /* the loop pauses the service */
        return;
    }
    if (err != 0) {
        pm_log(PM_LOG_ERROR, "intake", "batch %s: cannot record the job: %s",
               pm_escape_name(b->name, name, sizeof(name)),
               pm_catalog_errmsg(cat));
        pm__intake_reject_here(
            it,
            pm_asprintf("the catalog could not record the job: %s",
                        pm_catalog_errmsg(cat)),
            "Tell the system administrator; then move the batch "
            "back into the hot folder.");
    }
}
