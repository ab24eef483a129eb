import Testing

@testable import ClickHouseWarehouse

@Suite struct ClickHouseClientTests {
    @Test func overloadAndUnavailabilityAreTransientOtherRefusalsAreNot() {
        #expect(ClickHouseClient.isTransient(status: 503, body: ""))
        #expect(
            ClickHouseClient.isTransient(
                status: 500,
                body:
                    "Code: 252, e.displayText() = DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts"
            ))
        #expect(
            ClickHouseClient.isTransient(status: 500, body: "Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded")
        )
        #expect(
            ClickHouseClient.isTransient(status: 500, body: "Code: 202, e.displayText() = DB::Exception: Too many simultaneous queries"))
        #expect(!ClickHouseClient.isTransient(status: 500, body: "Code: 62, e.displayText() = DB::Exception: Syntax error"))
        #expect(
            !ClickHouseClient.isTransient(
                status: 516, body: "Code: 516, e.displayText() = DB::Exception: forager_ch: Authentication failed"))
        #expect(!ClickHouseClient.isTransient(status: 404, body: "Code: 60, e.displayText() = DB::Exception: Table wh.x doesn't exist"))
        #expect(!ClickHouseClient.isTransient(status: 500, body: "no code at all"))
    }

    @Test func constraintAndParseRefusalsConcernOneTableOthersDoNot() {
        #expect(
            ClickHouseClient.isTableRefusal(
                "ClickHouse refused 'INSERT INTO ...': Code: 469. DB::Exception: Constraint `positive` for table db.other is violated. (VIOLATED_CONSTRAINT)"
            ))
        #expect(ClickHouseClient.isTableRefusal("Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected \\t before: abc"))
        #expect(!ClickHouseClient.isTableRefusal("Code: 60, e.displayText() = DB::Exception: Table wh.x doesn't exist"))
        #expect(!ClickHouseClient.isTableRefusal("Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded"))
        #expect(!ClickHouseClient.isTableRefusal("cannot reach the ClickHouse server"))
    }

    @Test func onlyKeyAndPartitionRefusalsAreTakenForTheLayouts() {
        #expect(ClickHouseClient.isLayoutRefusal("Code: 44, e.displayText() = DB::Exception: Sorting key cannot contain nullable columns"))
        #expect(ClickHouseClient.isLayoutRefusal("Code: 43. DB::Exception: Illegal type Int64 of argument of function toYYYYMM"))
        #expect(!ClickHouseClient.isLayoutRefusal("Code: 497. DB::Exception: forager: Not enough privileges. (ACCESS_DENIED)"))
        #expect(!ClickHouseClient.isLayoutRefusal("cannot reach the ClickHouse server"))
    }
}
