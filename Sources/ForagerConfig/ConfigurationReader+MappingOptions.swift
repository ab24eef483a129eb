import ForagerCore
import Foundation
import Yams

/// The options of one mapping entry: layouts, column maps, renames, types and extracts.
extension ConfigurationReader {
    /// `clickhouse: {order_by: [columns], partition_by: expression}`.
    mutating func clickHouseLayout(_ field: YAMLField, file: String) -> PhysicalLayout.ClickHouse? {
        let options = options(
            of: field, file: file, allowed: Self.clickHouseKeys,
            expected: "a mapping such as {order_by: [device_id, ts], partition_by: toYYYYMM(ts)}")
        guard options.isUsable else { return nil }
        var layout = PhysicalLayout.ClickHouse()
        if let orderBy = options["order_by"] {
            guard
                let names = nameList(orderBy, file: file, fix: "list warehouse columns, the primary key first, such as order_by: [id, ts]")
            else { return nil }
            layout.orderBy = names
        }
        if let partitionBy = options["partition_by"] {
            guard
                let expression = text(
                    partitionBy, file: file, expected: "a ClickHouse expression",
                    fix: "write one expression, such as partition_by: toYYYYMM(ts)")
            else { return nil }
            layout.partitionBy = expression
        }
        return layout
    }

    /// `redshift: {sortkey: [columns], distkey: column, diststyle: auto | even | all | key,
    /// oversized_text: stop | truncate}`.
    mutating func redshiftLayout(_ field: YAMLField, file: String) -> PhysicalLayout.Redshift? {
        let options = options(
            of: field, file: file, allowed: Self.redshiftKeys, expected: "a mapping such as {sortkey: [ts], distkey: device_id}")
        guard options.isUsable else { return nil }
        var layout = PhysicalLayout.Redshift()
        if let sortKey = options["sortkey"] {
            guard let names = nameList(sortKey, file: file, fix: "list warehouse columns, such as sortkey: [ts]") else { return nil }
            layout.sortKey = names
        }
        if let distKey = options["distkey"] {
            guard
                let name = text(
                    distKey, file: file, expected: "one column name", fix: "name one warehouse column, such as distkey: device_id")
            else { return nil }
            layout.distKey = name
        }
        if let distStyle = options["diststyle"] {
            let fix = "write one of \(PhysicalLayout.Redshift.DistStyle.allCases.map(\.rawValue).joined(separator: ", "))"
            guard let text = text(distStyle, file: file, expected: "a distribution style", fix: fix) else { return nil }
            guard let style = PhysicalLayout.Redshift.DistStyle(rawValue: text.lowercased()) else {
                report(.invalidValue, file, distStyle.line, distStyle.key, "'\(text)' is not a Redshift distribution style; \(fix)")
                return nil
            }
            layout.distStyle = style
        }
        if let oversized = options["oversized_text"] {
            let fix = "write stop (the default: the table stops) or truncate (the value is cut to fit and counted)"
            guard let text = text(oversized, file: file, expected: "stop or truncate", fix: fix) else { return nil }
            guard let choice = PhysicalLayout.Redshift.OversizedText(rawValue: text.lowercased()) else {
                report(.invalidValue, file, oversized.line, oversized.key, "'\(text)' is not a choice; \(fix)")
                return nil
            }
            layout.oversizedText = choice
        }
        return layout
    }

    /// A YAML mapping of column name to a text value (`rename_columns`, `types`), each entry as a
    /// field for messages; reports a value of the wrong shape with `fix`.
    mutating func columnMap(_ field: YAMLField, file: String, of what: String, fix: String) -> [(column: String, value: YAMLField)]? {
        guard case .mapping(let mapping) = field.value else {
            report(
                field.value.isNull ? .missingKey : .wrongKind, file, field.line, field.key,
                "must be a mapping of column to \(what), not \(field.value.kindDescription); \(fix)")
            return nil
        }
        var entries: [(column: String, value: YAMLField)] = []
        var valid = true
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let key) = keyNode, case .scalar(let value) = valueNode, !valueNode.isNull,
                !value.string.trimmingCharacters(in: .whitespaces).isEmpty
            else {
                report(.wrongKind, file, keyNode.line ?? field.line, field.key, "every entry must map a column name to a \(what); \(fix)")
                valid = false
                continue
            }
            entries.append((key.string, YAMLField(key: field.key + "." + key.string, line: keyNode.line ?? field.line, value: valueNode)))
        }
        return valid ? entries : nil
    }

    /// `rename_columns: {source_column: warehouse_column, ...}`, with every warehouse name valid and
    /// used once.
    mutating func renameList(_ field: YAMLField, file: String) -> [String: String]? {
        let fix = "write rename_columns: {source_column: warehouse_column}, such as rename_columns: {temp: temperature_c}"
        guard let entries = columnMap(field, file: file, of: "column name", fix: fix) else { return nil }
        var renames: [String: String] = [:]
        var sourcesByTarget: [String: String] = [:]
        var valid = true
        for (column, entry) in entries {
            let name = entry.value.scalar?.string ?? ""
            guard checkName(name, field: entry, file: file, what: "the warehouse column's name", fallback: "remove the entry") else {
                valid = false
                continue
            }
            if let other = sourcesByTarget[name] {
                report(
                    .duplicate, file, entry.line, entry.key,
                    "renames \(column) to '\(name)', which \(other) is already renamed to; give each its own name")
                valid = false
            }
            if name.hasPrefix("_forager_") {
                report(
                    .invalidValue, file, entry.line, entry.key,
                    "'\(name)' starts with _forager_, which is kept for Forager's own columns; choose another name")
                valid = false
            }
            sourcesByTarget[name] = column
            renames[column] = name
        }
        return valid ? renames : nil
    }

    /// `types: {column: sql_type, ...}`; the types themselves are checked against the warehouse by
    /// `forager check`.
    mutating func typeList(_ field: YAMLField, file: String) -> [String: String]? {
        let fix = "write types: {column: warehouse_type}, such as types: {weight_kg: double precision}"
        guard let entries = columnMap(field, file: file, of: "type", fix: fix) else { return nil }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "_ ,()[]."))
        var types: [String: String] = [:]
        var valid = true
        for (column, entry) in entries {
            let type = entry.value.scalar?.string ?? ""
            if type.contains("--") || type.unicodeScalars.contains(where: { !allowed.contains($0) }) {
                report(.invalidValue, file, entry.line, entry.key, "'\(type)' is not a type name; \(fix)")
                valid = false
                continue
            }
            types[column] = type
        }
        return valid ? types : nil
    }

    /// `extract: [{column, from, path, type}, ...]`.
    mutating func extractList(_ field: YAMLField, file: String) -> [JSONExtract]? {
        let example = "such as - {column: temperature_c, from: payload, path: climate.temp, type: double precision}"
        guard case .sequence(let items) = field.value else {
            report(
                field.value.isNull ? .missingKey : .wrongKind, file, field.line, field.key,
                "must be a list of extracted columns, not \(field.value.kindDescription); write one entry per column, \(example)")
            return nil
        }
        var extracts: [JSONExtract] = []
        var valid = true
        for (index, item) in items.enumerated() {
            let key = "\(field.key)[\(index)]"
            let entry = section(
                item, file: file, path: key, line: item.line ?? field.line, allowed: Self.extractKeys,
                place: "in \(key)", expected: "a mapping \(example)")
            guard entry.isUsable else { valid = false; continue }
            var values: [String: String] = [:]
            for name in Self.extractKeys {
                guard let value = entry[name] else {
                    report(
                        .missingKey, file, item.line ?? field.line, entry.key(name),
                        "missing; every extracted column needs column, from, path and type, \(example)")
                    valid = false
                    continue
                }
                guard let text = text(value, file: file, expected: "text", fix: example) else { valid = false; continue }
                values[name] = text
            }
            guard let column = values["column"], let from = values["from"], let pathText = values["path"], let typeText = values["type"]
            else { continue }
            guard let path = JSONExtract.parsePath(pathText) else {
                report(
                    .invalidValue, file, entry["path"]?.line, entry.key("path"),
                    "'\(pathText)' is not a JSON path; write keys separated by dots and array indexes in brackets, such as climate.temp or readings[0].value"
                )
                valid = false
                continue
            }
            guard let type = JSONExtract.ValueType(rawValue: typeText.lowercased()) else {
                let names = JSONExtract.ValueType.allCases.map(\.rawValue).joined(separator: ", ")
                report(
                    .invalidValue, file, entry["type"]?.line, entry.key("type"),
                    "'\(typeText)' cannot be extracted yet; use one of: \(names)")
                valid = false
                continue
            }
            if let columnField = entry["column"],
                !checkName(column, field: columnField, file: file, what: "the new column's name", fallback: "remove the entry")
            {
                valid = false
                continue
            }
            if extracts.contains(where: { $0.column == column }) {
                report(
                    .duplicate, file, entry["column"]?.line, entry.key("column"),
                    "'\(column)' is extracted twice; give each extracted column its own name")
                valid = false
                continue
            }
            extracts.append(JSONExtract(column: column, from: from, path: path, type: type))
        }
        return valid ? extracts : nil
    }
}
