import Architecture
import Foundation

/// A bad checkpoint or tensor file: it names the file and, where it applies, the tensor.
public struct CheckpointError: UserInputError {
    public var file: String
    public var message: String
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}

/// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to its dtype, shape and byte range, an optional `__metadata__` of strings, then the data.
public enum Safetensors {
    public struct Entry {
        public var dtype: String
        public var shape: [Int]
        public var bytes: Data

        public init(dtype: String, shape: [Int], bytes: Data) {
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// A float32 tensor.
        public init(shape: [Int], floats: UnsafePointer<Float>, count: Int) {
            self.init(dtype: "F32", shape: shape, bytes: Data(bytes: floats, count: count * 4))
        }

        public var floats: [Float] {
            bytes.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
        }
    }

    public static let dtypeSizes: [String: Int] = ["F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    /// Writes tensors (in the given order) and metadata to `url` through a temporary file and a rename, so
    /// a crash never leaves a half-written checkpoint.
    public static func write(_ tensors: [(String, Entry)], metadata: [String: String], to url: URL) throws {
        var header = "{"
        var offset = 0
        var first = true
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(quote($0.key)):\(quote($0.value))" }
            header += "\"__metadata__\":{" + pairs.joined(separator: ",") + "}"
            first = false
        }
        for (name, entry) in tensors {
            if !first { header += "," }
            first = false
            let shape = entry.shape.map(String.init).joined(separator: ",")
            header += "\(quote(name)):{\"dtype\":\"\(entry.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}"
            offset += entry.bytes.count
        }
        header += "}"
        // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
        while header.utf8.count % 8 != 0 { header += " " }
        var file = Data()
        var length = UInt64(header.utf8.count).littleEndian
        file.append(Data(bytes: &length, count: 8))
        file.append(Data(header.utf8))
        for (_, entry) in tensors { file.append(entry.bytes) }
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try file.write(to: temporary)
            // rename(2) replaces the target atomically.
            guard rename(temporary.path, url.path) == 0 else {
                throw CheckpointError(file: url.path, message: "cannot rename the temporary file into place: \(String(cString: strerror(errno)))")
            }
        } catch let error as CheckpointError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw CheckpointError(file: url.path, message: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Reads every tensor and the metadata; checks the header, dtypes and byte ranges.
    public static func read(_ url: URL) throws -> (tensors: [String: Entry], metadata: [String: String]) {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError(file: path, message: "no such file") }
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw CheckpointError(file: path, message: "cannot read: \(error.localizedDescription)") }
        guard data.count >= 8 else { throw CheckpointError(file: path, message: "not a safetensors file: \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw CheckpointError(file: path, message: "not a safetensors file (or truncated): header length \(headerLength) but only \(data.count - 8) bytes follow")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw CheckpointError(file: path, message: "not a safetensors file: the header is not a JSON object")
        }
        let body = 8 + Int(headerLength)
        var tensors: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let pairs = value as? [String: Any] else { throw CheckpointError(file: path, message: "__metadata__ is not an object") }
                for (key, text) in pairs { metadata[key] = text as? String ?? "\(text)" }
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw CheckpointError(file: path, message: "tensor \(name): header entry needs dtype, shape and data_offsets")
            }
            guard let size = dtypeSizes[dtype] else { throw CheckpointError(file: path, message: "tensor \(name): unknown dtype \(dtype)") }
            let expected = shape.reduce(1, *) * size
            guard offsets[0] >= 0, offsets[1] - offsets[0] == expected else {
                throw CheckpointError(file: path, message: "tensor \(name): data_offsets \(offsets) do not hold \(shape) of \(dtype)")
            }
            guard body + offsets[1] <= data.count else {
                throw CheckpointError(file: path, message: "truncated: tensor \(name) ends at byte \(body + offsets[1]) but the file has \(data.count)")
            }
            tensors[name] = Entry(dtype: dtype, shape: shape, bytes: data.subdata(in: (body + offsets[0])..<(body + offsets[1])))
        }
        return (tensors, metadata)
    }

    /// `text` as a JSON string literal (safetensors headers are JSON; the report's data uses it too).
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
