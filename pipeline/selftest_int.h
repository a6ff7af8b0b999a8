/*
 * selftest_int.h: what selftest.c (the command, the environment checks)
 * and selftest_doc.c (the checks of one converted document) share. Not
 * used elsewhere.
 */
#ifndef PM_PIPELINE_SELFTEST_INT_H
#define PM_PIPELINE_SELFTEST_INT_H

#include <stddef.h>

/* One sample page: its file name in the samples folder and the words its
 * page of the text layer must hold (any case). */
typedef struct st_sample {
    char *file;
    char **words;
    size_t nwords;
} st_sample_t;

/* Finds every sample's words on its page of `pdf`, the page being the one
 * `report` (convert's pages.json) gives the sample's file. Returns the
 * number of words missing (0: all found), with the first one missing, or
 * what kept the check from running, in why[size]; *found counts the words
 * found. A negative code when the check could not run. */
int pm__selftest_text(const char *pdf, const char *report, const st_sample_t *v,
                      size_t n, int *found, char *why, size_t size);

/* The PDF/A checks of the tests: qpdf reads the whole file without an
 * error, the XMP metadata declares PDF/A-2B, and the OutputIntent is
 * GTS_PDFA1 with an embedded profile. 0, or -1 with the fault in
 * why[size]. */
int pm__selftest_pdfa(const char *pdf, char *why, size_t size);

/* Moves `files` (names in folder `dir`) into a new BagIt bag dir/bag as
 * its payload, finishes it and verifies it as `pagemill verify` does. 0,
 * or -1 with the first fault in why[size]. */
int pm__selftest_bag(const char *dir, const char *const *files, size_t n,
                     const char *organization, char *why, size_t size);

#endif /* PM_PIPELINE_SELFTEST_INT_H */
