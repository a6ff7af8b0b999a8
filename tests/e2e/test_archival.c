/*
 * test_archival.c: a job `pagemill serve` publishes is a BagIt bag
 * (docs/archival.md) that `pagemill verify` and an independent check
 * (Python's hashlib over the manifests, the Payload-Oxum) both find
 * valid; one flipped byte, a deleted payload file and a stray one each
 * make `pagemill verify` exit 1 naming the file; `verify --all` records
 * its result as a catalog event; the job's ALTO v4 document has a Page
 * per page, unique ids and each page's text's word count (well-formed by
 * xmllint; no ALTO schema on the machine to validate against); a profile
 * with `bag = no` publishes the outputs in data/ without the tag files;
 * the report and the log carry the archival outputs' times (TIFF master,
 * ALTO, bag); a worker killed mid-assembly leaves nothing in the bag its
 * retry publishes. The real binary and workers on the five real scans of
 * examples/WO-2026-0001.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <leptonica/allheaders.h>

#include "lib/httplib.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/bag.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S   600.0 /* five real pages OCR'd on a loaded machine */
#define PAGE_TIMEOUT 240
#define CARE_S       180.0 /* [archive]'s runs, every 1.8 s, to show */
#define EXAMPLE      PM_SOURCE_DIR "/examples/WO-2026-0001"

/* An independent check of a bag: bagit.txt, every manifest and tag
 * manifest line by hashlib, completeness both ways, Payload-Oxum. */
static const char python_check[] =
    "import hashlib, os, sys\n"
    "bag = sys.argv[1]\n"
    "def sha(p):\n"
    "    return hashlib.sha256(open(os.path.join(bag, p), 'rb').read())"
    ".hexdigest()\n"
    "def manifest(name):\n"
    "    out = {}\n"
    "    for line in open(os.path.join(bag, name), encoding='utf-8'):\n"
    "        h, p = line.rstrip('\\n').split(None, 1)\n"
    "        out[p] = h\n"
    "    return out\n"
    "decl = open(os.path.join(bag, 'bagit.txt')).read().splitlines()\n"
    "assert decl[0] == 'BagIt-Version: 1.0', decl\n"
    "assert decl[1] == 'Tag-File-Character-Encoding: UTF-8', decl\n"
    "m = manifest('manifest-sha256.txt')\n"
    "for p, h in m.items():\n"
    "    assert sha(p) == h, p\n"
    "found = set()\n"
    "for d, _, files in os.walk(os.path.join(bag, 'data')):\n"
    "    for f in files:\n"
    "        found.add(os.path.relpath(os.path.join(d, f), bag))\n"
    "assert found == set(m), (found, set(m))\n"
    "size = sum(os.path.getsize(os.path.join(bag, p)) for p in found)\n"
    "info = dict(l.split(': ', 1) for l in\n"
    "            open(os.path.join(bag, 'bag-info.txt')).read().splitlines())\n"
    "assert info['Payload-Oxum'] == '%d.%d' % (size, len(found)), info\n"
    "t = manifest('tagmanifest-sha256.txt')\n"
    "assert set(t) >= {'bagit.txt', 'bag-info.txt', 'manifest-sha256.txt',\n"
    "                  'metadata/events.json'}, t\n"
    "for p, h in t.items():\n"
    "    assert sha(p) == h, p\n"
    "print('ok', len(found))\n";

static int setup(void **state)
{
    sv_fx_t *f = pm_calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (sv_fx_init(f, t_tmpdir()) != 0 ||
        sv_write_config(
            f, PAGE_TIMEOUT,
            "\n[profile default]\norganization = City Records "
            "Centre\n\n[profile loose]\nbag = no\n"
            "tiff_master = g4+deflate\n\n[profile keep]\nkeep_days = 3\n") !=
            0) {
        pm_free(f);
        return -1;
    }
    *state = f;
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "workorder add WO-1 --account ACME");
    return 0;
}

static int teardown(void **state)
{
    sv_fx_t *f = *state;
    int rc = sv_fx_fini(f, PAGE_TIMEOUT + 10);

    pm_free(f);
    t_tmpdir_cleanup();
    return rc;
}

/* The five example scans as batch `name`, with batch.ini (`ini`) last. */
static void drop_example(const sv_fx_t *f, const char *name, const char *ini)
{
    char dir[512], path[600];

    snprintf(dir, sizeof(dir), "%s/%s", f->scans, name);
    assert_int_equal(t_run(NULL, "cp -r '%s' '%s'", EXAMPLE, dir), 0);
    snprintf(path, sizeof(path), "%s/batch.ini", dir);
    sv_write_text(path, ini);
}

/* Runs `pagemill verify ARGS`; its exit status, stdout in *out. */
static int verify(char **out, const char *args)
{
    return t_run(out, "'%s' verify %s 2>&1", PM_BINARY, args);
}

/* Copies bag `bag` to `copy`, damages it with shell command `damage`
 * (run in the copy), and checks that verify fails naming `file`. */
static void damaged(const char *bag, const char *copy, const char *damage,
                    const char *file)
{
    char *out = NULL, want[700];

    assert_int_equal(t_run(NULL, "cp -a '%s' '%s'", bag, copy), 0);
    assert_int_equal(t_run(NULL, "cd '%s' && %s", copy, damage), 0);
    assert_int_equal(verify(&out, copy), 1);
    snprintf(want, sizeof(want), "%s/%s", copy, file);
    if (strstr(out, want) == NULL)
        fail_msg("verify did not name %s:\n%s", want, out);
    free(out);
    assert_int_not_equal(t_run(NULL,
                               "python3 - '%s' >/dev/null 2>&1 <<'EOF'\n%sEOF",
                               copy, python_check),
                         0);
}

static void count_fault(void *arg, const char *problem)
{
    (void)problem;
    (*(int *)arg)++;
}

/* bag-info.txt names the organization, account, work order, job, pages. */
static void check_info(const char *bag, long long id)
{
    char path[700], want[64];
    char *info;

    snprintf(path, sizeof(path), "%s/bag-info.txt", bag);
    info = t_slurp(path);
    assert_non_null(info);
    assert_non_null(strstr(info, "Source-Organization: City Records Centre\n"));
    assert_non_null(strstr(info, "Pagemill-Account: ACME\n"));
    assert_non_null(strstr(info, "Pagemill-Work-Order: WO-1\n"));
    snprintf(want, sizeof(want), "Pagemill-Job: %lld\n", id);
    assert_non_null(strstr(info, want));
    assert_non_null(strstr(info, "Pagemill-Page-Count: 5\n"));
    assert_non_null(strstr(info, "Pagemill-Billable-Page-Count: 5\n"));
    assert_non_null(strstr(info, "Bagging-Date: 20"));
    assert_non_null(strstr(info, "Bag-Software-Agent: pagemill "));
    free(info);
}

/* The job's ALTO: ALTO v4, one Page per page, ids unique, as many String
 * elements on each page as the page's text has words. The ALTO schema is not on
 * the machine (no Debian package ships it), so no validation against it. */
static const char alto_check[] =
    "import json, sys, xml.etree.ElementTree as ET\n"
    "bag, job = sys.argv[1], sys.argv[2]\n"
    "ns = '{http://www.loc.gov/standards/alto/ns-v4#}'\n"
    "root = ET.parse('%s/data/job-%s.alto.xml' % (bag, job)).getroot()\n"
    "assert root.tag == ns + 'alto', root.tag\n"
    "pages = root.findall('./%sLayout/%sPage' % (ns, ns))\n"
    "assert [p.get('PHYSICAL_IMG_NR') for p in pages] == "
    "[str(i) for i in range(1, 6)], pages\n"
    "ids = [e.get('ID') for e in root.iter() if e.get('ID')]\n"
    "assert len(ids) == len(set(ids)), 'duplicate ids'\n"
    "text = open('%s/data/job-%s.txt' % (bag, job), encoding='utf-8')"
    ".read()\n"
    "texts = text.split('\\f')\n"
    "assert len(texts) == 5, len(texts)\n"
    "for i, (p, t) in enumerate(zip(pages, texts)):\n"
    "    n = len(list(p.iter(ns + 'String')))\n"
    "    assert n == len(t.split()), (i + 1, n, len(t.split()))\n"
    "words = len(list(root.iter(ns + 'String')))\n"
    "assert words > 100, words\n"
    "print('alto', words)\n";

/* Occurrences of `needle` in `s`. */
static int count_of(const char *s, const char *needle)
{
    int n = 0;

    for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/*
 * The TIFF master data/job-<id>.tif: tiffinfo shows five pages, upright,
 * with their resolution, G4 for the bitonal pages and `other` (JPEG or
 * deflate) for the rest; each page decoded (Leptonica through libtiff)
 * has exactly the pixels of the PDF's page image decoded by poppler
 * (pdfimages -png), in the PDF's page order.
 */
static void check_master(const char *root, const char *bag, long long id,
                         const char *other)
{
    char tif[700], pdf[700], png[800], *out = NULL;

    snprintf(tif, sizeof(tif), "%s/data/job-%lld.tif", bag, id);
    snprintf(pdf, sizeof(pdf), "%s/data/job-%lld.pdf", bag, id);
    assert_int_equal(t_run(&out, "tiffinfo '%s' 2>&1", tif), 0);
    assert_int_equal(count_of(out, "TIFF Directory at offset"), 5);
    assert_true(count_of(out, "Compression Scheme: CCITT Group 4") >= 1);
    assert_true(count_of(out, other) >= 1);
    assert_int_equal(count_of(out, "Compression Scheme: CCITT Group 4") +
                         count_of(out, other),
                     5);
    assert_int_equal(count_of(out, "Orientation: row 0 top, col 0 lhs"), 5);
    assert_int_equal(count_of(out, "pixels/inch"), 5);
    assert_null(strstr(out, "Resolution: 0,"));
    free(out);
    assert_int_equal(t_run(NULL,
                           "rm -rf '%s/img' && mkdir '%s/img' && "
                           "pdfimages -png '%s' '%s/img/p'",
                           root, root, pdf, root),
                     0);
    for (int i = 0; i < 5; i++) {
        PIX *a = pixReadTiff(tif, i), *b;
        l_int32 same = 0;

        snprintf(png, sizeof(png), "%s/img/p-%03d.png", root, i);
        b = pixRead(png);
        assert_non_null(a);
        assert_non_null(b);
        if (pixGetDepth(a) != pixGetDepth(b) || pixEqual(a, b, &same) != 0 ||
            !same)
            fail_msg("page %d of %s: %dx%dx%d, not the PDF's %dx%dx%d image",
                     i + 1, tif, pixGetWidth(a), pixGetHeight(a),
                     pixGetDepth(a), pixGetWidth(b), pixGetHeight(b),
                     pixGetDepth(b));
        pixDestroy(&a);
        pixDestroy(&b);
    }
}

/* events.json: every input's intake SHA-256 and the software versions. */
static void check_events(const char *bag)
{
    static const char *const names[] = {"p001.tif", "p002.tif", "p003.jpg",
                                        "p004.png", "p005.tif"};
    static const char *const software[] = {"pagemill", "tesseract", "leptonica",
                                           "libtiff", "qpdf"};
    char path[700], *text, *sum = NULL;

    snprintf(path, sizeof(path), "%s/metadata/events.json", bag);
    text = t_slurp(path);
    assert_non_null(text);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(
            t_run(&sum, "sha256sum '%s/%s' | cut -c1-64", EXAMPLE, names[i]),
            0);
        sum[64] = '\0';
        if (strstr(text, sum) == NULL)
            fail_msg("events.json lacks %s's SHA-256 %s", names[i], sum);
        free(sum);
    }
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "\"%s\": \"", software[i]);
        assert_non_null(strstr(text, path));
    }
    assert_non_null(strstr(text, "\"objectIdentifier\": \"input-5\""));
    assert_non_null(strstr(text, "\"data/job-1.alto.xml\""));
    assert_non_null(strstr(text, "\"ingestion\""));
    assert_non_null(strstr(text, "\"optical character recognition\""));
    free(text);
}

/* A number member `key` of object `o`: fails the test unless it is
 * there; returns it. */
static double number_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_number(v))
        fail_msg("archival_ms has no number %s", key);
    return json_number_value(v);
}

/*
 * The archival outputs' times (docs/benchmarks.md): the report's
 * archival_ms has the TIFF master's (a master was written: above 0), the
 * ALTO's and the bag's, none negative, none above the assembly's or a
 * minute; the log has each page's ALTO time and the job's line with all.
 */
static void check_times(const sv_fx_t *f, const char *bag, long long id)
{
    char path[700];
    json_error_t jerr;
    json_t *report, *times;
    double assembly;
    char *log;

    snprintf(path, sizeof(path), "%s/data/job-%lld.pages.json", bag, id);
    report = json_load_file(path, 0, &jerr);
    assert_non_null(report);
    times = json_object_get(report, "archival_ms");
    if (!json_is_object(times))
        fail_msg("%s has no archival_ms", path);
    assembly = number_of(report, "assembly_ms");
    assert_true(number_of(times, "tiff_master") > 0);
    assert_true(number_of(times, "tiff_master") <= assembly);
    assert_true(number_of(times, "alto") >= 0);
    assert_true(number_of(times, "alto") < 60000);
    assert_true(number_of(times, "bag") >= 0);
    assert_true(number_of(times, "bag") < 60000);
    json_decref(report);
    log = t_slurp(f->log);
    assert_non_null(log);
    assert_true(count_of(log, " (ALTO ") >= 1);
    if (strstr(log, "archival outputs: TIFF master ") == NULL)
        fail_msg("no archival outputs' times in the log:\n%s", log);
    free(log);
}

static void real_job_is_a_valid_bag(void **state)
{
    sv_fx_t *f = *state;
    char bag[600], copy[600], *out = NULL;
    long long id;
    int faults = 0;
    json_t *job;

    sv_start(f);
    drop_example(f, "WO-1_real", "account = ACME\n");
    id = sv_wait_job(f, "WO-1_real", "done", DEADLINE_S);
    assert_int_equal(id, 1); /* the damage below names job-1's files */
    snprintf(bag, sizeof(bag), "%s/ACME/WO-1/job-%lld", f->out, id);

    assert_int_equal(verify(&out, bag), 0);
    assert_non_null(strstr(out, "valid bag"));
    free(out);
    assert_int_equal(pm_bag_verify(bag, count_fault, &faults), 0);
    assert_int_equal(
        t_run(&out, "python3 - '%s' <<'EOF'\n%sEOF", bag, python_check), 0);
    assert_string_equal(out, "ok 5\n"); /* PDF, text, report, ALTO, TIFF */
    free(out);
    check_master(f->root, bag, id, "Compression Scheme: JPEG");
    check_info(bag, id);
    check_events(bag);
    check_times(f, bag, id);
    assert_int_equal(
        t_run(NULL, "python3 - '%s' %lld <<'EOF'\n%sEOF", bag, id, alto_check),
        0);
    assert_int_equal(
        t_run(NULL, "xmllint --noout '%s/data/job-%lld.alto.xml'", bag, id), 0);

    snprintf(copy, sizeof(copy), "%s/flipped", f->root);
    damaged(bag, copy,
            "python3 -c \"import sys; p='data/job-1.txt'; "
            "b=bytearray(open(p,'rb').read()); b[len(b)//2]^=1; "
            "open(p,'wb').write(b)\"",
            "data/job-1.txt");
    snprintf(copy, sizeof(copy), "%s/deleted", f->root);
    damaged(bag, copy, "rm data/job-1.pages.json", "data/job-1.pages.json");
    snprintf(copy, sizeof(copy), "%s/stray", f->root);
    damaged(bag, copy, "echo extra >data/notes.txt", "data/notes.txt");
    snprintf(copy, sizeof(copy), "%s/tag", f->root);
    damaged(bag, copy, "echo '[]' >metadata/events.json",
            "metadata/events.json");

    /* The whole output tree, recorded in the catalog. */
    assert_int_equal(sv_cli(f, &out, NULL, "verify --all"), 0);
    assert_non_null(strstr(out, "1 bag checked, 0 invalid"));
    free(out);
    job = sv_cli_json(f, "job show 1");
    out = json_dumps(job, 0);
    assert_non_null(strstr(out, "bag.verified"));
    free(out);
    json_decref(job);

    /* A stray file in the published bag: invalid, recorded naming it. */
    assert_int_equal(t_run(NULL, "echo x >'%s/data/extra.txt'", bag), 0);
    assert_int_equal(sv_cli(f, &out, NULL, "verify --all"), 1);
    assert_non_null(strstr(out, "1 bag checked, 1 invalid"));
    free(out);
    job = sv_cli_json(f, "job show 1");
    out = json_dumps(job, 0);
    assert_non_null(strstr(out, "bag.invalid"));
    assert_non_null(strstr(out, "data/extra.txt: stray payload file"));
    free(out);
    json_decref(job);
}

static void no_bag_profile_keeps_outputs_in_data(void **state)
{
    sv_fx_t *f = *state;
    char dir[600], path[700];
    long long id;

    sv_start(f);
    drop_example(f, "WO-1_loose", "account = ACME\nprofile = loose\n");
    id = sv_wait_job(f, "WO-1_loose", "done", DEADLINE_S);
    snprintf(dir, sizeof(dir), "%s/ACME/WO-1/job-%lld", f->out, id);
    snprintf(path, sizeof(path), "%s/data/job-%lld.pdf", dir, id);
    assert_int_equal(t_pdf_pages(path), 5);
    snprintf(path, sizeof(path), "%s/bagit.txt", dir);
    assert_false(t_exists(path));
    snprintf(path, sizeof(path), "%s/manifest-sha256.txt", dir);
    assert_false(t_exists(path));
    /* Its TIFF master deflates the gray and colour pages: lossless. */
    check_master(f->root, dir, id, "Compression Scheme: AdobeDeflate");
}

/*
 * Two conversions of the same batch with the same configuration: every
 * payload file is byte for byte the same but for the fields
 * docs/archival.md lists (the PDF's dates and the /ID digesting them;
 * the report's times, the job's uid and catalog id, the PDF's SHA-256
 * that follows its dates, and the spool folder's arrival time in each
 * page's source path). Everything else is compared byte for byte.
 */
static const char same_check[] =
    "import json, os, re, sys\n"
    "a, b = sys.argv[1], sys.argv[2]\n"
    "def pdf(p):\n"
    "    s = open(p, 'rb').read()\n"
    "    s = re.sub(rb\"D:\\d{14}\\+00'00'\", b'D:date', s)\n"
    "    s = re.sub(rb'\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d"
    "\\+00:00', b'date', s)\n"
    "    return re.sub(rb'/ID \\[<[0-9a-f]+><[0-9a-f]+>\\]', b'/ID', s)\n"
    "TIMES = {'job_uid', 'catalog_id', 'pdf_sha256', 'assembly_ms', 'ms',\n"
    "         'archival_ms'}\n"
    "def strip(o):\n"
    "    if isinstance(o, dict):\n"
    "        return {k: strip(v) for k, v in o.items() if k not in TIMES\n"
    "                and not (k == 'src' and isinstance(v, str))}\n"
    "    if isinstance(o, list):\n"
    "        return [strip(v) for v in o]\n"
    "    return o\n"
    "def src(o):\n"
    "    return [re.sub(r'\\.\\d{8}T\\d{6}Z/', '.TIME/', p['src'])\n"
    "            for p in o['page_results']]\n"
    "names = sorted(os.listdir(os.path.join(a, 'data')))\n"
    "assert names == sorted(os.listdir(os.path.join(b, 'data'))), names\n"
    "assert len(names) == 5, names\n"
    "for n in names:\n"
    "    pa, pb = os.path.join(a, 'data', n), os.path.join(b, 'data', n)\n"
    "    if n.endswith('.pdf'):\n"
    "        assert pdf(pa) == pdf(pb), n\n"
    "    elif n.endswith('.pages.json'):\n"
    "        ja, jb = json.load(open(pa)), json.load(open(pb))\n"
    "        assert strip(ja) == strip(jb), n\n"
    "        assert src(ja) == src(jb), n\n"
    "    else:\n"
    "        assert open(pa, 'rb').read() == open(pb, 'rb').read(), n\n"
    "print('same', len(names))\n";

static void same_batch_twice_same_payload(void **state)
{
    sv_fx_t *f = *state;
    char first[600], bag[600], *out = NULL;

    sv_start(f);
    drop_example(f, "WO-1_same", "account = ACME\n");
    assert_int_equal(sv_wait_job(f, "WO-1_same", "done", DEADLINE_S), 1);
    /* The same configuration again from scratch: the outputs moved
     * aside, a new catalog and spool, the same batch. */
    sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10);
    snprintf(first, sizeof(first), "%s/first", f->root);
    assert_int_equal(t_run(NULL, "mv '%s' '%s' && rm -rf '%s'* '%s/spool'",
                           f->out, first, f->db, f->root),
                     0);
    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "workorder add WO-1 --account ACME");
    sv_start(f);
    drop_example(f, "WO-1_same", "account = ACME\n");
    assert_int_equal(sv_wait_job(f, "WO-1_same", "done", DEADLINE_S), 1);
    snprintf(bag, sizeof(bag), "%s/ACME/WO-1/job-1", f->out);
    snprintf(first, sizeof(first), "%s/first/ACME/WO-1/job-1", f->root);
    assert_int_equal(t_run(&out, "python3 - '%s' '%s' 2>&1 <<'EOF'\n%sEOF",
                           first, bag, same_check),
                     0);
    assert_string_equal(out, "same 5\n");
    free(out);
}

/* A one-page batch `name` of profile keep: a typed page saying `what`
 * (pages differ, or the second batch is held as a duplicate). */
static void drop_letter(const sv_fx_t *f, const char *name, const char *what)
{
    const char *const lines[] = {"RETENTION OF SPOOLED FILES", what, NULL};
    char dir[512], path[600];

    snprintf(dir, sizeof(dir), "%s/%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    snprintf(path, sizeof(path), "%s/p001.tif", dir);
    sv_page(path, lines);
    snprintf(path, sizeof(path), "%s/batch.ini", dir);
    sv_write_text(path, "account = ACME\nprofile = keep\n");
}

/*
 * A worker killed while it writes a job's PDF leaves its temp file in the
 * job's temp folder; the retried assembly starts from a fresh folder, so
 * the published bag holds only what its manifest lists, and no temp file
 * is left anywhere in the output tree.
 */
static void assembly_killed_midway_publishes_a_clean_bag(void **state)
{
    sv_fx_t *f = *state;
    char flag[600], bag[600], *out = NULL;
    long long id;
    int faults = 0, rc;

    snprintf(flag, sizeof(flag), "%s/die-once", f->root);
    sv_write_text(flag, "");
    /* The service and its workers inherit the hook from the fork. */
    assert_int_equal(setenv("PAGEMILL_TEST_ASSEMBLY_DIE", flag, 1), 0);
    sv_start(f);
    unsetenv("PAGEMILL_TEST_ASSEMBLY_DIE");
    drop_letter(f, "WO-1_killed", "The assembling worker dies once");
    id = sv_wait_job(f, "WO-1_killed", "done", DEADLINE_S);
    sv_wait_log(f, "assembly lost", 10.0);
    assert_int_equal(t_run(NULL, "test -e '%s'", flag), 1); /* hook fired */
    snprintf(bag, sizeof(bag), "%s/ACME/WO-1/job-%lld", f->out, id);
    rc = verify(&out, bag);
    if (rc != 0)
        print_message("%s", out);
    assert_int_equal(rc, 0);
    free(out);
    assert_int_equal(pm_bag_verify(bag, count_fault, &faults), 0);
    assert_int_equal(t_run(&out, "find '%s' -name '*.tmp'", f->out), 0);
    assert_string_equal(out, "");
    free(out);
}

/* 1 when the spool still holds job `id`'s batch `name` and its pages. */
static int spooled(const sv_fx_t *f, const char *name, long long id)
{
    int batch =
        t_run(NULL, "test -d \"$(echo '%s/spool/%s'.*)\"", f->root, name) == 0;
    int pages = t_run(NULL, "test -d '%s/spool/job-%lld'", f->root, id) == 0;

    assert_int_equal(batch, pages); /* both or neither */
    return batch;
}

/* Runs `pagemill janitor`; its exit status, its output in *out. */
static int janitor(const sv_fx_t *f, char **out)
{
    return t_run(out, "'%s' janitor --config '%s' 2>&1", PM_BINARY, f->ini);
}

/* The catalog's events of job `id` as text. */
static char *events_of(const sv_fx_t *f, long long id)
{
    char args[64], *text;
    json_t *job;

    snprintf(args, sizeof(args), "job show %lld", id);
    job = sv_cli_json(f, args);
    text = json_dumps(job, 0);
    json_decref(job);
    assert_non_null(text);
    return text;
}

/*
 * keep_days = 3: the janitor removes a done job's spooled originals and
 * page artifacts only once it finished 3 days ago (aged here in the
 * catalog) and its bag verifies, recording "retention.removed"; a job
 * whose bag is invalid keeps everything and gets "bag.invalid".
 */
static void janitor_removes_after_keep_days(void **state)
{
    sv_fx_t *f = *state;
    char bag[600], *out = NULL, *ev;
    long long a, b;

    sv_start(f);
    drop_letter(f, "WO-1_keep", "THE JANITOR REMOVES THEM");
    a = sv_wait_job(f, "WO-1_keep", "done", DEADLINE_S);
    drop_letter(f, "WO-1_bad", "AN INVALID BAG KEEPS THEM");
    b = sv_wait_job(f, "WO-1_bad", "done", DEADLINE_S);
    assert_true(spooled(f, "WO-1_keep", a) && spooled(f, "WO-1_bad", b));

    /* Fresh: nothing is old enough. */
    assert_int_equal(janitor(f, &out), 0);
    free(out);
    assert_true(spooled(f, "WO-1_keep", a) && spooled(f, "WO-1_bad", b));

    /* Three days and a minute old; job b's bag damaged. */
    assert_int_equal(t_run(NULL,
                           "sqlite3 '%s' 'UPDATE jobs SET finished_at = "
                           "finished_at - 3 * 86400 - 60'",
                           f->db),
                     0);
    assert_int_equal(
        t_run(NULL, "echo x >'%s/ACME/WO-1/job-%lld/data/x.txt'", f->out, b),
        0);
    assert_int_equal(janitor(f, &out), 1); /* an invalid bag */
    if (strstr(out, "spooled files of 1 job removed, 1 kept") == NULL)
        fail_msg("janitor said:\n%s", out);
    free(out);
    assert_false(spooled(f, "WO-1_keep", a));
    assert_true(spooled(f, "WO-1_bad", b));
    ev = events_of(f, a);
    assert_non_null(strstr(ev, "retention.removed"));
    assert_non_null(strstr(ev, "removed after 3 days"));
    free(ev);
    ev = events_of(f, b);
    assert_non_null(strstr(ev, "bag.invalid"));
    assert_null(strstr(ev, "retention.removed"));
    free(ev);
    /* The published bag of job a is untouched and still valid; a second
     * run finds nothing more to remove. */
    snprintf(bag, sizeof(bag), "%s/ACME/WO-1/job-%lld", f->out, a);
    assert_int_equal(verify(&out, bag), 0);
    free(out);
    assert_int_equal(
        t_run(NULL, "rm '%s/ACME/WO-1/job-%lld/data/x.txt'", f->out, b), 0);
    assert_int_equal(janitor(f, &out), 0);
    assert_non_null(strstr(out, "spooled files of 1 job removed, 0 kept"));
    free(out);
    assert_false(spooled(f, "WO-1_bad", b));
}

/* Lines of the alert log `path` whose "alert" is `kind` and whose message
 * has `needle`. */
static int alerts_with(const char *path, const char *kind, const char *needle)
{
    char *text = t_slurp(path), *line, *save = NULL;
    int n = 0;

    if (text == NULL)
        return 0;
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);

        if (o == NULL)
            fail_msg("alert line is not JSON: %s", line);
        n += strcmp(sv_jstr(o, "alert"), kind) == 0 &&
             strstr(sv_jstr(o, "message"), needle) != NULL;
        json_decref(o);
    }
    free(text);
    return n;
}

/* pagemill_fixity_failures_total in /metrics. */
static long long fixity_metric(int port)
{
    const char *name = "\npagemill_fixity_failures_total ";
    ht_resp_t r;
    const char *p;
    long long n;

    ht_request(port, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    p = strstr(r.body, name);
    assert_non_null(p);
    n = atoll(p + strlen(name));
    ht_free(&r);
    return n;
}

/*
 * [archive]: the service runs the fixity check and the janitor itself on
 * its schedule. A published bag with one byte flipped raises one
 * `fixity` alert naming the file, counted in /metrics; the spool of a
 * job past keep_days is removed by the service's janitor.
 */
static void serve_cares_for_the_archive(void **state)
{
    sv_fx_t *f = *state;
    char extra[1600], log[400], pdf[700], *name = NULL;
    double until;
    long long a, b;
    int port;

    snprintf(log, sizeof(log), "%s/alerts.jsonl", f->root);
    snprintf(extra, sizeof(extra),
             "\n[profile keep]\nkeep_days = 3\n"
             "\n[archive]\njanitor_every_hours = 0.0005\n"
             "verify_every_hours = 0.0005\n"
             "\n[alerts]\ncommand = cat >> '%s'\nstall_minutes = 0\n"
             "min_free_mb = 0\nworker_restarts = 0\n"
             "\n[http]\nlisten = 127.0.0.1:0\n",
             log);
    assert_int_equal(sv_write_config(f, PAGE_TIMEOUT, extra), 0);
    sv_start(f);
    port = ht_port_from_log(f->log, DEADLINE_S);
    drop_letter(f, "WO-1_old", "THE SERVICE REMOVES THEM");
    a = sv_wait_job(f, "WO-1_old", "done", DEADLINE_S);
    drop_letter(f, "WO-1_flip", "ONE BYTE FLIPPED");
    b = sv_wait_job(f, "WO-1_flip", "done", DEADLINE_S);
    assert_int_equal(fixity_metric(port), 0);
    assert_int_equal(alerts_with(log, "fixity", ""), 0);

    /* Job a aged past keep_days (waiting for the service's and its
     * children's writes); one byte of job b's PDF flipped. */
    assert_int_equal(t_run(NULL,
                           "sqlite3 -cmd '.timeout 120000' '%s' "
                           "'UPDATE jobs SET finished_at = "
                           "finished_at - 3 * 86400 - 60 WHERE id = %lld'",
                           f->db, a),
                     0);
    assert_int_equal(t_run(&name,
                           "cd '%s/ACME/WO-1/job-%lld/data' && "
                           "ls *.pdf | head -1 | tr -d '\\n'",
                           f->out, b),
                     0);
    snprintf(pdf, sizeof(pdf), "%s/ACME/WO-1/job-%lld/data/%s", f->out, b,
             name);
    assert_int_equal(
        t_run(NULL,
              "python3 -c \"import sys; p = sys.argv[1]; d = "
              "bytearray(open(p, 'rb').read()); d[len(d) // 2] ^= 1; "
              "open(p, 'wb').write(d)\" '%s'",
              pdf),
        0);

    for (until = sv_now_s() + CARE_S;
         alerts_with(log, "fixity", name) == 0 || spooled(f, "WO-1_old", a);) {
        if (sv_now_s() > until)
            fail_msg("no fixity alert naming %s in %s, or job %lld still "
                     "spooled (service log: %s)",
                     name, log, a, f->log);
        sv_nap_ms(200);
    }
    assert_true(spooled(f, "WO-1_flip", b)); /* an invalid bag keeps it */
    until = sv_now_s() + CARE_S;
    while (fixity_metric(port) < 1) {
        if (sv_now_s() > until)
            fail_msg("pagemill_fixity_failures_total stays 0");
        sv_nap_ms(200);
    }
    /* Checks go on; the alert is not repeated within repeat_minutes. */
    sv_nap_ms(4000);
    assert_int_equal(alerts_with(log, "fixity", name), 1);
    free(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(real_job_is_a_valid_bag, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            assembly_killed_midway_publishes_a_clean_bag, setup, teardown),
        cmocka_unit_test_setup_teardown(no_bag_profile_keeps_outputs_in_data,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(same_batch_twice_same_payload, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(janitor_removes_after_keep_days, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(serve_cares_for_the_archive, setup,
                                        teardown),
    };

    if (getenv("PM_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("PM_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
