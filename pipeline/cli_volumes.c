/*
 * cli_volumes.c: `pagemill volumes rewrite`: a catalog written before
 * [volume NAME] sections existed holds absolute paths; this turns every
 * one under a volume of this machine's configuration into the
 * "NAME:relative" form (config/volume.h; the longest volume holding it,
 * as when a path is stored), in one transaction (pm_catalog_rewrite_paths,
 * catalog/paths.h), and says what it did per column and which paths lie
 * under no volume (left as they are). Paths already in the NAME: form are
 * left, so a second run changes nothing. Refused while a coordinator runs
 * on the catalog: it holds paths it read before (the coordinator lock, as
 * a second `serve` is refused); a dry run only reads, and is not.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "catalog/paths.h"
#include "config/volume.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"

/* Paths under no volume that the report names; the rest are counted. */
#define OUTSIDE_SHOWN 10

typedef struct rewrite {
    const pm_config_t *cfg;
    int64_t stored[PM_PATH_COLUMNS];  /* in NAME: form already */
    int64_t outside[PM_PATH_COLUMNS]; /* under no volume: left */
    char *shown[OUTSIDE_SHOWN];       /* the first of them, distinct */
    size_t nshown;
} rewrite_t;

/* Keeps `path` among the paths shown, unless it is there or full. */
static int show_outside(rewrite_t *rw, const char *path)
{
    for (size_t i = 0; i < rw->nshown; i++)
        if (strcmp(rw->shown[i], path) == 0)
            return 0;
    if (rw->nshown == OUTSIDE_SHOWN)
        return 0;
    rw->shown[rw->nshown] = pm_strdup(path);
    return rw->shown[rw->nshown++] != NULL ? 0 : PM_ENOMEM;
}

/* pm_path_map_fn: a path under a volume becomes NAME:rel. */
static int map_path(void *arg, int col, const char *path, char **to)
{
    rewrite_t *rw = arg;
    int err;

    *to = NULL;
    if (pm_volume_is_stored(path)) {
        rw->stored[col]++;
        return 0;
    }
    err = pm_volume_store(rw->cfg, path, to);
    if (err != 0)
        return err;
    if (strcmp(*to, path) != 0)
        return 0;
    pm_free(*to);
    *to = NULL;
    rw->outside[col]++;
    return show_outside(rw, path);
}

static void rewrite_cleanup(rewrite_t *rw)
{
    for (size_t i = 0; i < rw->nshown; i++)
        pm_free(rw->shown[i]);
}

static int64_t total(const pm_path_count_t *c, const int64_t *v)
{
    int64_t n = 0;

    for (int i = 0; i < PM_PATH_COLUMNS; i++)
        n += c ? c[i].rewritten : v[i];
    return n;
}

static int print_json(const cli_t *c, const rewrite_t *rw,
                      const pm_path_count_t *counts, int dry_run)
{
    json_t *cols = json_array(), *shown = json_array();

    for (int i = 0; cols && i < PM_PATH_COLUMNS; i++)
        json_array_append_new(
            cols, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "table",
                            pm_path_columns[i].table, "column",
                            pm_path_columns[i].column, "paths",
                            (json_int_t)counts[i].rows, "rewritten",
                            (json_int_t)counts[i].rewritten, "volume_form",
                            (json_int_t)rw->stored[i], "under_no_volume",
                            (json_int_t)rw->outside[i]));
    for (size_t i = 0; shown && i < rw->nshown; i++)
        json_array_append_new(shown, pm_json_str(rw->shown[i]));
    return cli_emit_json(
        c, json_pack("{s:b, s:I, s:I, s:o, s:o}", "dry_run", dry_run,
                     "rewritten", (json_int_t)total(counts, NULL),
                     "under_no_volume", (json_int_t)total(NULL, rw->outside),
                     "columns", cols, "under_no_volume_first", shown));
}

static int print_text(const cli_t *c, const rewrite_t *rw,
                      const pm_path_count_t *counts, int dry_run)
{
    const char *heads[] = {"TABLE",       "COLUMN",
                           "PATHS",       dry_run ? "TO REWRITE" : "REWRITTEN",
                           "VOLUME FORM", "UNDER NO VOLUME"};
    char n[4][24];
    int64_t outside = total(NULL, rw->outside);
    table_t t;
    int rc;

    cli_table_init(&t, heads, 6, "llrrrr");
    for (int i = 0; i < PM_PATH_COLUMNS; i++) {
        const char *row[] = {pm_path_columns[i].table,
                             pm_path_columns[i].column,
                             cli_fmt_int(n[0], counts[i].rows),
                             cli_fmt_int(n[1], counts[i].rewritten),
                             cli_fmt_int(n[2], rw->stored[i]),
                             cli_fmt_int(n[3], rw->outside[i])};
        cli_table_row(&t, row);
    }
    rc = cli_table_emit(c, &t, "no path columns");
    if (rc != PM_EXIT_OK)
        return rc;
    if (outside > 0) {
        printf("\n%lld path%s under no volume, left as %s:\n",
               (long long)outside, outside == 1 ? "" : "s",
               outside == 1 ? "it is" : "they are");
        for (size_t i = 0; i < rw->nshown; i++)
            printf("  %s\n", rw->shown[i]);
        if (outside > (int64_t)rw->nshown)
            printf("  ... (%lld more)\n",
                   (long long)(outside - (int64_t)rw->nshown));
    }
    printf("\n%s%lld path%s %s\n", dry_run ? "dry run: " : "",
           (long long)total(counts, NULL), total(counts, NULL) == 1 ? "" : "s",
           dry_run ? "would be rewritten; nothing changed"
                   : "rewritten, in one transaction");
    return PM_EXIT_OK;
}

/* Not while a coordinator runs: it holds paths it read before. */
static int lock_out_coordinator(cli_t *c)
{
    long holder = 0;
    int err = pm_catalog_lock_coordinator(c->cat, &holder);

    if (err == -EBUSY) {
        fprintf(stderr,
                "%s: refusing to rewrite: %s. Stop the service first "
                "(--dry-run works while it runs)\n",
                c->prefix, pm_catalog_errmsg(c->cat));
        return PM_EXIT_FAILURE;
    }
    return err != 0 ? cli_fail(c, err) : PM_EXIT_OK;
}

/* The catalog's trail: who rewrote how many paths, to which volumes. */
static void record(cli_t *c, const pm_path_count_t *counts)
{
    pm_buf_t b = {0};
    char *detail = NULL;

    pm_buf_printf(&b, "%lld paths rewritten into the NAME: form of volumes",
                  (long long)total(counts, NULL));
    for (size_t i = 0; i < c->cfg->nvolumes; i++)
        pm_buf_printf(&b, "%s %s (%s)", i ? "," : "", c->cfg->volumes[i].name,
                      c->cfg->volumes[i].path);
    if (pm_buf_take(&b, &detail, NULL) != 0 ||
        pm_event_add(c->cat, c->actor, "catalog.paths_rewritten", 0, 0,
                     detail) != 0)
        fprintf(stderr,
                "%s: the paths are rewritten, but the event was not "
                "recorded: %s\n",
                c->prefix, detail ? pm_catalog_errmsg(c->cat) : "no memory");
    pm_free(detail);
}

int cli_volumes_rewrite(cli_t *c)
{
    pm_path_count_t counts[PM_PATH_COLUMNS];
    rewrite_t rw = {.cfg = c->cfg};
    int dry_run = c->opt['y'] != NULL, err, rc;

    if (c->cfg->nvolumes == 0) {
        fprintf(stderr,
                "%s: %s has no [volume NAME] section: nothing to rewrite "
                "paths into (name the shared folders first; docs/scaling.md)\n",
                c->prefix,
                c->opt['c'] ? c->opt['c'] : "the built-in configuration");
        return PM_EXIT_USAGE;
    }
    if (!dry_run && (rc = lock_out_coordinator(c)) != PM_EXIT_OK)
        return rc;
    err = pm_catalog_rewrite_paths(c->cat, map_path, &rw, dry_run, counts);
    if (err != 0) {
        rewrite_cleanup(&rw);
        return err == PM_ENOMEM ? cli_oom(c) : cli_fail(c, err);
    }
    if (!dry_run && total(counts, NULL) > 0)
        record(c, counts);
    rc = c->json ? print_json(c, &rw, counts, dry_run)
                 : print_text(c, &rw, counts, dry_run);
    rewrite_cleanup(&rw);
    return rc;
}
