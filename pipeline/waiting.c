/*
 * waiting.c: batches waiting in a hot folder for their marker
 * (waiting.h).
 */
#include "pipeline/waiting.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/base/pm.h"
#include "pipeline/hotfolder.h"

static int add_waiting(pm_waiting_t **v, size_t *n, const char *hotfolder,
                       const char *name, int64_t since)
{
    pm_waiting_t *grown = pm_realloc(*v, (*n + 1) * sizeof(**v));

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
static int scan_one(const pm_hotfolder_cfg_t *h, pm_waiting_t **v, size_t *n)
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

int pm_waiting_scan(const pm_config_t *cfg, pm_waiting_t **out, size_t *n)
{
    int err = 0;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; err == 0 && i < cfg->nhotfolders; i++)
        if (cfg->hotfolders[i].marker != NULL)
            err = scan_one(&cfg->hotfolders[i], out, n);
    return err;
}

void pm_waiting_free(pm_waiting_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pm_free(v[i].hotfolder);
        pm_free(v[i].name);
    }
    pm_free(v);
}
