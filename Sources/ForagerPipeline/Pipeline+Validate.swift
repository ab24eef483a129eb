import ForagerConfig
public import ForagerCore
import LibPQ
import PostgresSource

/// `forager validate`: the mapped tables compared between source and warehouse, key range by key
/// range, with the warehouse's comparator (``ChunkComparator``).
extension Pipeline {
    /// Compares the mapped tables (or those `only` names) between source and warehouse, chunk by
    /// chunk of `chunkRows` rows; a differing chunk waits up to `wait` for the warehouse to pass
    /// the position it was read at.
    public func validate(only: [String], chunkRows: Int, wait: Duration) async throws -> [TableValidation] {
        let tables = try await tablesToValidate(only)
        let reader = try await ChunkReader.connect(sourceURL)
        defer { reader.close() }
        let comparator = try await warehouses.connectComparator()
        defer { comparator.close() }
        var results: [TableValidation] = []
        switch comparator {
        case .checksums(let warehouse):
            let sameCollation = try await reader.databaseCollation() == warehouse.collation()
            for table in tables {
                let validator = ChunkValidator(
                    checksum: ChunkChecksum(table: table, keyCollation: sameCollation ? nil : "C"), source: reader,
                    warehouse: warehouse, chunkRows: chunkRows, wait: wait)
                results.append(logged(try await validator.run()))
            }
        case .twin(let warehouse):
            let collation = try await reader.databaseCollation()
            for table in tables {
                let validator = ChunkValidator(
                    checksum: ChunkChecksum(table: table), source: reader, warehouse: warehouse, chunkRows: chunkRows, wait: wait)
                do {
                    results.append(logged(try await validator.run(sourceTextBytewise: collation == "C" || collation == "POSIX")))
                } catch {
                    throw warehouse.explaining(error)
                }
            }
        }
        return results
    }

    private func logged(_ result: TableValidation) -> TableValidation {
        logger.info("validated table", metadata: ["forager.table": "\(result.table)", "forager.result": "\(result.line)"])
        return result
    }

    /// The tables to compare, as the source describes them with the mapping applied: the mapped
    /// ones, or those `only` names.
    private func tablesToValidate(_ only: [String]) async throws -> [MappedTable] {
        let source = try await connectSource()
        defer { source.connection.close() }
        let (mapped, mappingProblems) = try await resolveMappings(source)
        guard mappingProblems.isEmpty else { throw Problems(problems: mappingProblems) }
        let (described, problems) = try await describeTables(source, try Self.select(only, from: mapped))
        guard problems.isEmpty else { throw Problems(problems: problems) }
        return try await leavingOutUnpublishedColumns(described, source: source, established: { Set(described.map(\.source)) })
    }

    /// The entries of `mapped` for the source tables `only` names (every entry when empty).
    /// Throws for a name that is not SQL or not mapped.
    static func select(_ only: [String], from mapped: [ForagerConfiguration.TableMapping]) throws -> [ForagerConfiguration.TableMapping] {
        guard !only.isEmpty else { return mapped }
        let names = try only.map { name in
            do { return try TableName(parsing: name) } catch {
                throw ForagerError(.schema, "--table \(name): \(error)", hint: "Write the source table as in SQL: schema.table.")
            }
        }
        for name in names where !mapped.contains(where: { $0.source == name }) {
            throw ForagerError(
                .schema, "\(name) is not a mapped table",
                hint: "Mapped tables: \(mapped.map(\.source.description).sorted().joined(separator: ", ")).")
        }
        return mapped.filter { names.contains($0.source) }
    }
}
