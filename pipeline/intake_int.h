/*
 * intake_int.h: what intake.c (the steps and their file work) and
 * intake_record.c (their catalog calls, on the step's thread) share.
 */
#ifndef PM_PIPELINE_INTAKE_INT_H
#define PM_PIPELINE_INTAKE_INT_H

#include "pipeline/serve_int.h"

#define PATH_SHOWN   4096 /* a path escaped for a log line */
#define ACTOR_INTAKE "intake"

typedef enum { STEP_SCAN, STEP_BATCH, STEP_REJECT } step_t;

/* The first bytes of a page, read while hashing it. */
typedef struct magic {
    unsigned char b[16];
    size_t n;
} magic_t;

struct pm__intake {
    uv_work_t req;
    pm__serve_t *s;
    step_t step;
    pm__intake_t *next;
    int64_t now; /* scan: the scan clock, seconds */
    /* scan: what each watch found (lists by index into s->watches) */
    pm_batch_t **found;
    /* batch and reject */
    pm__watch_t *w;
    pm_batch_t *b;    /* owned */
    char *why, *what; /* reject with these (NULL: the batch's own) */
    char *hold;       /* hold reason (work order, duplicate), or NULL */
    int64_t duplicate_of;
    char *account;
    int refuse_pdf_text; /* the batch's profile refuses PDFs with text */
    /* set by the thread */
    pm_page_input_t *pages;
    size_t npages;
    char (*sha)[65]; /* one per file */
    magic_t *magic;  /* one per file: its first bytes */
    int64_t *pixels; /* one per file: of all its frames, 0: unknown */
    char *spooled;
    int err;        /* the thread's step failed (logged by the thread) */
    int rejected;   /* the batch went to _rejected/ */
    int space_lost; /* the catalog is full: the batch is back in its folder */
    int64_t job;    /* the job recorded */
};

/* Rejects the batch now, from the thread, with `why` (taken) and `what`:
 * it->rejected, or it->err when that failed (the next scan tries again). */
void pm__intake_reject_here(pm__intake_t *it, char *why, const char *what);

/* ---- intake_record.c: on the step's thread, intake's own session ---- */

/* The session (opened when needed, again after it was lost), or NULL
 * (logged; the batch is tried again at the next scan). */
pm_catalog_t *pm__intake_catalog(pm__serve_t *s);
/* The work order decides: go on (it->account), hold (it->hold) or
 * reject (done here). -1 when the catalog failed (logged). */
int pm__intake_check_workorder(pm__intake_t *it, pm_catalog_t *cat);
/* Records the job of the batch taken into the spool: it->job, or
 * it->space_lost (back in its hot folder), or rejected, or (the session
 * lost) settled without ever recording it twice. */
void pm__intake_record_job(pm__intake_t *it, pm_catalog_t *cat);
/* A batch that went to _rejected/: its "batch.rejected" event. */
void pm__intake_record_rejection(pm__intake_t *it);

#endif /* PM_PIPELINE_INTAKE_INT_H */
