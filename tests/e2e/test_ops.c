/*
 * test_ops.c: running pagemill for years, end to end with the real
 * binary: `pagemill backup` while the service writes, the copy taken
 * before a migration of a catalog an older pagemill made (with data in
 * it), a newer catalog refused with what to do, configuration paths
 * relative to the file's folder (the service started from elsewhere),
 * journald's priority prefixes, sd_notify READY=1 and WATCHDOG=1 on a
 * socket the test owns, and CSV exports that no spreadsheet runs as a
 * formula.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog/catalog_int.h"
#include "lib/servelib.h"
#include "lib/testlib.h"
#include "pipeline/base/pm.h"

#define DEADLINE_S   120.0 /* for anything the service should do */
#define PAGE_TIMEOUT 60

/* ---- helpers ---- */

/* A one-page batch `name` in the scans hot folder, marker last. */
static void drop_batch(const sv_fx_t *f, const char *name)
{
    char dir[512], path[600];
    const char *const text[] = {name, "The quick brown fox", NULL};

    snprintf(dir, sizeof(dir), "%s/%s", f->scans, name);
    assert_int_equal(pm_mkdir_p(dir), 0);
    snprintf(path, sizeof(path), "%s/p01.tif", dir);
    sv_page(path, text);
    snprintf(path, sizeof(path), "%s/batch.ini", dir);
    sv_write_text(path, "account = ACME\n");
}

/* Runs one SQL query on the database file `path` (opened read-only) and
 * returns the first column of its first row as an integer; fails the
 * test when the file is not a readable database. */
static long long query_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s: %s", path, sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The first column of the first row as text (new string), as above. */
static char *query_text(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *v;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s: %s", path, sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = pm_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_non_null(v);
    return v;
}

/* Runs SQL on the database file `path`; fails the test on an error. */
static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", path, err ? err : "?");
    sqlite3_close(db);
}

static void assert_contains(const char *text, const char *want)
{
    if (text == NULL || strstr(text, want) == NULL)
        fail_msg("expected \"%s\" in:\n%s", want, text ? text : "(nothing)");
}

/* How many jobs `job list` shows. */
static size_t job_count(const sv_fx_t *f)
{
    json_t *doc = sv_cli_json(f, "job list");
    json_t *jobs = json_is_array(doc) ? doc : json_object_get(doc, "jobs");
    size_t n;

    assert_true(json_is_array(jobs));
    n = json_array_size(jobs);
    json_decref(doc);
    return n;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    sv_fx_t *f = pm_calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (sv_fx_init(f, t_tmpdir()) != 0 ||
        sv_write_config(f, PAGE_TIMEOUT, "") != 0) {
        pm_free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    sv_fx_t *f = *state;
    int rc = sv_fx_fini(f, PAGE_TIMEOUT + 10);

    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("JOURNAL_STREAM");
    pm_free(f);
    t_tmpdir_cleanup();
    return rc;
}

/* ---- backup ---- */

/* Backups taken while the service takes in and converts batches (its
 * writes go on) are each a whole catalog that passes integrity_check; the
 * last, taken after the jobs finished, has them all. */
static void backup_while_serving(void **state)
{
    sv_fx_t *f = *state;
    char args[700], dest[600], seen[64], *err = NULL;
    int n = 0;

    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "workorder add WO-1 --account ACME");
    sv_start(f);
    sv_wait_log(f, "started as", DEADLINE_S);
    drop_batch(f, "WO-1_a");
    drop_batch(f, "WO-1_b");
    /* copies while the jobs are recorded, run and finished */
    while (sv_job_state(f, "WO-1_b", seen) == 0 || strcmp(seen, "done") != 0) {
        snprintf(dest, sizeof(dest), "%s/during-%d.db", f->root, n++);
        snprintf(args, sizeof(args), "backup '%s'", dest);
        sv_cli_ok(f, args);
        assert_int_equal(
            query_int(dest, "SELECT count(*) FROM pragma_integrity_check "
                            "WHERE integrity_check <> 'ok'"),
            0);
        assert_true(n < 2000);
    }
    sv_wait_job(f, "WO-1_a", "done", DEADLINE_S);
    snprintf(dest, sizeof(dest), "%s/after.db", f->root);
    snprintf(args, sizeof(args), "backup '%s'", dest);
    sv_cli_ok(f, args);
    assert_int_equal(query_int(dest, "SELECT count(*) FROM jobs WHERE "
                                     "state = 'done'"),
                     2);
    assert_int_equal(query_int(dest, "SELECT count(*) FROM billable_pages"), 2);
    assert_int_equal(query_int(dest, "SELECT max(version) FROM "
                                     "schema_migrations"),
                     PM__CATALOG_SCHEMA_VERSION);
    /* the copy is one self-contained file, and the CLI reads it */
    assert_int_equal(t_exists(dest), 1);
    snprintf(args, sizeof(args), "'%s' job list --catalog '%s' --json",
             PM_BINARY, dest);
    assert_int_equal(t_run(NULL, "%s >/dev/null", args), 0);

    /* an existing DEST is never overwritten, and the message names it */
    snprintf(args, sizeof(args), "backup '%s'", dest);
    assert_int_equal(sv_cli(f, NULL, &err, args), 2);
    assert_contains(err, dest);
    assert_contains(err, "exists");
    free(err);
    assert_int_equal(query_int(dest, "SELECT count(*) FROM jobs"), 2);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);

    /* restored as docs/operations.md says, the service takes it back */
    assert_int_equal(t_run(NULL,
                           "cd '%s' && mv catalog.db catalog.db.old && "
                           "rm -f catalog.db-wal catalog.db-shm && "
                           "cp '%s' catalog.db",
                           f->root, dest),
                     0);
    sv_write_text(f->log, ""); /* "started as" must be the new service's */
    sv_start(f);
    sv_wait_log(f, "started as", DEADLINE_S);
    assert_int_equal(job_count(f), 2);
}

/* A missing catalog is named, and nothing is created in its place. */
static void backup_of_a_missing_catalog_names_it(void **state)
{
    sv_fx_t *f = *state;
    char *err = NULL, dest[600];
    int rc;

    snprintf(dest, sizeof(dest), "%s/copy.db", f->root);
    rc = t_run(NULL, "'%s' backup --catalog '%s/none.db' '%s' 2>'%s'",
               PM_BINARY, f->root, dest, f->err);
    assert_int_equal(rc, 1);
    err = t_slurp(f->err);
    assert_contains(err, "none.db");
    assert_contains(err, "No such file");
    pm_free(err);
    assert_int_equal(t_exists(dest), 0);
    assert_int_equal(t_exists(f->db), 0);
}

/* A PostgreSQL catalog is pg_dump's to copy: the command says so plainly,
 * never prints the URL's password, and creates nothing. */
static void backup_of_a_postgresql_catalog_says_use_pg_dump(void **state)
{
    sv_fx_t *f = *state;
    char *err = NULL, dest[600];
    int rc;

    snprintf(dest, sizeof(dest), "%s/copy.db", f->root);
    rc = t_run(NULL,
               "'%s' backup --catalog "
               "'postgresql://pm:s3cret@127.0.0.1:1/pagemill' '%s' 2>'%s'",
               PM_BINARY, dest, f->err);
    assert_int_equal(rc, 1);
    err = t_slurp(f->err);
    assert_contains(err, "PostgreSQL");
    assert_contains(err, "postgresql://127.0.0.1:1/pagemill");
    assert_contains(err, "pg_dump");
    assert_null(strstr(err, "s3cret"));
    pm_free(err);
    assert_int_equal(t_exists(dest), 0);
}

/* ---- upgrades ---- */

/* What an older pagemill (schema 5) recorded: an account, a work order
 * and a done job of two billed pages. */
static const char v5_data[] =
    "INSERT INTO accounts (id, code, name, created_at)"
    " VALUES (1, 'ACME', 'Acme Records', 1767225600);"
    "INSERT INTO work_orders (number, account_id, created_at)"
    " VALUES ('WO-1', 1, 1767225600);"
    "INSERT INTO jobs (id, workorder, account, batch, state, pages,"
    " created_at, updated_at, finished_at, billing_month)"
    " VALUES (1, 'WO-1', 'ACME', 'WO-1_old', 'done', 2, 1767225600,"
    " 1767225700, 1767225700, '2026-01');"
    "INSERT INTO page_tasks (job, page, src, frame, sha256, state,"
    " finished_at) VALUES"
    " (1, 1, 'p1.tif', 0, printf('%064d', 1), 'done', 1767225700),"
    " (1, 2, 'p2.tif', 0, printf('%064d', 2), 'done', 1767225700);"
    "INSERT INTO billable_pages (job, page, blank, created_at) VALUES"
    " (1, 1, 0, 1767225700), (1, 2, 0, 1767225700);";

/* The current pagemill opens a catalog of the previous schema that holds
 * data: it copies it to <catalog>.pre-v<N>.bak first (the old schema and
 * the data, checked), then migrates, and the data reads the same. */
static void migrating_keeps_a_backup_of_the_old_catalog(void **state)
{
    sv_fx_t *f = *state;
    const int old = PM__CATALOG_SCHEMA_VERSION - 1;
    char bak[700], *out = NULL, *log;

    assert_int_equal(pm__catalog_create_at_version(f->db, old), 0);
    exec_sql(f->db, v5_data);
    snprintf(bak, sizeof(bak), "%s.pre-v%d.bak", f->db,
             PM__CATALOG_SCHEMA_VERSION);
    assert_int_equal(t_exists(bak), 0);

    out = sv_cli_text(f, "job show 1");
    assert_contains(out, "WO-1_old");
    free(out);
    log = t_slurp(f->err);
    assert_contains(log, "backed up");
    pm_free(log);

    assert_int_equal(t_exists(bak), 1);
    assert_int_equal(query_int(bak, "SELECT max(version) FROM "
                                    "schema_migrations"),
                     old);
    assert_int_equal(query_int(bak, "SELECT count(*) FROM billable_pages"), 2);
    out = query_text(bak, "PRAGMA integrity_check");
    assert_string_equal(out, "ok");
    pm_free(out);
    assert_int_equal(query_int(f->db, "SELECT max(version) FROM "
                                      "schema_migrations"),
                     PM__CATALOG_SCHEMA_VERSION);
    assert_int_equal(query_int(f->db, "SELECT count(*) FROM billable_pages"),
                     2);
    out = sv_cli_text(f, "billing report --month 2026-01 --format csv");
    assert_contains(out, "WO-1");
    free(out);

    /* opening it again migrates nothing and leaves the backup alone */
    out = sv_cli_text(f, "job list");
    free(out);
    log = t_slurp(f->err);
    assert_null(strstr(log, "backed up"));
    pm_free(log);
}

/* A catalog a newer pagemill migrated is refused, exit 1, with what to
 * do: run the newer pagemill, or restore the copy taken before. */
static void newer_catalog_is_refused_with_what_to_do(void **state)
{
    sv_fx_t *f = *state;
    char args[700], *err = NULL, *log;
    int next = PM__CATALOG_SCHEMA_VERSION + 1;

    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    snprintf(args, sizeof(args),
             "INSERT INTO schema_migrations VALUES (%d, 1767225600)", next);
    exec_sql(f->db, args);

    assert_int_equal(sv_cli(f, NULL, &err, "status"), 1);
    snprintf(args, sizeof(args), "schema version %d is newer", next);
    assert_contains(err, args);
    assert_contains(err, "run the newer pagemill");
    snprintf(args, sizeof(args), "%s.pre-v%d.bak", f->db, next);
    assert_contains(err, args);
    free(err);

    sv_start(f); /* the service refuses it too, and touches nothing */
    assert_int_equal(sv_reap(f, DEADLINE_S), 1 << 8);
    log = t_slurp(f->log);
    snprintf(args, sizeof(args), "schema version %d is newer", next);
    assert_contains(log, args);
    pm_free(log);
    assert_int_equal(query_int(f->db, "SELECT max(version) FROM "
                                      "schema_migrations"),
                     next);
}

/* ---- configuration paths ---- */

/* A configuration of relative paths, given as a relative path, read by
 * the service started in another folder: every path is the config
 * folder's. */
static void config_paths_are_relative_to_its_folder(void **state)
{
    sv_fx_t *f = *state;
    char cwd[4096], elsewhere[600], out[700];
    long long id;

    sv_write_text(f->ini, "[pagemill]\nworkers = 1\npage_timeout = 60\n"
                          "worker_memory_mb = 0\ncatalog = catalog.db\n"
                          "spool = spool\noutput = out\n"
                          "[hotfolder scans]\npath = hot/scans\n"
                          "marker = batch.ini\n");
    snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", f->root);
    assert_int_equal(pm_mkdir_p(elsewhere), 0);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(elsewhere), 0);
    /* the CLI: ../pagemill.ini, from the other folder */
    assert_int_equal(t_run(NULL,
                           "'%s' account add ACME --name Acme --config "
                           "../pagemill.ini 2>'%s'",
                           PM_BINARY, f->err),
                     0);
    sv_start(f);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(t_exists(f->db), 1);
    sv_cli_ok(f, "workorder add WO-1 --account ACME");
    drop_batch(f, "WO-1_rel");
    id = sv_wait_job(f, "WO-1_rel", "done", DEADLINE_S);
    snprintf(out, sizeof(out), "%s/ACME/WO-1/job-%lld/data/job-%lld.pdf",
             f->out, id, id);
    assert_int_equal(t_exists(out), 1);
    assert_int_equal(t_count_entries(elsewhere), 0);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
}

/* ---- journald ---- */

/* Runs `pagemill ARGS` with stderr appended to `log`, under JOURNAL_STREAM
 * naming that file (as systemd names the stream it connects) when
 * `journal` is set, else naming another file. Its exit status. */
static int run_logged(const char *log, int journal, const char *args)
{
    struct stat st;

    sv_write_text(log, "");
    assert_int_equal(stat(journal ? log : "/", &st), 0);
    return t_run(NULL, "JOURNAL_STREAM=%llu:%llu '%s' %s 2>>'%s'",
                 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                 PM_BINARY, args, log);
}

/* Under journald, each line starts with its sd-daemon priority (<6>
 * info, <3> error) and carries no time of its own; otherwise lines keep
 * the time and level (every level: tests/pipeline/test_pm.c). */
static void journal_lines_carry_priorities(void **state)
{
    sv_fx_t *f = *state;
    char log[600], args[700], *text;

    snprintf(log, sizeof(log), "%s/journal.log", f->root);
    snprintf(args, sizeof(args), "account add ACME --name A --catalog '%s'",
             f->db);
    assert_int_equal(run_logged(log, 1, args), 0);
    text = t_slurp(log);
    assert_contains(text, "<6>catalog applied schema migration 1\n");
    assert_null(strstr(text, "Z INFO"));
    assert_int_equal(text[0], '<');
    pm_free(text);

    exec_sql(f->db, "INSERT INTO schema_migrations VALUES (999, 0)");
    snprintf(args, sizeof(args), "job list --catalog '%s'", f->db);
    assert_int_equal(run_logged(log, 1, args), 1);
    text = t_slurp(log);
    assert_contains(text, "<3>catalog open ");
    pm_free(text);

    /* JOURNAL_STREAM naming another stream: stderr was redirected */
    assert_int_equal(run_logged(log, 0, args), 1);
    text = t_slurp(log);
    assert_null(strstr(text, "<3>"));
    assert_contains(text, "Z ERROR catalog open ");
    pm_free(text);
}

/* The service under journald: every line it writes, its workers' lines
 * re-emitted too, starts with a priority and has no time of its own. */
static void service_logs_to_the_journal(void **state)
{
    sv_fx_t *f = *state;
    struct stat st;
    char env[64], *log, *line;

    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    sv_cli_ok(f, "workorder add WO-1 --account ACME");
    sv_write_text(f->log, "");
    assert_int_equal(stat(f->log, &st), 0);
    snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", env, 1);
    sv_start(f);
    unsetenv("JOURNAL_STREAM");
    drop_batch(f, "WO-1_journal");
    sv_wait_job(f, "WO-1_journal", "done", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    log = t_slurp(f->log);
    assert_non_null(log);
    assert_contains(log, "<6>serve started as");
    for (line = log; *line; line = strchr(line, '\n') + 1) {
        if (line[0] != '<' || line[1] < '3' || line[1] > '7' || line[2] != '>')
            fail_msg("a line without a priority: %.*s",
                     (int)strcspn(line, "\n"), line);
        if (strchr(line, '\n') == NULL)
            break;
    }
    assert_null(strstr(log, "Z INFO"));
    pm_free(log);
}

/* ---- systemd notify ---- */

/* A datagram socket at root/notify, bound; its descriptor. */
static int notify_socket(const sv_fx_t *f, char *path, size_t size)
{
    struct sockaddr_un a;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    snprintf(path, size, "%s/notify", f->root);
    assert_true(strlen(path) < sizeof(a.sun_path));
    strcpy(a.sun_path, path);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Waits up to `secs` for a datagram holding the line `want`; fails the
 * test naming what came instead. */
static void wait_notify(int fd, const char *want, double secs)
{
    double end = sv_now_s() + secs;
    char buf[4096], seen[8192] = "";
    struct pollfd p = {fd, POLLIN, 0};

    while (sv_now_s() < end) {
        ssize_t n;

        if (poll(&p, 1, 200) <= 0)
            continue;
        n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        if (strncmp(buf, want, strlen(want)) == 0 || strstr(buf, want) != NULL)
            return;
        strncat(seen, buf, sizeof(seen) - strlen(seen) - 2);
        strcat(seen, "|");
    }
    fail_msg("no %s on the notify socket; got: %s", want, seen);
}

/* With NOTIFY_SOCKET, the service says READY=1 once it serves; with
 * WATCHDOG_USEC, it pings WATCHDOG=1 from its loop, again and again;
 * STOPPING=1 when it drains. */
static void service_notifies_systemd(void **state)
{
    sv_fx_t *f = *state;
    char path[600];
    int fd;

    sv_cli_ok(f, "account add ACME --name 'Acme Records'");
    fd = notify_socket(f, path, sizeof(path));
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "400000", 1); /* a ping every 200 ms */
    sv_start(f);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    wait_notify(fd, "READY=1", DEADLINE_S);
    for (int i = 0; i < 3; i++)
        wait_notify(fd, "WATCHDOG=1", DEADLINE_S);
    assert_int_equal(kill(f->pid, SIGTERM), 0);
    wait_notify(fd, "STOPPING=1", DEADLINE_S);
    assert_int_equal(sv_reap(f, PAGE_TIMEOUT + 10), 0);
    close(fd);
}

/* ---- CSV exports ---- */

/* The current UTC month, YYYY-MM, and its first day. */
static void this_month(char month[16], char first[16])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(month, 16, "%Y-%m", &tm);
    strftime(first, 16, "%Y-%m-01", &tm);
}

/* An account named "=1+2" with the account number "@SUM(1+1)": the
 * accounting export writes them as text ('-prefixed and quoted, as OWASP
 * recommends); the billing report keeps its numbers, negative ones
 * (a credit) too, as numbers. */
static void csv_exports_never_hold_a_formula(void **state)
{
    sv_fx_t *f = *state;
    char month[16], first[16], args[700], path[700], *csv;
    long long id;

    this_month(month, first);
    sv_cli_ok(f, "account add ACME --name '=1+2' --number '@SUM(1+1)'");
    snprintf(args, sizeof(args), "fee add STD --price 0.05 --effective %s",
             first);
    sv_cli_ok(f, args);
    sv_cli_ok(f, "workorder add WO-1 --account ACME --fee-code STD");
    sv_start(f);
    drop_batch(f, "WO-1_csv");
    id = sv_wait_job(f, "WO-1_csv", "done", DEADLINE_S);
    assert_int_equal(sv_stop(f, SIGTERM, PAGE_TIMEOUT + 10), 0);
    snprintf(args, sizeof(args),
             "billing adjust %lld --pages -1 --reason '=cmd|x'", id);
    sv_cli_ok(f, args);

    snprintf(args, sizeof(args), "billing invoice --month %s --out '%s'", month,
             f->root);
    sv_cli_ok(f, args);
    snprintf(path, sizeof(path), "%s/export-%s.csv", f->root, month);
    csv = t_slurp(path);
    assert_contains(csv, ",\"'@SUM(1+1)\",ACME,\"'=1+2\",");
    assert_null(strstr(csv, ",=1+2"));
    assert_null(strstr(csv, ",@SUM"));
    pm_free(csv);

    snprintf(args, sizeof(args), "billing report --month %s --format csv",
             month);
    csv = sv_cli_text(f, args);
    assert_contains(csv, ",STD,0,0,-1,0.05000,-0.05,credit for job");
    assert_null(strstr(csv, "'-"));
    free(csv);
}

/* ---- help and the man page ---- */

/* docs/pagemill.1 as plain text: roff's \- as -, font changes gone. */
static char *man_text(void)
{
    char *t = t_slurp(PM_SOURCE_DIR "/docs/pagemill.1"), *d = t;

    assert_non_null(t);
    for (const char *s = t; *s; s++) {
        if (s[0] == '\\' && s[1] == '-') {
            *d++ = '-';
            s++;
        } else if (s[0] == '\\' && s[1] == 'f' && s[2] != '\0') {
            s += 2;
        } else {
            *d++ = *s;
        }
    }
    *d = '\0';
    return t;
}

/* `pagemill ARGS`, which must exit 0 with its text on stdout (new
 * string). */
static char *help_of(const char *args)
{
    char *out = NULL;
    int rc = t_run(&out, "'%s' %s 2>/dev/null", PM_BINARY, args);

    if (rc != 0 || out == NULL || out[0] == '\0')
        fail_msg("pagemill %s: exit %d, no help on stdout", args, rc);
    return out;
}

/* Every --option `help` names is in `man`; `what` names the command. */
static void options_in_man(const char *man, const char *help, const char *what)
{
    char opt[64];

    for (const char *p = strstr(help, "--"); p; p = strstr(p + 2, "--")) {
        size_t n = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");

        if (n == 2 || n >= sizeof(opt) ||
            (p > help && p[-1] != ' ' && p[-1] != '[' && p[-1] != '('))
            continue;
        memcpy(opt, p, n);
        opt[n] = '\0';
        if (strstr(man, opt) == NULL)
            fail_msg("docs/pagemill.1 lacks %s (pagemill %s --help)", opt,
                     what);
    }
}

/* One command of `pagemill --help`: it and `help` answer alike, and every
 * subcommand its group usage lists does too; every one, and each of
 * their options, is in the man page. */
static void check_command(const char *man, const char *cmd)
{
    char args[256], *help, *again;
    const char *p;

    snprintf(args, sizeof(args), "%s --help", cmd);
    help = help_of(args);
    snprintf(args, sizeof(args), "help %s", cmd);
    again = help_of(args);
    assert_string_equal(help, again);
    free(again);
    snprintf(args, sizeof(args), "\n.SS \"%s", cmd);
    if (strstr(man, args) == NULL)
        fail_msg("docs/pagemill.1 has no section for %s", cmd);
    options_in_man(man, help, cmd);
    for (p = strstr(help, "\n  pagemill "); p != NULL;
         p = strstr(p + 1, "\n  pagemill ")) {
        char sub[256];
        size_t n = strcspn(p + 12, " \n");
        size_t m = strcspn(p + 12 + n + 1, " \n");

        snprintf(sub, sizeof(sub), "%.*s", (int)(n + 1 + m), p + 12);
        check_command(man, sub);
    }
    free(help);
}

/* Every command `pagemill --help` lists answers --help (stdout, exit 0)
 * and `pagemill help COMMAND` alike, and the man page has every command,
 * subcommand and option. */
static void man_page_has_every_command_and_option(void **state)
{
    char *man = man_text(), *usage = help_of("--help"), *p, *end;

    (void)state;
    options_in_man(man, usage, "");
    p = strstr(usage, "commands:\n");
    assert_non_null(p);
    end = strstr(p, "\n\n");
    assert_non_null(end);
    for (p = strchr(p, '\n'); p != NULL && p < end; p = strchr(p + 1, '\n')) {
        char cmd[64];
        size_t n = strcspn(p + 3, "\n");
        const char *gap = strstr(p + 3, "  ");

        if (strncmp(p, "\n  ", 3) != 0 || gap == NULL)
            continue;
        n = (size_t)(gap - (p + 3));
        snprintf(cmd, sizeof(cmd), "%.*s", (int)n, p + 3);
        if (strcmp(cmd, "help") == 0)
            continue; /* `help --help` is `help` of the command --help */
        check_command(man, cmd);
    }
    free(usage);
    pm_free(man);
}

/* ---- install ---- */

/* `cmake --install` into a DESTDIR: the binary, the man page, the unit,
 * the documentation, and the sample configuration as pagemill.ini, never
 * over one that is there. The unit asks for what a long-running service
 * needs and passes systemd-analyze verify when that is installed. */
static void install_lays_out_every_file(void **state)
{
    const char *root = *state; /* t_tmpdir_setup's folder */
    char dest[600], ini[900], unit[900], *text, *sample, *out = NULL;
    const char *const files[] = {
        PM_INSTALL_BINDIR "/pagemill",
        PM_INSTALL_MANDIR "/man1/pagemill.1",
        PM_UNIT_DIR "/pagemill.service",
        PM_CONFIG_DIR "/pagemill.ini",
        PM_INSTALL_PREFIX "/share/doc/pagemill/operations.md",
        PM_INSTALL_PREFIX "/share/doc/pagemill/pagemill.ini.sample",
    };
    const char *const directives[] = {
        "Type=notify\n",
        "User=pagemill\n",
        "NoNewPrivileges=yes\n",
        "ProtectSystem=strict\n",
        "ReadWritePaths=",
        "ProtectHome=yes\n",
        "PrivateTmp=yes\n",
        "MemoryMax=",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID\n",
        "TimeoutStopSec=",
        "ExecStart=" PM_INSTALL_BINDIR "/pagemill serve --config " PM_CONFIG_DIR
        "/pagemill.ini\n",
    };

    snprintf(dest, sizeof(dest), "%s/root", root);
    assert_int_equal(t_run(NULL, "DESTDIR='%s' '%s' --install '%s' >/dev/null",
                           dest, PM_CMAKE, PM_BUILD_DIR),
                     0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(ini, sizeof(ini), "%s%s", dest, files[i]);
        if (!t_exists(ini))
            fail_msg("cmake --install did not install %s", files[i]);
    }
    assert_int_equal(t_run(NULL, "'%s%s/pagemill' version >/dev/null", dest,
                           PM_INSTALL_BINDIR),
                     0);
    snprintf(ini, sizeof(ini), "%s%s/pagemill.ini", dest, PM_CONFIG_DIR);
    text = t_slurp(ini);
    sample = t_slurp(PM_SOURCE_DIR "/config/pagemill.ini.sample");
    assert_string_equal(text, sample);
    pm_free(text);
    pm_free(sample);

    /* an edited configuration survives the next install */
    sv_write_text(ini, "[pagemill]\nworkers = 1\n");
    assert_int_equal(t_run(NULL, "DESTDIR='%s' '%s' --install '%s' >/dev/null",
                           dest, PM_CMAKE, PM_BUILD_DIR),
                     0);
    text = t_slurp(ini);
    assert_string_equal(text, "[pagemill]\nworkers = 1\n");
    pm_free(text);

    snprintf(unit, sizeof(unit), "%s%s/pagemill.service", dest, PM_UNIT_DIR);
    text = t_slurp(unit);
    for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
        assert_contains(text, directives[i]);
    pm_free(text);
    if (t_run(NULL, "command -v systemd-analyze >/dev/null") != 0) {
        print_message("systemd-analyze is not installed: unit not verified\n");
        return;
    }
    /* verify wants the commands and the man page where the unit says:
     * point them into the DESTDIR */
    snprintf(ini, sizeof(ini), "%s/pagemill.service", root);
    assert_int_equal(
        t_run(NULL, "sed 's|%s/pagemill|%s%s/pagemill|g' '%s' >'%s'",
              PM_INSTALL_BINDIR, dest, PM_INSTALL_BINDIR, unit, ini),
        0);
    assert_int_equal(t_run(&out,
                           "MANPATH='%s%s' systemd-analyze verify '%s' 2>&1",
                           dest, PM_INSTALL_MANDIR, ini),
                     0);
    if (out[0] != '\0')
        fail_msg("systemd-analyze verify: %s", out);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(backup_while_serving, setup, teardown),
        cmocka_unit_test_setup_teardown(backup_of_a_missing_catalog_names_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            backup_of_a_postgresql_catalog_says_use_pg_dump, setup, teardown),
        cmocka_unit_test_setup_teardown(
            migrating_keeps_a_backup_of_the_old_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(
            newer_catalog_is_refused_with_what_to_do, setup, teardown),
        cmocka_unit_test_setup_teardown(config_paths_are_relative_to_its_folder,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(journal_lines_carry_priorities, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(service_logs_to_the_journal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(service_notifies_systemd, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(csv_exports_never_hold_a_formula, setup,
                                        teardown),
        cmocka_unit_test(man_page_has_every_command_and_option),
        cmocka_unit_test_setup_teardown(install_lays_out_every_file,
                                        t_tmpdir_setup, t_tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
