internal import ForagerCore
internal import Foundation

/// An AWS access key: its id, its secret and, for temporary credentials, a session token.
///
/// Its `description`, `debugDescription` and mirror never show the secret or the token, and show
/// at most the last four characters of the key id, so a credentials value in a log line or an
/// error message gives nothing away.
public struct AWSCredentials: Sendable, Equatable {
    public let accessKeyID: String
    /// Never logged, never put in a message.
    public let secretAccessKey: String
    /// Never logged, never put in a message; sent as `x-amz-security-token`.
    public let sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// The credentials to use, from the first source that has them: the explicit values, then
    /// the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), then
    /// the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
    /// `homeDirectory/.aws/credentials`) in the section named by `AWS_PROFILE` (`default` when
    /// unset).
    ///
    /// A source that has only half a key (an id without a secret) is an error rather than a
    /// reason to look further, since the half that is there shows which source was meant.
    /// - Parameters:
    ///   - environment: the process's environment (passed in, so tests need no real one).
    ///   - homeDirectory: where `.aws/credentials` is looked for; `environment["HOME"]` when nil.
    public static func resolve(
        explicit: (accessKeyID: String?, secretAccessKey: String?, sessionToken: String?) = (nil, nil, nil),
        environment: [String: String], homeDirectory: String? = nil
    ) throws -> AWSCredentials {
        if let credentials = try pair(
            explicit.accessKeyID, explicit.secretAccessKey, token: explicit.sessionToken,
            source: "the explicit S3 settings", idName: "the access key id", secretName: "the secret access key")
        {
            return credentials
        }
        if let credentials = try pair(
            environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"], token: environment["AWS_SESSION_TOKEN"],
            source: "the environment", idName: "AWS_ACCESS_KEY_ID", secretName: "AWS_SECRET_ACCESS_KEY")
        {
            return credentials
        }
        return try fromSharedFile(environment: environment, homeDirectory: homeDirectory ?? environment["HOME"])
    }

    /// Both halves, neither, or an error naming the half that is missing.
    private static func pair(
        _ id: String?, _ secret: String?, token: String?, source: String, idName: String, secretName: String
    ) throws -> AWSCredentials? {
        let id = id.flatMap { $0.isEmpty ? nil : $0 }, secret = secret.flatMap { $0.isEmpty ? nil : $0 }
        switch (id, secret) {
        case (let id?, let secret?):
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token.flatMap { $0.isEmpty ? nil : $0 })
        case (nil, nil):
            return nil
        case (_?, nil):
            throw ForagerError(
                .configuration, "\(source) give \(idName) but not \(secretName)", hint: "Set \(secretName) as well, or unset \(idName).")
        case (nil, _?):
            throw ForagerError(
                .configuration, "\(source) give \(secretName) but not \(idName)", hint: "Set \(idName) as well, or unset \(secretName).")
        }
    }

    /// The profile's section of the shared credentials file.
    private static func fromSharedFile(environment: [String: String], homeDirectory: String?) throws -> AWSCredentials {
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let explicitFile = environment["AWS_SHARED_CREDENTIALS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let everySource =
            "Give the access key id and secret in the S3 settings, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write a [\(profile)] section with aws_access_key_id and aws_secret_access_key in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials; AWS_PROFILE names the section)."
        guard let path = explicitFile ?? homeDirectory.map({ $0 + "/.aws/credentials" }) else {
            throw ForagerError(
                .configuration, "no AWS credentials: none given, none in the environment, and no home directory", hint: everySource)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw ForagerError(
                .configuration, "no AWS credentials: none given, none in the environment, and the shared credentials file \(path) \(why)",
                hint: everySource)
        }
        let sections = parseSharedFile(String(decoding: data, as: UTF8.self))
        guard let section = sections[profile] else {
            let names = sections.keys.sorted().map { "[\($0)]" }.joined(separator: ", ")
            throw ForagerError(
                .configuration,
                "the shared credentials file \(path) has no [\(profile)] section (AWS_PROFILE\(environment["AWS_PROFILE"] == nil ? " unset" : "")); it has \(names.isEmpty ? "none" : names)",
                hint:
                    "Set AWS_PROFILE to one of its sections, or add a [\(profile)] section with aws_access_key_id and aws_secret_access_key."
            )
        }
        let missing = ["aws_access_key_id", "aws_secret_access_key"].filter { (section[$0] ?? "").isEmpty }
        guard missing.isEmpty, let id = section["aws_access_key_id"], let secret = section["aws_secret_access_key"] else {
            throw ForagerError(
                .configuration, "the [\(profile)] section of \(path) has no \(missing.joined(separator: " and "))",
                hint: "Add \(missing.joined(separator: " and ")) to that section, or choose another with AWS_PROFILE.")
        }
        let token = section["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }

    /// The sections of an INI file as the AWS tools read it: `[name]` headers, `key = value`
    /// lines (keys lowercased), `#` and `;` comment lines. A repeated section adds to the first.
    static func parseSharedFile(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[current, default: [:]][key] = value
        }
        return sections
    }
}

extension AWSCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The key id's last four characters and whether a token is present; never the secret.
    public var description: String {
        "AWSCredentials(access key id ending \(accessKeyID.suffix(4)), secret hidden\(sessionToken == nil ? "" : ", session token hidden"))"
    }

    public var debugDescription: String { description }

    /// A mirror without the secret or the token, so `dump` and reflection hide them too.
    public var customMirror: Mirror {
        Mirror(self, children: ["accessKeyID": String("…" + accessKeyID.suffix(4)), "secretAccessKey": "hidden"], displayStyle: .struct)
    }
}
