/*
 * pg_ops.c: the PostgreSQL backend's table of operations (catalog_int.h).
 * What is NULL here is not implemented yet: a call returns PM_EUNSUPP
 * naming the function, and pm_catalog_backend_missing names the first
 * one, so `serve` and `convert` refuse this backend instead of
 * half-working. docs/scaling.md has the plan.
 */
#include "catalog/catalog_int.h"
#include "catalog/pg_int.h"

const pm__catalog_ops_t pm__pg_ops = {
    .name = "PostgreSQL",
    .close = pm__pg_close,
    .errmsg = pm__pg_errmsg,
    .set_msg = pm__pg_set_msg,
    .queue_listen = pm__pg_queue_listen,
    .queue_woken = pm__pg_queue_woken,
    .catalog_connected = pm__pg_catalog_connected,
    .catalog_schema_version = pm__pg_catalog_schema_version,
    .catalog_lock_coordinator = pm__pg_catalog_lock_coordinator,
    .event_add = pm__pg_event_add,
    .event_list = pm__pg_event_list,
    .account_add = pm__pg_account_add,
    .account_get = pm__pg_account_get,
    .account_list = pm__pg_account_list,
    .workorder_add = pm__pg_workorder_add,
    .workorder_get = pm__pg_workorder_get,
    .workorder_list = pm__pg_workorder_list,
    .workorder_close = pm__pg_workorder_close,
    .job_create = pm__pg_job_create,
    .job_find_duplicate = pm__pg_job_find_duplicate,
    .job_by_source = pm__pg_job_by_source,
    .job_get = pm__pg_job_get,
    .job_list = pm__pg_job_list,
    .job_release = pm__pg_job_release,
    .job_retry = pm__pg_job_retry,
    .job_cancel = pm__pg_job_cancel,
    .job_collect_finished = pm__pg_job_collect_finished,
    .job_finish = pm__pg_job_finish,
    .job_finish_doc = pm__pg_job_finish_doc,
    .job_fail = pm__pg_job_fail,
    .task_claim = pm__pg_task_claim,
    .task_renew = pm__pg_task_renew,
    .task_complete = pm__pg_task_complete,
    .task_fail = pm__pg_task_fail,
    .task_requeue_expired = pm__pg_task_requeue_expired,
    .task_requeue_all_running = pm__pg_task_requeue_all_running,
    .task_list = pm__pg_task_list,
    .catalog_status = pm__pg_catalog_status,
    .billable_count = pm__pg_billable_count,
    .worker_report = pm__pg_worker_report,
    .worker_list = pm__pg_worker_list,
    .catalog_installation_id = pm__pg_catalog_installation_id,
    .catalog_job_count = pm__pg_catalog_job_count,
    .job_uid = pm__pg_job_uid,
};
