/* SPDX-License-Identifier: MIT */
/*
 * Results: a thin handle over the driver's own result, so reading a value
 * copies nothing. Out-of-range access gives NULL or 0, never a crash.
 */
#include <glib.h>

#include "db.h"

dbr_result *dbr_result_wrap(const dbr_db *db, dbr_driver_result *res)
{
    dbr_result *r = g_new(dbr_result, 1);

    r->drv = db->drv;
    r->res = res;
    /* The result may outlive the db: it keeps the driver mapped. */
    r->module = dbr_loader_hold(db->driver_mod.ref);
    return r;
}

int dbr_result_nrows(const dbr_result *r)
{
    return r ? r->drv->result_nrows(r->res) : 0;
}

int dbr_result_ncols(const dbr_result *r)
{
    return r ? r->drv->result_ncols(r->res) : 0;
}

const char *dbr_result_colname(const dbr_result *r, int col)
{
    if (!r || col < 0 || col >= r->drv->result_ncols(r->res))
        return NULL;
    return r->drv->result_colname(r->res, col);
}

const char *dbr_result_value(const dbr_result *r, int row, int col)
{
    if (!r || row < 0 || col < 0 || row >= r->drv->result_nrows(r->res) ||
        col >= r->drv->result_ncols(r->res))
        return NULL;
    return r->drv->result_value(r->res, row, col);
}

long long dbr_result_affected(const dbr_result *r)
{
    return r ? r->drv->result_affected(r->res) : -1;
}

void dbr_result_free(dbr_result *r)
{
    if (!r)
        return;
    r->drv->result_free(r->res);
    dbr_loader_release(r->module);
    g_free(r);
}
