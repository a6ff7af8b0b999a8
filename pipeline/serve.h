/*
 * serve.h: `pagemill serve`, the coordinator of the document-conversion
 * service: hot folders in, jobs in the catalog, pages on warm workers,
 * PDF/A and text published per job (see serve.c).
 */
#ifndef PM_PIPELINE_SERVE_H
#define PM_PIPELINE_SERVE_H

/* Runs the command with its own argv (argv[0] = "serve") until a signal
 * stops it; returns the process exit status (PM_EXIT_*). */
int pm_serve_main(int argc, char **argv);

#endif /* PM_PIPELINE_SERVE_H */
