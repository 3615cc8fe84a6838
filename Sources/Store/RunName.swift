import Foundation

/// A run's name, checked: it names a folder of the run's files (kept checkpoints, successive halving's saved
/// states) and the default export folder, so it may hold nothing that a path gives a meaning to. 1 to 100
/// characters, each an ASCII letter, a digit, `.`, `_` or `-`; not starting with `.` (no `..`, no hidden
/// file). Every name that enters efsearch, from the command line or from a store, passes through this type.
public struct RunName: Hashable, Sendable, CustomStringConvertible {
    public let text: String

    /// The rule, as every error says it.
    public static let rule = "a run name has 1 to 100 characters, each an ASCII letter, a digit, '.', '_' or '-', and does not start with '.'"
    public static let maximumLength = 100

    /// Checks `text` given by the user (`--run`, `--resume`, a command's argument).
    public init(_ text: String) throws {
        guard RunName.isValid(text) else { throw RunNameError(given: text, runId: nil, store: nil) }
        self.text = text
    }

    /// Checks the name of a run read from a store: a name nobody should have been able to store there (a store
    /// made by an older efsearch, or written to by hand) is an error naming the run's id, never a path.
    public init(stored run: RunRecord, store: String) throws {
        guard RunName.isValid(run.name) else { throw RunNameError(given: run.name, runId: run.id, store: store) }
        text = run.name
    }

    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...maximumLength).contains(bytes.count), bytes[0] != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"): true
            default: false
            }
        }
    }

    public var description: String { text }
}

/// A name that is not a valid run name. Quotes it escaped (a newline shows as `\n`), so that the message itself
/// cannot be forged by the name.
public struct RunNameError: Error, CustomStringConvertible, Equatable {
    public var given: String
    /// Set when the name was read from a store.
    public var runId: Int64?
    public var store: String?

    public var description: String {
        let quoted = given.debugDescription
        guard let store else { return "run name \(quoted) is not valid: \(RunName.rule)" }
        return "store \(store): run \(runId.map(String.init) ?? "?") has the stored name \(quoted), which is not a valid run name (\(RunName.rule)); "
            + "nothing is read or written under it (rename it in the store, or leave the run out)"
    }
}

/// A folder that efsearch owns (the store's folder of run files, an export folder): every path it hands out, and
/// every path written or deleted through it, is checked to lie inside it, after `..` and symbolic links are resolved
/// as far as the path exists.
public struct OwnedFolder: Sendable, Equatable {
    public let root: URL

    public init(_ root: URL) {
        self.root = root.standardizedFileURL
    }

    /// `root/components...`, refused when it is not strictly inside the root.
    public func path(_ components: String...) throws -> URL {
        var url = root
        for component in components { url.appendPathComponent(component) }
        try check(url)
        return url
    }

    /// Throws unless `url` lies strictly inside the root (symbolic links resolved where they exist).
    public func check(_ url: URL) throws {
        let base = OwnedFolder.resolved(root).pathComponents
        let target = OwnedFolder.resolved(url).pathComponents
        guard target.count > base.count, Array(target.prefix(base.count)) == base else {
            throw ContainmentError(path: url.path, folder: root.path)
        }
    }

    /// The path with `.`/`..` folded and the symbolic links of its longest existing prefix resolved.
    static func resolved(_ url: URL) -> URL {
        let standard = url.standardizedFileURL
        var existing = standard
        var rest: [String] = []
        while !FileManager.default.fileExists(atPath: existing.path) && existing.pathComponents.count > 1 {
            rest.insert(existing.lastPathComponent, at: 0)
            existing.deleteLastPathComponent()
        }
        var result = existing.resolvingSymlinksInPath()
        for component in rest { result.appendPathComponent(component) }
        return result.standardizedFileURL
    }
}

/// A path that would leave the folder efsearch owns: nothing is written or deleted there.
public struct ContainmentError: Error, CustomStringConvertible {
    public var path: String
    public var folder: String
    public var description: String { "refused to write or delete \(path.debugDescription): it is outside \(folder), the folder efsearch owns for it" }
}
