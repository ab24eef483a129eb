import Testing

@testable import RedshiftWarehouse

@Suite("PostgreSQL to Redshift types")
struct RedshiftTypeTests {
    /// Every type of the type round-trip integration test, as `format_type` prints it.
    @Test(
        "every type of the round-trip test has a Redshift type",
        arguments: [
            ("integer", "INTEGER"), ("smallint", "SMALLINT"), ("bigint", "BIGINT"), ("numeric", "VARCHAR(65535)"),
            ("numeric(12,4)", "DECIMAL(12,4)"), ("numeric(38,0)", "DECIMAL(38,0)"), ("numeric(39,2)", "VARCHAR(42)"),
            ("real", "REAL"), ("double precision", "DOUBLE PRECISION"), ("boolean", "BOOLEAN"), ("text", "VARCHAR(65535)"),
            ("character varying(10)", "VARCHAR(40)"), ("character varying", "VARCHAR(65535)"), ("character(5)", "VARCHAR(20)"),
            ("bytea", "VARBYTE(1024000)"), ("date", "DATE"), ("time without time zone", "TIME"), ("time with time zone", "TIMETZ"),
            ("timestamp without time zone", "TIMESTAMP"), ("timestamp(3) with time zone", "TIMESTAMPTZ"),
            ("timestamp with time zone", "TIMESTAMPTZ"), ("interval", "VARCHAR(100)"), ("uuid", "VARCHAR(36)"), ("json", "SUPER"),
            ("jsonb", "SUPER"), ("inet", "VARCHAR(43)"), ("cidr", "VARCHAR(43)"), ("macaddr", "VARCHAR(17)"), ("money", "VARCHAR(32)"),
            ("bit(4)", "VARCHAR(4)"), ("bit varying(8)", "VARCHAR(8)"), ("integer[]", "VARCHAR(65535)"), ("text[]", "VARCHAR(65535)"),
            ("mood", "VARCHAR(65535)"), ("positive_weight", "VARCHAR(65535)"), ("reading", "VARCHAR(65535)"),
            ("int4range", "VARCHAR(65535)"), ("tstzrange", "VARCHAR(65535)"), ("tsvector", "VARCHAR(65535)"), ("pg_lsn", "BIGINT"),
            ("character varying(20000)", "VARCHAR(65535)"),
        ])
    func mapping(_ source: String, _ redshift: String) {
        #expect(RedshiftTypes.mapping(of: source).sql == redshift)
    }

    @Test("value kinds follow the type")
    func kinds() {
        #expect(RedshiftTypes.mapping(of: "numeric(12,4)").kind == .decimal)
        #expect(RedshiftTypes.mapping(of: "bytea").kind == .varbyte(maxBytes: 1_024_000))
        #expect(RedshiftTypes.mapping(of: "jsonb").kind == .json)
        #expect(RedshiftTypes.mapping(of: "timestamp with time zone").kind == .dateTime)
        #expect(RedshiftTypes.mapping(of: "pg_lsn").kind == .lsn)
        #expect(RedshiftTypes.mapping(of: "character varying(10)").kind == .text(maxBytes: 40))
    }
}
