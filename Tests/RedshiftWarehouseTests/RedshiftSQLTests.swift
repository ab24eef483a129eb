import ForagerCore
import S3Staging
import Testing

@testable import RedshiftWarehouse

@Suite("Redshift SQL")
struct RedshiftSQLTests {
    @Test("redaction masks every secret option of a COPY, in any case and spacing")
    func redaction() {
        let keys = AWSKeysForGolden.keys
        let copy = RedshiftSQL.copy(
            into: "\"s\"", columns: ["\"a\""], manifestURL: "s3://b/m", authorization: .keys(keys), region: "us-east-1")
        let redacted = RedshiftSQL.redact(copy)
        #expect(!redacted.contains(keys.secretAccessKey) && !redacted.contains(keys.accessKeyID) && !redacted.contains(keys.sessionToken!))
        #expect(redacted.contains("SECRET_ACCESS_KEY '***'") && redacted.contains("FROM 's3://b/m'"))
        let other = RedshiftSQL.redact("copy t from 's3://x' credentials as 'aws_access_key_id=A;aws_secret_access_key=it''s' gzip")
        #expect(other == "copy t from 's3://x' credentials as '***' gzip")
        #expect(RedshiftSQL.redacting("failed for wJalr", secrets: ["wJalr"]) == "failed for ***")
    }

    @Test("LOCK names each table once, in one order whatever the batch's")
    func lockOrder() {
        #expect(RedshiftSQL.lock(["\"s\".\"b\"", "\"s\".\"a\"", "\"s\".\"b\""]) == "LOCK \"s\".\"a\", \"s\".\"b\"")
    }

    @Test("a table without layout options gets DISTSTYLE AUTO and its key as sort key; only key columns are NOT NULL")
    func defaultLayout() {
        var table = Fixtures.orders()
        table.layout = PhysicalLayout()
        table.columns[1].notNull = true
        let sql = RedshiftSQL.createTable(table)
        #expect(sql.hasSuffix("DISTSTYLE AUTO\nCOMPOUND SORTKEY (\"id\")"))
        #expect(sql.contains("\"note\" VARCHAR(65535),"))
    }

    @Test("diststyle of the mapping is the table's DISTSTYLE; DISTKEY only with KEY")
    func distributionStyle() {
        var table = Fixtures.orders()
        table.layout = PhysicalLayout(redshift: .init(distStyle: .all))
        #expect(RedshiftSQL.createTable(table).hasSuffix("DISTSTYLE ALL\nCOMPOUND SORTKEY (\"id\")"))
        table.layout = PhysicalLayout(redshift: .init(sortKey: ["at"], distKey: "note"))
        #expect(RedshiftSQL.createTable(table).hasSuffix("DISTSTYLE KEY\nDISTKEY (\"note\")\nCOMPOUND SORTKEY (\"at\")"))
    }

    @Test("the checkpoint is replaced by delete and insert, never an upsert")
    func checkpoint() {
        let statements = RedshiftSQL.storeCheckpoint("\"a\".\"_forager_state\"", slot: "it's", lsn: 42)
        #expect(statements.count == 2)
        #expect(statements[0].hasPrefix("DELETE FROM") && statements[1].hasPrefix("INSERT INTO"))
        #expect(statements[1].contains("'it''s', 42"))
        #expect(!statements.joined().contains("ON CONFLICT"))
    }
}

@Suite("Values older rows read for a new column")
struct MissingValueTests {
    private func literal(_ missing: String, _ type: String) -> String? {
        var column = SourceColumn(name: "c", sqlType: type, notNull: false)
        column.missingValue = missing
        return RedshiftSQL.missingValueLiteral(column)
    }

    @Test("constant defaults become literals; what Redshift cannot take as a default is nil")
    func literals() {
        #expect(literal("{5}", "integer") == "'5'")
        #expect(literal("{NULL}", "text") == "NULL")
        #expect(literal("{\"it's a \\\"b\\\"\"}", "text") == "'it''s a \"b\"'")
        #expect(literal("{2024-01-01 00:00:00+00}", "timestamp with time zone") == "'2024-01-01 00:00:00+00'")
        #expect(literal("{infinity}", "timestamp with time zone") == nil)
        #expect(literal("{\"{}\"}", "jsonb") == nil)
        #expect(literal("{\"a\\\\\\\\b\"}", "text") == nil)
    }
}
