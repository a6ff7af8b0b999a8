/*
 * cli_backup.h: `pagemill backup DEST`, a consistent copy of the live
 * catalog (catalog/backup.h), safe while `pagemill serve` runs.
 */
#ifndef PM_PIPELINE_CLI_BACKUP_H
#define PM_PIPELINE_CLI_BACKUP_H

/* Runs `backup` with its own argv (argv[0] = "backup"); returns the exit
 * status: 0 copied and checked, 2 bad command line or DEST exists, 1 the
 * catalog could not be copied or the copy failed its check. */
int pm_backup_main(int argc, char **argv);

#endif /* PM_PIPELINE_CLI_BACKUP_H */
