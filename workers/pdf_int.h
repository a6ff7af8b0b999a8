/*
 * pdf_int.h: what the PDF reader's files share (pdf.c: documents and
 * pages through qpdf, pdf_scan.c: content streams, pdf_image.c: image
 * streams, pdf_render.c: poppler).
 */
#ifndef PM_WORKERS_PDF_INT_H
#define PM_WORKERS_PDF_INT_H

#include <stddef.h>

#include "workers/engine_int.h"

struct Pix;

#define PM_PDF_NAME_MAX  128
#define PM_PDF_MAX_DRAWN 16 /* XObject names a scan remembers */

/* What a content stream does, as far as page classification needs. */
typedef struct pm_pdf_scan {
    int text_ops;     /* text-showing operators (Tj TJ ' ") */
    int visible_text; /* ... of them while the rendering mode was not 3 */
    int paint_ops;    /* painting other than Do: paths, shadings, inline
                       * images */
    int ndo;          /* Do operators */
    double do_ctm[6]; /* the transformation at the first Do */
    int ndrawn;       /* distinct names in drawn[] */
    char drawn[PM_PDF_MAX_DRAWN][PM_PDF_NAME_MAX]; /* XObjects drawn */
} pm_pdf_scan_t;

/* Scans a (decoded) content stream. Never fails: anything it does not
 * understand is skipped; the result only ever says what was seen. */
void pm__pdf_scan(const unsigned char *buf, size_t len, pm_pdf_scan_t *out);

/* An image XObject's facts, from its dictionary. */
typedef enum {
    PM_PDF_IMG_OTHER = 0, /* rendered instead */
    PM_PDF_IMG_DCT,       /* /DCTDecode alone */
    PM_PDF_IMG_CCITT,     /* /CCITTFaxDecode alone */
    PM_PDF_IMG_RAW,       /* filters qpdf decodes (Flate, LZW, ...) */
} pm_pdf_img_kind_t;

typedef struct pm_pdf_image {
    pm_pdf_img_kind_t kind;
    long long width, height;
    int bpc;        /* bits per component */
    int ncomp;      /* 1 gray, 3 RGB, 0 anything else */
    int invert;     /* /Decode [1 0] on a 1-component image */
    int ccitt_k;    /* CCITT /K */
    int ccitt_cols; /* CCITT /Columns */
    int ccitt_black_is_1;
    int ccitt_byte_align;
} pm_pdf_image_t;

/* Wraps a CCITT stream as a one-strip TIFF in memory and decodes it with
 * Leptonica (1 bpp). NULL when it cannot be read. */
struct Pix *pm__pdf_ccitt_pix(const pm_pdf_image_t *im,
                              const unsigned char *data, size_t len);

/* Builds a 1, 8 or 32 bpp pix of decoded samples; NULL when the data is
 * short or the layout unsupported. */
struct Pix *pm__pdf_raw_pix(const pm_pdf_image_t *im, const unsigned char *data,
                            size_t len);

/* Renders page `page` (0-based) of the PDF in buf with poppler at `dpi`
 * into *out (32 bpp, resolution set), once its size in pixels passed
 * pm__load_check_dims(). Errors name `path` and the page on `eng`. */
int pm__pdf_render(pm_engine_t *eng, const char *path, const unsigned char *buf,
                   size_t len, int page, int dpi, long long max_pixels,
                   struct Pix **out);

#endif /* PM_WORKERS_PDF_INT_H */
