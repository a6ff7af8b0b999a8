/*
 * proto.h: the worker protocol, shared by the coordinator side (convert,
 * and later serve) and by `pagemill worker`. One JSON object per line in
 * each direction (Jansson):
 *
 *   coordinator -> worker
 *     {"op":"page", "task":ID, "page":{...page task...}, "profile":{...}}
 *     {"op":"assemble", "task":ID, "doc":{...}, "spool":PATH, "npages":N,
 *      "profile":{...}}
 *       (the pages' results are in the spool file PATH, JSON Lines, one
 *       page result a line, N lines: see pm_page_spool_* below; the
 *       worker reads it a page at a time, so no message grows with the
 *       page count)
 *   worker -> coordinator
 *     {"op":"ready", "pid":N}
 *     {"op":"result", "task":ID, "ok":true|false, "error":"...",
 *      "page":{...page result...}}          (for page tasks)
 *     {"op":"result", "task":ID, "ok":..., "doc":{...}} (for assembly)
 *
 * The structs below are what each side works with; the functions turn them
 * into lines and back. Strings in structs are owned by the struct and
 * released by its _cleanup function.
 */
#ifndef PM_PROTO_H
#define PM_PROTO_H

#include <stddef.h>
#include <stdio.h>

#include "config/config.h"

typedef enum {
    PM_KIND_BITONAL = 0, /* 1 bit per pixel: CCITT G4 */
    PM_KIND_GRAY,        /* 8-bit gray: JPEG or JPEG 2000 */
    PM_KIND_COLOR,       /* 24-bit RGB: JPEG or JPEG 2000 */
} pm_kind_t;

typedef enum {
    PM_IMG_G4 = 0,
    PM_IMG_JPEG,
    PM_IMG_JP2,
    PM_IMG_MRC, /* G4 mask "<base>.tif" over JPEG background
                 * "<base>.bg.jpg" (workers/mrc.c) */
} pm_img_codec_t;

/* How a page's orientation was decided (docs/orientation.md). */
typedef enum {
    PM_ORIENT_UNKNOWN = 0, /* not recorded (pages from the catalog) */
    PM_ORIENT_OFF,         /* orientation off in the profile */
    PM_ORIENT_UPRIGHT,     /* the fast check found it clearly upright */
    PM_ORIENT_OSD,         /* Tesseract OSD, confident enough alone */
    PM_ORIENT_READ,        /* reading a sample at each turn decided */
    PM_ORIENT_LITTLE_TEXT, /* too little text to tell: left as scanned */
} pm_orient_method_t;

/* Where a page's resolution came from (docs/resolution.md). */
typedef enum {
    PM_DPI_TAG = 0,       /* the file's, believed */
    PM_DPI_DEFAULT = 1,   /* the profile's fallback_dpi */
    PM_DPI_ESTIMATED = 2, /* estimated from the page's text */
} pm_dpi_source_t;

/* Room for a script name of Tesseract OSD ("Devanagari") and its NUL. */
#define PM_SCRIPT_MAX 32

/* Stage timings, milliseconds. `engine` is the time the page waited for
 * Tesseract to load (a worker's first page for a language set, or OSD's
 * first page, unless the worker loaded them ahead): counted in `total`,
 * not in the stage that needed it; 0 on a warm worker. `alto` is the time
 * the page's ALTO element took to make and write (service tasks only),
 * counted in `ocr` too; 0 when none was written. */
typedef struct pm_stage_ms {
    double decode, orient, deskew, blank, ocr, encode, total;
    double engine;
    double alto;
} pm_stage_ms_t;

/* One page to process: which frame of which file, where its artifacts go. */
typedef struct pm_page_task {
    int page;       /* 1-based page number within its document */
    char *src;      /* input file (never modified) */
    int frame;      /* 0-based frame within a multi-page file */
    char *out_base; /* artifacts are out_base + ".jpg" / ".pdf" / ... */
    char *sha256;   /* the file's SHA-256 recorded at intake (64 hex
                     * digits): the worker checks it before decoding; NULL
                     * (convert): no check */
} pm_page_task_t;

/* What became of a page; also the per-page line of the report. */
typedef struct pm_page_result {
    int page;
    char *src;
    int frame;
    int ok;
    char *error;   /* set when !ok: names file, frame and fault */
    int permanent; /* with !ok: the file itself is at fault (corrupt,
                    * unsupported, too big, changed): another attempt
                    * would fail the same way, so there is none */
    int width, height;
    int xres, yres;           /* resolution used for the page */
    int dpi_fallback;         /* pm_dpi_source_t: nonzero when the file's
                               * resolution was missing or not credible */
    int rotation;             /* degrees clockwise applied: 0/90/180/270 */
    double orient_confidence; /* OSD's, when OSD ran */
    int orient_osd;           /* 1: Tesseract OSD ran (it decided only when
                               * orient_method is PM_ORIENT_OSD) */
    pm_orient_method_t orient_method; /* the evidence below is reported
                                       * only when this is known */
    int orient_osd_rotation; /* clockwise turn OSD proposed, -1: none */
    int orient_read[4]; /* well-read words in the sample turned 0/90/180/270
                         * clockwise; -1: not read */
    double skew;        /* degrees corrected */
    double skew_confidence;
    int blank;
    double ink_ratio;
    int words;
    double confidence; /* mean word confidence, 0..100 */
    pm_kind_t kind;
    pm_img_codec_t codec;
    long long bytes;          /* size of the encoded image stream */
    char *image;              /* encoded image artifact */
    char *text_pdf;           /* one-page text-only PDF from Tesseract */
    char *text;               /* UTF-8 text artifact */
    char *script;             /* the script OSD named for the page's text
                               * ("Latin", "Cyrillic"), or NULL: not sure */
    double script_confidence; /* OSD's for it */
    char *review;             /* why a person should look at the page (low OCR
                               * confidence, no words on a page with ink), or NULL;
                               * set by the coordinator (pm_review_reason) */
    pm_stage_ms_t ms;
} pm_page_result_t;

/* One document to assemble from page artifacts. */
typedef struct pm_doc_task {
    char *title;
    char *pdf;         /* final PDF path */
    char *txt;         /* final text path */
    char *icc_profile; /* sRGB ICC profile for the OutputIntent */
    char *tif;         /* TIFF master path, or NULL: none (the profile's
                        * tiff_master says how) */
    pm_tiff_master_t tiff_master; /* from the profile */
    int pdfa_part; /* 1: PDF/A-1b; 2 (or 0): PDF/A-2b; from the profile */
} pm_doc_task_t;

typedef struct pm_doc_result {
    int ok;
    char *error;
    int pages;
    long long pdf_bytes;
    double ms;      /* the whole assembly, the TIFF master included */
    double tiff_ms; /* of it, the TIFF master's; 0 when none was written */
} pm_doc_result_t;

void pm_page_task_cleanup(pm_page_task_t *t);
void pm_page_result_cleanup(pm_page_result_t *r);
/* Cleans up n results and frees the array. Accepts NULL. */
void pm_page_result_list_free(pm_page_result_t *v, size_t n);
void pm_doc_task_cleanup(pm_doc_task_t *t);
void pm_doc_result_cleanup(pm_doc_result_t *r);

/* Deep-copies `src` into `dst` (zeroed first); 0 or PM_ENOMEM (then dst is
 * left clean). */
int pm_page_result_copy(pm_page_result_t *dst, const pm_page_result_t *src);

const char *pm_kind_name(pm_kind_t k);
const char *pm_img_codec_name(pm_img_codec_t c);
/* The codec named `s` ("g4", "jpeg", "jp2", "mrc"), or -1. */
int pm_img_codec_parse(const char *s);
/* "off", "upright-check", "osd", "read" or "too-little-text" ("?" for
 * PM_ORIENT_UNKNOWN). */
const char *pm_orient_method_name(pm_orient_method_t m);
/* "tag", "default" or "estimated". */
const char *pm_dpi_source_name(int source);

/* The orientation evidence of `r` (OSD's proposed turn and the words read
 * at each turn) as a compact JSON text for the catalog: a new string the
 * caller frees with pm_free, or NULL when r->orient_method is unknown or
 * memory ran out. */
char *pm_orient_evidence_text(const pm_page_result_t *r);

/* Sets r->orient_method, orient_osd_rotation and orient_read from a
 * method name and the text above (either may be NULL: not recorded). */
void pm_orient_evidence_parse(pm_page_result_t *r, const char *method,
                              const char *evidence);

/* Messages as parsed by the receiver; everything is owned by the message
 * and released by pm_proto_msg_cleanup(). */
typedef enum {
    PM_MSG_PAGE = 1,
    PM_MSG_ASSEMBLE,
    PM_MSG_READY,
    PM_MSG_PAGE_RESULT,
    PM_MSG_DOC_RESULT,
    PM_MSG_QUIT,
    PM_MSG_WARM,
} pm_msg_type_t;

typedef struct pm_proto_msg {
    pm_msg_type_t type;
    long long task;
    int pid;                    /* READY */
    pm_profile_t profile;       /* PAGE, ASSEMBLE */
    pm_page_task_t page;        /* PAGE */
    pm_doc_task_t doc;          /* ASSEMBLE */
    char *spool;                /* ASSEMBLE: the pages' spool file */
    size_t npages;              /* ASSEMBLE: the pages it holds */
    pm_page_result_t result;    /* PAGE_RESULT */
    pm_doc_result_t doc_result; /* DOC_RESULT */
    char *warm; /* WARM: what to load now (pm_engine_warm's list) */
} pm_proto_msg_t;

void pm_proto_msg_cleanup(pm_proto_msg_t *m);

/*
 * Encoders: each returns a new line (JSON + '\n', NUL-terminated) that the
 * caller owns and frees with pm_free(), or NULL when out of memory.
 */
char *pm_proto_page_task(long long task, const pm_page_task_t *t,
                         const pm_profile_t *p);
char *pm_proto_assemble_task(long long task, const pm_doc_task_t *d,
                             const char *spool, size_t npages,
                             const pm_profile_t *p);
char *pm_proto_ready(int pid);
char *pm_proto_quit(void);
/* Asks a worker to load `list` (pm_engine_warm) before its next task; it
 * answers nothing. */
char *pm_proto_warm(const char *list);
char *pm_proto_page_result(long long task, const pm_page_result_t *r);
char *pm_proto_doc_result(long long task, const pm_doc_result_t *r);

/*
 * Parses one line into *m (zeroed first). Returns 0, PM_EPROTO for a
 * malformed line (detail in errbuf) or PM_ENOMEM.
 */
int pm_proto_parse(const char *line, size_t len, pm_proto_msg_t *m,
                   char *errbuf, size_t errlen);

/* JSON object of a page result as written in <name>.pages.json: a new
 * string the caller owns. Used by the report writer. */
struct json_t;
struct json_t *pm_proto_page_result_json(const pm_page_result_t *r);

/*
 * The page spool (proto_spool.c): a document's page results for its
 * assembly, one JSON object a line (pm_proto_page_result_json), in page
 * order. The coordinator writes it beside the job's temp folder, never in
 * it; the worker reads it a page at a time, once for each output.
 */

/* Writes pages[0..n-1] to a new spool file `path`: what is there first is
 * removed (a crashed attempt's), then the file is made with an exclusive
 * open that follows no link. 0 or a negative PM_* code with why[size]
 * naming the file and the fault; a file half written is removed. */
int pm_page_spool_write(const char *path, const pm_page_result_t *pages,
                        size_t n, char *why, size_t size);

/* Appends one page result as a line to `f`: 0, PM_ENOMEM or PM_EIO. */
int pm_page_spool_put(FILE *f, const pm_page_result_t *r);

typedef struct pm_page_spool pm_page_spool_t;

/* Opens spool `path` for reading (no link followed). 0 or a negative
 * code with why[size]. */
int pm_page_spool_open(const char *path, pm_page_spool_t **out, char *why,
                       size_t size);
/* The next page into *r (zeroed first; the caller cleans it up): 1, 0 at
 * the end, or a negative code with why[size] naming the file and line. */
int pm_page_spool_next(pm_page_spool_t *sp, pm_page_result_t *r, char *why,
                       size_t size);
/* Back to the first page: 0 or a negative code with why[size]. */
int pm_page_spool_rewind(pm_page_spool_t *sp, char *why, size_t size);
/* Accepts NULL. */
void pm_page_spool_close(pm_page_spool_t *sp);

/* Parses one page result object (a spool line) into *r (zeroed first):
 * 0, PM_EPROTO (detail in errbuf) or PM_ENOMEM. */
int pm_proto_parse_page_result(const char *line, size_t len,
                               pm_page_result_t *r, char *errbuf,
                               size_t errlen);

#endif /* PM_PROTO_H */
