/* SPDX-License-Identifier: MIT */
/*
 * Typed results: column lookup by name, the null test, and getters that
 * convert through the driver's result_coltype and result_get slots
 * (DBR_CAP_TYPED). Every failure names the getter, the row, the column (its
 * name and index), the column's type and why, never the value: values may
 * be personal data, and errors are logged.
 */
#include <glib.h>
#include <string.h>

#include "db.h"

#define HAS_TYPED(drv)                                                                             \
    (DBR_OPS_HAS(struct dbr_driver_ops, (drv), result_coltype) &&                                  \
     DBR_OPS_HAS(struct dbr_driver_ops, (drv), result_get))

const char *dbr_type_name(dbr_type type)
{
    static const char *const names[] = {
        [DBR_TYPE_UNKNOWN] = "unknown", [DBR_TYPE_TEXT] = "text",
        [DBR_TYPE_INT] = "int",         [DBR_TYPE_FLOAT] = "float",
        [DBR_TYPE_NUMERIC] = "numeric", [DBR_TYPE_BOOL] = "bool",
        [DBR_TYPE_BYTES] = "bytes",     [DBR_TYPE_TIMESTAMP] = "timestamp",
        [DBR_TYPE_DATE] = "date",
    };

    return (unsigned)type < G_N_ELEMENTS(names) ? names[type] : "unknown";
}

dbr_type dbr_result_coltype(const dbr_result *r, int col)
{
    if (!r || !HAS_TYPED(r->drv) || col < 0 || col >= r->drv->result_ncols(r->res))
        return DBR_TYPE_UNKNOWN;
    return r->drv->result_coltype(r->res, col);
}

int dbr_result_column(const dbr_result *r, const char *name)
{
    int n;

    if (!r || !name)
        return -1;
    n = r->drv->result_ncols(r->res);
    for (int col = 0; col < n; col++) {
        const char *c = r->drv->result_colname(r->res, col);

        if (c && strcmp(c, name) == 0)
            return col;
    }
    return -1;
}

bool dbr_result_isnull(const dbr_result *r, int row, int col)
{
    if (!r || row < 0 || col < 0 || row >= r->drv->result_nrows(r->res) ||
        col >= r->drv->result_ncols(r->res))
        return true;
    return r->drv->result_value(r->res, row, col) == NULL;
}

/* The cell's coordinates and type, for a message: row 3, column 1 ("price", numeric). */
static char *where(const dbr_result *r, int row, int col)
{
    const char *name = r->drv->result_colname(r->res, col);

    return g_strdup_printf("row %d, column %d (%s, %s)", row, col, dbr_quote(name ? name : "").text,
                           dbr_type_name(r->drv->result_coltype(r->res, col)));
}

static bool get(const char *fn, const dbr_result *r, int row, int col, const void *out, dbr_type as,
                dbr_value *v, dbr_error **err)
{
    char why[192];
    char *at;
    int nrows, ncols;

    if (!r || !out)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: %s is NULL", fn,
                             !r ? "the result" : "the output pointer");
    if (!HAS_TYPED(r->drv)) {
        dbr_error *e = dbr_error_new(DBR_ERR_UNSUPPORTED, "core",
                                     "%s: the driver has no typed results (capability typed)", fn);

        dbr_error_set_phase(e, DBR_PHASE_BEFORE_SEND);
        return dbr_error_propagate(err, e);
    }
    nrows = r->drv->result_nrows(r->res);
    ncols = r->drv->result_ncols(r->res);
    if (row < 0 || row >= nrows)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: row %d is out of range (the result has %d row%s)", fn, row, nrows,
                             nrows == 1 ? "" : "s");
    if (col < 0 || col >= ncols)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core",
                             "%s: column %d is out of range (the result has %d column%s)", fn, col,
                             ncols, ncols == 1 ? "" : "s");
    if (r->drv->result_value(r->res, row, col) == NULL) {
        at = where(r, row, col);
        dbr_set_error(err, DBR_ERR_MISUSE, "core",
                      "%s: %s is NULL (test it with dbr_result_isnull first)", fn, at);
        g_free(at);
        return false;
    }
    why[0] = '\0';
    if (r->drv->result_get(r->res, row, col, as, v, why, (int)sizeof(why)))
        return true;
    at = where(r, row, col);
    dbr_set_error(err, DBR_ERR_MISUSE, "core", "%s: %s: %s", fn, at,
                  *why ? why : "the driver cannot convert it");
    g_free(at);
    return false;
}

bool dbr_result_int64(const dbr_result *r, int row, int col, int64_t *out, dbr_error **err)
{
    dbr_value v;

    if (!get("dbr_result_int64", r, row, col, out, DBR_TYPE_INT, &v, err))
        return false;
    *out = v.i;
    return true;
}

bool dbr_result_double(const dbr_result *r, int row, int col, double *out, dbr_error **err)
{
    dbr_value v;

    if (!get("dbr_result_double", r, row, col, out, DBR_TYPE_FLOAT, &v, err))
        return false;
    *out = v.d;
    return true;
}

bool dbr_result_bool(const dbr_result *r, int row, int col, bool *out, dbr_error **err)
{
    dbr_value v;

    if (!get("dbr_result_bool", r, row, col, out, DBR_TYPE_BOOL, &v, err))
        return false;
    *out = v.b;
    return true;
}

bool dbr_result_bytes(const dbr_result *r, int row, int col, const void **data, size_t *len,
                      dbr_error **err)
{
    dbr_value v;

    if (data && !len)
        return dbr_set_error(err, DBR_ERR_MISUSE, "core", "dbr_result_bytes: len is NULL");
    if (!get("dbr_result_bytes", r, row, col, data, DBR_TYPE_BYTES, &v, err))
        return false;
    *data = v.bytes.data;
    *len = v.bytes.len;
    return true;
}

bool dbr_result_timestamp_us(const dbr_result *r, int row, int col, int64_t *out, dbr_error **err)
{
    dbr_value v;

    if (!get("dbr_result_timestamp_us", r, row, col, out, DBR_TYPE_TIMESTAMP, &v, err))
        return false;
    *out = v.us;
    return true;
}
