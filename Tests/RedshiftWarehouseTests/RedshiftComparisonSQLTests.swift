import ForagerCore
import Testing

@testable import RedshiftWarehouse

@Suite("Redshift comparison SQL")
struct RedshiftComparisonSQLTests {
    private func table(keys: [(String, String)]) -> MappedTable {
        MappedTable(
            source: TableName(schema: "public", name: "t"), target: TableName(schema: "w", name: "t"),
            columns: keys.map { SourceColumn(name: $0.0, sqlType: $0.1, notNull: true) }
                + [SourceColumn(name: "v", sqlType: "text", notNull: false)],
            keyColumns: keys.map(\.0))
    }

    @Test("a composite key is ordered column by column, as a row comparison would, every name quoted")
    func keyOrder() {
        let sql = RedshiftComparisonSQL(table: table(keys: [("a", "integer"), ("b", "date"), ("c \"x\"", "bigint")]))
        #expect(
            sql.keyOrder("l", after: true, "r")
                == "(l.\"a\" > r.\"a\" OR (l.\"a\" = r.\"a\" AND (l.\"b\" > r.\"b\" OR (l.\"b\" = r.\"b\" AND l.\"c \"\"x\"\"\" > r.\"c \"\"x\"\"\"))))"
        )
        #expect(
            sql.keyOrder("l", after: false, "r")
                == "(l.\"a\" < r.\"a\" OR (l.\"a\" = r.\"a\" AND (l.\"b\" < r.\"b\" OR (l.\"b\" = r.\"b\" AND l.\"c \"\"x\"\"\" <= r.\"c \"\"x\"\"\"))))"
        )
        #expect(RedshiftComparisonSQL(table: table(keys: [("id", "integer")])).keyOrder("l", after: false, "r") == "l.\"id\" <= r.\"id\"")
    }

    @Test("the warehouse side leaves out soft-deleted rows and counts the rows of each key; the twin side reads the session's twin")
    func queries() {
        let sql = RedshiftComparisonSQL(table: table(keys: [("id", "integer")]))
        let range = sql.warehouseRows(in: .range(first: false, last: false))
        #expect(range.contains("FROM \"w\".\"t\" AS \"_forager_w\"\nCROSS JOIN \"_forager_validate_after\" AS \"_forager_k\""), "\(range)")
        #expect(
            range.contains("WHERE NOT \"_forager_w\".\"_forager_deleted\" AND \"_forager_w\".\"id\" > \"_forager_k\".\"id\""), "\(range)")
        #expect(range.contains("COUNT(*) OVER (PARTITION BY \"_forager_w\".\"id\"), \"_forager_w\".\"_forager_lsn\""), "\(range)")
        #expect(!sql.warehouseRows(in: .range(first: true, last: true)).contains("JOIN"))
        #expect(
            sql.warehouseRows(in: .twinKeys).contains(
                "JOIN \"_forager_stage_0\" AS \"_forager_k\" ON \"_forager_w\".\"id\" = \"_forager_k\".\"id\""))
        #expect(sql.twinRows().hasPrefix("SELECT \"_forager_k\".\"id\", \"_forager_k\".\"v\", COUNT(*) OVER"))
        #expect(
            sql.fillPage(fromStart: true, size: 10)[1].hasSuffix("LIMIT 10") && !sql.fillPage(fromStart: true, size: 10)[1].contains("JOIN")
        )
        #expect(sql.begin().filter { $0.hasPrefix("CREATE TEMP TABLE") }.count == 5)
    }

    @Test("keys go back to the source in PostgreSQL's text form: bytea with \\x, pg_lsn as X/Y")
    func sourceText() {
        let sql = RedshiftComparisonSQL(table: table(keys: [("b", "bytea"), ("l", "pg_lsn"), ("t", "text")]))
        #expect(sql.sourceText(ofKey: ["00ff", "4294967297", "a\tb"]) == ["\\x00ff", "1/1", "a\tb"])
    }

    @Test("a row's line escapes what would split it, and NULL differs from the text \\N")
    func line() {
        #expect(RedshiftComparisonSQL.line(["a\tb\nc\r\\", nil, "\\N", ""]) == "a\\tb\\nc\\r\\\\\t\\N\t\\\\N\t")
    }

    @Test("keys Redshift orders as PostgreSQL does are compared by range, others by set")
    func keyOrderAlike() {
        let alike: [[String]] = [["integer"], ["bigint", "timestamp(3) with time zone"], ["numeric(12,2)", "date"], ["boolean"]]
        let unlike: [[String]] = [["text"], ["uuid"], ["numeric"], ["double precision"], ["integer", "character varying(5)"]]
        for types in alike { #expect(RedshiftWarehouse.ordersKeysAlike(types), "\(types)") }
        for types in unlike { #expect(!RedshiftWarehouse.ordersKeysAlike(types), "\(types)") }
    }
}
