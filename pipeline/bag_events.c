/*
 * bag_events.c: a job's preservation history, metadata/events.json in
 * its bag (docs/archival.md): PREMIS-style events (type, date, detail,
 * outcome, the agents that did it with their versions, the objects it
 * touched), built on the coordinator's thread from the catalog before
 * the publish step, which only writes it.
 */
#include "pipeline/bag_events.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <leptonica/allheaders.h>
#include <qpdf/qpdf-c.h>
#include <tesseract/capi.h>
#include <tiffio.h>
#include <vips/vips.h>

#include "config/volume.h"
#include "pipeline/base/pm.h"

#ifndef PM_VERSION
#define PM_VERSION "dev"
#endif

json_t *pm_bag_software(void)
{
    char *lept = getLeptonicaVersion();
    char tiff[64];
    const char *t = TIFFGetVersion(), *nl;
    json_t *o;

    /* "LIBTIFF, Version 4.5.0\nCopyright ..." -> its first line */
    nl = t ? strchr(t, '\n') : NULL;
    snprintf(tiff, sizeof(tiff), "%.*s", nl ? (int)(nl - t) : 63, t ? t : "");
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "pagemill", PM_VERSION,
                  "tesseract", TessVersion(), "leptonica", lept ? lept : "",
                  "libtiff", tiff, "qpdf", qpdf_get_qpdf_version(), "libvips",
                  vips_version_string());
    lept_free(lept);
    return o;
}

static const char *iso(int64_t at, char buf[32])
{
    time_t t = (time_t)at;
    struct tm tm;

    if (at <= 0 || gmtime_r(&t, &tm) == NULL)
        return NULL;
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* One PREMIS-style event: agents is an array of agent names (taken). */
static json_t *event(const char *type, int64_t at, const char *detail,
                     const char *outcome, json_t *agents, json_t *objects)
{
    char buf[32];

    return json_pack("{s:s, s:s?, s:s, s:s, s:o, s:o}", "eventType", type,
                     "eventDateTime", iso(at, buf), "eventDetail", detail,
                     "eventOutcome", outcome, "linkingAgents", agents,
                     "linkingObjects", objects);
}

/* One input: its id (input-<page>), file as the coordinator reaches it,
 * frame and SHA-256. A file on a volume the coordinator does not
 * configure stays as the catalog records it, with that volume named. */
static json_t *input(const pm_config_t *cfg, const pm_task_t *t)
{
    char id[32], volume[PM_VOLUME_NAME_MAX];
    int local;
    char *file = pm_volume_shown(cfg, t->src, &local);
    json_t *o;

    if (t->src != NULL && file == NULL)
        return NULL;
    snprintf(id, sizeof(id), "input-%d", t->page);
    o = json_pack("{s:s, s:i, s:s, s:i, s:{s:s, s:s?}}", "objectIdentifier", id,
                  "page", t->page, "file", file ? file : "", "frame", t->frame,
                  "fixity", "messageDigestAlgorithm", "SHA-256",
                  "messageDigest", t->sha256);
    if (o != NULL && !local &&
        json_object_set_new(o, "unresolved_volume",
                            json_string(pm_volume_name_of(
                                t->src, volume, sizeof(volume)))) != 0) {
        json_decref(o);
        o = NULL;
    }
    pm_free(file);
    return o;
}

/* The inputs: one object per page. */
static json_t *inputs(const pm_config_t *cfg, const pm_task_t *v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, input(cfg, &v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* The ids of the inputs (input-<page>) and of the job's outputs. */
static void object_ids(const pm_task_t *v, size_t n, int64_t job, json_t *in,
                       json_t *out)
{
    static const char *const ext[] = {"pdf", "txt", "pages.json", "alto.xml"};
    size_t outputs = 3; /* and the ALTO when a page was read */
    char id[64];

    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "input-%d", v[i].page);
        json_array_append_new(in, json_string(id));
        if (v[i].text_pdf != NULL)
            outputs = 4;
    }
    for (size_t i = 0; i < outputs; i++) {
        snprintf(id, sizeof(id), "data/job-%lld.%s", (long long)job, ext[i]);
        json_array_append_new(out, json_string(id));
    }
}

/* The catalog's own trail of the job: actor, kind, page, detail. */
static json_t *trail(pm_catalog_t *cat, int64_t job)
{
    pm_event_t *v = NULL;
    size_t n = 0;
    json_t *a = json_array();
    char buf[32];

    if (a == NULL || pm_event_list(cat, job, 0, &v, &n) != 0)
        return a;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s?, s:s, s:s, s:i, s:s?}", "at",
                                           iso(v[i].at, buf), "actor",
                                           v[i].actor ? v[i].actor : "", "kind",
                                           v[i].kind ? v[i].kind : "", "page",
                                           v[i].page, "detail", v[i].detail));
    pm_event_list_free(v, n);
    return a;
}

/* The page stages: when the first and last page were done. */
static void page_span(const pm_task_t *v, size_t n, int64_t *first,
                      int64_t *last)
{
    *first = *last = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].finished_at > 0 && (*first == 0 || v[i].finished_at < *first))
            *first = v[i].finished_at;
        if (v[i].finished_at > *last)
            *last = v[i].finished_at;
    }
}

static json_t *agents(const char *const *names)
{
    json_t *a = json_array();

    for (size_t i = 0; a && names[i]; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

static json_t *events(const pm_job_t *j, const pm_task_t *v, size_t n,
                      int64_t now)
{
    static const char *const intake[] = {"pagemill", NULL};
    static const char *const decode[] = {"pagemill", "leptonica", "libtiff",
                                         "libvips",  "qpdf",      NULL};
    static const char *const ocr[] = {"pagemill", "tesseract", "leptonica",
                                      NULL};
    static const char *const encode[] = {"pagemill", "leptonica", "libtiff",
                                         "libvips", NULL};
    static const char *const assemble[] = {"pagemill", "qpdf", NULL};
    int64_t first, last;
    json_t *a = json_array(), *in = json_array(), *out = json_array();
    char detail[512];

    page_span(v, n, &first, &last);
    object_ids(v, n, j->id, in, out);
    snprintf(detail, sizeof(detail),
             "batch %s taken from hot folder %s into the spool, %d pages",
             j->batch ? j->batch : "?", j->hotfolder ? j->hotfolder : "?",
             j->pages);
    json_array_append_new(a,
                          event("ingestion", j->created_at, detail, "success",
                                agents(intake), json_deep_copy(in)));
    json_array_append_new(a,
                          event("message digest calculation", j->created_at,
                                "SHA-256 of every input file at intake",
                                "success", agents(intake), json_deep_copy(in)));
    json_array_append_new(
        a, event("fixity check", first,
                 "each page's file checked against its intake SHA-256 by the "
                 "worker before decoding",
                 "success", agents(intake), json_deep_copy(in)));
    json_array_append_new(
        a, event("decoding", first,
                 "pages decoded, turned upright and straightened", "success",
                 agents(decode), json_deep_copy(in)));
    json_array_append_new(a, event("optical character recognition", last,
                                   "page text read by Tesseract", "success",
                                   agents(ocr), json_deep_copy(in)));
    json_array_append_new(
        a, event("compression", last,
                 "pages compressed: CCITT G4 bitonal, JPEG or JPEG 2000 "
                 "gray and colour",
                 "success", agents(encode), json_deep_copy(in)));
    json_array_append_new(
        a, event("creation", now,
                 "PDF/A-2b with a text layer, the text and the page report "
                 "assembled; page count and SHA-256 checked",
                 "success", agents(assemble), json_deep_copy(out)));
    json_decref(in);
    json_decref(out);
    return a;
}

json_t *pm_bag_events(pm_catalog_t *cat, const pm_config_t *cfg, int64_t job,
                      int64_t now)
{
    pm_job_t j = {0};
    pm_task_t *v = NULL;
    size_t n = 0;
    json_t *doc = NULL;

    if (pm_job_get(cat, job, &j) == 0 && pm_task_list(cat, job, &v, &n) == 0)
        doc =
            json_pack("{s:I, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:o}", "job",
                      (json_int_t)job, "account", j.account, "work_order",
                      j.workorder, "batch", j.batch, "software",
                      pm_bag_software(), "objects", inputs(cfg, v, n), "events",
                      events(&j, v, n, now), "catalog_events", trail(cat, job));
    pm_task_list_free(v, n);
    pm_job_cleanup(&j);
    return doc;
}
