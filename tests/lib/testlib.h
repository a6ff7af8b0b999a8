/*
 * testlib.h: helpers shared by pagemill's cmocka tests: where the shared
 * third-party data lives, temp folders, running a command and reading its
 * output, character error rate, and synthetic pages drawn with
 * Leptonica's bitmap font (so tests control exactly what is on a page).
 */
#ifndef PM_TESTS_TESTLIB_H
#define PM_TESTS_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct Pix;

/* Path of a file under ../shared/data: a static buffer, valid until the
 * next call. */
const char *t_data(const char *rel);

/* Skips the current test when ../shared/data is not there. */
void t_require_data(void);

/* Creates a fresh temp folder (removed by t_tmpdir_cleanup); returns a
 * static path. */
const char *t_tmpdir(void);
void t_tmpdir_cleanup(void);

/* Runs a shell command; returns its exit status (-1 if it could not run)
 * and, when out is not NULL, its stdout in a new string (caller frees). */
int t_run(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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
