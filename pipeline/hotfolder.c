/*
 * hotfolder.c: batch detection and the filesystem side of intake
 * (hotfolder.h).
 *
 * Reading order: names (what is a batch, what is never taken), the settle
 * snapshot, the handle, the scan (building each batch found complete is
 * batch.c's), then moving batches (take into the spool, reject into
 * _rejected/). The handle remembers, per entry of the hot folder, its last
 * settle snapshot and whether it was already handed out; nothing else is
 * kept between scans, so a restart simply judges every batch afresh.
 *
 * Moves are rename(2) only: a batch is never copied and nothing is ever
 * deleted. The destination is first reserved with mkdir(2) (which fails
 * if the name is taken), then the batch folder is renamed over that empty
 * folder, or a single file is renamed into it, so no move can clobber
 * anything.
 */
#include "pipeline/hotfolder.h"

#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"
#include "pipeline/hotfolder_int.h"

#define SUFFIX_MAX    10000
#define SHOWN_PATH    4096 /* a path escaped for a log line (cut to fit) */
#define MOVE_STEM_MAX 200  /* + ".20261123T120000Z-9999" < NAME_MAX */

/* What the handle remembers about one entry of the hot folder. */
struct tracked {
    char *name;    /* entry name in the hot folder */
    char *sig;     /* last settle snapshot, or NULL */
    int64_t since; /* when `sig` was first seen */
    int returned;  /* handed out by a scan, not yet taken or rejected */
    int seen;      /* present in the current scan */
};

/* ---- names ---- */

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);

    return n >= m && strcasecmp(s + n - m, tail) == 0;
}

/* Hidden, editor and partial files: never taken, anywhere. */
int pm__hf_never_taken(const char *name)
{
    return name[0] == '.' || strncmp(name, "~$", 2) == 0 ||
           ends_with(name, ".tmp") || ends_with(name, ".part") ||
           ends_with(name, ".crdownload") || ends_with(name, "~");
}

/* True when the first `n` bytes of `s` are a work order: [A-Za-z0-9-]+ */
int pm__hf_work_order_chars(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

/* `name` shown as printable, valid UTF-8 (pm_escape_name). */
const char *pm__hf_shown(const char *name, char buf[PM_ESCAPED_MAX])
{
    return pm_escape_name(name, buf, PM_ESCAPED_MAX);
}

/* A path (holding a batch name) for a log line, as pm__hf_shown() does. */
static const char *shown_path(const char *path, char buf[SHOWN_PATH])
{
    return pm_escape_name(path, buf, SHOWN_PATH);
}

/* The batch's name without a file's extension: a new string or NULL. */
char *pm__hf_batch_stem(const pm_batch_t *b)
{
    char *stem = pm_strdup(b->name);
    char *dot;

    if (stem != NULL && b->is_file && (dot = strrchr(stem, '.')) != NULL &&
        dot != stem)
        *dot = '\0';
    return stem;
}

/* The stem cut to MOVE_STEM_MAX bytes (on a UTF-8 boundary), leaving room
 * in NAME_MAX for the suffixes a move adds. New string or NULL. */
static char *move_stem(const pm_batch_t *b)
{
    char *stem = pm__hf_batch_stem(b);
    size_t n;

    if (stem == NULL || strlen(stem) <= MOVE_STEM_MAX)
        return stem;
    n = MOVE_STEM_MAX;
    while (n > 0 && ((unsigned char)stem[n] & 0xc0) == 0x80)
        n--;
    stem[n] = '\0';
    return stem;
}

/* Writes the UTC time as 20261123T120000Z into buf[20]. */
static void utc_compact(char buf[20])
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, 20, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- the settle snapshot ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void pm__hf_free_strv(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        pm_free(v[i]);
    pm_free(v);
}

/* Appends a new copy of `s` (taken: freed on failure) to *v. */
static int strv_push(char ***v, size_t *n, char *s)
{
    char **grown;

    if (s == NULL)
        return PM_ENOMEM;
    grown = pm_realloc(*v, (*n + 1) * sizeof(char *));
    if (grown == NULL) {
        pm_free(s);
        return PM_ENOMEM;
    }
    grown[(*n)++] = s;
    *v = grown;
    return 0;
}

/* Appends page `path` (taken: freed on failure), listed as `st`, to the
 * batch's files and ids. */
int pm__hf_add_file(pm_batch_t *b, char *path, const struct stat *st)
{
    pm_file_id_t *ids;

    if (path == NULL)
        return PM_ENOMEM;
    ids = pm_realloc(b->ids, (b->nfiles + 1) * sizeof(*ids));
    if (ids == NULL) {
        pm_free(path);
        return PM_ENOMEM;
    }
    b->ids = ids;
    ids[b->nfiles].dev = st->st_dev;
    ids[b->nfiles].ino = st->st_ino;
    return strv_push(&b->files, &b->nfiles, path);
}

/* One line of a snapshot: name, type, size and mtime ('/' cannot occur
 * in a name, so the line is unambiguous). */
static char *stat_line(const char *name, const struct stat *st)
{
    return pm_asprintf("%s/%o/%lld/%lld.%09ld\n", name,
                       (unsigned)(st->st_mode & S_IFMT), (long long)st->st_size,
                       (long long)st->st_mtim.tv_sec,
                       (long)st->st_mtim.tv_nsec);
}

/* Lists folder `path`'s entries as snapshot lines; counts the ones that
 * would be taken. 0, PM_ENOMEM or -errno. */
static int folder_lines(const char *path, char ***lines, size_t *n,
                        size_t *visible)
{
    DIR *d = opendir(path);
    struct dirent *e;
    struct stat st;
    int err = 0;

    if (d == NULL)
        return -errno;
    while (err == 0 && (e = readdir(d)) != NULL) {
        char *child;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        child = pm_asprintf("%s/%s", path, e->d_name);
        if (child == NULL) {
            err = PM_ENOMEM;
            break;
        }
        if (lstat(child, &st) == 0) {
            *visible += !pm__hf_never_taken(e->d_name);
            err = strv_push(lines, n, stat_line(e->d_name, &st));
        }
        pm_free(child);
    }
    closedir(d);
    return err;
}

/* Builds the snapshot of an entry into *sig (new string). An unreadable
 * folder gets a snapshot naming the error, so it settles and is then
 * rejected with the reason. *empty: nothing in it would be taken. */
static int snapshot(const char *path, int is_file, char **sig, int *empty)
{
    char **lines = NULL;
    size_t n = 0, visible = 0;
    struct stat st;
    pm_buf_t sb = {0};
    int err;

    *sig = NULL;
    *empty = 0;
    if (is_file) {
        if (lstat(path, &st) != 0)
            return -errno;
        *sig = stat_line("", &st);
        return *sig == NULL ? PM_ENOMEM : 0;
    }
    err = folder_lines(path, &lines, &n, &visible);
    if (err == PM_ENOENT)
        return err; /* gone since the scan saw it */
    if (err != 0 && err != PM_ENOMEM)
        pm_buf_printf(&sb, "unreadable: %d", err);
    if (n > 0)
        qsort(lines, n, sizeof(*lines), cmp_str);
    for (size_t i = 0; i < n; i++)
        pm_buf_printf(&sb, "%s", lines[i]);
    pm__hf_free_strv(lines, n);
    if (err == PM_ENOMEM) {
        pm_buf_cleanup(&sb);
        return PM_ENOMEM;
    }
    *empty = visible == 0 && err == 0;
    return pm_buf_take(&sb, sig, NULL);
}

/* ---- the handle ---- */

static tracked_t *tracked_find(pm_hotfolder_t *hf, const char *name)
{
    for (size_t i = 0; i < hf->ntracked; i++)
        if (strcmp(hf->tracked[i].name, name) == 0)
            return &hf->tracked[i];
    return NULL;
}

/* Returns the entry for `name`, adding it the first time; NULL: no
 * memory. The pointer is valid until the next call. */
static tracked_t *tracked_get(pm_hotfolder_t *hf, const char *name)
{
    tracked_t *t = tracked_find(hf, name), *grown;

    if (t != NULL)
        return t;
    grown = pm_realloc(hf->tracked, (hf->ntracked + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    hf->tracked = grown;
    t = &grown[hf->ntracked];
    memset(t, 0, sizeof(*t));
    t->name = pm_strdup(name);
    if (t->name == NULL)
        return NULL;
    hf->ntracked++;
    return t;
}

static void tracked_remove(pm_hotfolder_t *hf, size_t i)
{
    pm_free(hf->tracked[i].name);
    pm_free(hf->tracked[i].sig);
    hf->tracked[i] = hf->tracked[--hf->ntracked];
}

/* Forgets every entry the last scan did not see. */
static void tracked_prune(pm_hotfolder_t *hf)
{
    for (size_t i = 0; i < hf->ntracked;) {
        if (hf->tracked[i].seen)
            i++;
        else
            tracked_remove(hf, i);
    }
}

static void forget_locked(pm_hotfolder_t *hf, const char *name)
{
    for (size_t i = 0; i < hf->ntracked; i++) {
        if (strcmp(hf->tracked[i].name, name) == 0) {
            tracked_remove(hf, i);
            return;
        }
    }
}

static void cfg_copy_cleanup(pm_hotfolder_cfg_t *c)
{
    pm_free(c->name);
    pm_free(c->path);
    pm_free(c->profile);
    pm_free(c->account);
    pm_free(c->marker);
}

/* Deep copy; 0 or PM_ENOMEM (then `dst` holds nothing to free). */
static int cfg_copy(pm_hotfolder_cfg_t *dst, const pm_hotfolder_cfg_t *src)
{
    *dst = *src;
    dst->name = pm_strdup(src->name ? src->name : "");
    dst->path = pm_strdup(src->path);
    while (dst->path != NULL && strlen(dst->path) > 1 &&
           dst->path[strlen(dst->path) - 1] == '/')
        dst->path[strlen(dst->path) - 1] = '\0'; /* no "hot//WO-1" */
    dst->profile = pm_strdup(src->profile ? src->profile : "default");
    dst->account = src->account ? pm_strdup(src->account) : NULL;
    dst->marker = src->marker ? pm_strdup(src->marker) : NULL;
    if (dst->name == NULL || dst->path == NULL || dst->profile == NULL ||
        (src->account && dst->account == NULL) ||
        (src->marker && dst->marker == NULL)) {
        cfg_copy_cleanup(dst);
        memset(dst, 0, sizeof(*dst));
        return PM_ENOMEM;
    }
    return 0;
}

/* Copies the profile names of `config` (NULL: none kept, any allowed). */
static int copy_profiles(pm_hotfolder_t *hf, const pm_config_t *config)
{
    if (config == NULL)
        return 0;
    hf->profiles = pm_calloc(config->nprofiles + 1, sizeof(char *));
    if (hf->profiles == NULL)
        return PM_ENOMEM;
    for (size_t i = 0; i < config->nprofiles; i++) {
        hf->profiles[i] = pm_strdup(config->profiles[i].name);
        if (hf->profiles[i] == NULL)
            return PM_ENOMEM;
        hf->nprofiles++;
    }
    return 0;
}

int pm_hotfolder_open(const pm_config_t *config, const pm_hotfolder_cfg_t *hfc,
                      pm_hotfolder_t **out)
{
    pm_hotfolder_t *hf;
    struct stat st;
    int err;

    *out = NULL;
    if (hfc->path == NULL)
        return PM_EINVAL;
    if (stat(hfc->path, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    hf = pm_calloc(1, sizeof(*hf));
    if (hf == NULL)
        return PM_ENOMEM;
    err = cfg_copy(&hf->cfg, hfc);
    if (err == 0)
        err = copy_profiles(hf, config);
    if (err == 0 && pthread_mutex_init(&hf->lock, NULL) != 0)
        err = PM_ENOMEM;
    if (err != 0) {
        cfg_copy_cleanup(&hf->cfg);
        pm__hf_free_strv(hf->profiles, hf->nprofiles);
        pm_free(hf);
        return err;
    }
    *out = hf;
    return 0;
}

void pm_hotfolder_close(pm_hotfolder_t *hf)
{
    if (hf == NULL)
        return;
    while (hf->ntracked > 0)
        tracked_remove(hf, hf->ntracked - 1);
    pm_free(hf->tracked);
    pm__hf_free_strv(hf->profiles, hf->nprofiles);
    cfg_copy_cleanup(&hf->cfg);
    pthread_mutex_destroy(&hf->lock);
    pm_free(hf);
}

const pm_hotfolder_cfg_t *pm_hotfolder_cfg(const pm_hotfolder_t *hf)
{
    return &hf->cfg;
}

void pm_hotfolder_forget(pm_hotfolder_t *hf, const pm_batch_t *b)
{
    pthread_mutex_lock(&hf->lock);
    forget_locked(hf, b->name);
    pthread_mutex_unlock(&hf->lock);
}

/* ---- the scan ---- */

/* Settle rule: the same snapshot at two scans settle_seconds apart.
 * Returns 1 complete, 0 not yet, or PM_ENOMEM. */
static int settled(pm_hotfolder_t *hf, tracked_t *t, const char *path,
                   int is_file, int64_t now)
{
    char *sig;
    int empty, err;

    err = snapshot(path, is_file, &sig, &empty);
    if (err != 0)
        return err == PM_ENOMEM ? err : 0; /* gone: the prune drops it */
    if (t->sig != NULL && strcmp(t->sig, sig) == 0) {
        pm_free(sig);
        return !empty && now - t->since >= hf->cfg.settle_seconds;
    }
    pm_free(t->sig); /* new, or changed: the clock starts again */
    t->sig = sig;
    t->since = now;
    return 0;
}

/* Marker rule: the marker file exists in the batch folder. */
static int marker_present(const pm_hotfolder_t *hf, const char *path)
{
    char *marker = pm_asprintf("%s/%s", path, hf->cfg.marker);
    struct stat st;
    int found;

    if (marker == NULL)
        return PM_ENOMEM;
    found = lstat(marker, &st) == 0;
    pm_free(marker);
    return found;
}

/* What kind of batch a hot folder entry is. A symlink is one to reject
 * (the link itself, never what it names). */
static int entry_kind(const char *name, const char *path)
{
    struct stat st;

    if (pm__hf_never_taken(name) || strcmp(name, PM_REJECTED_DIR) == 0 ||
        lstat(path, &st) != 0)
        return KIND_NONE;
    if (S_ISDIR(st.st_mode))
        return KIND_FOLDER;
    if (S_ISLNK(st.st_mode))
        return KIND_LINK;
    return S_ISREG(st.st_mode) && pm_image_name(name) ? KIND_FILE : KIND_NONE;
}

/* Looks at one entry of the hot folder; a batch complete now is pushed
 * onto *list. */
static int scan_entry(pm_hotfolder_t *hf, const char *name, int64_t now,
                      pm_batch_t **list)
{
    char *path = pm_asprintf("%s/%s", hf->cfg.path, name);
    pm_batch_t *b = NULL;
    tracked_t *t;
    int kind, rc = 0;

    if (path == NULL)
        return PM_ENOMEM;
    kind = entry_kind(name, path);
    t = kind != 0 ? tracked_get(hf, name) : NULL;
    if (kind != 0 && t == NULL)
        rc = PM_ENOMEM;
    if (t != NULL)
        t->seen = 1;
    if (t != NULL && !t->returned) {
        if (kind == KIND_FOLDER && hf->cfg.marker != NULL)
            rc = marker_present(hf, path);
        else
            rc = settled(hf, t, path, kind != KIND_FOLDER, now);
    }
    if (rc == 1)
        rc = pm__hf_batch_build(hf, name, path, kind, &b);
    if (b != NULL) {
        b->next = *list;
        *list = b;
    }
    pm_free(path);
    return rc < 0 ? rc : 0;
}

static int cmp_batch(const void *a, const void *b)
{
    return pm_natural_cmp((*(pm_batch_t *const *)a)->name,
                          (*(pm_batch_t *const *)b)->name);
}

/* Sorts the list by name and marks each batch handed out. */
static pm_batch_t *hand_out(pm_hotfolder_t *hf, pm_batch_t *list, size_t *n)
{
    pm_batch_t **v = NULL, *b;
    size_t k = 0;

    *n = 0;
    for (b = list; b != NULL; b = b->next)
        k++;
    if (k == 0 || (v = pm_malloc(k * sizeof(*v))) == NULL)
        return NULL;
    k = 0;
    for (b = list; b != NULL; b = b->next)
        v[k++] = b;
    qsort(v, k, sizeof(*v), cmp_batch);
    for (size_t i = 0; i < k; i++) {
        v[i]->next = i + 1 < k ? v[i + 1] : NULL;
        tracked_t *t = tracked_find(hf, v[i]->name);

        if (t != NULL) /* always: it was seen in this scan */
            t->returned = 1;
    }
    list = v[0];
    pm_free(v);
    *n = k;
    return list;
}

static int scan_locked(pm_hotfolder_t *hf, int64_t now, pm_batch_t **ready,
                       size_t *n)
{
    DIR *d = opendir(hf->cfg.path);
    struct dirent *e;
    pm_batch_t *list = NULL;
    int err = 0;

    if (d == NULL)
        return -errno;
    for (size_t i = 0; i < hf->ntracked; i++)
        hf->tracked[i].seen = 0;
    while (err == 0 && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            err = scan_entry(hf, e->d_name, now, &list);
    closedir(d);
    if (err == 0 && list != NULL && (*ready = hand_out(hf, list, n)) == NULL)
        err = PM_ENOMEM;
    if (err != 0) {
        pm_batch_free_list(list);
        return err;
    }
    tracked_prune(hf);
    return 0;
}

int pm_hotfolder_scan(pm_hotfolder_t *hf, int64_t now, pm_batch_t **ready,
                      size_t *n)
{
    int err;

    *ready = NULL;
    *n = 0;
    pthread_mutex_lock(&hf->lock);
    err = scan_locked(hf, now, ready, n);
    pthread_mutex_unlock(&hf->lock);
    if (err != 0)
        pm_log(PM_LOG_ERROR, "hotfolder", "%s: cannot scan %s: %s",
               hf->cfg.name, hf->cfg.path, pm_strerror(err));
    return err;
}

/* ---- moving batches ---- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

/* Reserves a new empty folder parent/base, or base-2, base-3... (mkdir
 * fails when the name is taken, so nothing is ever overwritten). */
static int reserve_dir(const char *parent, const char *base, char **dir)
{
    *dir = NULL;
    for (int k = 1; k < SUFFIX_MAX; k++) {
        char *p = k == 1 ? pm_asprintf("%s/%s", parent, base)
                         : pm_asprintf("%s/%s-%d", parent, base, k);
        int err;

        if (p == NULL)
            return PM_ENOMEM;
        if (mkdir(p, pm_dir_mode) == 0) {
            *dir = p;
            return 0;
        }
        err = -errno;
        pm_free(p);
        if (err != PM_EEXIST)
            return err;
    }
    return PM_EEXIST;
}

/* One move: the batch at `src` goes to `target`, which is the reserved
 * folder `dest` itself (a folder batch replaces it) or dest/<file>. The
 * folders to fsync afterwards are worked out beforehand, so that once
 * the rename is done only I/O can fail. */
typedef struct move {
    char *dest;
    char *target;
    char *src_dir; /* the folder `src` leaves */
    char *parent;  /* the folder `dest` is in */
} move_t;

static void move_cleanup(move_t *m)
{
    pm_free(m->dest);
    pm_free(m->target);
    pm_free(m->src_dir);
    pm_free(m->parent);
    memset(m, 0, sizeof(*m));
}

/* A new string naming the folder that holds `path`, or NULL. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return pm_strdup(".");
    if (slash == path)
        return pm_strdup("/");
    return pm_asprintf("%.*s", (int)(slash - path), path);
}

/* Reserves the destination of `src` under `parent`. */
static int move_prepare(const char *src, const char *parent, const char *base,
                        move_t *m)
{
    struct stat st;
    int err;

    memset(m, 0, sizeof(*m));
    if (lstat(src, &st) != 0)
        return -errno;
    m->src_dir = dir_of(src);
    m->parent = pm_strdup(parent);
    if (m->src_dir == NULL || m->parent == NULL) {
        move_cleanup(m);
        return PM_ENOMEM;
    }
    err = reserve_dir(parent, base, &m->dest);
    if (err == 0)
        m->target = S_ISDIR(st.st_mode)
                        ? pm_strdup(m->dest)
                        : pm_asprintf("%s/%s", m->dest, base_name(src));
    if (err == 0 && m->target == NULL) {
        rmdir(m->dest);
        err = PM_ENOMEM;
    }
    if (err != 0)
        move_cleanup(m);
    return err;
}

/* rename(2), never a copy. On failure the reserved folder is removed
 * (it is ours and empty) and the error logged with both paths. */
static int move_rename(const pm_hotfolder_t *hf, const char *src, move_t *m)
{
    char a[SHOWN_PATH], b[SHOWN_PATH];
    int err;

    if (rename(src, m->target) == 0)
        return 0;
    err = -errno;
    rmdir(m->dest);
    if (err == -EXDEV)
        pm_log(PM_LOG_ERROR, "hotfolder",
               "%s: cannot move %s to %s: not on the same filesystem; intake "
               "moves batches by rename and never copies, so keep the spool on "
               "the hot folders' filesystem",
               hf->cfg.name, shown_path(src, a), shown_path(m->target, b));
    else
        pm_log(PM_LOG_ERROR, "hotfolder", "%s: cannot move %s to %s: %s",
               hf->cfg.name, shown_path(src, a), shown_path(m->target, b),
               pm_strerror(err));
    return err;
}

/* Makes a done move durable: both parents, and the reserved folder when a
 * file went inside it. Allocates nothing; returns the first error. */
static int move_sync(const move_t *m)
{
    int err = pm_fsync_dir(m->src_dir);
    int e = pm_fsync_dir(m->parent);

    if (err == 0)
        err = e;
    if (strcmp(m->target, m->dest) != 0) {
        e = pm_fsync_dir(m->dest);
        if (err == 0)
            err = e;
    }
    return err;
}

/* ---- opening pages ---- */

int pm_batch_open_page(const pm_batch_t *b, size_t i, int *fd, int64_t *size)
{
    struct stat st;
    int f, err = 0;

    assert(i < b->nfiles);
    *fd = -1;
    f = open(b->files[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (f < 0)
        return -errno;
    if (fstat(f, &st) != 0)
        err = -errno;
    else if (!S_ISREG(st.st_mode) || st.st_dev != b->ids[i].dev ||
             st.st_ino != b->ids[i].ino)
        err = PM_ECHANGED;
    if (err != 0) {
        close(f);
        return err;
    }
    if (size != NULL)
        *size = (int64_t)st.st_size;
    *fd = f;
    return 0;
}

int pm_batch_check_pages(const pm_batch_t *b, size_t *bad)
{
    int fd, err;

    *bad = 0;
    for (size_t i = 0; i < b->nfiles; i++) {
        err = pm_batch_open_page(b, i, &fd, NULL);
        if (err != 0) {
            *bad = i;
            return err;
        }
        close(fd);
    }
    return 0;
}

/* ---- take ---- */

/* The page paths as they will be inside `dest`: a new array. */
static int rebased_files(const pm_batch_t *b, const char *dest, char ***out)
{
    char **v = pm_calloc(b->nfiles + 1, sizeof(char *));

    *out = NULL;
    if (v == NULL)
        return PM_ENOMEM;
    for (size_t i = 0; i < b->nfiles; i++) {
        v[i] = pm_asprintf("%s/%s", dest, base_name(b->files[i]));
        if (v[i] == NULL) {
            pm__hf_free_strv(v, i);
            return PM_ENOMEM;
        }
    }
    *out = v;
    return 0;
}

/* Everything that can fail before the rename: the spool folder, the
 * reserved destination, the new paths. */
static int take_prepare(const pm_batch_t *b, const char *spool_dir, move_t *m,
                        char ***files, char **path)
{
    char stamp[20];
    char *stem, *base;
    int err;

    *files = NULL;
    *path = NULL;
    err = pm_mkdir_p(spool_dir);
    if (err != 0)
        return err;
    utc_compact(stamp);
    stem = move_stem(b);
    base = stem != NULL ? pm_asprintf("%s.%s", stem, stamp) : NULL;
    pm_free(stem);
    if (base == NULL)
        return PM_ENOMEM;
    err = move_prepare(b->path, spool_dir, base, m);
    pm_free(base);
    if (err == 0)
        err = rebased_files(b, m->dest, files);
    if (err == 0 && (*path = pm_strdup(m->dest)) == NULL)
        err = PM_ENOMEM;
    if (err != 0 && m->dest != NULL) {
        rmdir(m->dest);
        pm__hf_free_strv(*files, b->nfiles);
        *files = NULL;
        move_cleanup(m);
    }
    return err;
}

static int take_locked(pm_hotfolder_t *hf, pm_batch_t *b, const char *spool_dir,
                       char **spooled)
{
    move_t m = {0};
    char **files, *path;
    size_t bad;
    int err, check;

    err = pm_batch_check_pages(b, &bad); /* what is moved is what was listed */
    if (err != 0)
        return err;
    err = take_prepare(b, spool_dir, &m, &files, &path);
    if (err == 0)
        err = move_rename(hf, b->path, &m);
    if (err != 0) {
        pm__hf_free_strv(files, b->nfiles);
        pm_free(path);
        move_cleanup(&m);
        return err;
    }
    err = move_sync(&m); /* moved: only durability can fail */
    pm__hf_free_strv(b->files, b->nfiles);
    b->files = files;
    pm_free(b->path);
    b->path = path;
    *spooled = m.dest;
    m.dest = NULL;
    move_cleanup(&m);
    forget_locked(hf, b->name);
    check = pm_batch_check_pages(b, &bad); /* swapped during the rename? */
    return check != 0 ? check : err;
}

int pm_hotfolder_take(pm_hotfolder_t *hf, pm_batch_t *b, const char *spool_dir,
                      char **spooled)
{
    int err;

    *spooled = NULL;
    pthread_mutex_lock(&hf->lock);
    err = take_locked(hf, b, spool_dir, spooled);
    pthread_mutex_unlock(&hf->lock);
    return err;
}

/* ---- reject ---- */

/* Writes `text` with every line indented by two spaces. */
static void sb_indented(pm_buf_t *sb, const char *text)
{
    while (*text) {
        size_t n = strcspn(text, "\n");

        pm_buf_printf(sb, "  %.*s\n", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

/* The text of ERROR.txt: a new string, or NULL. */
static char *error_text(const pm_hotfolder_t *hf, const pm_batch_t *b,
                        const char *why, const char *what_to_do)
{
    pm_buf_t sb = {0};
    char now[32], buf[PM_ESCAPED_MAX], *text;

    pm_utc_iso8601(now);
    pm_buf_printf(&sb, "pagemill could not accept this batch.\n\n");
    pm_buf_printf(&sb, "Batch:      %s\n", pm__hf_shown(b->name, buf));
    if (b->work_order != NULL)
        pm_buf_printf(&sb, "Work order: %s\n", b->work_order);
    pm_buf_printf(&sb, "Hot folder: %s (%s)\n", hf->cfg.name, hf->cfg.path);
    pm_buf_printf(&sb, "Rejected:   %s\n\nWhy:\n", now);
    sb_indented(&sb, why);
    pm_buf_printf(&sb, "\nWhat to do:\n");
    sb_indented(&sb, what_to_do);
    return pm_buf_take(&sb, &text, NULL) == 0 ? text : NULL;
}

/* Writes ERROR.txt into `dir`, or ERROR-2.txt... if the batch had one;
 * stores the path written in *out (new string). */
static int write_error_txt(const char *dir, const char *text, char **out)
{
    struct stat st;
    char *path = NULL;
    int err;

    *out = NULL;
    for (int k = 1; k < SUFFIX_MAX; k++) {
        path = k == 1 ? pm_asprintf("%s/ERROR.txt", dir)
                      : pm_asprintf("%s/ERROR-%d.txt", dir, k);
        if (path == NULL)
            return PM_ENOMEM;
        if (lstat(path, &st) != 0 && errno == ENOENT)
            break;
        pm_free(path);
        path = NULL;
    }
    if (path == NULL)
        return PM_EEXIST;
    err = pm_write_file_atomic(path, text, strlen(text));
    if (err == 0)
        *out = path;
    else
        pm_free(path);
    return err;
}

/* The reason first, then the move: ERROR.txt goes into the batch folder
 * (or, for a single file, the folder reserved for it) before the rename,
 * so a batch is never in _rejected/ without it. When the write fails
 * (a full disk), nothing moves; when the rename fails, our ERROR.txt is
 * removed again. */
static int reject_move(pm_hotfolder_t *hf, const pm_batch_t *b,
                       const char *rejected, const char *stem, const char *text)
{
    char x[SHOWN_PATH], y[SHOWN_PATH];
    move_t m = {0};
    char *written = NULL;
    int err, into_dest;

    err = move_prepare(b->path, rejected, stem, &m);
    if (err != 0)
        return err;
    into_dest = strcmp(m.target, m.dest) != 0; /* a single file */
    err = write_error_txt(into_dest ? m.dest : b->path, text, &written);
    if (err != 0) {
        rmdir(m.dest);
        pm_log(PM_LOG_ERROR, "hotfolder",
               "%s: cannot write the reason for rejecting %s, so it stays "
               "where it is: %s",
               hf->cfg.name, shown_path(b->path, x), pm_strerror(err));
    } else if ((err = move_rename(hf, b->path, &m)) != 0) {
        unlink(written);
        if (into_dest)
            rmdir(m.dest);
    } else {
        forget_locked(hf, b->name);
        err = move_sync(&m);
        if (err == 0)
            err = pm_fsync_parent(rejected);
        if (err != 0)
            pm_log(PM_LOG_ERROR, "hotfolder", "%s: rejected %s to %s, but: %s",
                   hf->cfg.name, shown_path(b->path, x), shown_path(m.dest, y),
                   pm_strerror(err));
    }
    pm_free(written);
    move_cleanup(&m);
    return err;
}

static int reject_locked(pm_hotfolder_t *hf, const pm_batch_t *b,
                         const char *why, const char *what_to_do)
{
    char *rejected = pm_asprintf("%s/%s", hf->cfg.path, PM_REJECTED_DIR);
    char *stem = move_stem(b);
    char *text = error_text(hf, b, why, what_to_do);
    int err = rejected && stem && text ? 0 : PM_ENOMEM;

    if (err == 0)
        err = pm_mkdir_p(rejected);
    if (err == 0)
        err = reject_move(hf, b, rejected, stem, text);
    pm_free(rejected);
    pm_free(stem);
    pm_free(text);
    return err;
}

int pm_hotfolder_reject(pm_hotfolder_t *hf, const pm_batch_t *b,
                        const char *why, const char *what_to_do)
{
    int err;

    if (why == NULL)
        why = b->error != NULL ? b->error : "(no reason given)";
    if (what_to_do == NULL)
        what_to_do = b->what_to_do != NULL
                         ? b->what_to_do
                         : "Correct the problem above and move the batch back "
                           "into the hot folder.";
    pthread_mutex_lock(&hf->lock);
    err = reject_locked(hf, b, why, what_to_do);
    pthread_mutex_unlock(&hf->lock);
    return err;
}
