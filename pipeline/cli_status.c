/*
 * cli_status.c: what `pagemill status` shows beyond the queue (cli.c):
 * batches waiting in a hot folder for their marker (found by looking at
 * the configured hot folders, so only with --config), and the batches
 * intake rejected most recently (the catalog's batch.rejected events).
 * Both are read with the service up or down.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/monitor.h"
#include "pipeline/cli_int.h"
#include "pipeline/hotfolder.h"
#include "pipeline/pm.h"

static int add_waiting(cli_waiting_t **v, size_t *n, const char *hotfolder,
                       const char *name, int64_t since)
{
    cli_waiting_t *grown = pm_realloc(*v, (*n + 1) * sizeof(**v));

    if (grown == NULL)
        return PM_ENOMEM;
    *v = grown;
    grown[*n].hotfolder = pm_strdup(hotfolder);
    grown[*n].name = pm_strdup(name);
    grown[*n].since = since;
    (*n)++;
    return grown[*n - 1].hotfolder && grown[*n - 1].name ? 0 : PM_ENOMEM;
}

/* Folders in hot folder `h` (marker mode) without their marker. */
static int scan_one(const pm_hotfolder_cfg_t *h, cli_waiting_t **v, size_t *n)
{
    DIR *d = opendir(h->path);
    struct dirent *e;
    struct stat st, mk;
    char marker[4096];
    int err = 0;

    if (d == NULL)
        return 0; /* not there yet: nothing waits in it */
    while (err == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, PM_REJECTED_DIR) == 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        snprintf(marker, sizeof(marker), "%s/%s", e->d_name, h->marker);
        if (fstatat(dirfd(d), marker, &mk, AT_SYMLINK_NOFOLLOW) == 0)
            continue; /* complete: intake takes it at its next scan */
        err = add_waiting(v, n, h->name, e->d_name, (int64_t)st.st_mtime);
    }
    closedir(d);
    return err;
}

int cli_status_waiting(const pm_config_t *cfg, cli_waiting_t **out, size_t *n)
{
    int err = 0;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; err == 0 && i < cfg->nhotfolders; i++)
        if (cfg->hotfolders[i].marker != NULL)
            err = scan_one(&cfg->hotfolders[i], out, n);
    return err;
}

void cli_status_waiting_free(cli_waiting_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pm_free(v[i].hotfolder);
        pm_free(v[i].name);
    }
    pm_free(v);
}

static json_t *waiting_json(const void *p)
{
    const cli_waiting_t *w = p;

    return json_pack("{s:o, s:o, s:o}", "hotfolder", cli_jstr(w->hotfolder),
                     "batch", cli_jstr(w->name), "since", cli_jtime(w->since));
}

static json_t *rejected_json(const void *p)
{
    const pm_event_t *e = p;

    return json_pack("{s:o, s:s, s:o}", "at", cli_jtime(e->at), "reason",
                     pm_rejection_reason(e->detail), "detail",
                     cli_jstr(e->detail));
}

int cli_status_json_extra(json_t *doc, const cli_status_extra_t *x)
{
    return json_object_set_new(doc, "service_running",
                               json_boolean(x->running)) ||
           json_object_set_new(doc, "waiting_batches",
                               cli_jlist(x->waiting, x->nwaiting,
                                         sizeof(*x->waiting), waiting_json)) ||
           json_object_set_new(doc, "rejected_batches",
                               cli_jlist(x->rejected, x->nrejected,
                                         sizeof(*x->rejected), rejected_json));
}

void cli_status_print_extra(const cli_status_extra_t *x, int64_t now)
{
    char when[32];

    printf("\nwaiting for their marker:\n");
    if (x->nwaiting == 0)
        printf("none\n");
    for (size_t i = 0; i < x->nwaiting; i++) {
        const cli_waiting_t *w = &x->waiting[i];
        long long mins = now > w->since ? (now - w->since) / 60 : 0;

        printf("  %s/%s: for %lld min (since %s)\n", w->hotfolder, w->name,
               mins, cli_fmt_time(when, w->since));
    }
    printf("\nrejected batches (newest first):\n");
    if (x->nrejected == 0)
        printf("none\n");
    for (size_t i = 0; i < x->nrejected; i++) {
        const pm_event_t *e = &x->rejected[i];
        const char *d = e->detail ? e->detail : "?";

        printf("  %s  %.*s\n", cli_fmt_time(when, e->at), (int)strcspn(d, "\n"),
               d);
    }
}
