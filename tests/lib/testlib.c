/*
 * testlib.c: the shared test helpers (testlib.h).
 */
#include "lib/testlib.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <leptonica/allheaders.h>

#include "config/config.h"
#include "pipeline/base/pm.h"
#include "workers/engine.h"

static char data_buf[4096];
static char tmp_buf[256];

const char *t_data(const char *rel)
{
    snprintf(data_buf, sizeof(data_buf), "%s/%s", PM_SHARED_DATA, rel);
    return data_buf;
}

void t_require_data(void)
{
    struct stat st;

    if (stat(PM_SHARED_DATA "/MANIFEST.tsv", &st) != 0)
        fail_msg("shared test data not found at %s (MANIFEST.tsv: %s)",
                 PM_SHARED_DATA, strerror(errno));
}

const char *t_tmpdir(void)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmp_buf, sizeof(tmp_buf), "%s/pmtest.XXXXXX",
             base ? base : "/tmp");
    if (mkdtemp(tmp_buf) == NULL)
        fail_msg("mkdtemp failed");
    return tmp_buf;
}

void t_tmpdir_cleanup(void)
{
    if (tmp_buf[0] != '\0' && getenv("PM_KEEP_TMP") == NULL)
        pm_rmtree(tmp_buf);
    tmp_buf[0] = '\0';
}

int t_tmpdir_setup(void **state)
{
    *state = pm_strdup(t_tmpdir());
    return *state == NULL;
}

int t_tmpdir_teardown(void **state)
{
    t_tmpdir_cleanup();
    pm_free(*state);
    return 0;
}

pm_engine_t *t_engine;

int t_engine_open(void **state)
{
    (void)state;
    return pm_engine_open(NULL, &t_engine);
}

int t_engine_close(void **state)
{
    (void)state;
    pm_engine_close(t_engine);
    t_engine = NULL;
    return 0;
}

pm_engine_t *t_engine_new(void)
{
    pm_engine_t *eng = NULL;

    assert_int_equal(pm_engine_open(NULL, &eng), 0);
    assert_non_null(eng);
    return eng;
}

int t_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

long long t_file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (long long)st.st_size;
}

int t_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

int t_pdf_pages(const char *pdf)
{
    char *out = NULL;
    int n;

    assert_int_equal(t_run(&out, "qpdf --show-npages '%s'", pdf), 0);
    n = atoi(out);
    free(out);
    return n;
}

/* Reads `src` whole (up to 256 MiB), failing the test on error. */
static unsigned char *read_whole(const char *src, size_t *len)
{
    unsigned char *buf = NULL;

    *len = 0;
    assert_int_equal(pm_read_file(src, 1u << 28, &buf, len), 0);
    return buf;
}

void t_copy_file(const char *src, const char *dst)
{
    size_t len;
    unsigned char *buf = read_whole(src, &len);

    assert_int_equal(pm_write_file_atomic(dst, buf, len), 0);
    pm_free(buf);
}

void t_copy_truncated(const char *src, const char *dst, size_t len)
{
    size_t n;
    unsigned char *buf = read_whole(src, &n);

    assert_true(len < n);
    assert_int_equal(pm_write_file_atomic(dst, buf, len), 0);
    pm_free(buf);
}

int t_run(char **out, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    FILE *p;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, 4096, p);
        len += n;
        if (n == 0)
            break;
    }
    buf[len] = '\0';
    st = pclose(p);
    if (out != NULL)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *t_slurp(const char *path)
{
    unsigned char *buf = NULL;
    size_t len;

    if (pm_read_file(path, 1u << 30, &buf, &len) != 0)
        return NULL;
    return (char *)buf;
}

/* Collapses whitespace runs to one space and trims; new string. */
static char *normalize(const char *s, size_t *n)
{
    char *d = malloc(strlen(s) + 1);
    size_t k = 0;
    int space = 0;

    for (; *s; s++) {
        if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r' || *s == '\f') {
            space = k > 0;
            continue;
        }
        if (space)
            d[k++] = ' ';
        space = 0;
        d[k++] = *s;
    }
    d[k] = '\0';
    *n = k;
    return d;
}

double t_cer(const char *ref, const char *hyp)
{
    size_t n, m;
    char *a = normalize(ref, &n), *b = normalize(hyp, &m);
    size_t *prev = malloc((m + 1) * sizeof(size_t));
    size_t *cur = malloc((m + 1) * sizeof(size_t));
    double cer;

    for (size_t j = 0; j <= m; j++)
        prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] =
                sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        size_t *t = prev;
        prev = cur;
        cur = t;
    }
    cer = n > 0 ? (double)prev[m] / (double)n : (m > 0 ? 1.0 : 0.0);
    free(a);
    free(b);
    free(prev);
    free(cur);
    return cer;
}

PIX *t_text_page(int w, int h, int dpi, const char *const *lines)
{
    PIX *pix = pixCreate(w, h, 1);
    L_BMF *bmf = bmfCreate(NULL, 20);
    l_int32 y = h / 8, overflow;

    for (int i = 0; lines[i] != NULL; i++) {
        pixSetTextline(pix, bmf, lines[i], 1, w / 10, y, NULL, &overflow);
        y += h / 25;
    }
    bmfDestroy(&bmf);
    pixSetResolution(pix, dpi, dpi);
    return pix;
}

void t_profile(struct pm_profile *p)
{
    pm_profile_defaults(p);
}

/* PDFBox Preflight and what it loads, as Debian installs them. */
#define PREFLIGHT_CP                                             \
    "/usr/share/java/preflight.jar:/usr/share/java/pdfbox2.jar:" \
    "/usr/share/java/fontbox2.jar:/usr/share/java/xmpbox.jar:"   \
    "/usr/share/java/commons-logging.jar:"                       \
    "/usr/share/java/javax.activation.jar:/usr/share/java/jaxb-api.jar"

int t_pdfa1b_valid(const char *pdf)
{
    char *out = NULL;
    int st, valid;

    if (access("/usr/share/java/preflight.jar", R_OK) != 0)
        fail_msg("PDFBox Preflight is not installed (/usr/share/java/"
                 "preflight.jar; scripts/install-deps.sh installs it)");
    st = t_run(&out,
               "java -cp '" PREFLIGHT_CP "' "
               "org.apache.pdfbox.preflight.Validator_A1b '%s' 2>&1",
               pdf);
    if (out == NULL || strstr(out, "PDF/A-1b") == NULL)
        fail_msg("PDFBox Preflight did not run (status %d): %s", st,
                 out ? out : "");
    valid = st == 0 && strstr(out, "is a valid PDF/A-1b file") != NULL;
    if (!valid)
        printf("# PDFBox Preflight on %s:\n%s", pdf, out);
    free(out);
    return valid;
}
