/*
 * fuzz_proto.c: libFuzzer driver for the worker protocol (JSON lines, both
 * directions). Every message the parser accepts is serialised again and
 * must parse to the same type: a result a worker wrote is what the
 * coordinator reads.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "pipeline/base/pm.h"
#include "pipeline/base/proto.h"

static char *reserialise(const pm_proto_msg_t *m)
{
    switch (m->type) {
    case PM_MSG_PAGE:
        return pm_proto_page_task(m->task, &m->page, &m->profile);
    case PM_MSG_ASSEMBLE:
        return pm_proto_assemble_task(m->task, &m->doc, m->spool, m->npages,
                                      &m->profile);
    case PM_MSG_READY:
        return pm_proto_ready(m->pid);
    case PM_MSG_QUIT:
        return pm_proto_quit();
    case PM_MSG_WARM:
        return pm_proto_warm(m->warm);
    case PM_MSG_PAGE_RESULT:
        return pm_proto_page_result(m->task, &m->result);
    case PM_MSG_DOC_RESULT:
        return pm_proto_doc_result(m->task, &m->doc_result);
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pm_proto_msg_t m, again;
    char err[256];
    char *line;

    if (pm_proto_parse((const char *)data, size, &m, err, sizeof(err)) != 0)
        return 0;
    line = reserialise(&m);
    if (line != NULL) {
        int rc = pm_proto_parse(line, strlen(line), &again, err, sizeof(err));

        assert(rc == 0 && again.type == m.type);
        (void)rc;
        pm_proto_msg_cleanup(&again);
        pm_free(line);
    }
    pm_proto_msg_cleanup(&m);
    return 0;
}
