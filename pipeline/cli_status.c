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
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"
#include "pipeline/waiting.h"

static json_t *waiting_json(const void *p)
{
    const pm_waiting_t *w = p;

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
        const pm_waiting_t *w = &x->waiting[i];
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
