/// How the values of one warehouse column are written into Redshift's CSV, and what they must
/// fit (see ``RedshiftCSV``).
public enum RedshiftValueKind: Sendable, Equatable {
    /// Numbers, booleans, times: PostgreSQL's text form, which Redshift reads as it is.
    case plain
    /// REAL and DOUBLE PRECISION: PostgreSQL's text, `NaN` and `Infinity` included.
    case float
    /// DECIMAL(p,s): finite numbers only (PostgreSQL's numeric also holds NaN and infinities).
    case decimal
    /// DATE, TIMESTAMP, TIMESTAMPTZ: no `infinity` or `-infinity`, which Redshift lacks.
    case dateTime
    /// VARCHAR(n): at most `maxBytes` bytes of UTF-8, as Redshift counts a VARCHAR's length.
    case text(maxBytes: Int)
    /// VARCHAR(n) of a table mapped `oversized_text: truncate`: a longer value is cut to at most
    /// `maxBytes` bytes, at a character's boundary.
    case truncatedText(maxBytes: Int)
    /// VARBYTE(n) from bytea: PostgreSQL's `\x` hex form becomes Redshift's bare hex; at most
    /// `maxBytes` bytes.
    case varbyte(maxBytes: Int)
    /// SUPER from json and jsonb: the JSON text.
    case json
    /// BIGINT from pg_lsn: `X/Y` becomes the 64-bit position.
    case lsn
}

/// A Redshift column type for a PostgreSQL type, and how its values are written.
public struct RedshiftColumnType: Sendable, Equatable {
    /// The type as CREATE TABLE spells it, for example `VARCHAR(65535)` or `DECIMAL(12,4)`.
    public let sql: String
    /// How values are written into CSV.
    public let kind: RedshiftValueKind

    public init(_ sql: String, _ kind: RedshiftValueKind) {
        self.sql = sql
        self.kind = kind
    }
}

/// The PostgreSQL to Redshift type mapping ([docs/redshift.md](../../docs/redshift.md)).
///
/// Redshift lacks arrays, uuid, interval, network types, ranges, enums, composites, json and bytea;
/// a type it lacks becomes VARCHAR with PostgreSQL's text form, json and jsonb become SUPER and
/// bytea VARBYTE. Lengths are in bytes in Redshift and in characters in PostgreSQL, so a
/// `varchar(n)` becomes `VARCHAR(4n)` (UTF-8 takes at most four bytes a character).
public enum RedshiftTypes {
    /// The longest VARCHAR Redshift has, in bytes.
    public static let maxVarchar = 65535
    /// The VARBYTE size Forager declares for bytea (Redshift's default VARBYTE is 64,000 bytes).
    public static let varbyteSize = 1_024_000
    /// The most digits a Redshift DECIMAL holds.
    public static let maxDecimalPrecision = 38

    /// The Redshift type of a column whose PostgreSQL type is `sqlType` as `format_type` prints it
    /// (or as a mapping's `types` override spells it). Unknown types (enums, domains, composites,
    /// extension types) become `VARCHAR(65535)` with their text form.
    public static func mapping(of sqlType: String) -> RedshiftColumnType {
        let type = sqlType.lowercased().trimmingSpaces
        if type.hasSuffix("[]") || type.hasPrefix("_") { return text() }
        let (base, arguments) = split(type)
        if let fixed = fixed[base] { return fixed }
        switch base {
        case "numeric", "decimal":
            guard let precision = arguments.first else { return text() }
            let scale = arguments.count > 1 ? arguments[1] : 0
            guard precision <= maxDecimalPrecision else { return text(precision + 3) }
            return RedshiftColumnType("DECIMAL(\(precision),\(scale))", .decimal)
        case "character varying", "varchar", "character", "char", "bpchar":
            guard let length = arguments.first else { return text(["character", "char", "bpchar"].contains(base) ? 4 : maxVarchar) }
            return text(length * 4)
        case "bit", "bit varying", "varbit":
            return text(arguments.first ?? (base == "bit" ? 1 : maxVarchar))
        case "time without time zone", "time": return RedshiftColumnType("TIME", .plain)
        case "time with time zone", "timetz": return RedshiftColumnType("TIMETZ", .plain)
        case "timestamp without time zone", "timestamp": return RedshiftColumnType("TIMESTAMP", .dateTime)
        case "timestamp with time zone", "timestamptz": return RedshiftColumnType("TIMESTAMPTZ", .dateTime)
        default: return text()
        }
    }

    /// VARCHAR of `bytes` (at most Redshift's largest).
    static func text(_ bytes: Int = maxVarchar) -> RedshiftColumnType {
        let size = min(max(bytes, 1), maxVarchar)
        return RedshiftColumnType("VARCHAR(\(size))", .text(maxBytes: size))
    }

    /// Types without arguments, by every name PostgreSQL or a mapping may give them.
    private static let fixed: [String: RedshiftColumnType] = {
        var types: [String: RedshiftColumnType] = [:]
        func add(_ names: [String], _ type: RedshiftColumnType) { for name in names { types[name] = type } }
        add(["smallint", "int2"], RedshiftColumnType("SMALLINT", .plain))
        add(["integer", "int", "int4"], RedshiftColumnType("INTEGER", .plain))
        add(["bigint", "int8", "oid"], RedshiftColumnType("BIGINT", .plain))
        add(["real", "float4"], RedshiftColumnType("REAL", .float))
        add(["double precision", "float8", "float"], RedshiftColumnType("DOUBLE PRECISION", .float))
        add(["boolean", "bool"], RedshiftColumnType("BOOLEAN", .plain))
        add(["date"], RedshiftColumnType("DATE", .dateTime))
        add(["bytea"], RedshiftColumnType("VARBYTE(\(varbyteSize))", .varbyte(maxBytes: varbyteSize)))
        add(["json", "jsonb"], RedshiftColumnType("SUPER", .json))
        add(["pg_lsn"], RedshiftColumnType("BIGINT", .lsn))
        add(["uuid"], text(36))
        add(["interval"], text(100))
        add(["inet", "cidr"], text(43))
        add(["macaddr"], text(17))
        add(["macaddr8"], text(23))
        add(["money"], text(32))
        add(["name"], text(256))
        add(["\"char\""], text(4))
        return types
    }()

    /// `numeric(12,4)` as (`numeric`, [12, 4]); `timestamp(3) with time zone` as
    /// (`timestamp with time zone`, [3]).
    static func split(_ type: String) -> (base: String, arguments: [Int]) {
        guard let open = type.firstIndex(of: "("), let close = type[open...].firstIndex(of: ")") else { return (type, []) }
        let arguments = type[type.index(after: open)..<close].split(separator: ",").compactMap { Int($0.trimmingSpaces) }
        let base = (type[..<open].trimmingSpaces + " " + type[type.index(after: close)...].trimmingSpaces).trimmingSpaces
        return (base, arguments)
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces.
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
