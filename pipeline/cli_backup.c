/*
 * cli_backup.c: `pagemill backup [--config FILE | --catalog PATH] DEST`.
 * The catalog is copied with SQLite's online backup API from one read
 * snapshot (a running service keeps writing), the copy is checked and
 * made durable, and only then appears as DEST, which must not exist.
 */
#include "pipeline/cli_backup.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "catalog/backup.h"
#include "config/config.h"
#include "pipeline/base/pm.h"

static const char usage_text[] =
    "usage: pagemill backup [--config FILE | --catalog PATH] DEST\n"
    "\n"
    "Copies the catalog into DEST, a new file, with SQLite's online backup\n"
    "API: one consistent snapshot, safe while `pagemill serve` runs (it is\n"
    "not paused). The copy is checked (integrity_check, foreign_key_check)\n"
    "and synced before it appears as DEST; an existing DEST is never\n"
    "overwritten. To restore: stop the service, copy DEST over the catalog\n"
    "file, remove the catalog's -wal and -shm files, start the service\n"
    "(docs/operations.md). A PostgreSQL catalog (postgresql:// URL) is\n"
    "not copied here: back it up with pg_dump, restore with pg_restore.\n"
    "\n"
    "  --config FILE   take the catalog path ([pagemill] catalog) from FILE\n"
    "  --catalog PATH  the catalog database (overrides --config; default\n"
    "                  " PM_DEFAULT_CATALOG ")\n"
    "  --help          show this help\n"
    "\n"
    "Exit status: 0 copied and checked; 2 bad command line, or DEST exists;\n"
    "1 the catalog cannot be read or the copy failed (the message names\n"
    "the file and the fault).\n";

/* --config FILE's catalog, or the default; a new string, or NULL after
 * printing why. */
static char *catalog_path(const char *config)
{
    pm_config_t *cfg = NULL;
    char *errors = NULL, *path;
    int err;

    if (config == NULL)
        return pm_strdup(PM_DEFAULT_CATALOG);
    err = pm_config_load(config, &cfg, &errors);
    if (err != 0) {
        if (errors != NULL)
            fputs(errors, stderr);
        else
            fprintf(stderr, "pagemill backup: %s: %s\n", config,
                    pm_strerror(err));
        pm_free(errors);
        return NULL;
    }
    path = pm_strdup(cfg->catalog);
    pm_config_free(cfg);
    return path;
}

int pm_backup_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"catalog", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *catalog = NULL;
    char msg[1024], *src;
    long pages = 0;
    int ch, err;

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(usage_text, stdout);
            return PM_EXIT_OK;
        }
        if (ch == 'c' || ch == 'D') {
            *(ch == 'c' ? &config : &catalog) = optarg;
            continue;
        }
        fprintf(stderr, "pagemill backup: %s '%s'\n%s",
                ch == ':' ? "missing value for" : "unknown option",
                argv[optind - 1], usage_text);
        return PM_EXIT_USAGE;
    }
    if (optind + 1 != argc || argv[optind][0] == '\0') {
        fprintf(stderr, "pagemill backup: %s\n%s",
                optind >= argc ? "missing DEST" : "one DEST only", usage_text);
        return PM_EXIT_USAGE;
    }
    src = catalog != NULL ? pm_strdup(catalog) : catalog_path(config);
    if (src == NULL)
        return config != NULL ? PM_EXIT_USAGE : PM_EXIT_FAILURE;
    err = pm_catalog_backup_file(src, argv[optind], &pages, msg, sizeof(msg));
    if (err == 0)
        printf("pagemill backup: %s copied to %s (%ld pages of the "
               "database), integrity ok\n",
               src, argv[optind], pages);
    else
        fprintf(stderr, "pagemill backup: %s\n", msg);
    pm_free(src);
    return err == 0           ? PM_EXIT_OK
           : err == PM_EEXIST ? PM_EXIT_USAGE
                              : PM_EXIT_FAILURE;
}
