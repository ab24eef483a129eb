public import ForagerConfig
import LibPQ
import Synchronization

/// The configuration's secrets (passwords in the connection URLs, the ClickHouse password), and
/// their removal from every text Forager writes: log records, error messages, status. Messages
/// are built not to hold secrets in the first place; this is the second line.
public enum Redaction {
    private static let secrets = Mutex<[String]>([])
    /// What a secret reads as.
    public static let mask = "********"

    /// Registers the secrets of `configuration`.
    public static func register(_ configuration: ForagerConfiguration) {
        var found: [String] = []
        for url in [configuration.source.url, configuration.warehouse.url] {
            if let password = (try? ConnectionString(url))?["password"], !password.isEmpty { found.append(password) }
        }
        if let password = configuration.warehouse.password, !password.isEmpty { found.append(password) }
        // Longest first, so that a secret containing another is masked whole.
        secrets.withLock { $0 = Array(Set($0 + found)).sorted { $0.count > $1.count } }
    }

    /// `text` with every registered secret masked.
    public static func apply(_ text: String) -> String {
        let list = secrets.withLock { $0 }
        guard !list.isEmpty else { return text }
        var result = text
        for secret in list where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: mask)
        }
        return result
    }
}
