/*
 * pdf_render.c: a PDF page that is not one scanned image (vector art,
 * text, several images) rendered with poppler's GLib interface onto a
 * white cairo image at the profile's resolution (pdf_int.h). The size in
 * pixels is checked against the pixel limit and the page shapes a scan
 * can have before the surface is made.
 */
#include <cairo.h>
#include <math.h>
#include <poppler.h>
#include <stdint.h>
#include <string.h>

#include <leptonica/allheaders.h>

#include "pipeline/base/pm.h"
#include "workers/pdf_int.h"

/* The ARGB32/RGB24 surface into a 32 bpp pix (alpha ignored: the page
 * was painted on white). */
static PIX *surface_pix(cairo_surface_t *s)
{
    int w = cairo_image_surface_get_width(s);
    int h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *data = cairo_image_surface_get_data(s);
    PIX *pix = data != NULL ? pixCreate(w, h, 32) : NULL;

    if (pix == NULL)
        return NULL;
    for (int y = 0; y < h; y++) {
        const uint32_t *src = (const uint32_t *)(data + (size_t)y * stride);
        l_uint32 *line = pixGetData(pix) + (size_t)y * pixGetWpl(pix);

        for (int x = 0; x < w; x++)
            line[x] = (src[x] & 0x00ffffffu) << 8; /* xRGB -> RGBx */
    }
    pixSetSpp(pix, 3);
    return pix;
}

static int open_page(pm_engine_t *eng, const char *path,
                     const unsigned char *buf, size_t len, int page,
                     PopplerDocument **doc, PopplerPage **pg)
{
    GError *gerr = NULL;
    GBytes *bytes = g_bytes_new_static(buf, len);

    *pg = NULL;
    *doc = poppler_document_new_from_bytes(bytes, NULL, &gerr);
    g_bytes_unref(bytes);
    if (*doc == NULL) {
        int err = pm__engine_fail(
            eng, PM_ECORRUPT, "%s page %d: poppler cannot read the PDF: %s",
            path, page + 1, gerr != NULL ? gerr->message : "no detail");
        if (gerr != NULL)
            g_error_free(gerr);
        return err;
    }
    *pg = poppler_document_get_page(*doc, page);
    if (*pg == NULL) {
        g_object_unref(*doc);
        *doc = NULL;
        return pm__engine_fail(eng, PM_ECORRUPT,
                               "%s page %d: poppler cannot read the page", path,
                               page + 1);
    }
    return 0;
}

int pm__pdf_render(pm_engine_t *eng, const char *path, const unsigned char *buf,
                   size_t len, int page, int dpi, long long max_pixels,
                   struct Pix **out)
{
    PopplerDocument *doc;
    PopplerPage *pg;
    cairo_surface_t *s = NULL;
    cairo_t *cr;
    double wpt = 0, hpt = 0;
    long long w, h;
    char what[32];
    int err;

    *out = NULL;
    err = open_page(eng, path, buf, len, page, &doc, &pg);
    if (err)
        return err;
    poppler_page_get_size(pg, &wpt, &hpt); /* points, turned by /Rotate */
    snprintf(what, sizeof(what), "page %d", page + 1);
    if (!(wpt > 0) || !(hpt > 0) || wpt > 1e6 || hpt > 1e6) {
        err = pm__engine_fail(eng, PM_ECORRUPT,
                              "%s page %d: page size %.1f x %.1f pt is "
                              "impossible",
                              path, page + 1, wpt, hpt);
        goto out;
    }
    w = (long long)ceil(wpt * dpi / 72.0 - 0.01);
    h = (long long)ceil(hpt * dpi / 72.0 - 0.01);
    err = pm__load_check_dims(eng, path, what, w, h, max_pixels);
    if (err)
        goto out;
    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)w, (int)h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        err = pm__engine_fail(eng, PM_ENOMEM,
                              "%s page %d: cannot make a %lldx%lld image to "
                              "render into: %s",
                              path, page + 1, w, h,
                              cairo_status_to_string(cairo_surface_status(s)));
        goto out;
    }
    cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, dpi / 72.0, dpi / 72.0);
    poppler_page_render_for_printing(pg, cr);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    *out = surface_pix(s);
    if (*out == NULL) {
        err = pm__engine_fail(eng, PM_ENOMEM, "%s page %d: out of memory", path,
                              page + 1);
        goto out;
    }
    pixSetResolution(*out, dpi, dpi);
out:
    if (s != NULL)
        cairo_surface_destroy(s);
    g_object_unref(pg);
    g_object_unref(doc);
    return err;
}
