/*
 * config_profile.c: the keys of [profile NAME] and the checks between a
 * profile's keys once the whole file is read.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "config/config_int.h"
#include "pipeline/base/pm.h"

static int valid_languages(const char *v)
{
    size_t n = strlen(v);

    if (n == 0 || n >= PM_LANGS_MAX)
        return 0;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '_' || *p == '+'))
            return 0;
    return v[0] != '+' && v[n - 1] != '+';
}

pm_profile_t *pm__config_profile_for(parse_state_t *st, const char *name)
{
    pm_config_t *cfg = st->cfg;
    pm_profile_t *grown;

    for (size_t i = 0; i < cfg->nprofiles; i++)
        if (strcmp(cfg->profiles[i].name, name) == 0)
            return &cfg->profiles[i];
    grown =
        pm_realloc(cfg->profiles, (cfg->nprofiles + 1) * sizeof(pm_profile_t));
    if (grown == NULL) {
        st->oom = 1;
        return NULL;
    }
    cfg->profiles = grown;
    pm_profile_defaults(&grown[cfg->nprofiles]);
    snprintf(grown[cfg->nprofiles].name, PM_PROFILE_NAME_MAX, "%s", name);
    return &grown[cfg->nprofiles++];
}

/* The lines of profile `p`'s cross-checked keys (grown on first use), or
 * NULL when memory ran out. */
static profile_lines_t *profile_lines(parse_state_t *st, const pm_profile_t *p)
{
    size_t i = (size_t)(p - st->cfg->profiles);

    assert(i < st->cfg->nprofiles);
    if (i >= st->nplines) {
        profile_lines_t *grown =
            pm_realloc(st->plines, (i + 1) * sizeof(*grown));

        if (grown == NULL) {
            st->oom = 1;
            return NULL;
        }
        memset(grown + st->nplines, 0, (i + 1 - st->nplines) * sizeof(*grown));
        st->plines = grown;
        st->nplines = i + 1;
    }
    return &st->plines[i];
}

void pm__config_profile_key(parse_state_t *st, const char *section,
                            pm_profile_t *p, const char *key, const char *v)
{
    profile_lines_t *pl;
    int x;

    if (strcmp(key, "languages") == 0) {
        if (!valid_languages(v))
            pm__config_error(st, section, key,
                             "expected Tesseract languages like 'eng' or "
                             "'eng+deu', got '%s'",
                             v);
        else
            snprintf(p->languages, sizeof(p->languages), "%s", v);
    } else if (strcmp(key, "ocr") == 0) {
        if (pm__config_bool(v, &p->ocr) != 0)
            pm__config_error(st, section, key, "expected yes or no, got '%s'",
                             v);
    } else if (strcmp(key, "ocr_psm") == 0) {
        if (pm__config_int(v, 1, 13, &p->ocr_psm) != 0 || p->ocr_psm == 2)
            pm__config_error(
                st, section, key,
                "expected a Tesseract page segmentation mode 1, 3..13, "
                "got '%s'",
                v);
    } else if (strcmp(key, "orient") == 0) {
        if (pm__config_bool(v, &p->orient) != 0)
            pm__config_error(st, section, key, "expected yes or no, got '%s'",
                             v);
    } else if (strcmp(key, "orient_min_confidence") == 0) {
        if (pm__config_double(v, 0, 100, &p->orient_min_confidence) != 0)
            pm__config_error(st, section, key, "expected 0..100, got '%s'", v);
    } else if (strcmp(key, "deskew") == 0) {
        if (pm__config_bool(v, &p->deskew) != 0)
            pm__config_error(st, section, key, "expected yes or no, got '%s'",
                             v);
    } else if (strcmp(key, "deskew_max_angle") == 0) {
        if (pm__config_double(v, 1, 45, &p->deskew_max_angle) != 0)
            pm__config_error(st, section, key,
                             "expected degrees 1..45, got '%s'", v);
    } else if (strcmp(key, "deskew_min_confidence") == 0) {
        if (pm__config_double(v, 0, 100, &p->deskew_min_confidence) != 0)
            pm__config_error(st, section, key, "expected 0..100, got '%s'", v);
    } else if (strcmp(key, "blank_ink_ratio") == 0) {
        if (pm__config_double(v, 0, 0.5, &p->blank_ink_ratio) != 0)
            pm__config_error(
                st, section, key,
                "expected a fraction 0..0.5 (0.0005 = 0.05%% ink), "
                "got '%s'",
                v);
    } else if (strcmp(key, "color_mode") == 0) {
        if ((x = pm_color_mode_parse(v)) < 0)
            pm__config_error(st, section, key,
                             "expected auto, bitonal or gray, got '%s'", v);
        else
            p->color_mode = (pm_color_mode_t)x;
    } else if (strcmp(key, "gray_codec") == 0) {
        if ((x = pm_gray_codec_parse(v)) < 0)
            pm__config_error(st, section, key, "expected jpeg or jp2, got '%s'",
                             v);
        else
            p->gray_codec = (pm_gray_codec_t)x;
    } else if (strcmp(key, "compression") == 0) {
        if ((x = pm_compression_parse(v)) < 0)
            pm__config_error(st, section, key,
                             "expected plain or mrc, got '%s'", v);
        else
            p->compression = (pm_compression_t)x;
        if ((pl = profile_lines(st, p)) != NULL)
            pl->mrc = x == PM_COMPRESS_MRC ? st->line : 0;
    } else if (strcmp(key, "jpeg_quality") == 0) {
        if (pm__config_int(v, 1, 100, &p->jpeg_quality) != 0)
            pm__config_error(st, section, key, "expected 1..100, got '%s'", v);
    } else if (strcmp(key, "jp2_quality") == 0) {
        if (pm__config_int(v, 1, 100, &p->jp2_quality) != 0)
            pm__config_error(st, section, key, "expected 1..100, got '%s'", v);
    } else if (strcmp(key, "fallback_dpi") == 0) {
        if (pm__config_int(v, 50, 2400, &p->fallback_dpi) != 0)
            pm__config_error(st, section, key,
                             "expected dpi 50..2400, got '%s'", v);
    } else if (strcmp(key, "max_pixels") == 0) {
        if (pm__config_ll(v, 1, 1000000LL * 1000000LL, &p->max_pixels) != 0)
            pm__config_error(st, section, key,
                             "expected a pixel count, got '%s'", v);
    } else if (strcmp(key, "pdfa") == 0) {
        if (strcasecmp(v, "1b") == 0 || strcasecmp(v, "2b") == 0)
            p->pdfa_part = v[0] - '0';
        else
            pm__config_error(st, section, key, "expected 1b or 2b, got '%s'",
                             v);
        if ((pl = profile_lines(st, p)) != NULL)
            pl->pdfa1 = p->pdfa_part == 1 ? st->line : 0;
    } else if (strcmp(key, "bag") == 0) {
        if (pm__config_bool(v, &p->bag) != 0)
            pm__config_error(st, section, key, "expected yes or no, got '%s'",
                             v);
    } else if (strcmp(key, "organization") == 0) {
        if (strlen(v) >= sizeof(p->organization))
            pm__config_error(st, section, key, "expected up to %zu bytes",
                             sizeof(p->organization) - 1);
        else
            snprintf(p->organization, sizeof(p->organization), "%s", v);
    } else if (strcmp(key, "keep_days") == 0) {
        if (pm__config_int(v, 0, 100000, &p->keep_days) != 0)
            pm__config_error(st, section, key,
                             "expected days 0..100000, got '%s'", v);
    } else if (strcmp(key, "tiff_master") == 0) {
        if ((x = pm_tiff_master_parse(v)) < 0)
            pm__config_error(st, section, key,
                             "expected off, g4+jpeg or g4+deflate, got '%s'",
                             v);
        else
            p->tiff_master = (pm_tiff_master_t)x;
    } else if (strcmp(key, "bill_blank") == 0) {
        if (pm__config_bool(v, &p->bill_blank) != 0)
            pm__config_error(st, section, key, "expected yes or no, got '%s'",
                             v);
    } else if (strcmp(key, "pdf_text") == 0) {
        if (strcmp(v, "refuse") == 0 || strcmp(v, "redo") == 0)
            p->pdf_text_redo = strcmp(v, "redo") == 0;
        else
            pm__config_error(st, section, key,
                             "expected refuse or redo, got '%s'", v);
    } else if (strcmp(key, "pdf_dpi") == 0) {
        if (pm__config_int(v, 72, 1200, &p->pdf_dpi) != 0)
            pm__config_error(st, section, key,
                             "expected dpi 72..1200, got '%s'", v);
    } else if (strcmp(key, "review_below_confidence") == 0) {
        if (pm__config_double(v, 0, 100, &p->review_below_confidence) != 0)
            pm__config_error(st, section, key,
                             "expected a mean word confidence 0..100 (0: no "
                             "confidence flag), got '%s'",
                             v);
    } else {
        pm__config_error(st, section, key, "unknown key");
    }
}

void pm__config_check_profiles(parse_state_t *st)
{
    const pm_config_t *cfg = st->cfg;
    char section[PM_PROFILE_NAME_MAX + 16];

    for (size_t i = 0; i < st->nplines && i < cfg->nprofiles; i++) {
        const pm_profile_t *p = &cfg->profiles[i];
        const profile_lines_t *pl = &st->plines[i];

        snprintf(section, sizeof(section), PROFILE_PREFIX "%s", p->name);
        if (pl->mrc != 0 && p->compression == PM_COMPRESS_MRC) {
            st->line = pl->mrc;
            if (p->color_mode == PM_COLOR_BITONAL)
                pm__config_error(
                    st, section, "compression",
                    "mrc applies to gray and colour pages, but "
                    "color_mode = bitonal makes every page bitonal "
                    "(G4); use compression = plain or another "
                    "color_mode");
            if (p->gray_codec == PM_CODEC_JP2)
                pm__config_error(
                    st, section, "compression",
                    "mrc stores the background as JPEG; set gray_codec "
                    "= jpeg (or leave it out) with compression = mrc");
        }
        if (pl->pdfa1 != 0 && p->pdfa_part == 1 &&
            p->gray_codec == PM_CODEC_JP2) {
            st->line = pl->pdfa1;
            pm__config_error(
                st, section, "pdfa",
                "PDF/A-1 does not allow JPEG 2000 images; set "
                "gray_codec = jpeg (or leave it out) with pdfa = 1b, "
                "or use pdfa = 2b");
        }
    }
}
