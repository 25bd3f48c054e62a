/* SPDX-License-Identifier: MIT */
/*
 * Results: a dbr_driver_result is the PGresult itself (text format), read
 * as text or, for the typed getters, parsed strictly from the server's text
 * output.
 *
 * Types come from the column's OID. Parsing trusts nothing: an int64 that
 * does not fit, a numeric with a fraction, a timestamp that is not in the
 * ISO DateStyle (PostgreSQL's default; the session's DateStyle is the
 * user's and is never changed here) or is infinite, all fail with a reason.
 * Values never appear in the reason: they may be personal data, and errors
 * are logged.
 *
 * A decoded bytea must live as long as its result, and a PGresult cannot
 * carry more data than libpq gave it. So decoded values are kept beside
 * the results, in a table keyed by the PGresult that pq_result_free clears
 * (only results that went through pq_result_get are in it, and the core
 * frees every result it read with pq_result_free).
 */
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pq.h"

/* Type OIDs (pg_type.dat); stable across server versions. */
enum {
    OID_BOOL = 16,
    OID_BYTEA = 17,
    OID_NAME = 19,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_BPCHAR = 1042,
    OID_VARCHAR = 1043,
    OID_DATE = 1082,
    OID_TIMESTAMP = 1114,
    OID_TIMESTAMPTZ = 1184,
    OID_NUMERIC = 1700,
};

int pq_result_nrows(const dbr_driver_result *r)
{
    return PQntuples((const PGresult *)r);
}

int pq_result_ncols(const dbr_driver_result *r)
{
    return PQnfields((const PGresult *)r);
}

const char *pq_result_colname(const dbr_driver_result *r, int col)
{
    return PQfname((const PGresult *)r, col);
}

const char *pq_result_value(const dbr_driver_result *r, int row, int col)
{
    const PGresult *res = (const PGresult *)r;

    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

long long pq_result_affected(const dbr_driver_result *r)
{
    const char *n = PQcmdTuples((PGresult *)r);

    return n && *n ? strtoll(n, NULL, 10) : -1;
}

/* Decoded byteas: PGresult -> (GHashTable: cell -> GBytes). */
static GMutex decoded_lock;
static GHashTable *decoded;
static gint ndecoded; /* atomic: results in the table, so that freeing skips the lock */

void pq_result_free(dbr_driver_result *r)
{
    if (g_atomic_int_get(&ndecoded) > 0) {
        g_mutex_lock(&decoded_lock);
        if (decoded && g_hash_table_remove(decoded, r))
            g_atomic_int_add(&ndecoded, -1);
        g_mutex_unlock(&decoded_lock);
    }
    PQclear((PGresult *)r);
}

dbr_type pq_result_coltype(const dbr_driver_result *r, int col)
{
    switch (PQftype((const PGresult *)r, col)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        return DBR_TYPE_INT;
    case OID_FLOAT4:
    case OID_FLOAT8:
        return DBR_TYPE_FLOAT;
    case OID_NUMERIC:
        return DBR_TYPE_NUMERIC;
    case OID_BOOL:
        return DBR_TYPE_BOOL;
    case OID_TEXT:
    case OID_VARCHAR:
    case OID_BPCHAR:
    case OID_NAME:
        return DBR_TYPE_TEXT;
    case OID_BYTEA:
        return DBR_TYPE_BYTES;
    case OID_TIMESTAMP:
    case OID_TIMESTAMPTZ:
        return DBR_TYPE_TIMESTAMP;
    case OID_DATE:
        return DBR_TYPE_DATE;
    default:
        return DBR_TYPE_UNKNOWN;
    }
}

/* Text the getters may parse: a type that is read as text. */
static bool textual(dbr_type t)
{
    return t == DBR_TYPE_TEXT || t == DBR_TYPE_UNKNOWN;
}

static bool fail(char *why, int why_len, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static bool fail(char *why, int why_len, const char *fmt, ...)
{
    va_list ap;

    if (why && why_len > 0) {
        va_start(ap, fmt);
        g_vsnprintf(why, (gulong)why_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* An integer, or a decimal whose fraction is all zeros ("12.000"), that
 * fits in int64: 1 yes, 0 not an integer, -1 overflow. */
static int parse_int64(const char *s, int64_t *out)
{
    bool neg = false;
    uint64_t v = 0, limit;
    const char *p = s;

    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (!g_ascii_isdigit(*p))
        return 0;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; g_ascii_isdigit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');

        if (v > (limit - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (*p == '.') {
        for (p++; *p == '0'; p++)
            ;
    }
    if (*p)
        return 0;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

/* A number as the server writes float8 and numeric ("NaN" and "Infinity"
 * included): 1, 0 not a number, -1 beyond double's range. */
static int parse_double(const char *s, double *out)
{
    char *end;
    double d;

    if (!*s || g_ascii_isspace(*s))
        return 0;
    errno = 0;
    d = g_ascii_strtod(s, &end);
    if (*end || end == s)
        return 0;
    /* An underflow keeps the nearest value; only an overflow fails. */
    if (errno == ERANGE && isinf(d))
        return -1;
    *out = d;
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* bytea's text output, hex ("\x0aff", the default) or escape (bytea_output
 * = escape: printable bytes as themselves, "\\" and "\ooo"), into a new
 * GBytes; NULL when the text is neither. */
static GBytes *bytea_decode(const char *s, size_t n)
{
    guint8 *buf;
    size_t len = 0;

    if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
        if ((n - 2) % 2)
            return NULL;
        buf = g_malloc((n - 2) / 2 + 1);
        for (size_t i = 2; i < n; i += 2) {
            int hi = hexval(s[i]), lo = hexval(s[i + 1]);

            if (hi < 0 || lo < 0) {
                g_free(buf);
                return NULL;
            }
            buf[len++] = (guint8)(hi << 4 | lo);
        }
        return g_bytes_new_take(buf, len);
    }
    buf = g_malloc(n + 1);
    for (size_t i = 0; i < n; len++) {
        if (s[i] != '\\') {
            buf[len] = (guint8)s[i++];
        } else if (i + 1 < n && s[i + 1] == '\\') {
            buf[len] = '\\';
            i += 2;
        } else if (i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
                   s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            buf[len] = (guint8)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
            i += 4;
        } else {
            g_free(buf);
            return NULL;
        }
    }
    return g_bytes_new_take(buf, len);
}

/* The decoded bytes of a cell, decoded once and kept until the result is
 * freed; NULL when the text is not a bytea. */
static GBytes *bytea_cell(const PGresult *res, int row, int col)
{
    gpointer cell = GSIZE_TO_POINTER((gsize)row * (gsize)PQnfields(res) + (gsize)col + 1);
    GHashTable *cells;
    GBytes *b;

    g_mutex_lock(&decoded_lock);
    cells = decoded ? g_hash_table_lookup(decoded, res) : NULL;
    b = cells ? g_hash_table_lookup(cells, cell) : NULL;
    g_mutex_unlock(&decoded_lock);
    if (b)
        return b;
    b = bytea_decode(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
    if (!b)
        return NULL;
    g_mutex_lock(&decoded_lock);
    if (!decoded)
        decoded = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                        (GDestroyNotify)g_hash_table_unref);
    cells = g_hash_table_lookup(decoded, res);
    if (!cells) {
        cells = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                      (GDestroyNotify)g_bytes_unref);
        g_hash_table_insert(decoded, (gpointer)res, cells);
        g_atomic_int_inc(&ndecoded);
    }
    /* Another thread reading the same cell may have been first: keep one. */
    if (g_hash_table_lookup(cells, cell)) {
        g_bytes_unref(b);
        b = g_hash_table_lookup(cells, cell);
    } else {
        g_hash_table_insert(cells, cell, b);
    }
    g_mutex_unlock(&decoded_lock);
    return b;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil), for any year. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* n digits exactly at *p, advancing it. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!g_ascii_isdigit((*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/*
 * The ISO DateStyle's output: "YYYY-MM-DD[ HH:MM:SS[.ffffff][+HH[:MM[:SS]]]][ BC]"
 * (a year may have more than four digits; a timestamp without time zone
 * has no offset and is read as UTC). 1 parsed, 0 not that form, -1 out of
 * int64's range.
 */
static int parse_iso(const char *s, int64_t *us)
{
    const char *p = s;
    int64_t year = 0, days, secs, total;
    int month, day, hour = 0, min = 0, sec = 0, frac = 0, off = 0, oh, om = 0, os = 0, nyd = 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    while (g_ascii_isdigit(*p) && nyd < 9)
        year = year * 10 + (*p++ - '0'), nyd++;
    if (nyd < 4 || *p++ != '-' || !digits(&p, 2, &month) || *p++ != '-' || !digits(&p, 2, &day))
        return 0;
    if (p[0] == ' ' && g_ascii_isdigit(p[1])) {
        p++;
        if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &min) || *p++ != ':' ||
            !digits(&p, 2, &sec))
            return 0;
        if (*p == '.') {
            int n = 0;

            for (p++; g_ascii_isdigit(*p); p++, n++)
                if (n < 6)
                    frac = frac * 10 + (*p - '0');
            if (n == 0 || n > 6)
                return 0;
            for (; n < 6; n++)
                frac *= 10;
        }
        if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;

            if (!digits(&p, 2, &oh))
                return 0;
            if (*p == ':' && (p++, !digits(&p, 2, &om)))
                return 0;
            if (*p == ':' && (p++, !digits(&p, 2, &os)))
                return 0;
            off = sign * (oh * 3600 + om * 60 + os);
        }
    }
    if (strcmp(p, " BC") == 0) {
        if (year == 0)
            return 0;
        year = 1 - year; /* 1 BC is year 0 */
    } else if (*p) {
        return 0;
    }
    if (month < 1 || month > 12 || day < 1 || day > mdays[month - 1] + (month == 2 && leap(year)) ||
        hour > 23 || min > 59 || sec > 60)
        return 0;
    days = days_from_civil(year, month, day);
    secs = (int64_t)hour * 3600 + min * 60 + sec - off;
    if (__builtin_mul_overflow(days, (int64_t)86400, &total) ||
        __builtin_add_overflow(total, secs, &total) ||
        __builtin_mul_overflow(total, (int64_t)1000000, &total) ||
        __builtin_add_overflow(total, (int64_t)frac, &total))
        return -1;
    *us = total;
    return 1;
}

static bool get_int(const char *v, dbr_type t, dbr_value *out, char *why, int why_len)
{
    int r;

    if (t != DBR_TYPE_INT && t != DBR_TYPE_NUMERIC && !textual(t))
        return fail(why, why_len, "a %s value does not convert to int64", dbr_type_name(t));
    r = parse_int64(v, &out->i);
    if (r < 0)
        return fail(why, why_len, "the value overflows int64");
    if (r == 0)
        return fail(why, why_len, "the value is not an integer");
    return true;
}

static bool get_double(const char *v, dbr_type t, dbr_value *out, char *why, int why_len)
{
    int r;

    if (t != DBR_TYPE_FLOAT && t != DBR_TYPE_INT && t != DBR_TYPE_NUMERIC && !textual(t))
        return fail(why, why_len, "a %s value does not convert to double", dbr_type_name(t));
    r = parse_double(v, &out->d);
    if (r < 0)
        return fail(why, why_len, "the value is out of double's range");
    if (r == 0)
        return fail(why, why_len, "the value is not a number");
    return true;
}

static bool get_bool(const char *v, dbr_type t, dbr_value *out, char *why, int why_len)
{
    if (t != DBR_TYPE_BOOL && !textual(t))
        return fail(why, why_len, "a %s value does not convert to bool", dbr_type_name(t));
    if (strcmp(v, "t") == 0 || (textual(t) && strcmp(v, "true") == 0))
        out->b = true;
    else if (strcmp(v, "f") == 0 || (textual(t) && strcmp(v, "false") == 0))
        out->b = false;
    else
        return fail(why, why_len, "the value is not a boolean (t, f, true, false)");
    return true;
}

static bool get_bytes(const PGresult *res, int row, int col, dbr_type t, dbr_value *out, char *why,
                      int why_len)
{
    GBytes *b;

    if (textual(t)) { /* text's own bytes */
        out->bytes.data = PQgetvalue(res, row, col);
        out->bytes.len = (size_t)PQgetlength(res, row, col);
        return true;
    }
    if (t != DBR_TYPE_BYTES)
        return fail(why, why_len, "a %s value does not convert to bytes", dbr_type_name(t));
    b = bytea_cell(res, row, col);
    if (!b)
        return fail(why, why_len, "the value is not in bytea's hex or escape output format");
    out->bytes.data = g_bytes_get_data(b, &out->bytes.len);
    /* An empty bytea: a valid pointer all the same. */
    if (!out->bytes.data)
        out->bytes.data = "";
    return true;
}

static bool get_timestamp(const char *v, dbr_type t, dbr_value *out, char *why, int why_len)
{
    int r;

    if (t != DBR_TYPE_TIMESTAMP && t != DBR_TYPE_DATE && !textual(t))
        return fail(why, why_len, "a %s value does not convert to a timestamp", dbr_type_name(t));
    if (strcmp(v, "infinity") == 0 || strcmp(v, "-infinity") == 0)
        return fail(why, why_len, "the value is %s, which has no microseconds", v);
    r = parse_iso(v, &out->us);
    if (r < 0)
        return fail(why, why_len, "the value is out of range for int64 microseconds");
    if (r == 0)
        return fail(why, why_len,
                    "the value is not in ISO form (YYYY-MM-DD HH:MM:SS+TZ); the session's "
                    "DateStyle must be ISO, PostgreSQL's default");
    return true;
}

bool pq_result_get(const dbr_driver_result *r, int row, int col, dbr_type as, dbr_value *out,
                   char *why, int why_len)
{
    const PGresult *res = (const PGresult *)r;
    dbr_type t;
    const char *v;

    if (row < 0 || row >= PQntuples(res) || col < 0 || col >= PQnfields(res))
        return fail(why, why_len, "no such cell");
    if (PQgetisnull(res, row, col))
        return fail(why, why_len, "the value is NULL");
    t = pq_result_coltype(r, col);
    v = PQgetvalue(res, row, col);
    switch (as) {
    case DBR_TYPE_INT:
        return get_int(v, t, out, why, why_len);
    case DBR_TYPE_FLOAT:
        return get_double(v, t, out, why, why_len);
    case DBR_TYPE_BOOL:
        return get_bool(v, t, out, why, why_len);
    case DBR_TYPE_BYTES:
        return get_bytes(res, row, col, t, out, why, why_len);
    case DBR_TYPE_TIMESTAMP:
    case DBR_TYPE_DATE:
        return get_timestamp(v, t, out, why, why_len);
    default:
        return fail(why, why_len, "values are not read as %s here: read them as text",
                    dbr_type_name(as));
    }
}
