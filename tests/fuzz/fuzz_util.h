/*
 * fuzz_util.h: what the libFuzzer drivers share. Parsers of outside input
 * that take a path get the fuzz input written to one private scratch file
 * per process (the drivers are single-threaded).
 */
#ifndef PM_TESTS_FUZZ_UTIL_H
#define PM_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A private scratch folder for this process, created on first use. */
const char *fz_dir(void);

/* Writes data to fz_dir()/name and returns the path (a static buffer
 * per name slot; valid until the next call with the same name). Aborts
 * on I/O failure: that is the harness's fault, not the input's. */
const char *fz_write(const char *name, const uint8_t *data, size_t size);

#endif /* PM_TESTS_FUZZ_UTIL_H */
