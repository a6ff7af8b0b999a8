/*
 * alto.h: one ALTO v4 document per job (docs/archival.md), merged from
 * the pages' ALTO <Page> elements the workers write beside each page's
 * text PDF (<text_pdf without .pdf>.alto.xml).
 */
#ifndef PM_PIPELINE_ALTO_H
#define PM_PIPELINE_ALTO_H

#include <stddef.h>

#include "pipeline/base/proto.h"

/*
 * The ALTO document of `pages` in order: each page's element with its ids
 * made unique in the document (prefixed p<page>_) and PHYSICAL_IMG_NR its
 * page number; a page without OCR (blank, or OCR off) is an empty <Page>.
 * *out is a new string (pm_free) of *len bytes, or NULL with 0 returned
 * when no page has a text layer (nothing was read). Negative code with the
 * file and fault in why[size] on failure.
 */
int pm_alto_merge(const pm_page_result_t *pages, size_t n, char **out,
                  size_t *len, char *why, size_t size);

#endif /* PM_PIPELINE_ALTO_H */
