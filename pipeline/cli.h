/*
 * cli.h: the operator, supervisor and billing clerk commands over the
 * catalog: `pagemill account`, `workorder` (cli_account.c), `job`
 * (cli_job.c), `status` (cli_status.c) and `fee`, `billing`
 * (cli_billing.c), through one command table (cli.c). They read and change the
 * catalog only; they never start workers.
 */
#ifndef PM_PIPELINE_CLI_H
#define PM_PIPELINE_CLI_H

/* Returns nonzero when `name` is one of the commands pm_cli_main runs. */
int pm_cli_handles(const char *name);

/*
 * Runs a catalog command with its own argv (argv[0] = "account",
 * "workorder", "job", "fee", "billing" or "status"; the subcommand, if
 * any, follows).
 * Returns the process exit status: PM_EXIT_OK, PM_EXIT_USAGE for a bad
 * command line or bad input (an unknown account, work order or job, a job
 * in the wrong state), PM_EXIT_FAILURE when the catalog cannot be opened
 * or fails (and for `status --check` when the integrity check fails).
 */
int pm_cli_main(int argc, char **argv);

#endif /* PM_PIPELINE_CLI_H */
