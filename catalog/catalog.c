/*
 * catalog.c: the public catalog functions (catalog.h, monitor.h) for
 * every backend. pm_catalog_open picks the backend by what it is given (a
 * postgresql:// URL, else an SQLite file); every other function calls the
 * operation of the handle's backend (catalog_int.h), whose table is the
 * first member of every handle. An operation a backend does not have yet
 * fails with PM_EUNSUPP and says so, never silently.
 */
#include "catalog/catalog.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "catalog/monitor.h"
#include "pipeline/base/pm.h"

/* The handle's backend: the first member of every handle's struct. */
static inline const pm__catalog_ops_t *ops_of(const pm_catalog_t *cat)
{
    return *(const pm__catalog_ops_t *const *)(const void *)cat;
}

int pm_catalog_is_url(const char *s)
{
    return strncmp(s, "postgresql://", 13) == 0 ||
           strncmp(s, "postgres://", 11) == 0;
}

const char *pm_catalog_shown(const char *url_or_path, char *buf, size_t size)
{
    const char *url = url_or_path, *at, *scheme, *colon;

    assert(buf != NULL && size > 0);
    snprintf(buf, size, "%s", url);
    if (!pm_catalog_is_url(url) || (at = strrchr(url, '@')) == NULL ||
        (scheme = strstr(url, "://")) == NULL || scheme > at)
        return buf;
    colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
    if (colon != NULL)
        snprintf(buf, size, "%.*s:***%s", (int)(colon - url), url, at);
    return buf;
}

int pm_catalog_open(const char *url_or_path, pm_catalog_t **out)
{
    *out = NULL;
    if (url_or_path == NULL)
        return PM_EINVAL;
    if (pm_catalog_is_url(url_or_path))
        return pm__pg_open(url_or_path, out);
    return pm__sqlite_open(url_or_path, out);
}

void pm_catalog_close(pm_catalog_t *cat)
{
    if (cat != NULL)
        ops_of(cat)->close(cat);
}

const char *pm_catalog_errmsg(const pm_catalog_t *cat)
{
    if (cat == NULL)
        return "no catalog";
    return ops_of(cat)->errmsg(cat);
}

/* Names the first operation `ops` leaves NULL, or NULL. */
#define MISSING(name, params, args) \
    if (ops->name == NULL)          \
        return "pm_" #name;

static const char *first_missing(const pm__catalog_ops_t *ops)
{
    PM__CATALOG_OPS(MISSING)
    return NULL;
}

const char *pm_catalog_backend_missing(const char *url_or_path)
{
    return first_missing(pm_catalog_is_url(url_or_path) ? &pm__pg_ops
                                                        : &pm__sqlite_ops);
}

const char *pm_catalog_backend_name(const pm_catalog_t *cat)
{
    return ops_of(cat)->name;
}

/* PM_EUNSUPP, with a message naming the backend and the function. */
static int unimplemented(pm_catalog_t *cat, const char *fn)
{
    const pm__catalog_ops_t *ops = ops_of(cat);
    char msg[160];

    snprintf(msg, sizeof(msg), "the %s backend does not yet implement %s",
             ops->name, fn);
    return ops->set_msg(cat, PM_EUNSUPP, msg);
}

/* pm_<name>: the handle's backend's operation. */
#define DISPATCH(name, params, args)                \
    int pm_##name params                            \
    {                                               \
        const pm__catalog_ops_t *ops = ops_of(cat); \
                                                    \
        if (ops->name == NULL)                      \
            return unimplemented(cat, "pm_" #name); \
        return ops->name args;                      \
    }

PM__CATALOG_OPS(DISPATCH)

int pm_queue_listen(pm_catalog_t *cat, int *fd)
{
    *fd = -1;
    if (ops_of(cat)->queue_listen == NULL)
        return unimplemented(cat, "pm_queue_listen");
    return ops_of(cat)->queue_listen(cat, fd);
}

int pm_queue_woken(pm_catalog_t *cat, int *n)
{
    *n = 0;
    if (ops_of(cat)->queue_woken == NULL)
        return unimplemented(cat, "pm_queue_woken");
    return ops_of(cat)->queue_woken(cat, n);
}

int pm_catalog_connected(pm_catalog_t *cat)
{
    if (ops_of(cat)->catalog_connected == NULL)
        return 1;
    return ops_of(cat)->catalog_connected(cat);
}

void pm_catalog_answer_within(pm_catalog_t *cat, unsigned ms)
{
    if (ops_of(cat)->answer_within != NULL)
        ops_of(cat)->answer_within(cat, ms);
}

void pm_catalog_interrupt(pm_catalog_t *cat)
{
    if (cat != NULL && ops_of(cat)->interrupt != NULL)
        ops_of(cat)->interrupt(cat);
}
