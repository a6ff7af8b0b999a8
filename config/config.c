/*
 * config.c: a configuration's life (config.h): the built-in defaults, the
 * lookups by name and the names of the profile's enumerations. Reading a
 * file is config_ini.c; each section's keys are config_keys.c,
 * config_profile.c, config_hotfolder.c and config_volume.c.
 */
#include "config/config.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_int.h"
#include "pipeline/base/pm.h"

void pm_profile_defaults(pm_profile_t *p)
{
    memset(p, 0, sizeof(*p));
    strcpy(p->name, "default");
    strcpy(p->languages, "eng");
    p->ocr = 1;
    p->ocr_psm = 3; /* fully automatic, as the tesseract CLI */
    p->orient = 1;
    p->orient_min_confidence = 2.0;
    p->deskew = 1;
    p->deskew_max_angle = 16.0;
    p->deskew_min_confidence = 3.0;
    p->blank_ink_ratio = 0.0005;
    p->color_mode = PM_COLOR_AUTO;
    p->gray_codec = PM_CODEC_JPEG;
    /* IJG quality 55 has the quantisation tables of Ghostscript's default
     * (QFactor 0.9), which OCRmyPDF's PDF/A pages carry: the same image
     * quality per byte spent as that tool, not a notch above it. */
    p->jpeg_quality = 55;
    p->jp2_quality = 45;
    p->fallback_dpi = 300;
    p->max_pixels = 20000LL * 20000LL;
    p->pdf_text_redo = 0;
    p->pdf_dpi = 300;
    p->review_below_confidence = PM_REVIEW_BELOW_CONFIDENCE;
    p->pdfa_part = 2;
    p->bag = 1;
    snprintf(p->organization, sizeof(p->organization), "pagemill");
    p->tiff_master = PM_TIFF_G4_JPEG;
}

pm_config_t *pm_config_new(void)
{
    pm_config_t *cfg = pm_calloc(1, sizeof(*cfg));

    if (cfg == NULL)
        return NULL;
    cfg->workers = 0;
    cfg->local_workers = -1;
    cfg->page_timeout = 300;
    cfg->worker_memory_mb = 4096;
    cfg->max_attempts = PM_DEFAULT_MAX_ATTEMPTS;
    cfg->integrity_check_minutes = PM_DEFAULT_INTEGRITY_CHECK_MINUTES;
    cfg->icc_profile = pm_strdup(PM_DEFAULT_ICC);
    cfg->catalog = pm_strdup(PM_DEFAULT_CATALOG);
    cfg->spool = pm_strdup(PM_DEFAULT_SPOOL);
    cfg->output = pm_strdup(PM_DEFAULT_OUTPUT);
    cfg->billing_timezone = pm_strdup("UTC");
    cfg->http.host = pm_strdup(PM_DEFAULT_HTTP_HOST);
    cfg->http.port = PM_DEFAULT_HTTP_PORT;
    cfg->http.loopback = 1;
    cfg->http.min_free_mb = PM_DEFAULT_HTTP_MIN_FREE_MB;
    cfg->alerts.stall_minutes = PM_DEFAULT_ALERT_STALL_MINUTES;
    cfg->alerts.min_free_mb = PM_DEFAULT_ALERT_MIN_FREE_MB;
    cfg->alerts.worker_restarts = PM_DEFAULT_ALERT_WORKER_RESTARTS;
    cfg->alerts.repeat_minutes = PM_DEFAULT_ALERT_REPEAT_MINUTES;
    cfg->profiles = pm_calloc(1, sizeof(pm_profile_t));
    if (cfg->icc_profile == NULL || cfg->catalog == NULL ||
        cfg->spool == NULL || cfg->output == NULL ||
        cfg->billing_timezone == NULL || cfg->http.host == NULL ||
        cfg->profiles == NULL) {
        pm_config_free(cfg);
        return NULL;
    }
    pm_profile_defaults(&cfg->profiles[0]);
    cfg->nprofiles = 1;
    return cfg;
}

void pm_config_free(pm_config_t *cfg)
{
    if (cfg == NULL)
        return;
    pm_free(cfg->icc_profile);
    pm_free(cfg->catalog);
    pm_free(cfg->spool);
    pm_free(cfg->output);
    pm_free(cfg->tessdata);
    pm_free(cfg->billing_timezone);
    pm_free(cfg->billing_issuer);
    pm_free(cfg->source);
    pm_free(cfg->http.host);
    pm_free(cfg->http.token_file);
    pm_free(cfg->http.cert);
    pm_free(cfg->http.key);
    pm_free(cfg->alerts.command);
    pm__config_invoice_cleanup(&cfg->invoice);
    pm_free(cfg->profiles);
    for (size_t i = 0; i < cfg->nhotfolders; i++)
        pm__hotfolder_cfg_cleanup(&cfg->hotfolders[i]);
    pm_free(cfg->hotfolders);
    for (size_t i = 0; i < cfg->nvolumes; i++)
        pm__volume_cfg_cleanup(&cfg->volumes[i]);
    pm_free(cfg->volumes);
    pm_free(cfg);
}

const pm_profile_t *pm_config_profile(const pm_config_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nprofiles; i++)
        if (strcmp(cfg->profiles[i].name, name) == 0)
            return &cfg->profiles[i];
    return NULL;
}

const pm_hotfolder_cfg_t *pm_config_hotfolder(const pm_config_t *cfg,
                                              const char *name)
{
    for (size_t i = 0; i < cfg->nhotfolders; i++)
        if (strcmp(cfg->hotfolders[i].name, name) == 0)
            return &cfg->hotfolders[i];
    return NULL;
}

static const char *color_names[] = {"auto", "bitonal", "gray"};
static const char *codec_names[] = {"jpeg", "jp2"};
static const char *compression_names[] = {"plain", "mrc"};

const char *pm_color_mode_name(pm_color_mode_t m)
{
    return (unsigned)m < 3 ? color_names[m] : "?";
}

const char *pm_gray_codec_name(pm_gray_codec_t c)
{
    return (unsigned)c < 2 ? codec_names[c] : "?";
}

const char *pm_compression_name(pm_compression_t c)
{
    return (unsigned)c < 2 ? compression_names[c] : "?";
}

int pm_compression_parse(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (strcasecmp(s, compression_names[i]) == 0)
            return i;
    return -1;
}

static const char *tiff_master_names[] = {"off", "g4+jpeg", "g4+deflate"};

const char *pm_tiff_master_name(pm_tiff_master_t t)
{
    return (unsigned)t < 3 ? tiff_master_names[t] : "?";
}

int pm_tiff_master_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, tiff_master_names[i]) == 0)
            return i;
    return -1;
}

int pm_color_mode_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, color_names[i]) == 0)
            return i;
    return -1;
}

int pm_gray_codec_parse(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (strcasecmp(s, codec_names[i]) == 0)
            return i;
    return -1;
}

int pm_config_load_or_defaults(const char *who, const char *path,
                               pm_config_t **out)
{
    char *errors = NULL;
    int err;

    assert(who != NULL && out != NULL);
    if (path == NULL) {
        *out = pm_config_new();
        err = *out != NULL ? 0 : PM_ENOMEM;
    } else {
        err = pm_config_load(path, out, &errors);
    }
    if (err != 0 && errors != NULL)
        fprintf(stderr, "%s", errors);
    else if (err != 0)
        fprintf(stderr, "pagemill %s: %s: %s\n", who,
                path != NULL ? path : "built-in defaults", pm_strerror(err));
    pm_free(errors);
    return err;
}
