import ForagerCore
import Foundation
import Gzip
import LibPQ
import S3Staging

/// Staging in S3 and COPY: objects up, a manifest, the load checked, objects removed afterwards.
extension RedshiftWarehouse {
    /// Compresses and uploads `parts` and a manifest listing them under this transaction's folder;
    /// returns the manifest's `s3://` URL.
    func upload(_ parts: [[UInt8]]) async throws -> String {
        uploadNumber += 1
        var keys: [String] = []
        for (index, part) in parts.enumerated() {
            let key = slotFolder + "\(run)-\(batchNumber)/\(uploadNumber)-\(index).csv.gz"
            try await s3.put(key, body: try Gzip.compress(part), contentType: "application/gzip")
            stagedKeys.append(key)
            keys.append(key)
        }
        return try await uploadManifest(keys)
    }

    /// Uploads the manifest of the objects `keys` (of the latest upload); returns its URL.
    func uploadManifest(_ keys: [String]) async throws -> String {
        let entries = keys.map { "{\"url\": \(JSONString.quote(url(of: $0))), \"mandatory\": true}" }
        let manifest = slotFolder + "\(run)-\(batchNumber)/\(uploadNumber).manifest"
        try await s3.put(manifest, body: Array("{\"entries\": [\(entries.joined(separator: ", "))]}".utf8), contentType: "application/json")
        stagedKeys.append(manifest)
        return url(of: manifest)
    }

    nonisolated func url(of key: String) -> String { "s3://\(configuration.staging.bucket)/\(key)" }

    /// COPYs the objects of `manifestURL` into `table`'s `columns` and checks that Redshift
    /// loaded `expected` rows. A failed load rolls the transaction back and throws with the
    /// rows of `stl_load_errors` that explain it.
    func copy(into table: String, columns: [String], manifestURL: String, expected: Int, what: String) async throws {
        let statement = RedshiftSQL.copy(
            into: table, columns: columns, manifestURL: manifestURL, authorization: configuration.authorization,
            region: configuration.staging.region)
        logger.debug("loading staged rows", metadata: ["forager.statement": "\(RedshiftSQL.redact(statement))"])
        do {
            try await connection.execute(statement)
        } catch let error as PGError where !Self.isSerializationConflict(error) {
            try? await rollback()
            // Only a load that began has rows there; pg_last_copy_id() names an earlier COPY otherwise.
            let began = error.message.contains("stl_load_errors")
            let reasons = began ? (try? await loadErrors()) ?? [] : []
            throw ForagerError(
                .warehouse,
                RedshiftSQL.redacting(
                    "COPY of \(what) from \(manifestURL) failed: \(error.message)\(error.detail.map { " (\($0))" } ?? "")"
                        + (reasons.isEmpty ? "" : "; stl_load_errors: " + reasons.joined(separator: "; ")), secrets: secrets),
                hint:
                    "Nothing of the batch was applied. A load error names the file, line, column and reason; an S3 error means Redshift cannot read the staging bucket with warehouse.iam_role or the keys.",
                isTransient: error.isTransient)
        }
        let loaded = try await connection.query("SELECT pg_last_copy_count()").scalar.flatMap { Int($0) } ?? -1
        guard loaded == expected else {
            throw ForagerError(
                .warehouse, "COPY of \(what) loaded \(loaded) rows, but Forager staged \(expected)",
                hint: "Nothing of the batch is committed; Forager starts again from its checkpoint.", isTransient: true)
        }
    }

    /// The last COPY's rows of `stl_load_errors`, as text.
    func loadErrors() async throws -> [String] {
        let rows = try await connection.query(
            """
            SELECT TRIM(filename), line_number, TRIM(colname), err_code, TRIM(err_reason), TRIM(raw_field_value)
            FROM stl_load_errors WHERE query = pg_last_copy_id() ORDER BY line_number LIMIT 5
            """
        ).rows
        return rows.map { row in
            "\(row[0] ?? "?") line \(row[1] ?? "?") column \(row[2] ?? "?"): error \(row[3] ?? "?") \(row[4] ?? "") (value '\(row[5] ?? "")')"
        }
    }

    /// Deletes the objects the ended transaction staged; a failure only leaves orphans, which
    /// the next start removes.
    func deleteStaged() async {
        let keys = stagedKeys
        stagedKeys = []
        for key in keys {
            do {
                try await s3.delete(key)
            } catch {
                logger.warning(
                    "could not delete a staged object; the next start removes it",
                    metadata: ["forager.key": "\(key)", "forager.error": "\(RedshiftSQL.redacting("\(error)", secrets: secrets))"])
            }
        }
    }

    /// Deletes what an earlier run left in this slot's staging folder (a crash between upload and
    /// delete). Returns how many objects were removed.
    @discardableResult
    public func deleteOrphans() async throws -> Int {
        let removed = try await s3.deleteAll(prefix: slotFolder)
        if removed > 0 {
            logger.notice(
                "removed staged objects an earlier run left",
                metadata: ["forager.objects": "\(removed)", "forager.prefix": "\(slotFolder)"])
        }
        return removed
    }
}
