/*
 * alto.h: one ALTO v4 document per job (docs/archival.md), merged from
 * the pages' ALTO <Page> elements the workers write beside each page's
 * text PDF (<text_pdf without .pdf>.alto.xml).
 */
#ifndef PM_PIPELINE_ALTO_H
#define PM_PIPELINE_ALTO_H

#include <stddef.h>

#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"

/*
 * Writes the ALTO document of `pages` in order to `path` (a temp file
 * beside it, fsynced and renamed): each page's element with its ids made
 * unique in the document (prefixed p<page>_) and PHYSICAL_IMG_NR its page
 * number; a page without OCR (blank, or OCR off) is an empty <Page>. One
 * page in memory at a time, whatever the job's size. *written is 0 (and
 * nothing is written) when no page has a text layer (nothing was read).
 * sha256 gets the document's SHA-256, hashed as it was written (never
 * read back), or "" when nothing was written. Negative code with the file
 * and fault in why[size] on failure.
 */
int pm_alto_write(const pm_page_result_t *pages, size_t n, const char *path,
                  int *written, char sha256[PM_SHA256_HEX], char *why,
                  size_t size);

#endif /* PM_PIPELINE_ALTO_H */
