import ForagerCore
import ForagerPipeline
import Testing

@Suite struct ChunkChecksumTests {
    private func table(key: [String] = ["hive", "at"]) -> MappedTable {
        var table = MappedTable(
            source: TableName(schema: "public", name: "Readings"), target: TableName(schema: "analytics", name: "readings"),
            columns: [
                SourceColumn(name: "hive", sqlType: "text", notNull: true),
                SourceColumn(name: "at", sqlType: "timestamp with time zone", notNull: true),
                SourceColumn(name: "value", sqlType: "numeric", notNull: false),
            ],
            keyColumns: key)
        table.renames = ["value": "reading"]
        return table
    }

    @Test func boundariesFollowTheKeyOrderAndRangesAreHalfOpenOnBothSides() {
        let checksum = ChunkChecksum(table: table())
        #expect(
            checksum.boundaryQuery(after: false, size: 100)
                == #"SELECT "hive"::text AS _forager_key0, "at"::text AS _forager_key1 FROM "public"."Readings" WHERE true ORDER BY "hive", "at" OFFSET 99 LIMIT 1"#
        )
        #expect(
            checksum.boundaryQuery(after: true, size: 100).contains(
                #"WHERE ("hive", "at") > ($1::text, $2::timestamp with time zone) ORDER BY"#))
        let source = checksum.aggregateQuery(after: true, through: true, warehouse: false)
        #expect(source.contains(#"md5(convert_to(ROW("hive", "at", "value")::text, 'UTF8'))"#))
        #expect(
            source.hasSuffix(
                #"FROM "public"."Readings" WHERE ("hive", "at") > ($1::text, $2::timestamp with time zone) AND ("hive", "at") <= ($3::text, $4::timestamp with time zone)"#
            ))
        let warehouse = checksum.aggregateQuery(after: false, through: true, warehouse: true)
        #expect(warehouse.contains(#"md5(convert_to(ROW("hive", "at", "reading")::text, 'UTF8'))"#))
        #expect(warehouse.hasSuffix(#"FROM "analytics"."readings" WHERE ("hive", "at") <= ($1::text, $2::timestamp with time zone)"#))
    }

    @Test("both sides hash a row's text as UTF-8, in chunk checksums and row by row, so that a LATIN1 source and a UTF-8 warehouse agree")
    func rowsAreHashedInUTF8OnBothSides() {
        let checksum = ChunkChecksum(table: table())
        for warehouse in [false, true] {
            let hashes = [
                checksum.aggregateQuery(after: false, through: false, warehouse: warehouse),
                checksum.rowsQuery(after: false, through: false, warehouse: warehouse),
            ]
            for query in hashes {
                #expect(query.contains("md5(convert_to(ROW("), "\(query)")
                #expect(query.contains(")::text, 'UTF8'))"), "\(query)")
            }
        }
    }

    @Test func softDeletedRowsDoNotCountAndTypeOverridesAreCastOnTheSource() {
        var mapped = table()
        mapped.deletes = .soft
        mapped.columns[2].overriddenType = "numeric"
        mapped.columns[2].sqlType = "double precision"
        let checksum = ChunkChecksum(table: mapped)
        #expect(checksum.aggregateQuery(after: false, through: false, warehouse: true).hasSuffix(#"WHERE true AND NOT "_forager_deleted""#))
        #expect(checksum.aggregateQuery(after: false, through: false, warehouse: false).contains(#""value"::double precision"#))
    }

    @Test func aForcedCollationAppliesToTextKeysOnly() {
        let checksum = ChunkChecksum(table: table(), keyCollation: "C")
        #expect(
            checksum.boundaryQuery(after: true, size: 10).contains(
                #"("hive" COLLATE "C", "at") > ($1::text COLLATE "C", $2::timestamp with time zone)"#))
    }

    @Test func keylessTablesAreComparedWhole() {
        var keyless = table(key: [])
        keyless.identity = .fullRow
        let checksum = ChunkChecksum(table: keyless)
        #expect(!checksum.isChunked)
        #expect(checksum.aggregateQuery(after: false, through: false, warehouse: false).hasSuffix("WHERE true"))
    }

    @Test func copiesARangeOrAListOfKeysAsQuotedLiteralsCastToTheKeyTypes() {
        let checksum = ChunkChecksum(table: table())
        let range = checksum.copyQuery(.range(after: ["a'b", "2024-01-01 00:00:00+00"], through: nil), position: "0/10")
        #expect(
            range
                == #"COPY (SELECT "hive", "at", "value", '0/10'::pg_lsn FROM "public"."Readings" WHERE ("hive", "at") > ('a''b'::text, '2024-01-01 00:00:00+00'::timestamp with time zone) ORDER BY "hive", "at") TO STDOUT"#
        )
        let keys = checksum.copyQuery(.keys([["x", "infinity"], [#"y\z"#, "-infinity"]]), position: "0/10")
        #expect(
            keys.contains(
                #"WHERE ("hive", "at") IN (('x'::text, 'infinity'::timestamp with time zone), ('y\z'::text, '-infinity'::timestamp with time zone)) ORDER BY"#
            ))
        #expect(checksum.copyQuery(.keys([]), position: "0/10").contains("IN (NULL)"))
    }
}
