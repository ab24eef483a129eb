import Testing

@testable import LibPQ

@Suite struct PGErrorTests {
    private func connecting(_ message: String) -> PGError {
        PGError(kind: .connection, context: "connecting to postgresql://127.0.0.1:5432/app", message: message)
    }

    @Test(arguments: [
        "connection to server at \"127.0.0.1\", port 5432 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?",
        "server closed the connection unexpectedly",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: FATAL:  the database system is starting up",
        "connection to server at \"db\" (10.0.0.5), port 5432 failed: FATAL:  sorry, too many clients already",
        "timeout expired",
        "could not translate host name \"db.internal\" to address: Temporary failure in name resolution",
    ])
    func lostOrRefusedConnectionsAreTransient(_ message: String) {
        #expect(connecting(message).isTransient)
    }

    @Test(arguments: [
        "connection to server at \"db\", port 5432 failed: FATAL:  password authentication failed for user \"forager\"",
        "connection to server at \"db\", port 5432 failed: FATAL:  no pg_hba.conf entry for host \"10.0.0.9\", user \"forager\", database \"app\", no encryption",
        "connection to server at \"db\", port 5432 failed: FATAL:  database \"app\" does not exist",
        "connection to server at \"db\", port 5432 failed: FATAL:  role \"forager\" does not exist",
        "connection to server at \"db\", port 5432 failed: fe_sendauth: no password supplied",
        "connection to server at \"db\", port 5432 failed: FATAL:  must be superuser or replication role to start walsender",
        "connection to server at \"db\", port 5432 failed: server certificate for \"db\" does not match host name \"db.example\"",
        "invalid connection option \"sslmod\"",
    ])
    func authenticationAndSetupFailuresArePermanent(_ message: String) {
        #expect(!connecting(message).isTransient)
    }

    @Test func aServerGoneMidCommandIsTransientWhateverTheResultKind() {
        let lost = PGError(
            kind: .server, context: "COPY FROM STDIN on postgresql://w/db",
            message: "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally")
        #expect(lost.isConnectionFailure && lost.isTransient)
        #expect(!PGError(kind: .server, context: "query", message: "syntax error at or near \"x\"").isTransient)
    }

    @Test func serverErrorsByState() {
        func server(_ state: String) -> PGError { PGError(kind: .server, context: "query", message: "m", sqlState: state) }
        for state in ["57P01", "57P03", "08006", "40001", "40P01", "53300", "53100", "55P03", "57014"] {
            #expect(server(state).isTransient, "\(state)")
        }
        for state in ["42P01", "42501", "23505", "22P02", "28P01", "3D000", "XX000"] {
            #expect(!server(state).isTransient, "\(state)")
        }
    }

    @Test func aConnectionsErrorsCarryThePartItPlays() async throws {
        // Port 1 on loopback: nothing listens, the connection is refused without a server.
        let url = try ConnectionString("postgresql://forager@127.0.0.1:1/app?connect_timeout=2")
        await #expect {
            _ = try await PGConnection.connect(url, origin: "warehouse")
        } throws: { error in
            (error as? PGError)?.origin == "warehouse" && (error as? PGError)?.kind == .connection
        }
        await #expect {
            _ = try await PGConnection.connect(url)
        } throws: { error in
            (error as? PGError).map { $0.origin == nil } == true
        }
    }
}
