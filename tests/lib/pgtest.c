/*
 * pgtest.c: a private PostgreSQL server for the tests (pgtest.h).
 *
 * The server is started directly (fork, drop to `nobody` when root,
 * exec postgres), so its pid is ours to stop; it dies with the test
 * process too (PR_SET_PDEATHSIG), so a crashed test leaves no server
 * behind. Durability is off (fsync, full pages): the cluster is thrown
 * away. Readiness is polled with PQping under a generous deadline.
 */
#define _GNU_SOURCE
#include "lib/pgtest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_DEADLINE_S 120 /* initdb plus start on a loaded machine */
#define STOP_DEADLINE_S  60

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The newest installed server's bin folder (PM_PG_BINDIR overrides). */
static int find_bin(pgt_t *pg)
{
    const char *env = getenv("PM_PG_BINDIR");
    char path[300];
    glob_t g;

    if (env != NULL && *env) {
        snprintf(pg->bin, sizeof(pg->bin), "%s", env);
    } else {
        if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) != 0) {
            fprintf(stderr, "pgtest: PostgreSQL is not installed (no "
                            "/usr/lib/postgresql/*/bin/postgres): run "
                            "scripts/install-deps.sh\n");
            return -1;
        }
        /* glob sorts: the last is the newest (one digit versions aside,
         * Debian ships one). */
        snprintf(pg->bin, sizeof(pg->bin), "%.*s",
                 (int)(strlen(g.gl_pathv[g.gl_pathc - 1]) - 9),
                 g.gl_pathv[g.gl_pathc - 1]);
        globfree(&g);
    }
    snprintf(path, sizeof(path), "%s/initdb", pg->bin);
    if (access(path, X_OK) != 0) {
        fprintf(stderr, "pgtest: %s: %s (run scripts/install-deps.sh)\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Who the server runs as: ourselves, or `nobody` when we are root. */
static int pick_user(pgt_t *pg)
{
    struct passwd *pw;

    pg->uid = geteuid();
    pg->gid = getegid();
    if (pg->uid != 0)
        return 0;
    pw = getpwnam("nobody");
    if (pw == NULL) {
        fprintf(stderr, "pgtest: running as root and there is no user "
                        "nobody to run PostgreSQL as\n");
        return -1;
    }
    pg->uid = pw->pw_uid;
    pg->gid = pw->pw_gid;
    return 0;
}

/* A TCP port on 127.0.0.1 that was free a moment ago. */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/*
 * Forks `argv` as the server's user, in the cluster's folder, its output
 * appended to `log`, dying with us. Returns the child's pid, or -1.
 */
static pid_t spawn(const pgt_t *pg, const char *const argv[], const char *log)
{
    pid_t parent = getpid(), pid = fork();
    int fd;

    if (pid != 0)
        return pid;
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        _exit(126);
    if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(pg->gid) != 0 ||
                           setuid(pg->uid) != 0))
        _exit(126);
    if (prctl(PR_SET_PDEATHSIG, SIGINT) != 0 || getppid() != parent)
        _exit(126);
    if (chdir(pg->dir) != 0)
        _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* Prints the last lines of a log to stderr. */
static void show_log(const char *path)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return;
    if (fseek(f, -(long)(sizeof(buf) - 1), SEEK_END) != 0)
        rewind(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "pgtest: %s ends:\n%s\n", path, buf);
}

static int run_initdb(pgt_t *pg)
{
    char exe[300], data[300], log[300];
    const char *argv[] = {
        exe,     "-D", data,   "-U",         "postgres",  "-A",
        "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        NULL};
    pid_t pid;
    int status;

    snprintf(exe, sizeof(exe), "%s/initdb", pg->bin);
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    snprintf(log, sizeof(log), "%s/initdb.log", pg->dir);
    pid = spawn(pg, argv, log);
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "pgtest: initdb failed\n");
        show_log(log);
        return -1;
    }
    return 0;
}

/* Starts postgres on pg->port; 0 once it answers, 1 when it exited
 * (the port was taken, say), -1 on a timeout. */
static int run_postgres(pgt_t *pg)
{
    char exe[300], data[300], log[300], port[16], sock[300], conn[128];
    const char *argv[] = {exe,
                          "-D",
                          data,
                          "-p",
                          port,
                          "-c",
                          "listen_addresses=127.0.0.1",
                          "-c",
                          sock,
                          "-c",
                          "fsync=off",
                          "-c",
                          "full_page_writes=off",
                          "-c",
                          "synchronous_commit=off",
                          "-c",
                          "max_connections=40",
                          "-c",
                          "shared_buffers=16MB",
                          NULL};
    double deadline = now_s() + START_DEADLINE_S;
    int status;

    snprintf(exe, sizeof(exe), "%s/postgres", pg->bin);
    snprintf(data, sizeof(data), "%s/data", pg->dir);
    snprintf(log, sizeof(log), "%s/postgres.log", pg->dir);
    snprintf(port, sizeof(port), "%d", pg->port);
    snprintf(sock, sizeof(sock), "unix_socket_directories=%s", pg->dir);
    snprintf(conn, sizeof(conn),
             "host=127.0.0.1 port=%d user=postgres dbname=postgres "
             "connect_timeout=5",
             pg->port);
    pg->pid = spawn(pg, argv, log);
    if (pg->pid < 0) {
        pg->pid = 0;
        fprintf(stderr, "pgtest: fork: %s\n", strerror(errno));
        return -1;
    }
    while (now_s() < deadline) {
        if (PQping(conn) == PQPING_OK)
            return 0;
        if (waitpid(pg->pid, &status, WNOHANG) == pg->pid) {
            pg->pid = 0;
            return 1;
        }
        nap_ms(50);
    }
    fprintf(stderr, "pgtest: postgres did not answer in %d s\n",
            START_DEADLINE_S);
    show_log(log);
    return -1;
}

int pgt_start(pgt_t *pg)
{
    char log[300];
    int rc = 1;

    memset(pg, 0, sizeof(*pg));
    if (find_bin(pg) != 0 || pick_user(pg) != 0)
        return -1;
    snprintf(pg->dir, sizeof(pg->dir), "/tmp/pm-pgtest-XXXXXX");
    if (mkdtemp(pg->dir) == NULL) {
        fprintf(stderr, "pgtest: mkdtemp %s: %s\n", pg->dir, strerror(errno));
        pg->dir[0] = '\0';
        return -1;
    }
    if (chown(pg->dir, pg->uid, pg->gid) != 0) {
        fprintf(stderr, "pgtest: chown %s: %s\n", pg->dir, strerror(errno));
        pgt_stop(pg);
        return -1;
    }
    if (run_initdb(pg) != 0) {
        pgt_stop(pg);
        return -1;
    }
    /* Another test may take the port between our look and postgres's
     * bind: then postgres exits and we try another. */
    for (int tries = 0; rc == 1 && tries < 5; tries++) {
        pg->port = free_port();
        rc = pg->port > 0 ? run_postgres(pg) : -1;
    }
    if (rc != 0) {
        snprintf(log, sizeof(log), "%s/postgres.log", pg->dir);
        fprintf(stderr, "pgtest: postgres would not start\n");
        show_log(log);
        pgt_stop(pg);
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Stops the postmaster by its pid: a fast shutdown (every session ended,
 * a checkpoint), SIGKILL after the deadline. 0, or -1 when it had to be
 * killed. */
static int halt(pgt_t *pg)
{
    double deadline = now_s() + STOP_DEADLINE_S;
    int status, rc = 0;

    if (pg->pid <= 0)
        return 0;
    kill(pg->pid, SIGINT); /* fast shutdown */
    while (waitpid(pg->pid, &status, WNOHANG) == 0) {
        if (now_s() > deadline) {
            fprintf(stderr, "pgtest: postgres %d did not stop; killed\n",
                    (int)pg->pid);
            kill(pg->pid, SIGKILL);
            waitpid(pg->pid, &status, 0);
            rc = -1;
            break;
        }
        nap_ms(20);
    }
    pg->pid = 0;
    return rc;
}

int pgt_halt(pgt_t *pg)
{
    return halt(pg);
}

int pgt_resume(pgt_t *pg)
{
    char log[300];

    if (pg->pid > 0 || pg->dir[0] == '\0' || run_postgres(pg) == 0)
        return 0;
    snprintf(log, sizeof(log), "%s/postgres.log", pg->dir);
    fprintf(stderr, "pgtest: postgres would not start again on port %d\n",
            pg->port);
    show_log(log);
    return -1;
}

int pgt_restart(pgt_t *pg)
{
    return halt(pg) == 0 && pgt_resume(pg) == 0 ? 0 : -1;
}

void pgt_stop(pgt_t *pg)
{
    halt(pg);
    if (pg->dir[0] != '\0')
        nftw(pg->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    pg->dir[0] = '\0';
}

void pgt_url(const pgt_t *pg, const char *name, char *url, size_t size)
{
    snprintf(url, size, "postgresql://postgres@127.0.0.1:%d/%s", pg->port,
             name);
}

/* "database ... does not exist, skipping" is expected. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Runs one statement on `conn`; 0 or -1 with the error on stderr. */
static int admin_exec(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

    if (!ok)
        fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
    return ok ? 0 : -1;
}

int pgt_fresh_db(pgt_t *pg, const char *name, char *url, size_t size)
{
    char admin[128], sql[160];
    PGconn *conn;
    int rc;

    pgt_url(pg, "postgres", admin, sizeof(admin));
    conn = PQconnectdb(admin);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "pgtest: %s: %s", admin, PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\"", name);
    rc = admin_exec(conn, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    if (rc == 0)
        rc = admin_exec(conn, sql);
    PQfinish(conn);
    if (rc == 0)
        pgt_url(pg, name, url, size);
    return rc;
}

/* The first column of `sql`'s one row (with the one text parameter
 * `param`, or none when NULL), run in the "postgres" database as the
 * administrator; -1 with the reason on stderr when it fails. */
static long long admin_int(pgt_t *pg, const char *sql, const char *param)
{
    char admin[128];
    const char *params[1] = {param};
    PGconn *conn;
    PGresult *r;
    long long v = -1;

    pgt_url(pg, "postgres", admin, sizeof(admin));
    conn = PQconnectdb(admin);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "pgtest: %s: %s", admin, PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    r = PQexecParams(conn, sql, param != NULL ? 1 : 0, NULL,
                     param != NULL ? params : NULL, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        !PQgetisnull(r, 0, 0))
        v = atoll(PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
    PQfinish(conn);
    return v;
}

int pgt_terminate(pgt_t *pg, const char *application_name)
{
    return (int)admin_int(pg,
                          "SELECT count(*) FILTER (WHERE "
                          "pg_terminate_backend(pid)) FROM pg_stat_activity "
                          "WHERE application_name = $1",
                          application_name);
}

int pgt_terminate_lock_holder(pgt_t *pg)
{
    return (int)admin_int(pg,
                          "SELECT count(*) FILTER (WHERE "
                          "pg_terminate_backend(pid)) FROM pg_locks WHERE "
                          "locktype = 'advisory' AND granted AND classid = 0 "
                          "AND objid = 1885564783",
                          NULL);
}

pid_t pgt_lock_holder(pgt_t *pg)
{
    return (pid_t)admin_int(pg,
                            "SELECT min(pid) FROM pg_locks WHERE locktype = "
                            "'advisory' AND granted AND classid = 0 AND "
                            "objid = 1885564783",
                            NULL);
}

/* The parent pid in /proc/<pid>/stat's line, or -1. */
static long parent_of(const char *pid)
{
    char path[300], buf[512];
    const char *rp;
    FILE *fp;
    long ppid = -1;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), fp) == NULL)
        buf[0] = '\0';
    fclose(fp);
    rp = strrchr(buf, ')');
    if (rp == NULL || sscanf(rp + 1, " %*c %ld", &ppid) != 1)
        return -1;
    return ppid;
}

int pgt_signal(pgt_t *pg, int sig, int all)
{
    struct dirent *e;
    DIR *d;

    if (pg->pid <= 0 || kill(pg->pid, sig) != 0) {
        fprintf(stderr, "pgtest: signal %d to the server (pid %ld): %s\n", sig,
                (long)pg->pid, strerror(errno));
        return -1;
    }
    d = all ? opendir("/proc") : NULL;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
            parent_of(e->d_name) == (long)pg->pid)
            kill((pid_t)atol(e->d_name), sig); /* may have exited since */
    if (d != NULL)
        closedir(d);
    return 0;
}
