import Foundation
import Testing

/// Every column type the issue lists, with edge values, and identifiers that need quoting.
private let typesSchema = #"""
    CREATE TYPE mood AS ENUM ('calm', 'angry', 'swarming');
    CREATE DOMAIN positive_weight AS numeric(8,3) CHECK (VALUE >= 0);
    CREATE TYPE reading AS (sensor text, value double precision);
    CREATE TABLE "All Types" (
        id int PRIMARY KEY,
        c_smallint smallint, c_integer integer, c_bigint bigint,
        c_numeric numeric, c_numeric_scaled numeric(12,4),
        c_real real, c_double double precision,
        c_boolean boolean, c_text text, c_varchar varchar(10), c_char char(5), c_bytea bytea,
        c_date date, c_time time, c_timetz timetz, c_timestamp timestamp, c_timestamptz timestamptz,
        c_interval interval, c_uuid uuid, c_json json, c_jsonb jsonb,
        c_inet inet, c_cidr cidr, c_macaddr macaddr, c_money money, c_bit bit(4), c_varbit varbit(8),
        c_int_array int[], c_text_array text[], c_matrix int[][],
        c_mood mood, c_weight positive_weight, c_reading reading, c_range int4range, c_tsrange tstzrange,
        c_tsvector tsvector,
        "Mixed Case" text, "with space" text, "quote""d" text, "select" text, "ünïcödé" text
    );
    INSERT INTO "All Types" VALUES
    (1, -32768, -2147483648, -9223372036854775808, 'NaN', 12345678.1234, 'NaN', 'Infinity', true,
     E'line\nbreak\ttab \\ backslash', 'ten chars!', 'ab', '\x00ff10'::bytea,
     '4713-01-01 BC', '00:00:00', '23:59:59.999999+14', '1999-12-31 23:59:59.999999', 'infinity',
     '-178000000 years 1 mon -2 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
     '{"a": [1, 2.50, "x"], "b": null}', '{"nested": {"k": "ü"}, "n": 1.0}',
     '2001:db8::1/64', '10.1.0.0/16', '08:00:2b:01:02:03', '-12.34', B'1010', B'101',
     '{1,NULL,3}', '{"a b","NULL",NULL,"q\"uote"}', '{{1,2},{3,4}}',
     'swarming', 12.5, ROW('scale', -0.0), '[1,10)', '[2024-01-01 00:00+00,infinity)',
     'the quick:1 brown:2 fox', 'M', 'S', 'Q', 'R', 'U'),
    (2, 32767, 2147483647, 9223372036854775807, '-0.000000000000000000001', -0.0001, '-Infinity', '-0',
     false, '', '', '', ''::bytea, '294276-12-31', '24:00:00', '00:00:00-15:59', '294276-12-31 23:59:59',
     '-infinity', '0', '00000000-0000-0000-0000-000000000000', '[]', '[]', '0.0.0.0', '::/0',
     'ff:ff:ff:ff:ff:ff', '92233720368547758.07', B'0000', B'', '{}', '{}', '{}', 'calm', 0,
     ROW(NULL, NULL), 'empty', 'empty', '', '', '', '', '', ''),
    (3, NULL, NULL, NULL, NULL, NULL, 1.17549435e-38, 2.2250738585072014e-308, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    """#

private let columns = [
    "id", "c_smallint", "c_integer", "c_bigint", "c_numeric", "c_numeric_scaled", "c_real", "c_double",
    "c_boolean", "c_text", "c_varchar", "c_char", "c_bytea", "c_date", "c_time", "c_timetz", "c_timestamp",
    "c_timestamptz", "c_interval", "c_uuid", "c_json", "c_jsonb", "c_inet", "c_cidr", "c_macaddr", "c_money",
    "c_bit", "c_varbit", "c_int_array", "c_text_array", "c_matrix", "c_mood", "c_weight", "c_reading",
    "c_range", "c_tsrange", "c_tsvector", "Mixed Case", "with space", "quote\"\"d", "select", "ünïcödé",
]

@Suite("Values of every type arrive exactly", .serialized, .cleansUpScenarios)
struct TypeRoundTripTests {
    @Test("every listed type and hostile identifiers survive the snapshot and streamed inserts and updates")
    func everyTypeRoundTrips() async throws {
        let scenario = try await Scenario.make(sourceSQL: typesSchema, tables: [#"public."All Types""#])
        let check = try await scenario.forager(["check"])
        #expect(check.contains("note: column values will arrive as text, because public.\"All Types\": column \"c_mood\""), "\(check)")
        let output = try await scenario.forager(["sync"])
        // The enum and the composite type have no built-in binary form: values arrive as text.
        #expect(output.contains("column values arrive as text") && output.contains("c_mood"), "\(output)")
        try await scenario.expectSameContent(source: #""All Types""#, target: #"analytics."All Types""#, columns: columns)

        try await scenario.onSource(
            #"""
            INSERT INTO "All Types" SELECT id + 100, c_smallint, c_integer, c_bigint, c_numeric, c_numeric_scaled, c_real,
                c_double, c_boolean, c_text, c_varchar, c_char, c_bytea, c_date, c_time, c_timetz, c_timestamp, c_timestamptz,
                c_interval, c_uuid, c_json, c_jsonb, c_inet, c_cidr, c_macaddr, c_money, c_bit, c_varbit, c_int_array,
                c_text_array, c_matrix, c_mood, c_weight, c_reading, c_range, c_tsrange, c_tsvector, "Mixed Case",
                "with space", "quote""d", "select", "ünïcödé" FROM "All Types";
            UPDATE "All Types" SET c_text = c_text || ' (updated)', c_double = -c_double, c_timestamptz = '-infinity' WHERE id IN (1, 102);
            """#)
        try await scenario.forager(["sync"])
        try await scenario.expectSameContent(source: #""All Types""#, target: #"analytics."All Types""#, columns: columns)
        #expect(try await scenario.warehouseScalar(#"SELECT count(*) FROM analytics."All Types""#) == "6")
        // Floats keep their exact bits: NaN, -0 and the smallest normal values.
        #expect(try await scenario.warehouseScalar(#"SELECT c_double::text FROM analytics."All Types" WHERE id = 102"#) == "0")
        #expect(try await scenario.warehouseScalar(#"SELECT c_double::text FROM analytics."All Types" WHERE id = 2"#) == "-0")
    }
}

/// The listed types that are built in (all but the enum and the composite type; the domain's base
/// type is built in), for binary values.
private let builtInColumns = columns.filter { $0 != "c_mood" && $0 != "c_reading" }

@Suite("Binary values", .serialized, .cleansUpScenarios)
struct BinaryValueTests {
    @Test("binary mode stores every built-in type of the list as received, TOAST-unchanged values and composite keys included")
    func binaryValuesRoundTrip() async throws {
        let schema =
            typesSchema + #"""
                CREATE TABLE "Built In" AS SELECT \#(builtInColumns.map { "\"\($0)\"" }.joined(separator: ", ")) FROM "All Types";
                ALTER TABLE "Built In" ADD PRIMARY KEY (id);
                CREATE TABLE readings (sensor uuid, at timestamptz, n int, big text, PRIMARY KEY (sensor, at));
                ALTER TABLE readings ALTER COLUMN big SET STORAGE EXTERNAL;
                INSERT INTO readings SELECT md5(g::text)::uuid, '2026-01-01'::timestamptz + g * interval '1 s', g, repeat(md5(g::text), 300)
                FROM generate_series(1, 200) g;
                """#
        let scenario = try await Scenario.make(sourceSQL: schema, tables: [#"public."Built In""#, "public.readings"])
        let first = try await scenario.forager(["sync"])
        #expect(first.contains("column values arrive in binary"), "\(first)")
        try await scenario.onSource(
            #"""
            INSERT INTO "Built In" SELECT id + 100, \#(builtInColumns.dropFirst().map { "\"\($0)\"" }.joined(separator: ", ")) FROM "Built In";
            UPDATE "Built In" SET c_text = c_text || ' (updated)', c_double = -c_double, c_timestamptz = '-infinity' WHERE id IN (1, 102);
            UPDATE "Built In" SET id = id + 1000 WHERE id = 2;
            DELETE FROM "Built In" WHERE id = 3;
            UPDATE readings SET n = n + 1 WHERE n % 3 = 0;
            UPDATE readings SET at = at + interval '1 day' WHERE n % 7 = 0;
            DELETE FROM readings WHERE n % 11 = 0;
            """#)
        let second = try await scenario.forager(["sync"])
        #expect(second.contains("column values arrive in binary"), "\(second)")
        try await scenario.expectSameContent(source: #""Built In""#, target: #"analytics."Built In""#, columns: builtInColumns)
        try await scenario.expectSameContent(
            source: "readings", target: "analytics.readings", columns: ["sensor", "at", "n", "big"], key: ["sensor", "at"])
        #expect(try await scenario.warehouseScalar(#"SELECT c_double::text FROM analytics."Built In" WHERE id = 102"#) == "0")

    }
}
