import ForagerCore
import Testing

@testable import ForagerConfig
@testable import ForagerPipeline

@Suite("The tables forager validate --table selects")
struct ValidateSelectionTests {
    private let mapped = ["hives", "samples", "yards"].enumerated().map { index, name in
        ForagerConfiguration.TableMapping(
            source: TableName(schema: "public", name: name), target: name, file: "mappings/app.yaml", line: index + 1)
    }

    @Test func noNameSelectsEveryMappedTable() throws {
        #expect(try Pipeline.select([], from: mapped) == mapped)
    }

    @Test func namesSelectTheirEntriesInMappingOrder() throws {
        let selected = try Pipeline.select(["public.yards", "hives"], from: mapped)
        #expect(selected.map(\.target) == ["hives", "yards"])
    }

    @Test func anUnmappedTableIsRefusedWithTheMappedOnesNamed() {
        #expect {
            try Pipeline.select(["public.queens"], from: mapped)
        } throws: { error in
            let error = error as? ForagerError
            return error?.message == "public.queens is not a mapped table"
                && error?.hint == "Mapped tables: public.hives, public.samples, public.yards."
        }
    }

    @Test func aNameThatIsNotSQLIsRefused() {
        #expect {
            try Pipeline.select(["public.\"open"], from: mapped)
        } throws: { error in
            (error as? ForagerError)?.message.hasPrefix("--table public.\"open: ") == true
        }
    }
}
