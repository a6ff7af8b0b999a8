/*
 * engine.h: the page engine. One page in, one set of page artifacts out,
 * through stages that are each a function with its own tests:
 *
 *   pm_load_page     decode TIFF/PNG/JPEG/JPEG 2000/BMP, limits, resolution
 *   pm_normalize     pick bitonal/gray/colour, binarize a copy for analysis
 *   pm_orient_page   fast check, Tesseract OSD, reading: turn pages upright
 *   pm_deskew_page   Leptonica skew search on the binary copy, rotate original
 *   pm_blank_check   ink coverage after trimming borders and specks
 *   pm_ocr_page      Tesseract (kept warm): words, confidence, text, text PDF
 *   pm_encode_page   CCITT G4 (libtiff) or JPEG / JPEG 2000 (libvips), or
 *                    MRC: G4 text mask over a JPEG background (mrc.c)
 *
 * pm_process_page runs them in order for one page task; pm_assemble_doc
 * (pdfa.c) turns page artifacts into a PDF/A-2b and a text file.
 *
 * The engine handle owns the warm Tesseract instances and the detail text
 * of the last error (pm_engine_errmsg). It is not thread-safe: one per
 * worker process. Nothing here knows about the catalog or the service.
 */
#ifndef PM_WORKERS_ENGINE_H
#define PM_WORKERS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"

struct Pix;
struct Box;
typedef struct pm_engine pm_engine_t;

/*
 * Opens an engine. `tessdata` may be NULL for Tesseract's default. Tesseract
 * itself is initialised lazily on the first page that needs it, then kept.
 * On success *out holds a new engine the caller owns (pm_engine_close).
 */
int pm_engine_open(const char *tessdata, pm_engine_t **out);

/* Language sets an engine keeps loaded at once (one Tesseract instance
 * each); a page for another set replaces the one used longest ago. */
#define PM_ENGINE_OCR_SETS 4

/*
 * Loads Tesseract now instead of on the first page that needs it, so a
 * worker can do it before its first task. `list` is one or more language
 * sets separated by ',' ("eng", "eng,deu+eng"), each kept as its own
 * instance (at most PM_ENGINE_OCR_SETS); the entry "osd" loads the
 * orientation engine (OSD) too, which otherwise loads on the first page
 * that needs it. 0 or the first error (detail in pm_engine_errmsg); the
 * pages that need what failed then fail with the same error.
 */
int pm_engine_warm(pm_engine_t *eng, const char *list);

/* Milliseconds spent loading Tesseract instances (OCR and OSD) since the
 * engine was opened, and how many were loaded. */
double pm_engine_load_ms(const pm_engine_t *eng);
int pm_engine_loads(const pm_engine_t *eng);

/* Pages Tesseract OSD looked at since the engine was opened, for the
 * orientation or the script (script.c). */
int pm_engine_osd_runs(const pm_engine_t *eng);

/* Releases the engine and its Tesseract instances. Accepts NULL. */
void pm_engine_close(pm_engine_t *eng);

/* Detail of the last failure, e.g. "scan.tif frame 2: truncated strip".
 * Borrowed; valid until the next call on the engine. */
const char *pm_engine_errmsg(const pm_engine_t *eng);

/* Records an error message on the engine; returns `err` for chaining. */
int pm__engine_fail(pm_engine_t *eng, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- stages ---- */

/* A decoded, normalised page and its analysis copy. */
typedef struct pm_page_image {
    struct Pix *pix;     /* 1 bpp, 8 bpp gray or 32 bpp RGB; owned */
    struct Pix *binary;  /* 1 bpp analysis copy (may share pix); owned */
    struct Box *content; /* ink bounding box after deskew, or NULL; owned */
    pm_kind_t kind;
    int xres, yres;
} pm_page_image_t;

/* Releases both images and the box. Accepts a zeroed struct. */
void pm_page_image_cleanup(pm_page_image_t *img);

/*
 * Reads the open file `fd` (borrowed) to its end and writes its SHA-256
 * as 64 lower-case hex digits into hex; each chunk read also goes to
 * `sink` when not NULL (which returns 0 or an error that stops the read).
 * The one digest reader: intake, publishing and page verification. 0, or
 * -errno / PM_ENOMEM / PM_EIO / the sink's error, with hex empty.
 */
int pm_sha256_fd(int fd, char hex[PM_SHA256_HEX],
                 int (*sink)(void *arg, const unsigned char *buf, size_t n),
                 void *arg);

/*
 * Counts the frames (pages) of an image file without decoding pixels.
 * 0 and *nframes >= 1, or an error with the detail on `eng`.
 */
int pm_load_count_frames(pm_engine_t *eng, const char *path, int *nframes);

/* Whether counting refuses a PDF with a text layer, as decoding does
 * under a profile without pdf_text = redo (so that intake and convert
 * refuse the file rather than fail each of its pages). Off by default. */
void pm_engine_set_pdf_text(pm_engine_t *eng, int refuse);

/* pm_load_count_frames() of the open file `fd` (a regular file, read from
 * its start; not closed), named `name` in messages. *pixels receives the
 * pixels of all its frames as their headers give them (intake's work
 * estimate), 0 when unknown (a PDF, or a header it cannot read). */
int pm_load_count_frames_fd(pm_engine_t *eng, int fd, const char *name,
                            int *nframes, int64_t *pixels);

/*
 * Decodes frame `frame` of `path` into *out (caller owns, pixDestroy).
 * Refuses images over p->max_pixels before allocating them. Sets the
 * resolution to p->fallback_dpi when missing or outside 50..2400 and sets
 * *dpi_fallback. Errors (PM_ECORRUPT, PM_EUNSUPP, PM_ETOOBIG, -errno) name
 * the file, frame and fault in pm_engine_errmsg().
 */
int pm_load_page(pm_engine_t *eng, const char *path, int frame,
                 const pm_profile_t *p, struct Pix **out, int *dpi_fallback);

/*
 * Takes ownership of `pix` (even on failure) and fills `img`: converts to
 * 1/8/32 bpp, removes colormaps and alpha, classifies bitonal/gray/colour
 * per p->color_mode, and makes the 1 bpp analysis copy.
 */
int pm_normalize(pm_engine_t *eng, struct Pix *pix, const pm_profile_t *p,
                 pm_page_image_t *img);

/* What the orientation stage decided and on what evidence. */
typedef struct pm_orient_out {
    int rotation;              /* clockwise turn applied: 0/90/180/270 */
    pm_orient_method_t method; /* what decided */
    int osd;                   /* 1: Tesseract OSD ran */
    double osd_confidence;     /* OSD's, 0 when it did not run or found
                                * too little text */
    int osd_rotation;          /* clockwise turn OSD proposed, -1: none */
    int read[4]; /* well-read words in the sample turned 0/90/180/270
                  * clockwise, -1: not read */
    char script[PM_SCRIPT_MAX]; /* the script OSD named, "" if none */
    double script_confidence;   /* OSD's for it */
} pm_orient_out_t;

/* OSD's script verdict is sure from this confidence on; below it (from
 * 1.0, where it is reported) it holds a page for review only together
 * with a low OCR confidence (pm_review_reason). */
#define PM_SCRIPT_SURE_CONF 2.0

/* Whether the languages `languages` ("eng+deu") read text in OSD's script
 * `script` ("Latin", "Cyrillic", "Han", ...): 1 or 0 (script.c). */
int pm_script_read_by(const char *script, const char *languages);

/*
 * Detects the orientation of img->binary and turns both images upright
 * (docs/orientation.md). A fast check (Leptonica's ascender/descender
 * statistics, ~10 ms) settles pages that are clearly upright; the others
 * go to Tesseract OSD, whose verdict alone decides only when it is very
 * confident. Otherwise a sample of the page is read with the OCR instance
 * (p->languages) at all four turns, and the turn with clearly the most
 * well-read words wins; a page is turned only when that turn clearly beats
 * the page as scanned. Too little text to judge leaves the page as scanned
 * and is not an error. Fills *out.
 */
int pm_orient_page(pm_engine_t *eng, const pm_profile_t *p,
                   pm_page_image_t *img, pm_orient_out_t *out);

/*
 * Finds the skew angle on img->binary within +/- p->deskew_max_angle and,
 * when confident, rotates img->pix (keeping its depth, bringing in white)
 * and img->binary by it. The result has the scan's size unless ink turned
 * beyond it, in which case it grows just enough to keep all the ink: no
 * ink is cut off. Sets img->content to the bounding box of the rotated
 * binary's ink. *angle is
 * the correction applied in degrees (0 if none), *confidence Leptonica's
 * score.
 */
int pm_deskew_page(pm_engine_t *eng, const pm_profile_t *p,
                   pm_page_image_t *img, double *angle, double *confidence);

/*
 * Measures ink coverage on `binary` (1 bpp at `res` dpi) after trimming a
 * border of 5% per side and dropping specks smaller than 1/50 inch. Sets
 * *ink_ratio in 0..1 and *blank = ink_ratio < p->blank_ink_ratio.
 */
int pm_blank_check(pm_engine_t *eng, const pm_profile_t *p, struct Pix *binary,
                   int res, int *blank, double *ink_ratio);

/* A word Tesseract read at a confidence below this is doubtful
 * (pm_ocr_out_t.doubtful). */
#define PM_OCR_DOUBTFUL_CONF 50

/* OCR results for one page. */
typedef struct pm_ocr_out {
    int words;
    int doubtful;      /* words below PM_OCR_DOUBTFUL_CONF */
    double confidence; /* mean word confidence 0..100, 0 with no words */
    char *text;        /* UTF-8, owned; pm_free */
    double alto_ms;    /* making and writing the ALTO element; 0: none */
} pm_ocr_out_t;

/*
 * Runs OCR on `pix` with p->languages and p->ocr_psm using the engine's warm
 * Tesseract, on the part of the page inside `area` (borrowed; NULL for the
 * whole page). Fills `out`; when `pdf_base` is not NULL also writes
 * pdf_base + ".pdf", a one-page text-only PDF (Tesseract's renderer) of the
 * whole page whose invisible words line up with the image, and, when
 * `alto` is set, pdf_base + ".alto.xml", the page's ALTO <Page> element.
 */
int pm_ocr_page(pm_engine_t *eng, const pm_profile_t *p, struct Pix *pix,
                struct Box *area, int xres, int yres, const char *pdf_base,
                int alto, pm_ocr_out_t *out);

/*
 * Encodes `img->pix` to `path_base` + ".tif" (G4, bitonal), ".jpg" or ".jp2"
 * (gray/colour, per p->gray_codec); with p->compression PM_COMPRESS_MRC a
 * gray or colour page becomes a G4 text mask ".tif" and a JPEG background
 * ".bg.jpg" (mrc.c; *path is the mask's, *bytes both). Sets *path (new
 * string, caller frees),
 * *codec and *bytes (size of the image stream the PDF embeds; a JPEG is
 * stored deflated when that is at least 1% smaller, see pdfa.c).
 */
int pm_encode_page(pm_engine_t *eng, const pm_profile_t *p,
                   const pm_page_image_t *img, const char *path_base,
                   char **path, pm_img_codec_t *codec, long long *bytes);

/*
 * Keeps the scanned JPEG: when `src` (the page's file) is a JPEG that a PDF
 * shows exactly as img->pix (8-bit baseline or progressive, gray or YCbCr
 * colour matching img->kind, the same size, no EXIF turn, not CMYK) and
 * p->gray_codec is JPEG, copies it byte for byte to `path_base` + ".jpg"
 * and sets *path (new string, caller frees) and *bytes. Otherwise leaves
 * *path NULL: the page is to be encoded (pm_encode_page). Call only for
 * pages no stage changed (not turned, not deskewed). `src` is read the way
 * the decoders read it (pm__page_open): a verified page's checked copy,
 * never the file as it may be now.
 */
int pm_encode_keep_jpeg(pm_engine_t *eng, const pm_profile_t *p,
                        const pm_page_image_t *img, const char *src,
                        const char *path_base, char **path, long long *bytes);

/* pm_encode_keep_jpeg() of the JPEG in buf[len] (e.g. a PDF page's DCT
 * stream); the buffer stays the caller's. */
int pm_encode_keep_jpeg_mem(pm_engine_t *eng, const pm_profile_t *p,
                            const pm_page_image_t *img,
                            const unsigned char *buf, size_t len,
                            const char *path_base, char **path,
                            long long *bytes);

/*
 * Reads the raw CCITT G4 stream of a single-strip TIFF written by
 * pm_encode_page: *data is new (caller frees with pm_free).
 */
int pm_encode_read_g4(pm_engine_t *eng, const char *path, unsigned char **data,
                      size_t *len, int *width, int *height);

/* ---- whole page and whole document ---- */

/*
 * Runs every stage on one page task and fills `r` (which the caller owns and
 * cleans up). Returns 0 when the page converted; otherwise r->ok is 0 and
 * r->error names the file, frame and fault.
 */
int pm_process_page(pm_engine_t *eng, const pm_profile_t *p,
                    const pm_page_task_t *t, pm_page_result_t *r);

/* A document's pages handed to the assembly one at a time, in order (a
 * spool file read a line at a time, or an array). */
typedef struct pm_page_source {
    /* The next page into *r (zeroed first; the caller cleans it up): 1,
     * 0 after the last, or a negative PM_* code with why[size]. */
    int (*next)(void *ctx, pm_page_result_t *r, char *why, size_t size);
    /* Back to the first page: 0 or a negative code with why[size]. */
    int (*rewind)(void *ctx, char *why, size_t size);
    void *ctx;
} pm_page_source_t;

/*
 * Assembles the converted pages (those with ok set; others are skipped) of
 * one document into d->pdf (PDF/A-2b: images as encoded, invisible text,
 * XMP, sRGB OutputIntent, document ID) and d->txt (page texts separated by
 * form feeds), each written to a temp name, fsynced and renamed. The
 * pages are read from `src` once for each output, one page in memory at a
 * time.
 */
int pm_assemble_pages(pm_engine_t *eng, const pm_doc_task_t *d,
                      const pm_page_source_t *src, pm_doc_result_t *r);

/* pm_assemble_pages() of the array pages[0..npages-1]. */
int pm_assemble_doc(pm_engine_t *eng, const pm_doc_task_t *d,
                    const pm_page_result_t *pages, size_t npages,
                    pm_doc_result_t *r);

/* Milliseconds the TIFF master (tiff_master.c) took to write since the
 * last call, 0 when none was written; the count starts again at 0. */
double pm_engine_take_tiff_ms(pm_engine_t *eng);

#endif /* PM_WORKERS_ENGINE_H */
