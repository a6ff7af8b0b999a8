/*
 * fuzz_config.c: libFuzzer driver for the configuration file reader. Any
 * bytes give either a configuration or an error text, never a crash; an
 * accepted configuration names its default profile.
 */
#include <assert.h>
#include <stdint.h>

#include "config/config.h"
#include "fuzz/fuzz_util.h"
#include "pipeline/base/pm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write("pagemill.ini", data, size);
    pm_config_t *cfg = NULL;
    char *errors = NULL;
    int rc = pm_config_load(path, &cfg, &errors);

    assert(rc == 0 ? cfg != NULL : cfg == NULL);
    if (rc == 0)
        assert(pm_config_profile(cfg, "default") != NULL);
    pm_config_free(cfg);
    pm_free(errors);
    return 0;
}
