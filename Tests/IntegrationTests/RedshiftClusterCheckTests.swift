import ForagerDemo
import Foundation
import Glibc
import Testing

/// `scripts/redshift-cluster-check`, the round trip a user with a Redshift cluster runs, run here
/// against the emulation and moto's S3: every step passes, and it leaves nothing behind.
@Suite("The Redshift cluster check script", .cleansUpScenarios)
struct RedshiftClusterCheckTests {
    private static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Forager's environment without its own and AWS's variables, with the emulation's keys.
    private static func environment(_ made: RedshiftScenario) -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("FORAGER_") && !$0.key.hasPrefix("AWS_") }.merging(made.keys) { $1 }
    }

    @Test("scripts/redshift-cluster-check passes against the emulation and removes what it made")
    func passesAndLeavesNothing() async throws {
        let made = try await RedshiftScenario.make(sourceSQL: RedshiftOperationsTests.hives, tables: ["hives"])
        let moto = made.redshift.s3
        let output = made.scenario.directory + "/cluster-check.log"
        let child = try ChildProcess(
            "/bin/bash",
            [
                Self.repositoryRoot + "/scripts/redshift-cluster-check", "--source", made.scenario.sourceURL, "--redshift",
                made.redshift.url,
                "--bucket", moto.bucket, "--region", moto.region, "--s3-endpoint", moto.endpoint, "--prefix", "cluster-check/",
                "--forager", Scenario.foragerBinary,
            ], outputPath: output, environment: Self.environment(made))
        let status = try await child.wait(timeout: .seconds(300))
        let text = child.output
        #expect(status == 0, "\(text)")
        for step in [
            "PASS  check", "PASS  sync (snapshot)", "PASS  validate after the copy: exact",
            "PASS  sync (updates, deletes, inserts, a multi-statement transaction)", "PASS  validate after the changes: exact",
            "every step passed",
        ] {
            #expect(text.contains(step), "no '\(step)' in:\n\(text)")
        }
        #expect(!text.contains("FAIL"), "\(text)")
        made.expectNoKey(in: text, of: "the cluster check")
        // Nothing left: no schema on either side, no slot or publication, no staged object.
        #expect(try await made.scenario.sourceScalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'forager_cluster_check'") == "0")
        #expect(
            try await made.scenario.sourceScalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'forager_cluster_check%'")
                == "0")
        #expect(
            try await made.scenario.sourceScalar("SELECT count(*) FROM pg_publication WHERE pubname LIKE 'forager_cluster_check%'") == "0")
        #expect(try await made.redshift.rows("SELECT count(*) FROM pg_namespace WHERE nspname = 'forager_cluster_check'") == [["0"]])
        #expect(try await made.redshift.s3Objects(prefix: "cluster-check/").isEmpty)
    }

    @Test("scripts/redshift-cluster-check refuses to start over an earlier check's leftovers, and says how to remove them")
    func refusesLeftovers() async throws {
        let made = try await RedshiftScenario.make(sourceSQL: RedshiftOperationsTests.hives, tables: ["hives"])
        try await made.scenario.source.execute("CREATE SCHEMA forager_cluster_check", database: made.scenario.sourceDatabase)
        let moto = made.redshift.s3
        let child = try ChildProcess(
            "/bin/bash",
            [
                Self.repositoryRoot + "/scripts/redshift-cluster-check", "--source", made.scenario.sourceURL, "--redshift",
                made.redshift.url,
                "--bucket", moto.bucket, "--region", moto.region, "--s3-endpoint", moto.endpoint, "--forager", Scenario.foragerBinary,
            ], outputPath: made.scenario.directory + "/leftovers.log", environment: Self.environment(made))
        #expect(try await child.wait(timeout: .seconds(60)) == 1)
        #expect(child.output.contains("DROP SCHEMA forager_cluster_check CASCADE"), "\(child.output)")
        #expect(
            try await made.scenario.sourceScalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'forager_cluster_check'") == "1",
            "the leftover schema was kept")
        try await made.scenario.source.execute("DROP SCHEMA forager_cluster_check", database: made.scenario.sourceDatabase)
    }
}
