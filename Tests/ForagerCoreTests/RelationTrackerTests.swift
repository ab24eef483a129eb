import ForagerTestSupport
import PGOutput
import Testing

@testable import ForagerCore

private let hives = SourceScript.table("hives", id: 42)

/// The hives relation with `extra` columns (text) after `id` and `label`, and `keys` flagged as its identity.
private func relation(extra: [String] = [], keys: [String] = ["id"], name: String = "hives", labelType: UInt32 = 25) -> Relation {
    let columns = [("id", UInt32(23)), ("label", labelType)] + extra.map { ($0, UInt32(25)) }
    return Relation(
        id: 42, namespace: "public", name: name, replicaIdentity: .default,
        columns: columns.map { .init(isKey: keys.contains($0.0), name: $0.0, typeOID: $0.1, typeModifier: -1) })
}

/// What the outcomes say, in short: "change +added -removed ~retyped" or "stop".
private func summary(_ outcomes: [RelationTracker.Outcome]) -> [String] {
    outcomes.map { outcome in
        switch outcome {
        case .schemaChange(let change):
            "change" + change.added.map { " +" + $0 }.joined() + change.removed.map { " -" + $0 }.joined()
                + change.retyped.map { " ~" + $0 }.joined()
        case .stop(let table, _):
            "stop \(table.source.name)"
        }
    }
}

@Suite("Following the tables a stream describes")
struct RelationTrackerTests {
    private func tracker() -> RelationTracker {
        var mapped = hives.mapped
        mapped.columns = mapped.columns.map { column in
            var column = column
            column.sourceType = (column.name == "id" ? 23 : 25, -1)
            return column
        }
        return RelationTracker(tables: [mapped])
    }

    @Test func aTableAsTheCatalogueDescribedItBindsWithNothingToFollow() throws {
        var tracker = tracker()
        #expect(summary(try tracker.bind(relation()) { _ in false }).isEmpty)
        #expect(try tracker.binding(for: 42)?.keyIndexes == [0])
    }

    @Test func anAddedColumnIsASchemaChangeAndItsLaterRemovalAnother() throws {
        var tracker = tracker()
        _ = try tracker.bind(relation()) { _ in false }
        #expect(summary(try tracker.bind(relation(extra: ["weight"])) { _ in false }) == ["change +weight"])
        #expect(summary(try tracker.bind(relation()) { _ in false }) == ["change -weight"])
        #expect(try tracker.binding(for: 42) != nil)
    }

    @Test func aRetypedColumnIsASchemaChange() throws {
        var tracker = tracker()
        _ = try tracker.bind(relation()) { _ in false }
        #expect(summary(try tracker.bind(relation(labelType: 1043)) { _ in false }) == ["change ~label"])
    }

    @Test func aColumnRenamedAfterTheFirstDescriptionStopsTheTable() throws {
        var tracker = tracker()
        _ = try tracker.bind(relation()) { _ in false }
        _ = try tracker.bind(relation(extra: ["weight"])) { _ in false }
        #expect(summary(try tracker.bind(relation(extra: ["mass"])) { _ in false }) == ["stop hives"])
        #expect(tracker.stoppedTables == [hives.mapped.source])
        #expect(try tracker.binding(for: 42) == nil)
    }

    @Test func aChangedReplicaIdentityStopsTheTableAfterTheChangeOfColumns() throws {
        var tracker = tracker()
        _ = try tracker.bind(relation()) { _ in false }
        #expect(
            summary(try tracker.bind(relation(extra: ["weight"], keys: ["id", "weight"])) { _ in false }) == [
                "change +weight", "stop hives",
            ])
    }

    @Test func aTableRenamedOnTheSourceStops() throws {
        var tracker = tracker()
        _ = try tracker.bind(relation()) { _ in false }
        #expect(summary(try tracker.bind(relation(name: "colonies")) { _ in false }) == ["stop hives"])
        #expect(tracker.unmappedRelations[42] == hives.mapped.source)
    }

    @Test func aTransactionInTheTablesCopyFollowsNothing() throws {
        var tracker = tracker()
        _ = try tracker.bind(relation()) { _ in false }
        #expect(summary(try tracker.bind(relation(extra: ["weight"])) { _ in true }).isEmpty)
        // The copy's shape is not followed: the next description outside it still finds the column new.
        #expect(summary(try tracker.bind(relation(extra: ["weight"])) { _ in false }) == ["change +weight"])
    }

    @Test func anUnmappedTableIsIgnoredAndAnUndescribedOneRefused() throws {
        var tracker = tracker()
        let other = Relation(id: 7, namespace: "public", name: "other", replicaIdentity: .default, columns: [])
        #expect(summary(try tracker.bind(other) { _ in false }).isEmpty)
        #expect(try tracker.binding(for: 7) == nil)
        #expect(tracker.unmappedRelations[7] == TableName(schema: "public", name: "other"))
        #expect(throws: ForagerError.self) { try tracker.binding(for: 8) }
    }
}
