/* SPDX-License-Identifier: MIT */
/*
 * Every SQLSTATE of PostgreSQL's list (src/backend/utils/errcodes.txt), each
 * given a kind and an outcome rule on purpose: a new code can never fall
 * through unnoticed, since tests/unit/test_pq_sqlstate.c walks the server's
 * own list and fails on any code missing here.
 *
 * Flags:
 *   T  transient: the same request may well succeed if sent again;
 *   S  the session is over (or its transaction's fate is out of the
 *      server's hands): after the request left, the outcome is unknown,
 *      whatever the severity;
 *   I  sent only while the session sat idle, with no request in flight
 *      (idle_in_transaction_session_timeout, idle_session_timeout): the
 *      request that meets it never ran, so its outcome is not applied;
 *   U  the outcome is unknown even for an all-or-nothing statement.
 * Without S or U, an ERROR of an all-or-nothing statement is not applied.
 *
 * A code this table lacks (a newer server, an extension's own) takes its
 * class's generic entry (XX000 for class XX); a class this table lacks is
 * internal. The kinds are dbr's (docs/errors.md has the reasons per class).
 */
#include <stdlib.h>
#include <string.h>

#include "pq_sqlstate.h"

#define K(kind) DBR_ERR_##kind
#define T       PQ_SS_TRANSIENT
#define S       PQ_SS_SESSION_ENDS
#define I       PQ_SS_IDLE_ONLY
#define U       PQ_SS_UNKNOWN

/* Sorted by code (strcmp order): searched by bisection. */
static const pq_sqlstate table[] = {
    {"00000", K(INTERNAL), 0}, /* successful_completion */

    {"01000", K(INTERNAL), 0}, /* warning */
    {"01003", K(INTERNAL), 0}, /* null_value_eliminated_in_set_function */
    {"01004", K(INTERNAL), 0}, /* string_data_right_truncation */
    {"01006", K(INTERNAL), 0}, /* privilege_not_revoked */
    {"01007", K(INTERNAL), 0}, /* privilege_not_granted */
    {"01008", K(INTERNAL), 0}, /* implicit_zero_bit_padding */
    {"0100C", K(INTERNAL), 0}, /* dynamic_result_sets_returned */
    {"01P01", K(INTERNAL), 0}, /* deprecated_feature */

    {"02000", K(INTERNAL), 0}, /* no_data */
    {"02001", K(INTERNAL), 0}, /* no_additional_dynamic_result_sets_returned */

    {"03000", K(SYNTAX), 0}, /* sql_statement_not_yet_complete */

    {"08000", K(CONNECTION), T | S}, /* connection_exception */
    {"08001", K(CONNECTION), T | S}, /* sqlclient_unable_to_establish_sqlconnection */
    {"08003", K(CONNECTION), T | S}, /* connection_does_not_exist */
    {"08004", K(CONNECTION), T | S}, /* sqlserver_rejected_establishment_of_sqlconnection */
    {"08006", K(CONNECTION), T | S}, /* connection_failure */
    {"08007", K(COMMIT_UNKNOWN), S}, /* transaction_resolution_unknown */
    {"08P01", K(CONNECTION), T | S}, /* protocol_violation */

    {"09000", K(SYNTAX), 0}, /* triggered_action_exception */

    {"0A000", K(SYNTAX), 0}, /* feature_not_supported */

    {"0B000", K(MISUSE), 0}, /* invalid_transaction_initiation */

    {"0F000", K(SYNTAX), 0}, /* locator_exception */
    {"0F001", K(SYNTAX), 0}, /* invalid_locator_specification */

    {"0L000", K(PERMISSION), 0}, /* invalid_grantor */
    {"0LP01", K(PERMISSION), 0}, /* invalid_grant_operation */

    {"0P000", K(PERMISSION), 0}, /* invalid_role_specification */

    {"0Z000", K(SYNTAX), 0}, /* diagnostics_exception */
    {"0Z002", K(SYNTAX), 0}, /* stacked_diagnostics_accessed_without_active_handler */

    {"20000", K(SYNTAX), 0}, /* case_not_found */

    {"21000", K(SYNTAX), 0}, /* cardinality_violation */

    {"22000", K(SYNTAX), 0}, /* data_exception */
    {"22001", K(SYNTAX), 0}, /* string_data_right_truncation */
    {"22002", K(SYNTAX), 0}, /* null_value_no_indicator_parameter */
    {"22003", K(SYNTAX), 0}, /* numeric_value_out_of_range */
    {"22004", K(SYNTAX), 0}, /* null_value_not_allowed */
    {"22005", K(SYNTAX), 0}, /* error_in_assignment */
    {"22007", K(SYNTAX), 0}, /* invalid_datetime_format */
    {"22008", K(SYNTAX), 0}, /* datetime_field_overflow */
    {"22009", K(SYNTAX), 0}, /* invalid_time_zone_displacement_value */
    {"2200B", K(SYNTAX), 0}, /* escape_character_conflict */
    {"2200C", K(SYNTAX), 0}, /* invalid_use_of_escape_character */
    {"2200D", K(SYNTAX), 0}, /* invalid_escape_octet */
    {"2200F", K(SYNTAX), 0}, /* zero_length_character_string */
    {"2200G", K(SYNTAX), 0}, /* most_specific_type_mismatch */
    {"2200H", K(SYNTAX), 0}, /* sequence_generator_limit_exceeded */
    {"2200L", K(SYNTAX), 0}, /* not_an_xml_document */
    {"2200M", K(SYNTAX), 0}, /* invalid_xml_document */
    {"2200N", K(SYNTAX), 0}, /* invalid_xml_content */
    {"2200S", K(SYNTAX), 0}, /* invalid_xml_comment */
    {"2200T", K(SYNTAX), 0}, /* invalid_xml_processing_instruction */
    {"22010", K(SYNTAX), 0}, /* invalid_indicator_parameter_value */
    {"22011", K(SYNTAX), 0}, /* substring_error */
    {"22012", K(SYNTAX), 0}, /* division_by_zero */
    {"22013", K(SYNTAX), 0}, /* invalid_preceding_or_following_size */
    {"22014", K(SYNTAX), 0}, /* invalid_argument_for_ntile_function */
    {"22015", K(SYNTAX), 0}, /* interval_field_overflow */
    {"22016", K(SYNTAX), 0}, /* invalid_argument_for_nth_value_function */
    {"22018", K(SYNTAX), 0}, /* invalid_character_value_for_cast */
    {"22019", K(SYNTAX), 0}, /* invalid_escape_character */
    {"2201B", K(SYNTAX), 0}, /* invalid_regular_expression */
    {"2201E", K(SYNTAX), 0}, /* invalid_argument_for_logarithm */
    {"2201F", K(SYNTAX), 0}, /* invalid_argument_for_power_function */
    {"2201G", K(SYNTAX), 0}, /* invalid_argument_for_width_bucket_function */
    {"2201W", K(SYNTAX), 0}, /* invalid_row_count_in_limit_clause */
    {"2201X", K(SYNTAX), 0}, /* invalid_row_count_in_result_offset_clause */
    {"22021", K(SYNTAX), 0}, /* character_not_in_repertoire */
    {"22022", K(SYNTAX), 0}, /* indicator_overflow */
    {"22023", K(SYNTAX), 0}, /* invalid_parameter_value */
    {"22024", K(SYNTAX), 0}, /* unterminated_c_string */
    {"22025", K(SYNTAX), 0}, /* invalid_escape_sequence */
    {"22026", K(SYNTAX), 0}, /* string_data_length_mismatch */
    {"22027", K(SYNTAX), 0}, /* trim_error */
    {"2202E", K(SYNTAX), 0}, /* array_element_error */
    {"2202G", K(SYNTAX), 0}, /* invalid_tablesample_repeat */
    {"2202H", K(SYNTAX), 0}, /* invalid_tablesample_argument */
    {"22030", K(SYNTAX), 0}, /* duplicate_json_object_key_value */
    {"22031", K(SYNTAX), 0}, /* invalid_argument_for_sql_json_datetime_function */
    {"22032", K(SYNTAX), 0}, /* invalid_json_text */
    {"22033", K(SYNTAX), 0}, /* invalid_sql_json_subscript */
    {"22034", K(SYNTAX), 0}, /* more_than_one_sql_json_item */
    {"22035", K(SYNTAX), 0}, /* no_sql_json_item */
    {"22036", K(SYNTAX), 0}, /* non_numeric_sql_json_item */
    {"22037", K(SYNTAX), 0}, /* non_unique_keys_in_a_json_object */
    {"22038", K(SYNTAX), 0}, /* singleton_sql_json_item_required */
    {"22039", K(SYNTAX), 0}, /* sql_json_array_not_found */
    {"2203A", K(SYNTAX), 0}, /* sql_json_member_not_found */
    {"2203B", K(SYNTAX), 0}, /* sql_json_number_not_found */
    {"2203C", K(SYNTAX), 0}, /* sql_json_object_not_found */
    {"2203D", K(SYNTAX), 0}, /* too_many_json_array_elements */
    {"2203E", K(SYNTAX), 0}, /* too_many_json_object_members */
    {"2203F", K(SYNTAX), 0}, /* sql_json_scalar_required */
    {"2203G", K(SYNTAX), 0}, /* sql_json_item_cannot_be_cast_to_target_type */
    {"22P01", K(SYNTAX), 0}, /* floating_point_exception */
    {"22P02", K(SYNTAX), 0}, /* invalid_text_representation */
    {"22P03", K(SYNTAX), 0}, /* invalid_binary_representation */
    {"22P04", K(SYNTAX), 0}, /* bad_copy_file_format */
    {"22P05", K(SYNTAX), 0}, /* untranslatable_character */
    {"22P06", K(SYNTAX), 0}, /* nonstandard_use_of_escape_character */

    {"23000", K(CONSTRAINT), 0}, /* integrity_constraint_violation */
    {"23001", K(CONSTRAINT), 0}, /* restrict_violation */
    {"23502", K(CONSTRAINT), 0}, /* not_null_violation */
    {"23503", K(CONSTRAINT), 0}, /* foreign_key_violation */
    {"23505", K(CONSTRAINT), 0}, /* unique_violation */
    {"23514", K(CONSTRAINT), 0}, /* check_violation */
    {"23P01", K(CONSTRAINT), 0}, /* exclusion_violation */

    {"24000", K(MISUSE), 0}, /* invalid_cursor_state */

    {"25000", K(MISUSE), 0},             /* invalid_transaction_state */
    {"25001", K(MISUSE), 0},             /* active_sql_transaction */
    {"25002", K(MISUSE), 0},             /* branch_transaction_already_active */
    {"25003", K(MISUSE), 0},             /* inappropriate_access_mode_for_branch_transaction */
    {"25004", K(MISUSE), 0},             /* inappropriate_isolation_level_for_branch_transaction */
    {"25005", K(MISUSE), 0},             /* no_active_sql_transaction_for_branch_transaction */
    {"25006", K(READ_ONLY), 0},          /* read_only_sql_transaction */
    {"25007", K(MISUSE), 0},             /* schema_and_data_statement_mixing_not_supported */
    {"25008", K(MISUSE), 0},             /* held_cursor_requires_same_isolation_level */
    {"25P01", K(MISUSE), 0},             /* no_active_sql_transaction */
    {"25P02", K(MISUSE), 0},             /* in_failed_sql_transaction */
    {"25P03", K(CONNECTION), T | S | I}, /* idle_in_transaction_session_timeout */
    {"25P04", K(CONNECTION), T | S},     /* transaction_timeout */

    {"26000", K(SYNTAX), 0}, /* invalid_sql_statement_name */

    {"27000", K(SYNTAX), 0}, /* triggered_data_change_violation */

    {"28000", K(PERMISSION), 0}, /* invalid_authorization_specification */
    {"28P01", K(PERMISSION), 0}, /* invalid_password */

    {"2B000", K(CONSTRAINT), 0}, /* dependent_privilege_descriptors_still_exist */
    {"2BP01", K(CONSTRAINT), 0}, /* dependent_objects_still_exist */

    {"2D000", K(MISUSE), 0}, /* invalid_transaction_termination */

    {"2F000", K(SYNTAX), 0}, /* sql_routine_exception */
    {"2F002", K(SYNTAX), 0}, /* modifying_sql_data_not_permitted */
    {"2F003", K(SYNTAX), 0}, /* prohibited_sql_statement_attempted */
    {"2F004", K(SYNTAX), 0}, /* reading_sql_data_not_permitted */
    {"2F005", K(SYNTAX), 0}, /* function_executed_no_return_statement */

    {"34000", K(MISUSE), 0}, /* invalid_cursor_name */

    {"38000", K(SYNTAX), 0}, /* external_routine_exception */
    {"38001", K(SYNTAX), 0}, /* containing_sql_not_permitted */
    {"38002", K(SYNTAX), 0}, /* modifying_sql_data_not_permitted */
    {"38003", K(SYNTAX), 0}, /* prohibited_sql_statement_attempted */
    {"38004", K(SYNTAX), 0}, /* reading_sql_data_not_permitted */

    {"39000", K(SYNTAX), 0}, /* external_routine_invocation_exception */
    {"39001", K(SYNTAX), 0}, /* invalid_sqlstate_returned */
    {"39004", K(SYNTAX), 0}, /* null_value_not_allowed */
    {"39P01", K(SYNTAX), 0}, /* trigger_protocol_violated */
    {"39P02", K(SYNTAX), 0}, /* srf_protocol_violated */
    {"39P03", K(SYNTAX), 0}, /* event_trigger_protocol_violated */

    {"3B000", K(MISUSE), 0}, /* savepoint_exception */
    {"3B001", K(MISUSE), 0}, /* invalid_savepoint_specification */

    {"3D000", K(CONFIG), 0}, /* invalid_catalog_name */

    {"3F000", K(SYNTAX), 0}, /* invalid_schema_name */

    {"40000", K(SERIALIZATION), T}, /* transaction_rollback */
    {"40001", K(SERIALIZATION), T}, /* serialization_failure */
    {"40002", K(CONSTRAINT), 0},    /* transaction_integrity_constraint_violation */
    {"40003", K(INTERNAL), U},      /* statement_completion_unknown */
    {"40P01", K(DEADLOCK), T},      /* deadlock_detected */

    {"42000", K(SYNTAX), 0},     /* syntax_error_or_access_rule_violation */
    {"42501", K(PERMISSION), 0}, /* insufficient_privilege */
    {"42601", K(SYNTAX), 0},     /* syntax_error */
    {"42602", K(SYNTAX), 0},     /* invalid_name */
    {"42611", K(SYNTAX), 0},     /* invalid_column_definition */
    {"42622", K(SYNTAX), 0},     /* name_too_long */
    {"42701", K(SYNTAX), 0},     /* duplicate_column */
    {"42702", K(SYNTAX), 0},     /* ambiguous_column */
    {"42703", K(SYNTAX), 0},     /* undefined_column */
    {"42704", K(SYNTAX), 0},     /* undefined_object */
    {"42710", K(SYNTAX), 0},     /* duplicate_object */
    {"42712", K(SYNTAX), 0},     /* duplicate_alias */
    {"42723", K(SYNTAX), 0},     /* duplicate_function */
    {"42725", K(SYNTAX), 0},     /* ambiguous_function */
    {"42803", K(SYNTAX), 0},     /* grouping_error */
    {"42804", K(SYNTAX), 0},     /* datatype_mismatch */
    {"42809", K(SYNTAX), 0},     /* wrong_object_type */
    {"42830", K(SYNTAX), 0},     /* invalid_foreign_key */
    {"42846", K(SYNTAX), 0},     /* cannot_coerce */
    {"42883", K(SYNTAX), 0},     /* undefined_function */
    {"428C9", K(SYNTAX), 0},     /* generated_always */
    {"42939", K(SYNTAX), 0},     /* reserved_name */
    {"42P01", K(SYNTAX), 0},     /* undefined_table */
    {"42P02", K(SYNTAX), 0},     /* undefined_parameter */
    {"42P03", K(SYNTAX), 0},     /* duplicate_cursor */
    {"42P04", K(SYNTAX), 0},     /* duplicate_database */
    {"42P05", K(SYNTAX), 0},     /* duplicate_prepared_statement */
    {"42P06", K(SYNTAX), 0},     /* duplicate_schema */
    {"42P07", K(SYNTAX), 0},     /* duplicate_table */
    {"42P08", K(SYNTAX), 0},     /* ambiguous_parameter */
    {"42P09", K(SYNTAX), 0},     /* ambiguous_alias */
    {"42P10", K(SYNTAX), 0},     /* invalid_column_reference */
    {"42P11", K(SYNTAX), 0},     /* invalid_cursor_definition */
    {"42P12", K(SYNTAX), 0},     /* invalid_database_definition */
    {"42P13", K(SYNTAX), 0},     /* invalid_function_definition */
    {"42P14", K(SYNTAX), 0},     /* invalid_prepared_statement_definition */
    {"42P15", K(SYNTAX), 0},     /* invalid_schema_definition */
    {"42P16", K(SYNTAX), 0},     /* invalid_table_definition */
    {"42P17", K(SYNTAX), 0},     /* invalid_object_definition */
    {"42P18", K(SYNTAX), 0},     /* indeterminate_datatype */
    {"42P19", K(SYNTAX), 0},     /* invalid_recursion */
    {"42P20", K(SYNTAX), 0},     /* windowing_error */
    {"42P21", K(SYNTAX), 0},     /* collation_mismatch */
    {"42P22", K(SYNTAX), 0},     /* indeterminate_collation */

    {"44000", K(CONSTRAINT), 0}, /* with_check_option_violation */

    {"53000", K(RESOURCE), T}, /* insufficient_resources */
    {"53100", K(RESOURCE), 0}, /* disk_full */
    {"53200", K(RESOURCE), T}, /* out_of_memory */
    {"53300", K(RESOURCE), T}, /* too_many_connections */
    {"53400", K(RESOURCE), 0}, /* configuration_limit_exceeded */

    {"54000", K(SYNTAX), 0}, /* program_limit_exceeded */
    {"54001", K(SYNTAX), 0}, /* statement_too_complex */
    {"54011", K(SYNTAX), 0}, /* too_many_columns */
    {"54023", K(SYNTAX), 0}, /* too_many_arguments */

    {"55000", K(MISUSE), 0},          /* object_not_in_prerequisite_state */
    {"55006", K(LOCK_CONTENTION), 0}, /* object_in_use */
    {"55P02", K(MISUSE), 0},          /* cant_change_runtime_param */
    {"55P03", K(LOCK_CONTENTION), T}, /* lock_not_available */
    {"55P04", K(MISUSE), 0},          /* unsafe_new_enum_value_usage */

    {"57000", K(CONNECTION), T | S},     /* operator_intervention */
    {"57014", K(CANCELED), 0},           /* query_canceled */
    {"57P01", K(CONNECTION), T | S},     /* admin_shutdown */
    {"57P02", K(CONNECTION), T | S},     /* crash_shutdown */
    {"57P03", K(CONNECTION), T | S},     /* cannot_connect_now */
    {"57P04", K(CONFIG), S},             /* database_dropped */
    {"57P05", K(CONNECTION), T | S | I}, /* idle_session_timeout */

    {"58000", K(RESOURCE), 0}, /* system_error */
    {"58030", K(RESOURCE), 0}, /* io_error */
    {"58P01", K(CONFIG), 0},   /* undefined_file */
    {"58P02", K(SYNTAX), 0},   /* duplicate_file */

    {"72000", K(SERIALIZATION), T}, /* snapshot_too_old */

    {"F0000", K(INTERNAL), 0}, /* config_file_error */
    {"F0001", K(INTERNAL), 0}, /* lock_file_exists */

    {"HV000", K(SYNTAX), 0},   /* fdw_error */
    {"HV001", K(RESOURCE), 0}, /* fdw_out_of_memory */
    {"HV002", K(SYNTAX), 0},   /* fdw_dynamic_parameter_value_needed */
    {"HV004", K(SYNTAX), 0},   /* fdw_invalid_data_type */
    {"HV005", K(SYNTAX), 0},   /* fdw_column_name_not_found */
    {"HV006", K(SYNTAX), 0},   /* fdw_invalid_data_type_descriptors */
    {"HV007", K(SYNTAX), 0},   /* fdw_invalid_column_name */
    {"HV008", K(SYNTAX), 0},   /* fdw_invalid_column_number */
    {"HV009", K(SYNTAX), 0},   /* fdw_invalid_use_of_null_pointer */
    {"HV00A", K(SYNTAX), 0},   /* fdw_invalid_string_format */
    {"HV00B", K(SYNTAX), 0},   /* fdw_invalid_handle */
    {"HV00C", K(SYNTAX), 0},   /* fdw_invalid_option_index */
    {"HV00D", K(SYNTAX), 0},   /* fdw_invalid_option_name */
    {"HV00J", K(SYNTAX), 0},   /* fdw_option_name_not_found */
    {"HV00K", K(SYNTAX), 0},   /* fdw_reply_handle */
    {"HV00L", K(SYNTAX), 0},   /* fdw_unable_to_create_execution */
    {"HV00M", K(SYNTAX), 0},   /* fdw_unable_to_create_reply */
    {"HV00N", K(INTERNAL), 0}, /* fdw_unable_to_establish_connection */
    {"HV00P", K(SYNTAX), 0},   /* fdw_no_schemas */
    {"HV00Q", K(SYNTAX), 0},   /* fdw_schema_not_found */
    {"HV00R", K(SYNTAX), 0},   /* fdw_table_not_found */
    {"HV010", K(SYNTAX), 0},   /* fdw_function_sequence_error */
    {"HV014", K(SYNTAX), 0},   /* fdw_too_many_handles */
    {"HV021", K(SYNTAX), 0},   /* fdw_inconsistent_descriptor_information */
    {"HV024", K(SYNTAX), 0},   /* fdw_invalid_attribute_value */
    {"HV090", K(SYNTAX), 0},   /* fdw_invalid_string_length_or_buffer_length */
    {"HV091", K(SYNTAX), 0},   /* fdw_invalid_descriptor_field_identifier */

    {"P0000", K(SYNTAX), 0},     /* plpgsql_error */
    {"P0001", K(CONSTRAINT), 0}, /* raise_exception */
    {"P0002", K(SYNTAX), 0},     /* no_data_found */
    {"P0003", K(SYNTAX), 0},     /* too_many_rows */
    {"P0004", K(CONSTRAINT), 0}, /* assert_failure */

    {"XX000", K(INTERNAL), 0},       /* internal_error */
    {"XX001", K(DATA_CORRUPTED), 0}, /* data_corrupted */
    {"XX002", K(DATA_CORRUPTED), 0}, /* index_corrupted */
};

#undef K
#undef T
#undef S
#undef I
#undef U

const pq_sqlstate *pq_sqlstate_table(size_t *n)
{
    *n = sizeof(table) / sizeof(table[0]);
    return table;
}

static int by_code(const void *key, const void *elem)
{
    return strncmp(key, ((const pq_sqlstate *)elem)->code, 5);
}

const pq_sqlstate *pq_sqlstate_exact(const char *code)
{
    if (!code || strlen(code) != 5)
        return NULL;
    return bsearch(code, table, sizeof(table) / sizeof(table[0]), sizeof(table[0]), by_code);
}

const pq_sqlstate *pq_sqlstate_find(const char *code)
{
    const pq_sqlstate *s = pq_sqlstate_exact(code);
    char generic[6];

    if (s || !code || strlen(code) != 5)
        return s;
    memcpy(generic, code, 2);
    memcpy(generic + 2, "000", 4);
    return pq_sqlstate_exact(generic);
}

dbr_error_kind pq_classify(const char *code)
{
    const pq_sqlstate *s;

    if (!code || strlen(code) != 5)
        return DBR_ERR_NONE;
    s = pq_sqlstate_find(code);
    return s ? (dbr_error_kind)s->kind : DBR_ERR_INTERNAL;
}

int pq_sqlstate_flags(const char *code)
{
    const pq_sqlstate *s = pq_sqlstate_find(code);

    return s ? s->flags : 0;
}
