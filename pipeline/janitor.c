/*
 * janitor.c: `pagemill janitor`, retention of a job's spooled files
 * (docs/archival.md).
 *
 *   pagemill janitor [--config FILE] [--catalog DB]
 *
 * For every done job whose profile has `keep_days = N` (N > 0) and that
 * finished at least N days ago, the janitor checks the job's published
 * bag (pm_bag_verify) and records the result as verify --all does
 * ("bag.verified" or "bag.invalid"). Only a valid bag lets it remove the
 * job's spooled originals (the batch folder the job names) and its page
 * artifacts (<spool>/job-<id>/), each only when it lies in the spool,
 * and record "retention.removed" naming them. An invalid bag keeps
 * everything; a job not yet N days old is not looked at. Exit 1 when a
 * bag was invalid or a removal failed.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "config/volume.h"
#include "pipeline/bag.h"
#include "pipeline/base/pm.h"

#define DAY_S 86400

static const char usage[] =
    "usage: pagemill janitor [--config FILE] [--catalog DB]\n"
    "Removes the spooled originals and page artifacts of every done job\n"
    "whose profile sets keep_days, once that many days have passed since\n"
    "it finished and its published bag verifies; records each removal\n"
    "(and each check) as a catalog event. An invalid bag keeps "
    "everything.\n";

typedef struct sweep {
    pm_catalog_t *cat;
    const pm_config_t *cfg;
    const char *actor;
    char *spool; /* the spool's real path */
    int removed, kept, bad;
} sweep_t;

static void add_event(sweep_t *s, const char *kind, int64_t job,
                      const char *detail)
{
    if (pm_event_add(s->cat, s->actor, kind, job, 0, detail) != 0)
        fprintf(stderr, "pagemill janitor: job %lld: catalog: %s\n",
                (long long)job, pm_catalog_errmsg(s->cat));
}

static void on_fault(void *arg, const char *problem)
{
    char **text = arg;
    char *t =
        *text ? pm_asprintf("%s; %s", *text, problem) : pm_strdup(problem);

    if (t != NULL) {
        pm_free(*text);
        *text = t;
    }
}

/* Checks the job's bag and records the result; 1 when valid. */
static int bag_valid(sweep_t *s, const pm_job_t *j)
{
    char *faults = NULL, *detail;
    int ok = j->output_path != NULL &&
             pm_bag_verify(j->output_path, on_fault, &faults) == 0;

    detail = pm_asprintf("%s%s%s", j->output_path ? j->output_path : "-",
                         faults ? ": " : "", faults ? faults : "");
    add_event(s, ok ? "bag.verified" : "bag.invalid", j->id, detail);
    if (!ok)
        fprintf(stderr,
                "pagemill janitor: job %lld: bag %s invalid, everything "
                "kept: %s\n",
                (long long)j->id, j->output_path ? j->output_path : "-",
                faults ? faults : "no published bag");
    pm_free(detail);
    pm_free(faults);
    return ok;
}

/* 1 when `path` exists and lies inside the spool (never the spool). */
static int in_spool(const sweep_t *s, const char *path)
{
    char real[PATH_MAX];
    size_t n = strlen(s->spool);

    if (path == NULL || realpath(path, real) == NULL)
        return 0;
    return strncmp(real, s->spool, n) == 0 && real[n] == '/' &&
           real[n + 1] != '\0';
}

/* Removes `path` when in the spool; appends it to *done. 0 or -errno. */
static int remove_one(sweep_t *s, const char *path, char **done)
{
    char *t;
    int err;

    if (!in_spool(s, path))
        return 0;
    err = pm_rmtree(path);
    if (err != 0) {
        fprintf(stderr, "pagemill janitor: cannot remove %s: %s\n", path,
                pm_strerror(err));
        return err;
    }
    t = *done ? pm_asprintf("%s, %s", *done, path) : pm_strdup(path);
    if (t != NULL) {
        pm_free(*done);
        *done = t;
    }
    return 0;
}

static void sweep_local(sweep_t *s, const pm_job_t *j, int64_t now)
{
    const pm_profile_t *p = pm_config_profile(s->cfg, j->profile);
    char *pages, *done = NULL, *detail;
    int err;

    if (p == NULL || p->keep_days <= 0 || j->finished_at <= 0 ||
        now - j->finished_at < (int64_t)p->keep_days * DAY_S)
        return;
    pages = pm_asprintf("%s/job-%lld", s->cfg->spool, (long long)j->id);
    if (!in_spool(s, j->source_path) && !in_spool(s, pages)) {
        pm_free(pages);
        return; /* removed before */
    }
    if (!bag_valid(s, j)) {
        s->kept++;
        s->bad++;
        pm_free(pages);
        return;
    }
    err = remove_one(s, j->source_path, &done);
    if (err == 0)
        err = remove_one(s, pages, &done);
    s->bad += err != 0;
    if (done != NULL) {
        detail = pm_asprintf("removed after %d days: %s", p->keep_days, done);
        add_event(s, "retention.removed", j->id, detail ? detail : done);
        printf("job %lld: %s\n", (long long)j->id, detail ? detail : done);
        pm_free(detail);
        s->removed++;
    }
    pm_free(done);
    pm_free(pages);
}

/* Sweeps job `stored` with its paths made this machine's (volume.h). */
static void sweep_job(sweep_t *s, const pm_job_t *stored, int64_t now)
{
    pm_job_t local = *stored;

    local.source_path = pm_volume_local(s->cfg, stored->source_path, "janitor");
    local.output_path = pm_volume_local(s->cfg, stored->output_path, "janitor");
    if ((stored->source_path && !local.source_path) ||
        (stored->output_path && !local.output_path)) {
        fprintf(stderr,
                "pagemill janitor: job %lld: its paths do not resolve on "
                "this machine; everything kept\n",
                (long long)stored->id);
        s->kept++;
        s->bad++;
    } else {
        sweep_local(s, &local, now);
    }
    pm_free(local.source_path);
    pm_free(local.output_path);
}

static int run(const char *config, const char *catalog)
{
    const char *user = getenv("USER");
    pm_config_t *cfg = NULL;
    char *actor = NULL;
    sweep_t s = {0};
    pm_job_t *jobs = NULL;
    size_t n = 0;
    int err = pm_config_load_or_defaults("janitor", config, &cfg);

    if (err != 0)
        return PM_EXIT_USAGE;
    s.cfg = cfg;
    s.spool = realpath(cfg->spool, NULL);
    catalog = catalog ? catalog : cfg->catalog;
    err = pm_catalog_open(catalog, &s.cat);
    if (err != 0) {
        fprintf(stderr, "pagemill janitor: cannot open catalog %s: %s\n",
                catalog, pm_strerror(err));
        free(s.spool);
        pm_config_free(cfg);
        return PM_EXIT_FAILURE;
    }
    actor = user && user[0] ? pm_asprintf("janitor:%s", user)
                            : pm_strdup("janitor");
    s.actor = actor ? actor : "janitor";
    if (s.spool == NULL) {
        err = -errno;
        fprintf(stderr, "pagemill janitor: spool %s: %s\n", cfg->spool,
                pm_strerror(err));
    } else {
        err = pm_job_list(s.cat, PM_JOB_DONE, NULL, 0, &jobs, &n);
    }
    if (err != 0 && s.spool != NULL)
        fprintf(stderr, "pagemill janitor: catalog %s: %s\n", catalog,
                pm_catalog_errmsg(s.cat));
    for (size_t i = 0; err == 0 && i < n; i++)
        sweep_job(&s, &jobs[i], (int64_t)time(NULL));
    printf("spooled files of %d job%s removed, %d kept (invalid bag)\n",
           s.removed, s.removed == 1 ? "" : "s", s.kept);
    pm_job_list_free(jobs, n);
    pm_catalog_close(s.cat);
    free(s.spool);
    pm_config_free(cfg);
    pm_free(actor);
    return err == 0 && s.bad == 0 ? PM_EXIT_OK : PM_EXIT_FAILURE;
}

int pm_janitor_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"catalog", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config = NULL, *catalog = NULL;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 'D')
            catalog = optarg;
        else {
            fputs(usage, c == 'h' ? stdout : stderr);
            return c == 'h' ? PM_EXIT_OK : PM_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fputs(usage, stderr);
        return PM_EXIT_USAGE;
    }
    return run(config, catalog);
}
