/*
 * convert.h: `pagemill convert`, images in, PDF/A + text + report out,
 * without the service (see convert.c).
 */
#ifndef PM_PIPELINE_CONVERT_H
#define PM_PIPELINE_CONVERT_H

/* Runs the command with its own argv (argv[0] = "convert"); returns the
 * process exit status (PM_EXIT_*). */
int pm_convert_main(int argc, char **argv);

#endif /* PM_PIPELINE_CONVERT_H */
