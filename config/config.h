/*
 * config.h: pagemill's configuration, read from one INI file (libinih) and
 * validated as a whole. A profile says what to do to each page; a hot
 * folder says where batches arrive and which profile they get; the
 * [pagemill] section holds process-wide settings. Every error names the
 * file, the line and the key.
 *
 * This module parses and validates; it calls nothing else in the project.
 */
#ifndef PM_CONFIG_H
#define PM_CONFIG_H

#include <stddef.h>

#define PM_PROFILE_NAME_MAX 64

/* Default review_below_confidence: a read page whose mean word confidence
 * is below this is flagged for review (docs/architecture.md, "Review
 * flags", has the pages it was measured on). */
#define PM_REVIEW_BELOW_CONFIDENCE 60.0
#define PM_LANGS_MAX               64

typedef enum {
    PM_COLOR_AUTO = 0, /* keep bitonal/gray/colour as scanned */
    PM_COLOR_BITONAL,  /* binarize every page (CCITT G4 output) */
    PM_COLOR_GRAY,     /* colour becomes gray; bitonal stays bitonal */
} pm_color_mode_t;

typedef enum {
    PM_CODEC_JPEG = 0,
    PM_CODEC_JP2,
} pm_gray_codec_t;

/* How gray and colour pages are stored (bitonal pages are always G4). */
typedef enum {
    PM_COMPRESS_PLAIN = 0, /* one image: JPEG or JPEG 2000 (gray_codec) */
    PM_COMPRESS_MRC,       /* mixed raster content: a full-resolution G4
                            * text mask in one colour over a JPEG
                            * background at a third of the resolution */
} pm_compression_t;

/* The bag's multi-page TIFF master (docs/archival.md): bitonal pages are
 * always G4; gray and colour pages keep their JPEG or are deflated. */
typedef enum {
    PM_TIFF_OFF = 0,
    PM_TIFF_G4_JPEG,    /* the page's JPEG as is (JPEG 2000: deflated) */
    PM_TIFF_G4_DEFLATE, /* decoded pixels, deflated */
} pm_tiff_master_t;

/* What to do to every page. Plain data: copied freely, sent to workers. */
typedef struct pm_profile {
    char name[PM_PROFILE_NAME_MAX];
    char languages[PM_LANGS_MAX]; /* Tesseract form, "eng+deu" */
    int ocr;                      /* run OCR at all */
    int ocr_psm;                  /* Tesseract page segmentation mode */
    int orient;                   /* detect orientation with OSD */
    double orient_min_confidence; /* apply a rotation only above this */
    int deskew;
    double deskew_max_angle;      /* search +/- this many degrees */
    double deskew_min_confidence; /* apply only above this */
    double blank_ink_ratio;       /* blank below this ink fraction */
    pm_color_mode_t color_mode;
    pm_gray_codec_t gray_codec;
    pm_compression_t compression;
    int jpeg_quality;     /* 1..100 */
    int jp2_quality;      /* 1..100 (libvips Q) */
    int fallback_dpi;     /* when the file's resolution is missing/absurd */
    long long max_pixels; /* refuse larger images before decoding */
    int bill_blank;       /* blank pages are billable */
    int pdf_text_redo;    /* OCR a PDF that has a text layer again (else
                           * refuse it) */
    int pdf_dpi;          /* resolution PDF pages are rendered at */
    double review_below_confidence; /* flag a read page for review whose
                                     * mean word confidence is below this
                                     * (0: never for confidence) */
    int pdfa_part; /* 1: PDF/A-1b (PDF 1.4), 2: PDF/A-2b (the default) */
    int bag;       /* publish a job folder as a BagIt bag (docs/archival.md) */
    char organization[128];       /* the bag's Source-Organization */
    pm_tiff_master_t tiff_master; /* data/job-<id>.tif, or none */
    int keep_days; /* `pagemill janitor` removes a verified job's spooled
                    * originals and page artifacts this many days after
                    * it finished; 0: kept for ever */
} pm_profile_t;

/* Default name of the marker that completes a folder batch. */
#define PM_DEFAULT_MARKER "batch.ini"
/* Default quiet time for settle mode, in seconds. */
#define PM_DEFAULT_SETTLE 30

/*
 * One [hotfolder NAME] section: a folder operators drop batches into.
 * Plain data; every string is owned by the configuration it belongs to.
 */
typedef struct pm_hotfolder_cfg {
    char *name;         /* NAME from the section header */
    char *path;         /* the watched folder */
    char *profile;      /* profile for its batches; names one in the file */
    char *account;      /* default account code, or NULL */
    char *marker;       /* file that completes a folder batch, or NULL
                           for settle mode (marker = none) */
    int settle_seconds; /* quiet time in settle mode (and for files) */
    int hold_unknown;   /* hold batches for unknown work orders */
    int poll;           /* watch = poll: no change events at all, only the
                           scan timer (network shares may accept a watch
                           but never report another machine's writes) */
    int scan_seconds;   /* scan_seconds: period of the scan, 0: the
                           default (PM_DEFAULT_SCAN_MS, or half of
                           settle_seconds when shorter) */
    int line;           /* line of the section header in the file */
} pm_hotfolder_cfg_t;

/* Default period of the hot folder scan, in milliseconds. */
#define PM_DEFAULT_SCAN_MS 2000

/*
 * One [volume NAME] section: shared storage this machine reaches at
 * `path`. A path under it is recorded in the catalog as "NAME:rel/path"
 * (config/volume.h), so machines that mount one share at different
 * places agree on every path. Plain data, owned by the configuration.
 */
#define PM_VOLUME_NAME_MAX 32
typedef struct pm_volume_cfg {
    char *name; /* NAME: letters, digits, '_', '-', '.' */
    char *path; /* absolute, normalized: no ".", no trailing slash */
    int line;   /* line of the section header in the file */
} pm_volume_cfg_t;

/* Default of [http] listen, and of min_free_mb. */
#define PM_DEFAULT_HTTP_HOST        "127.0.0.1"
#define PM_DEFAULT_HTTP_PORT        8080
#define PM_DEFAULT_HTTP_MIN_FREE_MB 1024

/*
 * [http]: the web interface `pagemill serve` runs (docs/api.md). Off
 * unless the file has an [http] section. Strings are owned by the
 * configuration.
 */
typedef struct pm_http_cfg {
    int enabled;      /* the file has an [http] section */
    char *host;       /* listen = HOST:PORT; an IPv4 or [IPv6] literal */
    int port;         /* 0..65535; 0: any free port (logged) */
    int loopback;     /* host is 127.0.0.0/8 or ::1 */
    char *token_file; /* more tokens: lines "ROLE NAME SHA256", or NULL */
    char *cert, *key; /* PEM files for TLS (both or neither), or NULL */
    int min_free_mb;  /* /readyz: free MiB the output volume must have */
} pm_http_cfg_t;

/*
 * [alerts]: conditions that run `command` with the alert as JSON on its
 * stdin (docs/alerts.md). Off unless the file has an [alerts] section,
 * which must name a command. A threshold of 0 turns its condition off.
 */
typedef struct pm_alerts_cfg {
    int enabled;         /* the file has an [alerts] section */
    char *command;       /* run through /bin/sh -c; owned */
    int stall_minutes;   /* pages outstanding, none finished for this long */
    int min_free_mb;     /* spool or output volume below this */
    int worker_restarts; /* this many worker restarts within 10 minutes */
    int repeat_minutes;  /* the same alert at most once per this */
} pm_alerts_cfg_t;

#define PM_DEFAULT_ALERT_STALL_MINUTES   15
#define PM_DEFAULT_ALERT_MIN_FREE_MB     1024
#define PM_DEFAULT_ALERT_WORKER_RESTARTS 3
#define PM_DEFAULT_ALERT_REPEAT_MINUTES  60

/*
 * [invoice]: what the invoice PDF says of its issuer and how it shows
 * money (docs/billing.md). Every key is optional.
 */
#define PM_INVOICE_ADDRESS_MAX 4
typedef struct pm_invoice_cfg {
    char *issuer; /* NULL: [billing] issuer, else "pagemill" */
    char *address[PM_INVOICE_ADDRESS_MAX]; /* `address =`, one per line */
    size_t naddress;
    char *tax_id;          /* "Tax ID: ..." under the address, or NULL */
    char currency[4];      /* ISO 4217 code ("EUR"), "" when none */
    char *currency_symbol; /* put before amounts ("€"), or NULL */
    int a4;                /* page_size = A4 (default letter) */
    char *payment_terms;   /* under the total, or NULL */
} pm_invoice_cfg_t;

/*
 * [archive]: the care `pagemill serve` takes of the archive on its own
 * (docs/archival.md): the janitor's retention and the fixity check of
 * every published bag, each every N hours (0: off).
 */
typedef struct pm_archive_cfg {
    double janitor_every_hours; /* as `pagemill janitor` does */
    double verify_every_hours;  /* as `pagemill verify --all` does */
} pm_archive_cfg_t;

/* Process-wide settings plus the profiles and hot folders. */
typedef struct pm_config {
    int workers;            /* 0: one per core */
    int local_workers;      /* serve's page workers: -1 (default) as
                               `workers`; 0 a pure coordinator whose
                               pages all go to agents (one worker
                               assembles) */
    int page_timeout;       /* seconds before a page's worker is killed */
    int worker_memory_mb;   /* address-space limit per worker, 0: none */
    int max_attempts;       /* tries a page gets before it fails, 1..100 */
    char *icc_profile;      /* sRGB ICC file for the PDF/A OutputIntent */
    char *tessdata;         /* NULL: Tesseract's default */
    char *catalog;          /* catalog database file, or the URL of
                               [catalog] url (postgresql://...) */
    char *spool;            /* where intake moves batches (same filesystem
                               as the hot folders: intake renames) */
    char *output;           /* where finished jobs are published */
    char *billing_timezone; /* [billing] timezone: months are in it */
    char *billing_issuer;   /* [billing] issuer: named on invoices */
    char *source;           /* file the config came from, or NULL */
    /* minutes between catalog quick_checks while serving, 0: start only */
    int integrity_check_minutes;
    pm_http_cfg_t http;
    pm_alerts_cfg_t alerts;
    pm_invoice_cfg_t invoice;
    pm_archive_cfg_t archive;

    pm_profile_t *profiles;
    size_t nprofiles;
    pm_hotfolder_cfg_t *hotfolders;
    size_t nhotfolders;
    pm_volume_cfg_t *volumes;
    size_t nvolumes;
} pm_config_t;

/* Fills `p` with the built-in "default" profile. */
void pm_profile_defaults(pm_profile_t *p);

/*
 * Returns a new configuration with built-in defaults (one profile,
 * "default"), which the caller owns and frees with pm_config_free(), or
 * NULL when out of memory.
 */
pm_config_t *pm_config_new(void);

/*
 * Reads and validates `path` on top of the defaults. On success stores a
 * new configuration in *out (caller owns it) and returns 0. On failure
 * returns PM_ECONFIG (or -errno if the file can't be read), *out is NULL
 * and *errors holds a new string (caller frees with pm_free) with one line
 * per problem: "FILE:LINE: [section] key: what is wrong".
 */
int pm_config_load(const char *path, pm_config_t **out, char **errors);

/*
 * A command's "--config FILE, or the defaults": loads `path`, or returns
 * the built-in defaults when it is NULL. On failure prints what is wrong
 * to stderr (the file's faults, or "pagemill WHO: PATH: reason"), leaves
 * *out NULL and returns the error; the command then exits 2.
 */
int pm_config_load_or_defaults(const char *who, const char *path,
                               pm_config_t **out);

/* Frees a configuration. Accepts NULL. */
void pm_config_free(pm_config_t *cfg);

/* Returns the profile named `name` (borrowed), or NULL. */
const pm_profile_t *pm_config_profile(const pm_config_t *cfg, const char *name);

/* Returns the hot folder named `name` (borrowed), or NULL. */
const pm_hotfolder_cfg_t *pm_config_hotfolder(const pm_config_t *cfg,
                                              const char *name);

/* Returns "auto"/"bitonal"/"gray", "jpeg"/"jp2" and "plain"/"mrc". */
const char *pm_color_mode_name(pm_color_mode_t m);
const char *pm_gray_codec_name(pm_gray_codec_t c);
const char *pm_compression_name(pm_compression_t c);
/* Parse the names above; -1 if unknown. */
int pm_color_mode_parse(const char *s);
int pm_gray_codec_parse(const char *s);
int pm_compression_parse(const char *s);
/* "off", "g4+jpeg", "g4+deflate"; the parser returns -1 if unknown. */
const char *pm_tiff_master_name(pm_tiff_master_t t);
int pm_tiff_master_parse(const char *s);

/* Tesseract's language data folder when neither [pagemill] tessdata nor
 * $TESSDATA_PREFIX names one (Debian's tesseract-ocr 5). */
#define PM_DEFAULT_TESSDATA "/usr/share/tesseract-ocr/5/tessdata"

/*
 * The folder Tesseract reads language data from for `cfg`, as Tesseract
 * finds it: [pagemill] tessdata, else $TESSDATA_PREFIX, else
 * PM_DEFAULT_TESSDATA. Borrowed.
 */
const char *pm_config_tessdata_dir(const pm_config_t *cfg);

/*
 * Checks that every language of `only` (or, when NULL, of every profile)
 * is installed as <lang>.traineddata in pm_config_tessdata_dir(); profiles
 * with OCR off are skipped. Returns 0, PM_ENOMEM, or PM_ECONFIG with
 * *errors a new string (caller frees with pm_free) of one line per missing
 * language: "FILE: [profile NAME] languages: 'deu' is not installed: no
 * DIR/deu.traineddata (install the Debian package tesseract-ocr-deu)".
 * Used by `config check`, `serve` and `convert` before any page runs.
 */
int pm_config_check_languages(const pm_config_t *cfg, const pm_profile_t *only,
                              char **errors);

/* Default location of the sRGB profile (Debian icc-profiles-free). */
#define PM_DEFAULT_ICC "/usr/share/color/icc/sRGB.icc"

/* Default of [pagemill] max_attempts. */
#define PM_DEFAULT_MAX_ATTEMPTS 3

/* Default of [pagemill] integrity_check_minutes. */
#define PM_DEFAULT_INTEGRITY_CHECK_MINUTES 60

/* Default catalog file, relative to the working folder. */
#define PM_DEFAULT_CATALOG "pagemill.db"

/* Default spool and output folders, relative to the working folder. */
#define PM_DEFAULT_SPOOL  "spool"
#define PM_DEFAULT_OUTPUT "out"

#endif /* PM_CONFIG_H */
