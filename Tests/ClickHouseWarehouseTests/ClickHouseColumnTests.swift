import ForagerCore
import Testing

@testable import ClickHouseWarehouse

@Suite("ClickHouse columns and value conversion")
struct ClickHouseColumnTests {
    private let table = TableName(schema: "public", name: "samples")

    private func converted(_ sqlType: String, _ text: String?) throws -> String {
        var output: [UInt8] = []
        try ClickHouseColumn(name: "c", sqlType: sqlType, nullable: true).append(
            text.map { Array($0.utf8)[...] }, to: &output, table: table)
        return String(decoding: output, as: UTF8.self)
    }

    @Test(arguments: [
        ("smallint", "Int16"), ("integer", "Int32"), ("bigint", "Int64"), ("real", "Float32"), ("double precision", "Float64"),
        ("numeric(12,3)", "Decimal(12, 3)"), ("numeric(40,2)", "String"), ("numeric", "String"), ("boolean", "UInt8"),
        ("uuid", "UUID"), ("date", "Date"), ("timestamp with time zone", "Int64"), ("timestamp(3) without time zone", "Int64"),
        ("bytea", "String"), ("text", "String"), ("jsonb", "String"), ("inet", "String"),
    ])
    func mapsTypes(sqlType: String, expected: String) {
        #expect(ClickHouseColumn(name: "c", sqlType: sqlType, nullable: false).type == expected)
        #expect(ClickHouseColumn(name: "c", sqlType: sqlType, nullable: true).type == "Nullable(\(expected))")
    }

    @Test func convertsValues() throws {
        // Floats travel as their bits: ClickHouse 18.16 reads 25.952 as 25.951999999999998.
        #expect(try converted("real", "NaN") == String(Float.nan.bitPattern))
        #expect(try converted("double precision", "-Infinity") == String((-Double.infinity).bitPattern))
        #expect(try converted("double precision", "-0") == "9223372036854775808")
        #expect(try converted("double precision", "25.952") == "4627998056277723841")
        #expect(try converted("real", "1.5") == String(Float(1.5).bitPattern))
        #expect(try converted("boolean", "t") == "1")
        #expect(try converted("text", "a\tb\nc\\d\r") == "a\\tb\\nc\\\\d\\r")
        #expect(
            try converted("bytea", "\\x00ff0a")
                == "\\0\u{FF}\\n".replacingOccurrences(of: "\u{FF}", with: String(decoding: [0xFF], as: UTF8.self)))
        #expect(try converted("integer", nil) == "\\N")
        #expect(try converted("date", "2105-12-31") == "2105-12-31")
        #expect(try converted("timestamp with time zone", "1970-01-01 00:00:01.5+00") == "1500000")
    }

    @Test func refusesNullWhereTheColumnIsNotNullableInsteadOfStoringADefault() throws {
        var output: [UInt8] = []
        #expect {
            try ClickHouseColumn(name: "c", sqlType: "integer", nullable: false).append(nil, to: &output, table: table)
        } throws: { error in
            guard let error = error as? ForagerError else { return false }
            return error.isTransient
                && error.message.contains("\"c\" of public.samples has a NULL, which its ClickHouse column (Int32) cannot hold")
        }
        #expect {
            try ClickHouseColumn(name: "c", sqlType: "integer[]", nullable: false).append(nil, to: &output, table: table)
        } throws: { error in
            guard let error = error as? ForagerError else { return false }
            return !error.isTransient && error.hint?.contains("forager resync --table public.samples") == true
        }
        #expect(output.isEmpty)
        try ClickHouseColumn(name: "c", sqlType: "integer", nullable: true).append(nil, to: &output, table: table)
        #expect(String(decoding: output, as: UTF8.self) == "\\N")
    }

    @Test func refusesWhatClickHouseCannotHoldNamingTheColumnAndTheFix() {
        for (type, value) in [("date", "1969-12-31"), ("date", "infinity"), ("numeric(10,2)", "NaN"), ("bytea", "zz")] {
            #expect(throws: ForagerError.self) { try converted(type, value) }
        }
        #expect {
            try converted("date", "1900-01-01")
        } throws: { error in
            guard let error = error as? ForagerError else { return false }
            return error.message.contains("\"c\" of public.samples has the value '1900-01-01'")
                && error.hint?.contains("types: {c: text}") == true
        }
    }

    @Test(arguments: [
        ("1970-01-01 00:00:00+00", Int64(0)),
        ("2024-06-01 10:00:00.123456+02", Int64(1_717_228_800_123_456)),
        ("2024-06-01 10:00:00-05:30", Int64(1_717_255_800_000_000)),
        ("2024-06-01 10:00:00.5", Int64(1_717_236_000_500_000)),
        ("1969-12-31 23:59:59", Int64(-1_000_000)),
        ("0001-01-01 00:00:00", Int64(-62_135_596_800_000_000)),
        ("0044-03-15 12:00:00 BC", Int64(-63_517_780_800_000_000)),
        ("10000-01-01 00:00:00", Int64(253_402_300_800_000_000)),
        ("infinity", Int64.max), ("-infinity", Int64.min),
    ])
    func readsTimestamps(text: String, expected: Int64) {
        #expect(ClickHouseColumn.microseconds(text) == expected)
    }

    @Test func unreadableTimestampsAreNil() {
        for text in ["", "2024-06-01 10:00", "yesterday", "2024-06-01 10:00:00 AD", "2024-06-01T10:00:00"] {
            #expect(ClickHouseColumn.microseconds(text) == nil, "\(text)")
        }
    }

    @Test func floatColumnsAreSentAsBitsAndReinterpreted() {
        let column = ClickHouseColumn(name: "t", sqlType: "double precision", nullable: true)
        #expect(column.carriesFloatBits && column.stagingType == "Nullable(UInt64)")
        #expect(column.fromStaging("c1") == "if(isNull(c1), NULL, reinterpretAsFloat64(reinterpretAsString(assumeNotNull(c1))))")
        let array = ClickHouseColumn(name: "a", sqlType: "real[]", nullable: false)
        #expect(array.stagingType == "Array(Nullable(UInt32))")
        #expect(array.fromStaging("c2").hasPrefix("arrayMap(v -> if(isNull(v), NULL, reinterpretAsFloat32("))
        #expect(!ClickHouseColumn(name: "i", sqlType: "integer", nullable: false).carriesFloatBits)
    }

    @Test func asyncInsertIsTurnedOffWhereTheServerKnowsTheSetting() {
        #expect(ClickHouseServerVersion("18.16.1").insertSettings.isEmpty)
        #expect(ClickHouseServerVersion("21.10.6.2").insertSettings.isEmpty)
        #expect(ClickHouseServerVersion("21.11.1").insertSettings.map { "\($0.0)=\($0.1)" } == ["async_insert=0"])
        #expect(ClickHouseServerVersion("26.9.1.1").insertSettings.map { "\($0.0)=\($0.1)" } == ["async_insert=0"])
    }

    @Test func typeGenerationFollowTheServerVersion() throws {
        #expect(!ClickHouseServerVersion("18.16.1").hasDateTime64)
        #expect(!ClickHouseServerVersion("19.17.6.36").hasDateTime64)
        #expect(ClickHouseServerVersion("20.1.2.4").hasDateTime64)
        #expect(!ClickHouseServerVersion("not a version").hasDateTime64)
        #expect(ClickHouseServerVersion("18.16.1").typeGeneration == .classic)
        #expect(ClickHouseServerVersion("22.7.1").typeGeneration == .dateTime64)
        #expect(ClickHouseServerVersion("22.8.4.7").typeGeneration == .modern)
        #expect(ClickHouseServerVersion("26.9.1.1").typeGeneration == .modern)
        #expect(ClickHouseColumn(name: "d", sqlType: "date", nullable: true, types: .dateTime64).type == "Nullable(Date)")
        #expect(ClickHouseColumn(name: "d", sqlType: "date[]", nullable: false, types: .modern).type == "Array(Nullable(Date32))")
        #expect(ClickHouseColumn(name: "t", sqlType: "timestamp without time zone", nullable: false, types: .classic).type == "Int64")
        #expect(ClickHouseColumn(name: "b", sqlType: "boolean", nullable: true, types: .modern).type == "Nullable(Bool)")
        #expect(ClickHouseColumn(name: "b", sqlType: "boolean", nullable: true, types: .dateTime64).type == "Nullable(UInt8)")
        #expect(ClickHouseColumn.sourceText(of: Array("true".utf8), conversion: .boolean) == Array("t".utf8))
        #expect(ClickHouseColumn.sourceText(of: Array("0".utf8), conversion: .boolean) == Array("f".utf8))
    }

    private func converted(_ column: ClickHouseColumn, _ value: String) throws -> String {
        var output: [UInt8] = []
        try column.append(Array(value.utf8)[...], to: &output, table: table)
        return String(decoding: output, as: UTF8.self)
    }

    @Test func dateTime64WithinTheServersRange() throws {
        let column = ClickHouseColumn(name: "at", sqlType: "timestamp with time zone", nullable: false, types: .dateTime64)
        #expect(column.type == "DateTime64(6, 'UTC')")
        #expect(try converted(column, "2024-06-01 10:00:00.25+02") == "2024-06-01 08:00:00.250000")
        #expect(throws: ForagerError.self) { try converted(column, "1900-01-01 00:00:00+00") }
        // infinity and -infinity are the range's ends, and read back as themselves.
        #expect(try converted(column, "infinity") == "2283-11-11 23:59:59.999999")
        #expect(try converted(column, "-infinity") == "1925-01-01 00:00:00.000000")
        let wide = ClickHouseColumn(name: "at", sqlType: "timestamp with time zone", nullable: false, types: .modern)
        #expect(try converted(wide, "1900-01-01 00:00:00+00") == "1900-01-01 00:00:00.000000")
        #expect(try converted(wide, "infinity") == "2299-12-31 23:59:59.999999")
        #expect(throws: ForagerError.self) { try converted(wide, "1899-12-31 23:59:59+00") }
        #expect(throws: ForagerError.self) { try converted(wide, "2300-01-01 00:00:00+00") }
        func back(_ text: String, wide: Bool) -> String? {
            ClickHouseColumn.sourceText(of: Array(text.utf8), conversion: .dateTime64(wide: wide)).map {
                String(decoding: $0, as: UTF8.self)
            }
        }
        #expect(back("2024-06-01 08:00:00.250000", wide: false) == "2024-06-01 08:00:00.250000+00")
        #expect(back("2283-11-11 23:59:59.999999", wide: false) == "infinity")
        #expect(back("2299-12-31 23:59:59.999999", wide: true) == "infinity")
        #expect(back("1900-01-01 00:00:00.000000", wide: true) == "-infinity")
    }

    @Test func date32HoldsDatesBefore1970() throws {
        let date = ClickHouseColumn(name: "d", sqlType: "date", nullable: false, types: .dateTime64)
        #expect(throws: ForagerError.self) { try converted(date, "1969-12-31") }
        let date32 = ClickHouseColumn(name: "d", sqlType: "date", nullable: false, types: .modern)
        #expect(try converted(date32, "1900-01-01") == "1900-01-01")
        #expect(try converted(date32, "2299-12-31") == "2299-12-31")
        #expect(throws: ForagerError.self) { try converted(date32, "2300-01-01") }
    }

    @Test func decimalKeysMatchWhateverTheServerPrints() throws {
        #expect(ClickHouseColumn.withoutTrailingZeros(Array("1.50".utf8)) == Array("1.5".utf8))
        #expect(ClickHouseColumn.withoutTrailingZeros(Array("2.00".utf8)) == Array("2".utf8))
        #expect(ClickHouseColumn.withoutTrailingZeros(Array("100".utf8)) == Array("100".utf8))
        #expect(ClickHouseColumn.withoutTrailingZeros(Array("-0.250".utf8)) == Array("-0.25".utf8))
        let amount = ClickHouseColumn(name: "amount", sqlType: "numeric(10,2)", nullable: false)
        #expect(amount.keyText == "replaceRegexpOne(toString(`amount`), '(\\\\.[0-9]*[1-9])0+$|\\\\.0+$', '\\\\1')")
        #expect(ClickHouseColumn(name: "sku", sqlType: "text", nullable: false).keyText == "toString(`sku`)")
    }

    @Test func quotesIdentifiersAndLiterals() {
        #expect(ClickHouseClient.quote("we`ird\\name") == "`we\\`ird\\\\name`")
        #expect(ClickHouseClient.literal("it's \\ here") == "'it\\'s \\\\ here'")
    }
}

@Suite("ClickHouse arrays")
struct ClickHouseArrayTests {
    private let table = TableName(schema: "public", name: "samples")

    private func converted(_ sqlType: String, _ text: String) throws -> String {
        var output: [UInt8] = []
        try ClickHouseColumn(name: "c", sqlType: sqlType, nullable: false).append(Array(text.utf8)[...], to: &output, table: table)
        return String(decoding: output, as: UTF8.self)
    }

    @Test func mapsArraysOfScalarsAndFallsBackWhereClickHouseCannot() {
        #expect(ClickHouseColumn(name: "c", sqlType: "integer[]", nullable: false).type == "Array(Nullable(Int32))")
        #expect(ClickHouseColumn(name: "c", sqlType: "text[]", nullable: false).type == "Array(Nullable(String))")
        #expect(ClickHouseColumn(name: "c", sqlType: "integer[]", nullable: true).type == "Nullable(String)")
        #expect(ClickHouseColumn(name: "c", sqlType: "bytea[]", nullable: false).type == "String")
    }

    @Test func convertsElements() throws {
        #expect(try converted("integer[]", "{1,NULL,-3}") == "[1,NULL,-3]")
        #expect(try converted("integer[]", "{}") == "[]")
        #expect(
            try converted("text[]", #"{plain,"with space","quote\"and\\back","NULL",NULL,""}"#)
                == #"['plain','with space','quote"and\\back','NULL',NULL,'']"#)
        #expect(
            try converted("double precision[]", "{NaN,1.5,-Infinity}")
                == "[\(Double.nan.bitPattern),\(Double(1.5).bitPattern),\((-Double.infinity).bitPattern)]")
        #expect(try converted("boolean[]", "{t,f}") == "[1,0]")
        #expect(try converted("timestamp with time zone[]", #"{"1970-01-01 00:00:01+00"}"#) == "[1000000]")
        #expect(try converted("text[]", "{\"tab\tnew\nline\"}") == #"['tab\tnew\nline']"#)
    }

    @Test func refusesMultidimensionalArraysAndExplicitBounds() {
        #expect(throws: ForagerError.self) { try converted("integer[]", "{{1,2},{3,4}}") }
        #expect(throws: ForagerError.self) { try converted("integer[]", "[0:1]={1,2}") }
        #expect(throws: ForagerError.self) { try converted("date[]", "{1900-01-01}") }
    }

    @Test func readsValuesBackInPostgreSQLsTextForm() {
        func back(_ value: String, _ sqlType: String) -> String? {
            ClickHouseColumn.sourceText(
                of: Array(value.utf8), conversion: ClickHouseColumn(name: "c", sqlType: sqlType, nullable: false).conversion
            )
            .map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(back("V31,N,V2D33", "integer[]") == #"{"1",NULL,"-3"}"#)
        #expect(back("", "text[]") == "{}")
        #expect(back("V612262,V6E616E", "text[]") == #"{"a\"b","nan"}"#)
        #expect(back("V6E616E", "double precision[]") == #"{"NaN"}"#)
        #expect(back("0000-00-00", "date") == "1970-01-01")
        #expect(back("nan", "real") == "NaN")
    }

    @Test(arguments: [
        Int64(0), 1_717_228_800_123_456, -1_000_000, -62_135_596_800_000_000, -63_517_780_800_000_000, 253_402_300_800_000_000, Int64.max,
        Int64.min,
    ])
    func timestampTextRoundTrips(micros: Int64) {
        #expect(ClickHouseColumn.microseconds(ClickHouseColumn.timestampText(micros)) == micros)
    }
}
