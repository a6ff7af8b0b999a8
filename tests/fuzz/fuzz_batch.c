/*
 * fuzz_batch.c: libFuzzer driver for batch.ini, read the way intake reads
 * it: a folder batch in a real hot folder (marker mode) whose batch.ini
 * is the fuzz input, scanned by pm_hotfolder_scan. Any bytes give either
 * a batch or a batch with an error to reject, never a crash; a batch's
 * strings are valid UTF-8 (they reach the log, JSON and the catalog).
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz/fuzz_util.h"
#include "pipeline/base/pm.h"
#include "pipeline/hotfolder.h"

static pm_config_t *cfg;
static char batch[512];
static int64_t clock_s;

/* NULL or valid UTF-8 */
static int utf8_ok(const char *s)
{
    return s == NULL || pm_utf8_valid(s);
}

static void setup(void)
{
    char conf[600], text[1200], hot[520], page[560];
    char *errors = NULL;

    pm_log_threshold = PM_LOG_ERROR + 1;
    snprintf(hot, sizeof(hot), "%s/hot", fz_dir());
    snprintf(batch, sizeof(batch), "%s/WO-2026-0001", hot);
    snprintf(conf, sizeof(conf), "%s/pagemill.ini", fz_dir());
    snprintf(text, sizeof(text),
             "[pagemill]\nspool = %s/spool\n[hotfolder scans]\npath = %s\n"
             "account = ACME\n[profile colour]\ncolor_mode = auto\n",
             fz_dir(), hot);
    if (pm_mkdir_p(batch) != 0)
        abort();
    fz_write("pagemill.ini", (const uint8_t *)text, strlen(text));
    snprintf(page, sizeof(page), "%s/p0001.png", batch);
    if (rename(fz_write("p", (const uint8_t *)"\x89PNG\r\n\x1a\n", 8), page))
        abort();
    if (pm_config_load(conf, &cfg, &errors) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ini[600];
    pm_hotfolder_t *hf = NULL;
    pm_batch_t *list = NULL;
    size_t n = 0;

    if (cfg == NULL)
        setup();
    snprintf(ini, sizeof(ini), "%s/batch.ini", batch);
    if (rename(fz_write("ini", data, size), ini) != 0)
        abort();
    if (pm_hotfolder_open(cfg, &cfg->hotfolders[0], &hf) != 0)
        abort();
    clock_s += 1000;
    if (pm_hotfolder_scan(hf, clock_s, &list, &n) == 0) {
        for (pm_batch_t *b = list; b != NULL; b = b->next) {
            assert(utf8_ok(b->error));
            if (b->error == NULL)
                assert(utf8_ok(b->work_order) && utf8_ok(b->account) &&
                       utf8_ok(b->operator_name) && utf8_ok(b->notes));
        }
        pm_batch_free_list(list);
    }
    pm_hotfolder_close(hf);
    return 0;
}
