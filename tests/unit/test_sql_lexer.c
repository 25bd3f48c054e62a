/* SPDX-License-Identifier: MIT */
/*
 * The SQL lexer and splitter (core/sql_lexer.c) and the log plugin's
 * redaction built on them, fuzzed two ways:
 *
 * - scripts generated from pieces whose kind and boundaries are known
 *   (strings with quotes, backslashes, semicolons and comment markers
 *   inside, E'' escapes, tagged dollar quotes, nested comments, quoted
 *   names, BEGIN ATOMIC bodies, parenthesised semicolons): the lexer must
 *   find exactly the generated tokens, the splitter exactly the generated
 *   statements, and no byte of a generated literal or comment may survive
 *   redaction;
 * - random bytes: the tokens must tile the text and nothing may read past
 *   its end (run under ASan and valgrind by the suite).
 *
 * DBR_TEST_SEED picks another seed; DBR_TEST_FUZZ_ROUNDS more rounds.
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dbr/sql.h>

#include "../../plugins/log/redact_sql.h"

#define MARK     "Zq7Secret"
#define MARK_NUM "9876543"

typedef struct piece {
    dbr_sql_token_kind kind;
    char *text;
} piece;

typedef struct script {
    GString *text;
    GArray *pieces; /* piece, in order, without the blanks between them */
    GPtrArray *statements;
} script;

static GRand *rng;

static int pick(int n)
{
    return g_rand_int_range(rng, 0, n);
}

static const char *const words[] = {"select", "from", "where",  "insert", "into", "values", "t",
                                    "x_1",    "a$b",  "update", "set",    "and",  "Col",    "é",
                                    "_z",     "not",  "null",   "join",   "on",   "as"};
/* Awkward bytes to put inside literals and comments. */
static const char *const nasties[] = {";",  "--", "/*", "*/", "'", "\"", "$$",    "$a$",
                                      "\\", "\n", "E'", "(",  ")", "$1", "begin", "end"};

static void add(script *s, dbr_sql_token_kind kind, const char *text)
{
    piece p = {kind, g_strdup(text)};

    if (s->text->len) {
        static const char *const blanks[] = {" ", "\n", "\t", "  ", "\r\n"};
        const piece *prev = &g_array_index(s->pieces, piece, s->pieces->len - 1);
        bool line_comment = prev->kind == DBR_SQL_COMMENT && prev->text[0] == '-';

        /* a -- comment runs to the end of its line */
        g_string_append(s->text, line_comment ? (pick(2) ? "\n" : "\r\n")
                                              : blanks[pick(G_N_ELEMENTS(blanks))]);
    }
    g_string_append(s->text, text);
    g_array_append_val(s->pieces, p);
}

/* Content for a literal: the mark, and awkward bytes, none of which may
 * contain the closing sequence given (for dollar quotes, the tag). */
static char *content(const char *forbid_quote)
{
    GString *c = g_string_new(MARK);

    for (int i = pick(4); i > 0; i--) {
        const char *n = nasties[pick(G_N_ELEMENTS(nasties))];

        if (forbid_quote && strstr(n, forbid_quote))
            continue;
        g_string_append(c, n);
        g_string_append(c, MARK);
    }
    return g_string_free(c, FALSE);
}

static char *doubled(const char *text, char q)
{
    GString *out = g_string_new(NULL);

    for (const char *p = text; *p; p++) {
        g_string_append_c(out, *p);
        if (*p == q)
            g_string_append_c(out, q);
    }
    return g_string_free(out, FALSE);
}

static void add_literal(script *s)
{
    char *c, *body, *text;

    switch (pick(9)) {
    case 0: /* standard: a backslash is only a backslash, even before the quote */
        c = content(NULL);
        body = doubled(c, '\'');
        text = g_strdup_printf("'%s%s'", body, pick(2) ? "\\" : "");
        break;
    case 1: { /* E'': backslashes escape, '' and \' are quotes */
        GString *e = g_string_new("E'");

        c = content(NULL);
        for (const char *p = c; *p; p++) {
            if (*p == '\\')
                g_string_append(e, "\\\\");
            else if (*p == '\'')
                g_string_append(e, pick(2) ? "\\'" : "''");
            else
                g_string_append_c(e, *p);
        }
        g_string_append_c(e, '\'');
        body = NULL;
        text = g_string_free(e, FALSE);
        break;
    }
    case 2: /* N'' and U&'' */
        c = content(NULL);
        body = doubled(c, '\'');
        text = g_strdup_printf("%s'%s'", pick(2) ? "N" : "U&", body);
        break;
    case 3: /* bits and hex */
        c = g_strdup("01");
        body = NULL;
        text = g_strdup_printf("%s'%s'", pick(2) ? "B" : "X", MARK_NUM);
        break;
    case 4:
    case 5: { /* dollar quotes, with other delimiters inside */
        const char *tag = pick(2) ? "" : (pick(2) ? "body" : "_x9");
        char *delim = g_strdup_printf("$%s$", tag);

        c = content(delim);
        body = delim;
        text = g_strdup_printf("%s%s%s", delim, c, delim);
        add(s, DBR_SQL_DOLLAR_STRING, text);
        g_free(c);
        g_free(body);
        g_free(text);
        return;
    }
    case 6: /* numbers */
        c = NULL;
        body = NULL;
        text = g_strdup(pick(2) ? MARK_NUM : (pick(2) ? "." MARK_NUM "e-3" : MARK_NUM ".5"));
        add(s, DBR_SQL_NUMBER, text);
        g_free(text);
        return;
    default: /* comments */
        c = content("*/");
        if (pick(2)) {
            char *line = g_strdelimit(g_strdup(c), "\r\n", ' ');

            text = g_strdup_printf("--%s\n", line);
            g_free(line);
            text[strlen(text) - 1] = '\0'; /* the newline is a blank */
            body = NULL;
        } else {
            char *inner = content("*/");

            /* nested, and the inner one must not close early */
            g_strdelimit(inner, "*", '+');
            body = inner;
            text = g_strdup_printf("/*%s /* %s */ */", pick(2) ? "" : "x", inner);
        }
        add(s, DBR_SQL_COMMENT, text);
        g_free(c);
        g_free(body);
        g_free(text);
        return;
    }
    add(s, DBR_SQL_STRING, text);
    g_free(c);
    g_free(body);
    g_free(text);
}

static void add_word(script *s)
{
    add(s, DBR_SQL_WORD, words[pick(G_N_ELEMENTS(words))]);
}

static void add_misc(script *s)
{
    switch (pick(5)) {
    case 0:
        add(s, DBR_SQL_QUOTED_NAME, pick(2) ? "\"a;b\"\"c\"" : "\"--x/*\"");
        break;
    case 1:
        add(s, DBR_SQL_PARAM, pick(2) ? "$1" : "$12");
        break;
    case 2:
        add(s, DBR_SQL_OPERATOR, pick(2) ? "<>" : (pick(2) ? "||" : "="));
        break;
    case 3:
        add(s, DBR_SQL_PUNCTUATION, pick(2) ? "," : ".");
        break;
    default:
        add(s, DBR_SQL_PUNCTUATION, ":");
        break;
    }
}

static void add_anything(script *s, int depth);

/* "( ...; ... )": semicolons inside parentheses do not end a statement. */
static void add_group(script *s, int depth)
{
    add(s, DBR_SQL_PUNCTUATION, "(");
    for (int i = 1 + pick(4); i > 0; i--) {
        add_anything(s, depth + 1);
        if (!pick(3))
            add(s, DBR_SQL_SEMICOLON, ";");
    }
    add(s, DBR_SQL_PUNCTUATION, ")");
}

static void add_anything(script *s, int depth)
{
    int r = pick(10);

    if (r < 3)
        add_word(s);
    else if (r < 7)
        add_literal(s);
    else if (r < 9 || depth > 2)
        add_misc(s);
    else
        add_group(s, depth);
}

/* CREATE [OR REPLACE] FUNCTION f() ... BEGIN ATOMIC s1; s2; CASE .. END; END */
static void add_routine_body(script *s)
{
    add(s, DBR_SQL_WORD, "CREATE");
    if (pick(2)) {
        add(s, DBR_SQL_WORD, "OR");
        add(s, DBR_SQL_WORD, "REPLACE");
    }
    add(s, DBR_SQL_WORD, pick(2) ? "FUNCTION" : "procedure");
    add(s, DBR_SQL_WORD, "f");
    add(s, DBR_SQL_PUNCTUATION, "(");
    add(s, DBR_SQL_PUNCTUATION, ")");
    add(s, DBR_SQL_WORD, "BEGIN");
    add(s, DBR_SQL_WORD, "ATOMIC");
    for (int i = 1 + pick(3); i > 0; i--) {
        add_word(s);
        if (pick(2)) {
            add(s, DBR_SQL_WORD, "CASE");
            add_literal(s);
            add(s, DBR_SQL_WORD, "END");
        }
        add_anything(s, 0);
        add(s, DBR_SQL_SEMICOLON, ";");
    }
    add(s, DBR_SQL_WORD, "END");
}

static void script_free(script *s)
{
    for (guint i = 0; i < s->pieces->len; i++)
        g_free(g_array_index(s->pieces, piece, i).text);
    g_array_free(s->pieces, TRUE);
    g_ptr_array_free(s->statements, TRUE);
    g_string_free(s->text, TRUE);
}

/* Each statement's first and last piece (comments after the last one
 * belong to no statement), as two guint per statement. */
static void generate(script *s)
{
    s->text = g_string_new(NULL);
    s->pieces = g_array_new(FALSE, FALSE, sizeof(piece));
    s->statements = g_ptr_array_new();
    for (int n = 1 + pick(4); n > 0; n--) {
        guint first, last;

        if (!pick(4))
            add(s, DBR_SQL_SEMICOLON, ";"); /* an empty statement */
        if (!pick(4))
            add(s, DBR_SQL_COMMENT, "-- leading");
        first = s->pieces->len;
        if (!pick(4)) {
            add_routine_body(s);
        } else {
            add_word(s);
            for (int i = pick(8); i > 0; i--)
                add_anything(s, 0);
        }
        last = s->pieces->len - 1;
        while (g_array_index(s->pieces, piece, last).kind == DBR_SQL_COMMENT)
            last--;
        g_ptr_array_add(s->statements, GUINT_TO_POINTER(first));
        g_ptr_array_add(s->statements, GUINT_TO_POINTER(last));
        if (n > 1 || pick(2))
            add(s, DBR_SQL_SEMICOLON, ";");
        if (!pick(5))
            add(s, DBR_SQL_COMMENT, "/* trailing */");
    }
}

static GPtrArray *expected_statements(script *s)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    GArray *offsets = g_array_new(FALSE, FALSE, sizeof(size_t));
    const char *t = s->text->str;
    size_t pos = 0;

    for (guint i = 0; i < s->pieces->len; i++) {
        const piece *p = &g_array_index(s->pieces, piece, i);
        const char *at = strstr(t + pos, p->text);

        ck_assert_ptr_nonnull(at);
        pos = (size_t)(at - t);
        g_array_append_val(offsets, pos);
        pos += strlen(p->text);
    }
    for (guint k = 0; k < s->statements->len; k += 2) {
        guint first = GPOINTER_TO_UINT(s->statements->pdata[k]);
        guint last = GPOINTER_TO_UINT(s->statements->pdata[k + 1]);
        size_t from = g_array_index(offsets, size_t, first);
        size_t to = g_array_index(offsets, size_t, last) +
                    strlen(g_array_index(s->pieces, piece, last).text);

        g_ptr_array_add(out, g_strndup(t + from, to - from));
    }
    g_array_free(offsets, TRUE);
    return out;
}

static int rounds(void)
{
    const char *r = g_getenv("DBR_TEST_FUZZ_ROUNDS");

    return r ? atoi(r) : 3000;
}

static void seed(void)
{
    const char *s = g_getenv("DBR_TEST_SEED");
    guint32 v = s ? (guint32)strtoul(s, NULL, 10) : 20261130u;

    rng = g_rand_new_with_seed(v);
    fprintf(stderr, "seed %u (DBR_TEST_SEED)\n", v);
}

START_TEST(test_generated_tokens)
{
    seed();
    for (int round = 0; round < rounds(); round++) {
        script s;
        size_t pos = 0;
        guint next = 0;
        dbr_sql_token t;

        generate(&s);
        for (;;) {
            pos = dbr_sql_lex(s.text->str, s.text->len, pos, &t);
            if (t.kind == DBR_SQL_END)
                break;
            if (t.kind == DBR_SQL_SPACE)
                continue;
            ck_assert_msg(next < s.pieces->len, "round %d: extra token in\n%s", round, s.text->str);
            {
                const piece *p = &g_array_index(s.pieces, piece, next);
                char *got = g_strndup(s.text->str + t.start, t.len);

                ck_assert_msg(t.kind == p->kind && strcmp(got, p->text) == 0,
                              "round %d: token %u: expected kind %d [%s], got kind %d [%s] in\n%s",
                              round, next, p->kind, p->text, t.kind, got, s.text->str);
                ck_assert(!t.unterminated);
                g_free(got);
            }
            next++;
        }
        ck_assert_uint_eq(next, s.pieces->len);
        script_free(&s);
    }
    g_rand_free(rng);
}
END_TEST

START_TEST(test_generated_statements)
{
    seed();
    for (int round = 0; round < rounds(); round++) {
        script s;
        GPtrArray *want;
        size_t pos = 0;
        guint k = 0;
        dbr_sql_statement st;

        generate(&s);
        want = expected_statements(&s);
        while (dbr_sql_next_statement(s.text->str, s.text->len, &pos, &st)) {
            char *got = g_strndup(s.text->str + st.start, st.len);

            ck_assert_msg(k < want->len, "round %d: extra statement [%s] in\n%s", round, got,
                          s.text->str);
            ck_assert_msg(strcmp(got, want->pdata[k]) == 0,
                          "round %d: statement %u: expected\n[%s]\ngot\n[%s]\nin\n%s", round, k,
                          (char *)want->pdata[k], got, s.text->str);
            g_free(got);
            k++;
        }
        ck_assert_msg(k == want->len, "round %d: %u statements, expected %u, in\n%s", round, k,
                      want->len, s.text->str);
        ck_assert_uint_eq(pos, s.text->len);
        g_ptr_array_free(want, TRUE);
        script_free(&s);
    }
    g_rand_free(rng);
}
END_TEST

START_TEST(test_redaction_hides_every_literal)
{
    seed();
    for (int round = 0; round < rounds(); round++) {
        script s;
        char *r;

        generate(&s);
        r = log_redact_sql(s.text->str);
        ck_assert_msg(!strstr(r, MARK) && !strstr(r, MARK_NUM),
                      "round %d: a literal survived redaction:\n%s\n->\n%s", round, s.text->str, r);
        /* names and keywords stay: the shape is still readable */
        for (guint i = 0; i < s.pieces->len; i++) {
            const piece *p = &g_array_index(s.pieces, piece, i);

            if (p->kind == DBR_SQL_WORD || p->kind == DBR_SQL_QUOTED_NAME)
                ck_assert_msg(strstr(r, p->text), "round %d: %s lost", round, p->text);
        }
        g_free(r);
        script_free(&s);
    }
    g_rand_free(rng);
}
END_TEST

START_TEST(test_random_bytes_tile)
{
    static const char alphabet[] = "'\"$;-/*\\()eEuU&x1_ \n\ta.\xc3\xa9\0";

    seed();
    for (int round = 0; round < rounds() * 3; round++) {
        size_t len = (size_t)pick(40), pos = 0, covered = 0;
        /* an exact-size heap copy: ASan and valgrind catch a read past it */
        char *text = g_malloc(len ? len : 1);
        dbr_sql_token t;
        dbr_sql_statement st;
        int guard = 0;

        for (size_t i = 0; i < len; i++)
            text[i] = pick(4) ? alphabet[pick(sizeof(alphabet) - 1)] : (char)pick(256);
        for (;;) {
            size_t next = dbr_sql_lex(text, len, pos, &t);

            if (t.kind == DBR_SQL_END) {
                ck_assert_uint_eq(next, len);
                break;
            }
            ck_assert_uint_eq(t.start, pos);
            ck_assert_uint_gt(t.len, 0);
            ck_assert_uint_eq(next, t.start + t.len);
            ck_assert_uint_le(next, len);
            covered += t.len;
            pos = next;
            ck_assert_int_lt(guard++, 1000);
        }
        ck_assert_uint_eq(covered, len);
        pos = 0;
        while (dbr_sql_next_statement(text, len, &pos, &st)) {
            ck_assert_uint_gt(st.len, 0);
            ck_assert_uint_le(st.start + st.len, len);
            ck_assert_uint_le(st.start + st.len, pos);
        }
        ck_assert_uint_eq(pos, len);
        {
            char *z = g_strndup(text, len), *r = log_redact_sql(z);

            g_free(r);
            g_free(z);
        }
        g_free(text);
    }
    g_rand_free(rng);
}
END_TEST

static char *split_all(const char *sql)
{
    GString *out = g_string_new(NULL);
    size_t pos = 0;
    dbr_sql_statement st;

    while (dbr_sql_next_statement(sql, strlen(sql), &pos, &st))
        g_string_append_printf(out, "[%.*s]", (int)st.len, sql + st.start);
    return g_string_free(out, FALSE);
}

#define ck_split(sql, want)                                                                        \
    do {                                                                                           \
        char *got_ = split_all(sql);                                                               \
        ck_assert_str_eq(got_, want);                                                              \
        g_free(got_);                                                                              \
    } while (0)

START_TEST(test_split_examples)
{
    /* the case: two CONCURRENTLY indexes, run one by one */
    ck_split("-- dbr:no-transaction\nCREATE INDEX CONCURRENTLY a ON t (x);\n"
             "CREATE INDEX CONCURRENTLY b ON t (y);\n",
             "[CREATE INDEX CONCURRENTLY a ON t (x)][CREATE INDEX CONCURRENTLY b ON t (y)]");
    ck_split("SELECT 'C:\\'; SELECT 2", "[SELECT 'C:\\'][SELECT 2]");
    ck_split("SELECT E'it\\'s;'; SELECT 2", "[SELECT E'it\\'s;'][SELECT 2]");
    ck_split("DO $b$ BEGIN PERFORM 1; END $b$; SELECT $$;$$",
             "[DO $b$ BEGIN PERFORM 1; END $b$][SELECT $$;$$]");
    ck_split("SELECT 1 /* a /* ; */ b; */; SELECT 2", "[SELECT 1][SELECT 2]");
    ck_split("SELECT /* a /* ; */ b; */ 1; SELECT 2", "[SELECT /* a /* ; */ b; */ 1][SELECT 2]");
    ck_split("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE "
             "WHEN true THEN 1 END; END; SELECT 3",
             "[CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE "
             "WHEN true THEN 1 END; END][SELECT 3]");
    /* BEGIN as a transaction statement is not a body */
    ck_split("BEGIN; SELECT 1; END;", "[BEGIN][SELECT 1][END]");
    ck_split(";;  -- nothing\n/* at all */ ;", "");
    ck_split("SELECT \"a;\"\"b\" FROM t", "[SELECT \"a;\"\"b\" FROM t]");
    ck_split("SELECT 'unterminated; SELECT 2", "[SELECT 'unterminated; SELECT 2]");
    ck_split("SELECT a$b$c; SELECT 2", "[SELECT a$b$c][SELECT 2]");
}
END_TEST

static char *redacted(const char *sql)
{
    static char buf[512];
    char *r = log_redact_sql(sql);

    g_strlcpy(buf, r, sizeof(buf));
    g_free(r);
    return buf;
}

START_TEST(test_redaction_examples)
{
    /* the two leaks */
    ck_assert_str_eq(redacted("SELECT 'C:\\' AS p, 'hunter2' AS q"), "SELECT '?' AS p, '?' AS q");
    ck_assert_str_eq(redacted("/* it's */ SELECT 'hunter2'"), "/*?*/ SELECT '?'");
    ck_assert_str_eq(redacted("UPDATE u SET pw = E'a\\'b' WHERE id = $1 AND n > 42"),
                     "UPDATE u SET pw = '?' WHERE id = $1 AND n > ?");
    ck_assert_str_eq(redacted("SELECT $x$ secret $x$, x'ff', 1e-5, t.\"Name\""),
                     "SELECT $$?$$, '?', ?, t.\"Name\"");
    ck_assert_str_eq(redacted("SELECT 1 -- card 4111\n"), "SELECT ? /*?*/\n");
}
END_TEST

START_TEST(test_server_message_redaction)
{
    static const struct {
        const char *in, *sqlstate, *want;
    } cases[] = {
        {"invalid input syntax for type integer: \"hunter2\"", "22P02",
         "invalid input syntax for type integer: (not logged: it may quote data)"},
        {"value \"4111 1111\" is out of range for type integer", "22003",
         "value (not logged: it may quote data)"},
        /* translated messages quote with guillemets (review) */
        {"ung\u00fcltige Eingabesyntax f\u00fcr Typ integer: \u00bbhunter3\u00ab", "22P02",
         "ung\u00fcltige Eingabesyntax f\u00fcr Typ integer: (not logged: it may quote data)"},
        {"unterminated quoted string at or near \"'hunter4\"", "42601",
         "unterminated quoted string at or near (not logged: it may quote data)"},
        {"invalid input syntax for type integer: \"a\"hunter5\nb\"", "22P02",
         "invalid input syntax for type integer: (not logged: it may quote data)"},
        {"duplicate key value violates unique constraint \"u_key\"", "23505",
         "duplicate key value violates unique constraint \"\u2026\""},
        /* names can be data: a literal cast to regclass (a new user's report) */
        {"relation \"s3cretpw_h\" does not exist", "42P01", "relation \"\u2026\" does not exist"},
        {"Relation \u00bbs3cret\u00ab existiert nicht", "42P01",
         "Relation \u00bb\u2026\u00ab existiert nicht"},
        {"role \"s3cret has no end", "42704", "role \"\u2026"},
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *r = log_redact_server_message(cases[i].in, cases[i].sqlstate);

        ck_assert_str_eq(r, cases[i].want);
        g_free(r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sql_lexer");
    TCase *tc = tcase_create("lexer");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_split_examples);
    tcase_add_test(tc, test_redaction_examples);
    tcase_add_test(tc, test_server_message_redaction);
    tcase_add_test(tc, test_generated_tokens);
    tcase_add_test(tc, test_generated_statements);
    tcase_add_test(tc, test_redaction_hides_every_literal);
    tcase_add_test(tc, test_random_bytes_tile);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
