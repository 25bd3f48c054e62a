/* SPDX-License-Identifier: MIT */
/*
 * Results: every row copied out of the statement while it steps, so that
 * the statement can be reset (and kept in the cache) at once.
 *
 * Values read as text take PostgreSQL's forms where SQLite's would differ,
 * so that an application reads the same text on either driver: a BLOB is
 * \x followed by hex (bytea's output), 0 and 1 in a column declared
 * BOOLEAN are f and t. Typed reads use the declared type of the column
 * when it has one (INTEGER, REAL, TEXT, BLOB, BOOLEAN, TIMESTAMP,
 * DATETIME, DATE, NUMERIC), else the type of its first non-NULL value.
 * Timestamps are ISO 8601 text (UTC when no offset is written), Unix
 * seconds as an INTEGER, or a Julian day number as a REAL, as SQLite's own
 * date functions read them.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite.h"

/* The portable type a declared column type names, by SQLite's affinity
 * rules (https://sqlite.org/datatype3.html) refined for dates and bools. */
static dbr_type decl_type(const char *decl)
{
    char *d;
    dbr_type t;

    if (!decl || !*decl)
        return DBR_TYPE_UNKNOWN;
    d = g_ascii_strup(decl, -1);
    if (strstr(d, "TIMESTAMP") || strstr(d, "DATETIME"))
        t = DBR_TYPE_TIMESTAMP;
    else if (strstr(d, "DATE"))
        t = DBR_TYPE_DATE;
    else if (strstr(d, "BOOL"))
        t = DBR_TYPE_BOOL;
    else if (strstr(d, "INT"))
        t = DBR_TYPE_INT;
    else if (strstr(d, "CHAR") || strstr(d, "CLOB") || strstr(d, "TEXT"))
        t = DBR_TYPE_TEXT;
    else if (strstr(d, "BLOB") || strstr(d, "BYTEA"))
        t = DBR_TYPE_BYTES;
    else if (strstr(d, "REAL") || strstr(d, "FLOA") || strstr(d, "DOUB"))
        t = DBR_TYPE_FLOAT;
    else if (strstr(d, "NUMERIC") || strstr(d, "DECIMAL"))
        t = DBR_TYPE_NUMERIC;
    else
        t = DBR_TYPE_UNKNOWN;
    g_free(d);
    return t;
}

static dbr_type storage_type(int type)
{
    switch (type) {
    case SQLITE_INTEGER:
        return DBR_TYPE_INT;
    case SQLITE_FLOAT:
        return DBR_TYPE_FLOAT;
    case SQLITE_TEXT:
        return DBR_TYPE_TEXT;
    case SQLITE_BLOB:
        return DBR_TYPE_BYTES;
    default:
        return DBR_TYPE_UNKNOWN;
    }
}

dbr_driver_result *sq_result_new(sqlite3_stmt *stmt)
{
    dbr_driver_result *r = g_new0(dbr_driver_result, 1);

    r->ncols = stmt ? sqlite3_column_count(stmt) : 0;
    r->colnames = g_new0(char *, r->ncols + 1);
    r->coltypes = g_new0(dbr_type, r->ncols + 1);
    r->cells = g_array_new(FALSE, TRUE, sizeof(sq_cell));
    r->strings = g_string_chunk_new(256);
    r->affected = -1;
    for (int c = 0; c < r->ncols; c++) {
        const char *name = sqlite3_column_name(stmt, c);

        r->colnames[c] = g_string_chunk_insert(r->strings, name ? name : "?column?");
        r->coltypes[c] = decl_type(sqlite3_column_decltype(stmt, c));
    }
    return r;
}

void sq_result_add_row(dbr_driver_result *r, sqlite3_stmt *stmt)
{
    for (int c = 0; c < r->ncols; c++) {
        sq_cell cell = {.type = sqlite3_column_type(stmt, c)};
        char buf[G_ASCII_DTOSTR_BUF_SIZE];

        switch (cell.type) {
        case SQLITE_INTEGER:
            cell.v.i = sqlite3_column_int64(stmt, c);
            if (r->coltypes[c] == DBR_TYPE_BOOL && (cell.v.i == 0 || cell.v.i == 1))
                g_strlcpy(buf, cell.v.i ? "t" : "f", sizeof(buf));
            else
                g_snprintf(buf, sizeof(buf), "%lld", (long long)cell.v.i);
            cell.text = g_string_chunk_insert(r->strings, buf);
            break;
        case SQLITE_FLOAT:
            cell.v.d = sqlite3_column_double(stmt, c);
            if (isnan(cell.v.d))
                g_strlcpy(buf, "NaN", sizeof(buf));
            else if (isinf(cell.v.d))
                g_strlcpy(buf, cell.v.d > 0 ? "Infinity" : "-Infinity", sizeof(buf));
            else
                g_ascii_dtostr(buf, sizeof(buf), cell.v.d);
            cell.text = g_string_chunk_insert(r->strings, buf);
            break;
        case SQLITE_TEXT:
            cell.len = sqlite3_column_bytes(stmt, c);
            cell.text = g_string_chunk_insert_len(
                r->strings, (const char *)sqlite3_column_text(stmt, c), cell.len);
            break;
        case SQLITE_BLOB: {
            const unsigned char *b = sqlite3_column_blob(stmt, c);
            GString *hex;

            cell.len = sqlite3_column_bytes(stmt, c);
            cell.blob = g_string_chunk_insert_len(r->strings, b ? (const char *)b : "", cell.len);
            hex = g_string_sized_new(2 + 2 * (gsize)cell.len);
            g_string_append(hex, "\\x");
            for (int i = 0; i < cell.len; i++)
                g_string_append_printf(hex, "%02x", b[i]);
            cell.text = g_string_chunk_insert_len(r->strings, hex->str, (gssize)hex->len);
            g_string_free(hex, TRUE);
            break;
        }
        default:
            cell.type = SQLITE_NULL;
            break;
        }
        if (r->coltypes[c] == DBR_TYPE_UNKNOWN && cell.type != SQLITE_NULL &&
            !sqlite3_column_decltype(stmt, c))
            r->coltypes[c] = storage_type(cell.type);
        g_array_append_val(r->cells, cell);
    }
    r->nrows++;
}

static const sq_cell *cell_at(const dbr_driver_result *r, int row, int col)
{
    if (!r || row < 0 || col < 0 || row >= r->nrows || col >= r->ncols)
        return NULL;
    return &g_array_index(r->cells, sq_cell, (gsize)row * (gsize)r->ncols + (gsize)col);
}

int sq_result_nrows(const dbr_driver_result *r)
{
    return r ? r->nrows : 0;
}

int sq_result_ncols(const dbr_driver_result *r)
{
    return r ? r->ncols : 0;
}

const char *sq_result_colname(const dbr_driver_result *r, int col)
{
    return r && col >= 0 && col < r->ncols ? r->colnames[col] : NULL;
}

const char *sq_result_value(const dbr_driver_result *r, int row, int col)
{
    const sq_cell *c = cell_at(r, row, col);

    return c ? c->text : NULL;
}

long long sq_result_affected(const dbr_driver_result *r)
{
    return r ? r->affected : -1;
}

void sq_result_free(dbr_driver_result *r)
{
    if (!r)
        return;
    g_free(r->colnames);
    g_free(r->coltypes);
    g_array_free(r->cells, TRUE);
    g_string_chunk_free(r->strings);
    g_free(r);
}

dbr_type sq_result_coltype(const dbr_driver_result *r, int col)
{
    return r && col >= 0 && col < r->ncols ? r->coltypes[col] : DBR_TYPE_UNKNOWN;
}

static bool why(char *buf, int len, const char *fmt, const char *arg)
{
    if (buf && len > 0)
        g_snprintf(buf, (gulong)len, fmt, arg);
    return false;
}

static bool text_int64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE)
        return false;
    *out = v;
    return true;
}

/* ISO 8601 text ("2026-11-30 12:00:00", "...T12:00:00.5+01:00", a date
 * alone) as microseconds since the epoch, UTC when no offset is given. */
static bool text_time(const char *s, int64_t *out)
{
    char *iso;
    GDateTime *dt;
    GTimeZone *utc = g_time_zone_new_utc();

    if (strlen(s) == 10)
        iso = g_strdup_printf("%sT00:00:00", s);
    else
        iso = g_strdup(s);
    if (strlen(iso) > 10 && iso[10] == ' ')
        iso[10] = 'T';
    dt = g_date_time_new_from_iso8601(iso, utc);
    g_free(iso);
    g_time_zone_unref(utc);
    if (!dt)
        return false;
    *out = g_date_time_to_unix(dt) * G_USEC_PER_SEC + g_date_time_get_microsecond(dt);
    g_date_time_unref(dt);
    return true;
}

bool sq_result_get(const dbr_driver_result *r, int row, int col, dbr_type as, dbr_value *out,
                   char *why_buf, int why_len)
{
    const sq_cell *c = cell_at(r, row, col);

    if (!c)
        return why(why_buf, why_len, "%s", "row or column out of range");
    if (c->type == SQLITE_NULL)
        return why(why_buf, why_len, "%s", "the value is NULL");
    switch (as) {
    case DBR_TYPE_INT:
        if (c->type == SQLITE_INTEGER)
            return out->i = c->v.i, true;
        if (c->type == SQLITE_FLOAT) {
            if (c->v.d == floor(c->v.d) && c->v.d >= -9223372036854775808.0 &&
                c->v.d < 9223372036854775808.0)
                return out->i = (int64_t)c->v.d, true;
            return why(why_buf, why_len, "%s",
                       "a float value that is not an integer in range of int64");
        }
        if (c->type == SQLITE_TEXT && text_int64(c->text, &out->i))
            return true;
        return why(why_buf, why_len, "%s", "the value is not an integer in range of int64");
    case DBR_TYPE_FLOAT:
    case DBR_TYPE_NUMERIC:
        if (c->type == SQLITE_FLOAT)
            return out->d = c->v.d, true;
        if (c->type == SQLITE_INTEGER)
            return out->d = (double)c->v.i, true;
        if (c->type == SQLITE_TEXT) {
            char *end;

            out->d = g_ascii_strtod(c->text, &end);
            if (end != c->text && !*end)
                return true;
        }
        return why(why_buf, why_len, "%s", "the value is not a number");
    case DBR_TYPE_BOOL:
        if (c->type == SQLITE_INTEGER && (c->v.i == 0 || c->v.i == 1))
            return out->b = c->v.i == 1, true;
        if (c->type == SQLITE_TEXT) {
            if (!strcmp(c->text, "t") || !g_ascii_strcasecmp(c->text, "true") ||
                !strcmp(c->text, "1"))
                return out->b = true, true;
            if (!strcmp(c->text, "f") || !g_ascii_strcasecmp(c->text, "false") ||
                !strcmp(c->text, "0"))
                return out->b = false, true;
        }
        return why(why_buf, why_len, "%s", "the value is not a boolean (0, 1, t, f, true, false)");
    case DBR_TYPE_BYTES:
    case DBR_TYPE_TEXT:
    case DBR_TYPE_UNKNOWN:
        if (c->type == SQLITE_BLOB) {
            out->bytes.data = c->blob;
            out->bytes.len = (size_t)c->len;
        } else {
            out->bytes.data = c->text;
            out->bytes.len = strlen(c->text);
        }
        return true;
    case DBR_TYPE_TIMESTAMP:
    case DBR_TYPE_DATE:
        if (c->type == SQLITE_INTEGER) {
            if (c->v.i > INT64_MAX / G_USEC_PER_SEC || c->v.i < INT64_MIN / G_USEC_PER_SEC)
                return why(why_buf, why_len, "%s", "Unix time out of range");
            return out->us = c->v.i * G_USEC_PER_SEC, true;
        }
        if (c->type == SQLITE_FLOAT) /* a Julian day number */
            return out->us = (int64_t)llround((c->v.d - 2440587.5) * 86400.0 * 1e6), true;
        if (c->type == SQLITE_TEXT && text_time(c->text, &out->us))
            return true;
        return why(why_buf, why_len, "%s", "the value is not an ISO 8601 date or time");
    }
    return why(why_buf, why_len, "%s", "unknown type");
}
