/*
 * batch.c: building a batch from a complete entry of a hot folder
 * (hotfolder_int.h): its batch.ini, its page list and every problem found,
 * each named with what to do about it. hotfolder.c decides when an entry
 * is complete and moves it; nothing here moves or changes a file.
 */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"
#include "pipeline/hotfolder_int.h"

#define BATCH_INI_MAX (64 * 1024) /* batch.ini is a few lines */
#define EXPECTED_MAX  1000000L

/* ---- building a batch ---- */

typedef struct build {
    pm_hotfolder_t *hf;
    pm_batch_t *b;
    pm_buf_t err;     /* one line per problem */
    const char *hint; /* what to do about the first problem */
    int oom;
    int gone; /* the batch vanished while being looked at */
} build_t;

static void problem(build_t *c, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(build_t *c, const char *hint, const char *fmt, ...)
{
    va_list ap;

    if (c->hint == NULL)
        c->hint = hint;
    va_start(ap, fmt);
    pm_buf_vprintf(&c->err, fmt, ap);
    va_end(ap);
    pm_buf_printf(&c->err, "\n");
}

static const char hint_name[] =
    "Rename it to its work order number, like WO-2026-0142 or "
    "WO-2026-0142_box17 (or give work_order in batch.ini), and move it back "
    "into the hot folder.";
static const char hint_ini[] = "Correct batch.ini (the lines are named above) "
                               "and move the batch back into the hot folder.";
static const char hint_files[] =
    "Rename the files named above using letters, digits, '-' and '_', and move "
    "the batch back into the hot folder.";
static const char hint_layout[] =
    "Put every page image directly in the batch folder (TIFF, PNG, JPEG, JPEG "
    "2000 or BMP; no sub-folders or links) and move the batch back into the "
    "hot folder.";
static const char hint_link[] =
    "Put the batch folder or image file itself into the hot folder, not a "
    "link to it. The link was moved here as it was; what it pointed to "
    "was not touched.";
static const char hint_read[] =
    "Check that pagemill may read the batch folder, and move the batch back "
    "into the hot folder.";

/* Replaces *dst with a copy of `v`. */
static int set_str(build_t *c, char **dst, const char *v)
{
    char *s = pm_strdup(v);

    if (s == NULL) {
        c->oom = 1;
        return PM_ENOMEM;
    }
    pm_free(*dst);
    *dst = s;
    return 0;
}

static int profile_allowed(const pm_hotfolder_t *hf, const char *name)
{
    if (hf->profiles == NULL)
        return 1;
    for (size_t i = 0; i < hf->nprofiles; i++)
        if (strcmp(hf->profiles[i], name) == 0)
            return 1;
    return 0;
}

/* ---- batch.ini ---- */

/* The keys of batch.ini, each of which may be given once. */
static const char *const ini_keys[] = {
    "work_order", "account", "profile", "operator", "notes", "expected_pages",
};
#define NKEYS (sizeof(ini_keys) / sizeof(ini_keys[0]))

typedef struct ini_src {
    build_t *c;
    const char *data;
    size_t len, pos;
    int line;
    int indented;          /* the current line starts with a blank */
    int first_line[NKEYS]; /* where each key was given, or 0 */
} ini_src_t;

/* inih's reader over the file's bytes, counting lines. A line longer
 * than inih's buffer or not valid UTF-8 is reported and passed on empty,
 * so later lines keep their numbers. */
static char *batch_ini_reader(char *str, int num, void *stream)
{
    ini_src_t *src = stream;
    const char *start = src->data + src->pos;
    const char *nl;
    size_t n;

    if (src->pos >= src->len)
        return NULL;
    nl = memchr(start, '\n', src->len - src->pos);
    n = nl != NULL ? (size_t)(nl - start) + 1 : src->len - src->pos;
    src->pos += n;
    src->line++;
    str[0] = '\0';
    if (n >= (size_t)num) {
        problem(src->c, hint_ini, "%s:%d: line longer than %d characters",
                PM_BATCH_INI, src->line, num - 2);
        return str;
    }
    memcpy(str, start, n);
    str[n] = '\0';
    src->indented = n > 0 && (str[0] == ' ' || str[0] == '\t');
    if (!pm_utf8_valid(str)) {
        problem(src->c, hint_ini,
                "%s:%d: not valid UTF-8 (save the file as UTF-8)", PM_BATCH_INI,
                src->line);
        str[0] = '\0';
    }
    return str;
}

static void ini_expected_pages(ini_src_t *src, const char *key, const char *v)
{
    char *end;
    long x;

    errno = 0;
    x = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < 1 || x > EXPECTED_MAX)
        problem(src->c, hint_ini,
                "%s:%d: %s: expected a page count 1..%ld, got '%s'",
                PM_BATCH_INI, src->line, key, EXPECTED_MAX, v);
    else
        src->c->b->expected_pages = x;
}

/* A key that must not be empty; `ok` says whether its value is valid. */
static void ini_string(ini_src_t *src, const char *key, const char *v,
                       char **dst, int ok, const char *expected)
{
    if (*v == '\0' || !ok)
        problem(src->c, hint_ini, "%s:%d: %s: expected %s, got '%s'",
                PM_BATCH_INI, src->line, key, expected, v);
    else
        (void)set_str(src->c, dst, v);
}

/* True (after reporting it) when `key` was given before: a batch.ini
 * with two work orders, say, is refused rather than one of them used. */
static int ini_repeated(ini_src_t *src, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(key, ini_keys[i]) != 0)
            continue;
        if (src->first_line[i] == 0) {
            src->first_line[i] = src->line;
            return 0;
        }
        if (src->indented)
            problem(src->c, hint_ini,
                    "%s:%d: %s: a line starting with a blank continues the "
                    "value of line %d; give each value on one line",
                    PM_BATCH_INI, src->line, key, src->first_line[i]);
        else
            problem(src->c, hint_ini,
                    "%s:%d: %s: given twice (also on line %d); each key may "
                    "be given once",
                    PM_BATCH_INI, src->line, key, src->first_line[i]);
        return 1;
    }
    return 0;
}

static int batch_ini_entry(void *user, const char *section, const char *key,
                           const char *v)
{
    ini_src_t *src = user;
    pm_batch_t *b = src->c->b;
    char buf[PM_ESCAPED_MAX];

    if (ini_repeated(src, key))
        return 1;
    /* The parser cuts a long section name, maybe inside a character. */
    if (*section != '\0' && strcmp(section, "batch") != 0)
        problem(src->c, hint_ini,
                "%s:%d: [%s] %s: unknown section (expected none or [batch])",
                PM_BATCH_INI, src->line, pm__hf_shown(section, buf), key);
    else if (strcmp(key, "work_order") == 0)
        ini_string(src, key, v, &b->work_order,
                   pm__hf_work_order_chars(v, strlen(v)),
                   "a work order number (letters, digits and '-')");
    else if (strcmp(key, "account") == 0)
        ini_string(src, key, v, &b->account, 1, "an account code");
    else if (strcmp(key, "profile") == 0)
        ini_string(src, key, v, &b->profile, profile_allowed(src->c->hf, v),
                   "a profile defined in the configuration");
    else if (strcmp(key, "operator") == 0)
        (void)set_str(src->c, &b->operator_name, v);
    else if (strcmp(key, "notes") == 0)
        (void)set_str(src->c, &b->notes, v);
    else if (strcmp(key, "expected_pages") == 0)
        ini_expected_pages(src, key, v);
    else
        problem(src->c, hint_ini,
                "%s:%d: %s: unknown key (expected work_order, account, "
                "operator, expected_pages, profile or notes)",
                PM_BATCH_INI, src->line, key);
    return 1; /* go on: report every problem */
}

/* Reads <batch>/batch.ini when there is one. */
static void read_batch_ini(build_t *c)
{
    char *path = pm_asprintf("%s/%s", c->b->path, PM_BATCH_INI);
    unsigned char *data = NULL;
    ini_src_t src = {0};
    struct stat st;
    int fd, err, rc;

    if (path == NULL) {
        c->oom = 1;
        return;
    }
    /* Opened once, as pages are: never through a link, never a FIFO. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        err = errno == ELOOP ? -EISDIR : -errno;
    else if (fstat(fd, &st) != 0)
        err = -errno;
    else if (!S_ISREG(st.st_mode))
        err = -EISDIR;
    else
        err = pm_read_fd(fd, BATCH_INI_MAX, &data, &src.len);
    if (fd >= 0)
        close(fd);
    pm_free(path);
    if (err == PM_ENOENT)
        return; /* no batch.ini: the defaults stand */
    if (err == PM_ENOMEM) {
        c->oom = 1;
        return;
    }
    if (err != 0) {
        problem(c, hint_ini, "%s: cannot read: %s", PM_BATCH_INI,
                err == PM_ETOOBIG ? "larger than 64 KiB"
                : err == -EISDIR  ? "not a regular file"
                                  : pm_strerror(err));
        return;
    }
    src.c = c;
    src.data = (const char *)data;
    rc = ini_parse_stream(batch_ini_reader, &src, batch_ini_entry, &src);
    if (rc > 0)
        problem(c, hint_ini, "%s:%d: syntax error (expected key = value)",
                PM_BATCH_INI, rc);
    pm_free(data);
}

/* ---- the page list ---- */

/* Judges one entry of a folder batch: a page, ignored, or a problem. */
static int list_entry(build_t *c, const char *name)
{
    char buf[PM_ESCAPED_MAX];
    char *child;
    struct stat st;

    if (pm__hf_never_taken(name) || strcmp(name, PM_BATCH_INI) == 0 ||
        (c->hf->cfg.marker && strcmp(name, c->hf->cfg.marker) == 0))
        return 0;
    if (!pm_utf8_valid(name)) {
        problem(c, hint_files, "file name is not valid UTF-8: '%s'",
                pm__hf_shown(name, buf));
        return 0;
    }
    child = pm_asprintf("%s/%s", c->b->path, name);
    if (child == NULL)
        return PM_ENOMEM;
    if (lstat(child, &st) != 0) {
        pm_free(child); /* gone since readdir: not a page */
        return 0;
    }
    if (S_ISDIR(st.st_mode))
        problem(
            c, hint_layout,
            "'%s' is a sub-folder; pages must be directly in the batch folder",
            pm__hf_shown(name, buf));
    else if (pm_image_name(name) && S_ISLNK(st.st_mode))
        problem(c, hint_layout, "'%s' is a symbolic link, not a page image",
                pm__hf_shown(name, buf));
    else if (pm_image_name(name) && !S_ISREG(st.st_mode))
        problem(c, hint_layout, "'%s' is not a regular file",
                pm__hf_shown(name, buf));
    else if (pm_image_name(name))
        return pm__hf_add_file(c->b, child, &st);
    pm_free(child);
    return 0;
}

typedef struct page_ref {
    char *file;
    pm_file_id_t id;
} page_ref_t;

static int cmp_page_ref(const void *a, const void *b)
{
    return pm_natural_cmp(((const page_ref_t *)a)->file,
                          ((const page_ref_t *)b)->file);
}

/* Sorts the pages in natural order of name, each with its id. */
static int sort_files(pm_batch_t *b)
{
    page_ref_t *v = pm_malloc(b->nfiles * sizeof(*v));

    if (v == NULL)
        return PM_ENOMEM;
    for (size_t i = 0; i < b->nfiles; i++)
        v[i] = (page_ref_t){b->files[i], b->ids[i]};
    qsort(v, b->nfiles, sizeof(*v), cmp_page_ref);
    for (size_t i = 0; i < b->nfiles; i++) {
        b->files[i] = v[i].file;
        b->ids[i] = v[i].id;
    }
    pm_free(v);
    return 0;
}

/* Lists a folder batch's page images in natural order. */
static void list_pages(build_t *c)
{
    DIR *d = opendir(c->b->path);
    struct dirent *e;
    int err = 0;

    if (d == NULL) {
        if (errno == ENOENT)
            c->gone = 1; /* moved away since the scan saw it */
        else
            problem(c, hint_read, "cannot read the folder: %s",
                    strerror(errno));
        return;
    }
    while (err == 0 && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            err = list_entry(c, e->d_name);
    closedir(d);
    if (err != 0) {
        c->oom = 1;
        return;
    }
    if (c->b->nfiles > 0)
        c->oom |= sort_files(c->b) != 0;
    else
        problem(
            c, hint_layout,
            "no page images (TIFF, PNG, JPEG, JPEG 2000, BMP or PDF) in the "
            "batch folder");
}

/* The work order from the name, unless batch.ini gave one. */
static void name_checks(build_t *c)
{
    char buf[PM_ESCAPED_MAX];
    char *stem = pm__hf_batch_stem(c->b);

    if (stem == NULL) {
        c->oom = 1;
        return;
    }
    if (!pm_utf8_valid(c->b->name))
        problem(c, hint_files, "name is not valid UTF-8: '%s'",
                pm__hf_shown(c->b->name, buf));
    if (c->b->work_order == NULL) {
        size_t n = strcspn(stem, "_");

        if (pm__hf_work_order_chars(stem, n)) {
            stem[n] = '\0';
            (void)set_str(c, &c->b->work_order, stem);
        } else {
            problem(c, hint_name,
                    "name does not start with a work order number: '%s'",
                    pm__hf_shown(c->b->name, buf));
        }
    }
    pm_free(stem);
}

void pm_batch_free(pm_batch_t *b)
{
    if (b == NULL)
        return;
    pm_free(b->name);
    pm_free(b->path);
    pm_free(b->work_order);
    pm_free(b->account);
    pm_free(b->profile);
    pm_free(b->operator_name);
    pm_free(b->notes);
    pm__hf_free_strv(b->files, b->nfiles);
    pm_free(b->ids);
    pm_free(b->error);
    pm_free(b->what_to_do);
    pm_free(b);
}

void pm_batch_free_list(pm_batch_t *head)
{
    while (head != NULL) {
        pm_batch_t *next = head->next;

        pm_batch_free(head);
        head = next;
    }
}

/* A new batch with the hot folder's defaults, or NULL. */
static pm_batch_t *batch_new(const pm_hotfolder_t *hf, const char *name,
                             const char *path, int is_file)
{
    pm_batch_t *b = pm_calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    b->is_file = is_file;
    b->expected_pages = -1;
    b->name = pm_strdup(name);
    b->path = pm_strdup(path);
    b->profile = pm_strdup(hf->cfg.profile);
    if (hf->cfg.account != NULL)
        b->account = pm_strdup(hf->cfg.account);
    if (b->name == NULL || b->path == NULL || b->profile == NULL ||
        (hf->cfg.account != NULL && b->account == NULL)) {
        pm_batch_free(b);
        return NULL;
    }
    return b;
}

/* Moves the problems found into b->error and b->what_to_do. */
static int build_finish(build_t *c)
{
    if (c->oom || c->err.oom)
        return PM_ENOMEM;
    if (c->err.len == 0)
        return 0;
    c->err.s[--c->err.len] = '\0'; /* the last newline */
    c->b->error = c->err.s;
    c->err.s = NULL;
    c->b->what_to_do = pm_strdup(c->hint);
    return c->b->what_to_do == NULL ? PM_ENOMEM : 0;
}

/* Builds the batch for a complete entry into *out (NULL when it vanished
 * meanwhile: the next scan forgets it). */
int pm__hf_batch_build(pm_hotfolder_t *hf, const char *name, const char *path,
                       int kind, pm_batch_t **out)
{
    char buf[PM_ESCAPED_MAX];
    build_t c = {0};
    struct stat st;
    int err;

    *out = NULL;
    c.hf = hf;
    c.b = batch_new(hf, name, path, kind != KIND_FOLDER);
    if (c.b == NULL)
        return PM_ENOMEM;
    if (kind == KIND_LINK) {
        problem(&c, hint_link,
                "'%s' is a symbolic link; pagemill takes only folders and "
                "image files put into the hot folder itself, and never "
                "follows a link out of it",
                pm__hf_shown(name, buf));
    } else if (kind == KIND_FILE) {
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            c.gone = 1; /* changed since the scan: judged afresh */
        else if (pm__hf_add_file(c.b, pm_strdup(path), &st) != 0)
            c.oom = 1;
    } else {
        read_batch_ini(&c);
        list_pages(&c);
    }
    name_checks(&c);
    err = build_finish(&c);
    pm_buf_cleanup(&c.err);
    if (err != 0 || c.gone) {
        pm_batch_free(c.b);
        return err;
    }
    *out = c.b;
    return 0;
}
