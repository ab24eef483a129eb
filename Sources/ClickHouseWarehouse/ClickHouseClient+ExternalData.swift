import Foundation

/// External data: rows sent in the same request as the statement that reads them, as a temporary
/// table that lives for that request only (`multipart/form-data`, one part per table). Unlike a
/// Memory table, it is on whichever server takes the request, so a load balancer in front of a
/// cluster's replicas cannot split its use over two of them.
extension ClickHouseClient {
    /// Runs `statement` (an `INSERT ... SELECT ... FROM <table>`) with `rows` (TabSeparated, one
    /// line per row) as the temporary table `table` of the columns `structure` (`name type`
    /// pairs, whose types have neither spaces nor commas: see
    /// ``ClickHouseTopology/externalDataType(_:)``). Sent uncompressed.
    func insert(_ statement: String, externalTable table: String, structure: [(name: String, type: String)], rows: [UInt8]) async throws {
        let boundary = "forager-" + UUID().uuidString
        var body = Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(table)\"; filename=\"\(table)\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                .utf8)
        body += rows
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        let parameters =
            [
                ("query", statement), ("\(table)_format", "TabSeparated"),
                ("\(table)_structure", structure.map { "\($0.name) \($0.type)" }.joined(separator: ",")),
            ] + insertSettings + settings
        try await send(
            parameters: parameters, body: body, what: Self.summary(of: statement), contentType: "multipart/form-data; boundary=\(boundary)")
    }
}
