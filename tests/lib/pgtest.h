/*
 * pgtest.h: a private PostgreSQL server for the tests of the PostgreSQL
 * catalog backend. pgt_start() makes a cluster in a new temp folder
 * (initdb), starts `postgres` on 127.0.0.1 at a free port (never any
 * other address) and waits until it answers; pgt_stop() stops it by its
 * pid and removes the folder; pgt_restart() (pgt_halt(), pgt_resume())
 * restarts it on the same port and data. Run as root, the server runs as
 * `nobody` (PostgreSQL refuses root). Not installed is a failure, never a skip:
 * scripts/install-deps.sh installs it.
 */
#ifndef PM_TEST_PGTEST_H
#define PM_TEST_PGTEST_H

#include <stddef.h>
#include <sys/types.h>

typedef struct pgt {
    char dir[256]; /* the cluster, its socket and its logs */
    char bin[256]; /* the folder of initdb and postgres */
    int port;
    pid_t pid; /* the postmaster; 0 when stopped */
    uid_t uid; /* who the server runs as */
    gid_t gid;
} pgt_t;

/* Starts a server; 0, or -1 with the reason on stderr (the log's tail
 * when the server would not start). */
int pgt_start(pgt_t *pg);

/* Stops the server (fast shutdown, then SIGKILL after a deadline) and
 * removes its folder. Accepts a server that never started. */
void pgt_stop(pgt_t *pg);

/* Stops the server by its pid with a fast shutdown (every session ends,
 * as when an administrator restarts it), keeping its folder; 0, or -1 when
 * it did not stop within a minute and was killed. */
int pgt_halt(pgt_t *pg);

/* Starts a halted server again on the same port and data folder and waits
 * until it answers; 0, or -1 with the reason (the log's tail) on stderr.
 * Does nothing for a running server. */
int pgt_resume(pgt_t *pg);

/* pgt_halt, then pgt_resume: a restart of the server. */
int pgt_restart(pgt_t *pg);

/* Makes an empty database `name` (dropped first if it exists) and writes
 * its postgresql:// URL into url; 0, or -1 with the reason on stderr. */
int pgt_fresh_db(pgt_t *pg, const char *name, char *url, size_t size);

/* Ends every session whose application_name is `name`, as a cut network
 * would: the number ended, or -1 with the reason on stderr. */
int pgt_terminate(pgt_t *pg, const char *application_name);

/* Ends only the session that holds the coordinator lock: the number
 * ended, or -1 with the reason on stderr. */
int pgt_terminate_lock_holder(pgt_t *pg);

/* The pid of the session's backend that holds the coordinator lock (its
 * key: catalog/pg_core.c), or -1 when none does. */
pid_t pgt_lock_holder(pgt_t *pg);

/* Sends `sig` to the postmaster and, when `all`, to every process it
 * started (the sessions' backends too): SIGSTOP makes a server that
 * accepts connections and never answers, SIGCONT wakes it. 0, or -1 with
 * the reason on stderr. */
int pgt_signal(pgt_t *pg, int sig, int all);

/* The URL of database `name` on the server. */
void pgt_url(const pgt_t *pg, const char *name, char *url, size_t size);

#endif /* PM_TEST_PGTEST_H */
