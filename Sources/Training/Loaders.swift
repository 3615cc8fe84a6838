import CZlib
import Foundation

/// CIFAR-10 / CIFAR-100 binary format: records of [label (CIFAR-100: coarse, fine)] + 3072 bytes
/// (1024 red, 1024 green, 1024 blue, row-major 32x32).
enum CIFARLoader {
    static func load(directory: String, hundred: Bool) throws -> Dataset {
        let trainFiles = hundred ? ["train.bin"] : (1...5).map { "data_batch_\($0).bin" }
        let testFile = hundred ? "test.bin" : "test_batch.bin"
        try requireDirectory(directory)
        var pixels: [UInt8] = [], labels: [Int] = []
        for file in trainFiles {
            let part = try read(path(directory, file), hundred: hundred)
            pixels += part.pixels
            labels += part.labels
        }
        let train = ImageSet(pixels: pixels, labels: labels, height: 32, width: 32, channels: 3)
        let test = try read(path(directory, testFile), hundred: hundred)
        let (mean, std) = channelStatistics(train)
        return Dataset(name: hundred ? "cifar100" : "cifar10", classes: hundred ? 100 : 10, train: train,
                       validation: ImageSet.empty(height: 32, width: 32, channels: 3), test: test,
                       mean: mean, std: std, allowsFlip: true)
    }

    static func read(_ file: String, hundred: Bool) throws -> ImageSet {
        let data = try readFile(file)
        let header = hundred ? 2 : 1
        let record = header + 3072
        guard !data.isEmpty, data.count % record == 0 else {
            throw DatasetError(source: file, message: "\(data.count) bytes is not a whole number of \(record)-byte CIFAR\(hundred ? "-100" : "-10") records (truncated or not a CIFAR binary file)")
        }
        let count = data.count / record
        let classes = hundred ? 100 : 10
        var pixels = [UInt8](repeating: 0, count: count * 3072)
        var labels = [Int](repeating: 0, count: count)
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            for image in 0..<count {
                let base = image * record
                let label = Int(bytes[base + header - 1])  // CIFAR-100: the fine label
                guard label < classes else {
                    throw DatasetError(source: file, message: "record \(image) has label \(label); expected 0..<\(classes)")
                }
                labels[image] = label
                for c in 0..<3 {
                    for p in 0..<1024 { pixels[image * 3072 + p * 3 + c] = bytes[base + header + c * 1024 + p] }
                }
            }
        }
        return ImageSet(pixels: pixels, labels: labels, height: 32, width: 32, channels: 3)
    }
}

/// MNIST / Fashion-MNIST IDX files, plain or gzip-compressed: `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (with or without `.gz`).
enum MNISTLoader {
    static func load(directory: String) throws -> Dataset {
        try requireDirectory(directory)
        let train = try pair(directory, "train")
        let test = try pair(directory, "t10k")
        let (mean, std) = channelStatistics(train)
        return Dataset(name: "mnist", classes: 10, train: train,
                       validation: ImageSet.empty(height: train.height, width: train.width, channels: 1),
                       test: test, mean: mean, std: std, allowsFlip: false)
    }

    static func pair(_ directory: String, _ prefix: String) throws -> ImageSet {
        let imagesFile = try find(directory, "\(prefix)-images-idx3-ubyte")
        let labelsFile = try find(directory, "\(prefix)-labels-idx1-ubyte")
        let (dims, images) = try readIDX(imagesFile, magic: 0x0000_0803, dimensions: 3)
        let (labelDims, labelBytes) = try readIDX(labelsFile, magic: 0x0000_0801, dimensions: 1)
        guard dims[0] == labelDims[0] else {
            throw DatasetError(source: labelsFile, message: "\(labelDims[0]) labels for \(dims[0]) images in \(imagesFile)")
        }
        var labels: [Int] = []
        labels.reserveCapacity(labelBytes.count)
        for (index, byte) in labelBytes.enumerated() {
            guard byte < 10 else { throw DatasetError(source: labelsFile, message: "label \(index) is \(byte); expected 0..<10") }
            labels.append(Int(byte))
        }
        return ImageSet(pixels: images, labels: labels, height: dims[1], width: dims[2], channels: 1)
    }

    static func find(_ directory: String, _ name: String) throws -> String {
        for candidate in [name, name + ".gz"] {
            let full = path(directory, candidate)
            if FileManager.default.fileExists(atPath: full) { return full }
        }
        throw DatasetError(source: path(directory, name), message: "no such file (nor \(name).gz)")
    }

    /// An IDX file: big-endian magic (0x0000 08 NN for unsigned bytes with NN dimensions), dimensions, data.
    static func readIDX(_ file: String, magic: UInt32, dimensions: Int) throws -> ([Int], [UInt8]) {
        var data = try readFile(file)
        if data.starts(with: [0x1F, 0x8B]) { data = try gunzip(data, file: file) }
        guard data.count >= 4 + 4 * dimensions else { throw DatasetError(source: file, message: "truncated: \(data.count) bytes, shorter than the IDX header") }
        let bytes = [UInt8](data)
        func word(_ offset: Int) -> UInt32 {
            UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
        }
        guard word(0) == magic else {
            throw DatasetError(source: file, message: String(format: "wrong magic number 0x%08x; expected 0x%08x (IDX unsigned bytes, %d dimensions)", word(0), magic, dimensions))
        }
        let dims = (0..<dimensions).map { Int(word(4 + 4 * $0)) }
        let expected = dims.reduce(1, *)
        let start = 4 + 4 * dimensions
        guard bytes.count - start == expected else {
            throw DatasetError(source: file, message: "truncated or padded: the header says \(dims) = \(expected) bytes of data, the file has \(bytes.count - start)")
        }
        return (dims, Array(bytes[start...]))
    }

    static func gunzip(_ data: Data, file: String) throws -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError(source: file, message: "cannot start zlib")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: UInt8.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                try chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        throw DatasetError(source: file, message: "corrupt or truncated gzip data (zlib status \(status))")
                    }
                    output.append(buffer.baseAddress!, count: buffer.count - Int(stream.avail_out))
                }
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END else { throw DatasetError(source: file, message: "truncated gzip data") }
        return output
    }
}

func path(_ directory: String, _ file: String) -> String {
    URL(fileURLWithPath: directory).appendingPathComponent(file).path
}

func requireDirectory(_ directory: String) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw DatasetError(source: directory, message: "no such directory")
    }
}

func readFile(_ file: String) throws -> Data {
    guard FileManager.default.fileExists(atPath: file) else { throw DatasetError(source: file, message: "no such file") }
    do { return try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
        throw DatasetError(source: file, message: "cannot read: \(error.localizedDescription)")
    }
}
