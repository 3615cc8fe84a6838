import Architecture
import Statistics
import Foundation
import Yams

/// A bad search-space file: names the file and the field.
public struct SearchSpaceError: UserInputError {
    public var file: String
    public var field: String
    public var message: String
    public init(file: String, field: String, message: String) {
        self.file = file
        self.field = field
        self.message = message
    }
    public var description: String { "\(file): \(field): \(message)" }
}

/// One axis of a search space: a named list of choices.
public struct Dimension: Sendable, Hashable {
    public var name: String
    public var count: Int

    public init(name: String, count: Int) {
        self.name = name
        self.count = count
    }
}

/// The choices for one stage of the base network (MnasNet-style); nil means "as the base has it".
public struct StageChoices: Sendable, Hashable {
    public var type: [BlockType]?
    public var kernel: [Int]?
    public var expansion: [Double]?
    public var se: [Double]?
    public var skip: [Bool]?
    /// Factors on the stage's output channels.
    public var channels: [Double]?
    /// Deltas on the stage's repeats (the result is at least 1).
    public var repeats: [Int]?

    public init() {}
}

/// A genotype: one choice index per dimension, in `SearchSpace.dimensions` order.
public typealias Genotype = [Int]

/// A search space: a base network, per-stage choices, global choices and constraints.
public struct SearchSpace: Sendable {
    public var name: String
    public var base: NetworkSpec
    public var stages: [StageChoices]
    public var resolution: [Int]
    public var width: [Double]
    public var depth: [Double]
    public var constraints: [Constraint]

    public init(name: String, base: NetworkSpec, stages: [StageChoices], resolution: [Int], width: [Double], depth: [Double], constraints: [Constraint]) {
        self.name = name
        self.base = base
        self.stages = stages
        self.resolution = resolution
        self.width = width
        self.depth = depth
        self.constraints = constraints
    }

    /// Every axis with its number of choices, stage by stage, then resolution, width, depth.
    public var dimensions: [Dimension] {
        var result: [Dimension] = []
        for (index, stage) in stages.enumerated() {
            func add(_ name: String, _ count: Int?) { if let count { result.append(Dimension(name: "stage\(index + 1).\(name)", count: count)) } }
            add("type", stage.type?.count)
            add("kernel", stage.kernel?.count)
            add("expansion", stage.expansion?.count)
            add("se", stage.se?.count)
            add("skip", stage.skip?.count)
            add("channels", stage.channels?.count)
            add("repeats", stage.repeats?.count)
        }
        result.append(Dimension(name: "resolution", count: resolution.count))
        result.append(Dimension(name: "width", count: width.count))
        result.append(Dimension(name: "depth", count: depth.count))
        return result
    }

    /// The number of distinct genotypes (saturating).
    public var size: Double { dimensions.reduce(1.0) { $0 * Double($1.count) } }

    /// The network a genotype describes (every block string of a stage takes the stage's choices).
    public func network(for genotype: Genotype) -> NetworkSpec {
        precondition(genotype.count == dimensions.count, "genotype of \(genotype.count) for \(dimensions.count) dimensions")
        var spec = base
        var cursor = 0
        func next<T>(_ choices: [T]?) -> T? {
            guard let choices else { return nil }
            defer { cursor += 1 }
            return choices[genotype[cursor]]
        }
        for (index, stage) in stages.enumerated() {
            let type = next(stage.type), kernel = next(stage.kernel), expansion = next(stage.expansion)
            let se = next(stage.se), skip = next(stage.skip), channels = next(stage.channels), repeats = next(stage.repeats)
            spec.stages[index] = spec.stages[index].map { block in
                var block = block
                if let type {
                    block.type = type
                    if !type.usesExpansion { block.expansion = 1 } else if block.expansion == 1 && expansion == nil { block.expansion = 6 }
                    if !type.supportsSqueezeExcite { block.seRatio = 0 }
                    block.skip = type.residualByDefault
                }
                if let kernel { block.kernel = kernel }
                if let expansion, block.type.usesExpansion { block.expansion = expansion }
                if let se, block.type.supportsSqueezeExcite { block.seRatio = se }
                if let skip { block.skip = skip }
                if let channels { block.outChannels = max(8, Rounding.makeDivisible(Double(block.outChannels) * channels)) }
                if let repeats { block.repeats = max(1, block.repeats + repeats) }
                return block
            }
        }
        spec.resolution = resolution[genotype[cursor]]
        spec.width = base.width * width[genotype[cursor + 1]]
        spec.depth = base.depth * depth[genotype[cursor + 2]]
        return spec
    }

    /// The key that identifies a candidate: the canonical scaled arch string, resolution, stem and head.
    public static func key(_ network: Network) -> String {
        "\(network.archString)@\(network.resolution)px/stem\(network.stemChannels)/head\(network.headChannels)"
    }
}

// MARK: - Reading files

extension SearchSpace {
    static let topKeys: Set<String> = ["name", "base", "arch", "stem", "head", "classes", "activation", "stages", "resolution", "width", "depth", "constraints"]
    static let stageKeys: Set<String> = ["type", "kernel", "expansion", "se", "skip", "channels", "repeats"]

    /// Reads a YAML (or JSON, which is YAML) search-space file. See the README for the schema.
    public static func load(path: String) throws -> SearchSpace {
        try parse(text: try readText(path: path), file: path)
    }

    /// The text of a search-space file.
    public static func readText(path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SearchSpaceError(file: path, field: "file", message: "cannot read the file")
        }
        return text
    }

    /// Parses the text of a search-space file; `file` names it in errors (and gives the default name).
    public static func parse(text: String, file: String) throws -> SearchSpace {
        let object: Any?
        do { object = try Yams.load(yaml: text) } catch {
            throw SearchSpaceError(file: file, field: "yaml", message: "malformed YAML: \(error)")
        }
        guard let root = object as? [String: Any] else {
            throw SearchSpaceError(file: file, field: "top level", message: "expected a mapping with base, stages, resolution, width, depth")
        }
        return try parse(root, file: file)
    }

    static func parse(_ root: [String: Any], file: String) throws -> SearchSpace {
        func fail(_ field: String, _ message: String) -> SearchSpaceError { SearchSpaceError(file: file, field: field, message: message) }
        for key in root.keys where !topKeys.contains(key) {
            throw fail(key, "unknown key; expected one of \(topKeys.sorted().joined(separator: ", "))")
        }
        var base: NetworkSpec
        if let name = root["base"] {
            guard let text = name as? String else { throw fail("base", "expected a preset name") }
            do { base = try Presets.named(text).spec } catch { throw fail("base", "\(error)") }
        } else {
            base = Presets.defaultSpec
        }
        if let arch = root["arch"] {
            guard let text = arch as? String else { throw fail("arch", "expected an arch string") }
            do { base.stages = try ArchString.parse(text) } catch { throw fail("arch", "\(error)") }
        }
        if let stem = root["stem"] { base.stem = try integer(stem, "stem", file, minimum: 1) }
        if let head = root["head"] { base.head = try integer(head, "head", file, minimum: 0) }
        if let classes = root["classes"] { base.classes = try integer(classes, "classes", file, minimum: 1) }
        if let activation = root["activation"] {
            guard let text = activation as? String, let value = Activation(rawValue: text) else { throw fail("activation", "expected silu, relu or relu6") }
            base.activation = value
        }
        var stages = [StageChoices](repeating: StageChoices(), count: base.stages.count)
        if let stageList = root["stages"] {
            guard let entries = stageList as? [Any] else { throw fail("stages", "expected a list with one entry per stage of the base network") }
            guard entries.count <= base.stages.count else {
                throw fail("stages", "\(entries.count) entries but the base network has \(base.stages.count) stages")
            }
            for (index, entry) in entries.enumerated() {
                let field = "stages[\(index + 1)]"
                if entry is NSNull { continue }
                guard let map = entry as? [String: Any] else { throw fail(field, "expected a mapping of choices (or null for a fixed stage)") }
                for key in map.keys where !stageKeys.contains(key) {
                    throw fail("\(field).\(key)", "unknown key; expected one of \(stageKeys.sorted().joined(separator: ", "))")
                }
                var choices = StageChoices()
                if let value = map["type"] {
                    choices.type = try list(value, "\(field).type", file) { item in
                        guard let text = item as? String, let type = BlockType(rawValue: text) else { return nil }
                        return type
                    }
                }
                if let value = map["kernel"] {
                    choices.kernel = try numbers(value, "\(field).kernel", file).map { k in
                        guard k == k.rounded(), k >= 1, Int(k) % 2 == 1 else { throw fail("\(field).kernel", "\(k) is not an odd whole number") }
                        return Int(k)
                    }
                }
                if let value = map["expansion"] { choices.expansion = try positive(numbers(value, "\(field).expansion", file), "\(field).expansion", file) }
                if let value = map["se"] {
                    choices.se = try numbers(value, "\(field).se", file)
                    if let bad = choices.se!.first(where: { !($0 >= 0 && $0 <= 1) }) { throw fail("\(field).se", "\(bad) is not in [0, 1]") }
                }
                if let value = map["skip"] { choices.skip = try list(value, "\(field).skip", file) { $0 as? Bool } }
                if let value = map["channels"] { choices.channels = try positive(numbers(value, "\(field).channels", file), "\(field).channels", file) }
                if let value = map["repeats"] {
                    choices.repeats = try numbers(value, "\(field).repeats", file).map { r in
                        guard r == r.rounded() else { throw fail("\(field).repeats", "\(r) is not a whole number") }
                        return Int(r)
                    }
                }
                stages[index] = choices
            }
        }
        let resolution = try root["resolution"].map { value in
            try numbers(value, "resolution", file).map { r -> Int in
                guard r == r.rounded(), r >= 2 else { throw fail("resolution", "\(r) is not a whole number of at least 2") }
                return Int(r)
            }
        } ?? [base.resolution]
        let width = try root["width"].map { try positive(numbers($0, "width", file), "width", file) } ?? [1]
        let depth = try root["depth"].map { try positive(numbers($0, "depth", file), "depth", file) } ?? [1]
        var constraints: [Constraint] = []
        if let value = root["constraints"] {
            guard let items = value as? [Any] else { throw fail("constraints", "expected a list such as [\"macs<=400M\"]") }
            for (index, item) in items.enumerated() {
                guard let text = item as? String else { throw fail("constraints[\(index + 1)]", "expected a string such as \"macs<=400M\"") }
                do { constraints.append(try Constraint(parsing: text)) } catch { throw fail("constraints[\(index + 1)]", "\(error)") }
            }
        }
        let space = SearchSpace(name: root["name"] as? String ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent,
                                base: base, stages: stages, resolution: resolution, width: width, depth: depth, constraints: constraints)
        // Every corner of the space must make a network: check the base with the smallest choices.
        do { _ = try base.resolve() } catch { throw fail("base", "\(error)") }
        return space
    }

    /// A list of choices: `[a, b]`, a single value, or `{min, max, step}` for numbers.
    static func numbers(_ value: Any, _ field: String, _ file: String) throws -> [Double] {
        func fail(_ message: String) -> SearchSpaceError { SearchSpaceError(file: file, field: field, message: message) }
        func number(_ item: Any) -> Double? {
            if item is Bool { return nil }
            if let n = item as? Int { return Double(n) }
            if let n = item as? Double { return n }
            return nil
        }
        if let range = value as? [String: Any] {
            for key in range.keys where !["min", "max", "step"].contains(key) { throw fail("unknown key \(key) in a range; expected min, max, step") }
            guard let low = range["min"].flatMap(number), let high = range["max"].flatMap(number) else {
                throw fail("a range needs numbers min and max (and optionally step)")
            }
            guard low <= high else { throw fail("min \(low) > max \(high)") }
            let step = range["step"].flatMap(number) ?? 1
            guard step > 0 else { throw fail("step \(step) must be greater than 0") }
            let count = Int(((high - low) / step + 1e-9).rounded(.down)) + 1
            guard count <= 10_000 else { throw fail("the range has \(count) values; at most 10,000") }
            return (0..<count).map { low + Double($0) * step }
        }
        if let item = number(value) { return [item] }
        guard let items = value as? [Any] else { throw fail("expected a list of numbers, a number, or {min, max, step}") }
        guard !items.isEmpty else { throw fail("the list of choices is empty") }
        return try items.map { item in
            guard let n = number(item) else { throw fail("\(item) is not a number") }
            return n
        }
    }

    static func list<T>(_ value: Any, _ field: String, _ file: String, _ convert: (Any) -> T?) throws -> [T] {
        let items = (value as? [Any]) ?? [value]
        guard !items.isEmpty else { throw SearchSpaceError(file: file, field: field, message: "the list of choices is empty") }
        return try items.map { item in
            guard let converted = convert(item) else { throw SearchSpaceError(file: file, field: field, message: "\(item) is not a valid choice") }
            return converted
        }
    }

    static func positive(_ values: [Double], _ field: String, _ file: String) throws -> [Double] {
        if let bad = values.first(where: { !($0 > 0) }) { throw SearchSpaceError(file: file, field: field, message: "\(bad) must be greater than 0") }
        return values
    }

    static func integer(_ value: Any, _ field: String, _ file: String, minimum: Int) throws -> Int {
        guard let number = value as? Int, number >= minimum else {
            throw SearchSpaceError(file: file, field: field, message: "\(value) must be a whole number of at least \(minimum)")
        }
        return number
    }
}

extension SearchSpace {
    /// `count` networks of uniformly drawn genotypes that resolve (at most `1000 * count` draws), from `seed`.
    public func sampleNetworks(count: Int, seed: UInt64) -> [Network] {
        let random = RandomGenerator(seed: seed)
        var result: [Network] = []
        var attempts = 0
        while result.count < count && attempts < 1000 * count {
            attempts += 1
            let genotype = dimensions.map { random.uniformInt($0.count) }
            guard let network = try? network(for: genotype).resolve() else { continue }
            result.append(network)
        }
        return result
    }
}
