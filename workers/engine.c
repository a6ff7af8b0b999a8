/*
 * engine.c: the engine handle (engine.h): lifetime of the warm Tesseract
 * instances, error text, and routing of library chatter. Leptonica and
 * libtiff print to stderr by default; here their messages become log lines
 * and the last one is kept so a decode error can say what the library saw.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <leptonica/allheaders.h>
#include <tiffio.h>
#include <vips/vips.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

static char lib_last[512];
static int lib_hooks_installed;

const char *pm__lib_last(void)
{
    return lib_last;
}

void pm__lib_clear(void)
{
    lib_last[0] = '\0';
}

double pm__since(double t0)
{
    return pm_now_ms() - t0;
}

static void keep_last(const char *msg)
{
    size_t n;

    snprintf(lib_last, sizeof(lib_last), "%s", msg);
    n = strlen(lib_last);
    while (n > 0 && (lib_last[n - 1] == '\n' || lib_last[n - 1] == ' '))
        lib_last[--n] = '\0';
}

static void leptonica_message(const char *msg)
{
    keep_last(msg);
    pm_log(PM_LOG_DEBUG, "leptonica", "%s", lib_last);
}

static void tiff_message(const char *module, const char *fmt, va_list ap)
{
    char buf[400];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    snprintf(lib_last, sizeof(lib_last), "%s: %s", module ? module : "tiff",
             buf);
    pm_log(PM_LOG_DEBUG, "libtiff", "%s", lib_last);
}

static void tiff_warning(const char *module, const char *fmt, va_list ap)
{
    char buf[400];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    pm_log(PM_LOG_DEBUG, "libtiff", "warning: %s: %s", module ? module : "tiff",
           buf);
}

static void install_lib_hooks(void)
{
    if (lib_hooks_installed)
        return;
    lib_hooks_installed = 1;
    leptSetStderrHandler(leptonica_message);
    setMsgSeverity(L_SEVERITY_WARNING);
    TIFFSetErrorHandler(tiff_message);
    TIFFSetWarningHandler(tiff_warning);
    if (VIPS_INIT("pagemill") == 0) {
        /* Parallelism comes from worker processes, not threads. */
        vips_concurrency_set(1);
        vips_cache_set_max(0);
    }
}

int pm_engine_open(const char *tessdata, pm_engine_t **out)
{
    pm_engine_t *eng;

    *out = NULL;
    eng = pm_calloc(1, sizeof(*eng));
    if (eng == NULL)
        return PM_ENOMEM;
    if (tessdata != NULL && (eng->tessdata = pm_strdup(tessdata)) == NULL) {
        pm_free(eng);
        return PM_ENOMEM;
    }
    install_lib_hooks();
    *out = eng;
    return PM_OK;
}

/* Loads one entry of a warm list: "osd" or a language set (the sets-th). */
static int warm_one(pm_engine_t *eng, const char *what, int sets)
{
    int err;

    if (strcmp(what, "osd") == 0) {
        err = pm__osd_ready(eng);
        return err ? pm__engine_fail(eng, err,
                                     "OSD: cannot load "
                                     "osd.traineddata")
                   : 0;
    }
    if (sets > PM_ENGINE_OCR_SETS) {
        pm_log(PM_LOG_WARN, "engine",
               "more than %d language sets to keep loaded; %s loads when a "
               "page needs it",
               PM_ENGINE_OCR_SETS, what);
        return 0;
    }
    return pm__ocr_ready(eng, what);
}

int pm_engine_warm(pm_engine_t *eng, const char *list)
{
    const char *p = list;
    int first = 0, sets = 0;

    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        char what[PM_LANGS_MAX];
        int err = 0;

        if (n >= sizeof(what))
            err = pm__engine_fail(eng, PM_EOCR, "OCR: language list too long");
        else if (n > 0) {
            memcpy(what, p, n);
            what[n] = '\0';
            sets += strcmp(what, "osd") != 0;
            err = warm_one(eng, what, sets);
        }
        if (err != 0 && first == 0)
            first = err;
        p += n + (p[n] == ',');
    }
    return first;
}

double pm_engine_load_ms(const pm_engine_t *eng)
{
    return eng->load_ms;
}

int pm_engine_loads(const pm_engine_t *eng)
{
    return eng->loads;
}

void pm_engine_close(pm_engine_t *eng)
{
    if (eng == NULL)
        return;
    pm__ocr_close(eng);
    if (eng->osd != NULL) {
        TessBaseAPIEnd(eng->osd);
        TessBaseAPIDelete(eng->osd);
    }
    pm_free(eng->tessdata);
    pm_free(eng);
}

const char *pm_engine_errmsg(const pm_engine_t *eng)
{
    return eng->errmsg;
}

int pm__engine_fail(pm_engine_t *eng, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(eng->errmsg, sizeof(eng->errmsg), fmt, ap);
    va_end(ap);
    return err;
}
