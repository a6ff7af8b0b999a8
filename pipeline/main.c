/*
 * main.c: the `pagemill` entry point. It only parses the command line and
 * calls into the parts; each subcommand lives with the part it drives.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config/config.h"
#include "config/volume.h"
#include "pipeline/agent.h"
#include "pipeline/bag.h"
#include "pipeline/base/pm.h"
#include "pipeline/cli.h"
#include "pipeline/cli_backup.h"
#include "pipeline/convert.h"
#include "pipeline/selftest.h"
#include "pipeline/serve.h"
#include "workers/worker.h"

#ifndef PM_VERSION
#define PM_VERSION "dev"
#endif

/* AddressSanitizer reserves terabytes of address space, which an
 * RLIMIT_AS limit would forbid: sanitizer builds skip the limit. */
#if defined(__SANITIZE_ADDRESS__)
#define PM_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PM_UNDER_ASAN 1
#endif
#endif
#ifndef PM_UNDER_ASAN
#define PM_UNDER_ASAN 0
#endif

static const char usage_text[] =
    "usage: pagemill <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve         run the service: hot folders, catalog, workers\n"
    "  agent         run a worker machine's node agent: claim pages from a\n"
    "                shared catalog for local workers\n"
    "  convert       convert scans to searchable PDF/A (one-shot)\n"
    "  config check  validate a configuration file\n"
    "  verify        check published BagIt bags (PATH... or --all)\n"
    "  janitor       remove verified jobs' spooled files after keep_days\n"
    "  account       add and list customer accounts\n"
    "  workorder     add, list, show, close work orders; set their fee\n"
    "  job           list, show, retry, release and cancel jobs\n"
    "  fee           add and list fee codes and their prices\n"
    "  billing       monthly report, invoices, close a month, adjust\n"
    "  status        queue depth, throughput and failed jobs\n"
    "  token         add and list access tokens of the web interface\n"
    "  backup        copy the live catalog, safely, to a new file\n"
    "  volumes       rewrite an old catalog's paths into volume form\n"
    "  selftest      accept an install: convert the samples, check all\n"
    "  worker        page worker process (started by pagemill itself)\n"
    "  version       print the version\n"
    "  help          show a command's help: pagemill help COMMAND\n"
    "\n"
    "Run 'pagemill <command> --help' (or 'pagemill help <command>') for a\n"
    "command's options; 'man pagemill' has them all.\n"
    "Set PAGEMILL_LOG=debug|info|warn|error for more or less logging.\n";

static int config_check(int argc, char **argv)
{
    pm_config_t *cfg = NULL;
    char *errors = NULL;
    int err;

    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc == 2 ? stdout : stderr,
                "usage: pagemill config check FILE\n"
                "Validates FILE and that every profile's OCR languages are "
                "installed;\nprints FILE:LINE: [section] key: problem for "
                "each error.\nExit status 0 when valid, 2 otherwise.\n");
        return argc == 2 ? PM_EXIT_OK : PM_EXIT_USAGE;
    }
    err = pm_config_load(argv[1], &cfg, &errors);
    if (err == 0) /* every profile's languages installed */
        err = pm_config_check_languages(cfg, NULL, &errors);
    if (err == 0) /* every volume a folder on this machine */
        err = pm_volume_check(cfg, &errors);
    if (err) {
        fputs(errors ? errors : pm_strerror(err), stderr);
        pm_free(errors);
        pm_config_free(cfg);
        return PM_EXIT_USAGE;
    }
    printf("%s: OK, %zu profile(s)\n", argv[1], cfg->nprofiles);
    pm_config_free(cfg);
    return PM_EXIT_OK;
}

/* A worker dies with the process that started it: SIGKILL when that
 * parent exits (even a kill -9 of the coordinator, with a page under way
 * and stdin never read), and an exit now when it is already gone (it died
 * before the signal was asked for, and we were adopted). 0 or
 * PM_EXIT_FAILURE. */
static int die_with_parent(long parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        pm_log(PM_LOG_WARN, "worker",
               "cannot ask to die with the coordinator: %s", strerror(errno));
    if (parent > 0 && (long)getppid() != parent) {
        pm_log(PM_LOG_ERROR, "worker",
               "the coordinator (pid %ld) is gone; exiting", parent);
        return PM_EXIT_FAILURE;
    }
    return 0;
}

/* Limits this process's address space to `mb` MiB (0: no limit). */
static void limit_memory(const char *who, long mb)
{
    struct rlimit rl;

    rl.rlim_cur = rl.rlim_max = (rlim_t)mb << 20;
    if (mb > 0 && PM_UNDER_ASAN)
        pm_log(PM_LOG_DEBUG, who,
               "sanitizer build: not limiting memory to "
               "%ld MiB",
               mb);
    else if (mb > 0 && setrlimit(RLIMIT_AS, &rl) != 0)
        pm_log(PM_LOG_WARN, who, "cannot limit memory to %ld MiB", mb);
}

static const char worker_usage[] =
    "usage: pagemill worker [--tessdata DIR] [--memory-mb N] [--parent PID]\n"
    "                       [--warm LANGS]\n"
    "Reads tasks as JSON lines on stdin; started by pagemill, not by hand.\n";

static int worker_main(int argc, char **argv)
{
    const char *tessdata = NULL, *warm = NULL;
    long parent = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(worker_usage, stdout);
            return PM_EXIT_OK;
        }
        if (strcmp(argv[i], "--tessdata") == 0 && i + 1 < argc) {
            tessdata = argv[++i];
        } else if (strcmp(argv[i], "--warm") == 0 && i + 1 < argc) {
            warm = argv[++i];
        } else if (strcmp(argv[i], "--parent") == 0 && i + 1 < argc) {
            parent = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--memory-mb") == 0 && i + 1 < argc) {
            limit_memory("worker", strtol(argv[++i], NULL, 10));
        } else {
            fputs(worker_usage, stderr);
            return PM_EXIT_USAGE;
        }
    }
    if (die_with_parent(parent) != 0)
        return PM_EXIT_FAILURE;
    return pm_worker_run(tessdata, warm, stdin, stdout);
}

static const char count_usage[] =
    "usage: pagemill count-frames [--memory-mb N] [--refuse-pdf-text] "
    "FD=NAME...\nCounts the frames of open files; started by pagemill, not "
    "by hand.\n";

/* The hidden `count-frames` subcommand: intake's frame counter. */
static int count_main(int argc, char **argv)
{
    int i = 1, refuse_pdf_text = 0;

    if (i + 1 < argc && strcmp(argv[i], "--memory-mb") == 0) {
        limit_memory("count", strtol(argv[i + 1], NULL, 10));
        i += 2;
    }
    if (i < argc && strcmp(argv[i], "--refuse-pdf-text") == 0) {
        refuse_pdf_text = 1;
        i++;
    }
    if (i < argc && strcmp(argv[i], "--help") == 0) {
        fputs(count_usage, stdout);
        return PM_EXIT_OK;
    }
    if (i >= argc || argv[i][0] == '-') {
        fputs(count_usage, stderr);
        return PM_EXIT_USAGE;
    }
    return pm_count_frames_run(argv + i, argc - i, refuse_pdf_text, stdout);
}

static const char config_usage[] = "usage: pagemill config check FILE\n"
                                   "Run 'pagemill config check --help' for "
                                   "details.\n";

static int version_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        fputs("usage: pagemill version\nPrints the version.\n", stdout);
        return PM_EXIT_OK;
    }
    printf("pagemill %s\n", PM_VERSION);
    return PM_EXIT_OK;
}

static int dispatch(int argc, char **argv);

/* `pagemill help [COMMAND [SUBCOMMAND]]`: that command's --help. */
static int help_main(int argc, char **argv)
{
    char help[] = "--help";
    char *v[4] = {argv[0], NULL, NULL, NULL};
    int n = 1;

    if (argc < 2) {
        fputs(usage_text, stdout);
        return PM_EXIT_OK;
    }
    if (argc > 3) {
        fprintf(stderr, "usage: pagemill help [COMMAND [SUBCOMMAND]]\n");
        return PM_EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++)
        v[n++] = argv[i];
    v[n++] = help;
    return dispatch(n, v);
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? PM_EXIT_USAGE : PM_EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0)
        return help_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve") == 0)
        return pm_serve_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "agent") == 0)
        return pm_agent_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "convert") == 0)
        return pm_convert_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "backup") == 0)
        return pm_backup_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "worker") == 0)
        return worker_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "count-frames") == 0)
        return count_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0)
        return pm_verify_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "selftest") == 0)
        return pm_selftest_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "janitor") == 0)
        return pm_janitor_main(argc - 1, argv + 1);
    if (pm_cli_handles(argv[1]))
        return pm_cli_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "config") == 0 && argc >= 3 &&
        strcmp(argv[2], "check") == 0)
        return config_check(argc - 2, argv + 2);
    if (strcmp(argv[1], "config") == 0) {
        int help = argc == 3 && strcmp(argv[2], "--help") == 0;
        fputs(config_usage, help ? stdout : stderr);
        return help ? PM_EXIT_OK : PM_EXIT_USAGE;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0)
        return version_main(argc - 1, argv + 1);
    fprintf(stderr, "pagemill: unknown command '%s'\n\n%s", argv[1],
            usage_text);
    return PM_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    pm_log_init_from_env();
    return dispatch(argc, argv);
}
