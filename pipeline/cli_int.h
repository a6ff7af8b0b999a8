/*
 * cli_int.h: what the catalog commands share between cli.c (the command
 * table and option parsing) and the files of the command families
 * (cli_account.c, cli_job.c, cli_status.c, cli_billing.c, cli_review.c,
 * cli_token.c, cli_volumes.c): one run of a command, the output helpers every
 * command prints through (cli_out.c), and each family's commands. Not used
 * elsewhere.
 */
#ifndef PM_PIPELINE_CLI_INT_H
#define PM_PIPELINE_CLI_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "catalog/catalog.h"
#include "config/config.h"
#include "pipeline/json_view.h"
#include "pipeline/waiting.h"

/* A command asks to stop with success (after --help). */
#define CLI_DONE (-1)

/* Widest table a command prints. */
#define MAX_COLS 12

typedef struct cmd cmd_t;

/* One run of one command. */
typedef struct cli {
    const cmd_t *cmd;
    char prefix[48];   /* "pagemill job retry", for messages */
    char *opt[128];    /* option values by option code; flags get "yes" */
    char *arg;         /* the positional argument, if the command takes one */
    char *extra[2];    /* the ones after it (`job replace-page`) */
    int64_t id;        /* arg as a job id */
    int state;         /* --state as a pm_job_state_t, -1 if not given */
    size_t limit;      /* --limit, 0 if not given */
    int json;          /* --json */
    char *actor;       /* owned */
    char *path;        /* catalog file, owned */
    pm_config_t *cfg;  /* --config's file, or the defaults; owned */
    pm_catalog_t *cat; /* owned */
} cli_t;

/* Reports a failed catalog call in one line ("<prefix>: <errmsg>") and
 * returns the exit status: 2 for bad input, 1 for anything else. */
int cli_fail(const cli_t *c, int err);
int cli_oom(const cli_t *c);
/* Prints "<prefix>: " fmt (with `what`) and a pointer to --help; 2. */
int cli_usage_error(const cli_t *c, const char *fmt, const char *what);

/* "2026-11-23T12:00:00Z" in buf, or NULL for 0 (never happened). */
const char *cli_fmt_time(char buf[32], int64_t t);
const char *cli_fmt_int(char buf[24], long long v);
/* "label:   value" with the labels aligned. */
void cli_kv(const char *label, const char *value);
/* cli_kv() for a field that is usually unset: prints nothing for NULL. */
void cli_kv_opt(const char *label, const char *value);

/* A header row and rows of cells (first lines only), each column as wide
 * as its widest cell; columns marked 'r' in `align` are right-aligned. */
typedef struct table {
    size_t ncols, nrows; /* rows include the header */
    char **cells;        /* nrows * ncols, owned */
    const char *align;
    int oom;
} table_t;

void cli_table_init(table_t *t, const char *const *heads, size_t ncols,
                    const char *align);
/* Appends a row, copying its cells (NULL shows as "-"). */
void cli_table_row(table_t *t, const char *const *cells);
/* Prints the table, or `none` when it has no rows, and releases it. */
int cli_table_emit(const cli_t *c, table_t *t, const char *none);
/* Prints the table's rows (the header first), aligned. */
void cli_table_print(const table_t *t);
/* Releases the table's cells. */
void cli_table_cleanup(table_t *t);

/* The first line of `s` as a JSON string, or null. */
json_t *cli_jline(const char *s);
json_t *cli_jlist(const void *v, size_t n, size_t size,
                  json_t *(*one)(const void *));
/* Prints `doc` (and takes it) as the command's one JSON document. */
int cli_emit_json(const cli_t *c, json_t *doc);

/* ---- accounts and work orders (cli_account.c) ---- */

int cli_account_add(cli_t *c);
int cli_account_list(cli_t *c);
int cli_workorder_add(cli_t *c);
int cli_workorder_list(cli_t *c);
int cli_workorder_show(cli_t *c);
int cli_workorder_close(cli_t *c);

/* ---- jobs (cli_job.c) ---- */

int cli_job_list(cli_t *c);
int cli_job_show(cli_t *c);
int cli_job_retry(cli_t *c);
int cli_job_release(cli_t *c);
int cli_job_cancel(cli_t *c);

/* ---- the fee and billing commands (cli_billing.c) ---- */

int cli_fee_add(cli_t *c);
int cli_fee_list(cli_t *c);
int cli_workorder_set_fee(cli_t *c);
int cli_billing_report(cli_t *c);
int cli_billing_invoice(cli_t *c);
int cli_billing_close(cli_t *c);
int cli_billing_adjust(cli_t *c);

/* ---- pages flagged for review, replaced pages (cli_review.c) ---- */

int cli_job_list_review(cli_t *c);
int cli_job_replace_page(cli_t *c);

/* ---- status (cli_status.c) ---- */

/* `pagemill status`. */
int cli_status(cli_t *c);

/* `status` exit codes beyond 0, 1 and 2 (docs: README, --help). */
#define CLI_STATUS_JOB_FAILED  3 /* the service runs; a job has failed */
#define CLI_STATUS_NOT_RUNNING 4 /* no coordinator wrote its workers lately */

typedef struct cli_status_extra {
    int running; /* fresh worker rows */
    pm_waiting_t *waiting;
    size_t nwaiting;
    pm_event_t *rejected; /* newest first */
    size_t nrejected;
} cli_status_extra_t;

/* Adds service_running, waiting_batches and rejected_batches to `doc`;
 * non-zero when out of memory. */
int cli_status_json_extra(json_t *doc, const cli_status_extra_t *x);
/* The same as text. */
void cli_status_print_extra(const cli_status_extra_t *x, int64_t now);

/* ---- the web interface's tokens (cli_token.c) ---- */

int cli_token_add(cli_t *c);
int cli_token_list(cli_t *c);

/* ---- paths of a catalog from before volumes (cli_volumes.c) ---- */

int cli_volumes_rewrite(cli_t *c);

#endif /* PM_PIPELINE_CLI_INT_H */
