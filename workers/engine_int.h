/*
 * engine_int.h: what the page engine's files share and nobody else sees:
 * the engine struct (warm Tesseract handles, last error text) and the
 * hook that captures messages from Leptonica and libtiff.
 */
#ifndef PM_WORKERS_ENGINE_INT_H
#define PM_WORKERS_ENGINE_INT_H

#include <tesseract/capi.h>

#include "workers/engine.h"

/* One warm OCR instance and the language set it was loaded for. */
typedef struct pm__ocr_set {
    TessBaseAPI *api; /* NULL: free */
    char langs[PM_LANGS_MAX];
    unsigned long used; /* eng->use_count when last made ready */
} pm__ocr_set_t;

struct pm_engine {
    char *tessdata;   /* NULL: Tesseract's default */
    TessBaseAPI *ocr; /* the instance pm__ocr_ready made ready last */
    pm__ocr_set_t sets[PM_ENGINE_OCR_SETS];
    unsigned long use_count;
    TessBaseAPI *osd; /* initialised with "osd", or NULL */
    int osd_failed;   /* osd.traineddata could not be loaded */
    double load_ms;   /* spent in Tesseract's Init, OCR and OSD */
    int loads;        /* instances initialised */
    int osd_runs;     /* pages OSD looked at (pm__osd_detect) */
    char errmsg[1024];
    /* The JPEG stream of the PDF page last decoded natively (pdf.c), for
     * the encode stage to keep byte for byte; NULL for any other page. */
    unsigned char *pdf_jpeg;
    size_t pdf_jpeg_len;
    int pdf_count_refuses_text; /* pm_engine_set_pdf_text() */
    double tiff_ms; /* TIFF masters written (pm_engine_take_tiff_ms) */
};

/* The last message Leptonica or libtiff printed in this process (empty if
 * none since pm__lib_clear). Borrowed. */
const char *pm__lib_last(void);
void pm__lib_clear(void);

/* Makes eng->ocr ready for `langs` (ocr.c): the instance kept for that
 * set, else a new one in a free slot or in place of the one used longest
 * ago; 0, or PM_EOCR / PM_ENOMEM with the detail on the engine. */
int pm__ocr_ready(pm_engine_t *eng, const char *langs);

/* Initialises the OSD instance once per engine (orient.c); 0 or PM_EOCR,
 * logged once. */
int pm__osd_ready(pm_engine_t *eng);

/* Closes every OCR instance (ocr.c). */
void pm__ocr_close(pm_engine_t *eng);

/* Pins `fd` as the content of `path` for load.c: until unpinned (fd -1),
 * every open of `path` by the decoders reads a duplicate of `fd`. */
void pm__load_pin(const char *path, int fd);

/* Opens a page safely (no symlink, no FIFO, regular files only; the pinned
 * descriptor for the pinned path): a descriptor, or -1 with errno set. */
int pm__page_open(const char *path);

/* Reads `path` once through pm__page_open() into an anonymous memory file
 * while hashing it, and checks its SHA-256 against `sha256` (64 hex
 * digits). 0 and *memfd (the caller closes it), or an error with the
 * detail on `eng`: PM_ECHANGED when the digest differs. */
int pm__page_verify(pm_engine_t *eng, const char *path, const char *sha256,
                    int *memfd);

/* Makes eng->osd ready (orient.c): 0, or -1 when osd.traineddata cannot
 * be loaded (logged once). */
int pm__osd_ready(pm_engine_t *eng);

/* What Tesseract OSD says of a page. */
typedef struct pm_osd {
    int orient_deg;             /* the page's own rotation, counter-clockwise */
    float orient_conf;          /* confidence in it */
    char script[PM_SCRIPT_MAX]; /* the script, "" below SCRIPT_MIN_CONF */
    float script_conf;
} pm_osd_t;

/* Runs OSD on the 1 bpp page `binary` at `res` dpi (script.c): 1 with
 * *out filled, 0 when it could not run or found too little text. */
int pm__osd_detect(pm_engine_t *eng, struct Pix *binary, int res,
                   pm_osd_t *out);

/* The resolution of the page `pix` (any depth) estimated from the height
 * of its letters (dpi.c): returns 1 with the raw estimate in *raw and the
 * resolution to use in *dpi (one of 100/150/200/300/400/600), 0 when there
 * is too little text to tell or the text agrees with `fallback` (the
 * profile's fallback_dpi; 0: none), or PM_ENOMEM. */
int pm__dpi_estimate(struct Pix *pix, int fallback, double *raw, int *dpi);
/* The resolution of 100/150/200/300/400/600 nearest `dpi` (> 0). */
int pm__dpi_snap(double dpi);

/* Refuses, from its size alone, an image of w x h pixels: over
 * `max_pixels`, or a shape no scanner makes (load.c). 0, or an error
 * naming `path` and `what` ("frame 2", "page 2") on `eng`. */
int pm__load_check_dims(pm_engine_t *eng, const char *path, const char *what,
                        long long w, long long h, long long max_pixels);

/* ---- PDF input (pdf.c) ---- */

/* True when the first n bytes of a file are a PDF's ("%PDF-"). */
int pm__pdf_magic(const unsigned char *b, size_t n);

/* The pages of the PDF `path` (opened with pm__page_open). 0 and
 * *npages >= 1; PM_ECORRUPT for a damaged or empty file, PM_EUNSUPP for an
 * encrypted one, PM_ETOOBIG for one over the size limit, with the detail
 * naming the file on `eng`. */
int pm__pdf_count(pm_engine_t *eng, const char *path, int *npages);

/*
 * Decodes page `page` (0-based) of the PDF `path`: a page that is one
 * image covering it at the image's own resolution (CCITT and JPEG streams
 * as they are, Flate and the like decoded), any other page rendered with
 * poppler at p->pdf_dpi. Refuses a PDF with a text layer unless
 * p->pdf_text_redo. Checks sizes against p->max_pixels before any pixel
 * buffer exists. On success *out (caller owns) carries the resolution,
 * and eng->pdf_jpeg the JPEG stream when it may be kept as it is.
 */
int pm__pdf_load(pm_engine_t *eng, const char *path, int page,
                 const pm_profile_t *p, struct Pix **out);

/* Releases eng->pdf_jpeg. */
void pm__pdf_forget(pm_engine_t *eng);

struct Pix;

/* Writes the 1 bpp `pix` as a single-strip CCITT G4 TIFF at `tmp` (with
 * `desc` as its ImageDescription when not NULL); *bytes is the strip's
 * size (encode.c). */
int pm__write_g4(pm_engine_t *eng, struct Pix *pix, int xres, int yres,
                 const char *desc, const char *tmp, long long *bytes);

/* Writes the 8 or 32 bpp `pix` as JPEG (p->jpeg_quality) or JPEG 2000
 * (p->jp2_quality) at `path`, atomically; *bytes is the file's size
 * (encode.c). */
int pm__write_vips(pm_engine_t *eng, const pm_profile_t *p, struct Pix *pix,
                   int xres, int yres, const char *path, pm_img_codec_t codec,
                   long long *bytes);

/* pm_encode_page() for gray and colour pages of a `compression = mrc`
 * profile (mrc.c): writes the mask `path_base`.tif and the background
 * `path_base`.bg.jpg; *path is the mask's, *bytes both images' bytes. */
int pm__encode_mrc(pm_engine_t *eng, const pm_profile_t *p,
                   const pm_page_image_t *img, const char *path_base,
                   char **path, long long *bytes);

/* Writes d->tif, the multi-page TIFF master of the `count` converted (ok)
 * pages of `src` (rewound first) in order, as d->tiff_master says
 * (tiff_master.c); 0, or an error naming the file with the detail on
 * `eng`. */
int pm__tiff_master_write(pm_engine_t *eng, const pm_doc_task_t *d,
                          const pm_page_source_t *src, int count);

/* The next page of `src` into *pg (cleaned up first): 1, 0 after the
 * last, or an error with the detail on `eng` (pdfa.c). */
int pm__source_next(pm_engine_t *eng, const pm_page_source_t *src,
                    pm_page_result_t *pg);
/* Rewinds `src`: 0 or an error with the detail on `eng`. */
int pm__source_rewind(pm_engine_t *eng, const pm_page_source_t *src);

/* An MRC page artifact as the assembly embeds it (mrc.c): the background
 * and up to PM_MRC_MASKS text masks, each drawn in its own colour. */
#define PM_MRC_MASKS 8
typedef struct pm_mrc_mask {
    unsigned char *data; /* the raw G4 stream (pm_free) */
    size_t len;
    int width, height; /* pixels over the whole page */
    int fill[3];       /* text colour, 0..255 per component */
} pm_mrc_mask_t;

typedef struct pm_mrc_page {
    pm_mrc_mask_t masks[PM_MRC_MASKS];
    int nmasks;
    int bg_width, bg_height; /* of the background JPEG */
    int ncomp;               /* 1 gray, 3 RGB: fills and background */
    char *background;        /* path of the background JPEG (pm_free) */
} pm_mrc_page_t;

/* Reads the MRC artifact whose mask is `path` into `m`; 0, or an error
 * naming the file with the detail on `eng` (m is then clean). */
int pm__mrc_read(pm_engine_t *eng, const char *path, pm_mrc_page_t *m);
void pm__mrc_page_cleanup(pm_mrc_page_t *m);

/* Milliseconds since `t0` (pm_now_ms). */
double pm__since(double t0);

#endif /* PM_WORKERS_ENGINE_INT_H */
