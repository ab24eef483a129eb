import ForagerCore
import Foundation
import Glibc
import Testing

@testable import ClickHouseWarehouse

/// A server that goes away in the middle of its answer (a replica killed mid-response) fails the
/// request as transient, so that `forager run` retries instead of exiting.
@Suite struct BrokenAnswerTests {
    @Test("an answer broken off after its headers is a transient error naming the server")
    func brokenOffAnswerIsTransient() async throws {
        let server = try OneAnswerServer(answer: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\npartial")
        defer { server.close() }
        let client = ClickHouseClient(url: "http://127.0.0.1:\(server.port)", database: "default", user: nil, password: nil)
        do {
            try await client.execute("SELECT 1")
            Issue.record("a broken-off answer was taken as complete")
        } catch let error as ForagerError {
            #expect(error.isTransient, "\(error)")
            #expect(error.message.contains("broke off its answer to"), "\(error)")
            #expect(error.message.contains("http://127.0.0.1:\(server.port)"), "\(error)")
        }
    }
}

/// A loopback TCP server that reads one request, writes `answer` and closes the connection.
private final class OneAnswerServer: Sendable {
    let port: Int
    private let descriptor: Int32

    init(answer: String) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 1) == 0 else {
            Glibc.close(listener)
            throw ForagerError(.warehouse, "cannot listen on loopback")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        descriptor = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            Self.readRequest(connection)
            _ = Array(answer.utf8).withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
            Glibc.close(connection)
        }
    }

    /// Reads the request's head and as much body as its Content-Length says.
    private static func readRequest(_ connection: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var received: [UInt8] = []
        var expected = Int.max
        while received.count < expected {
            let count = read(connection, &buffer, buffer.count)
            guard count > 0 else { return }
            received += buffer[..<count]
            let text = String(decoding: received, as: UTF8.self)
            guard expected == .max, let end = text.range(of: "\r\n\r\n") else { continue }
            let head = text[..<end.lowerBound]
            let body =
                head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            expected = head.utf8.count + 4 + body
        }
    }

    func close() { Glibc.close(descriptor) }
}
