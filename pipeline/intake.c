/*
 * intake.c: hot folders -> jobs, for `pagemill serve` (serve_int.h).
 *
 * Each hot folder is watched and scanned (intake_watch.c). Intake is a
 * queue of steps run one at a time, each in two halves: the blocking half
 * on libuv's thread pool (scanning folders, counting frames, SHA-256 of
 * every file, the rename into the spool, the move into _rejected/, and
 * every catalog call: work order check, duplicate check, pm_job_create,
 * the rejection's event) and a short half on the loop thread (logs,
 * alerts, the scheduler told). The catalog calls (intake_record.c) are
 * made on intake's own session (s->intake_cat), so a catalog that answers
 * slowly, or not at all, never stops the loop; each waits at most
 * PM__ANSWER_MS, and a lost session is opened again by the next step. One
 * step at a time keeps the hot folder handles and that session to one
 * thread, and keeps batches in the order they were found. Frames are
 * counted by a child process (counter.h) given the descriptors intake
 * checked: no image decoder runs in the coordinator, so a hostile file can
 * crash only that child, and the batch is rejected naming the file.
 *
 *   scan:   every hot folder -> one batch step per complete batch
 *   batch:  loop: error? profile known? thread: work order known, open,
 *           same account? -> hold, reject or go on; open each page (no
 *           symlink, the file listed) and hash that descriptor; open them
 *           so again and count their frames in a child (a file
 *           unreadable, or one the counter dies on, is rejected here,
 *           naming it); check expected_pages, take into the spool;
 *           duplicate? -> pm_job_create; loop: log, scheduler
 *   reject: thread: move to _rejected/ with ERROR.txt, event; loop: log
 *
 * Hashing happens before the take, so the batch spends as little time as
 * possible in the spool without a job (a crash in that window leaves it
 * there; the next start logs it, as an "intake.orphan" event too, for a
 * person to move back).
 */
#define _GNU_SOURCE /* renameat2 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/volume.h"
#include "pipeline/base/buf.h"
#include "pipeline/base/pm.h"
#include "pipeline/counter.h"
#include "pipeline/intake_int.h"

#define COUNT_TIMEOUT_S 60 /* a frame counter is killed after this */

static void pump(pm__serve_t *s);

/* ---- items ---- */

static void item_free(pm__intake_t *it)
{
    if (it == NULL)
        return;
    for (size_t i = 0; it->found != NULL && i < it->s->nwatches; i++)
        pm_batch_free_list(it->found[i]);
    pm_free(it->found);
    pm_batch_free(it->b);
    pm_free(it->why);
    pm_free(it->what);
    pm_free(it->hold);
    pm_free(it->account);
    pm_free(it->pages);
    pm_free(it->sha);
    pm_free(it->magic);
    pm_free(it->pixels);
    pm_free(it->spooled);
    pm_free(it);
}

static pm__intake_t *item_new(pm__serve_t *s, step_t step)
{
    pm__intake_t *it = pm_calloc(1, sizeof(*it));

    if (it != NULL) {
        it->s = s;
        it->step = step;
        it->req.data = it;
    }
    return it;
}

static void push(pm__serve_t *s, pm__intake_t *it, int front)
{
    it->next = NULL;
    if (s->iq_head == NULL) {
        s->iq_head = s->iq_tail = it;
    } else if (front) {
        it->next = s->iq_head;
        s->iq_head = it;
    } else {
        s->iq_tail->next = it;
        s->iq_tail = it;
    }
}

static pm__intake_t *pop(pm__serve_t *s)
{
    pm__intake_t *it = s->iq_head;

    if (it != NULL) {
        s->iq_head = it->next;
        if (s->iq_head == NULL)
            s->iq_tail = NULL;
        it->next = NULL;
    }
    return it;
}

int pm__intake_busy(const pm__serve_t *s)
{
    return s->iq_head != NULL || s->intake_running != NULL;
}

/* Turns a batch step into a reject step with `why` (taken) and `what`. */
static void make_reject(pm__intake_t *it, char *why, const char *what)
{
    it->step = STEP_REJECT;
    pm_free(it->why);
    it->why = why;
    pm_free(it->what);
    it->what = what != NULL ? pm_strdup(what) : NULL;
}

/* ---- the thread halves ---- */

void pm__intake_reject_here(pm__intake_t *it, char *why, const char *what)
{
    pm_free(it->why);
    it->why = why;
    pm_free(it->what);
    it->what = pm_strdup(what);
    if (it->why == NULL || it->what == NULL) {
        it->err = 1;
        return;
    }
    it->rejected =
        pm_hotfolder_reject(it->w->hf, it->b, it->why, it->what) == 0;
    it->err = !it->rejected;
}

/* Appends one line to *text (NULL at first). 0 or PM_ENOMEM. */
static int add_line(char **text, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int add_line(char **text, const char *fmt, ...)
{
    pm_buf_t b = {0};
    char *joined;
    va_list ap;

    if (*text != NULL) {
        pm_buf_puts(&b, *text);
        pm_buf_puts(&b, "\n");
    }
    va_start(ap, fmt);
    pm_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (pm_buf_take(&b, &joined, NULL) != 0)
        return PM_ENOMEM;
    pm_free(*text);
    *text = joined;
    return 0;
}

/* The name of page `i` inside its batch, escaped for a message. */
static const char *page_name(const pm_batch_t *b, size_t i,
                             char buf[PM_ESCAPED_MAX])
{
    const char *slash = strrchr(b->files[i], '/');

    return pm_escape_name(slash ? slash + 1 : b->files[i], buf, PM_ESCAPED_MAX);
}

/* pm_sha256_fd's sink that keeps a file's first bytes (a magic_t). */
static int keep_magic(void *arg, const unsigned char *buf, size_t n)
{
    magic_t *m = arg;
    size_t k = sizeof(m->b) - m->n < n ? sizeof(m->b) - m->n : n;

    memcpy(m->b + m->n, buf, k);
    m->n += k;
    return 0;
}

static void scan_work(pm__intake_t *it)
{
    pm__serve_t *s = it->s;
    size_t n;

    for (size_t i = 0; i < s->nwatches; i++)
        pm_hotfolder_scan(s->watches[i]->hf, it->now, &it->found[i], &n);
}

static const char what_swapped[] =
    "Put the page images themselves (not links to them) directly in the "
    "batch folder, leave the batch alone while pagemill takes it in, and "
    "move it back into the hot folder.";
static const char what_unreadable[] =
    "Scan or export the files named above again (each must be a TIFF, PNG, "
    "JPEG, JPEG 2000 or BMP image, or a PDF) and move the batch back into "
    "the hot folder.";

/* One line for a page that is not the file the scan listed; PM_ENOMEM. */
static int swapped_line(char **problems, const char *name, int err)
{
    if (err == -ELOOP)
        return add_line(problems,
                        "'%s' was replaced by a symbolic link after the "
                        "batch was listed; links are never followed",
                        name);
    return add_line(problems,
                    "'%s' was replaced by another file (or something that is "
                    "not a regular file) after the batch was listed",
                    name);
}

/* Opens each page once (pm_batch_open_page: no symlink followed, the
 * file the scan listed) and hashes that descriptor. A page swapped or
 * empty is a problem line; another failure is returned (the next scan
 * tries again). */
static int hash_files(pm__intake_t *it, char **problems, int *swapped)
{
    pm_batch_t *b = it->b;
    char name[PM_ESCAPED_MAX], path[PATH_SHOWN];
    int64_t size;
    int fd, err;

    it->sha = pm_calloc(b->nfiles + 1, sizeof(*it->sha));
    it->magic = pm_calloc(b->nfiles + 1, sizeof(*it->magic));
    if (it->sha == NULL || it->magic == NULL)
        return PM_ENOMEM;
    for (size_t i = 0; i < b->nfiles; i++) {
        err = pm_batch_open_page(b, i, &fd, &size);
        if (err == -ELOOP || err == PM_ECHANGED) {
            *swapped = 1;
            err = swapped_line(problems, page_name(b, i, name), err);
        } else if (err == 0 && size == 0) {
            close(fd);
            err = add_line(problems, "'%s': zero-byte file",
                           page_name(b, i, name));
        } else if (err == 0) {
            err = pm_sha256_fd(fd, it->sha[i], keep_magic, &it->magic[i]);
            close(fd);
        }
        if (err != 0) {
            pm_log(PM_LOG_ERROR, "intake", "cannot read %s: %s",
                   pm_escape_name(b->files[i], path, sizeof(path)),
                   pm_strerror(err));
            return err;
        }
    }
    return 0;
}

/* The first bytes of a file that is no image, as hex and text. */
static int not_an_image(char **problems, const char *name, const magic_t *m)
{
    char hex[3 * sizeof(m->b) + 1] = "", text[sizeof(m->b) + 1] = "";
    size_t n = m->n < 8 ? m->n : 8;

    for (size_t i = 0; i < n; i++) {
        snprintf(hex + 3 * i, 4, "%02x ", m->b[i]);
        text[i] = m->b[i] >= 0x20 && m->b[i] < 0x7f ? (char)m->b[i] : '.';
    }
    hex[n > 0 ? 3 * n - 1 : 0] = '\0'; /* the last blank */
    text[n] = '\0';
    return add_line(problems,
                    "'%s': not a supported image: it starts with %s (\"%s\"), "
                    "which is not TIFF, PNG, JPEG, JPEG 2000, BMP or PDF",
                    name, hex, text);
}

/* True when page `i` is no longer the file listed, *how saying so. */
static int page_swapped(const pm_batch_t *b, size_t i, int *how)
{
    int fd, err = pm_batch_open_page(b, i, &fd, NULL);

    if (err == 0)
        close(fd);
    *how = err;
    return err == -ELOOP || err == PM_ECHANGED;
}

/* The problem line for file `i`, which the counter could not count. */
static int count_problem(pm__intake_t *it, size_t i, const pm_frame_count_t *r,
                         char **problems, int *swapped)
{
    pm_batch_t *b = it->b;
    char name[PM_ESCAPED_MAX], msg[PM_ESCAPED_MAX];
    const char *why = r->msg ? r->msg : pm_strerror(r->err);
    int check;

    if (strncmp(why, b->files[i], strlen(b->files[i])) == 0)
        why += strlen(b->files[i]); /* ": not a readable TIFF..." */
    if (page_swapped(b, i, &check)) {
        *swapped = 1; /* since it was hashed: not the file's fault */
        return swapped_line(problems, page_name(b, i, name), check);
    }
    if (r->err == PM_EUNSUPP &&
        !(it->magic[i].n >= 5 && memcmp(it->magic[i].b, "%PDF-", 5) == 0))
        return not_an_image(problems, page_name(b, i, name), &it->magic[i]);
    return add_line(problems, "'%s'%s", page_name(b, i, name),
                    pm_escape_name(why, msg, sizeof(msg)));
}

/* The problem line (and log line) for a counter that crashed, timed out
 * or broke off on file `i`; `why` is "crashed (signal 11, ...)" or the
 * like (NULL when out of memory). */
static int counter_failed(pm__intake_t *it, size_t i, const char *why,
                          char **problems)
{
    char name[PM_ESCAPED_MAX], path[PATH_SHOWN];
    size_t verb;

    if (why == NULL)
        return PM_ENOMEM;
    verb = strcspn(why, "(");
    verb -= verb > 0 && why[verb - 1] == ' ';
    pm_log(PM_LOG_WARN, "intake", "page counting %.*s on %s%s", (int)verb, why,
           pm_escape_name(it->b->files[i], path, sizeof(path)), why + verb);
    return add_line(problems, "page counting %.*s on '%s'%s", (int)verb, why,
                    page_name(it->b, i, name), why + verb);
}

/* Counts files first .. first+n-1 in a child (counter.h), from the
 * descriptors pm_batch_open_page() gives: the files the scan listed and
 * intake hashed. 0, 1 when the child failed (a problem line names the
 * file it was on: counting stops), or an error. */
static int count_chunk(pm__intake_t *it, size_t first, size_t n, int *frames,
                       char **problems, int *swapped)
{
    pm_counter_opts_t o = {it->s->exe, it->s->cfg->worker_memory_mb,
                           COUNT_TIMEOUT_S * 1000, it->refuse_pdf_text};
    int fds[PM_COUNT_MAX_FILES];
    pm_frame_count_t res[PM_COUNT_MAX_FILES];
    char name[PM_ESCAPED_MAX], *why = NULL;
    size_t opened, done = 0;
    int err = 0;

    assert(n <= PM_COUNT_MAX_FILES);
    for (opened = 0; err == 0 && opened < n; opened++)
        err = pm_batch_open_page(it->b, first + opened, &fds[opened], NULL);
    if (err == -ELOOP || err == PM_ECHANGED) {
        *swapped = 1;
        err = swapped_line(problems, page_name(it->b, first + opened - 1, name),
                           err);
        err = err == 0 ? 1 : err;
    } else if (err != 0) {
        pm_log(PM_LOG_ERROR, "intake", "cannot open %s: %s",
               pm_escape_name(it->b->files[first + opened - 1], name,
                              sizeof(name)),
               pm_strerror(err));
    }
    if (err == 0)
        err = pm_count_frames_child(&o, fds,
                                    (const char *const *)it->b->files + first,
                                    n, res, &done, &why);
    for (size_t k = 0; k < opened; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    if (err == PM_EWORKER) {
        err = counter_failed(it, first + done, why, problems);
        err = err == 0 ? 1 : err;
    } else if (err < 0 && why != NULL) {
        pm_log(PM_LOG_ERROR, "intake", "%s", why);
    }
    for (size_t k = 0; err == 0 && k < n; k++) {
        frames[first + k] = res[k].frames;
        it->pixels[first + k] = res[k].pixels;
        if (res[k].err != 0)
            err = count_problem(it, first + k, &res[k], problems, swapped);
    }
    pm_frame_counts_cleanup(res, done);
    pm_free(why);
    return err;
}

/* Frames of every file, in order, counted in child processes: the
 * coordinator runs no image decoder on a batch file. A file that cannot
 * be read, or that makes the counter crash, is a problem line naming it:
 * it is never spooled for a worker to fail. */
static int count_pages(pm__intake_t *it, int **frames, size_t *total,
                       char **problems, int *swapped)
{
    pm_batch_t *b = it->b;
    int err = 0;

    *total = 0;
    *frames = pm_calloc(b->nfiles + 1, sizeof(int));
    pm_free(it->pixels);
    it->pixels = pm_calloc(b->nfiles + 1, sizeof(*it->pixels));
    if (*frames == NULL || it->pixels == NULL)
        return PM_ENOMEM;
    for (size_t i = 0; err == 0 && i < b->nfiles; i += PM_COUNT_MAX_FILES) {
        size_t n = b->nfiles - i;

        err =
            count_chunk(it, i, n < PM_COUNT_MAX_FILES ? n : PM_COUNT_MAX_FILES,
                        *frames, problems, swapped);
    }
    for (size_t i = 0; i < b->nfiles; i++)
        *total += (size_t)(*frames)[i];
    return err > 0 ? 0 : err;
}

static const char what_count[] =
    "Check that every page was scanned into the batch, correct "
    "expected_pages in batch.ini if it is wrong, and move the batch back "
    "into the hot folder.";

/* Rejects in the thread when the page count differs from batch.ini:
 * 1 when it did (or tried: it->err), 0 when the count is right. */
static int check_expected(pm__intake_t *it, size_t total)
{
    pm_batch_t *b = it->b;

    if (b->expected_pages < 0 || (size_t)b->expected_pages == total)
        return 0;
    pm__intake_reject_here(
        it,
        pm_asprintf("batch.ini says expected_pages = %ld, but the "
                    "batch's %zu file(s) hold %zu page(s)",
                    b->expected_pages, b->nfiles, total),
        what_count);
    return 1;
}

/* One page per (file, frame), in order, with the spooled paths; each
 * page's work estimate is its share of its file's pixels. */
static int list_pages(pm__intake_t *it, const int *frames, size_t total)
{
    pm_batch_t *b = it->b;
    size_t k = 0;

    it->pages = pm_calloc(total + 1, sizeof(*it->pages));
    if (it->pages == NULL)
        return PM_ENOMEM;
    for (size_t i = 0; i < b->nfiles; i++) {
        for (int f = 0; f < frames[i]; f++, k++) {
            it->pages[k].src = b->files[i];
            it->pages[k].frame = f;
            it->pages[k].sha256 = it->sha[i];
            it->pages[k].work = it->pixels[i] / frames[i];
        }
    }
    it->npages = k;
    return 0;
}

/* Moves the checked batch into the spool (pm_hotfolder_take checks its
 * pages before and after the rename). A page swapped meanwhile rejects
 * the batch from wherever it is: 1 when it rejected (or tried), 0 taken,
 * or an error. */
static int take(pm__intake_t *it)
{
    char name[PM_ESCAPED_MAX], path[PATH_SHOWN], *why = NULL;
    size_t bad = 0;
    int err;

    err = pm_hotfolder_take(it->w->hf, it->b, it->s->spool, &it->spooled);
    if (err != 0 && err != -ELOOP && err != PM_ECHANGED &&
        it->spooled != NULL) {
        pm_log(PM_LOG_WARN, "intake", "%s: taken into %s, but: %s",
               pm_escape_name(it->b->name, name, sizeof(name)),
               pm_escape_name(it->spooled, path, sizeof(path)),
               pm_strerror(err));
        err = 0; /* moved: only an fsync failed */
    }
    if (err != -ELOOP && err != PM_ECHANGED)
        return err;
    pm_batch_check_pages(it->b, &bad); /* which page, for the reason */
    if (swapped_line(&why, page_name(it->b, bad, name), err) != 0)
        return PM_ENOMEM;
    pm__intake_reject_here(it, why, what_swapped);
    return 1;
}

static void batch_work(pm__intake_t *it)
{
    char *problems = NULL;
    int *frames = NULL, swapped = 0;
    size_t total = 0;
    pm_catalog_t *cat = pm__intake_catalog(it->s);
    int err;

    if (cat == NULL || pm__intake_check_workorder(it, cat) != 0) {
        it->err = 1; /* logged: the next scan tries again */
        return;
    }
    if (it->rejected || it->err)
        return;
    err = hash_files(it, &problems, &swapped);
    if (err == 0 && problems != NULL) {
        pm__intake_reject_here(it, problems,
                               swapped ? what_swapped : what_unreadable);
        return;
    }
    pm_free(problems); /* lines before an error that ends the step */
    problems = NULL;
    if (err == 0)
        err = count_pages(it, &frames, &total, &problems, &swapped);
    if (err == 0 && problems != NULL) {
        pm__intake_reject_here(it, problems,
                               swapped ? what_swapped : what_unreadable);
        problems = NULL;
        err = 1;
    }
    pm_free(problems);
    if (err == 0)
        err = check_expected(it, total);
    if (err == 0)
        err = take(it);
    if (err == 0)
        err = list_pages(it, frames, total);
    pm_free(frames);
    if (err == 0)
        pm__intake_record_job(it, cat);
    if (err < 0)
        it->err = 1; /* logged, or out of memory: the next scan tries again */
}

static void reject_work(pm__intake_t *it)
{
    int err = pm_hotfolder_reject(it->w->hf, it->b, it->why, it->what);
    char path[PATH_SHOWN];

    it->rejected = err == 0;
    it->err = err != 0;
    if (err != 0)
        pm_log(PM_LOG_ERROR, "intake", "%s: cannot reject %s: %s",
               pm_hotfolder_cfg(it->w->hf)->name,
               pm_escape_name(it->b->path, path, sizeof(path)),
               pm_strerror(err));
}

static void on_work(uv_work_t *req)
{
    pm__intake_t *it = req->data;

    switch (it->step) {
    case STEP_SCAN:
        scan_work(it);
        break;
    case STEP_BATCH:
        batch_work(it);
        break;
    case STEP_REJECT:
        reject_work(it);
        break;
    }
    if (it->rejected)
        pm__intake_record_rejection(it);
}

/* ---- the loop halves ---- */

/* A new copy of `text` for one log line: its lines joined by "; ", each
 * escaped (pm_escape_name). NULL if out of memory. */
static char *one_line(const char *text)
{
    char buf[PATH_SHOWN], *line, *out = NULL;

    while (*text) {
        size_t n = strcspn(text, "\n");

        line = pm_asprintf("%.*s", (int)n, text);
        if (line == NULL ||
            add_line(&out, "%s", pm_escape_name(line, buf, sizeof(buf)))) {
            pm_free(line);
            pm_free(out);
            return NULL;
        }
        pm_free(line);
        text += n + (text[n] == '\n');
    }
    for (char *p = out; p != NULL && (p = strchr(p, '\n')) != NULL;)
        *p = ';'; /* add_line's line breaks */
    return out;
}

/* A batch that went to _rejected/ (its event recorded by the thread):
 * one log line and the alert. */
static void note_rejected(pm__serve_t *s, const pm__intake_t *it)
{
    const char *why = it->why ? it->why : it->b->error;
    const char *hf = pm_hotfolder_cfg(it->w->hf)->name;
    char name[PM_ESCAPED_MAX], *line;

    pm_escape_name(it->b->name, name, sizeof(name));
    line = one_line(why ? why : "?");
    pm_log(PM_LOG_WARN, "intake", "batch %s from %s rejected: %s", name, hf,
           line ? line : "?");
    pm_free(line);
    pm__alert(s, "batch_rejected", name, 0, "hot folder %s: %s", hf,
              why ? why : "?");
}

/* Before a batch step's thread half (which checks the work order): the
 * batch's own error, or its profile, may make it a reject step. */
static void batch_precheck(pm__serve_t *s, pm__intake_t *it)
{
    pm_batch_t *b = it->b;
    const pm_profile_t *p;

    if (b->error != NULL) {
        it->step = STEP_REJECT; /* with the batch's own why and what */
        return;
    }
    p = pm_config_profile(s->cfg, b->profile);
    if (p != NULL)
        it->refuse_pdf_text = !p->pdf_text_redo;
    if (p == NULL) {
        make_reject(
            it,
            pm_asprintf("profile %s is not in the configuration", b->profile),
            "Name a profile of the configuration in batch.ini and "
            "move the batch back into the hot folder.");
    }
}

/* Turns what a scan found into batch steps, in the order found. */
static void scan_done(pm__serve_t *s, pm__intake_t *it)
{
    for (size_t i = 0; i < s->nwatches; i++) {
        while (it->found[i] != NULL) {
            pm_batch_t *b = it->found[i];
            pm__intake_t *bi = item_new(s, STEP_BATCH);

            it->found[i] = b->next;
            b->next = NULL;
            if (bi == NULL) {
                pm_hotfolder_forget(s->watches[i]->hf, b);
                pm_batch_free(b);
                continue;
            }
            bi->w = s->watches[i];
            bi->b = b;
            push(s, bi, 0);
        }
    }
}

/* After a batch step's thread half. */
static void batch_done(pm__serve_t *s, pm__intake_t *it)
{
    char name[PM_ESCAPED_MAX];
    pm_batch_t *b = it->b;

    pm_escape_name(b->name, name, sizeof(name));
    if (it->rejected) {
        note_rejected(s, it);
    } else if (it->err) {
        pm_hotfolder_forget(it->w->hf, b); /* try again next scan */
    } else if (it->space_lost) {
        /* A full catalog: the batch waits in the hot folder, the service
         * pauses until there is room, and the batch is taken again. */
        pm__space_lost(s, s->cfg->catalog);
        pm_hotfolder_forget(it->w->hf, b);
        pm_log(PM_LOG_WARN, "intake",
               "batch %s: not recorded (the catalog is full); back in the "
               "hot folder until there is room",
               name);
    } else if (it->job > 0) {
        pm_log(PM_LOG_INFO, "intake",
               "job=%lld created from batch %s (%s): %zu pages, work order "
               "%s%s%s",
               (long long)it->job, name, pm_hotfolder_cfg(it->w->hf)->name,
               it->npages, b->work_order, it->hold ? ", held: " : "",
               it->hold ? it->hold : "");
        pm__sched_run(s);
    }
}

static void on_after_work(uv_work_t *req, int status)
{
    pm__intake_t *it = req->data;
    pm__serve_t *s = it->s;

    (void)status;
    s->intake_running = NULL;
    if (it->step == STEP_SCAN)
        scan_done(s, it);
    else if (it->step == STEP_BATCH)
        batch_done(s, it);
    else if (it->rejected)
        note_rejected(s, it);
    item_free(it);
    pm__intake_apply_reload(s);
    pump(s);
    pm__serve_maybe_stop(s);
}

/* Starts the next step when none is running. While draining, steps not
 * begun are dropped (their batches stay in the hot folder), except
 * rejects of batches already in the spool. */
static void pump(pm__serve_t *s)
{
    pm__intake_t *it;

    while (s->intake_running == NULL && (it = pop(s)) != NULL) {
        if (s->draining && it->step != STEP_REJECT) {
            item_free(it);
            continue;
        }
        if (it->step == STEP_BATCH && pm__space_paused(s)) {
            /* Paused for want of space: the batch waits where it is. */
            pm_hotfolder_forget(it->w->hf, it->b);
            item_free(it);
            continue;
        }
        if (it->step == STEP_BATCH)
            batch_precheck(s, it);
        if (uv_queue_work(s->loop, &it->req, on_work, on_after_work) != 0) {
            pm_log(PM_LOG_ERROR, "intake", "cannot queue intake work");
            if (it->b != NULL)
                pm_hotfolder_forget(it->w->hf, it->b);
            item_free(it);
            continue;
        }
        s->intake_running = it;
    }
}

/* ---- scans (intake_watch.c asks for them) ---- */

void pm__intake_request_scan(pm__serve_t *s)
{
    pm__intake_t *it;

    if (s->draining || s->nwatches == 0 || pm__intake_busy(s))
        return; /* the timer asks again */
    it = item_new(s, STEP_SCAN);
    if (it == NULL)
        return;
    it->found = pm_calloc(s->nwatches, sizeof(pm_batch_t *));
    if (it->found == NULL) {
        item_free(it);
        return;
    }
    it->now = (int64_t)(uv_now(s->loop) / 1000);
    push(s, it, 0);
    pump(s);
}

/*
 * Batch folders in the spool that no job records: the coordinator stopped
 * between taking a batch and recording its job (milliseconds, but a power
 * cut can land there). Nothing is moved: each is logged, with what to do,
 * and recorded as an "intake.orphan" event.
 */
static void report_orphans(pm__serve_t *s)
{
    DIR *d = opendir(s->spool);
    struct dirent *e;
    char shown[PATH_SHOWN];
    char *path, *stored;
    int64_t job;

    if (d == NULL)
        return; /* created at the first take */
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "job-", 4) == 0)
            continue; /* hidden, or a job's work folder */
        path = pm_asprintf("%s/%s", s->spool, e->d_name);
        stored = NULL;
        if (path == NULL || pm_volume_store(s->cfg, path, &stored) != 0) {
            pm_free(path);
            break;
        }
        if (pm_job_by_source(s->cat, stored, &job) == 0 && job == 0) {
            pm_log(PM_LOG_ERROR, "intake",
                   "%s: a batch in the spool with no job (the service "
                   "stopped while recording it); move it back into its hot "
                   "folder to process it",
                   pm_escape_name(path, shown, sizeof(shown)));
            pm_event_add(s->cat, ACTOR_INTAKE, "intake.orphan", 0, 0, path);
        }
        pm_free(stored);
        pm_free(path);
    }
    closedir(d);
}

int pm__intake_start(pm__serve_t *s)
{
    int err;

    uv_timer_init(s->loop, &s->scan_timer);
    uv_timer_init(s->loop, &s->kick_timer);
    s->scan_timer.data = s->kick_timer.data = s;
    err = pm__watch_open(s, s->cfg, &s->watches);
    if (err != 0)
        return err;
    s->nwatches = s->cfg->nhotfolders;
    if (geteuid() == 0)
        pm_log(PM_LOG_WARN, "intake",
               "running as root: batches, spool and outputs are then owned "
               "by root; run pagemill as a user of its own");
    for (size_t i = 0; i < s->nwatches; i++)
        pm_log(PM_LOG_INFO, "intake", "watching hot folder %s: %s (%s)",
               s->cfg->hotfolders[i].name, s->cfg->hotfolders[i].path,
               s->cfg->hotfolders[i].marker ? "marker" : "settle mode");
    report_orphans(s);
    pm__watch_start(s);
    return 0;
}

void pm__intake_close(pm__serve_t *s)
{
    pm__intake_t *it;

    assert(s->intake_running == NULL); /* the thread's session is free */
    pm_catalog_close(s->intake_cat);
    s->intake_cat = NULL;
    while ((it = pop(s)) != NULL)
        item_free(it);
    if (s->scan_timer.loop != NULL) {
        uv_close((uv_handle_t *)&s->scan_timer, NULL);
        uv_close((uv_handle_t *)&s->kick_timer, NULL);
    }
    pm__watch_close(s->watches, s->nwatches);
    s->watches = NULL;
    s->nwatches = 0;
}
