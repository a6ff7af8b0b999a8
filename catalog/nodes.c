/*
 * nodes.c: the rules of the nodes view (pm_node_list) that do not depend
 * on the backend: a lease owner's role, node name and pid, and whether a
 * node is up, stale or gone. The backends (sqlite_status.c,
 * pg_status.c) read the numbers; each row passes through pm__node_fill.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/job_rules.h"
#include "pipeline/base/pm.h"

const char *pm_node_state_name(pm_node_state_t s)
{
    static const char *const names[] = {"up", "stale", "gone"};

    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* The role an owner's prefix names ("coordinator:", "agent:" or
 * "standby:", a standby coordinator's one idle row), and
 * where the rest begins in *rest; "other" and the whole owner if neither. */
static const char *owner_role(const char *owner, const char **rest)
{
    static const char *const roles[] = {"coordinator", "agent", "standby"};

    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        size_t len = strlen(roles[i]);

        if (strncmp(owner, roles[i], len) == 0 && owner[len] == ':') {
            *rest = owner + len + 1;
            return roles[i];
        }
    }
    *rest = owner;
    return "other";
}

/* "<node>:<pid>": the node into *node (new) and the pid; a rest without a
 * numeric ":<pid>" tail is all node, pid 0. */
static int split_node(const char *rest, char **node, int *pid)
{
    const char *colon = strrchr(rest, ':');
    char *end = NULL;
    long v = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
    size_t len = strlen(rest);

    *pid = 0;
    if (colon != NULL && colon[1] != '\0' && end != NULL && *end == '\0' &&
        v > 0 && v <= 0x7fffffffL) {
        *pid = (int)v;
        len = (size_t)(colon - rest);
    }
    *node = pm_malloc(len + 1);
    if (*node == NULL)
        return PM_ENOMEM;
    memcpy(*node, rest, len);
    (*node)[len] = '\0';
    return 0;
}

static int node_fill(pm_node_info_t *n, int64_t now)
{
    const char *rest;

    if (n->owner == NULL)
        return PM_ENOMEM; /* owner is NOT NULL in the table */
    n->role = owner_role(n->owner, &rest);
    if (n->slots == 0)
        n->state = PM_NODE_GONE;
    else if (n->heartbeat < now - PM_NODE_STALE_S)
        n->state = PM_NODE_STALE;
    else
        n->state = PM_NODE_UP;
    if (n->state == PM_NODE_GONE) {
        n->heartbeat = 0;
        n->busy = 0;
        n->load1 = -1;
    }
    return split_node(rest, &n->node, &n->pid);
}

int pm__node_fill(pm_node_info_t *v, size_t n, int64_t now)
{
    int err = 0;

    assert(v != NULL || n == 0);
    for (size_t i = 0; err == 0 && i < n; i++)
        err = node_fill(&v[i], now);
    return err;
}

void pm__node_cleanup(void *item)
{
    pm_node_info_t *n = item;

    pm_free(n->owner);
    pm_free(n->node);
    memset(n, 0, sizeof(*n));
}

void pm_node_list_free(pm_node_info_t *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        pm__node_cleanup(&v[i]);
    pm_free(v);
}
