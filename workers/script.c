/*
 * script.c: the script a page is written in (Tesseract OSD) and whether
 * the profile's languages read it (docs/review.md). A page in a script
 * none of the profile's languages is trained for (a Cyrillic, Hebrew or
 * Japanese page read with `eng`) gets a text layer of noise: it is held
 * for review with the script named.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

/* OSD's script verdicts below this confidence are not reported. On the
 * orientation benchmark's pages it named Latin at 1.1-11, a map with
 * Spanish labels Cyrillic at 1.7, the Japanese fax page Japanese at 1.3,
 * Hebrew and Devanagari pages at 20-43 (PM_SCRIPT_SURE_CONF: engine.h). */
#define SCRIPT_MIN_CONF 1.0
/* Nor when OSD was unsure which way up the text is: it then classified
 * blobs it could not read (the ITU fax chart 8, a sideways handwritten
 * memo, Arabic at 9.9 with an orientation confidence of 2.7; the map,
 * 3.6). Pages in a script OSD knows measure 16-41. */
#define SCRIPT_MIN_ORIENT_CONF 5.0

/* Tesseract's languages whose script is not Latin, by OSD's script name
 * (its osd.traineddata: Latin, Cyrillic, Greek, Han, Japanese, Hangul,
 * Arabic, Hebrew, Devanagari, ...). Every other language is read as
 * Latin; Fraktur is Latin in a broken type (frk, deu_latf read it best,
 * but the Latin models read it too). */
static const struct {
    const char *script;
    const char *langs; /* space-separated, with spaces at both ends */
} non_latin[] = {
    {"Cyrillic", " rus ukr bel bul mkd srp kaz kir tgk tat uzb_cyrl mon "
                 "aze_cyrl chv bak script/Cyrillic "},
    {"Greek", " ell grc script/Greek "},
    {"Han", " chi_sim chi_tra chi_sim_vert chi_tra_vert jpn jpn_vert kor "
            "script/HanS script/HanT script/Japanese "},
    {"Japanese", " jpn jpn_vert script/Japanese "},
    {"Katakana", " jpn jpn_vert script/Japanese "},
    {"Hiragana", " jpn jpn_vert script/Japanese "},
    {"Hangul", " kor kor_vert script/Hangul "},
    {"Arabic", " ara fas urd pus snd uig script/Arabic "},
    {"Hebrew", " heb yid script/Hebrew "},
    {"Devanagari", " hin mar nep san script/Devanagari "},
    {"Bengali", " ben asm script/Bengali "},
    {"Thai", " tha script/Thai "},
    {"Armenian", " hye script/Armenian "},
    {"Georgian", " kat kat_old script/Georgian "},
    {"Tamil", " tam script/Tamil "},
    {"Telugu", " tel script/Telugu "},
    {"Kannada", " kan script/Kannada "},
    {"Malayalam", " mal script/Malayalam "},
    {"Gujarati", " guj script/Gujarati "},
    {"Gurmukhi", " pan script/Gurmukhi "},
    {"Khmer", " khm script/Khmer "},
    {"Lao", " lao script/Lao "},
    {"Myanmar", " mya script/Myanmar "},
    {"Sinhala", " sin script/Sinhala "},
    {"Ethiopic", " amh tir script/Ethiopic "},
    {"Tibetan", " bod dzo script/Tibetan "},
};

#define NSCRIPTS (sizeof(non_latin) / sizeof(non_latin[0]))

/* The script language `lang` is written in: "Latin" unless listed. */
static int lang_reads(const char *lang, size_t len, const char *script)
{
    char word[64];
    int known = 0;

    if (len == 0 || len + 3 > sizeof(word))
        return 0;
    snprintf(word, sizeof(word), " %.*s ", (int)len, lang);
    for (size_t i = 0; i < NSCRIPTS; i++) {
        if (strstr(non_latin[i].langs, word) == NULL)
            continue;
        known = 1;
        if (strcmp(non_latin[i].script, script) == 0)
            return 1;
    }
    return !known &&
           (strcmp(script, "Latin") == 0 || strcmp(script, "Fraktur") == 0);
}

int pm_script_read_by(const char *script, const char *languages)
{
    const char *s = languages;

    assert(script != NULL && languages != NULL);
    if (strcmp(script, "Common") == 0 || strcmp(script, "NULL") == 0)
        return 1; /* digits and punctuation: every language reads them */
    while (*s != '\0') {
        size_t len = strcspn(s, "+");

        if (lang_reads(s, len, script))
            return 1;
        s += len;
        s += *s == '+';
    }
    return 0;
}

int pm__osd_detect(pm_engine_t *eng, PIX *binary, int res, pm_osd_t *out)
{
    const char *name = NULL;
    int ok;

    memset(out, 0, sizeof(*out));
    if (pm__osd_ready(eng) != 0)
        return 0; /* logged once; pages still convert */
    eng->osd_runs++;
    TessBaseAPISetImage2(eng->osd, binary);
    TessBaseAPISetSourceResolution(eng->osd, res);
    ok = TessBaseAPIDetectOrientationScript(eng->osd, &out->orient_deg,
                                            &out->orient_conf, &name,
                                            &out->script_conf);
    if (ok)
        pm_log(PM_LOG_DEBUG, "script",
               "OSD: turned %d (%.1f), script %s (%.1f)", out->orient_deg,
               out->orient_conf, name ? name : "?", out->script_conf);
    if (ok && name != NULL && out->script_conf >= SCRIPT_MIN_CONF &&
        out->orient_conf >= SCRIPT_MIN_ORIENT_CONF)
        snprintf(out->script, sizeof(out->script), "%s", name);
    TessBaseAPIClear(eng->osd);
    return ok;
}

int pm_engine_osd_runs(const pm_engine_t *eng)
{
    return eng->osd_runs;
}
