/*
 * testlib.h: helpers shared by pagemill's cmocka tests: where the shared
 * third-party data lives, temp folders and their fixtures, a shared engine
 * fixture, counting, sizing and copying files, running a command and
 * reading its output, character error rate, and synthetic pages drawn
 * with Leptonica's bitmap font (so tests control exactly what is on a
 * page).
 */
#ifndef PM_TESTS_TESTLIB_H
#define PM_TESTS_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct Pix;
typedef struct pm_engine pm_engine_t;

/* 1 in AddressSanitizer builds (too big for any RLIMIT_AS), else 0. */
#if defined(__SANITIZE_ADDRESS__)
#define T_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_UNDER_ASAN 1
#endif
#endif
#ifndef T_UNDER_ASAN
#define T_UNDER_ASAN 0
#endif

/* Path of a file under ../shared/data: a static buffer, valid until the
 * next call. */
const char *t_data(const char *rel);

/* FAILS the current test when ../shared/data is not there: a suite that
 * skipped what it could not find would pass without testing. */
void t_require_data(void);

/* Creates a fresh temp folder (removed by t_tmpdir_cleanup); returns a
 * static path. */
const char *t_tmpdir(void);
void t_tmpdir_cleanup(void);

/* cmocka setup: a fresh t_tmpdir; *state owns a copy of its path. */
int t_tmpdir_setup(void **state);
/* cmocka teardown of t_tmpdir_setup: removes the folder, frees *state. */
int t_tmpdir_teardown(void **state);

/* Engine shared by a test group: set by t_engine_open, NULL otherwise. */
extern pm_engine_t *t_engine;
/* cmocka group setup: opens t_engine (default tessdata); 0 on success. */
int t_engine_open(void **state);
/* cmocka group teardown: closes t_engine and resets it to NULL. */
int t_engine_close(void **state);
/* Opens a private engine or fails the test; caller pm_engine_close()s it. */
pm_engine_t *t_engine_new(void);

/* Entries of `dir` other than . and ..; fails the test if unreadable. */
int t_count_entries(const char *dir);
/* Size in bytes of the file at `path`; fails the test if it is missing. */
long long t_file_size(const char *path);
/* True when `path` exists (stat, so links are followed). */
int t_exists(const char *path);
/* Page count of `pdf` by qpdf; fails the test unless qpdf reads it. */
int t_pdf_pages(const char *pdf);
/* Copies file `src` to `dst` (atomic write); fails the test on error. */
void t_copy_file(const char *src, const char *dst);
/* Copies the first `len` bytes of `src` to `dst`; fails unless len < size. */
void t_copy_truncated(const char *src, const char *dst, size_t len);

/* Runs a shell command; returns its exit status (-1 if it could not run)
 * and, when out is not NULL, its stdout in a new string (caller frees). */
int t_run(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Validates `pdf` as PDF/A-1b with Apache PDFBox Preflight (Debian
 * libpdfbox2-java, run by the Java runtime): 1 valid, 0 not (its report,
 * one problem per line, is printed), and fails the test when the
 * validator cannot run (not installed is a failure, never a skip). */
int t_pdfa1b_valid(const char *pdf);

/* Reads a whole file into a new NUL-terminated string (caller frees) or
 * returns NULL. */
char *t_slurp(const char *path);

/* Character error rate of `hyp` against `ref`, after collapsing every run
 * of whitespace to one space: edit distance / length of ref. */
double t_cer(const char *ref, const char *hyp);

/*
 * Draws `lines` (NULL-terminated) in Leptonica's bitmap font on a white
 * 1 bpp page of w x h pixels at `dpi`. Caller owns the result.
 */
struct Pix *t_text_page(int w, int h, int dpi, const char *const *lines);

/* A default profile for tests. */
struct pm_profile;
void t_profile(struct pm_profile *p);

#endif /* PM_TESTS_TESTLIB_H */
