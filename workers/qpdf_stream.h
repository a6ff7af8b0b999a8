/*
 * qpdf_stream.h: writing a PDF whose page streams are read from files
 * while qpdf writes them (qpdf_stream.cc, C++ behind a C API), so that
 * assembling a document holds one stream in memory at a time, whatever
 * its page count.
 *
 * The assembly (pdfa.c) builds a skeleton PDF with qpdf's C API: every
 * large stream is empty, with its /Filter and /DecodeParms as they must
 * be written, and a PM_QPDF_SOURCE_KEY entry [(path) offset length]
 * saying where its (encoded) bytes are; the skeleton is written with
 * stream compression off, so that no filter is added to them.
 * pm_qpdf_stream_write() opens the skeleton, gives each such stream a qpdf
 * StreamDataProvider reading those bytes and writes the document with
 * QPDFWriter straight to a file.
 */
#ifndef PM_WORKERS_QPDF_STREAM_H
#define PM_WORKERS_QPDF_STREAM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The skeleton's stream dictionary key naming a stream's bytes. */
#define PM_QPDF_SOURCE_KEY "/PMSource"

/*
 * Writes the skeleton PDF `skeleton` to the new file `out` with every
 * sourced stream's bytes read from its file as qpdf writes it, streams
 * compressed (those without a filter), no object streams, an end-of-line
 * before every endstream, a deterministic /ID, and PDF 1.4 (`part` 1,
 * PDF/A-1) or at least 1.7 (PDF/A-2). Returns 0, or -1 with a message in
 * err[errsize] naming the file and the fault (a source missing, shorter
 * than said, unreadable; the skeleton or `out`); `out` may then hold a
 * partial document, which the caller removes.
 */
int pm_qpdf_stream_write(const char *skeleton, const char *out, int part,
                         char *err, size_t errsize);

#ifdef __cplusplus
}
#endif

#endif /* PM_WORKERS_QPDF_STREAM_H */
