/*
 * selftest.h: `pagemill selftest`, the acceptance check of an install or
 * an upgrade (selftest.c): the bundled sample pages converted through
 * every configured profile into a temporary root, the outputs checked,
 * the environment checked, and a pass/fail table printed. It never opens
 * the configured catalog and never writes into the configured trees.
 */
#ifndef PM_PIPELINE_SELFTEST_H
#define PM_PIPELINE_SELFTEST_H

/* Runs the command with its own argv (argv[0] = "selftest"); returns the
 * process exit status: 0 every check passed, 1 a check failed, 2 usage
 * or a configuration that cannot be read. */
int pm_selftest_main(int argc, char **argv);

#endif /* PM_PIPELINE_SELFTEST_H */
