import ForagerCore
import Foundation
import Yams

/// The mapping files that `mappings` names, and the tables in them.
extension ConfigurationReader {
    static let mappingFileKeys = ["tables"]
    static let tableKeys = [
        "source", "target", "deletes", "append_only", "exclude_tables", "exclude_columns", "rename_columns", "types", "extract",
        "keep_json",
        "clickhouse", "redshift",
    ]
    /// The keys that a pattern entry (`source: public.*`) takes: options that suit every table.
    static let patternKeys: Set<String> = ["source", "deletes", "append_only", "exclude_tables"]
    static let extractKeys = ["column", "from", "path", "type"]
    static let clickHouseKeys = ["order_by", "partition_by"]
    static let redshiftKeys = ["sortkey", "distkey", "diststyle", "oversized_text"]

    /// What one entry of `tables` holds.
    enum Entry {
        case table(MappingEntry)
        case pattern(ForagerConfiguration.TablePatternMapping)
    }

    /// One table entry, with what duplicate checks need to name it.
    struct MappingEntry {
        var mapping: ForagerConfiguration.TableMapping
        /// `tables[i]`.
        var key: String
        var sourceLine: Int?
        var targetLine: Int?
        var targetIsDefault: Bool
    }

    /// The tables and table patterns of every mapping file, in order, checked for duplicates across files.
    mutating func readTables(_ top: YAMLSection) -> (
        tables: [ForagerConfiguration.TableMapping], patterns: [ForagerConfiguration.TablePatternMapping]
    ) {
        let all = mappingFiles(top).flatMap { file -> [Entry] in
            startReading(file.display)
            switch FilePaths.readText(atPath: file.absolute) {
            case .success(let text):
                return readMappingFile(text, file: file.display)
            case .failure(let failure):
                report(
                    .unreadableFile, configFile, file.line, "mappings",
                    "cannot read the mapping file \(file.display): \(failure.reason(absolutePath: file.absolute))"
                )
                return []
            }
        }
        let entries = all.compactMap { if case .table(let entry) = $0 { entry } else { nil } }
        checkDuplicates(entries)
        let patterns = all.compactMap { if case .pattern(let pattern) = $0 { pattern } else { nil } }
        return (entries.map(\.mapping), patterns)
    }

    /// The files that `mappings` names: one file, or the YAML files of a directory sorted by name.
    private mutating func mappingFiles(_ top: YAMLSection) -> [(display: String, absolute: String, line: Int?)] {
        guard let field = top["mappings"] else {
            report(
                .missingKey, configFile, nil, "mappings",
                "missing; set mappings to a mapping file or a directory of them, relative to this file's "
                    + "directory, e.g. mappings: mappings/app.yaml"
            )
            return []
        }
        let fix = "write the path of a mapping file or a directory of them, e.g. mappings: mappings/app.yaml"
        guard let path = text(field, file: configFile, expected: "a path", fix: fix) else { return [] }
        guard !path.isEmpty else {
            report(.invalidValue, configFile, field.line, field.key, "is empty; " + fix)
            return []
        }
        let configDirectory = FilePaths.directory(of: configPath)
        let absolute = FilePaths.absolute(FilePaths.join(configDirectory, path))
        let display = FilePaths.join(FilePaths.directory(of: configFile), path)
        switch FilePaths.entry(atPath: absolute) {
        case .missing:
            report(
                .unreadableFile, configFile, field.line, field.key,
                "'\(path)' does not exist (looked for \(absolute)); create it, or correct the path, which is "
                    + "relative to the configuration file's directory"
            )
            return []
        case .file:
            return [(display, absolute, field.line)]
        case .directory:
            guard let names = FilePaths.yamlFiles(inDirectory: absolute) else {
                report(
                    .unreadableFile, configFile, field.line, field.key,
                    "cannot list the directory \(absolute); check its permissions"
                )
                return []
            }
            guard !names.isEmpty else {
                report(
                    .unreadableFile, configFile, field.line, field.key,
                    "the directory \(absolute) has no .yaml or .yml files; add a mapping file to it, or point "
                        + "mappings at one"
                )
                return []
            }
            return names.map { (FilePaths.join(display, $0), FilePaths.join(absolute, $0), field.line) }
        }
    }

    /// The entries of one mapping file.
    mutating func readMappingFile(_ text: String, file: String) -> [Entry] {
        let example = "tables: with one entry per source table, such as '- source: public.samples'"
        let root: Node
        switch compose(text, file: file, isMappingFile: true) {
        case .failed:
            return []
        case .empty:
            report(.missingKey, file, nil, "tables", "the mapping file is empty; add \(example)")
            return []
        case .node(let node):
            root = node
        }
        if case .sequence = root {
            report(
                .wrongKind, file, root.line, "",
                "the top level of a mapping file must be a mapping with the key tables, not a list; "
                    + "put the list under 'tables:'"
            )
            return []
        }
        let top = section(
            root, file: file, path: "", line: nil, allowed: Self.mappingFileKeys,
            place: "at the top level of the mapping file", expected: "a mapping with the key tables"
        )
        guard top.isUsable else { return [] }
        guard let tables = top["tables"] else {
            report(.missingKey, file, nil, "tables", "the mapping file has no tables list; add \(example)")
            return []
        }
        let items: [Node]
        switch tables.value {
        case .sequence(let sequence):
            items = Array(sequence)
        case let value where value.isNull:
            items = []
        default:
            report(
                .wrongKind, file, tables.line, "tables",
                "must be a list, not \(tables.value.kindDescription); write \(example)"
            )
            return []
        }
        guard !items.isEmpty else {
            report(
                .invalidValue, file, tables.line, "tables",
                "is empty; list at least one table, such as '- source: public.samples', or remove the file"
            )
            return []
        }
        return items.enumerated().compactMap { index, item in
            readTable(item, index: index, file: file, parentLine: tables.line)
        }
    }

    private mutating func readTable(_ node: Node, index: Int, file: String, parentLine: Int?) -> Entry? {
        let key = "tables[\(index)]"
        let line = node.line ?? parentLine
        if case .scalar = node, !node.isNull {
            report(
                .wrongKind, file, line, key,
                "must be a mapping with the keys source and target, not text; write '- source: \(node.scalar?.string ?? "")'"
            )
            return nil
        }
        let table = section(
            node, file: file, path: key, line: line, allowed: Self.tableKeys, place: "in \(key)",
            expected: "a mapping with the keys source and target, such as '- source: public.samples'"
        )
        guard table.isUsable else { return nil }

        guard let sourceField = table["source"] else {
            report(
                .missingKey, file, line, table.key("source"),
                "missing; name the source table as schema.table, such as source: public.samples"
            )
            return nil
        }
        guard
            let sourceText = text(
                sourceField, file: file, expected: "a table name", fix: "name the source table, such as source: public.samples"
            )
        else { return nil }
        var deletes = DeleteMode.hard
        if let field = table["deletes"] {
            let fix = "write deletes: hard (remove the row, the default) or deletes: soft (keep it with _forager_deleted = true)"
            guard let value = text(field, file: file, expected: "hard or soft", fix: fix) else { return nil }
            guard let mode = DeleteMode(rawValue: value) else {
                report(.invalidValue, file, field.line, field.key, "'\(value)' is not a delete mode; " + fix)
                return nil
            }
            deletes = mode
        }
        var appendOnly = false
        if let field = table["append_only"] {
            guard let value = boolean(field, file: file, fix: "write append_only: true to keep every insert as a new row, or remove it")
            else { return nil }
            appendOnly = value
        }
        if TablePattern.hasWildcard(sourceText) {
            return readPattern(
                table, sourceText: sourceText, sourceField: sourceField, deletes: deletes, appendOnly: appendOnly, file: file, line: line)
        }
        guard let source = tableName(sourceText, field: sourceField, file: file) else { return nil }
        if let field = table["exclude_tables"] {
            report(
                .invalidValue, file, field.line, field.key,
                "only applies to an entry whose source has a wildcard, such as source: public.*; remove it, or write a pattern in source")
            return nil
        }

        var target = source.name
        var targetLine: Int?
        if let field = table["target"] {
            targetLine = field.line
            guard
                let name = text(
                    field, file: file, expected: "a table name",
                    fix: "write the warehouse table's name, or remove target to use the source table's name"
                ),
                checkTarget(name, field: field, file: file)
            else { return nil }
            target = name
        }
        guard let columns = readColumnOptions(table, file: file) else { return nil }
        return .table(
            MappingEntry(
                mapping: ForagerConfiguration.TableMapping(
                    source: source, target: target, deletes: deletes, excludeColumns: columns.excluded, renameColumns: columns.renames,
                    types: columns.types, extracts: columns.extracts, keepJSON: columns.keepJSON, appendOnly: appendOnly,
                    layout: columns.layout,
                    file: file, line: line ?? 1),
                key: key, sourceLine: sourceField.line, targetLine: targetLine, targetIsDefault: table["target"] == nil
            ))
    }

    /// What an entry for one table says about its columns and layout.
    private struct ColumnOptions {
        var excluded: [String] = []
        var renames: [String: String] = [:]
        var types: [String: String] = [:]
        var extracts: [JSONExtract] = []
        var keepJSON = true
        var layout = PhysicalLayout()
    }

    /// Reads `exclude_columns`, `rename_columns`, `types`, `extract`, `keep_json` and the
    /// warehouses' layout options of one table's entry; nil once a problem was reported.
    private mutating func readColumnOptions(_ table: YAMLSection, file: String) -> ColumnOptions? {
        var options = ColumnOptions()
        if let field = table["exclude_columns"] {
            let fix = "list the source columns to keep out of the warehouse, such as exclude_columns: [email, phone]"
            guard let names = nameList(field, file: file, fix: fix) else { return nil }
            options.excluded = names
        }
        if let field = table["rename_columns"] {
            guard let pairs = renameList(field, file: file) else { return nil }
            options.renames = pairs
        }
        if let field = table["types"] {
            guard let pairs = typeList(field, file: file) else { return nil }
            options.types = pairs
        }
        if let field = table["extract"] {
            guard let list = extractList(field, file: file) else { return nil }
            options.extracts = list
        }
        if let field = table["keep_json"] {
            let fix = "write keep_json: false to store only the extracted columns, or remove it to keep the json columns too"
            guard let value = boolean(field, file: file, fix: fix) else { return nil }
            if !value && options.extracts.isEmpty {
                report(
                    .invalidValue, file, field.line, field.key,
                    "only applies with extract, which this entry does not have; remove keep_json")
                return nil
            }
            options.keepJSON = value
        }
        if let field = table["clickhouse"] {
            guard let layoutOptions = clickHouseLayout(field, file: file) else { return nil }
            options.layout.clickHouse = layoutOptions
        }
        if let field = table["redshift"] {
            guard let layoutOptions = redshiftLayout(field, file: file) else { return nil }
            options.layout.redshift = layoutOptions
        }
        return options
    }

    /// An entry whose source has a wildcard: only table-wide options, plus `exclude_tables`.
    private mutating func readPattern(
        _ table: YAMLSection, sourceText: String, sourceField: YAMLField, deletes: DeleteMode, appendOnly: Bool,
        file: String, line: Int?
    ) -> Entry? {
        let pattern: TablePattern
        do {
            pattern = try TablePattern(parsing: sourceText)
        } catch {
            report(
                .invalidValue, file, sourceField.line, sourceField.key,
                "'\(sourceText)' is not a table pattern: \(error.reason); write schema.pattern, such as public.* or sensors.reading_?")
            return nil
        }
        var valid = true
        for (name, field) in table.fields.sorted(by: { $0.key < $1.key }) where !Self.patternKeys.contains(name) {
            report(
                .invalidValue, file, field.line, field.key,
                "cannot be used with a pattern (\(sourceText) selects many tables, each landing under its own name); map the table by its own name in another entry, which takes precedence over the pattern, and put \(name) there"
            )
            valid = false
        }
        var excludes: [TablePattern] = []
        if let field = table["exclude_tables"] {
            let fix = "list tables or patterns to leave out, such as exclude_tables: [public.schema_migrations, public.tmp_*]"
            guard let names = nameList(field, file: file, fix: fix) else { return nil }
            for name in names {
                do {
                    excludes.append(try TablePattern(parsing: name))
                } catch {
                    report(.invalidValue, file, field.line, field.key, "'\(name)' is not a table name or pattern: \(error.reason); \(fix)")
                    valid = false
                }
            }
        }
        guard valid else { return nil }
        return .pattern(
            ForagerConfiguration.TablePatternMapping(
                pattern: pattern, excludeTables: excludes, deletes: deletes, appendOnly: appendOnly, file: file, line: line ?? 1))
    }

    private mutating func tableName(_ text: String, field: YAMLField, file: String) -> TableName? {
        let how = "write it as schema.table, as in SQL, with double quotes around a part that needs them: public.\"Weird Table\""
        let name: TableName
        do {
            name = try TableName(parsing: text)
        } catch {
            var message = "'\(text)' is not a table name: \(error.reason); \(how)"
            if case .scalar(let scalar) = field.value, scalar.style == .doubleQuoted {
                message +=
                    ". YAML removed the double quotes around the value; to quote a name for SQL, wrap the "
                    + "whole value in single quotes: source: '\"Weird Table\"'"
            }
            report(.invalidValue, file, field.line, field.key, message)
            return nil
        }
        for part in [name.schema, name.name] where part.utf8.count > Self.maximumNameBytes {
            report(
                .invalidValue, file, field.line, field.key,
                "'\(part)' is \(part.utf8.count) bytes long, but PostgreSQL names are at most "
                    + "\(Self.maximumNameBytes) bytes (UTF-8); use the table's name as the server stores it"
            )
            return nil
        }
        return name
    }

    private mutating func checkTarget(_ name: String, field: YAMLField, file: String) -> Bool {
        guard
            checkName(
                name, field: field, file: file, what: "the warehouse table's name", fallback: "remove target to use the source table's name"
            )
        else {
            return false
        }
        if name.contains(".") {
            report(
                .invalidValue, file, field.line, field.key,
                "'\(name)' contains a dot, but target is a table name without a schema (tables go into "
                    + "warehouse.schema); write only the table's name"
            )
            return false
        }
        return true
    }

    /// The same source table twice, or two tables with the same target, across all files.
    private mutating func checkDuplicates(_ entries: [MappingEntry]) {
        var bySource: [TableName: MappingEntry] = [:]
        var byTarget: [String: MappingEntry] = [:]
        for entry in entries {
            let mapping = entry.mapping
            if let first = Self.firstEntry(in: &bySource, for: mapping.source, else: entry) {
                report(
                    .duplicate, mapping.file, entry.sourceLine ?? mapping.line, entry.key + ".source",
                    "\(mapping.source) is mapped twice, here and at \(first.mapping.file):\(first.mapping.line); "
                        + "map each source table once: remove one of the entries"
                )
            } else if let first = Self.firstEntry(in: &byTarget, for: mapping.target, else: entry) {
                let which = entry.targetIsDefault ? " (by default, the source table's name)" : ""
                report(
                    .duplicate, mapping.file, entry.targetLine ?? mapping.line, entry.key + ".target",
                    "target '\(mapping.target)'\(which) is also the target of \(first.mapping.source) at "
                        + "\(first.mapping.file):\(first.mapping.line); give one of them a different target"
                )
            }
        }
    }

    /// The entry seen first under `key`, or nil after recording `entry` as that one.
    private static func firstEntry<Key: Hashable>(
        in seen: inout [Key: MappingEntry], for key: Key, else entry: MappingEntry
    ) -> MappingEntry? {
        if let first = seen[key] { return first }
        seen[key] = entry
        return nil
    }
}
