/*
 * proto_spool.c: the page spool of an assembly (proto.h). The coordinator
 * writes a document's page results to a file, one JSON object a line; the
 * ASSEMBLE message names the file and its page count, and the worker reads
 * it back a page at a time (once for the PDF, again for the text and the
 * TIFF master), so neither side holds every page's JSON at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"

struct pm_page_spool {
    FILE *f;
    char *path;
    char *line; /* getline's buffer: the longest line read */
    size_t cap;
    long long lineno;
};

int pm_page_spool_put(FILE *f, const pm_page_result_t *r)
{
    json_t *o = pm_proto_page_result_json(r);
    int err;

    if (o == NULL)
        return PM_ENOMEM;
    errno = 0;
    if (json_dumpf(o, f, JSON_COMPACT) != 0 || fputc('\n', f) == EOF)
        err = errno != 0 ? -errno : PM_EIO; /* ENOSPC: waits for space */
    else
        err = 0;
    json_decref(o);
    return err;
}

/* The new file `path` (what was there removed first) open for writing. */
static int spool_create(const char *path, FILE **out, char *why, size_t size)
{
    int fd, err;

    if (unlink(path) != 0 && errno != ENOENT) {
        err = -errno;
        snprintf(why, size, "%s: cannot remove the old page spool: %s", path,
                 pm_strerror(err));
        return err;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              pm_file_mode);
    if (fd < 0) {
        err = -errno;
        snprintf(why, size, "%s: cannot create the page spool: %s", path,
                 pm_strerror(err));
        return err;
    }
    *out = fdopen(fd, "w");
    if (*out == NULL) {
        close(fd);
        unlink(path);
        snprintf(why, size, "%s: out of memory", path);
        return PM_ENOMEM;
    }
    return 0;
}

int pm_page_spool_write(const char *path, const pm_page_result_t *pages,
                        size_t n, char *why, size_t size)
{
    FILE *f = NULL;
    int err = spool_create(path, &f, why, size);

    for (size_t i = 0; err == 0 && i < n; i++)
        err = pm_page_spool_put(f, &pages[i]);
    if (f != NULL && fclose(f) != 0 && err == 0)
        err = errno ? -errno : PM_EIO;
    if (err != 0 && f != NULL) {
        snprintf(why, size, "%s: cannot write the page spool: %s", path,
                 pm_strerror(err));
        unlink(path);
    }
    return err;
}

int pm_page_spool_open(const char *path, pm_page_spool_t **out, char *why,
                       size_t size)
{
    pm_page_spool_t *sp = pm_calloc(1, sizeof(*sp));
    int fd, err;

    *out = NULL;
    if (sp == NULL || (sp->path = pm_strdup(path)) == NULL) {
        pm_free(sp);
        snprintf(why, size, "%s: out of memory", path);
        return PM_ENOMEM;
    }
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || (sp->f = fdopen(fd, "r")) == NULL) {
        err = fd < 0 ? -errno : PM_ENOMEM;
        if (fd >= 0)
            close(fd);
        snprintf(why, size, "%s: cannot open the page spool: %s", path,
                 pm_strerror(err));
        pm_page_spool_close(sp);
        return err;
    }
    *out = sp;
    return 0;
}

int pm_page_spool_next(pm_page_spool_t *sp, pm_page_result_t *r, char *why,
                       size_t size)
{
    char detail[256];
    ssize_t n;
    int err;

    memset(r, 0, sizeof(*r));
    errno = 0;
    n = getline(&sp->line, &sp->cap, sp->f);
    if (n < 0 && (ferror(sp->f) || errno == ENOMEM)) {
        err = errno ? -errno : PM_EIO;
        snprintf(why, size, "%s: cannot read the page spool: %s", sp->path,
                 pm_strerror(err));
        return err;
    }
    if (n < 0)
        return 0;
    sp->lineno++;
    if (n == 0 || sp->line[n - 1] != '\n') {
        snprintf(why, size, "%s: line %lld: cut short", sp->path, sp->lineno);
        return PM_EPROTO;
    }
    err = pm_proto_parse_page_result(sp->line, (size_t)n, r, detail,
                                     sizeof(detail));
    if (err == PM_ENOMEM)
        snprintf(why, size, "%s: out of memory", sp->path);
    else if (err != 0)
        snprintf(why, size, "%s: line %lld: %s", sp->path, sp->lineno, detail);
    return err == 0 ? 1 : err;
}

int pm_page_spool_rewind(pm_page_spool_t *sp, char *why, size_t size)
{
    if (fseek(sp->f, 0, SEEK_SET) != 0) {
        int err = -errno;

        snprintf(why, size, "%s: cannot read the page spool again: %s",
                 sp->path, pm_strerror(err));
        return err;
    }
    clearerr(sp->f);
    sp->lineno = 0;
    return 0;
}

void pm_page_spool_close(pm_page_spool_t *sp)
{
    if (sp == NULL)
        return;
    if (sp->f != NULL)
        fclose(sp->f);
    free(sp->line); /* getline's: the C library's allocator */
    pm_free(sp->path);
    pm_free(sp);
}
