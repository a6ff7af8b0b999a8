/*
 * space.c: a full volume, for `pagemill serve` (serve_int.h). A full
 * spool, output volume or catalog is nobody's fault: no page attempt is
 * counted and no job fails. The coordinator pauses claiming, assembly
 * and publishing, looks again after 5 s, then twice as long each time up
 * to 5 min, and resumes once the volume has room. The log says so once
 * per change: "no space on VOLUME (path)" and "space available again".
 *
 * A full volume is recognised by the error (ENOSPC or EDQUOT; a catalog
 * maps SQLITE_FULL to -ENOSPC), by its text in a worker's error ("No
 * space left on device"), or by the volume itself having less than
 * PM__SPACE_MIN_FREE bytes free (some writers, Tesseract's PDF renderer
 * among them, say only that they could not write).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "pipeline/base/pm.h"
#include "pipeline/serve_int.h"

int pm__space_err(int err)
{
    return err == -ENOSPC || err == -EDQUOT;
}

int pm__space_text(const char *msg)
{
    return msg != NULL && (strstr(msg, strerror(ENOSPC)) != NULL ||
                           strstr(msg, strerror(EDQUOT)) != NULL ||
                           strstr(msg, "database or disk is full") != NULL);
}

/* The nearest existing folder at or above `path`, resolved, into
 * buf[PATH_MAX]; 0 or -errno. */
static int existing_dir(const char *path, char *buf)
{
    char tmp[PATH_MAX];
    char *slash;

    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    while (realpath(tmp, buf) == NULL) {
        slash = strrchr(tmp, '/');
        if (slash == NULL || slash == tmp)
            return snprintf(buf, PATH_MAX, "%s", slash ? "/" : ".") > 0 ? 0
                                                                        : -EIO;
        *slash = '\0';
    }
    return 0;
}

int pm__space_low(const char *path)
{
    char dir[PATH_MAX];
    struct statvfs v;

    if (existing_dir(path, dir) != 0 || statvfs(dir, &v) != 0)
        return 0;
    return (unsigned long long)v.f_bavail * v.f_frsize < PM__SPACE_MIN_FREE ||
           (v.f_files > 0 && v.f_favail == 0);
}

/* The mount point of the volume holding `path`: the highest folder above
 * it on the same device. A new string, or NULL. */
static char *mount_point(const char *path)
{
    char dir[PATH_MAX], up[PATH_MAX];
    struct stat st, pst;
    char *slash;

    if (existing_dir(path, dir) != 0 || stat(dir, &st) != 0)
        return pm_strdup(path);
    while (strcmp(dir, "/") != 0) {
        snprintf(up, sizeof(up), "%s", dir);
        slash = strrchr(up, '/');
        if (slash == NULL)
            break;
        if (slash == up)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (stat(up, &pst) != 0 || pst.st_dev != st.st_dev)
            break;
        snprintf(dir, sizeof(dir), "%s", up);
    }
    return pm_strdup(dir);
}

void pm__space_lost(pm__serve_t *s, const char *path)
{
    pm__space_t *sp = &s->space;
    uint64_t now = uv_now(s->loop);
    char vol[PM_ESCAPED_MAX], at[PM_ESCAPED_MAX];

    if (sp->full)
        return;
    /* Full again soon after it seemed to have room: wait longer. */
    if (sp->backoff_ms == 0 || now - sp->resumed_at > PM__SPACE_MAX_MS)
        sp->backoff_ms = PM__SPACE_FIRST_MS;
    else if (sp->backoff_ms * 2 > PM__SPACE_MAX_MS)
        sp->backoff_ms = PM__SPACE_MAX_MS;
    else
        sp->backoff_ms *= 2;
    pm_free(sp->volume);
    pm_free(sp->path);
    sp->volume = mount_point(path);
    sp->path = pm_strdup(path);
    sp->full = 1;
    sp->retry_at = now + sp->backoff_ms;
    pm_log(PM_LOG_WARN, "space",
           "no space on %s (%s): claiming, assembly and publishing paused, "
           "no attempt counted; looking again in %u s",
           pm_escape_name(sp->volume ? sp->volume : path, vol, sizeof(vol)),
           pm_escape_name(path, at, sizeof(at)), sp->backoff_ms / 1000);
}

int pm__space_paused(pm__serve_t *s)
{
    pm__space_t *sp = &s->space;
    uint64_t now = uv_now(s->loop);
    char vol[PM_ESCAPED_MAX], at[PM_ESCAPED_MAX];

    if (!sp->full)
        return 0;
    if (now < sp->retry_at)
        return 1;
    if (sp->path != NULL && pm__space_low(sp->path)) {
        sp->backoff_ms = sp->backoff_ms * 2 > PM__SPACE_MAX_MS
                             ? PM__SPACE_MAX_MS
                             : sp->backoff_ms * 2;
        sp->retry_at = now + sp->backoff_ms;
        pm_log(PM_LOG_DEBUG, "space", "%s still full; looking again in %u s",
               sp->volume ? sp->volume : "?", sp->backoff_ms / 1000);
        return 1;
    }
    sp->full = 0;
    sp->resumed_at = now;
    pm_log(PM_LOG_INFO, "space", "space available again on %s (%s): resuming",
           pm_escape_name(sp->volume ? sp->volume : "?", vol, sizeof(vol)),
           pm_escape_name(sp->path ? sp->path : "?", at, sizeof(at)));
    return 0;
}

void pm__space_cleanup(pm__serve_t *s)
{
    pm_free(s->space.volume);
    pm_free(s->space.path);
    memset(&s->space, 0, sizeof(s->space));
}
