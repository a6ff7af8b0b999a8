/*
 * alto_page.h: a recognised page's ALTO <Page> element (alto_page.cc),
 * for the OCR stage (ocr.c) to write beside the page's text PDF.
 */
#ifndef PM_WORKERS_ALTO_PAGE_H
#define PM_WORKERS_ALTO_PAGE_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The <Page> element of the page `api` (a TessBaseAPI) has recognised,
 * `width` x `height` pixels (the rectangle recognised), exactly as
 * Tesseract's GetAltoText(api, 0) writes it, from one walk over the
 * words. A new string (pm_free), or NULL when out of memory.
 */
char *pm__alto_page(void *api, int width, int height);

#ifdef __cplusplus
}
#endif

#endif /* PM_WORKERS_ALTO_PAGE_H */
