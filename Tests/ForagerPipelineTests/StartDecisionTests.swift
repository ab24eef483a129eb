import ForagerCore
import PGOutput
import Testing

@testable import ForagerPipeline

@Suite("Where a pipeline starts")
struct StartDecisionTests {
    private let hives = TableName(schema: "public", name: "hives")
    private let samples = TableName(schema: "public", name: "samples")
    private let checkpoint = LSN(0x16B_3748)

    private func facts(
        slot: StartFacts.Slot? = StartFacts.Slot(plugin: "pgoutput"), checkpoint: LSN?, states: [TableName: TableState] = [:],
        mismatches: Set<TableName> = []
    ) -> StartFacts {
        StartFacts(
            slotName: "forager", publication: "forager_pub", slot: slot, checkpoint: checkpoint, tables: [hives, samples],
            states: states, publicationMismatches: mismatches)
    }

    private func refusal(_ facts: StartFacts) -> String? {
        do {
            _ = try StartDecision.decide(facts)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aFirstStartTakesTheSnapshot() throws {
        #expect(try StartDecision.decide(facts(slot: nil, checkpoint: nil)) == .snapshot(dropSlot: false))
    }

    @Test func aSlotWithoutACompletedSnapshotIsMadeAgain() throws {
        #expect(try StartDecision.decide(facts(checkpoint: nil)) == .snapshot(dropSlot: true))
    }

    @Test func aCheckpointWithoutItsSlotIsRefused() {
        let error = refusal(facts(slot: nil, checkpoint: checkpoint))
        #expect(
            error?.contains("the warehouse has a checkpoint at 0/16B3748 for slot \"forager\", but the source has no such slot") == true,
            "\(error ?? "")")
        #expect(error?.contains("forager reset --yes") == true)
    }

    @Test func aSlotForagerCannotReadIsRefusedWhateverTheCheckpoint() {
        for checkpoint in [nil, checkpoint] {
            #expect(
                refusal(facts(slot: .init(plugin: "wal2json"), checkpoint: checkpoint))?.contains("uses the plugin wal2json, not pgoutput")
                    == true)
            #expect(
                refusal(facts(slot: .init(plugin: "pgoutput", activePID: 4242), checkpoint: checkpoint))?.contains(
                    "in use by another process (pid 4242") == true)
            #expect(
                refusal(facts(slot: .init(plugin: "pgoutput", walStatus: "lost"), checkpoint: checkpoint))?.contains("wal_status = lost")
                    == true)
        }
        #expect(refusal(facts(slot: .init(plugin: "pgoutput", walStatus: "extended"), checkpoint: nil)) == nil)
    }

    @Test func streamingTablesResumeAndTheOthersAreCopiedBesideTheStream() throws {
        let states = [
            hives: TableState(phase: .streaming, syncedAt: LSN(100)),
            samples: TableState(phase: .resync),
        ]
        #expect(
            try StartDecision.decide(facts(checkpoint: checkpoint, states: states))
                == .resume(from: checkpoint, register: [], pending: [samples], mustBeEmpty: []))
        let interrupted = [hives: TableState(phase: .copying)]
        // samples is new to the warehouse: its table must hold no rows Forager did not put there.
        #expect(
            try StartDecision.decide(facts(checkpoint: checkpoint, states: interrupted))
                == .resume(from: checkpoint, register: [], pending: [hives, samples], mustBeEmpty: [samples]))
        let stopped = [hives: TableState(phase: .stopped), samples: TableState(phase: .streaming)]
        #expect(
            try StartDecision.decide(facts(checkpoint: checkpoint, states: stopped))
                == .resume(from: checkpoint, register: [], pending: [], mustBeEmpty: []))
    }

    @Test func aPipelineFromBeforeTheRegistryTakesItsPublishedTablesAsCopied() throws {
        #expect(
            try StartDecision.decide(facts(checkpoint: checkpoint))
                == .resume(from: checkpoint, register: [hives, samples], pending: [], mustBeEmpty: []))
        // A table the publication does not publish as mapped was not part of it: copied anew.
        #expect(
            try StartDecision.decide(facts(checkpoint: checkpoint, mismatches: [samples]))
                == .resume(from: checkpoint, register: [hives], pending: [samples], mustBeEmpty: [samples]))
    }

    @Test func aMappingChangeTheStreamCannotFollowIsRefusedUntilAResync() throws {
        let states = [hives: TableState(phase: .streaming), samples: TableState(phase: .streaming)]
        let error = refusal(facts(checkpoint: checkpoint, states: states, mismatches: [samples]))
        #expect(
            error?.contains("publication \"forager_pub\" does not publish the columns the mapping asks for public.samples") == true,
            "\(error ?? "")")
        #expect(error?.contains("forager resync --table public.samples") == true)
        // Once resynced, the table is copied with the new mapping.
        let resynced = [hives: TableState(phase: .streaming), samples: TableState(phase: .resync)]
        #expect(
            try StartDecision.decide(facts(checkpoint: checkpoint, states: resynced, mismatches: [samples]))
                == .resume(from: checkpoint, register: [], pending: [samples], mustBeEmpty: []))
    }
}
