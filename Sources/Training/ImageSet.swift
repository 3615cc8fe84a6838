import Foundation

/// Read-only image bytes: copied from an array, or mapped from a cache file (`mmap`, so that a search's
/// candidates share the decoded images through the page cache instead of each holding a copy).
public final class PixelStorage: @unchecked Sendable {
    public let base: UnsafePointer<UInt8>
    public let count: Int
    private let release: () -> Void

    public init(_ bytes: [UInt8]) {
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, bytes.count))
        bytes.withUnsafeBufferPointer { source in
            if let address = source.baseAddress { buffer.update(from: address, count: bytes.count) }
        }
        base = UnsafePointer(buffer)
        count = bytes.count
        release = { buffer.deallocate() }
    }

    /// Maps `length` bytes of `file` from `offset` (a multiple of the page size).
    public init(mapping file: String, offset: Int, length: Int) throws {
        let descriptor = open(file, O_RDONLY)
        guard descriptor >= 0 else { throw DatasetError(source: file, message: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let mapped = mmap(nil, max(1, length), PROT_READ, MAP_PRIVATE, descriptor, off_t(offset))
        guard let mapped, mapped != MAP_FAILED else {
            throw DatasetError(source: file, message: "cannot map \(length) bytes: \(String(cString: strerror(errno)))")
        }
        base = UnsafePointer(mapped.assumingMemoryBound(to: UInt8.self))
        count = length
        release = { munmap(mapped, max(1, length)) }
    }

    deinit { release() }
}

/// Images as bytes, `[height, width, channels]` each (1 or 3 channels), with integer labels. Subsets share
/// the storage and only list which stored images they hold.
public struct ImageSet: Sendable {
    public let storage: PixelStorage
    /// Where each image starts in `storage`, in bytes.
    public var offsets: [Int]
    public var labels: [Int]
    public let height: Int, width: Int, channels: Int

    /// `pixels` holds `labels.count` images, one after the other.
    public init(pixels: [UInt8], labels: [Int], height: Int, width: Int, channels: Int) {
        let size = height * width * channels
        precondition(pixels.count == labels.count * size, "pixels do not match \(labels.count) images")
        self.init(storage: PixelStorage(pixels), offsets: labels.indices.map { $0 * size }, labels: labels,
                  height: height, width: width, channels: channels)
    }

    public init(storage: PixelStorage, offsets: [Int], labels: [Int], height: Int, width: Int, channels: Int) {
        precondition(offsets.count == labels.count, "\(offsets.count) offsets for \(labels.count) labels")
        precondition(offsets.allSatisfy { $0 >= 0 && $0 + height * width * channels <= storage.count }, "an image lies outside its storage")
        self.storage = storage
        self.offsets = offsets
        self.labels = labels
        self.height = height
        self.width = width
        self.channels = channels
    }

    /// No images, of the given shape.
    public static func empty(height: Int, width: Int, channels: Int) -> ImageSet {
        ImageSet(pixels: [], labels: [], height: height, width: width, channels: channels)
    }

    public var count: Int { labels.count }
    public var imageSize: Int { height * width * channels }

    /// The bytes of image `index`.
    public func image(_ index: Int) -> UnsafePointer<UInt8> { storage.base + offsets[index] }

    /// All images' bytes, in order (a copy).
    public var pixels: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count * imageSize)
        for index in 0..<count { out.append(contentsOf: UnsafeBufferPointer(start: image(index), count: imageSize)) }
        return out
    }

    /// The images at `indices`, in that order (sharing the storage).
    public func subset(_ indices: [Int]) -> ImageSet {
        ImageSet(storage: storage, offsets: indices.map { offsets[$0] }, labels: indices.map { labels[$0] },
                 height: height, width: width, channels: channels)
    }
}
