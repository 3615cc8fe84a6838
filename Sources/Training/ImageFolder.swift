import Engine
import Foundation
import Statistics

/// Hears how far the first decoding of an image folder has got (called from worker threads, serialised).
public protocol ImageDecodingListener: AnyObject {
    func decoded(_ done: Int, of total: Int)
}

/// An image skipped by `--skip-bad-images`, with the decoder's reason.
public struct SkippedImage: Codable, Sendable, Equatable {
    public var file: String
    public var reason: String
}

/// torchvision's `ImageFolder` layout: `DIR/train/<class>/**/*.{jpg,jpeg,png}`, optional `DIR/val/<class>/...`
/// and `DIR/test/<class>/...`. Class names are the sub-folders of `train`, sorted by code point as Python's
/// `sorted` does; files are found recursively, sorted the same way.
///
/// The first load decodes every image (all cores), turns it upright, resizes its shorter side to `size` with
/// PIL's antialiased filter, keeps the centred `size x size` square, and writes the squares to one cache file
/// keyed by the files' paths, sizes and modification times and `size`; later loads map that file.
enum ImageFolderLoader {
    struct Entry {
        var relative: String
        var label: Int
        var bytes: Int
        var modified: Int64
    }

    struct Scan {
        var classes: [String]
        var splits: [(name: String, entries: [Entry])]
        var ignored: Int
    }

    static func scan(_ root: String) throws -> Scan {
        try requireDirectory(root)
        let trainRoot = path(root, "train")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: trainRoot, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError(source: trainRoot, message: "no such folder; expected DIR/train/<class>/<images> (and optionally DIR/val, DIR/test)")
        }
        let classes = try subfolders(trainRoot)
        guard !classes.isEmpty else { throw DatasetError(source: trainRoot, message: "no class folders; expected DIR/train/<class>/<images>") }
        var splits: [(String, [Entry])] = []
        var ignored = 0
        for split in ["train", "val", "test"] {
            let splitRoot = path(root, split)
            guard FileManager.default.fileExists(atPath: splitRoot, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            let present = try subfolders(splitRoot)
            if let stranger = present.first(where: { !classes.contains($0) }) {
                throw DatasetError(source: path(splitRoot, stranger), message: "class \"\(stranger)\" is not among train's \(classes.count) classes")
            }
            var entries: [Entry] = []
            for (label, name) in classes.enumerated() where split == "train" || present.contains(name) {
                let folder = path(splitRoot, name)
                let (files, others) = try imageFiles(folder)
                ignored += others
                if files.isEmpty && split == "train" {
                    throw DatasetError(source: folder, message: "no .jpg, .jpeg or .png images in this class folder")
                }
                for file in files {
                    let full = path(folder, file)
                    let attributes = try? FileManager.default.attributesOfItem(atPath: full)
                    let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
                    entries.append(Entry(relative: "\(split)/\(name)/\(file)", label: label,
                                         bytes: (attributes?[.size] as? NSNumber)?.intValue ?? -1,
                                         modified: Int64((modified * 1e9).rounded())))
                }
            }
            splits.append((split, entries))
        }
        return Scan(classes: classes, splits: splits, ignored: ignored)
    }

    static func sortedByCodePoint(_ names: [String]) -> [String] {
        names.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
    }

    static func subfolders(_ folder: String) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw DatasetError(source: folder, message: "cannot list the folder: \(error.localizedDescription)")
        }
        return sortedByCodePoint(names.filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path(folder, name), isDirectory: &isDirectory) && isDirectory.boolValue
        })
    }

    /// Image files under `folder` (recursive, following links), as paths relative to it, sorted; and how many
    /// other files were passed over.
    static func imageFiles(_ folder: String) throws -> ([String], Int) {
        var found: [String] = [], others = 0
        func walk(_ relative: String) throws {
            let full = relative.isEmpty ? folder : path(folder, relative)
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: full) } catch {
                throw DatasetError(source: full, message: "cannot list the folder: \(error.localizedDescription)")
            }
            for name in sortedByCodePoint(names) {
                let child = relative.isEmpty ? name : relative + "/" + name
                var isDirectory: ObjCBool = false
                FileManager.default.fileExists(atPath: path(folder, child), isDirectory: &isDirectory)
                if isDirectory.boolValue {
                    try walk(child)
                } else if ImageDecoder.extensions.contains((name as NSString).pathExtension.lowercased()) {
                    found.append(child)
                } else {
                    others += 1
                }
            }
        }
        try walk("")
        return (found, others)
    }

    // MARK: The cache

    static let magic: [UInt8] = Array("EFSIMG01".utf8)
    static let page = 4096

    struct CacheHeader: Codable {
        struct Split: Codable {
            var name: String
            var files: [String]
            var labels: [Int]
            var skipped: [SkippedImage]
        }
        var size: Int
        var classes: [String]
        var splits: [Split]
    }

    /// The cache file for this folder's current contents at `size`.
    static func cacheFile(root: String, scan: Scan, size: Int, directory: URL) -> URL {
        var hasher = SHA256()
        hasher.update(data: Data("efsearch image cache 1\nsize \(size)\nroot \(URL(fileURLWithPath: root).standardizedFileURL.path)\n".utf8))
        for (_, entries) in scan.splits {
            for entry in entries { hasher.update(data: Data("\(entry.relative)\t\(entry.bytes)\t\(entry.modified)\t\(entry.label)\n".utf8)) }
        }
        let key = hasher.finalize().prefix(8).map { String(format: "%02x", $0) }.joined()
        let name = URL(fileURLWithPath: root).standardizedFileURL.lastPathComponent.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
        return directory.appendingPathComponent("images").appendingPathComponent("\(name.isEmpty ? "folder" : name)-\(size)px-\(key).bin")
    }

    struct Loaded {
        var header: CacheHeader
        var storage: PixelStorage
        var built: Bool
    }

    /// Maps the cache, decoding the folder into it first when it is missing or unreadable.
    static func load(root: String, size: Int, cacheDirectory: URL, skipBadImages: Bool, listener: ImageDecodingListener?) throws -> (Scan, Loaded) {
        let scan = try scan(root)
        let file = cacheFile(root: root, scan: scan, size: size, directory: cacheDirectory)
        var built = false
        var cached = try? readHeader(file.path)
        if cached == nil {
            try build(root: root, scan: scan, size: size, file: file, skipBadImages: skipBadImages, listener: listener)
            built = true
            cached = try readHeader(file.path)
        }
        let (header, dataOffset, dataLength) = cached!
        let skipped = header.splits.flatMap(\.skipped)
        if let first = skipped.first, !skipBadImages {
            throw DatasetError(source: path(root, first.file), message: "\(first.reason) (\(skipped.count) bad image\(skipped.count == 1 ? "" : "s") in the folder; --skip-bad-images leaves them out)")
        }
        let storage = try PixelStorage(mapping: file.path, offset: dataOffset, length: dataLength)
        return (scan, Loaded(header: header, storage: storage, built: built))
    }

    /// `magic`, then the header's offset and length (little-endian UInt64), pixels from the first page on,
    /// the JSON header after them.
    static func readHeader(_ file: String) throws -> (CacheHeader, Int, Int) {
        guard let handle = FileHandle(forReadingAtPath: file) else { throw DatasetError(source: file, message: "no cache") }
        defer { try? handle.close() }
        let start = try handle.read(upToCount: 24) ?? Data()
        guard start.count == 24, Array(start.prefix(8)) == magic else { throw DatasetError(source: file, message: "not an image cache") }
        let offset = Int(start[8..<16].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let length = Int(start[16..<24].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        try handle.seek(toOffset: UInt64(offset))
        let json = try handle.read(upToCount: length) ?? Data()
        let header = try JSONDecoder().decode(CacheHeader.self, from: json)
        let images = header.splits.reduce(0) { $0 + $1.labels.count }
        guard offset - page == images * header.size * header.size * 3 else { throw DatasetError(source: file, message: "cache size mismatch") }
        return (header, page, offset - page)
    }

    static func build(root: String, scan: Scan, size: Int, file: URL, skipBadImages: Bool, listener: ImageDecodingListener?) throws {
        let folder = file.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw DatasetError(source: folder.path, message: "cannot create the image cache folder: \(error.localizedDescription)")
        }
        let temporary = folder.appendingPathComponent(".\(file.lastPathComponent).\(getpid()).partial")
        guard FileManager.default.createFile(atPath: temporary.path, contents: Data(repeating: 0, count: page)),
              let handle = FileHandle(forWritingAtPath: temporary.path) else {
            throw DatasetError(source: temporary.path, message: "cannot write the image cache")
        }
        var finished = false
        defer {
            try? handle.close()
            if !finished { try? FileManager.default.removeItem(at: temporary) }
        }
        try handle.seek(toOffset: UInt64(page))
        let imageBytes = size * size * 3
        let total = scan.splits.reduce(0) { $0 + $1.entries.count }
        let progress = DecodeProgress(total: total, listener: listener)
        var header = CacheHeader(size: size, classes: scan.classes, splits: [])
        for (name, entries) in scan.splits {
            var split = CacheHeader.Split(name: name, files: [], labels: [], skipped: [])
            // Batches of images decoded on all the engine's threads, written in file order.
            let batch = 64 * Parallel.threads
            var start = 0
            while start < entries.count {
                let part = Array(entries[start..<min(entries.count, start + batch)])
                var pixels = [UInt8](repeating: 0, count: part.count * imageBytes)
                var failures = [String?](repeating: nil, count: part.count)
                pixels.withUnsafeMutableBufferPointer { buffer in
                    let base = buffer.baseAddress!
                    failures.withUnsafeMutableBufferPointer { failed in
                        let failedBase = failed.baseAddress!
                        Parallel.forEachChunk(part.count) { range in
                            for index in range {
                                do {
                                    let image = try ImageDecoder.decode(file: path(root, part[index].relative))
                                    let box = Resampler.resizeThenCentreCrop(height: image.height, width: image.width, size: size, crop: size)
                                    image.pixels.withUnsafeBufferPointer { source in
                                        Resampler.resampleBytes(source.baseAddress!, height: image.height, width: image.width, channels: 3, box: box,
                                                                to: base + index * imageBytes, height: size, width: size, filter: .bilinear)
                                    }
                                } catch {
                                    failedBase[index] = (error as? DatasetError)?.message ?? "\(error)"
                                }
                                progress.advance()
                            }
                        }
                    }
                }
                for (index, entry) in part.enumerated() {
                    if let reason = failures[index] {
                        guard skipBadImages else {
                            throw DatasetError(source: path(root, entry.relative), message: "\(reason) (--skip-bad-images leaves bad images out)")
                        }
                        split.skipped.append(SkippedImage(file: entry.relative, reason: reason))
                        continue
                    }
                    try handle.write(contentsOf: pixels[(index * imageBytes)..<((index + 1) * imageBytes)])
                    split.files.append(entry.relative)
                    split.labels.append(entry.label)
                }
                start += batch
            }
            header.splits.append(split)
        }
        let offset = try handle.offset()
        let json = try JSONEncoder().encode(header)
        try handle.write(contentsOf: json)
        try handle.seek(toOffset: 0)
        var prefix = Data(magic)
        withUnsafeBytes(of: offset.littleEndian) { prefix.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { prefix.append(contentsOf: $0) }
        try handle.write(contentsOf: prefix)
        try handle.synchronize()
        try handle.close()
        // A killed run leaves at most a .partial file, never a half-written cache under the real name.
        if FileManager.default.fileExists(atPath: file.path) { try? FileManager.default.removeItem(at: file) }
        try FileManager.default.moveItem(at: temporary, to: file)
        finished = true
    }

    /// The dataset: train, validation (`DIR/val`, or none: then `DatasetSpec.load` holds it out of train) and
    /// test (`DIR/test`, or empty).
    static func dataset(root: String, size: Int, cacheDirectory: URL, skipBadImages: Bool, listener: ImageDecodingListener?) throws -> Dataset {
        let (scan, loaded) = try load(root: root, size: size, cacheDirectory: cacheDirectory, skipBadImages: skipBadImages, listener: listener)
        let imageBytes = size * size * 3
        var sets: [String: ImageSet] = [:]
        var next = 0
        for split in loaded.header.splits {
            let offsets = split.labels.indices.map { (next + $0) * imageBytes }
            next += split.labels.count
            sets[split.name] = ImageSet(storage: loaded.storage, offsets: offsets, labels: split.labels, height: size, width: size, channels: 3)
        }
        let empty = ImageSet.empty(height: size, width: size, channels: 3)
        var dataset = Dataset(
            name: URL(fileURLWithPath: root).standardizedFileURL.lastPathComponent, classes: scan.classes.count,
            train: sets["train"] ?? empty, validation: sets["val"] ?? empty, test: sets["test"] ?? empty,
            mean: ImageNetStatistics.mean, std: ImageNetStatistics.std, allowsFlip: true)
        dataset.classNames = scan.classes
        dataset.style = .centerCrop
        dataset.skipped = loaded.header.splits.flatMap(\.skipped)
        dataset.ignoredFiles = scan.ignored
        dataset.decodedNow = loaded.built
        dataset.hasOwnValidation = sets["val"] != nil
        return dataset
    }
}

/// Counts decoded images across threads and tells the listener, one call at a time.
final class DecodeProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var done = 0
    let total: Int
    weak var listener: ImageDecodingListener?

    init(total: Int, listener: ImageDecodingListener?) {
        self.total = total
        self.listener = listener
    }

    func advance() {
        lock.lock()
        defer { lock.unlock() }
        done += 1
        listener?.decoded(done, of: total)
    }
}

/// The ImageNet channel statistics that pretrained networks and timm's defaults use.
public enum ImageNetStatistics {
    public static let mean: [Float] = [0.485, 0.456, 0.406]
    public static let std: [Float] = [0.229, 0.224, 0.225]
}
