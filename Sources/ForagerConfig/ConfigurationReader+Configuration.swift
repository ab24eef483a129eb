import Yams

/// The configuration file itself: `source`, `warehouse`, `batch` and `mappings`.
extension ConfigurationReader {
    static let topLevelKeys = ["source", "warehouse", "batch", "mappings", "metrics", "alerts", "shutdown", "snapshot"]
    static let sourceKeys = ["url", "publication", "slot", "heartbeat_interval_s", "spill_dir", "binary"]
    static let warehouseKeys =
        ["type", "url", "schema", "database", "user", "password", "compression", "ca_file"] + clusterKeys + redshiftWarehouseKeys
    static let batchKeys = ["max_rows", "max_mb", "max_age_ms", "min_interval_ms"]

    /// The configuration, or `nil` when the file is too broken to go on (reported). Problems may
    /// have been reported even when a configuration is returned.
    mutating func read(yaml: String) -> ForagerConfiguration? {
        let file = configFile
        let root: Node
        switch compose(yaml, file: file, isMappingFile: false) {
        case .failed:
            return nil
        case .empty:
            report(
                .missingKey, file, nil, "",
                "the configuration file is empty; add at least source.url, warehouse.url and mappings"
            )
            return nil
        case .node(let node):
            root = node
        }
        let top = section(
            root, file: file, path: "", line: nil, allowed: Self.topLevelKeys, place: "at the top level",
            expected: "a mapping with the keys source, warehouse, batch, mappings, metrics, alerts and shutdown",
            hints: ["tables": "tables are listed in mapping files, not here; move them to a file and name it in mappings"]
        )
        guard top.isUsable else { return nil }
        let source = readSource(top)
        let warehouse = readWarehouse(top)
        let batch = readBatch(top)
        let (tables, patterns) = readTables(top)
        var configuration = ForagerConfiguration(
            source: source, warehouse: warehouse, batch: batch, tables: tables, tablePatterns: patterns, configPath: configPath)
        configuration.metrics = readMetrics(top)
        configuration.alerts = readAlerts(top)
        configuration.shutdownGrace = readShutdown(top)
        configuration.snapshotParallelism = readSnapshotParallelism(top)
        return configuration
    }

    private mutating func readSource(_ top: YAMLSection) -> ForagerConfiguration.Source {
        let file = configFile
        let source = topLevelSection(
            "source", of: top, allowed: Self.sourceKeys,
            expected: "a mapping with the keys url, publication, slot, heartbeat_interval_s, spill_dir and binary")
        let url = connectionString(in: source, variable: ForagerConfiguration.sourceURLVariable, of: "the source database")
        let defaultName = ForagerConfiguration.Source.defaultName

        var publication = defaultName
        if let field = source["publication"],
            let name = text(field, file: file, expected: "a publication name", fix: "write e.g. publication: \(defaultName)"),
            checkName(name, field: field, file: file, what: "the publication's name", fallback: "remove the key to use '\(defaultName)'")
        {
            publication = name
        }

        var slot = defaultName
        if let field = source["slot"],
            let name = text(field, file: file, expected: "a slot name", fix: "write e.g. slot: \(defaultName)")
        {
            if Self.isValidSlotName(name) {
                slot = name
            } else {
                report(
                    .invalidValue, file, field.line, field.key,
                    "'\(name)' is not a valid replication slot name: PostgreSQL allows only lower-case letters, "
                        + "digits and underscores, 1 to 63 of them ([a-z0-9_]{1,63}); use e.g. '\(Self.slotName(like: name))'"
                )
            }
        }
        var result = ForagerConfiguration.Source(url: url, publication: publication, slot: slot)
        if let field = source["heartbeat_interval_s"],
            let seconds = positiveInteger(
                field, file: file,
                fix:
                    "write how often to write a heartbeat on the source, in seconds, e.g. heartbeat_interval_s: 10 (0 turns heartbeats off)",
                atLeast: 0)
        {
            result.heartbeatInterval = seconds == 0 ? nil : .seconds(seconds)
        }
        if let field = source["spill_dir"],
            let path = text(field, file: file, expected: "a directory", fix: "write e.g. spill_dir: /var/lib/forager/spill")
        {
            result.spillDirectory = FilePaths.join(FilePaths.directory(of: configPath), path)
        }
        if let field = source["binary"],
            let binary = boolean(
                field, file: file,
                fix: "write binary: true to receive values in binary where the pipeline allows it, or binary: false for text")
        {
            result.binary = binary
        }
        return result
    }

    private mutating func readWarehouse(_ top: YAMLSection) -> ForagerConfiguration.Warehouse {
        let file = configFile
        let warehouse = topLevelSection(
            "warehouse", of: top, allowed: Self.warehouseKeys, expected: "a mapping with the keys type, url and schema")
        let supported = ForagerConfiguration.WarehouseType.allCases.map(\.rawValue)
        let list = supported.map { "'\($0)'" }.joined(separator: ", ")

        var type = ForagerConfiguration.WarehouseType.postgres
        if let field = warehouse["type"],
            let name = text(field, file: file, expected: "a warehouse type", fix: "the supported types are \(list)")
        {
            if let known = ForagerConfiguration.WarehouseType(rawValue: name) {
                type = known
            } else {
                let guess = KeySuggestion.closest(to: name, among: supported).map { "did you mean '\($0)'? " } ?? ""
                report(
                    .invalidValue, file, field.line, field.key,
                    "'\(name)' is not a supported warehouse type; \(guess)the supported types are \(list)"
                )
            }
        }

        if type != .redshift { refuseRedshiftKeys(warehouse, type: type) }
        if type == .clickhouse {
            return readClickHouse(warehouse)
        }
        let kind = type == .redshift ? "Redshift" : "Postgres"
        for key in ["database", "user", "password", "compression", "ca_file"] + Self.clusterKeys {
            guard let field = warehouse[key] else { continue }
            report(
                .invalidValue, file, field.line, field.key,
                "only applies to type: clickhouse; for a \(kind) warehouse, put the user in url and the password in PGPASSWORD or ~/.pgpass\(key == "database" ? ", and use schema for the tables' schema" : "")\(key == "ca_file" ? ", and TLS settings in url (sslmode=verify-full&sslrootcert=...)" : "")"
            )
        }
        let url = connectionString(in: warehouse, variable: ForagerConfiguration.warehouseURLVariable, of: "the warehouse")

        let defaultSchema = ForagerConfiguration.Warehouse.defaultSchema
        var schema = defaultSchema
        if let field = warehouse["schema"],
            let name = text(field, file: file, expected: "a schema name", fix: "write e.g. schema: analytics"),
            checkName(
                name, field: field, file: file, what: "the warehouse schema's name", fallback: "remove the key to use '\(defaultSchema)'")
        {
            schema = name
        }
        var result = ForagerConfiguration.Warehouse(type: type, url: url, schema: schema)
        if type == .redshift { result.redshift = readRedshiftStaging(warehouse) }
        return result
    }

    /// `warehouse:` with `type: clickhouse`: an HTTP URL, the database, and optional credentials.
    private mutating func readClickHouse(_ warehouse: YAMLSection) -> ForagerConfiguration.Warehouse {
        let file = configFile
        if let field = warehouse["schema"] {
            report(.invalidValue, file, field.line, field.key, "does not apply to ClickHouse; name the database with database: analytics")
        }
        let example = "url: \"http://localhost:8123\""
        var url = environment[ForagerConfiguration.warehouseURLVariable].flatMap { $0.isEmpty ? nil : $0 } ?? ""
        if url.isEmpty {
            if let field = warehouse["url"] {
                url = text(field, file: file, expected: "an HTTP URL", fix: "write the server's HTTP interface, such as \(example)") ?? ""
            } else {
                report(
                    .missingKey, file, warehouse.line, warehouse.key("url"),
                    "missing; set it to the ClickHouse server's HTTP interface, such as \(example), or set \(ForagerConfiguration.warehouseURLVariable)"
                )
            }
        }
        if !url.isEmpty, !(url.hasPrefix("http://") || url.hasPrefix("https://")) || url.contains("@") {
            report(
                .invalidValue, file, warehouse["url"]?.line, warehouse.key("url"),
                "is not an http:// or https:// URL without credentials (the value is not shown, as it may hold a password); write \(example) and put the user and password in user and password"
            )
        }
        var database = ForagerConfiguration.Warehouse.defaultDatabase
        if let field = warehouse["database"],
            let name = text(field, file: file, expected: "a database name", fix: "write e.g. database: analytics")
        {
            if name.isEmpty || name.contains("`") {
                report(
                    .invalidValue, file, field.line, field.key, "'\(name)' is not a usable database name; write e.g. database: analytics")
            } else {
                database = name
            }
        }
        var user: String?
        if let field = warehouse["user"] {
            user = text(field, file: file, expected: "a user name", fix: "write e.g. user: forager")
        }
        var password = environment[ForagerConfiguration.warehousePasswordVariable].flatMap { $0.isEmpty ? nil : $0 }
        if password == nil, let field = warehouse["password"] {
            password = text(
                field, file: file, expected: "text",
                fix: "write the password, or set \(ForagerConfiguration.warehousePasswordVariable) instead")
        }
        var warehouseConfig = ForagerConfiguration.Warehouse(type: .clickhouse, url: url, schema: database, user: user, password: password)
        if let field = warehouse["compression"] {
            let fix = "write compression: gzip (the default) or compression: none"
            switch text(field, file: file, expected: "gzip or none", fix: fix) {
            case "gzip": warehouseConfig.compress = true
            case "none": warehouseConfig.compress = false
            case let other?: report(.invalidValue, file, field.line, field.key, "'\(other)' is not a compression; \(fix)")
            case nil: break
            }
        }
        if let field = warehouse["ca_file"],
            let path = text(
                field, file: file, expected: "a file path",
                fix: "write the path of the PEM file with the certificate authority, e.g. ca_file: certs/clickhouse-ca.pem")
        {
            warehouseConfig.caFile = FilePaths.join(FilePaths.directory(of: configPath), path)
            if !url.hasPrefix("https://") {
                report(
                    .invalidValue, file, field.line, field.key,
                    "applies only to an https:// url; use https:// in warehouse.url, or remove ca_file")
            }
        }
        readCluster(warehouse, into: &warehouseConfig)
        return warehouseConfig
    }

    private mutating func readBatch(_ top: YAMLSection) -> ForagerConfiguration.Batch {
        let file = configFile
        let batch = topLevelSection(
            "batch", of: top, allowed: Self.batchKeys, expected: "a mapping with the keys max_rows, max_mb, max_age_ms and min_interval_ms")
        var result = ForagerConfiguration.Batch()
        if let field = batch["max_rows"],
            let rows = positiveInteger(field, file: file, fix: "write the most rows in one batch, e.g. max_rows: 50000")
        {
            result.maxRows = rows
        }
        if let field = batch["max_mb"],
            let megabytes = positiveInteger(field, file: file, fix: "write the most MiB of values one batch holds, e.g. max_mb: 64")
        {
            result.maxBytes = megabytes << 20
        }
        if let field = batch["max_age_ms"],
            let milliseconds = positiveInteger(
                field, file: file, fix: "write the longest a change waits, in milliseconds, e.g. max_age_ms: 500"
            )
        {
            result.maxAge = .milliseconds(milliseconds)
        }
        if let field = batch["min_interval_ms"],
            let milliseconds = positiveInteger(
                field, file: file,
                fix: "write the least time between two small batches, in milliseconds (0 for none), e.g. min_interval_ms: 10",
                atLeast: 0)
        {
            guard .milliseconds(milliseconds) < result.maxAge else {
                report(
                    .invalidValue, file, field.line, field.key,
                    "must be less than max_age_ms (\(Int(result.maxAge / .milliseconds(1)))), not \(milliseconds); lower it, e.g. min_interval_ms: 10"
                )
                return result
            }
            result.minInterval = .milliseconds(milliseconds)
        }
        return result
    }

    /// `url` of `section`, or the environment variable that overrides it. Never puts the value in
    /// a message.
    private mutating func connectionString(in section: YAMLSection, variable: String, of what: String) -> String {
        let key = section.key("url")
        let example = "postgresql://user@host:5432/dbname or host=... dbname=..."
        let hidden = "(the value is not shown, as it may hold a password)"
        if let value = environment[variable], !value.isEmpty {
            if !Self.looksLikeConnectionString(value) {
                report(
                    .invalidValue, configFile, nil, key,
                    "\(variable) is neither a postgresql:// URI nor key=value connection settings \(hidden); "
                        + "set it to \(what)'s connection string, such as \(example)"
                )
            }
            return value
        }
        guard let field = section["url"] else {
            if section.isUsable {
                report(
                    .missingKey, configFile, section.line, key,
                    "missing; set \(key) to \(what)'s connection string (\(example)), or set \(variable)"
                )
            }
            return ""
        }
        guard
            let value = text(
                field, file: configFile, expected: "a connection string",
                fix: "write \(what)'s connection string, such as url: \"postgresql://user@host:5432/dbname\", or set \(variable)"
            )
        else { return "" }
        if !Self.looksLikeConnectionString(value) {
            report(
                .invalidValue, configFile, field.line, key,
                "is neither a postgresql:// URI nor key=value connection settings \(hidden); "
                    + "write \(what)'s connection string, such as \(example), or set \(variable)"
            )
        }
        return value
    }

    /// A libpq URI (`postgresql://`, `postgres://`) or `key=value` settings.
    static func looksLikeConnectionString(_ value: String) -> Bool {
        let trimmed = value.drop(while: \.isWhitespace)
        return trimmed.hasPrefix("postgresql://") || trimmed.hasPrefix("postgres://") || trimmed.contains("=")
    }

    /// PostgreSQL's rule for replication slot names: `[a-z0-9_]{1,63}`.
    static func isValidSlotName(_ name: String) -> Bool {
        (1...maximumNameBytes).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_")
            }
    }

    /// A valid slot name close to `name`, to suggest.
    static func slotName(like name: String) -> String {
        let mapped = name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }
        let candidate = String(String(mapped).prefix(maximumNameBytes))
        return isValidSlotName(candidate) ? candidate : ForagerConfiguration.Source.defaultName
    }
}
