import ForagerCore
import Foundation
import Logging
import S3Staging
import S3TestSupport
import Testing

/// The client against moto's S3 server on loopback, with signature checking on (see
/// ``MotoServer``): every request here is checked as S3 would check it.
@Suite struct S3ClientMotoTests {
    static let logger = Logger(label: "forager.s3.tests")

    func client(_ server: MotoServer, prefix: String, bucket: String? = nil, credentials: AWSCredentials? = nil) -> S3Client {
        S3Client(
            location: server.location(prefix: prefix, bucket: bucket), credentials: credentials ?? server.credentials, logger: Self.logger)
    }

    /// Keys that need encoding in a path and in a query: spaces, '+', '=', '&', '%', unicode, XML's specials.
    static let awkwardNames = [
        "plain.csv", "with space.csv", "plus+sign.csv", "eq=ual.csv", "ünïcødé-日本.csv", "amp&lt<gt>'quote\".csv", "per%cent.csv",
    ]

    @Test func putGetListDeleteRoundTrip() async throws {
        let server = try await MotoServer.shared()
        let s3 = client(server, prefix: "roundtrip/\(UUID().uuidString)/")
        let keys = Self.awkwardNames.map { s3.location.key($0) }
        for (index, key) in keys.enumerated() {
            try await s3.put(key, body: Array("row \(index)\n".utf8) + [0, 255], contentType: "text/csv")
        }
        for (index, key) in keys.enumerated() {
            #expect(try await s3.get(key) == Array("row \(index)\n".utf8) + [0, 255])
        }
        #expect(Set(try await s3.list(prefix: s3.location.prefix)) == Set(keys))
        // A prefix that itself needs encoding in the query.
        #expect(try await s3.list(prefix: s3.location.key("plus+")) == [s3.location.key("plus+sign.csv")])
        #expect(try await s3.list(prefix: s3.location.key("ünïcødé")) == [s3.location.key("ünïcødé-日本.csv")])

        try await s3.put(keys[0], body: Array("replaced".utf8))
        #expect(try await s3.get(keys[0]) == Array("replaced".utf8))

        try await s3.delete(keys[1])
        try await s3.delete(keys[1])  // absent: no error, as on S3
        #expect(Set(try await s3.list(prefix: s3.location.prefix)) == Set(keys).subtracting([keys[1]]))
        let missing = await #expect(throws: ForagerError.self) { try await s3.get(keys[1]) }
        #expect(missing.map { "\($0)" }?.contains("NoSuchKey") == true)
        #expect(missing.map { "\($0)" }?.contains(keys[1]) == true)
        #expect(missing?.isTransient == false)

        #expect(try await s3.deleteAll(prefix: s3.location.prefix) == keys.count - 1)
        #expect(try await s3.list(prefix: s3.location.prefix) == [])
    }

    @Test func listFollowsContinuationTokensAndDeleteAllEmptiesThePrefix() async throws {
        let server = try await MotoServer.shared()
        let s3 = client(server, prefix: "paged/\(UUID().uuidString)/")
        let other = client(server, prefix: s3.location.prefix.dropLast() + "-sibling/")
        let keys = (0..<23).map { s3.location.key(String(format: "part-%03d =+.csv", $0)) }
        for key in keys { try await s3.put(key, body: Array(key.utf8)) }
        try await other.put(other.location.key("keep.csv"), body: [1])

        #expect(try await s3.list(prefix: s3.location.prefix, pageSize: 5) == keys)
        #expect(try await s3.list(prefix: s3.location.prefix, pageSize: 1000) == keys)
        #expect(try await s3.deleteAll(prefix: s3.location.prefix) == keys.count)
        #expect(try await s3.list(prefix: s3.location.prefix, pageSize: 5) == [])
        #expect(try await other.list(prefix: other.location.prefix) == [other.location.key("keep.csv")])
        await #expect(throws: ForagerError.self) { try await s3.deleteAll(prefix: "") }
    }

    @Test func moreThanAThousandKeys() async throws {
        let server = try await MotoServer.shared()
        let s3 = client(server, prefix: "many/\(UUID().uuidString)/")
        let keys = (0..<1_005).map { s3.location.key(String(format: "%05d.csv", $0)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for slice in stride(from: 0, to: keys.count, by: 100) {
                group.addTask { for key in keys[slice..<min(slice + 100, keys.count)] { try await s3.put(key, body: [0]) } }
            }
            try await group.waitForAll()
        }
        #expect(try await s3.list(prefix: s3.location.prefix) == keys)  // two pages of S3's default 1000
        #expect(try await s3.deleteAll(prefix: s3.location.prefix) == keys.count)  // two DeleteObjects
        #expect(try await s3.list(prefix: s3.location.prefix) == [])
    }

    @Test func wrongSecretIsRefusedWithoutShowingIt() async throws {
        let server = try await MotoServer.shared()
        let wrongSecret = server.credentials.secretAccessKey.dropLast(3) + "Zz9"
        let wrong = AWSCredentials(accessKeyID: server.credentials.accessKeyID, secretAccessKey: String(wrongSecret))
        let s3 = client(server, prefix: "denied/", credentials: wrong)
        for operation in ["put", "list"] {
            let error = await #expect(throws: ForagerError.self) {
                if operation == "put" { try await s3.put("denied/a.csv", body: [1]) } else { _ = try await s3.list(prefix: "denied/") }
            }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains("SignatureDoesNotMatch"), "\(text)")
            #expect(text.contains(server.bucket))
            #expect(text.contains("Check the access key id and secret"))
            #expect(!text.contains(wrongSecret) && !text.contains(server.credentials.secretAccessKey))
            #expect(error?.code == .warehouse && error?.isTransient == false)
        }
    }

    @Test func unknownKeyIdIsRefused() async throws {
        let server = try await MotoServer.shared()
        let s3 = client(
            server, prefix: "x/", credentials: AWSCredentials(accessKeyID: "AKIANOTAKEYATALL0000", secretAccessKey: "whatever-secret"))
        let error = await #expect(throws: ForagerError.self) { try await s3.put("x/a.csv", body: [1]) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("InvalidAccessKeyId"), "\(text)")
        #expect(!text.contains("whatever-secret"))
    }

    @Test func missingBucketGetsTheHint() async throws {
        let server = try await MotoServer.shared()
        let s3 = client(server, prefix: "p/", bucket: "forager-no-such-bucket")
        let error = await #expect(throws: ForagerError.self) { try await s3.put("p/a.csv", body: [1]) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("NoSuchBucket"), "\(text)")
        #expect(text.contains("forager-no-such-bucket"))
        #expect(error?.hint?.contains("warehouse.s3.bucket") == true)
        let listError = await #expect(throws: ForagerError.self) { _ = try await s3.list(prefix: "p/") }
        #expect(listError.map { "\($0)" }?.contains("NoSuchBucket") == true)
    }

    @Test func objectLargerThanTheLimitIsAPermanentError() async throws {
        let server = try await MotoServer.shared()
        var s3 = client(server, prefix: "big/\(UUID().uuidString)/")
        let key = s3.location.key("big.csv")
        try await s3.put(key, body: [UInt8](repeating: 7, count: 4096))
        s3.maximumObjectSize = 1024
        let error = await #expect(throws: ForagerError.self) { _ = try await s3.get(key) }
        #expect(error?.isTransient == false)
        #expect(error.map { "\($0)" }?.contains(key) == true)
        s3.maximumObjectSize = 4096
        #expect(try await s3.get(key).count == 4096)
        try await s3.delete(key)
    }

    @Test func serverThatIsNotThereIsTransient() async throws {
        let location = S3Location(bucket: "b", region: "us-east-1", endpoint: "http://127.0.0.1:1")
        let s3 = S3Client(
            location: location, credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret-value"),
            logger: Self.logger)
        let error = await #expect(throws: ForagerError.self) { try await s3.put("k.csv", body: [1]) }
        #expect(error?.isTransient == true)
        #expect(error.map { "\($0)" }?.contains("s3://b/k.csv") == true)
        #expect(error.map { "\($0)" }?.contains("secret-value") == false)
    }
}
