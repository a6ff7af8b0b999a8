/*
 * selftest.c: `pagemill selftest`, what an administrator runs to accept a
 * new install or an upgrade. It checks the environment the configuration
 * names (each profile's OCR languages, the ICC profile, the free space
 * and the permissions of the catalog's folder, the spool, the output and
 * every hot folder), then converts the sample pages installed with
 * pagemill (share/pagemill/samples: the demo batch and
 * selftest-words.txt, the words each page must read as) through every
 * profile, with `pagemill convert` into a temporary folder, and checks
 * the outputs (selftest_doc.c). One line per check goes into a pass/fail
 * table (the catalog commands' table printer, cli_out.c).
 *
 * It never opens the configured catalog and never writes into a
 * configured folder: the permissions are read from the folders' modes,
 * for the user given (by default the one running it; as root, the
 * service's user pagemill when there is one).
 *
 * Reading order: the table, the samples, the environment checks, the
 * conversions, then option parsing and pm_selftest_main.
 */
#include "pipeline/selftest.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "config/volume.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"
#include "pipeline/selftest_int.h"

/* Where `cmake --install` puts the configuration and the samples; the
 * samples are looked for beside the binary first (a relocated install,
 * the build tree). */
#ifndef PM_SELFTEST_CONFIG
#define PM_SELFTEST_CONFIG "/etc/pagemill/pagemill.ini"
#endif
#ifndef PM_SELFTEST_SAMPLES
#define PM_SELFTEST_SAMPLES "/usr/share/pagemill/samples"
#endif
#define WORDS_FILE      "selftest-words.txt"
#define PM_SERVICE_USER "pagemill"
#define MAX_GROUPS      256
#define MAX_WORDS_LEN   (1 << 20)

extern char **environ;

typedef struct selftest {
    const char *config; /* its file */
    pm_config_t *cfg;   /* owned */
    char *samples;      /* the samples folder, owned */
    st_sample_t *pages; /* owned */
    size_t npages;
    char *exe;     /* this binary, owned */
    char user[64]; /* whose permissions the folders need */
    uid_t uid;
    gid_t groups[MAX_GROUPS];
    int ngroups;
    long long min_free_mb;
    char *root; /* the temporary folder, owned */
    int keep;   /* --keep */
    table_t table;
    int checks, failed;
    cli_t cli; /* the table printer's prefix */
} selftest_t;

enum { PASS, FAIL, SKIP };

/* ---- the table ---- */

static void row(selftest_t *s, const char *check, const char *subject,
                int result, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Adds one check's line: CHECK SUBJECT RESULT DETAIL. */
static void row(selftest_t *s, const char *check, const char *subject,
                int result, const char *fmt, ...)
{
    static const char *const results[] = {"pass", "FAIL", "skip"};
    char detail[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    const char *cells[] = {check, subject, results[result], detail};
    cli_table_row(&s->table, cells);
    s->checks++;
    s->failed += result == FAIL;
}

/* ---- the samples ---- */

static void samples_free(st_sample_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < v[i].nwords; j++)
            pm_free(v[i].words[j]);
        pm_free(v[i].words);
        pm_free(v[i].file);
    }
    pm_free(v);
}

/* Appends the sample a line "FILE WORD..." names; 0 or PM_ENOMEM. */
static int add_sample(selftest_t *s, char *line)
{
    char *save = NULL, *tok = strtok_r(line, " \t\r", &save), **grown;
    st_sample_t *v = pm_realloc(s->pages, (s->npages + 1) * sizeof(*v));

    if (v == NULL)
        return PM_ENOMEM;
    s->pages = v;
    v = &s->pages[s->npages++];
    memset(v, 0, sizeof(*v));
    v->file = pm_strdup(tok);
    if (v->file == NULL)
        return PM_ENOMEM;
    while ((tok = strtok_r(NULL, " \t\r", &save)) != NULL) {
        grown = pm_realloc(v->words, (v->nwords + 1) * sizeof(*grown));
        if (grown == NULL)
            return PM_ENOMEM;
        v->words = grown;
        v->words[v->nwords] = pm_strdup(tok);
        if (v->words[v->nwords++] == NULL)
            return PM_ENOMEM;
    }
    return 0;
}

/* Reads dir/selftest-words.txt: "FILE WORD..." lines, # comments. */
static int read_words(selftest_t *s, const char *dir)
{
    char *path = pm_asprintf("%s/" WORDS_FILE, dir), *save = NULL, *line;
    unsigned char *text = NULL;
    size_t len;
    int err = path ? pm_read_file(path, MAX_WORDS_LEN, &text, &len) : PM_ENOMEM;

    for (line = err ? NULL : strtok_r((char *)text, "\n", &save);
         err == 0 && line != NULL; line = strtok_r(NULL, "\n", &save))
        if (line[strspn(line, " \t\r")] != '\0' && line[0] != '#')
            err = add_sample(s, line);
    pm_free(text);
    pm_free(path);
    return err;
}

/* The samples folder: --samples, else beside the binary (an install
 * prefix's share/pagemill/samples, the build tree's samples), else the
 * installed one. A new string, or NULL when none has the words file. */
static char *find_samples(const selftest_t *s, const char *given)
{
    char *dir = pm_strdup(s->exe), *slash, *cand[3] = {NULL}, *found = NULL;

    if (given != NULL)
        return pm_strdup(given);
    slash = dir ? strrchr(dir, '/') : NULL;
    if (slash != NULL) {
        *slash = '\0';
        cand[0] = pm_asprintf("%s/../share/pagemill/samples", dir);
        cand[1] = pm_asprintf("%s/samples", dir);
    }
    cand[2] = pm_strdup(PM_SELFTEST_SAMPLES);
    for (size_t i = 0; i < 3 && found == NULL; i++) {
        char *words = cand[i] ? pm_asprintf("%s/" WORDS_FILE, cand[i]) : NULL;
        if (words != NULL && access(words, R_OK) == 0)
            found = pm_strdup(cand[i]);
        pm_free(words);
    }
    for (size_t i = 0; i < 3; i++)
        pm_free(cand[i]);
    pm_free(dir);
    return found;
}

/* The samples row: the folder found, its words file read, every page it
 * names there. 0 when the conversions can run. */
static int check_samples(selftest_t *s, const char *given)
{
    char *dir = find_samples(s, given), real[PATH_MAX];
    size_t words = 0;
    int err;

    if (dir == NULL || realpath(dir, real) == NULL) {
        row(s, "samples", dir ? dir : PM_SELFTEST_SAMPLES, FAIL,
            "no sample pages: %s/" WORDS_FILE " not found (give --samples)",
            dir ? dir : PM_SELFTEST_SAMPLES);
        pm_free(dir);
        return -1;
    }
    pm_free(dir);
    s->samples = pm_strdup(real);
    err = s->samples ? read_words(s, real) : PM_ENOMEM;
    for (size_t i = 0; err == 0 && i < s->npages; i++) {
        char *page = pm_asprintf("%s/%s", real, s->pages[i].file);
        if (page == NULL || access(page, R_OK) != 0)
            err = page ? -errno : PM_ENOMEM;
        if (err != 0)
            row(s, "samples", real, FAIL, "%s: %s", page ? page : "",
                pm_strerror(err));
        words += s->pages[i].nwords;
        pm_free(page);
        if (err != 0)
            return -1;
    }
    if (err != 0 || s->npages == 0) {
        row(s, "samples", real, FAIL, "%s/" WORDS_FILE ": %s", real,
            err ? pm_strerror(err) : "names no page");
        return -1;
    }
    row(s, "samples", real, PASS, "%zu pages, %zu words to find", s->npages,
        words);
    return 0;
}

/* ---- the environment ---- */

/* The sRGB profile of the PDF/A OutputIntent: an ICC profile ("acsp" at
 * byte 36) of RGB data. */
static void check_icc(selftest_t *s)
{
    const char *path =
        s->cfg->icc_profile ? s->cfg->icc_profile : PM_DEFAULT_ICC;
    unsigned char head[128];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

    if (fd < 0 || fstat(fd, &st) != 0)
        err = -errno;
    else if (read(fd, head, sizeof(head)) != (ssize_t)sizeof(head))
        err = PM_EINVAL;
    if (fd >= 0)
        close(fd);
    if (err == 0 && (memcmp(head + 36, "acsp", 4) != 0 ||
                     memcmp(head + 16, "RGB ", 4) != 0))
        err = PM_EINVAL;
    if (err == PM_EINVAL)
        row(s, "icc profile", path, FAIL,
            "%s: not an ICC profile of RGB colour (icc_profile =)", path);
    else if (err != 0)
        row(s, "icc profile", path, FAIL,
            "%s: %s (Debian package "
            "icc-profiles-free)",
            path, pm_strerror(err));
    else
        row(s, "icc profile", path, PASS, "RGB ICC profile, %lld bytes",
            (long long)st.st_size);
}

/* A profile's OCR languages (and OSD when it orients pages) are in the
 * tessdata folder. 0 when they are. */
static int check_languages(selftest_t *s, const pm_profile_t *p)
{
    const char *dir = pm_config_tessdata_dir(s->cfg);
    char *errors = NULL, *osd;
    int err, no_osd;

    if (!p->ocr) {
        row(s, "languages", p->name, SKIP, "ocr = no: reads no language");
        return 0;
    }
    err = pm_config_check_languages(s->cfg, p, &errors);
    osd = pm_asprintf("%s/osd.traineddata", dir);
    no_osd = p->orient && (osd == NULL || access(osd, R_OK) != 0);
    if (err != 0)
        row(s, "languages", p->name, FAIL, "%s",
            errors ? errors : pm_strerror(err));
    else if (no_osd)
        row(s, "languages", p->name, FAIL,
            "%s: orient = yes needs osd (Debian package tesseract-ocr-osd)",
            osd ? osd : dir);
    else
        row(s, "languages", p->name, PASS, "%s%s in %s", p->languages,
            p->orient ? "+osd" : "", dir);
    pm_free(errors);
    pm_free(osd);
    return err != 0 || no_osd ? -1 : 0;
}

static int fault(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the fault into why[size]; -1. */
static int fault(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return -1;
}

static int in_groups(const selftest_t *s, gid_t gid)
{
    for (int i = 0; i < s->ngroups; i++)
        if (s->groups[i] == gid)
            return 1;
    return 0;
}

/* The user may do `bits` (4 read, 2 write, 1 search) to what `st` is,
 * by its mode (root may do anything). */
static int may(const selftest_t *s, const struct stat *st, unsigned bits)
{
    int shift = st->st_uid == s->uid ? 6 : in_groups(s, st->st_gid) ? 3 : 0;

    return s->uid == 0 || ((st->st_mode >> shift) & bits) == bits;
}

/* Why the user cannot reach `path` through its parent folders, in
 * why[size], or 0 when every one of them may be searched. */
static int reachable(const selftest_t *s, const char *path, char *why,
                     size_t size)
{
    char dir[PATH_MAX];
    struct stat st;

    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = strchr(dir + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (stat(dir, &st) == 0 && !may(s, &st, 1)) {
            snprintf(why, size,
                     "%s: %s cannot enter it (mode %04o, owner "
                     "%ld:%ld)",
                     dir, s->user, (unsigned)st.st_mode & 07777,
                     (long)st.st_uid, (long)st.st_gid);
            return -1;
        }
        *p = '/';
    }
    return 0;
}

/* The fault of folder `path` for the service, in why[size] (0: none):
 * missing, not a folder, out of reach or not writable for the user, on
 * a read-only or too full filesystem. *dev is its device, *free_mb its
 * free space. */
static int tree_fault(const selftest_t *s, const char *path, dev_t *dev,
                      long long *free_mb, char *why, size_t size)
{
    char real[PATH_MAX];
    struct statvfs vfs;
    struct stat st;

    if (realpath(path, real) == NULL || stat(real, &st) != 0)
        return fault(why, size, "%s: %s", path, strerror(errno));
    *dev = st.st_dev;
    if (!S_ISDIR(st.st_mode))
        return fault(why, size, "%s: not a folder", path);
    if (reachable(s, real, why, size) != 0)
        return -1;
    if (!may(s, &st, 7))
        return fault(why, size,
                     "%s: not writable by %s (mode %04o, owner %ld:%ld)", path,
                     s->user, (unsigned)st.st_mode & 07777, (long)st.st_uid,
                     (long)st.st_gid);
    if (statvfs(real, &vfs) != 0)
        return fault(why, size, "%s: %s", path, strerror(errno));
    if (vfs.f_flag & ST_RDONLY)
        return fault(why, size, "%s: on a read-only filesystem", path);
    *free_mb = (long long)vfs.f_bavail * (long long)vfs.f_frsize >> 20;
    if (*free_mb < s->min_free_mb)
        return fault(why, size, "%s: %lld MiB free, less than %lld", path,
                     *free_mb, s->min_free_mb);
    return 0;
}

/* One configured folder's row; *dev its device (for the hot folders'
 * same-filesystem check), left as is when it cannot be read. */
static void check_tree(selftest_t *s, const char *subject, const char *path,
                       dev_t *dev)
{
    char why[PATH_MAX + 256];
    long long free_mb = 0;

    if (tree_fault(s, path, dev, &free_mb, why, sizeof(why)) != 0)
        row(s, "folder", subject, FAIL, "%s", why);
    else
        row(s, "folder", subject, PASS, "%s: writable by %s, %lld MiB free",
            path, s->user, free_mb);
}

/* The catalog's folder, and the catalog file when it is there (read and
 * written by the service; never opened here). */
static void check_catalog(selftest_t *s)
{
    const char *db = s->cfg->catalog;
    char *dir = pm_strdup(db), *slash = dir ? strrchr(dir, '/') : NULL;
    struct stat st;
    dev_t dev;

    if (strstr(db, "://") != NULL) {
        row(s, "folder", "catalog", SKIP, "a database server, not a file");
    } else if (slash == NULL) {
        row(s, "folder", "catalog", FAIL, "%s: not an absolute path", db);
    } else if (stat(db, &st) == 0 &&
               (!S_ISREG(st.st_mode) || !may(s, &st, 6))) {
        row(s, "folder", "catalog", FAIL,
            "%s: not a file %s may read and write (mode %04o)", db, s->user,
            (unsigned)st.st_mode & 07777);
    } else {
        *slash = '\0';
        check_tree(s, "catalog", dir[0] ? dir : "/", &dev);
    }
    pm_free(dir);
}

/* The spool, the output, and every hot folder, which must share the
 * spool's filesystem (intake moves batches by rename). */
static void check_trees(selftest_t *s)
{
    char subject[256];
    dev_t spool = 0, dev = 0;

    check_catalog(s);
    for (size_t i = 0; i < s->cfg->nvolumes; i++) {
        snprintf(subject, sizeof(subject), "volume %s",
                 s->cfg->volumes[i].name);
        check_tree(s, subject, s->cfg->volumes[i].path, &dev);
    }
    check_tree(s, "spool", s->cfg->spool, &spool);
    check_tree(s, "output", s->cfg->output, &dev);
    for (size_t i = 0; i < s->cfg->nhotfolders; i++) {
        const pm_hotfolder_cfg_t *h = &s->cfg->hotfolders[i];
        struct stat st;

        snprintf(subject, sizeof(subject), "hot folder %s", h->name);
        if (stat(h->path, &st) == 0 && spool != 0 && st.st_dev != spool)
            row(s, "folder", subject, FAIL,
                "%s: not on the spool's filesystem (%s): intake moves "
                "batches by rename",
                h->path, s->cfg->spool);
        else
            check_tree(s, subject, h->path, &dev);
    }
}

/* ---- the conversions ---- */

/* The last line of `log` with text, in why[size]. */
static void last_line(const char *log, char *why, size_t size)
{
    unsigned char *text = NULL;
    size_t len = 0;
    char *end, *start;

    why[0] = '\0';
    if (pm_read_file(log, MAX_WORDS_LEN, &text, &len) != 0)
        return;
    end = (char *)text + len;
    while (end > (char *)text && (end[-1] == '\n' || end[-1] == '\r'))
        *--end = '\0';
    start = strrchr((char *)text, '\n');
    snprintf(why, size, "%s", start ? start + 1 : (char *)text);
    pm_free(text);
}

/* `pagemill convert` of the samples through profile `p` into `out`, its
 * output in `log`; the exit status, or -1 when it could not start. */
static int run_convert(selftest_t *s, const pm_profile_t *p, const char *out,
                       const char *log)
{
    char a0[] = "convert", a1[] = "--config", a3[] = "--profile",
         a5[] = "--out";
    char *argv[] = {s->exe,          a0, a1,          (char *)s->config, a3,
                    (char *)p->name, a5, (char *)out, s->samples,        NULL};
    posix_spawn_file_actions_t fa;
    int status = 0, err;
    pid_t pid;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    err = posix_spawn(&pid, s->exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The text, PDF/A and bag checks of a converted document: out/NAME.pdf,
 * .txt and .pages.json. */
static void check_outputs(selftest_t *s, const pm_profile_t *p, const char *out,
                          const char *name)
{
    char why[2048], *pdf = pm_asprintf("%s/%s.pdf", out, name);
    char *report = pm_asprintf("%s/%s.pages.json", out, name);
    char *txt = pm_asprintf("%s.txt", name),
         *base = pm_asprintf("%s.pdf", name);
    char *json = pm_asprintf("%s.pages.json", name);
    const char *files[] = {base, txt, json};
    size_t words = 0;
    int found = 0, missing;

    if (!pdf || !report || !txt || !base || !json) {
        row(s, "convert", p->name, FAIL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->npages; i++)
        words += s->pages[i].nwords;
    missing = !p->ocr ? 0
                      : pm__selftest_text(pdf, report, s->pages, s->npages,
                                          &found, why, sizeof(why));
    if (!p->ocr)
        row(s, "text layer", p->name, SKIP, "ocr = no: no text layer");
    else if (missing != 0)
        row(s, "text layer", p->name, FAIL, "%s", why);
    else
        row(s, "text layer", p->name, PASS, "%d of %zu expected words found",
            found, words);
    if (pm__selftest_pdfa(pdf, why, sizeof(why)) != 0)
        row(s, "pdf/a", p->name, FAIL, "%s", why);
    else
        row(s, "pdf/a", p->name, PASS,
            "qpdf check, PDF/A-2B metadata, "
            "GTS_PDFA1 OutputIntent");
    if (pm__selftest_bag(out, files, 3, p->organization, why, sizeof(why)))
        row(s, "bag", p->name, FAIL, "%s", why);
    else
        row(s, "bag", p->name, PASS, "3 payload files, verified");
out:
    pm_free(pdf);
    pm_free(report);
    pm_free(txt);
    pm_free(base);
    pm_free(json);
}

/* Converts the samples through profile number `i` into root/profile-i and
 * checks the outputs; `langs` is its languages check. */
static void run_profile(selftest_t *s, size_t i, int langs)
{
    const pm_profile_t *p = &s->cfg->profiles[i];
    char *out = pm_asprintf("%s/profile-%zu", s->root, i), why[1024];
    char *log = pm_asprintf("%s/profile-%zu.log", s->root, i);
    char *name = pm_path_stem(s->samples);
    double t0 = pm_now_ms();
    int rc;

    if (langs != 0) {
        row(s, "convert", p->name, SKIP, "its languages are missing");
    } else if (!out || !log || !name || mkdir(out, 0700) != 0) {
        row(s, "convert", p->name, FAIL, "cannot make %s: %s",
            out ? out : s->root, strerror(errno));
    } else if ((rc = run_convert(s, p, out, log)) != 0) {
        last_line(log, why, sizeof(why));
        row(s, "convert", p->name, FAIL, "pagemill convert: exit %d: %s", rc,
            why);
    } else {
        row(s, "convert", p->name, PASS, "%zu pages in %.0f s", s->npages,
            (pm_now_ms() - t0) / 1000);
        check_outputs(s, p, out, name);
    }
    pm_free(out);
    pm_free(log);
    pm_free(name);
}

/* The temporary root, in $TMPDIR or /tmp. 0 or -1 (its row says why). */
static int make_root(selftest_t *s)
{
    const char *tmp = getenv("TMPDIR");

    s->root = pm_asprintf("%s/pagemill-selftest.XXXXXX",
                          tmp && tmp[0] ? tmp : "/tmp");
    if (s->root != NULL && mkdtemp(s->root) != NULL)
        return 0;
    row(s, "convert", "(all)", FAIL, "cannot make %s: %s",
        s->root ? s->root : "a temporary folder", strerror(errno));
    pm_free(s->root);
    s->root = NULL;
    return -1;
}

/* ---- options and the command ---- */

static const char usage_text[] =
    "usage: pagemill selftest [--config FILE] [--user NAME] [--samples DIR]\n"
    "                         [--keep]\n"
    "\n"
    "Accepts an install or an upgrade. Checks what the configuration\n"
    "names: each profile's OCR languages, the ICC profile, the free space\n"
    "and the permissions of the catalog's folder, the spool, the output\n"
    "and every hot folder. Then converts the sample pages installed with\n"
    "pagemill through every profile into a temporary folder and checks the\n"
    "outputs: the expected words in the text layer, PDF/A, and a BagIt bag\n"
    "of them that verifies. Prints one line per check. Never opens the\n"
    "configured catalog and never writes into a configured folder.\n"
    "\n"
    "  --config FILE   the configuration (default:\n"
    "                  " PM_SELFTEST_CONFIG ")\n"
    "  --user NAME     whose permissions the folders need (default: the\n"
    "                  user running it; run as root, the service's user\n"
    "                  pagemill when there is one)\n"
    "  --samples DIR   the sample pages and their " WORDS_FILE "\n"
    "                  (default: share/pagemill/samples of the install)\n"
    "  --keep          keep the temporary folder, and name it\n"
    "\n"
    "Exit status: 0 every check passed; 1 a check failed (the table names\n"
    "it); 2 usage, or a configuration that cannot be read.\n";

/* The user the folders are checked for, and their groups; -1 if none. */
static int set_user(selftest_t *s, const char *name)
{
    struct passwd *pw = name ? getpwnam(name) : NULL;

    /* root may write anywhere: by default it checks for the service's
     * user (pagemill.service: User=pagemill) when there is one */
    if (name == NULL && geteuid() == 0)
        pw = getpwnam(PM_SERVICE_USER);
    if (name == NULL && pw == NULL)
        pw = getpwuid(geteuid());

    if (pw == NULL) {
        fprintf(stderr, "pagemill selftest: no user %s\n",
                name ? name : "running this");
        return -1;
    }
    snprintf(s->user, sizeof(s->user), "%s", pw->pw_name);
    s->uid = pw->pw_uid;
    s->ngroups = MAX_GROUPS;
    if (getgrouplist(pw->pw_name, pw->pw_gid, s->groups, &s->ngroups) < 0)
        s->ngroups = MAX_GROUPS; /* the first MAX_GROUPS of them */
    return 0;
}

/* Reads the configuration and the binary's path; PM_EXIT_OK or
 * PM_EXIT_USAGE. */
static int set_up(selftest_t *s)
{
    if (pm_config_load_or_defaults("selftest", s->config, &s->cfg) != 0)
        return PM_EXIT_USAGE;
    s->exe = pm_malloc(PATH_MAX);
    ssize_t n = s->exe ? readlink("/proc/self/exe", s->exe, PATH_MAX - 1) : -1;
    if (n <= 0) {
        fprintf(stderr, "pagemill selftest: cannot find this binary: %s\n",
                strerror(errno));
        return PM_EXIT_FAILURE;
    }
    s->exe[n] = '\0';
    s->min_free_mb = s->cfg->alerts.enabled && s->cfg->alerts.min_free_mb > 0
                         ? s->cfg->alerts.min_free_mb
                     : s->cfg->http.enabled ? s->cfg->http.min_free_mb
                                            : PM_DEFAULT_ALERT_MIN_FREE_MB;
    setenv("OMP_THREAD_LIMIT", "1", 0); /* as the unit has it */
    return PM_EXIT_OK;
}

/* Every check, in table order. */
static void run_checks(selftest_t *s, const char *samples)
{
    int samples_ok = check_samples(s, samples), *langs;

    check_icc(s);
    langs = pm_calloc(s->cfg->nprofiles + 1, sizeof(*langs));
    for (size_t i = 0; langs != NULL && i < s->cfg->nprofiles; i++)
        langs[i] = check_languages(s, &s->cfg->profiles[i]);
    check_trees(s);
    if (langs == NULL)
        row(s, "convert", "(all)", FAIL, "out of memory");
    else if (samples_ok != 0)
        row(s, "convert", "(all)", SKIP, "no sample pages");
    else if (make_root(s) == 0)
        for (size_t i = 0; i < s->cfg->nprofiles; i++)
            run_profile(s, i, langs[i]);
    pm_free(langs);
}

/* Prints the table and the verdict; the exit status. */
static int report(selftest_t *s)
{
    int rc = cli_table_emit(&s->cli, &s->table, "no checks");

    if (s->root != NULL && s->keep)
        printf("outputs kept in %s\n", s->root);
    else if (s->root != NULL)
        pm_rmtree(s->root);
    if (rc != PM_EXIT_OK)
        return rc;
    if (s->failed > 0)
        printf("selftest FAILED: %d of %d checks failed\n", s->failed,
               s->checks);
    else
        printf("selftest passed: %d checks\n", s->checks);
    return s->failed > 0 ? PM_EXIT_FAILURE : PM_EXIT_OK;
}

static void cleanup(selftest_t *s)
{
    samples_free(s->pages, s->npages);
    pm_config_free(s->cfg);
    pm_free(s->samples);
    pm_free(s->exe);
    pm_free(s->root);
}

/* Options into s; PM_EXIT_OK, or the exit status (-1 after --help). */
static int parse(selftest_t *s, int argc, char **argv, const char **samples,
                 const char **user)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"user", required_argument, NULL, 'u'},
        {"samples", required_argument, NULL, 's'},
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ch == 'h') {
            fputs(usage_text, stdout);
            return -1;
        }
        if (ch == 'c' || ch == 's' || ch == 'u')
            *(ch == 'c' ? &s->config : ch == 's' ? samples : user) = optarg;
        else if (ch == 'k')
            s->keep = 1;
        else
            break;
    }
    if (ch == -1 && optind == argc)
        return PM_EXIT_OK;
    fprintf(stderr, "pagemill selftest: %s '%s'\n%s",
            ch == ':' ? "a value is needed after" : "unexpected argument",
            argv[ch == -1 ? optind : optind - 1], usage_text);
    return PM_EXIT_USAGE;
}

int pm_selftest_main(int argc, char **argv)
{
    static const char *const heads[] = {"CHECK", "SUBJECT", "RESULT", "DETAIL"};
    const char *samples = NULL, *user = NULL;
    selftest_t s;
    int rc;

    memset(&s, 0, sizeof(s));
    s.config = PM_SELFTEST_CONFIG;
    snprintf(s.cli.prefix, sizeof(s.cli.prefix), "pagemill selftest");
    rc = parse(&s, argc, argv, &samples, &user);
    if (rc != PM_EXIT_OK)
        return rc < 0 ? PM_EXIT_OK : rc;
    if (set_user(&s, user) != 0)
        return PM_EXIT_USAGE;
    rc = set_up(&s);
    if (rc == PM_EXIT_OK) {
        cli_table_init(&s.table, heads, 4, "llll");
        run_checks(&s, samples);
        rc = report(&s);
    }
    cleanup(&s);
    return rc;
}
