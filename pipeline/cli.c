/*
 * cli.c: the catalog commands' front: the command table (every catalog
 * command's synopsis, --help text and options), option parsing, opening
 * the catalog, and pm_cli_main. The commands themselves are by family:
 * cli_account.c (`account`, `workorder`), cli_job.c (`job`),
 * cli_status.c (`status`), cli_billing.c (`fee`, `billing`),
 * cli_review.c, cli_token.c, cli_volumes.c; their output helpers are
 * cli_out.c's. Each subcommand parses its options, opens the catalog,
 * makes one catalog call or a few, and prints either aligned plain-text
 * tables (times in UTC ISO-8601) or, with --json, one JSON document on stdout.
 *
 * Nothing here decides anything the catalog does not: the rules (a job
 * can be retried only when failed, ...) and their wording live in
 * catalog/, and a refusal is shown as "pagemill job retry: <errmsg>".
 * Exit status: 0 ok; 2 bad command line or bad input (unknown account,
 * work order or job, a job in the wrong state), with nothing on stdout;
 * 1 the catalog cannot be opened or fails.
 *
 * Reading order: the command table, then option parsing and
 * pm_cli_main.
 */
#include "pipeline/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog/billing.h"
#include "catalog/catalog.h"
#include "config/config.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli_int.h"

/* ---- the commands ---- */

struct cmd {
    const char *group, *name; /* name is NULL for `status` */
    const char *synopsis;     /* after "pagemill group name" */
    const char *help;         /* what it does, and its own options */
    const char *opts;         /* codes of its own options */
    const char *required;     /* those of them it needs */
    const char *arg;          /* its positional argument, or NULL */
    int (*run)(cli_t *c);
    int creates; /* may create the catalog file */
};

static const cmd_t cmds[] = {
    {"account", "add", "CODE --name NAME [--contact C] [--number N]",
     "Adds a customer account; CODE is its short unique code. Creates the\n"
     "catalog file if there is none yet.\n"
     "\n"
     "  --name NAME     the customer's name (required)\n"
     "  --contact C     billing contact\n"
     "  --number N      account number for the accounting export\n",
     "nCN", "n", "CODE", cli_account_add, 1},
    {"account", "list", "", "Lists the accounts by code.\n", "", "", NULL,
     cli_account_list, 0},
    {"workorder", "add", "NUMBER --account CODE [--fee-code F] [--notes T]",
     "Opens a work order for an existing account.\n"
     "\n"
     "  --account CODE  the account it is for (required)\n"
     "  --fee-code F    the fee code it bills under\n"
     "  --notes T       free text\n",
     "aft", "a", "NUMBER", cli_workorder_add, 0},
    {"workorder", "list", "[--account CODE]",
     "Lists work orders by number.\n"
     "\n"
     "  --account CODE  only those of this account\n",
     "a", "", NULL, cli_workorder_list, 0},
    {"workorder", "show", "NUMBER",
     "Shows a work order and its jobs (id, state, pages, done, failed,\n"
     "created).\n",
     "", "", "NUMBER", cli_workorder_show, 0},
    {"workorder", "close", "NUMBER",
     "Closes a work order: no new batches are accepted for it.\n", "", "",
     "NUMBER", cli_workorder_close, 0},
    {"job", "list", "[--state S] [--work-order W] [--limit N] [--review]",
     "Lists jobs, newest first.\n"
     "\n"
     "  --state S       only jobs in state S: received, queued, running,\n"
     "                  assembling, done, held, failed or cancelled\n"
     "  --work-order W  only jobs of work order W (which need not exist:\n"
     "                  a job is held when its work order is unknown)\n"
     "  --limit N       at most N jobs (default 0: all)\n"
     "  --review        instead, the jobs with pages flagged for review\n"
     "                  (low OCR confidence, no words on a page with\n"
     "                  ink): work order, account, how many and why\n",
     "swlR", "", NULL, cli_job_list, 0},
    {"job", "show", "ID",
     "Shows a job, a table of its pages (FRAME counts from 1, as in error\n"
     "texts; the JSON frame counts from 0, as stored) and its events.\n",
     "", "", "ID", cli_job_show, 0},
    {"job", "retry", "ID",
     "Queues a failed job's failed pages again with a fresh attempt budget;\n"
     "pages already done are kept.\n",
     "", "", "ID", cli_job_retry, 0},
    {"job", "release", "ID", "Queues a held job.\n", "", "", "ID",
     cli_job_release, 0},
    {"job", "replace-page", "JOB PAGE FILE",
     "Replaces page PAGE of done job JOB with FILE, a rescan: one page of\n"
     "a supported image, a regular file (not a symlink). It is checked\n"
     "and hashed, copied into the spool, and the request recorded; the\n"
     "service redoes the page and re-publishes the job's documents (at\n"
     "its next start when it is not running). The old page's original is\n"
     "kept in the spool (job-<id>/replaced/). The page stays billed once:\n"
     "billing does not change.\n",
     "", "", "JOB PAGE FILE", cli_job_replace_page, 0},
    {"job", "cancel", "ID [--reason TEXT]",
     "Cancels a job; its pages stop being billable. A done job already\n"
     "billed in a closed month is credited in the first open month (the\n"
     "closed month never changes).\n"
     "\n"
     "  --reason TEXT   recorded in the job's events and any credit\n",
     "r", "", "ID", cli_job_cancel, 0},
    {"workorder", "set-fee", "NUMBER --fee-code F",
     "Sets the fee code a work order bills under. Months already closed\n"
     "keep the prices they froze.\n",
     "f", "f", "NUMBER", cli_workorder_set_fee, 0},
    {"fee", "add",
     "CODE --price P [--min-charge M] [--effective DATE] "
     "[--description T]",
     "Adds a fee code, or a new price for one from DATE on (the old price\n"
     "stays for jobs that finished before DATE). Prices are in currency\n"
     "units with up to 5 decimals (0.08125).\n"
     "\n"
     "  --price P       price per billable page (required)\n"
     "  --min-charge M  minimum charge per job (default 0)\n"
     "  --effective D   YYYY-MM-DD, first day the price applies, in the\n"
     "                  billing time zone (default: today); must fall after\n"
     "                  the last closed month\n"
     "  --description T free text\n",
     "pmed", "p", "CODE", cli_fee_add, 0},
    {"fee", "list", "[--fee-code F]",
     "Lists fee codes and their price history.\n"
     "\n"
     "  --fee-code F    only this code\n",
     "f", "", NULL, cli_fee_list, 0},
    {"billing", "report",
     "(--month M | --from M --to M) [--account A] [--work-order W] "
     "[--format table|csv|json]",
     "Prints the bill of a month (or of months M..M): one line per job\n"
     "and adjustment, with totals per work order, per account and overall.\n"
     "A closed month shows what was frozen when it closed, byte for byte;\n"
     "an open month is computed now from the billable pages and the fee\n"
     "schedule.\n"
     "\n"
     "  --month M       YYYY-MM\n"
     "  --from M, --to M  a range of months instead\n"
     "  --account A     only this account\n"
     "  --work-order W  only this work order\n"
     "  --format F      table (default), csv or json (--json: json)\n",
     "MFTawo", "", NULL, cli_billing_report, 0},
    {"billing", "invoice", "--month M --out DIR [--account A]",
     "Writes one PDF invoice per account billed in month M and the\n"
     "accounting export CSV into DIR (DRAFT while the month is open).\n"
     "\n"
     "  --month M       YYYY-MM (required)\n"
     "  --out DIR       an existing folder (required)\n"
     "  --account A     only this account's invoice\n",
     "MOa", "MO", NULL, cli_billing_invoice, 0},
    {"billing", "close", "MONTH [--force]",
     "Closes MONTH (YYYY-MM): freezes its lines, so its reports and\n"
     "invoices never change. Refused while jobs created before the month\n"
     "ended are unfinished (they are listed), unless --force: those jobs\n"
     "then bill in the first open month they finish in.\n"
     "\n"
     "  --force         close over unfinished jobs\n",
     "x", "", "MONTH", cli_billing_close, 0},
    {"billing", "adjust", "ID --pages N --reason TEXT",
     "Adjusts the bill of done job ID by N billable pages (negative: a\n"
     "credit) at the price it was billed at, in the first open month from\n"
     "its billing month on: for rework found after the fact.\n"
     "\n"
     "  --pages N       non-zero page count, e.g. 3 or -2 (required)\n"
     "  --reason TEXT   why (required; on the line and in the event)\n",
     "Pr", "Pr", "ID", cli_billing_adjust, 0},
    {"token", "add", "--role supervisor|billing|admin --name NAME",
     "Adds an access token of the web interface ([http], docs/api.md) and\n"
     "prints it, once: only its SHA-256 is kept. supervisor reads status\n"
     "and jobs; billing also reads billing reports; admin also retries,\n"
     "releases and cancels jobs.\n"
     "\n"
     "  --role R        supervisor, billing or admin (required)\n"
     "  --name NAME     who or what uses it, unique (required); actions\n"
     "                  taken with it are recorded as token:NAME\n",
     "Gn", "Gn", NULL, cli_token_add, 0},
    {"token", "list", "",
     "Lists the tokens (names and roles, never the tokens).\n", "", "", NULL,
     cli_token_list, 0},
    {"volumes", "rewrite", "[--dry-run]",
     "Rewrites the absolute paths of a catalog from before volumes into the\n"
     "NAME:relative form of the [volume NAME] sections of --config (the\n"
     "longest volume holding a path, as when paths are stored), in one\n"
     "transaction: jobs (source, output), pages (file, image, text) and\n"
     "replaced pages. Prints per column how many paths it rewrote, how\n"
     "many were in the NAME: form already and how many lie under no\n"
     "volume (left as they are, the first of them named). A second run\n"
     "changes nothing. Refused while the service (a coordinator) runs on\n"
     "the catalog; configure the volumes on every machine first.\n"
     "\n"
     "  --dry-run       count what it would rewrite; change nothing (works\n"
     "                  while the service runs)\n",
     "y", "", NULL, cli_volumes_rewrite, 0},
    {"status", NULL, "[--check]",
     "Shows the queue (pages queued and running), jobs by state, pages\n"
     "finished per minute over the last 5 and 60 minutes, the service's\n"
     "workers, the nodes (each coordinator and agent: slots, busy workers,\n"
     "pages done in the last hour, last heartbeat, load average; stale\n"
     "and gone ones marked), the failed jobs, the batches rejected most\n"
     "recently and, with --config, the batches waiting in a hot folder for\n"
     "their marker.\n"
     "Works with the service down.\n"
     "\n"
     "  --check         also run the database integrity check and, with\n"
     "                  --config, look for batches in the spool that no\n"
     "                  job names; exit 1 if it finds a problem\n"
     "\n"
     "Exit status: 0 the service is running and no job has failed; 3 a job\n"
     "has failed (retry or cancel it); 4 the service is not running (no\n"
     "coordinator has written its workers in the last 30 s); 1 the catalog\n"
     "cannot be read, or --check found a problem; 2 usage.\n",
     "k", "", NULL, cli_status, 0},
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char common_help[] =
    "\n"
    "common options:\n"
    "  --config FILE   take the catalog path ([pagemill] catalog), billing\n"
    "                  time zone and invoice issuer ([billing]) from FILE\n"
    "  --catalog PATH  the catalog database (overrides --config; default\n"
    "                  " PM_DEFAULT_CATALOG ")\n"
    "  --json          print one JSON document instead of tables\n"
    "  --actor NAME    who to record in events (default cli:$USER)\n"
    "  --help          show this help\n"
    "\n"
    "Exit status: 0 ok; 2 bad command line or bad input (unknown account,\n"
    "work order, job or fee code, a malformed month or price, a job or\n"
    "month in the wrong state); 1 the catalog cannot be opened or fails.\n";

static void cmd_usage(const cmd_t *cmd, FILE *f)
{
    fprintf(f, "usage: pagemill %s%s%s %s%s[options]\n\n%s%s", cmd->group,
            cmd->name ? " " : "", cmd->name ? cmd->name : "", cmd->synopsis,
            cmd->synopsis[0] ? " " : "", cmd->help, common_help);
}

static void group_usage(const char *group, FILE *f)
{
    fprintf(f, "usage:\n");
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].group, group) == 0)
            fprintf(f, "  pagemill %s %s %s\n", group, cmds[i].name,
                    cmds[i].synopsis);
    fprintf(f, "\nRun 'pagemill %s <subcommand> --help' for details.\n", group);
}

/* The command `group name` (name NULL for `status`), or NULL. */
static const cmd_t *find_cmd(const char *group, const char *name)
{
    for (size_t i = 0; i < NCMDS; i++) {
        if (strcmp(cmds[i].group, group) != 0)
            continue;
        if (cmds[i].name == NULL ? name == NULL
                                 : name && strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    }
    return NULL;
}

static int has_group(const char *group)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].group, group) == 0)
            return 1;
    return 0;
}

/* ---- options ---- */

enum { NCOMMON = 5 }; /* the first entries of all_opts apply everywhere */

static const struct option all_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"catalog", required_argument, NULL, 'D'},
    {"json", no_argument, NULL, 'J'},
    {"actor", required_argument, NULL, 'A'},
    {"help", no_argument, NULL, 'h'},
    {"name", required_argument, NULL, 'n'},
    {"contact", required_argument, NULL, 'C'},
    {"number", required_argument, NULL, 'N'},
    {"account", required_argument, NULL, 'a'},
    {"fee-code", required_argument, NULL, 'f'},
    {"notes", required_argument, NULL, 't'},
    {"state", required_argument, NULL, 's'},
    {"work-order", required_argument, NULL, 'w'},
    {"limit", required_argument, NULL, 'l'},
    {"reason", required_argument, NULL, 'r'},
    {"check", no_argument, NULL, 'k'},
    {"price", required_argument, NULL, 'p'},
    {"min-charge", required_argument, NULL, 'm'},
    {"effective", required_argument, NULL, 'e'},
    {"description", required_argument, NULL, 'd'},
    {"month", required_argument, NULL, 'M'},
    {"from", required_argument, NULL, 'F'},
    {"to", required_argument, NULL, 'T'},
    {"format", required_argument, NULL, 'o'},
    {"out", required_argument, NULL, 'O'},
    {"force", no_argument, NULL, 'x'},
    {"pages", required_argument, NULL, 'P'},
    {"review", no_argument, NULL, 'R'},
    {"role", required_argument, NULL, 'G'},
    {"dry-run", no_argument, NULL, 'y'},
    {NULL, 0, NULL, 0},
};

#define NOPTS (sizeof(all_opts) / sizeof(all_opts[0]))

static const char *opt_name(int code)
{
    for (size_t i = 0; all_opts[i].name != NULL; i++)
        if (all_opts[i].val == code)
            return all_opts[i].name;
    return "?";
}

/* Prints a usage error with a pointer to --help; returns PM_EXIT_USAGE. */
int cli_usage_error(const cli_t *c, const char *fmt, const char *what)
{
    fprintf(stderr, "%s: ", c->prefix);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nRun '%s --help' for usage.\n", c->prefix);
    return PM_EXIT_USAGE;
}

/* Options and the positional argument; CLI_DONE after --help. */
static int parse_args(cli_t *c, int argc, char **argv)
{
    static char yes[] = "yes";
    struct option opts[NOPTS];
    size_t n = 0;
    int ch;

    for (size_t i = 0; i + 1 < NOPTS; i++)
        if (i < NCOMMON || strchr(c->cmd->opts, all_opts[i].val) != NULL)
            opts[n++] = all_opts[i];
    memset(&opts[n], 0, sizeof(opts[n]));
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ch == 'h') {
            cmd_usage(c->cmd, stdout);
            return CLI_DONE;
        }
        if (ch == ':')
            return cli_usage_error(c, "%s needs a value", argv[optind - 1]);
        if (ch == '?')
            return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
        c->opt[ch] = optarg ? optarg : yes;
    }
    c->json = c->opt['J'] != NULL;
    if (optind < argc)
        c->arg = argv[optind++];
    for (size_t i = 0; c->cmd->arg != NULL && strchr(c->cmd->arg, ' ') &&
                       i < 2 && optind < argc;
         i++)
        c->extra[i] = argv[optind++];
    if (c->cmd->arg != NULL && c->arg == NULL)
        return cli_usage_error(c, "missing %s", c->cmd->arg);
    if (c->cmd->arg != NULL && strchr(c->cmd->arg, ' ') && c->extra[1] == NULL)
        return cli_usage_error(c, "missing %s",
                               c->extra[0] ? strrchr(c->cmd->arg, ' ') + 1
                                           : strchr(c->cmd->arg, ' ') + 1);
    if (c->cmd->arg == NULL && c->arg != NULL)
        return cli_usage_error(c, "unexpected argument '%s'", c->arg);
    if (optind < argc)
        return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
    return PM_EXIT_OK;
}

/* A job ID: a positive decimal number. */
static int parse_id(cli_t *c)
{
    char *end = NULL;
    long long id = 0;

    if (c->arg[0] >= '0' && c->arg[0] <= '9')
        id = strtoll(c->arg, &end, 10);
    if (end == NULL || *end != '\0' || id <= 0 || id == LLONG_MAX) {
        fprintf(stderr, "%s: '%s' is not a job ID (a positive number)\n",
                c->prefix, c->arg);
        return PM_EXIT_USAGE;
    }
    c->id = id;
    return PM_EXIT_OK;
}

/* --state and --limit of `job list`. */
static int parse_filters(cli_t *c)
{
    const char *s = c->opt['s'], *l = c->opt['l'];
    unsigned long long v = 0;
    char *end = NULL;

    c->state = s ? pm_job_state_parse(s) : -1;
    if (s != NULL && c->state < 0) {
        fprintf(stderr,
                "%s: unknown state '%s' (received, queued, running, "
                "assembling, done, held, failed, cancelled)\n",
                c->prefix, s);
        return PM_EXIT_USAGE;
    }
    if (l != NULL && l[0] >= '0' && l[0] <= '9')
        v = strtoull(l, &end, 10);
    if (l != NULL && (end == NULL || *end != '\0' || v > SIZE_MAX)) {
        fprintf(stderr, "%s: --limit wants a number (0: all), got '%s'\n",
                c->prefix, l);
        return PM_EXIT_USAGE;
    }
    c->limit = (size_t)v;
    return PM_EXIT_OK;
}

/* Everything that can be checked before the catalog is opened: required
 * options given, no empty values, a well-formed ID and filters. */
static int check_args(cli_t *c)
{
    for (const char *r = c->cmd->required; *r; r++)
        if (c->opt[(unsigned char)*r] == NULL)
            return cli_usage_error(c, "--%s is required", opt_name(*r));
    for (size_t i = 0; i < sizeof(c->opt) / sizeof(c->opt[0]); i++)
        if (c->opt[i] != NULL && c->opt[i][0] == '\0')
            return cli_usage_error(c, "--%s must not be empty",
                                   opt_name((int)i));
    if (c->arg != NULL && c->arg[0] == '\0')
        return cli_usage_error(c, "%s must not be empty", c->cmd->arg);
    for (size_t i = 0; i < 2; i++)
        if (c->extra[i] != NULL && c->extra[i][0] == '\0')
            return cli_usage_error(c, "%s must not be empty",
                                   i == 0 ? "PAGE" : "FILE");
    if (c->cmd->arg != NULL && (strcmp(c->cmd->arg, "ID") == 0 ||
                                strncmp(c->cmd->arg, "JOB ", 4) == 0))
        return parse_id(c);
    return parse_filters(c);
}

/* The actor and the catalog path: --catalog, else the config's key. */
static int resolve(cli_t *c)
{
    const char *user = getenv("USER");
    pm_config_t *cfg = NULL;
    char *errors = NULL;
    int err = 0;

    c->actor = c->opt['A']       ? pm_strdup(c->opt['A'])
               : user && user[0] ? pm_asprintf("cli:%s", user)
                                 : pm_strdup("cli");
    if (c->opt['c'] != NULL)
        err = pm_config_load(c->opt['c'], &cfg, &errors);
    else
        cfg = pm_config_new();
    if (err) {
        if (errors != NULL)
            fprintf(stderr, "%s", errors);
        else
            fprintf(stderr, "%s: %s: %s\n", c->prefix, c->opt['c'],
                    pm_strerror(err));
        pm_free(errors);
        return PM_EXIT_USAGE;
    }
    if (cfg == NULL)
        return cli_oom(c);
    c->cfg = cfg;
    c->path = pm_strdup(c->opt['D'] ? c->opt['D'] : cfg->catalog);
    return c->actor && c->path ? PM_EXIT_OK : cli_oom(c);
}

/* Opens the catalog. Only `account add` may create the file: a mistyped
 * path must not show an empty catalog as if it were the real one. */
static int open_catalog(cli_t *c)
{
    struct stat st;
    int err;

    if (!c->cmd->creates && !pm_catalog_is_url(c->path) &&
        stat(c->path, &st) != 0) {
        fprintf(stderr, "%s: cannot open catalog %s: %s\n", c->prefix, c->path,
                strerror(errno));
        return PM_EXIT_FAILURE;
    }
    err = pm_catalog_open(c->path, &c->cat);
    if (err) {
        fprintf(stderr, "%s: cannot open catalog %s: %s\n", c->prefix, c->path,
                pm_strerror(err));
        return PM_EXIT_FAILURE;
    }
    return PM_EXIT_OK;
}

/* Months (billing, fee dates) are counted in the catalog's billing time
 * zone; a --config that names another is refused before anything runs. */
static int billing_zone(cli_t *c)
{
    char tz[256];
    int err = pm_billing_use_catalog_timezone(
        c->cat, c->opt['c'] ? c->cfg->billing_timezone : NULL, tz, sizeof(tz));

    if (err == PM_ECONFIG) {
        fprintf(stderr,
                "%s: the catalog's billing time zone %s is not on "
                "this machine (/usr/share/zoneinfo)\n",
                c->prefix, tz);
        return PM_EXIT_FAILURE;
    }
    return err != 0 ? cli_fail(c, err) : PM_EXIT_OK;
}

static int run_cmd(const cmd_t *cmd, int argc, char **argv)
{
    cli_t c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.cmd = cmd;
    snprintf(c.prefix, sizeof(c.prefix), "pagemill %s%s%s", cmd->group,
             cmd->name ? " " : "", cmd->name ? cmd->name : "");
    rc = parse_args(&c, argc, argv);
    if (rc == PM_EXIT_OK)
        rc = check_args(&c);
    if (rc == PM_EXIT_OK)
        rc = resolve(&c);
    if (rc == PM_EXIT_OK)
        rc = open_catalog(&c);
    if (rc == PM_EXIT_OK)
        rc = billing_zone(&c);
    if (rc == PM_EXIT_OK)
        rc = cmd->run(&c);
    if (fflush(stdout) != 0 || ferror(stdout)) { /* a full disk, say */
        fprintf(stderr, "%s: cannot write the output: %s\n", c.prefix,
                strerror(errno));
        rc = PM_EXIT_FAILURE;
    }
    pm_catalog_close(c.cat);
    pm_config_free(c.cfg);
    pm_free(c.actor);
    pm_free(c.path);
    return rc == CLI_DONE ? PM_EXIT_OK : rc;
}

int pm_cli_handles(const char *name)
{
    return name != NULL && has_group(name);
}

int pm_cli_main(int argc, char **argv)
{
    const cmd_t *cmd = find_cmd(argv[0], NULL);
    int help;

    if (cmd != NULL) /* status: no subcommands */
        return run_cmd(cmd, argc, argv);
    if (!has_group(argv[0])) {
        fprintf(stderr, "pagemill: unknown command '%s'\n", argv[0]);
        return PM_EXIT_USAGE;
    }
    if (argc < 2 || argv[1][0] == '-') {
        help = argc >= 2 &&
               (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        if (!help)
            fprintf(stderr, "pagemill %s: missing subcommand\n\n", argv[0]);
        group_usage(argv[0], help ? stdout : stderr);
        return help ? PM_EXIT_OK : PM_EXIT_USAGE;
    }
    cmd = find_cmd(argv[0], argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "pagemill %s: unknown subcommand '%s'\n\n", argv[0],
                argv[1]);
        group_usage(argv[0], stderr);
        return PM_EXIT_USAGE;
    }
    return run_cmd(cmd, argc - 1, argv + 1);
}
