/*
 * convert.c: `pagemill convert`, the one-shot path. Inputs become
 * documents (a file is one document of its frames; a folder is one
 * document of its images in natural order), pages go to a pool of warm
 * workers, each finished document is assembled on a worker, and a report
 * per document says what became of every page.
 *
 * Nothing is written over an input; every output goes through a temp name,
 * fsync and rename. Exit status: 0 all pages converted, 3 some failed (the
 * rest are written), 2 usage, 1 nothing could run.
 */
#include "pipeline/convert.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "config/config.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"
#include "pipeline/pool.h"
#include "pipeline/report.h"
#include "workers/engine.h"

#define MAX_ATTEMPTS 2 /* a page whose worker died is tried once more */

typedef struct doc {
    char *name;
    char *pdf, *txt, *report;
    char *spool; /* the pages handed to the assembly (proto.h), in the
                  * work folder; removed when the assembly is done */
    pm_page_result_t *pages;
    int *attempts;
    size_t npages, finished;
    int assembled;
    pm_doc_result_t result;
    char *intake_error; /* the input could not even be listed */
} doc_t;

typedef struct convert {
    const pm_config_t *cfg;
    const pm_profile_t *profile;
    char *out_dir, *work_dir;
    int jobs; /* worker processes */
    doc_t *docs;
    size_t ndocs;
    long long page_tasks; /* task ids below this are pages */
    long long *task_doc;  /* task id -> doc index */
    long long *task_page; /* task id -> page index */
    size_t docs_done;
    pm_pool_t *pool;
    int failed; /* some page or document failed */
    /* Timeline, ms since the run began (the debug log's summary): inputs
     * scanned, first page begun (its result time less its own time), last
     * page back, pages' own time added up. */
    double t0, scanned, first_start, last_page, work;
    /* The progress line on stderr (a terminal, not --quiet): pages sent
     * and finished, when it was last drawn, whether it is on screen. */
    int progress, progress_shown;
    size_t pages_total, pages_done;
    double progress_ms;
} convert_t;

static const char usage_text[] =
    "usage: pagemill convert [--jobs N] [--profile P] [--config FILE]\n"
    "                        [--out DIR] [--keep-work] [--quiet | --verbose]\n"
    "                        INPUT...\n"
    "\n"
    "Converts scans into searchable PDF/A. Each INPUT file becomes one\n"
    "document of its pages; each INPUT folder becomes one document of the\n"
    "images in it, in natural name order. For each document writes\n"
    "DIR/<name>.pdf, DIR/<name>.txt and DIR/<name>.pages.json.\n"
    "\n"
    "  -j, --jobs N      worker processes (default: number of cores)\n"
    "  -p, --profile P   profile from the config file (default: default)\n"
    "  -c, --config F    configuration file (INI)\n"
    "  -o, --out DIR     output folder (default: current folder)\n"
    "      --keep-work   keep per-page artifacts in DIR/.pagemill-work.*\n"
    "  -q, --quiet       no progress line; only errors in the log\n"
    "  -v, --verbose     the debug log too (each page, the timeline)\n"
    "\n"
    "On a terminal, stderr shows the progress: pages done of all, pages per\n"
    "second and the time left.\n"
    "\n"
    "Exit status: 0 every page converted; 3 some pages failed (the rest are\n"
    "written and the report names each failure); 2 usage or configuration\n"
    "error; 1 nothing could be done.\n";

/* ---- building the document list ---- */

static int cmp_natural(const void *a, const void *b)
{
    return pm_natural_cmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the image files of a folder, natural order; hidden and temp files
 * are never taken. */
static int list_folder(const char *dir, char ***files, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    size_t cnt = 0;
    int err = 0;

    *files = NULL;
    *n = 0;
    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char *path, **grown;
        struct stat st;

        if (e->d_name[0] == '.' || !pm_image_name(e->d_name))
            continue;
        path = pm_asprintf("%s/%s", dir, e->d_name);
        if (path == NULL) {
            err = PM_ENOMEM;
            break;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            pm_free(path);
            continue;
        }
        grown = pm_realloc(v, (cnt + 1) * sizeof(*v));
        if (grown == NULL) {
            pm_free(path);
            err = PM_ENOMEM;
            break;
        }
        v = grown;
        v[cnt++] = path;
    }
    closedir(d);
    if (err) {
        for (size_t i = 0; i < cnt; i++)
            pm_free(v[i]);
        pm_free(v);
        return err;
    }
    qsort(v, cnt, sizeof(*v), cmp_natural);
    *files = v;
    *n = cnt;
    return 0;
}

static int add_page(doc_t *doc, const char *src, int frame)
{
    pm_page_result_t *grown =
        pm_realloc(doc->pages, (doc->npages + 1) * sizeof(*grown));

    if (grown == NULL)
        return PM_ENOMEM;
    doc->pages = grown;
    memset(&grown[doc->npages], 0, sizeof(*grown));
    grown[doc->npages].page = (int)doc->npages + 1;
    grown[doc->npages].frame = frame;
    grown[doc->npages].src = pm_strdup(src);
    if (grown[doc->npages].src == NULL)
        return PM_ENOMEM;
    doc->npages++;
    return 0;
}

/* A copy of `s` with every byte that is not part of valid UTF-8 replaced
 * by `repl`. */
static char *utf8_lossy(const char *s, char repl)
{
    char *d = pm_strdup(s);

    for (char *p = d; p != NULL && *p; p++) {
        char one[5] = {0};
        size_t n = ((unsigned char)*p < 0x80)   ? 1
                   : ((unsigned char)*p < 0xe0) ? 2
                   : ((unsigned char)*p < 0xf0) ? 3
                                                : 4;
        memcpy(one, p, n <= strlen(p) ? n : strlen(p));
        if (!pm_utf8_valid(one))
            *p = repl;
        else
            p += n - 1;
    }
    return d;
}

/* Adds every frame of `file` to the document. A file whose frames can't be
 * counted still becomes one page, which fails with the reason. */
static int add_file(pm_engine_t *eng, doc_t *doc, const char *file)
{
    int nframes = 0, err;

    if (!pm_utf8_valid(file)) {
        /* The worker protocol and the report are JSON, UTF-8 only: the
         * report shows the name with '?' for each byte it cannot carry. */
        char *shown = utf8_lossy(file, '?');
        err = shown ? add_page(doc, shown, 0) : PM_ENOMEM;
        if (err == 0)
            doc->pages[doc->npages - 1].error = pm_asprintf(
                "%s: file name is not valid UTF-8; rename the file", shown);
        pm_free(shown);
        return err;
    }
    if (pm_load_count_frames(eng, file, &nframes) != 0) {
        err = add_page(doc, file, 0);
        if (err)
            return err;
        doc->pages[doc->npages - 1].error = pm_strdup(pm_engine_errmsg(eng));
        return 0;
    }
    for (int f = 0; f < nframes; f++)
        if ((err = add_page(doc, file, f)) != 0)
            return err;
    return 0;
}

static int add_doc(convert_t *c, pm_engine_t *eng, const char *input)
{
    struct stat st;
    doc_t *doc, *grown;
    char **files = NULL;
    size_t nfiles = 0;
    int err = 0;

    grown = pm_realloc(c->docs, (c->ndocs + 1) * sizeof(*grown));
    if (grown == NULL)
        return PM_ENOMEM;
    c->docs = grown;
    doc = &c->docs[c->ndocs++];
    memset(doc, 0, sizeof(*doc));
    /* Outputs are named after the input; the protocol and the report are
     * UTF-8, so a byte that is not becomes '_' in the name. */
    char *stem = pm_path_stem(input);
    doc->name = stem ? utf8_lossy(stem, '_') : NULL;
    pm_free(stem);
    if (doc->name == NULL)
        return PM_ENOMEM;
    if (stat(input, &st) != 0) {
        doc->intake_error = pm_asprintf("%s: %s", input, strerror(errno));
        return doc->intake_error ? 0 : PM_ENOMEM;
    }
    if (!S_ISDIR(st.st_mode))
        return add_file(eng, doc, input);
    err = list_folder(input, &files, &nfiles);
    if (err == 0 && nfiles == 0)
        doc->intake_error = pm_asprintf("%s: folder has no images", input);
    else if (err)
        doc->intake_error = pm_asprintf("%s: %s", input, pm_strerror(err));
    for (size_t i = 0; i < nfiles; i++) {
        if (err == 0)
            err = add_file(eng, doc, files[i]);
        pm_free(files[i]);
    }
    pm_free(files);
    return err == PM_ENOMEM ? err : 0;
}

/* Output paths; refuses two inputs that would write the same names. */
static int plan_outputs(convert_t *c)
{
    for (size_t i = 0; i < c->ndocs; i++) {
        doc_t *d = &c->docs[i];
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->docs[j].name, d->name) == 0) {
                fprintf(stderr,
                        "pagemill convert: two inputs would both write "
                        "%s/%s.pdf; rename one or convert them apart\n",
                        c->out_dir, d->name);
                return PM_EINVAL;
            }
        }
        d->pdf = pm_asprintf("%s/%s.pdf", c->out_dir, d->name);
        d->txt = pm_asprintf("%s/%s.txt", c->out_dir, d->name);
        d->report = pm_asprintf("%s/%s.pages.json", c->out_dir, d->name);
        d->attempts = pm_calloc(d->npages, sizeof(int));
        if (!d->pdf || !d->txt || !d->report || !d->attempts)
            return PM_ENOMEM;
    }
    return 0;
}

/* ---- reports ---- */

static int write_report(const convert_t *c, const doc_t *d)
{
    pm_report_t r = {
        .document = d->name,
        .profile = c->profile->name,
        .written = d->intake_error == NULL && d->result.ok,
        .pdf = d->pdf,
        .txt = d->txt,
        .pages = d->pages,
        .npages = d->npages,
        .result = &d->result,
        .error = d->intake_error ? d->intake_error : d->result.error,
    };

    return pm_report_write_pages(d->report, pm_report_head_json(&r), d->pages,
                                 d->npages, NULL);
}

static void print_summary(const doc_t *d)
{
    size_t ok = 0, blank = 0;

    for (size_t i = 0; i < d->npages; i++) {
        ok += (size_t)d->pages[i].ok;
        blank += (size_t)(d->pages[i].ok && d->pages[i].blank);
    }
    if (d->result.ok)
        printf("%s: %zu page(s), %zu converted, %zu failed, %zu blank, "
               "%zu billable -> %s (%lld bytes), %s, %s\n",
               d->name, d->npages, ok, d->npages - ok, blank, ok - blank,
               d->pdf, d->result.pdf_bytes, d->txt, d->report);
    else
        printf("%s: FAILED, no PDF written: %s; report %s\n", d->name,
               d->intake_error   ? d->intake_error
               : d->result.error ? d->result.error
                                 : "no page converted",
               d->report);
    for (size_t i = 0; i < d->npages; i++)
        if (!d->pages[i].ok)
            printf("  page %d failed: %s\n", d->pages[i].page,
                   d->pages[i].error ? d->pages[i].error : "unknown");
}

/* ---- progress on a terminal ---- */

/* Least time between two drawings of the progress line (ms). */
#define PROGRESS_MS 250

/* Takes the progress line off the screen (before other output). */
static void progress_clear(convert_t *c)
{
    if (!c->progress_shown)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    c->progress_shown = 0;
}

/* "pagemill convert: 12 of 40 pages, 3.1 pages/s, 0:09 left" over the
 * last one, at most every PROGRESS_MS unless `force`. */
static void progress_draw(convert_t *c, int force)
{
    double now = pm_now_ms(), secs, rate;
    char left[32] = "-:--";

    if (!c->progress || (!force && now - c->progress_ms < PROGRESS_MS))
        return;
    c->progress_ms = now;
    secs = (now - c->t0 - c->scanned) / 1000.0;
    rate = secs > 0 ? (double)c->pages_done / secs : 0;
    if (rate > 0) {
        long s = (long)((double)(c->pages_total - c->pages_done) / rate + 0.5);

        if (s >= 3600)
            snprintf(left, sizeof(left), "%ld:%02ld:%02ld", s / 3600,
                     s / 60 % 60, s % 60);
        else
            snprintf(left, sizeof(left), "%ld:%02ld", s / 60, s % 60);
    }
    fprintf(stderr,
            "\rpagemill convert: %zu of %zu pages, %.1f pages/s, %s left"
            "\033[K",
            c->pages_done, c->pages_total, rate, left);
    fflush(stderr);
    c->progress_shown = 1;
}

/* ---- driving the pool ---- */

/* Where the wall time went, for benchmarks: start-up until the first page
 * began, the pages' span against their work spread evenly over the
 * workers, and what came after the last page (assembly). */
static void log_timeline(const convert_t *c)
{
    double end = pm_now_ms() - c->t0;
    int jobs = c->jobs > 0 ? c->jobs : 1;

    pm_log(PM_LOG_DEBUG, "convert",
           "timeline: scanned %.0f ms, first page %.0f ms, last page %.0f "
           "ms, done %.0f ms; page work %.0f ms on %d workers (%.0f ms "
           "each)",
           c->scanned, c->first_start, c->last_page, end, c->work, jobs,
           c->work / jobs);
}

static void doc_finished(convert_t *c, doc_t *d)
{
    int err;

    for (size_t i = 0; i < d->npages; i++)
        if (!d->pages[i].ok)
            c->failed = 1;
    if (!d->result.ok)
        c->failed = 1;
    err = write_report(c, d);
    if (err) {
        fprintf(stderr, "pagemill convert: cannot write %s: %s\n", d->report,
                pm_strerror(err));
        c->failed = 1;
    }
    progress_clear(c);
    print_summary(d);
    fflush(stdout);
    if (++c->docs_done < c->ndocs)
        progress_draw(c, 1);
    if (c->docs_done == c->ndocs) {
        log_timeline(c);
        pm_pool_close(c->pool);
    }
}

static void submit_assembly(convert_t *c, size_t di)
{
    doc_t *d = &c->docs[di];
    pm_doc_task_t t = {0};
    size_t ok = 0;
    char *line, why[1024];
    int err;

    for (size_t i = 0; i < d->npages; i++)
        ok += (size_t)d->pages[i].ok;
    if (ok == 0 || d->intake_error != NULL) {
        d->result.ok = 0;
        doc_finished(c, d);
        return;
    }
    t.title = d->name;
    t.pdf = d->pdf;
    t.txt = d->txt;
    t.tif = NULL; /* convert writes no archival master */
    t.icc_profile = c->cfg->icc_profile;
    d->spool = pm_asprintf("%s/d%zu.pages.jsonl", c->work_dir, di);
    err = d->spool == NULL ? PM_ENOMEM
                           : pm_page_spool_write(d->spool, d->pages, d->npages,
                                                 why, sizeof(why));
    if (err != 0) {
        d->result.error = pm_strdup(err == PM_ENOMEM ? "out of memory" : why);
        doc_finished(c, d);
        return;
    }
    line = pm_proto_assemble_task(c->page_tasks + (long long)di, &t, d->spool,
                                  d->npages, c->profile);
    if (pm_pool_submit(c->pool, c->page_tasks + (long long)di, line, 1) != 0) {
        d->result.error = pm_strdup("out of memory");
        doc_finished(c, d);
    }
}

static int submit_page(convert_t *c, long long task)
{
    doc_t *d = &c->docs[c->task_doc[task]];
    pm_page_result_t *p = &d->pages[c->task_page[task]];
    pm_page_task_t t = {0}; /* no sha256: no check */
    char base[64];
    char *path;

    snprintf(base, sizeof(base), "/d%lld-p%05d", c->task_doc[task], p->page);
    path = pm_asprintf("%s%s", c->work_dir, base);
    if (path == NULL)
        return PM_ENOMEM;
    t.page = p->page;
    t.src = p->src;
    t.frame = p->frame;
    t.out_base = path;
    d->attempts[c->task_page[task]]++;
    char *line = pm_proto_page_task(task, &t, c->profile);
    pm_free(path);
    return pm_pool_submit(c->pool, task, line, 0);
}

static void page_done(convert_t *c, long long task, const pm_proto_msg_t *m,
                      const char *why)
{
    long long di = c->task_doc[task], pi = c->task_page[task];
    doc_t *d = &c->docs[di];
    pm_page_result_t *p = &d->pages[pi];

    if (m == NULL && d->attempts[pi] < MAX_ATTEMPTS) {
        progress_clear(c);
        pm_log(PM_LOG_WARN, "convert", "page %d of %s lost (%s); retrying",
               p->page, d->name, why);
        if (submit_page(c, task) == 0)
            return;
    }
    if (m != NULL && m->type == PM_MSG_PAGE_RESULT) {
        pm_page_result_t copy;
        char review[256];
        double now = pm_now_ms() - c->t0;

        if (c->work == 0 || now - m->result.ms.total < c->first_start)
            c->first_start = now - m->result.ms.total;
        c->last_page = now;
        c->work += m->result.ms.total;
        if (pm_page_result_copy(&copy, &m->result) == 0) {
            pm_page_result_cleanup(p);
            *p = copy;
            /* Flagged as the service flags it (report.h). */
            pm_free(p->review);
            p->review = NULL;
            if (pm_review_reason(c->profile, p, review, sizeof(review)))
                p->review = pm_strdup(review);
        }
    } else {
        p->ok = 0;
        pm_free(p->error);
        p->error = pm_asprintf("%s frame %d: %s", p->src, p->frame + 1,
                               why ? why : "unexpected reply");
    }
    c->pages_done++;
    progress_draw(c, c->pages_done == c->pages_total);
    if (++d->finished == d->npages)
        submit_assembly(c, (size_t)di);
}

static void on_task_done(void *arg, long long task, const pm_proto_msg_t *m,
                         const char *why)
{
    convert_t *c = arg;
    doc_t *d;

    if (task < c->page_tasks) {
        page_done(c, task, m, why);
        return;
    }
    d = &c->docs[task - c->page_tasks];
    if (d->spool != NULL)
        unlink(d->spool);
    if (m != NULL && m->type == PM_MSG_DOC_RESULT) {
        pm_free(d->result.error);
        d->result = m->doc_result;
        d->result.error = pm_strdup(m->doc_result.error);
    } else {
        d->result.ok = 0;
        d->result.error = pm_strdup(why ? why : "unexpected reply");
    }
    doc_finished(c, d);
}

/* Estimated work of page j: its file's bytes shared among the file's
 * frames (frames of one file are consecutive). Dense pages compress
 * worse and take OCR longer; the estimate only orders the queue. */
static double page_cost(const doc_t *d, size_t j)
{
    const char *src = d->pages[j].src;
    size_t first = j, last = j;
    struct stat st;

    while (first > 0 && strcmp(d->pages[first - 1].src, src) == 0)
        first--;
    while (last + 1 < d->npages && strcmp(d->pages[last + 1].src, src) == 0)
        last++;
    if (stat(src, &st) != 0)
        return 0;
    return (double)st.st_size / (double)(last - first + 1);
}

typedef struct pending {
    long long task;
    double cost;
} pending_t;

static int cmp_cost_desc(const void *a, const void *b)
{
    const pending_t *x = a, *y = b;

    if (x->cost != y->cost)
        return x->cost < y->cost ? 1 : -1;
    return x->task < y->task ? -1 : x->task > y->task;
}

/* Numbers every page task, settles pages that failed at intake, and
 * submits the rest largest first: with every page known up front, longest
 * first leaves the shortest pages for the end, so workers finish together
 * instead of one waiting on the other's last big page. */
static int start_tasks(convert_t *c)
{
    long long n = 0, task = 0;
    pending_t *todo;
    size_t ntodo = 0;
    int err = 0;

    for (size_t i = 0; i < c->ndocs; i++)
        n += (long long)c->docs[i].npages;
    c->page_tasks = n;
    c->task_doc = pm_calloc((size_t)n + 1, sizeof(long long));
    c->task_page = pm_calloc((size_t)n + 1, sizeof(long long));
    todo = pm_calloc((size_t)n + 1, sizeof(*todo));
    if (c->task_doc == NULL || c->task_page == NULL || todo == NULL) {
        pm_free(todo);
        return PM_ENOMEM;
    }
    for (size_t i = 0; i < c->ndocs; i++) {
        doc_t *d = &c->docs[i];
        for (size_t j = 0; j < d->npages; j++, task++) {
            c->task_doc[task] = (long long)i;
            c->task_page[task] = (long long)j;
            if (d->intake_error == NULL && d->pages[j].error == NULL) {
                todo[ntodo].task = task;
                todo[ntodo++].cost = page_cost(d, j);
            } else {
                d->finished++; /* failed at intake: counted, never sent */
            }
        }
    }
    qsort(todo, ntodo, sizeof(*todo), cmp_cost_desc);
    c->pages_total = ntodo;
    progress_draw(c, 1);
    for (size_t k = 0; k < ntodo && err == 0; k++)
        err = submit_page(c, todo[k].task);
    pm_free(todo);
    /* Documents with nothing to convert are finished now. */
    for (size_t i = 0; i < c->ndocs && err == 0; i++) {
        doc_t *d = &c->docs[i];
        if (d->intake_error != NULL || d->npages == 0)
            doc_finished(c, d);
        else if (d->finished == d->npages)
            submit_assembly(c, i);
    }
    return err;
}

/* ---- command ---- */

static void convert_cleanup(convert_t *c)
{
    for (size_t i = 0; i < c->ndocs; i++) {
        doc_t *d = &c->docs[i];
        pm_page_result_list_free(d->pages, d->npages);
        pm_free(d->attempts);
        pm_free(d->name);
        pm_free(d->pdf);
        pm_free(d->txt);
        pm_free(d->report);
        pm_free(d->spool);
        pm_free(d->intake_error);
        pm_doc_result_cleanup(&d->result);
    }
    pm_free(c->docs);
    pm_free(c->task_doc);
    pm_free(c->task_page);
    pm_free(c->out_dir);
    pm_free(c->work_dir);
}

typedef struct convert_args {
    int jobs;
    const char *profile, *config, *out;
    int keep_work;
    int quiet;
    int first_input;
} convert_args_t;

/* The log's level here and in the workers (which inherit PAGEMILL_LOG). */
static void set_log_level(const char *name)
{
    pm_log_threshold = pm_log_level_parse(name);
    setenv("PAGEMILL_LOG", name, 1);
}

static int parse_args(int argc, char **argv, convert_args_t *a)
{
    static const struct option opts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"profile", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'c'},
        {"out", required_argument, NULL, 'o'},
        {"keep-work", no_argument, NULL, 'k'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ch;
    char *end;

    memset(a, 0, sizeof(*a));
    a->profile = "default";
    a->out = ".";
    optind = 1;
    while ((ch = getopt_long(argc, argv, "j:p:c:o:qvh", opts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            a->jobs = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || a->jobs < 1 || a->jobs > 256) {
                fprintf(stderr,
                        "pagemill convert: --jobs wants 1..256, got "
                        "'%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 'p':
            a->profile = optarg;
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'k':
            a->keep_work = 1;
            break;
        case 'q':
        case 'v':
            a->quiet = ch == 'q';
            set_log_level(ch == 'q' ? "error" : "debug");
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        default:
            fputs(usage_text, stderr);
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "pagemill convert: no INPUT given\n\n%s", usage_text);
        return -1;
    }
    a->first_input = optind;
    return 0;
}

static int load_config(const char *path, pm_config_t **cfg)
{
    char *errors = NULL;
    int err;

    if (path == NULL) {
        *cfg = pm_config_new();
        return *cfg ? 0 : PM_ENOMEM;
    }
    err = pm_config_load(path, cfg, &errors);
    if (err) {
        fprintf(stderr, "%s", errors ? errors : pm_strerror(err));
        pm_free(errors);
    }
    return err;
}

/* The profile's languages, before any page runs; 0 or an error, told. */
static int check_languages(const pm_config_t *cfg, const pm_profile_t *p)
{
    char *errors = NULL;
    int err = pm_config_check_languages(cfg, p, &errors);

    if (errors != NULL)
        fputs(errors, stderr);
    else if (err)
        fprintf(stderr, "pagemill convert: %s\n", pm_strerror(err));
    pm_free(errors);
    return err;
}

/* Lists every input and counts its frames; 0 or an exit status. */
static int scan_inputs(convert_t *c, const convert_args_t *a, int argc,
                       char **argv)
{
    pm_engine_t *eng = NULL;
    size_t npages = 0;
    int err;

    err = pm_engine_open(c->cfg->tessdata, &eng);
    if (err == 0)
        pm_engine_set_pdf_text(eng, !c->profile->pdf_text_redo);
    for (int i = a->first_input; err == 0 && i < argc; i++)
        err = add_doc(c, eng, argv[i]);
    pm_engine_close(eng);
    if (err == 0)
        err = plan_outputs(c);
    if (err)
        return err == PM_EINVAL ? PM_EXIT_USAGE : PM_EXIT_FAILURE;
    for (size_t i = 0; i < c->ndocs; i++)
        npages += c->docs[i].npages;
    c->scanned = pm_now_ms() - c->t0;
    pm_log(PM_LOG_DEBUG, "convert",
           "inputs scanned: %zu document(s), %zu "
           "page(s)",
           c->ndocs, npages);
    return 0;
}

/* The workers start first: each loads its libraries and its engines while
 * the inputs are listed and counted here, so the first pages find them
 * ready instead of paying for the start in the wall time. */
static int run(convert_t *c, const convert_args_t *a, int argc, char **argv)
{
    pm_pool_opts_t po;
    uv_loop_t loop;
    char exe[4096];
    size_t exe_len = sizeof(exe);
    int err, rc = 0;

    if (uv_exepath(exe, &exe_len) != 0 || uv_loop_init(&loop) != 0)
        return PM_EXIT_FAILURE;
    pm_pool_opts_from_config(&po, c->cfg, exe, a->jobs);
    c->jobs = po.workers;
    po.warm = c->profile->ocr ? c->profile->languages : NULL;
    err = pm_pool_open(&loop, &po, on_task_done, c, &c->pool);
    if (err == 0) {
        rc = scan_inputs(c, a, argc, argv);
        if (rc == 0)
            err = start_tasks(c);
    }
    if (err)
        fprintf(stderr, "pagemill convert: cannot start workers: %s\n",
                pm_strerror(err));
    if (err || rc)
        pm_pool_close(c->pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (rc)
        return rc;
    if (err)
        return PM_EXIT_FAILURE;
    return c->failed ? PM_EXIT_PARTIAL : PM_EXIT_OK;
}

int pm_convert_main(int argc, char **argv)
{
    convert_args_t a;
    convert_t c;
    pm_config_t *cfg = NULL;
    int rc;

    rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc > 0 ? PM_EXIT_OK : PM_EXIT_USAGE;
    if (load_config(a.config, &cfg) != 0)
        return PM_EXIT_USAGE;
    memset(&c, 0, sizeof(c));
    c.t0 = pm_now_ms();
    c.progress = !a.quiet && isatty(STDERR_FILENO);
    c.cfg = cfg;
    c.profile = pm_config_profile(cfg, a.profile);
    if (c.profile == NULL) {
        fprintf(stderr, "pagemill convert: no profile '%s' in %s\n", a.profile,
                cfg->source ? cfg->source : "built-in defaults");
        pm_config_free(cfg);
        return PM_EXIT_USAGE;
    }
    if (check_languages(cfg, c.profile) != 0) {
        pm_config_free(cfg);
        return PM_EXIT_USAGE;
    }
    c.out_dir = pm_strdup(a.out);
    c.work_dir = pm_asprintf("%s/.pagemill-work.%ld", a.out, (long)getpid());
    if (c.out_dir == NULL || c.work_dir == NULL ||
        pm_mkdir_p(c.work_dir) != 0) {
        fprintf(stderr, "pagemill convert: cannot create %s: %s\n", a.out,
                strerror(errno));
        convert_cleanup(&c);
        pm_config_free(cfg);
        return PM_EXIT_FAILURE;
    }
    rc = run(&c, &a, argc, argv);
    if (!a.keep_work)
        pm_rmtree(c.work_dir);
    else
        fprintf(stderr, "pagemill convert: page artifacts kept in %s\n",
                c.work_dir);
    convert_cleanup(&c);
    pm_config_free(cfg);
    return rc;
}
