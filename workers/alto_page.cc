/*
 * alto_page.cc: a recognised page's ALTO <Page> element (engine_int.h),
 * the element TessBaseAPI::GetAltoText writes, byte for byte, from one
 * walk over the words.
 *
 * GetAltoText asks of every word whether it ends its line, paragraph and
 * block (IsAtFinalElement, each a copy of the iterator moved ahead) and
 * walks the word symbol by symbol; in the result iterator's logical order
 * each of those steps goes back over the word's line, so a page took as
 * long as a third of its recognition's time to describe (docs/
 * benchmarks.md, "Archival outputs per page"). Here each word is read
 * whole, the next word (where the walk is anyway) tells whether this one
 * ended a line, paragraph or block, and a word is asked once what it
 * begins.
 */
#include "workers/alto_page.h"

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>

#include <tesseract/baseapi.h>
#include <tesseract/resultiterator.h>

extern "C" void *pm_malloc(size_t size); /* pipeline/base/pm.h */

namespace
{

using tesseract::PageIteratorLevel;
using tesseract::ResultIterator;

/* Tesseract's HOcrEscape. */
void escape(std::string &out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '&':
            out += "&amp;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            out += *s;
        }
    }
}

/* Tesseract's AddBoxToAlto: the box, and WC for a word (its "0." and the
 * whole confidence, as Tesseract writes it) or the tag's '>'. */
void box(std::string &out, const ResultIterator *it, PageIteratorLevel level)
{
    int left, top, right, bottom;

    it->BoundingBox(level, &left, &top, &right, &bottom);
    out += " HPOS=\"" + std::to_string(left) + "\" VPOS=\"" +
           std::to_string(top) + "\" WIDTH=\"" + std::to_string(right - left) +
           "\" HEIGHT=\"" + std::to_string(bottom - top) + "\"";
    if (level == tesseract::RIL_WORD)
        out += " WC=\"0." +
               std::to_string(static_cast<int>(it->Confidence(level))) + "\"";
    else
        out += ">";
}

/* An image or line block, as GetAltoText writes it; false for text. */
bool non_text(std::string &out, ResultIterator *it, int *bcnt)
{
    const char *tag;

    switch (it->BlockType()) {
    case tesseract::PT_FLOWING_IMAGE:
    case tesseract::PT_HEADING_IMAGE:
    case tesseract::PT_PULLOUT_IMAGE:
        tag = "Illustration";
        break;
    case tesseract::PT_HORZ_LINE:
    case tesseract::PT_VERT_LINE:
        tag = "GraphicalElement";
        break;
    default:
        return false;
    }
    out += std::string("\t\t\t\t<") + tag + " ID=\"cblock_" +
           std::to_string((*bcnt)++) + "\"";
    box(out, it, tesseract::RIL_BLOCK);
    out += std::strcmp(tag, "Illustration") == 0 ? "</Illustration>\n"
                                                 : "</GraphicalElement >\n";
    it->Next(tesseract::RIL_BLOCK);
    return true;
}

/* What the word at `it` begins. A paragraph or block begins only with a
 * line (ResultIterator::IsAtBeginningOf), and each question costs a walk
 * back to the line's logical start: the line is asked first, the rest
 * only at a line's first word. */
struct starts {
    bool line, para, block;
};

starts starts_at(const ResultIterator *it)
{
    starts s = {it->IsAtBeginningOf(tesseract::RIL_TEXTLINE), false, false};

    if (s.line) {
        s.para = it->IsAtBeginningOf(tesseract::RIL_PARA);
        s.block = it->IsAtBeginningOf(tesseract::RIL_BLOCK);
    }
    return s;
}

/* The openings of the elements word `it` begins. */
void open(std::string &out, const ResultIterator *it, starts s, int bcnt,
          int tcnt, int lcnt)
{
    if (s.block) {
        out +=
            "\t\t\t\t<ComposedBlock ID=\"cblock_" + std::to_string(bcnt) + "\"";
        box(out, it, tesseract::RIL_BLOCK);
        out += "\n";
    }
    if (s.para) {
        out += "\t\t\t\t\t<TextBlock ID=\"block_" + std::to_string(tcnt) + "\"";
        box(out, it, tesseract::RIL_PARA);
        out += "\n";
    }
    if (s.line) {
        out += "\t\t\t\t\t\t<TextLine ID=\"line_" + std::to_string(lcnt) + "\"";
        box(out, it, tesseract::RIL_TEXTLINE);
        out += "\n";
    }
}

void walk(std::string &out, ResultIterator *it)
{
    int lcnt = 0, tcnt = 0, bcnt = 0, wcnt = 0;
    starts s = {false, false, false};
    bool known = false; /* s is the word at it's */

    while (!it->Empty(tesseract::RIL_BLOCK)) {
        int left, top, right, bottom, hpos, vpos;
        bool end;

        if (it->Empty(tesseract::RIL_WORD)) {
            it->Next(tesseract::RIL_WORD);
            known = false;
            continue;
        }
        if (non_text(out, it, &bcnt)) {
            known = false;
            continue;
        }
        if (!known)
            s = starts_at(it);
        open(out, it, s, bcnt, tcnt, lcnt);
        out += "\t\t\t\t\t\t\t<String ID=\"string_" + std::to_string(wcnt++) +
               "\"";
        box(out, it, tesseract::RIL_WORD);
        out += " CONTENT=\"";
        std::unique_ptr<const char[]> word(
            it->GetUTF8Text(tesseract::RIL_WORD));
        if (word)
            escape(out, word.get());
        out += "\"/>";
        it->BoundingBox(tesseract::RIL_WORD, &left, &top, &right, &bottom);
        hpos = right;
        vpos = top;
        /* The next word says where this one ended. */
        end = !it->Next(tesseract::RIL_WORD) || it->Empty(tesseract::RIL_WORD);
        known = !end;
        if (end)
            s = {true, true, true};
        else
            s = starts_at(it);
        if (s.line) {
            out += "\n\t\t\t\t\t\t</TextLine>\n";
            lcnt++;
        } else {
            it->BoundingBox(tesseract::RIL_WORD, &left, &top, &right, &bottom);
            out += "<SP WIDTH=\"" + std::to_string(left - hpos) + "\" VPOS=\"" +
                   std::to_string(vpos) + "\" HPOS=\"" + std::to_string(hpos) +
                   "\"/>\n";
        }
        if (s.para) {
            out += "\t\t\t\t\t</TextBlock>\n";
            tcnt++;
        }
        if (s.block) {
            out += "\t\t\t\t</ComposedBlock>\n";
            bcnt++;
        }
    }
}

} // namespace

char *pm__alto_page(void *api, int width, int height)
{
    auto *base = static_cast<tesseract::TessBaseAPI *>(api);
    std::string out;
    char *copy;

    try {
        std::unique_ptr<ResultIterator> it(base->GetIterator());

        out = "\t\t<Page WIDTH=\"" + std::to_string(width) + "\" HEIGHT=\"" +
              std::to_string(height) +
              "\" PHYSICAL_IMG_NR=\"0\" ID=\"page_0\">\n"
              "\t\t\t<PrintSpace HPOS=\"0\" VPOS=\"0\" WIDTH=\"" +
              std::to_string(width) + "\" HEIGHT=\"" + std::to_string(height) +
              "\">\n";
        if (it)
            walk(out, it.get());
        out += "\t\t\t</PrintSpace>\n\t\t</Page>\n";
    } catch (...) {
        return nullptr;
    }
    copy = static_cast<char *>(pm_malloc(out.size() + 1));
    if (copy != nullptr)
        std::memcpy(copy, out.c_str(), out.size() + 1);
    return copy;
}
