/*
 * hotfolder_int.h: what hotfolder.c (the handle, the scan, the moves) and
 * batch.c (building a batch: batch.ini, the page list, the problems
 * found) share. Not for use outside the hot folder's two files.
 */
#ifndef PM_HOTFOLDER_INT_H
#define PM_HOTFOLDER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <sys/stat.h>

#include "pipeline/base/pm.h"
#include "pipeline/hotfolder.h"

/* What an entry of the hot folder is. */
enum { KIND_NONE = 0, KIND_FOLDER, KIND_FILE, KIND_LINK };

typedef struct tracked tracked_t;

struct pm_hotfolder {
    pm_hotfolder_cfg_t cfg; /* own copy */
    char **profiles;        /* names batch.ini may use; NULL: any */
    size_t nprofiles;
    tracked_t *tracked;
    size_t ntracked;
    pthread_mutex_t lock; /* serialises every public call */
};

/* Hidden, editor and partial files: never taken, anywhere. */
int pm__hf_never_taken(const char *name);
/* True when the first `n` bytes of `s` are a work order: [A-Za-z0-9-]+ */
int pm__hf_work_order_chars(const char *s, size_t n);
/* `name` shown as printable, valid UTF-8 (pm_escape_name). */
const char *pm__hf_shown(const char *name, char buf[PM_ESCAPED_MAX]);
/* The batch's name without a file's extension: a new string or NULL. */
char *pm__hf_batch_stem(const pm_batch_t *b);
/* Frees the first `n` strings of `v`, then `v`. */
void pm__hf_free_strv(char **v, size_t n);
/* Appends page `path` (taken: freed on failure), listed as `st`, to the
 * batch's files and ids. */
int pm__hf_add_file(pm_batch_t *b, char *path, const struct stat *st);

/* Builds the batch for a complete entry (KIND_FOLDER, _FILE or _LINK)
 * into *out (NULL when it vanished meanwhile: the next scan forgets
 * it); 0 or PM_ENOMEM. Problems found are in the batch's error. */
int pm__hf_batch_build(pm_hotfolder_t *hf, const char *name, const char *path,
                       int kind, pm_batch_t **out);

#endif /* PM_HOTFOLDER_INT_H */
