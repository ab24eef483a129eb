import ForagerConfig
import ForagerCore
import Testing

@Suite("Table patterns and exclude_tables")
struct TableSelectionTests {
    private let sourceTables = [
        TableName(schema: "public", name: "samples"), TableName(schema: "public", name: "hives"),
        TableName(schema: "public", name: "schema_migrations"), TableName(schema: "public", name: "tmp_load"),
        TableName(schema: "sensors", name: "samples"), TableName(schema: "sensors", name: "readings"),
    ]

    private func resolve(_ mapping: String) throws -> (tables: [ForagerConfiguration.TableMapping], problems: [ForagerError]) {
        try withMapping(mapping) { try $0.load().resolveTables(sourceTables: sourceTables) }
    }

    @Test func aPatternSelectsTablesByNameAndExactEntriesWin() throws {
        let (tables, problems) = try resolve(
            """
            tables:
              - source: public.hives
                target: apiaries
              - source: public.*
                deletes: soft
                exclude_tables: [public.schema_migrations, public.tmp_*]
            """)
        #expect(problems.isEmpty, "\(problems)")
        #expect(tables.map(\.source.description) == ["public.hives", "public.samples"])
        #expect(tables.map(\.target) == ["apiaries", "samples"])
        #expect(tables.map(\.deletes) == [.hard, .soft])
        #expect(tables[1].line == 4)
    }

    @Test func twoSchemasLandingOnOneTargetAreNamedWithTheFix() throws {
        let (_, problems) = try resolve(
            """
            tables:
              - source: '*.samples'
            """)
        #expect(problems.count == 1)
        #expect(problems[0].message.contains("sensors.samples and public.samples"))
        #expect(problems[0].message.hasSuffix(#"would both land in the warehouse table "samples""#))
        #expect(problems[0].hint?.contains("different target") == true)
    }

    @Test func aPatternMatchingNothingAndAnExclusionMatchingNothingAreProblems() throws {
        let (_, problems) = try resolve(
            """
            tables:
              - source: audit.*
              - source: sensors.*
                exclude_tables: [sensors.nope]
            """)
        #expect(problems.count == 2)
        #expect(problems.first?.message.hasSuffix("app.yaml:2: audit.* matches no table on the source") == true)
        #expect(
            problems.last?.message.hasSuffix(
                "app.yaml:3: exclude_tables names sensors.nope, which is not among the tables sensors.* selects") == true)
    }

    @Test func aTableSelectedByTwoPatternsIsAProblem() throws {
        let (tables, problems) = try resolve(
            """
            tables:
              - source: sensors.*
              - source: sensors.r*
            """)
        #expect(tables.map(\.source.description) == ["sensors.readings", "sensors.samples"])
        #expect(problems.count == 1)
        #expect(problems[0].message.contains("sensors.readings is selected by sensors.r* and also by sensors.* at"))
    }

    @Test func columnOptionsOnAPatternAreRefusedWithTheFix() throws {
        let problems = try mappingProblems("tables:\n  - source: public.*\n    target: everything\n    exclude_columns: [email]\n")
        #expect(problems.map(\.key) == ["tables[0].target", "tables[0].exclude_columns"])
        #expect(problems.allSatisfy { $0.message.contains("cannot be used with a pattern") })
        #expect(problems.allSatisfy { $0.message.contains("map the table by its own name") })
    }

    @Test func excludeTablesOnAnExactEntryIsRefused() throws {
        let problem = try mappingProblem("tables:\n  - source: public.samples\n    exclude_tables: [public.x]\n")
        expectProblem(problem, key: "tables[0].exclude_tables", containing: ["only applies to an entry whose source has a wildcard"])
    }
}

@Suite("append_only and physical layout options")
struct LayoutOptionTests {
    @Test func readsAppendOnlyAndBothLayouts() throws {
        let tables = try mappedTables(
            """
            tables:
              - source: public.samples
                append_only: true
                clickhouse:
                  order_by: [id, ts]
                  partition_by: toYYYYMM(ts)
                redshift: {sortkey: [ts], distkey: device_id}
            """)
        let table = try #require(tables.first)
        #expect(table.appendOnly)
        #expect(table.layout.clickHouse == PhysicalLayout.ClickHouse(orderBy: ["id", "ts"], partitionBy: "toYYYYMM(ts)"))
        #expect(table.layout.redshift == PhysicalLayout.Redshift(sortKey: ["ts"], distKey: "device_id"))
    }

    @Test func unclearBooleansAndUnknownLayoutKeysAreNamed() throws {
        let problems = try mappingProblems(
            """
            tables:
              - source: public.samples
                append_only: yes
              - source: public.hives
                clickhouse: {order: [id]}
            """)
        #expect(problems.map(\.key) == ["tables[0].append_only", "tables[1].clickhouse.order"])
        #expect(problems[0].message.contains("must be true or false, not 'yes'"))
        #expect(problems[1].message.contains("order_by"))
    }

    /// A Redshift option read into the layout, and an unknown value of it named with its fix.
    @Test(arguments: [
        (
            "{diststyle: ALL, sortkey: [ts]}", PhysicalLayout.Redshift(sortKey: ["ts"], distStyle: .all), "diststyle: round_robin",
            ["'round_robin' is not a Redshift distribution style", "write one of auto, even, all, key"]
        ),
        (
            "{oversized_text: truncate}", PhysicalLayout.Redshift(oversizedText: .truncate), "oversized_text: chop",
            ["'chop' is not a choice", "write stop (the default: the table stops) or truncate"]
        ),
    ])
    func readsARedshiftOptionAndNamesAValueItDoesNotKnow(
        good: String, layout: PhysicalLayout.Redshift, bad: String, messages: [String]
    ) throws {
        let tables = try mappedTables("tables:\n  - source: public.samples\n    redshift: \(good)\n  - source: public.hives\n")
        #expect(tables.first?.layout.redshift == layout)
        #expect(tables.last?.layout.redshift?.oversizedText ?? .stop == .stop, "stop unless asked")
        let problem = try mappingProblem("tables:\n  - source: public.samples\n    redshift: {\(bad)}\n")
        let key = "tables[0].redshift." + bad.prefix { $0 != ":" }
        expectProblem(problem, code: .invalidValue, line: 3, key: key, containing: messages)
    }

    @Test func aDistributionStyleThatContradictsTheDistkeyIsAProblem() {
        let columns = ["id", "device_id"]
        #expect(
            PhysicalLayout(redshift: .init(distStyle: .key)).problems(columns: columns, key: ["id"]) == [
                "redshift.diststyle is key, but no distkey names the column; add distkey: <column>, or choose auto, even or all"
            ])
        #expect(
            PhysicalLayout(redshift: .init(distKey: "device_id", distStyle: .even)).problems(columns: columns, key: ["id"]).first?
                .hasPrefix("redshift.diststyle is even, but a distkey is set") == true)
        #expect(PhysicalLayout(redshift: .init(distKey: "device_id", distStyle: .key)).problems(columns: columns, key: ["id"]).isEmpty)
        #expect(PhysicalLayout(redshift: .init(distKey: "device_id")).redshift?.effectiveDistStyle == .key)
        #expect(PhysicalLayout(redshift: .init()).redshift?.effectiveDistStyle == .auto)
    }

    @Test func layoutProblemsNameTheColumnAndTheFix() {
        let layout = PhysicalLayout(
            clickHouse: .init(orderBy: ["ts", "id", "nope"], partitionBy: "toYYYYMM(ts); DROP"),
            redshift: .init(sortKey: ["ts"], distKey: "device"))
        let problems = layout.problems(columns: ["id", "ts", "device_id"], key: ["id"])
        #expect(problems.count == 4)
        #expect(problems[0].hasPrefix(#"clickhouse.order_by names "nope", which is not a warehouse column"#))
        #expect(problems[1].contains("does not start with the primary key (id)"))
        #expect(problems[1].hasSuffix("write order_by: [id, ts, nope]"))
        #expect(problems[2].contains("semicolon"))
        #expect(problems[3].hasPrefix(#"redshift.distkey names "device""#))
        #expect(PhysicalLayout(clickHouse: .init(orderBy: ["id", "ts"])).problems(columns: ["id", "ts"], key: ["id"]).isEmpty)
    }
}
