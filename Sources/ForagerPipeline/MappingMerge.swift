public import ForagerConfig
public import ForagerCore

/// Applies the mapping's per-table options (`deletes`, `exclude_columns`, `rename_columns`,
/// `types`, `extract`, `keep_json`, `layout`) to the tables as the source describes them, and
/// reports every entry that does not fit its table, with the mapping file and line.
public enum MappingMerge {
    /// `tables` with the options of their entry in `mapped` applied (a table without an entry is
    /// left as it is), and the problems found, table by table in the order of `tables`.
    public static func apply(
        _ mapped: [ForagerConfiguration.TableMapping], to tables: [MappedTable]
    ) -> (tables: [MappedTable], problems: [ForagerError]) {
        var tables = tables
        var problems: [ForagerError] = []
        for index in tables.indices {
            guard let mapping = mapped.first(where: { $0.source == tables[index].source }) else { continue }
            problems += apply(mapping, to: &tables[index])
        }
        return (tables, problems)
    }

    /// Applies one mapping entry to its table; the problems it has.
    static func apply(_ mapping: ForagerConfiguration.TableMapping, to table: inout MappedTable) -> [ForagerError] {
        table.deletes = mapping.deletes
        let names = table.columns.map(\.name)
        var problems = excludeColumns(mapping, &table, names: names)
        problems += renameColumns(mapping, &table, names: names)
        problems += types(mapping, &table)
        problems += extracts(mapping, &table)
        table.keepJSON = mapping.keepJSON
        if !mapping.keepJSON, table.identity == .fullRow {
            problems.append(
                problem(
                    mapping, "keep_json: false needs rows with a key, but \(mapping.source) is matched by all its values",
                    hint: "Give the table a primary key, or keep the json columns."))
        }
        let warehouseNames = table.columns.map { table.warehouseName(of: $0.name) } + mapping.extracts.map(\.column)
        for name in Set(warehouseNames) where warehouseNames.filter({ $0 == name }).count > 1 {
            problems.append(
                problem(
                    mapping, "two columns of \(mapping.source) would both be called \(SQL.quoteIdentifier(name)) in the warehouse",
                    hint: "Rename one of them to a name no other column of the table has, in rename_columns."))
        }
        table.layout = mapping.layout
        for layoutProblem in mapping.layout.problems(columns: warehouseNames, key: table.warehouseKey) {
            problems.append(ForagerError(.schema, "\(mapping.file):\(mapping.line): \(mapping.source): \(layoutProblem)"))
        }
        return problems
    }

    private static func problem(_ mapping: ForagerConfiguration.TableMapping, _ message: String, hint: String) -> ForagerError {
        ForagerError(.schema, "\(mapping.file):\(mapping.line): \(message)", hint: hint)
    }

    /// `exclude_columns`: each must exist, none may be a key column, and a table matched by all its
    /// values cannot leave any out.
    private static func excludeColumns(
        _ mapping: ForagerConfiguration.TableMapping, _ table: inout MappedTable, names: [String]
    ) -> [ForagerError] {
        var problems: [ForagerError] = []
        for column in mapping.excludeColumns where !names.contains(column) {
            problems.append(
                problem(
                    mapping, "exclude_columns names \(SQL.quoteIdentifier(column)), which \(mapping.source) does not have",
                    hint: "Columns of \(mapping.source): \(names.joined(separator: ", ")). Fix the name (case matters) or remove it."))
        }
        for column in mapping.excludeColumns where table.keyColumns.contains(column) {
            problems.append(
                problem(
                    mapping, "exclude_columns names \(SQL.quoteIdentifier(column)), part of the primary key of \(mapping.source)",
                    hint: "Forager needs every primary-key column to apply updates and deletes; remove it from exclude_columns."))
        }
        if table.replicaIdentityFull, table.identity != .appendOnly, !mapping.excludeColumns.isEmpty {
            problems.append(
                problem(
                    mapping,
                    "\(mapping.source) has REPLICA IDENTITY FULL, so its publication must send every column, but exclude_columns leaves some out (PostgreSQL would then refuse UPDATE and DELETE on the table)",
                    hint: "Give the table a primary key and set REPLICA IDENTITY DEFAULT, or remove exclude_columns."))
        }
        table.excludedColumns = mapping.excludeColumns
        table.columns.removeAll { mapping.excludeColumns.contains($0.name) }
        return problems
    }

    /// `rename_columns`: each renamed column must exist.
    private static func renameColumns(
        _ mapping: ForagerConfiguration.TableMapping, _ table: inout MappedTable, names: [String]
    ) -> [ForagerError] {
        var problems: [ForagerError] = []
        for (column, _) in mapping.renameColumns.sorted(by: { $0.key < $1.key }) where !names.contains(column) {
            problems.append(
                problem(
                    mapping, "rename_columns names \(SQL.quoteIdentifier(column)), which \(mapping.source) does not have",
                    hint: "Columns of \(mapping.source): \(names.joined(separator: ", ")). Fix the name (case matters) or remove it."))
        }
        table.renames = mapping.renameColumns
        return problems
    }

    /// `types`: overrides the warehouse type of published columns, which then never travel in binary.
    private static func types(_ mapping: ForagerConfiguration.TableMapping, _ table: inout MappedTable) -> [ForagerError] {
        var problems: [ForagerError] = []
        for (column, type) in mapping.types.sorted(by: { $0.key < $1.key }) {
            guard let position = table.columns.firstIndex(where: { $0.name == column }) else {
                problems.append(
                    problem(
                        mapping, "types names \(SQL.quoteIdentifier(column)), which \(mapping.source) does not publish",
                        hint: "Columns of \(mapping.source): \(table.columns.map(\.name).joined(separator: ", "))."))
                continue
            }
            table.columns[position].overriddenType = table.columns[position].sqlType
            table.columns[position].sqlType = type
            table.columns[position].binaryCompatible = false
        }
        return problems
    }

    /// `extract`: each reads from a published json or jsonb column.
    private static func extracts(_ mapping: ForagerConfiguration.TableMapping, _ table: inout MappedTable) -> [ForagerError] {
        var problems: [ForagerError] = []
        for extract in mapping.extracts {
            guard let from = table.columns.first(where: { $0.name == extract.from }) else {
                problems.append(
                    problem(
                        mapping,
                        "extract \(SQL.quoteIdentifier(extract.column)) reads from \(SQL.quoteIdentifier(extract.from)), which \(mapping.source) does not publish",
                        hint: "Name a json or jsonb column of \(mapping.source) in from."))
                continue
            }
            if from.sqlType != "json" && from.sqlType != "jsonb" {
                problems.append(
                    problem(
                        mapping,
                        "extract \(SQL.quoteIdentifier(extract.column)) reads from \(SQL.quoteIdentifier(extract.from)), which is \(from.sqlType), not json or jsonb",
                        hint: "Extract only from json or jsonb columns."))
            }
        }
        table.extracts = mapping.extracts
        return problems
    }
}
