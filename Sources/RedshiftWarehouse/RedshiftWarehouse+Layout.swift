import ForagerCore
import LibPQ
import Logging

/// The mapping's `redshift:` layout against a table that already exists: Redshift keeps the
/// layout a table was made with, so a mapping changed later is named, never silently ignored.
extension RedshiftWarehouse {
    /// How the mapped `table`'s warehouse table differs from its mapping's `redshift:` options: a
    /// problem for `forager check` (`create` false), a warning at start (the table streams on,
    /// with the layout it has).
    func layoutProblem(of table: MappedTable, create: Bool) async throws -> ForagerError? {
        guard let wanted = table.layout.redshift else { return nil }
        let differences = try await layout(of: table.target).differences(from: wanted, table: table.target)
        guard !differences.isEmpty else { return nil }
        let message =
            "warehouse table \(table.target) was made with another layout than its mapping's redshift options: "
            + differences.map(\.difference).joined(separator: "; ")
        let hint =
            "Redshift keeps the layout a table was made with, and Forager applies the options only when it makes the table. Change the table in place with "
            + differences.map { $0.change + ";" }.joined(separator: " ") + " Or take the options out of the mapping."
        guard create else { return ForagerError(.warehouse, message, hint: hint) }
        logger.warning("\(message)", metadata: ["forager.table": "\(table.target)", "forager.hint": "\(hint)"])
        return nil
    }

    /// The table's DISTKEY and SORTKEY from `pg_table_def` (which lists only the tables of the
    /// schemas on the search path, so the schema is put there for the query) and its style from
    /// `svv_table_info`.
    func layout(of target: TableName) async throws -> RedshiftTableLayout {
        try await connection.execute("SET search_path TO \(SQL.quoteIdentifier(target.schema))")
        let columns: [[String?]]
        do {
            columns = try await connection.query(
                "SELECT \"column\", distkey, sortkey FROM pg_table_def WHERE schemaname = $1 AND tablename = $2",
                [target.schema, target.name]
            ).rows
        } catch {
            _ = try? await connection.execute("RESET search_path")
            throw error
        }
        try await connection.execute("RESET search_path")
        let style = try await connection.query(
            "SELECT diststyle FROM svv_table_info WHERE \"schema\" = $1 AND \"table\" = $2", [target.schema, target.name]
        ).scalar
        return RedshiftTableLayout(
            columns: columns.map { (name: $0[0] ?? "", distKey: $0[1] ?? "f", sortKey: Int($0[2] ?? "0") ?? 0) }, distStyle: style)
    }
}
