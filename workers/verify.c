/*
 * verify.c: SHA-256 of an open file (pm_sha256_fd, the one digest reader
 * of intake, publishing and the workers), and a page is what intake hashed
 * (pm__page_verify). The worker
 * reads the page once, through the safe open, into an anonymous memory
 * file while hashing it; when the SHA-256 is the one the catalog recorded
 * at intake, that memory file is what the decoders read (pm__load_pin), so
 * a file changed in the spool after the check cannot reach them.
 */
#define _GNU_SOURCE /* memfd_create */
#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pipeline/base/pm.h"
#include "workers/engine_int.h"

#define VERIFY_BUF (256 * 1024)

int pm_sha256_fd(int fd, char hex[PM_SHA256_HEX],
                 int (*sink)(void *arg, const unsigned char *buf, size_t n),
                 void *arg)
{
    unsigned char md[EVP_MAX_MD_SIZE], *buf = pm_malloc(VERIFY_BUF);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int mdlen = 0;
    int err = 0;
    ssize_t n;

    hex[0] = '\0';
    if (buf == NULL || ctx == NULL ||
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        err = PM_ENOMEM;
    while (err == 0 && (n = read(fd, buf, VERIFY_BUF)) != 0) {
        if (n < 0 && errno != EINTR)
            err = -errno;
        else if (n > 0 && EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            err = PM_EIO;
        else if (n > 0 && sink != NULL)
            err = sink(arg, buf, (size_t)n);
    }
    if (err == 0 && (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32))
        err = PM_EIO;
    for (unsigned int i = 0; err == 0 && i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(ctx);
    pm_free(buf);
    return err;
}

int pm__page_verify(pm_engine_t *eng, const char *path, const char *sha256,
                    int *memfd)
{
    char hex[PM_SHA256_HEX];
    int in, mem, err;

    assert(sha256 != NULL);
    *memfd = -1;
    in = pm__page_open(path);
    if (in < 0) {
        err = -errno;
        return pm__engine_fail(eng, err, "%s: cannot open: %s", path,
                               err == -ELOOP    ? "a symbolic link (never "
                                                  "followed)"
                               : err == -EINVAL ? "not a regular file"
                                                : strerror(-err));
    }
    mem = memfd_create("pagemill-page", MFD_CLOEXEC);
    err = mem < 0 ? -errno : pm_sha256_fd(in, hex, pm_write_sink, &mem);
    close(in);
    if (err != 0) {
        if (mem >= 0)
            close(mem);
        return pm__engine_fail(eng, err, "%s: cannot read: %s", path,
                               pm_strerror(err));
    }
    if (strcasecmp(hex, sha256) != 0) {
        close(mem);
        return pm__engine_fail(eng, PM_ECHANGED,
                               "%s changed since intake (SHA-256 %s, "
                               "expected %s)",
                               path, hex, sha256);
    }
    *memfd = mem;
    return 0;
}
