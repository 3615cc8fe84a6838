import Architecture
import Cost
import Foundation

/// A bad line in a `--jsonl` stream.
struct CandidateLineError: UserInputError {
    var source: String
    var line: Int
    var message: String
    var description: String { "\(source), line \(line): \(message)" }
}

/// `efsearch estimate --jsonl`: one JSON object per line in (`arch`, `width`, `depth`, `resolution`, `stem`,
/// `head`, `classes`, and optionally `preset` and `activation`), one estimate per line out, in order.
/// Missing keys take the preset's values, or EfficientNet-B0's without a preset.
struct CandidateStream {
    /// The keys a line may have.
    enum Key: String, CaseIterable {
        case arch, width, depth, resolution, stem, head, classes, preset, activation

        /// The key spelled by `bytes`, compared without making a string of them.
        init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
            for (spelling, key) in Key.spellings where spelling.utf8CodeUnitCount == bytes.count
                && memcmp(spelling.utf8Start, bytes.baseAddress!, bytes.count) == 0 {
                self = key
                return
            }
            return nil
        }

        private static let spellings: [(StaticString, Key)] = [
            ("arch", .arch), ("width", .width), ("depth", .depth), ("resolution", .resolution), ("stem", .stem), ("head", .head),
            ("classes", .classes), ("preset", .preset), ("activation", .activation),
        ]
    }

    var batch: Int
    var machine: MachineProfile
    /// The calibrated latency model, when one applies.
    var predictor: LatencyPredictor?
    /// The last arch string's bytes and its stages: consecutive lines often share an architecture at several scales.
    private var lastArch: (text: [UInt8], stages: [StageSpec])?
    private let defaultSpec = Presets.defaultSpec
    /// One line's fields, and one output line: reused from line to line.
    private var fields: [FlatJSONField] = []
    private var scratch: [UInt8] = []

    init(batch: Int, machine: MachineProfile, predictor: LatencyPredictor? = nil) {
        self.predictor = predictor
        self.batch = batch
        self.machine = machine
    }

    mutating func run(path: String) throws {
        let source = path == "-" ? "standard input" : path
        var output = OutputBuffer()
        var number = 0
        func process(_ line: UnsafeRawBufferPointer) throws {
            number += 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
            do {
                try estimate(line, appendingTo: &output)
            } catch let error as CandidateLineError {
                output.flush()
                throw CandidateLineError(source: source, line: number, message: error.message)
            } catch {
                output.flush()
                throw CandidateLineError(source: source, line: number, message: "\(error)")
            }
        }
        if path == "-" {
            while let line = readLine(strippingNewline: true) {
                var line = line
                try line.withUTF8 { try process(UnsafeRawBufferPointer($0)) }
            }
        } else {
            guard FileManager.default.fileExists(atPath: path) else {
                throw CandidateLineError(source: path, line: 0, message: "no such file; expected a file of JSON lines or '-' for standard input")
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                guard let base = bytes.baseAddress else { return }
                var start = 0
                while start < bytes.count {
                    let newline = memchr(base + start, 0x0A, bytes.count - start)
                    let end = newline.map { UnsafeRawPointer($0) - base } ?? bytes.count
                    try process(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                    start = end + 1
                }
            }
        }
        output.flush()
    }

    /// The estimate for one JSON line, as one JSON line.
    mutating func estimate(_ line: UnsafeRawBufferPointer, appendingTo output: inout OutputBuffer) throws {
        if FlatJSON.parse(line, into: &fields) {
            try estimate(line.bindMemory(to: UInt8.self), fields, appendingTo: &output)
        } else {
            // The general reader's fields, laid out in a buffer of their own the way the fast reader gives them.
            var text: [UInt8] = []
            let fields = try CandidateStream.generalFields(of: line, into: &text)
            try text.withUnsafeBufferPointer { try estimate($0, fields, appendingTo: &output) }
        }
    }

    private mutating func estimate(_ bytes: UnsafeBufferPointer<UInt8>, _ fields: [FlatJSONField], appendingTo output: inout OutputBuffer) throws {
        func text(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[range]) }
        func string(_ field: FlatJSONField, _ key: Key) throws -> UnsafeBufferPointer<UInt8> {
            guard case .string(let range) = field.value else {
                throw CandidateLineError(source: "", line: 0, message: "key \"\(key.rawValue)\" has a number; expected a string")
            }
            return text(range)
        }
        func number(_ field: FlatJSONField, _ key: Key) throws -> Double {
            guard case .number(let number) = field.value else {
                throw CandidateLineError(source: "", line: 0, message: "key \"\(key.rawValue)\" has a string; expected a number")
            }
            return number
        }
        func integer(_ field: FlatJSONField, _ key: Key) throws -> Int {
            let double = try number(field, key)
            guard double == double.rounded(), abs(double) < 1e12 else {
                throw CandidateLineError(source: "", line: 0, message: "key \"\(key.rawValue)\" has value \(double); expected a whole number")
            }
            return Int(double)
        }

        func key(_ field: FlatJSONField) throws -> Key {
            guard let key = Key(utf8: text(field.key)) else {
                throw CandidateLineError(source: "", line: 0, message: "unknown key \"\(String(decoding: text(field.key), as: UTF8.self))\"; expected \(Key.allCases.map(\.rawValue).sorted().joined(separator: ", "))")
            }
            return key
        }

        // The preset first: the other keys change its values.
        var spec = defaultSpec
        for field in fields where try key(field) == .preset {
            spec = try Presets.named(String(decoding: try string(field, .preset), as: UTF8.self)).spec
            break
        }
        for field in fields {
            switch try key(field) {
            case .preset: break
            case .arch:
                let arch = try string(field, .arch)
                if let lastArch, lastArch.text.elementsEqual(arch) {
                    spec.stages = lastArch.stages
                } else {
                    spec.stages = try ArchString.parse(utf8: arch)
                    lastArch = (Array(arch), spec.stages)
                }
            case .width: spec.width = try number(field, .width)
            case .depth: spec.depth = try number(field, .depth)
            case .resolution: spec.resolution = try integer(field, .resolution)
            case .stem: spec.stem = try integer(field, .stem)
            case .head: spec.head = try integer(field, .head)
            case .classes: spec.classes = try integer(field, .classes)
            case .activation:
                let name = String(decoding: try string(field, .activation), as: UTF8.self)
                guard let activation = Activation(rawValue: name) else {
                    throw CandidateLineError(source: "", line: 0, message: "key \"activation\" has value \"\(name)\"; expected silu, relu or relu6")
                }
                spec.activation = activation
            }
        }
        let network = try spec.resolve()
        scratch.removeAll(keepingCapacity: true)
        EstimateReport.appendJSON(network, CostModel.summary(of: network, batch: batch, machine: machine, predictor: predictor), to: &scratch)
        output.append(scratch)
    }

    /// The fields of a line the fast reader declined, read with `JSONSerialization` (which also gives the error
    /// messages): keys and string values are written to `text`, and the fields point into it.
    static func generalFields(of line: UnsafeRawBufferPointer, into text: inout [UInt8]) throws -> [FlatJSONField] {
        let excerpt = String(decoding: line.prefix(60), as: UTF8.self)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line))
        } catch {
            throw CandidateLineError(source: "", line: 0, message: "malformed JSON (\(excerpt)); expected one object such as {\"arch\": \"...\", \"width\": 1.1}")
        }
        guard let dictionary = object as? [String: Any] else {
            throw CandidateLineError(source: "", line: 0, message: "expected a JSON object, got \(excerpt)")
        }
        func append(_ string: String) -> Range<Int> {
            let start = text.count
            text.append(contentsOf: string.utf8)
            return start..<text.count
        }
        return try dictionary.sorted { $0.key < $1.key }.map { key, value in
            if let string = value as? String { return FlatJSONField(key: append(key), value: .string(append(string))) }
            if let number = value as? NSNumber, String(cString: number.objCType) != "c" {
                return FlatJSONField(key: append(key), value: .number(number.doubleValue))
            }
            throw CandidateLineError(source: "", line: 0, message: "key \"\(key)\" has value \(value); expected a string or a number")
        }
    }
}

/// Collects output lines and writes them to standard output in large chunks.
struct OutputBuffer {
    private var pending: [UInt8] = []

    mutating func append(_ line: [UInt8]) {
        pending.append(contentsOf: line)
        pending.append(UInt8(ascii: "\n"))
        if pending.count > 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !pending.isEmpty else { return }
        FileHandle.standardOutput.write(Data(pending))
        pending.removeAll(keepingCapacity: true)
    }
}
