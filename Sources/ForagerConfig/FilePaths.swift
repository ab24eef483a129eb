import Foundation

/// The file-system side of loading: path arithmetic and reading text. Kept apart so the rest of the
/// target only sees strings.
enum FilePaths {
    /// `path` made absolute against the current directory, with `.` and `..` resolved.
    static func absolute(_ path: String) -> String {
        let url =
            path.hasPrefix("/")
            ? URL(fileURLWithPath: path)
            : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path)
        return url.standardizedFileURL.path
    }

    /// The directory part of `path` as written: `""` for a bare file name, `/` for a file at the root.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// `name` inside `directory`, unless `name` is absolute; joined as text, so a path the user
    /// wrote stays recognisable in messages.
    static func join(_ directory: String, _ name: String) -> String {
        if name.hasPrefix("/") || directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    enum Entry {
        case missing
        case file
        case directory
    }

    static func entry(atPath path: String) -> Entry {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .missing }
        return isDirectory.boolValue ? .directory : .file
    }

    /// The names of the YAML files (`*.yaml`, `*.yml`) in a directory, sorted; hidden files (editor
    /// and backup files) and subdirectories are skipped. `nil` when the directory cannot be listed.
    static func yamlFiles(inDirectory path: String) -> [String]? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return nil }
        return
            names
            .filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
            .filter { entry(atPath: join(path, $0)) == .file }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Why a file could not be read.
    enum ReadFailure: Error {
        case missing
        case isDirectory
        case notReadable
        case notUTF8

        /// A clause for a message: what is wrong, without saying what to do.
        func reason(absolutePath: String) -> String {
            switch self {
            case .missing: "\(absolutePath) does not exist"
            case .isDirectory: "\(absolutePath) is a directory, not a file"
            case .notReadable: "\(absolutePath) is not readable by this user (check its permissions)"
            case .notUTF8: "\(absolutePath) is not UTF-8 text (save it as UTF-8)"
            }
        }
    }

    static func readText(atPath path: String) -> Result<String, ReadFailure> {
        switch entry(atPath: path) {
        case .missing: return .failure(.missing)
        case .directory: return .failure(.isDirectory)
        case .file: break
        }
        guard FileManager.default.isReadableFile(atPath: path), let data = FileManager.default.contents(atPath: path) else {
            return .failure(.notReadable)
        }
        guard let text = String(validating: data, as: UTF8.self) else { return .failure(.notUTF8) }
        return .success(text)
    }
}
