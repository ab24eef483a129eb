import ForagerCore
public import S3Staging

/// How Redshift's COPY reads the staged objects: with an IAM role attached to the cluster, or with
/// the same keys Forager uploads with.
public enum CopyAuthorization: Sendable {
    /// `IAM_ROLE 'arn:aws:iam::...'` (no secret in the statement).
    case iamRole(String)
    /// `ACCESS_KEY_ID ... SECRET_ACCESS_KEY ... [SESSION_TOKEN ...]`: the statement carries a
    /// secret, so it is only ever logged or shown through ``RedshiftSQL/redact(_:)``.
    case keys(AWSCredentials)
}

extension RedshiftSQL {
    /// The NULL marker of the staged CSV (`NULL AS`). Written unquoted while every value is quoted;
    /// a value equal to it is refused all the same (see ``RedshiftCSV``), in case Redshift compares
    /// quoted fields too. No backslash: Redshift's string literals may read one as an escape.
    public static let nullMarker = "<forager:null>"

    /// COPY of staged gzip CSV objects, listed by the manifest at `manifestURL`, into `table`'s
    /// `columns` (quoted), with statistics and compression analysis off (a staging load).
    public static func copy(
        into table: String, columns: [String], manifestURL: String, authorization: CopyAuthorization, region: String?
    ) -> String {
        let credentials: String
        switch authorization {
        case .iamRole(let arn): credentials = "IAM_ROLE \(SQL.quoteLiteral(arn))"
        case .keys(let keys):
            credentials =
                "ACCESS_KEY_ID \(SQL.quoteLiteral(keys.accessKeyID)) SECRET_ACCESS_KEY \(SQL.quoteLiteral(keys.secretAccessKey))"
                + (keys.sessionToken.map { " SESSION_TOKEN \(SQL.quoteLiteral($0))" } ?? "")
        }
        return """
            COPY \(table) (\(columns.joined(separator: ", ")))
            FROM \(SQL.quoteLiteral(manifestURL))
            \(credentials)
            MANIFEST FORMAT AS CSV GZIP NULL AS \(SQL.quoteLiteral(nullMarker))
            TIMEFORMAT 'auto' DATEFORMAT 'auto'\(region.map { " REGION \(SQL.quoteLiteral($0))" } ?? "")
            COMPUPDATE OFF STATUPDATE OFF
            """
    }

    /// The options whose string values are secrets.
    static let secretOptions = ["ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "CREDENTIALS"]

    /// `sql` with the string value of every ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN and
    /// CREDENTIALS option replaced by `'***'`: what a COPY may show in a log line or an error.
    public static func redact(_ sql: String) -> String {
        let bytes = Array(sql.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard let option = secretOptions.first(where: { startsWord($0, in: bytes, at: index) }) else {
                output.append(bytes[index])
                index += 1
                continue
            }
            output.append(contentsOf: bytes[index..<index + option.utf8.count])
            index += option.utf8.count
            var next = skipSpaces(bytes, from: index)
            if next + 2 < bytes.count, bytes[next] | 0x20 == UInt8(ascii: "a"), bytes[next + 1] | 0x20 == UInt8(ascii: "s"),
                bytes[next + 2] == 0x20 || bytes[next + 2] == 0x0A
            {
                next = skipSpaces(bytes, from: next + 2)
            }
            guard next < bytes.count, bytes[next] == UInt8(ascii: "'") else { continue }
            output.append(contentsOf: bytes[index..<next])
            output.append(contentsOf: "'***'".utf8)
            index = endOfLiteral(bytes, from: next)
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// `text` with every one of `secrets` replaced by `***`: for messages that came from outside
    /// (a server may echo what it was sent).
    public static func redacting(_ text: String, secrets: [String]) -> String {
        var text = redact(text)
        for secret in secrets where !secret.isEmpty {
            text = text.split(separator: secret, omittingEmptySubsequences: false).joined(separator: "***")
        }
        return text
    }

    private static func startsWord(_ word: String, in bytes: [UInt8], at index: Int) -> Bool {
        let word = Array(word.utf8)
        guard index + word.count <= bytes.count else { return false }
        if index > 0, isWordByte(bytes[index - 1]) { return false }
        for (offset, byte) in word.enumerated() where bytes[index + offset] & 0xDF != byte & 0xDF { return false }
        return index + word.count == bytes.count || !isWordByte(bytes[index + word.count])
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x5F
    }

    private static func skipSpaces(_ bytes: [UInt8], from index: Int) -> Int {
        var index = index
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        return index
    }

    /// The position after the string literal that starts at `start` (a doubled quote inside).
    private static func endOfLiteral(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start + 1
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "'") {
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "'") {
                    index += 2
                    continue
                }
                return index + 1
            }
            index += 1
        }
        return bytes.count
    }
}
