/*
 * cli_verify.c: `pagemill verify`, the check of published bags.
 *
 *   pagemill verify PATH...
 *       checks each bag (pm_bag_verify) and prints every fault, naming
 *       the file; exit 0 only when all are valid, 1 otherwise.
 *   pagemill verify --all [--config FILE] [--catalog DB]
 *       checks every job folder under the configured output tree
 *       (<output>/<account>/<work order>/job-<id>/) and records each
 *       result as a catalog event of the job: "bag.verified", or
 *       "bag.invalid" with the faults as its detail.
 * Exit 2: a bad command line or configuration.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "pipeline/bag.h"
#include "pipeline/base/pm.h"

static const char usage[] =
    "usage: pagemill verify PATH...\n"
    "       pagemill verify --all [--config FILE] [--catalog DB]\n"
    "Checks BagIt bags (published job folders): bagit.txt, every manifest\n"
    "and tag manifest checksum, missing and stray payload files and the\n"
    "Payload-Oxum. Prints each fault naming the file; exit 0 only when\n"
    "every bag is valid. --all checks every job folder of the output tree\n"
    "and records the results as catalog events.\n";

/* Faults of one bag, printed and kept for an event's detail. */
typedef struct faults {
    char *text; /* "; "-separated, NULL when none */
    int n;
} faults_t;

static void on_fault(void *arg, const char *problem)
{
    faults_t *f = arg;
    char *t =
        f->text ? pm_asprintf("%s; %s", f->text, problem) : pm_strdup(problem);

    printf("%s\n", problem);
    if (t != NULL) {
        pm_free(f->text);
        f->text = t;
    }
    f->n++;
}

/* Checks bag `dir`; 1 when valid. *detail receives the faults (or NULL). */
static int verify_one(const char *dir, char **detail)
{
    faults_t f = {0};
    int n = pm_bag_verify(dir, on_fault, &f);

    if (n == 0)
        printf("%s: valid bag\n", dir);
    else
        printf("%s: %d fault%s\n", dir, n, n == 1 ? "" : "s");
    if (detail != NULL)
        *detail = f.text;
    else
        pm_free(f.text);
    return n == 0;
}

/* Job id of a folder named job-<id>, or 0. */
static int64_t job_of(const char *name)
{
    char *end;
    long long id;

    if (strncmp(name, "job-", 4) != 0)
        return 0;
    errno = 0;
    id = strtoll(name + 4, &end, 10);
    return errno == 0 && *end == '\0' && id > 0 ? (int64_t)id : 0;
}

typedef struct walk {
    pm_catalog_t *cat;
    const char *actor;
    int bags, bad;
} walk_t;

static void record(walk_t *w, const char *dir, int64_t job)
{
    char *detail = NULL;
    int ok = verify_one(dir, &detail);
    char *text =
        pm_asprintf("%s%s%s", dir, detail ? ": " : "", detail ? detail : "");

    w->bags++;
    w->bad += !ok;
    if (pm_event_add(w->cat, w->actor, ok ? "bag.verified" : "bag.invalid", job,
                     0, text) != 0)
        fprintf(stderr, "pagemill verify: job %lld: catalog: %s\n",
                (long long)job, pm_catalog_errmsg(w->cat));
    pm_free(text);
    pm_free(detail);
}

/* Visits <dir>'s sub-folders `depth` levels down to the job folders. */
static void walk_tree(walk_t *w, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL) {
        fprintf(stderr, "pagemill verify: %s: %s\n", dir, strerror(errno));
        w->bad++;
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char *sub;
        struct stat st;

        if (de->d_name[0] == '.')
            continue; /* ., .., .job-<id>.tmp and the catalog marker */
        sub = pm_asprintf("%s/%s", dir, de->d_name);
        if (sub != NULL && lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (depth > 0)
                walk_tree(w, sub, depth - 1);
            else if (job_of(de->d_name) > 0)
                record(w, sub, job_of(de->d_name));
        }
        pm_free(sub);
    }
    closedir(d);
}

static int verify_all(const char *config, const char *catalog)
{
    const char *user = getenv("USER");
    pm_config_t *cfg = NULL;
    char *actor;
    walk_t w = {0};
    int err = pm_config_load_or_defaults("verify", config, &cfg);

    if (err != 0)
        return PM_EXIT_USAGE;
    catalog = catalog ? catalog : cfg->catalog;
    err = pm_catalog_open(catalog, &w.cat);
    if (err != 0) {
        fprintf(stderr, "pagemill verify: cannot open catalog %s: %s\n",
                catalog, pm_strerror(err));
        pm_config_free(cfg);
        return PM_EXIT_FAILURE;
    }
    actor = user && user[0] ? pm_asprintf("cli:%s", user) : pm_strdup("cli");
    w.actor = actor ? actor : "cli";
    walk_tree(&w, cfg->output, 2); /* account, work order, job-<id> */
    printf("%d bag%s checked, %d invalid\n", w.bags, w.bags == 1 ? "" : "s",
           w.bad);
    pm_catalog_close(w.cat);
    pm_config_free(cfg);
    pm_free(actor);
    return w.bad == 0 ? PM_EXIT_OK : PM_EXIT_FAILURE;
}

int pm_verify_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"all", no_argument, NULL, 'a'},
        {"config", required_argument, NULL, 'c'},
        {"catalog", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config = NULL, *catalog = NULL;
    int all = 0, c, ok = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'a')
            all = 1;
        else if (c == 'c')
            config = optarg;
        else if (c == 'D')
            catalog = optarg;
        else {
            fputs(usage, c == 'h' ? stdout : stderr);
            return c == 'h' ? PM_EXIT_OK : PM_EXIT_USAGE;
        }
    }
    if (all == (optind < argc)) {
        fputs(usage, stderr);
        return PM_EXIT_USAGE;
    }
    if (all)
        return verify_all(config, catalog);
    for (int i = optind; i < argc; i++)
        ok &= verify_one(argv[i], NULL);
    return ok ? PM_EXIT_OK : PM_EXIT_FAILURE;
}
