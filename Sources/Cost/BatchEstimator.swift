import Architecture
import Foundation

/// A bad line in a `--jsonl` stream.
public struct CandidateLineError: UserInputError {
    public var source: String
    public var line: Int
    public var message: String
    public var description: String { "\(source), line \(line): \(message)" }
}

/// The batch estimator behind `efsearch estimate --jsonl`: one JSON object per line in (`arch`, `width`, `depth`, `resolution`, `stem`,
/// `head`, `classes`, and optionally `preset` and `activation`), one estimate per line out, in order.
/// Missing keys take the preset's values, or EfficientNet-B0's without a preset.
public struct BatchEstimator {
    /// The keys a line may have.
    public enum Key: String, CaseIterable, Sendable {
        case arch, width, depth, resolution, stem, head, classes, preset, activation

        /// The key spelled by `bytes`, compared without making a string of them.
        init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
            guard let key = Key.spellings.first(where: { $0.utf8.count == bytes.count && $0.utf8.elementsEqual(bytes) })?.key else { return nil }
            self = key
        }

        /// Every key with its name's bytes, made once.
        private static let spellings = allCases.map { (utf8: Array($0.rawValue.utf8), key: $0) }
    }

    public var batch: Int
    public var machine: MachineProfile
    /// The calibrated latency model, when one applies.
    public var predictor: LatencyPredictor?
    /// The last arch string's bytes and its stages: consecutive lines often share an architecture at several scales.
    private var lastArch: (text: [UInt8], stages: [StageSpec])?
    private let defaultSpec = Presets.defaultSpec
    /// One line's fields, reused from line to line.
    private var fields: [FlatJSONField] = []

    public init(batch: Int, machine: MachineProfile, predictor: LatencyPredictor? = nil) {
        self.predictor = predictor
        self.batch = batch
        self.machine = machine
    }

    /// Lines a batch of a file holds: each of `jobs` workers takes a contiguous share of it.
    public static let batchLines = 8192

    /// Estimates every line of `path` ('-': standard input) and writes the results to standard output, in the
    /// order of the lines. A file is read whole and each batch of its lines split over `jobs` workers (copies of
    /// this stream); standard input is read line by line, so that results follow a producer as it writes.
    /// At a bad line, the results of the lines before it are written and the error names the line.
    public func run(path: String, jobs: Int = 1, to handle: FileHandle = .standardOutput) throws {
        let source = path == "-" ? "standard input" : path
        var output = OutputBuffer(handle: handle)
        if path == "-" {
            var stream = self
            var number = 0
            while let line = readLine(strippingNewline: true) {
                number += 1
                var line = line
                do {
                    try line.withUTF8 { try stream.estimateLine(UnsafeRawBufferPointer($0), appendingTo: &output.pending) }
                } catch {
                    output.flush()
                    throw BatchEstimator.failure(error, source: source, line: number)
                }
                output.flushIfLarge()
            }
            output.flush()
            return
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw CandidateLineError(source: path, line: 0, message: "no such file; expected a file of JSON lines or '-' for standard input")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let shares = (0..<max(1, jobs)).map { _ in Share(self, source: source) }
        var lines: [Range<Int>] = []
        try data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            guard let base = bytes.baseAddress else { return }
            var start = 0
            var linesBefore = 0
            while start < bytes.count {
                lines.removeAll(keepingCapacity: true)
                while start < bytes.count && lines.count < BatchEstimator.batchLines {
                    let newline = memchr(base + start, 0x0A, bytes.count - start)
                    let end = newline.map { UnsafeRawPointer($0) - base } ?? bytes.count
                    lines.append(start..<end)
                    start = end + 1
                }
                for (worker, share) in shares.enumerated() {
                    let part = lines.count * worker / shares.count ..< lines.count * (worker + 1) / shares.count
                    share.assign(bytes, lines[part], firstLine: linesBefore + part.lowerBound + 1)
                }
                DispatchQueue.concurrentPerform(iterations: shares.count) { worker in shares[worker].estimate() }
                for share in shares {
                    output.pending.append(contentsOf: share.output)
                    if let failure = share.failure {
                        output.flush()
                        throw failure
                    }
                    output.flushIfLarge()
                }
                linesBefore += lines.count
            }
        }
        output.flush()
    }

    /// One worker's part of a batch of lines: its own stream (with its caches), its lines, their results and
    /// the first bad line. A worker touches only its own share while the batch runs, and the caller reads
    /// them after, so shares cross threads without locks.
    private final class Share: @unchecked Sendable {
        private var stream: BatchEstimator
        private let source: String
        private var bytes = UnsafeRawBufferPointer(start: nil, count: 0)
        private var lines: ArraySlice<Range<Int>> = []
        private var firstLine = 0
        private(set) var output: [UInt8] = []
        private(set) var failure: CandidateLineError?

        init(_ stream: BatchEstimator, source: String) {
            self.stream = stream
            self.source = source
        }

        /// The lines (ranges of `bytes`) to estimate next; the first is line `firstLine` of the input.
        func assign(_ bytes: UnsafeRawBufferPointer, _ lines: ArraySlice<Range<Int>>, firstLine: Int) {
            self.bytes = bytes
            self.lines = lines
            self.firstLine = firstLine
            output.removeAll(keepingCapacity: true)
            failure = nil
        }

        /// Estimates the assigned lines in order, up to the first bad one.
        func estimate() {
            for (offset, range) in lines.enumerated() {
                do {
                    try stream.estimateLine(UnsafeRawBufferPointer(rebasing: bytes[range]), appendingTo: &output)
                } catch {
                    failure = BatchEstimator.failure(error, source: source, line: firstLine + offset)
                    return
                }
            }
        }
    }

    /// A line's error, naming the input and the line.
    static func failure(_ error: Error, source: String, line: Int) -> CandidateLineError {
        CandidateLineError(source: source, line: line, message: (error as? CandidateLineError)?.message ?? "\(error)")
    }

    /// Appends the estimate of one JSON line, and a newline, to `output`; a blank line gives nothing.
    public mutating func estimateLine(_ line: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
        try estimate(line, appendingTo: &output)
        output.append(UInt8(ascii: "\n"))
    }

    /// Appends the estimate for one JSON line, as one JSON object, to `output`.
    public mutating func estimate(_ line: UnsafeRawBufferPointer, appendingTo output: inout [UInt8]) throws {
        if FlatJSON.parse(line, into: &fields) {
            try estimate(line.bindMemory(to: UInt8.self), fields, appendingTo: &output)
        } else {
            // The general reader's fields, laid out in a buffer of their own the way the fast reader gives them.
            var text: [UInt8] = []
            let fields = try BatchEstimator.generalFields(of: line, into: &text)
            try text.withUnsafeBufferPointer { try estimate($0, fields, appendingTo: &output) }
        }
    }

    private mutating func estimate(_ bytes: UnsafeBufferPointer<UInt8>, _ fields: [FlatJSONField], appendingTo output: inout [UInt8]) throws {
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
        CostReport.appendJSON(network, CostModel.summary(of: network, batch: batch, machine: machine, predictor: predictor), to: &output)
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

/// Collects output and writes it to a file (standard output) in large chunks.
struct OutputBuffer {
    var handle: FileHandle
    var pending: [UInt8] = []

    mutating func flushIfLarge() {
        if pending.count > 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !pending.isEmpty else { return }
        handle.write(Data(pending))
        pending.removeAll(keepingCapacity: true)
    }
}
