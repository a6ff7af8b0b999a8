/*
 * pg_wake.c: LISTEN/NOTIFY for the node agents (pm_queue_listen,
 * pm_queue_woken) and the connection's health (pm_catalog_connected).
 * pg_jobs.c announces claimable pages on PM__PG_WAKE_CHANNEL inside the
 * transaction that makes them claimable, so the announcement goes out
 * only when they are.
 */
#include <libpq-fe.h>

#include "catalog/pg_int.h"
#include "pipeline/base/pm.h"

int pm__pg_queue_listen(pm_catalog_t *cat, int *fd)
{
    pm__pg_t *pg = pm__pg(cat);
    int err = pm__pg_exec_text(pg, "LISTEN " PM__PG_WAKE_CHANNEL);

    if (err != 0)
        return err;
    *fd = PQsocket(pg->conn);
    if (*fd < 0)
        return pm__pg_fail(pg, NULL);
    return 0;
}

int pm__pg_queue_woken(pm_catalog_t *cat, int *n)
{
    pm__pg_t *pg = pm__pg(cat);
    PGnotify *note;

    if (PQconsumeInput(pg->conn) == 0)
        return pm__pg_fail(pg, NULL);
    while ((note = PQnotifies(pg->conn)) != NULL) {
        (*n)++;
        PQfreemem(note);
    }
    return 0;
}

int pm__pg_catalog_connected(pm_catalog_t *cat)
{
    pm__pg_t *pg = pm__pg(cat);

    return !pg->broken && PQstatus(pg->conn) == CONNECTION_OK;
}
