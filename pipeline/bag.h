/*
 * bag.h: a job folder as a BagIt bag (RFC 8493, docs/archival.md):
 * writing one (bag.c), checking one (verify.c), and the manifest reader
 * both share.
 *
 * A bag is a folder with bagit.txt, bag-info.txt, the payload in data/,
 * manifest-sha256.txt (every payload file's SHA-256), the tag files
 * (metadata/events.json) and tagmanifest-sha256.txt (the SHA-256 of every
 * tag file but itself). The writer never reads a file back to hash it
 * when it has its digest already: a caller adds a file it checked with
 * its digest, and the files the writer writes itself are hashed from the
 * bytes it writes.
 */
#ifndef PM_PIPELINE_BAG_H
#define PM_PIPELINE_BAG_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/base/pm.h"

/* One line of a manifest: a file relative to the bag, and its digest. */
typedef struct pm_bag_entry {
    char *path; /* "data/job-1.pdf", decoded (%0A, %0D, %25) */
    char sha256[PM_SHA256_HEX];
    int64_t size; /* bytes, or -1 when not known (read manifests) */
} pm_bag_entry_t;

/* A bag being written into folder `dir`. */
typedef struct pm_bag {
    char *dir;
    pm_bag_entry_t *payload, *tags;
    size_t npayload, ntags, cap_payload, cap_tags;
} pm_bag_t;

/* Starts a bag in existing folder `dir` and creates dir/data. 0 or
 * -errno / PM_ENOMEM. */
int pm_bag_open(pm_bag_t *b, const char *dir);

/* Releases the lists (the files stay). Accepts a zeroed struct. */
void pm_bag_cleanup(pm_bag_t *b);

/* Records payload file `rel` ("data/...") already in place, whose
 * SHA-256 the caller has: only its size is read (stat). 0 or -errno. */
int pm_bag_add_known(pm_bag_t *b, const char *rel, const char *sha256);

/* Records payload file `rel` already in place: hashed by one read. */
int pm_bag_add_file(pm_bag_t *b, const char *rel);

/* A file being written whose SHA-256 is computed from the bytes written
 * (the payload files a job's publishing writes itself: never read back
 * to hash). */
typedef struct pm_hashed_file {
    int fd;
    void *md; /* the digest's state */
    int err;  /* the first failure; later writes do nothing */
} pm_hashed_file_t;

/* Starts hashing what goes to the open file `fd` (borrowed). 0 or
 * PM_ENOMEM. */
int pm_hashed_open(pm_hashed_file_t *h, int fd);
/* Writes and hashes buf[len] (a pm_report_out_t: ctx is the
 * pm_hashed_file_t). 0 or the first failure. */
int pm_hashed_put(void *ctx, const char *buf, size_t len);
/* The digest of everything written (when no write failed), and the state
 * released (the descriptor stays open). 0 or the first failure, with hex
 * then "". */
int pm_hashed_close(pm_hashed_file_t *h, char hex[PM_SHA256_HEX]);

/* Writes `len` bytes to `rel` in the bag durably (payload when `rel`
 * starts with "data/", else a tag file) and records their SHA-256. */
int pm_bag_write(pm_bag_t *b, const char *rel, const void *buf, size_t len);

/* Who and what a bag holds, for bag-info.txt. Strings borrowed. */
typedef struct pm_bag_info {
    const char *organization; /* Source-Organization */
    const char *account, *work_order;
    int64_t job;
    int pages, billable_pages;
    const char *version; /* pagemill's */
} pm_bag_info_t;

/* Writes bagit.txt, bag-info.txt (with Payload-Oxum and Bagging-Date),
 * manifest-sha256.txt and last tagmanifest-sha256.txt. 0 or a negative
 * code, with the file and the fault in why[size]. */
int pm_bag_finish(pm_bag_t *b, const pm_bag_info_t *info, char *why,
                  size_t size);

/* Reads manifest `path` into *out (n entries; free with
 * pm_bag_entries_free). 0, -errno (the file cannot be read), or PM_EINVAL
 * with the line and fault in why[size] (a malformed line). */
int pm_bag_manifest_read(const char *path, pm_bag_entry_t **out, size_t *n,
                         char *why, size_t size);
void pm_bag_entries_free(pm_bag_entry_t *v, size_t n);

/* Checks bag `dir`: calls problem(arg, text) once for each fault, every
 * text naming the file. Returns the number of faults (0: valid). */
int pm_bag_verify(const char *dir, void (*problem)(void *, const char *),
                  void *arg);

/* As pm_bag_verify, with every file's SHA-256 (`fixity`) or without
 * reading any file to hash it (the declaration, manifests, every listed
 * file there, no stray payload file, the Payload-Oxum: what a writer
 * checks before it publishes a bag whose digests it computed itself).
 * Returns the number of faults, the first in why[size] ("" when none). */
int pm_bag_check(const char *dir, int fixity, char *why, size_t size);

/* `pagemill verify PATH... | --all [--config FILE]` (verify.c). */
int pm_verify_main(int argc, char **argv);

/* `pagemill janitor`: retention of spooled files (janitor.c). */
int pm_janitor_main(int argc, char **argv);

#endif /* PM_PIPELINE_BAG_H */
