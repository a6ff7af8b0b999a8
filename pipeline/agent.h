/*
 * agent.h: `pagemill agent`, the node agent of a worker machine: claims
 * pages from a shared (PostgreSQL) catalog for its local warm workers
 * (see agent.c).
 */
#ifndef PM_PIPELINE_AGENT_H
#define PM_PIPELINE_AGENT_H

/* Runs the command with its own argv (argv[0] = "agent") until a signal
 * stops it; returns the process exit status (PM_EXIT_*). */
int pm_agent_main(int argc, char **argv);

#endif /* PM_PIPELINE_AGENT_H */
