/*
 * qpdf_stream.cc: pm_qpdf_stream_write() (qpdf_stream.h). qpdf's C API
 * has no stream data provider; this file is the one place the C++ API is
 * used. Every exception stops here: the C side gets -1 and a message.
 */
/* qpdf 11: std::shared_ptr throughout, no PointerHolder. */
#define POINTERHOLDER_TRANSITION 4

#include "workers/qpdf_stream.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <qpdf/Pipeline.hh>
#include <qpdf/QPDF.hh>
#include <qpdf/QPDFObjectHandle.hh>
#include <qpdf/QPDFWriter.hh>
#include <stdexcept>
#include <string>

namespace
{

constexpr size_t chunk_size = 64 * 1024;

struct Source {
    std::string path;
    long long offset;
    long long length;
};

/* Gives each sourced stream its bytes from its file, chunk by chunk. The
 * first fault is kept (qpdf may catch the exception and retry). */
class FileProvider : public QPDFObjectHandle::StreamDataProvider
{
  public:
    std::map<QPDFObjGen, Source> sources;
    std::string fault;

    void provideStreamData(QPDFObjGen const &og, Pipeline *p) override
    {
        auto it = sources.find(og);
        if (it == sources.end())
            fail("object " + og.unparse(' ') + ": no source");
        copy(it->second, p);
        p->finish();
    }

  private:
    [[noreturn]] void fail(std::string const &msg)
    {
        if (fault.empty())
            fault = msg;
        throw std::runtime_error(msg);
    }

    void copy(Source const &s, Pipeline *p)
    {
        FILE *f = std::fopen(s.path.c_str(), "rb");
        if (f == nullptr)
            fail(s.path + ": cannot open: " + std::strerror(errno));
        std::unique_ptr<FILE, int (*)(FILE *)> guard(f, std::fclose);
        if (fseeko(f, (off_t)s.offset, SEEK_SET) != 0)
            fail(s.path + ": cannot seek: " + std::strerror(errno));
        unsigned char buf[chunk_size];
        long long left = s.length;
        while (left > 0) {
            size_t want =
                left < (long long)chunk_size ? (size_t)left : chunk_size;
            size_t got = std::fread(buf, 1, want, f);
            if (got == 0)
                fail(s.path + ": " +
                     (std::ferror(f)
                          ? std::string("read error: ") + std::strerror(errno)
                          : std::string("short read: ") +
                                std::to_string(s.length - left) + " of " +
                                std::to_string(s.length) + " bytes at offset " +
                                std::to_string(s.offset)));
            p->write(buf, got);
            left -= (long long)got;
        }
    }
};

/* Moves every PM_QPDF_SOURCE_KEY of `pdf` into `prov`. */
void attach_sources(QPDF &pdf, std::shared_ptr<FileProvider> const &prov)
{
    for (auto &oh : pdf.getAllObjects()) {
        if (!oh.isStream())
            continue;
        QPDFObjectHandle dict = oh.getDict();
        QPDFObjectHandle src = dict.getKey(PM_QPDF_SOURCE_KEY);
        if (src.isNull())
            continue;
        if (!src.isArray() || src.getArrayNItems() != 3 ||
            !src.getArrayItem(0).isString() ||
            !src.getArrayItem(1).isInteger() ||
            !src.getArrayItem(2).isInteger())
            throw std::runtime_error("object " + oh.getObjGen().unparse(' ') +
                                     ": malformed source");
        prov->sources[oh.getObjGen()] =
            Source{src.getArrayItem(0).getStringValue(),
                   src.getArrayItem(1).getIntValue(),
                   src.getArrayItem(2).getIntValue()};
        dict.removeKey(PM_QPDF_SOURCE_KEY);
        /* Uninitialised handles: /Filter and /DecodeParms stay. */
        oh.replaceStreamData(prov, QPDFObjectHandle(), QPDFObjectHandle());
    }
}

void write(const char *skeleton, const char *out, int part,
           std::shared_ptr<FileProvider> const &prov)
{
    QPDF pdf;
    pdf.setSuppressWarnings(true);
    pdf.processFile(skeleton);
    attach_sources(pdf, prov);
    QPDFWriter w(pdf, out);
    w.setCompressStreams(true);
    w.setObjectStreamMode(qpdf_o_disable);
    /* PDF/A (ISO 19005-1 and -2, 6.1.7): an end-of-line marker before
     * every `endstream`, which qpdf leaves out unless asked. */
    w.setNewlineBeforeEndstream(true);
    if (part == 1)
        w.forcePDFVersion("1.4");
    else
        w.setMinimumPDFVersion("1.7");
    w.setDeterministicID(true);
    w.write();
}

} // namespace

extern "C" int pm_qpdf_stream_write(const char *skeleton, const char *out,
                                    int part, char *err, size_t errsize)
{
    std::string msg;

    try {
        auto prov = std::make_shared<FileProvider>();
        try {
            write(skeleton, out, part, prov);
        } catch (...) {
            if (!prov->fault.empty())
                throw std::runtime_error(prov->fault);
            throw;
        }
        if (prov->fault.empty())
            return 0;
        msg = prov->fault;
    } catch (std::exception const &e) {
        msg = e.what();
    } catch (...) {
        msg = "unknown qpdf error";
    }
    std::snprintf(err, errsize, "%s", msg.c_str());
    return -1;
}
