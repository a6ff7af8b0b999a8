/*
 * worker.h: `pagemill worker`, the process side of the worker protocol
 * (pipeline/base/proto.h). It reads one task per line on stdin, runs it on a
 * warm page engine and answers with one result line on stdout. Logs go to
 * stderr, which the coordinator tags with the worker's id.
 */
#ifndef PM_WORKERS_WORKER_H
#define PM_WORKERS_WORKER_H

#include <stdio.h>

/*
 * Serves tasks from `in` to `out` until end of input or a quit message.
 * `warm` (or NULL) names the languages to load before saying ready; a
 * failure there is logged and left to the pages, which fail with it. Returns a
 * process exit status: 0 after a clean end, 1 if the engine could not start or
 * a line could not be written.
 */
int pm_worker_run(const char *tessdata, const char *warm, FILE *in, FILE *out);

/*
 * `pagemill count-frames FD=NAME...`: counts the frames of each open file
 * FD (inherited from intake, which opened and hashed it; NAME is for
 * messages) and writes one line per file to `out`, flushed, in order:
 * "ok N PIXELS" (PIXELS: of all its frames from their headers, 0 when
 * unknown; intake's work estimate) or "err CODE MESSAGE"; a PDF with a
 * text layer is an error when `refuse_pdf_text` (--refuse-pdf-text).
 * Returns a process exit status.
 */
int pm_count_frames_run(char *const *args, int nargs, int refuse_pdf_text,
                        FILE *out);

#endif /* PM_WORKERS_WORKER_H */
