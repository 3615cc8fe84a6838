import Architecture
import Foundation
import Store

extension RunNameError: UserInputError {}
extension ContainmentError: UserInputError {}

/// The files that belong with a run on this machine, in a folder named after the run inside the store's folder
/// (`Store.localFolder`): kept checkpoints as `ID.safetensors`, successive halving's saved states as
/// `rungs/ID-rR.safetensors` (with the optimizer state beside each). The run's name is checked as a `RunName`
/// before it names the folder, and every path handed out, written or deleted is checked to lie inside it.
public struct RunFiles: Sendable {
    public let owner: OwnedFolder
    public let name: RunName

    /// Refuses a run whose stored name is not a valid run name (naming its id).
    public init(store: any Store, run: RunRecord) throws {
        owner = OwnedFolder(store.localFolder)
        name = try RunName(stored: run, store: store.location)
    }

    /// The run's folder.
    public var folder: URL { get throws { try owner.path(name.text) } }

    /// Where a kept checkpoint of candidate `id` goes.
    public func checkpoint(candidate id: Int64) throws -> URL { try owner.path(name.text, "\(id).safetensors") }

    /// Where candidate `id` waits after rung `rung` under successive halving.
    public func rungState(candidate id: Int64, rung: Int) throws -> URL { try owner.path(name.text, "rungs", "\(id)-r\(rung).safetensors") }

    /// Creates the folder that holds `file` (checked to be inside the run's folder).
    public func prepareFolder(for file: URL) throws {
        try owner.check(file)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
    }

    /// Removes `file` when it is there (checked first); a file that is there and cannot be removed is an error.
    public func remove(_ file: URL) throws {
        try owner.check(file)
        guard FileManager.default.fileExists(atPath: file.path) else { return }
        try FileManager.default.removeItem(at: file)
    }

    /// Removes the rung-state folder, then the run's folder, each only when empty.
    public func removeEmptyFolders() throws {
        let runFolder = try folder
        for directory in [runFolder.appendingPathComponent("rungs"), runFolder] {
            try owner.check(directory)
            if (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.isEmpty == true {
                try FileManager.default.removeItem(at: directory)
            }
        }
    }
}

/// `notebooks-export/`, where `export` and `report` write a run's files when no `--out` is given: one folder per
/// run, named by its checked name and checked to lie inside.
public enum ExportFolder {
    public static let root = "notebooks-export"

    public static func `default`(for run: RunRecord, store: any Store) throws -> String {
        let name = try RunName(stored: run, store: store.location)
        _ = try OwnedFolder(URL(fileURLWithPath: root, isDirectory: true)).path(name.text)
        return "\(root)/\(name.text)"
    }
}
