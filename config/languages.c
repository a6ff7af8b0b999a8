/*
 * languages.c: the language check of config.h. Tesseract learns that a
 * language is missing only when a page is read, and then says so to its
 * debug file: "eng+deu" without deu reads English alone, "deu" alone fails
 * every page. `config check`, `serve` and `convert` run this check before
 * any page, so a missing language pack is refused at start with the
 * package that provides it.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "pipeline/base/pm.h"

const char *pm_config_tessdata_dir(const pm_config_t *cfg)
{
    const char *env = getenv("TESSDATA_PREFIX");

    if (cfg->tessdata != NULL)
        return cfg->tessdata;
    /* Tesseract 4 and later take the variable as the folder itself. */
    if (env != NULL && env[0] != '\0')
        return env;
    return PM_DEFAULT_TESSDATA;
}

/* Debian's package for language `lang`: tesseract-ocr- and the code in
 * lower case with '_' as '-' (chi_sim: tesseract-ocr-chi-sim). */
static void package_name(const char *lang, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "tesseract-ocr-%s", lang);

    for (size_t i = strlen("tesseract-ocr-"); i < n && i < size; i++) {
        if (buf[i] == '_')
            buf[i] = '-';
        else if (buf[i] >= 'A' && buf[i] <= 'Z')
            buf[i] = (char)(buf[i] - 'A' + 'a');
    }
}

/* Whether `dir`/`lang`.traineddata can be opened for reading. */
static int installed(const char *dir, const char *lang)
{
    char *path = pm_asprintf("%s/%s.traineddata", dir, lang);
    int fd;

    if (path == NULL)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    pm_free(path);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* Appends one line to *errors; PM_ENOMEM when out of memory. */
static int add_line(char **errors, const char *line)
{
    char *grown = pm_asprintf("%s%s", *errors ? *errors : "", line);

    if (grown == NULL)
        return PM_ENOMEM;
    pm_free(*errors);
    *errors = grown;
    return 0;
}

/* Checks the languages of one profile; returns the number missing, or
 * PM_ENOMEM. */
static int check_profile(const pm_config_t *cfg, const pm_profile_t *p,
                         const char *dir, char **errors)
{
    char langs[PM_LANGS_MAX], pkg[PM_LANGS_MAX + 16], *save = NULL, *line;
    int missing = 0, ok;

    snprintf(langs, sizeof(langs), "%s", p->languages);
    for (char *lang = strtok_r(langs, "+", &save); lang != NULL;
         lang = strtok_r(NULL, "+", &save)) {
        ok = installed(dir, lang);
        if (ok < 0)
            return PM_ENOMEM;
        if (ok)
            continue;
        package_name(lang, pkg, sizeof(pkg));
        line = pm_asprintf("%s: [profile %s] languages: '%s' is not "
                           "installed: no %s/%s.traineddata (install the "
                           "Debian package %s)\n",
                           cfg->source ? cfg->source : "built-in defaults",
                           p->name, lang, dir, lang, pkg);
        if (line == NULL || add_line(errors, line) != 0) {
            pm_free(line);
            return PM_ENOMEM;
        }
        pm_free(line);
        missing++;
    }
    return missing;
}

int pm_config_check_languages(const pm_config_t *cfg, const pm_profile_t *only,
                              char **errors)
{
    const char *dir = pm_config_tessdata_dir(cfg);
    int missing = 0, n;

    assert(cfg != NULL && errors != NULL);
    *errors = NULL;
    for (size_t i = 0; i < (only ? 1 : cfg->nprofiles); i++) {
        const pm_profile_t *p = only ? only : &cfg->profiles[i];

        if (!p->ocr)
            continue; /* never reads its languages */
        n = check_profile(cfg, p, dir, errors);
        if (n < 0) {
            pm_free(*errors);
            *errors = NULL;
            return n;
        }
        missing += n;
    }
    return missing > 0 ? PM_ECONFIG : 0;
}
