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
    /// Parsed arch strings, since a search asks about the same architecture at many scales.
    private var archCache: [String: [StageSpec]] = [:]

    init(batch: Int, machine: MachineProfile) {
        self.batch = batch
        self.machine = machine
    }

    mutating func run(path: String) throws {
        let source = path == "-" ? "standard input" : path
        var output = OutputBuffer()
        var number = 0
        func process(_ line: Substring) throws {
            number += 1
            if line.allSatisfy(\.isWhitespace) { return }
            do {
                output.append(try estimate(line))
            } catch let error as CandidateLineError {
                output.flush()
                throw CandidateLineError(source: source, line: number, message: error.message)
            } catch {
                output.flush()
                throw CandidateLineError(source: source, line: number, message: "\(error)")
            }
        }
        if path == "-" {
            while let line = readLine(strippingNewline: true) { try process(Substring(line)) }
        } else {
            guard FileManager.default.fileExists(atPath: path) else {
                throw CandidateLineError(source: path, line: 0, message: "no such file; expected a file of JSON lines or '-' for standard input")
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let text = String(decoding: data, as: UTF8.self)
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) { try process(line) }
        }
        output.flush()
    }

    /// The estimate for one JSON line, as one JSON line.
    mutating func estimate(_ line: Substring) throws -> String {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        } catch {
            throw CandidateLineError(source: "", line: 0, message: "malformed JSON (\(line.prefix(60))); expected one object such as {\"arch\": \"...\", \"width\": 1.1}")
        }
        guard let fields = object as? [String: Any] else {
            throw CandidateLineError(source: "", line: 0, message: "expected a JSON object, got \(line.prefix(60))")
        }
        for key in fields.keys where !CandidateStream.keys.contains(key) {
            throw CandidateLineError(source: "", line: 0, message: "unknown key \"\(key)\"; expected \(CandidateStream.keys.sorted().joined(separator: ", "))")
        }
        var spec = try (fields["preset"].map { try Presets.named(try string($0, "preset")).spec }) ?? Presets.defaultSpec
        if let arch = fields["arch"] {
            let text = try string(arch, "arch")
            if let cached = archCache[text] {
                spec.stages = cached
            } else {
                spec.stages = try ArchString.parse(text)
                if archCache.count > 100_000 { archCache.removeAll(keepingCapacity: true) }
                archCache[text] = spec.stages
            }
        }
        if let value = fields["width"] { spec.width = try number(value, "width") }
        if let value = fields["depth"] { spec.depth = try number(value, "depth") }
        if let value = fields["resolution"] { spec.resolution = try integer(value, "resolution") }
        if let value = fields["stem"] { spec.stem = try integer(value, "stem") }
        if let value = fields["head"] { spec.head = try integer(value, "head") }
        if let value = fields["classes"] { spec.classes = try integer(value, "classes") }
        if let value = fields["activation"] {
            let name = try string(value, "activation")
            guard let activation = Activation(rawValue: name) else {
                throw CandidateLineError(source: "", line: 0, message: "key \"activation\" has value \"\(name)\"; expected silu, relu or relu6")
            }
            spec.activation = activation
        }
        let network = try spec.resolve()
        return EstimateReport.json(network, CostModel.summary(of: network, batch: batch, machine: machine))
    }

    private func string(_ value: Any, _ key: String) throws -> String {
        guard let text = value as? String else {
            throw CandidateLineError(source: "", line: 0, message: "key \"\(key)\" has value \(value); expected a string")
        }
        return text
    }

    private func number(_ value: Any, _ key: String) throws -> Double {
        guard let number = value as? NSNumber else {
            throw CandidateLineError(source: "", line: 0, message: "key \"\(key)\" has value \(value); expected a number")
        }
        return number.doubleValue
    }

    private func integer(_ value: Any, _ key: String) throws -> Int {
        let double = try number(value, key)
        guard double == double.rounded(), abs(double) < 1e12 else {
            throw CandidateLineError(source: "", line: 0, message: "key \"\(key)\" has value \(value); expected a whole number")
        }
        return Int(double)
    }
}

/// Collects output lines and writes them to standard output in large chunks.
struct OutputBuffer {
    private var pending = ""

    mutating func append(_ line: String) {
        pending += line
        pending += "\n"
        if pending.utf8.count > 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !pending.isEmpty else { return }
        FileHandle.standardOutput.write(Data(pending.utf8))
        pending.removeAll(keepingCapacity: true)
    }
}
