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
    static let keys: Set<String> = ["arch", "width", "depth", "resolution", "stem", "head", "classes", "preset", "activation"]

    var batch: Int
    var machine: MachineProfile
    /// The calibrated latency model, when one applies.
    var predictor: LatencyPredictor?
    /// The last arch string and its stages: consecutive lines often share an architecture at several scales.
    private var lastArch: (text: String, stages: [StageSpec])?
    private let defaultSpec = Presets.defaultSpec
    /// One output line, reused.
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
        var spec = defaultSpec
        let fields = try CandidateStream.fields(of: line)
        if let preset = fields.first(where: { $0.key == "preset" }) {
            spec = try Presets.named(try string(preset.value, "preset")).spec
        }
        for (key, value) in fields {
            switch key {
            case "preset": break
            case "arch":
                let text = try string(value, "arch")
                if let lastArch, lastArch.text == text {
                    spec.stages = lastArch.stages
                } else {
                    spec.stages = try ArchString.parse(text)
                    lastArch = (text, spec.stages)
                }
            case "width": spec.width = try number(value, "width")
            case "depth": spec.depth = try number(value, "depth")
            case "resolution": spec.resolution = try integer(value, "resolution")
            case "stem": spec.stem = try integer(value, "stem")
            case "head": spec.head = try integer(value, "head")
            case "classes": spec.classes = try integer(value, "classes")
            case "activation":
                let name = try string(value, "activation")
                guard let activation = Activation(rawValue: name) else {
                    throw CandidateLineError(source: "", line: 0, message: "key \"activation\" has value \"\(name)\"; expected silu, relu or relu6")
                }
                spec.activation = activation
            default:
                throw CandidateLineError(source: "", line: 0, message: "unknown key \"\(key)\"; expected \(CandidateStream.keys.sorted().joined(separator: ", "))")
            }
        }
        let network = try spec.resolve()
        scratch.removeAll(keepingCapacity: true)
        EstimateReport.appendJSON(network, CostModel.summary(of: network, batch: batch, machine: machine, predictor: predictor), to: &scratch)
        output.append(scratch)
    }

    /// The key-value pairs of one line: the fast reader for plain flat objects, `JSONSerialization` for
    /// everything else (and for its error messages).
    static func fields(of line: UnsafeRawBufferPointer) throws -> [(key: String, value: FlatJSONValue)] {
        if let fields = FlatJSON.parse(line) { return fields }
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
        return try dictionary.sorted { $0.key < $1.key }.map { key, value in
            if let text = value as? String { return (key, .string(text)) }
            if let number = value as? NSNumber, String(cString: number.objCType) != "c" { return (key, .number(number.doubleValue)) }
            throw CandidateLineError(source: "", line: 0, message: "key \"\(key)\" has value \(value); expected a string or a number")
        }
    }

    private func string(_ value: FlatJSONValue, _ key: String) throws -> String {
        guard case .string(let text) = value else {
            throw CandidateLineError(source: "", line: 0, message: "key \"\(key)\" has a number; expected a string")
        }
        return text
    }

    private func number(_ value: FlatJSONValue, _ key: String) throws -> Double {
        guard case .number(let number) = value else {
            throw CandidateLineError(source: "", line: 0, message: "key \"\(key)\" has a string; expected a number")
        }
        return number
    }

    private func integer(_ value: FlatJSONValue, _ key: String) throws -> Int {
        let double = try number(value, key)
        guard double == double.rounded(), abs(double) < 1e12 else {
            throw CandidateLineError(source: "", line: 0, message: "key \"\(key)\" has value \(double); expected a whole number")
        }
        return Int(double)
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
