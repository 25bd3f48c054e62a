/* SPDX-License-Identifier: MIT */
/* What the db's driver can do: each capability is a set of optional slots. */
#include "db.h"

#define HAS(member) DBR_OPS_HAS(struct dbr_driver_ops, drv, member)

bool dbr_supports(const dbr_db *db, dbr_capability cap)
{
    const struct dbr_driver_ops *drv;

    if (!db || !db->drv)
        return false;
    drv = db->drv;
    switch (cap) {
    case DBR_CAP_PREPARE:
        return HAS(prepare);
    case DBR_CAP_TYPED:
        return HAS(result_coltype) && HAS(result_get);
    case DBR_CAP_PIPELINE:
        return HAS(exec_batch);
    case DBR_CAP_STREAM:
        return HAS(exec_stream);
    case DBR_CAP_COPY:
        return HAS(copy_from) && HAS(copy_to);
    case DBR_CAP_LISTEN:
        return HAS(listen) && HAS(notify_wait);
    case DBR_CAP_ADVISORY_LOCK:
        return HAS(xact_lock);
    case DBR_CAP_COMMIT_TRACKING:
        return HAS(commit_tracked) && HAS(xact_status);
    case DBR_CAP_SESSION_RESET:
        return HAS(session_changed) && HAS(session_reset);
    case DBR_CAP_REPLICATION:
        return HAS(replication_state);
    case DBR_CAP_ARCHIVE_STATUS:
        return HAS(archive_state);
    }
    return false;
}

const char *dbr_capability_name(dbr_capability cap)
{
    static const char *const names[] = {
        [DBR_CAP_PREPARE] = "prepare",
        [DBR_CAP_TYPED] = "typed",
        [DBR_CAP_PIPELINE] = "pipeline",
        [DBR_CAP_STREAM] = "stream",
        [DBR_CAP_COPY] = "copy",
        [DBR_CAP_LISTEN] = "listen",
        [DBR_CAP_ADVISORY_LOCK] = "advisory_lock",
        [DBR_CAP_COMMIT_TRACKING] = "commit_tracking",
        [DBR_CAP_SESSION_RESET] = "session_reset",
        [DBR_CAP_REPLICATION] = "replication",
        [DBR_CAP_ARCHIVE_STATUS] = "archive_status",
    };

    if ((unsigned)cap >= sizeof(names) / sizeof(names[0]) || !names[cap])
        return "unknown";
    return names[cap];
}
