/*
 * fuzz_util.c: scratch files for the fuzz drivers (fuzz_util.h).
 */
#include "fuzz/fuzz_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *fz_dir(void)
{
    static char dir[256];

    if (dir[0] == '\0') {
        const char *base = getenv("TMPDIR");

        snprintf(dir, sizeof(dir), "%s/pm-fuzz.XXXXXX",
                 base != NULL && *base ? base : "/tmp");
        if (mkdtemp(dir) == NULL) {
            perror("fuzz: mkdtemp");
            abort();
        }
    }
    return dir;
}

const char *fz_write(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", fz_dir(), name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    while (size > 0) {
        ssize_t w = write(fd, data, size);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            perror(path);
            abort();
        }
        data += w;
        size -= (size_t)w;
    }
    close(fd);
    return path;
}
