/*
 * counter.h: frame counting of untrusted files in a child process
 * (`pagemill count-frames`, workers/count.c), for intake. The coordinator
 * never runs an image decoder on a batch file itself: a decoder fault on
 * a hostile file ends the child, and intake rejects the batch naming the
 * file the child was on.
 */
#ifndef PM_PIPELINE_COUNTER_H
#define PM_PIPELINE_COUNTER_H

#include <stddef.h>
#include <stdint.h>

/* The most files one child counts (each is an inherited descriptor). */
#define PM_COUNT_MAX_FILES 64

/* What the child said about one file. */
typedef struct pm_frame_count {
    int err;        /* 0, or the engine's error code */
    int frames;     /* when !err: >= 1 */
    char *msg;      /* when err: the engine's message, naming the file */
    int64_t pixels; /* when !err: of all its frames, 0: unknown */
} pm_frame_count_t;

typedef struct pm_counter_opts {
    const char *exe;     /* the pagemill binary */
    int memory_mb;       /* the child's address-space limit, 0: none */
    int timeout_ms;      /* the child is killed after this long */
    int refuse_pdf_text; /* a PDF with a text layer is an error */
} pm_counter_opts_t;

/*
 * Counts the frames of the n (<= PM_COUNT_MAX_FILES) open regular files
 * fds[] in one child, which reads them from their start (the descriptors
 * stay open here; `names` are for messages). Returns:
 *   0          out[0..n-1] filled (each a count or the file's error);
 *   PM_EWORKER the child crashed, timed out or broke off: out[0..*done-1]
 *              are filled, file *done is the one it was on, and *why is a
 *              new string such as "crashed (signal 11)";
 *   another    the child could not be started, or was stopped by
 *              SIGTERM, SIGINT or SIGHUP from outside (*why says why).
 * Clean out[] with pm_frame_counts_cleanup() and free *why in every case.
 */
int pm_count_frames_child(const pm_counter_opts_t *o, const int *fds,
                          const char *const *names, size_t n,
                          pm_frame_count_t *out, size_t *done, char **why);

void pm_frame_counts_cleanup(pm_frame_count_t *v, size_t n);

#endif /* PM_PIPELINE_COUNTER_H */
