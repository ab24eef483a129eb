import ForagerDemo
import Foundation
import Glibc
import Testing

/// A throwaway certificate authority and a server certificate for `localhost`, made with openssl.
struct TestCertificates {
    let directory: String
    var caFile: String { directory + "/ca.crt" }
    var serverCertificate: String { directory + "/server.crt" }
    var serverKey: String { directory + "/server.key" }

    static func make(name: String) throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forager-tls-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        try certificates.openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Forager Test CA",
            "-keyout", directory + "/ca.key", "-out", certificates.caFile,
        ])
        try certificates.openssl([
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", certificates.serverKey, "-out", directory + "/server.csr",
        ])
        try "subjectAltName=DNS:localhost\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
        try certificates.openssl([
            "x509", "-req", "-in", directory + "/server.csr", "-CA", certificates.caFile, "-CAkey", directory + "/ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", directory + "/san.ext", "-out", certificates.serverCertificate,
        ])
        chmod(certificates.serverKey, 0o600)
        if getuid() == 0 {
            let chown = try ChildProcess("/bin/chown", ["-R", "postgres:postgres", directory], outputPath: directory + "/chown.out")
            guard chown.waitBlocking() == 0 else { throw HarnessError("chown failed: \(chown.output)") }
        }
        return certificates
    }

    private func openssl(_ arguments: [String]) throws {
        let process = try ChildProcess("/usr/bin/openssl", arguments, outputPath: directory + "/openssl.out")
        guard process.waitBlocking() == 0 else { throw HarnessError("openssl \(arguments.first ?? "") failed:\n\(process.output)") }
    }
}

@Suite("TLS", .serialized, .cleansUpScenarios)
struct TLSTests {
    @Test(
        "sslmode=verify-full with the server's CA works end to end over TLS, source and warehouse; a wrong host name or an unknown CA is refused, naming the problem"
    )
    func verifyFull() async throws {
        let certificates = try TestCertificates.make(name: "source")
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let source = try LocalCluster.startSourceForTests(
            name: "tls-source",
            settings: [
                "ssl": "on", "ssl_cert_file": "'\(certificates.serverCertificate)'", "ssl_key_file": "'\(certificates.serverKey)'",
            ])
        defer { source.stop() }
        // The one TLS server holds the warehouse database too.
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY, name text); INSERT INTO hives VALUES (1, 'a'), (2, 'b');",
            tables: ["hives"], source: source, warehouse: source)
        let database = scenario.sourceDatabase
        let verified = "postgresql://postgres@localhost:\(source.port)/\(database)?sslmode=verify-full&sslrootcert=\(certificates.caFile)"
        let verifiedWarehouse =
            "postgresql://postgres@localhost:\(source.port)/\(scenario.warehouseDatabase)?sslmode=verify-full&sslrootcert=\(certificates.caFile)"
        try scenario.rewriteConfig(sourceURL: verified, warehouseURL: verifiedWarehouse)
        try await scenario.forager(["sync"])
        let running = try await scenario.launchStreaming()
        defer { running.signal(SIGKILL) }
        try await scenario.onSource("INSERT INTO hives VALUES (3, 'c')")
        try await scenario.eventually("the insert") { try await scenario.warehouseScalar("SELECT count(*) FROM analytics.hives") == "3" }
        // Every connection Forager holds, the replication stream and the warehouse's included, is encrypted.
        let connections = try await source.scalar(
            """
            SELECT count(*) FILTER (WHERE s.ssl) || '/' || count(*) || '/' || count(*) FILTER (WHERE a.datname = '\(scenario.warehouseDatabase)') || '/' || string_agg(DISTINCT coalesce(a.datname, '-'), ',') FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
            WHERE a.application_name = 'forager'
            """, database: "postgres")
        let parts = connections?.split(separator: "/") ?? []
        #expect(
            parts.count == 4 && parts[0] == parts[1] && (Int(parts[1]) ?? 0) >= 3 && (Int(parts[2]) ?? 0) >= 1,
            "encrypted/all/warehouse/databases: \(connections ?? "none")")

        try await running.expectCleanStop()
        try scenario.rewriteConfig(
            sourceURL: verified,
            warehouseURL:
                "postgresql://postgres@127.0.0.1:\(source.port)/\(scenario.warehouseDatabase)?sslmode=verify-full&sslrootcert=\(certificates.caFile)"
        )
        let wrongWarehouseHost = try await scenario.forager(["sync"], expectStatus: 1)
        #expect(wrongWarehouseHost.contains("does not match host name"), "\(wrongWarehouseHost)")

        try scenario.rewriteConfig(
            sourceURL: "postgresql://postgres@127.0.0.1:\(source.port)/\(database)?sslmode=verify-full&sslrootcert=\(certificates.caFile)")
        let wrongHost = try await scenario.forager(["sync"], expectStatus: 1)
        #expect(wrongHost.contains("does not match host name"), "\(wrongHost)")
        let stopped = try await scenario.forager(["run"], expectStatus: 1, timeout: .seconds(60))
        #expect(!stopped.contains("retrying"), "a certificate problem is permanent:\n\(stopped)")

        let other = try TestCertificates.make(name: "other")
        defer { try? FileManager.default.removeItem(atPath: other.directory) }
        try scenario.rewriteConfig(
            sourceURL: "postgresql://postgres@localhost:\(source.port)/\(database)?sslmode=verify-full&sslrootcert=\(other.caFile)")
        let unknownCA = try await scenario.forager(["sync"], expectStatus: 1)
        #expect(unknownCA.contains("certificate verify failed"), "\(unknownCA)")
    }
}

@Suite("TLS, ClickHouse", .serialized, .cleansUpScenarios)
struct ClickHouseTLSTests {
    @Test("https to ClickHouse verifies the server against warehouse.ca_file; an unknown authority or a wrong host name is refused")
    func httpsWithCA() async throws {
        let certificates = try TestCertificates.make(name: "clickhouse")
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let server = try await ClickHouseServer.start(name: "tls", certificates: certificates)
        defer { server.stop() }
        let scenario = try await Scenario.make(
            sourceSQL: "CREATE TABLE hives (id int PRIMARY KEY, name text); INSERT INTO hives VALUES (1, 'a'), (2, 'b');",
            tables: ["hives"], clickHouse: server)
        let plain = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
        let verified = plain.replacingOccurrences(
            of: "url: \"\(server.url)\"", with: "url: \"https://localhost:\(server.httpsPort)\"\n  ca_file: \"\(certificates.caFile)\"")
        #expect(verified != plain)
        try verified.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        try await scenario.forager(["sync"])
        #expect(try await server.query("SELECT count() FROM \(scenario.warehouseDatabase).hives_current") == "2\n")

        try verified.replacingOccurrences(of: "  ca_file: \"\(certificates.caFile)\"", with: "")
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        let unknown = try await scenario.forager(["sync"], expectStatus: 1)
        #expect(unknown.contains("did not pass TLS verification") && unknown.contains("warehouse.ca_file"), "\(unknown)")

        try verified.replacingOccurrences(of: "https://localhost:", with: "https://127.0.0.1:")
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        let wrongHost = try await scenario.forager(["sync"], expectStatus: 1)
        #expect(wrongHost.contains("did not pass TLS verification"), "\(wrongHost)")
    }
}
