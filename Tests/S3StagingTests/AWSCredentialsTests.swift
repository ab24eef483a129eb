import ForagerCore
import Foundation
import S3Staging
import Testing

/// Where credentials come from, in which order, and what the errors say; never the secret.
@Suite struct AWSCredentialsTests {
    static let secret = "s3cr3t/Value+ThatMustNeverShow"
    static let token = "t0ken-ThatMustNeverShow"

    /// A home directory with `.aws/credentials` holding `text`, removed after `body`.
    func withHome<T>(credentials text: String?, _ body: (String) throws -> T) throws -> T {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("forager-s3-home-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: home + "/.aws", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        if let text { try text.write(toFile: home + "/.aws/credentials", atomically: true, encoding: .utf8) }
        return try body(home)
    }

    static let file = """
        # a comment
        [default]
        aws_access_key_id = AKIDFILEDEFAULT
        aws_secret_access_key = \(secret)

        ; another comment
        [staging]
        AWS_ACCESS_KEY_ID=AKIDFILESTAGING
        aws_secret_access_key= staging-secret
        aws_session_token = \(token)

        [broken]
        aws_access_key_id = AKIDBROKEN
        """

    @Test func explicitWinsOverEnvironmentAndFile() throws {
        try withHome(credentials: Self.file) { home in
            let credentials = try AWSCredentials.resolve(
                explicit: ("AKIDEXPLICIT", "explicit-secret", nil),
                environment: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret"], homeDirectory: home)
            #expect(credentials == AWSCredentials(accessKeyID: "AKIDEXPLICIT", secretAccessKey: "explicit-secret"))
        }
    }

    @Test func environmentWinsOverFile() throws {
        try withHome(credentials: Self.file) { home in
            let credentials = try AWSCredentials.resolve(
                environment: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "env-token"],
                homeDirectory: home)
            #expect(credentials == AWSCredentials(accessKeyID: "AKIDENV", secretAccessKey: "env-secret", sessionToken: "env-token"))
        }
    }

    @Test func fileDefaultProfileFromHome() throws {
        try withHome(credentials: Self.file) { home in
            let credentials = try AWSCredentials.resolve(environment: ["HOME": home])
            #expect(credentials == AWSCredentials(accessKeyID: "AKIDFILEDEFAULT", secretAccessKey: Self.secret))
        }
    }

    @Test func fileProfileFromAWSProfile() throws {
        try withHome(credentials: Self.file) { home in
            let credentials = try AWSCredentials.resolve(environment: ["AWS_PROFILE": "staging"], homeDirectory: home)
            #expect(
                credentials == AWSCredentials(accessKeyID: "AKIDFILESTAGING", secretAccessKey: "staging-secret", sessionToken: Self.token))
        }
    }

    @Test func sharedCredentialsFileVariableWinsOverHome() throws {
        try withHome(credentials: "[default]\naws_access_key_id = AKIDHOME\naws_secret_access_key = home\n") { home in
            try withHome(credentials: "[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other\n") { other in
                let credentials = try AWSCredentials.resolve(
                    environment: ["AWS_SHARED_CREDENTIALS_FILE": other + "/.aws/credentials"], homeDirectory: home)
                #expect(credentials.accessKeyID == "AKIDOTHER")
            }
        }
    }

    @Test func missingProfileNamesFileAndProfile() throws {
        try withHome(credentials: Self.file) { home in
            let error = #expect(throws: ForagerError.self) {
                try AWSCredentials.resolve(environment: ["AWS_PROFILE": "prod"], homeDirectory: home)
            }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains(home + "/.aws/credentials"))
            #expect(text.contains("[prod]"))
            #expect(text.contains("[default], [broken], [staging]") || text.contains("[broken], [default], [staging]"))
            #expect(text.contains("AWS_PROFILE"))
            #expect(!text.contains(Self.secret) && !text.contains(Self.token) && !text.contains("staging-secret"))
        }
    }

    @Test func profileWithoutSecretSaysWhatToAdd() throws {
        try withHome(credentials: Self.file) { home in
            let error = #expect(throws: ForagerError.self) {
                try AWSCredentials.resolve(environment: ["AWS_PROFILE": "broken"], homeDirectory: home)
            }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains("[broken]") && text.contains("aws_secret_access_key") && text.contains(home))
        }
    }

    @Test func noCredentialsAnywhereSaysWhatToSet() throws {
        try withHome(credentials: nil) { home in
            let error = #expect(throws: ForagerError.self) { try AWSCredentials.resolve(environment: [:], homeDirectory: home) }
            let text = error.map { "\($0)" } ?? ""
            #expect(text.contains(home + "/.aws/credentials") && text.contains("does not exist"))
            #expect(text.contains("AWS_ACCESS_KEY_ID") && text.contains("AWS_SECRET_ACCESS_KEY") && text.contains("[default]"))
        }
    }

    @Test func halfAKeyIsAnErrorNotAFallThrough() throws {
        try withHome(credentials: Self.file) { home in
            let environmentError = #expect(throws: ForagerError.self) {
                try AWSCredentials.resolve(environment: ["AWS_ACCESS_KEY_ID": "AKIDENV"], homeDirectory: home)
            }
            #expect(environmentError.map { "\($0)" }?.contains("AWS_SECRET_ACCESS_KEY") == true)
            let explicitError = #expect(throws: ForagerError.self) {
                try AWSCredentials.resolve(explicit: (nil, Self.secret, nil), environment: [:], homeDirectory: home)
            }
            let text = explicitError.map { "\($0)" } ?? ""
            #expect(text.contains("access key id") && !text.contains(Self.secret))
        }
    }

    @Test func descriptionsNeverShowTheSecretOrToken() {
        let credentials = AWSCredentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: Self.secret, sessionToken: Self.token)
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in ["\(credentials)", String(reflecting: credentials), credentials.debugDescription, dumped, "\([credentials])"] {
            #expect(!text.contains(Self.secret))
            #expect(!text.contains(Self.token))
            #expect(!text.contains("AKIAIOSFODNN7"))
        }
        #expect("\(credentials)".contains("MPLE"))
    }
}
