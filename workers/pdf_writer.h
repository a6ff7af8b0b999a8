/*
 * pdf_writer.h: a PDF writer that writes each object as it is made and
 * forgets it (pdf_writer.c), so that assembling a document takes memory
 * bounded whatever its page count: what it keeps is the offset of each
 * object (8 bytes) for the cross-reference table, and a digest of the
 * bytes written for the trailer's /ID.
 *
 * Objects are numbered by pm__pdfw_new() before they are written, in any
 * order, each once; the file gets a classic cross-reference table (no
 * object streams, no compressed xref: PDF/A-1 needs that), a header
 * with a binary comment line, and an end-of-line before every
 * `endstream` (PDF/A, ISO 19005-1 and -2, 6.1.7).
 *
 * Errors are negative codes with the message on the engine, naming the
 * output file or the source of a stream and the fault; after one, every
 * call returns it again and writes nothing.
 *
 * pdf_copy.c copies an object of a PDF that qpdf reads (a text layer's
 * font) with everything it references into the document, renumbered.
 */
#ifndef PM_WORKERS_PDF_WRITER_H
#define PM_WORKERS_PDF_WRITER_H

#include <stddef.h>

#include <qpdf/qpdf-c.h>

#include "workers/engine_int.h"

#define PM_PDFW_BUF (64u << 10)

typedef struct pm_pdfw {
    pm_engine_t *eng;
    const char *path;         /* the output, for messages (borrowed) */
    int fd;                   /* the output (borrowed) */
    long long off;            /* bytes written: the next object's offset */
    long long *xref;          /* offset of object n at xref[n]; -1 unwritten */
    int nobj;                 /* objects numbered: 1..nobj */
    int cap;                  /* entries of xref */
    int cur;                  /* object being written, 0 between objects */
    int err;                  /* the first fault */
    struct evp_md_ctx_st *md; /* digest of every byte written: /ID */
    size_t used;              /* bytes in buf */
    unsigned char *buf;       /* PM_PDFW_BUF bytes */
} pm_pdfw_t;

/* Starts the document on the open, empty `fd` (`path` names it in
 * messages) with its header: `%PDF-<version>` and a binary comment. */
int pm__pdfw_begin(pm_pdfw_t *w, pm_engine_t *eng, int fd, const char *path,
                   const char *version);

/* Numbers a new object (written later); its number, or an error. */
int pm__pdfw_new(pm_pdfw_t *w);

/* Object `num`: its header, then what pm__pdfw_printf()/pm__pdfw_write()
 * put, then pm__pdfw_end(). */
int pm__pdfw_begin_obj(pm_pdfw_t *w, int num);
int pm__pdfw_end(pm_pdfw_t *w);
int pm__pdfw_write(pm_pdfw_t *w, const void *data, size_t len);
int pm__pdfw_printf(pm_pdfw_t *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A PDF text string: literal when printable ASCII, else UTF-16BE with a
 * byte order mark (`utf8` is UTF-8; what is not becomes U+FFFD). */
int pm__pdfw_text(pm_pdfw_t *w, const char *utf8);

/* Stream object `num` whose dictionary has the entries `dict` ("/Type
 * /XObject ...", no << >>, no /Length) and whose bytes are `len` at
 * `data`, as they are. */
int pm__pdfw_stream(pm_pdfw_t *w, int num, const char *dict, const void *data,
                    size_t len);

/* ... the `len` bytes at `data` deflated at zlib level `level`, with
 * /Filter /FlateDecode (which `dict` must not have). */
int pm__pdfw_stream_deflate(pm_pdfw_t *w, int num, const char *dict,
                            const void *data, size_t len, int level);

/* ... the `len` bytes of the open `fd` from its current offset, read a
 * chunk at a time; a short file fails naming `src`. */
int pm__pdfw_stream_fd(pm_pdfw_t *w, int num, const char *dict, int fd,
                       const char *src, long long len);

/* The cross-reference table and trailer (/Root `root`, /Info `info`, /ID
 * from the digest of all that precedes), flushed; every numbered object
 * must have been written. The caller closes and commits the file. */
int pm__pdfw_finish(pm_pdfw_t *w, int root, int info);

/* Frees what the writer holds (not the fd). */
void pm__pdfw_cleanup(pm_pdfw_t *w);

/* Copies the indirect object `obj` of `src` (read from `path`) and what
 * it references into the document; its number there in *num. Streams are
 * copied as stored, unfiltered ones deflated. */
int pm__pdfw_copy(pm_pdfw_t *w, qpdf_data src, qpdf_oh obj, const char *path,
                  int *num);

#endif /* PM_WORKERS_PDF_WRITER_H */
