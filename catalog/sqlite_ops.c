/*
 * sqlite_ops.c: the SQLite backend's table of operations (catalog_int.h),
 * which catalog.c dispatches to. SQLite implements every one.
 */
#include "catalog/catalog_int.h"
#include "catalog/sqlite_int.h"

#define SQLITE_OP(name, params, args) .name = pm__sqlite_##name,

const pm__catalog_ops_t pm__sqlite_ops = {.name = "SQLite",
                                          .close = pm__sqlite_close,
                                          .errmsg = pm__sqlite_errmsg,
                                          .set_msg = pm__catalog_set_msg,
                                          .interrupt = pm__sqlite_interrupt,
                                          PM__CATALOG_OPS(SQLITE_OP)};
