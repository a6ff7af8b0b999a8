/*
 * mrc_int.h: the parts of the MRC encoder (mrc.c) shared with its text
 * layers (mrc_layers.c).
 */
#ifndef PM_WORKERS_MRC_INT_H
#define PM_WORKERS_MRC_INT_H

#include <leptonica/allheaders.h>

/* At most this many text colours per page; layers are at most twice as
 * many (a fine and a coarse one per colour on a low-resolution page). */
#define PM_MRC_MAX_COLOURS 4
#define PM_MRC_MAX_LAYERS  (2 * PM_MRC_MAX_COLOURS)

/* One text layer: a 1 bpp mask `up` times the page's resolution, drawn
 * as an image mask in `fill` (0..255 per component). */
typedef struct pm_mrc_layer {
    PIX *mask;
    int up;
    int fill[3];
} pm_mrc_layer_t;

/* The text of 8 bpp `gray` at `res` dpi as a 1 bpp mask (mrc.c). */
PIX *pm__mrc_text_mask(PIX *gray, int res);

/*
 * Splits the page's text `mask` (of `pix`, 8 or 32 bpp, at `res` dpi;
 * `gray` its luminance) into layers: one per text colour (the colour of
 * each word, clustered to at most PM_MRC_MAX_COLOURS), and below 200 dpi
 * the small type of each colour at a finer resolution than the rest.
 * Fills out[0..*n-1] (*n >= 1; free with pm__mrc_layers_free); 0 or
 * PM_ENOMEM.
 */
int pm__mrc_layers(PIX *pix, PIX *gray, PIX *mask, int res,
                   pm_mrc_layer_t out[PM_MRC_MAX_LAYERS], int *n);
void pm__mrc_layers_free(pm_mrc_layer_t *l, int n);

#endif /* PM_WORKERS_MRC_INT_H */
