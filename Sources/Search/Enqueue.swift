import Architecture
import Foundation

/// A line of an `--enqueue` file that names no candidate of the space.
public struct EnqueueError: UserInputError {
    public var file: String
    public var line: Int
    public var text: String
    public var message: String
    public var description: String { "--enqueue \(file) line \(line): \"\(text)\": \(message)" }
}

/// Candidates to evaluate first (`nas --enqueue FILE`, as Optuna's `enqueue_trial`): one per line, a preset name
/// or an arch string as the export's `arch` column spells it (scaled), optionally followed by `@RES` (pixels;
/// needed when the space offers several resolutions); blank lines and `#` comments are passed over. Each must be a
/// candidate of the space: the genotype whose network it is.
public enum Enqueue {
    /// The entries of a file's text, each with its line number, comments and blanks left out.
    public static func entries(_ text: String) -> [(line: Int, text: String)] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = content.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty ? nil : (index + 1, trimmed)
        }
    }

    /// The genotypes of the entries of `text` (file `file`), in order.
    public static func genotypes(_ text: String, file: String, space: SearchSpace) throws -> [Genotype] {
        try entries(text).map { line, entry in
            func fail(_ message: String) -> EnqueueError { EnqueueError(file: file, line: line, text: entry, message: message) }
            var arch = entry, resolution: Int?
            if let at = entry.lastIndex(of: "@") {
                arch = entry[..<at].trimmingCharacters(in: .whitespaces)
                var number = entry[entry.index(after: at)...].trimmingCharacters(in: .whitespaces)
                if number.hasSuffix("px") { number.removeLast(2) }
                guard let value = Int(number), value > 0 else { throw fail("expected ARCH@RESOLUTION, the resolution a whole number of pixels") }
                resolution = value
            }
            let stages: [StageSpec]
            if let preset = try? Presets.named(arch) {
                let network = try preset.spec.resolve()
                stages = network.scaledStages
                resolution = resolution ?? network.resolution
            } else {
                do { stages = try ArchString.parse(arch) } catch { throw fail("neither a preset nor an arch string (\(error))") }
            }
            guard let genotype = space.genotype(stages: stages, resolution: resolution) else {
                throw fail("not a candidate of the space \(space.name): no choice of its stages, resolution, width and depth gives this network")
            }
            return genotype
        }
    }
}

extension SearchSpace {
    /// The first genotype (in grid order of the global choices) whose scaled stages are `stages` and whose
    /// resolution is `resolution` (any, when nil); nil when there is none. Stage by stage: a stage's choices only
    /// change its own blocks, so each stage's choices are matched with the others at their first.
    public func genotype(stages target: [StageSpec], resolution wanted: Int?) -> Genotype? {
        let dimensions = self.dimensions
        let global = dimensions.count - 3
        // The genotype positions of each stage's choices.
        var positions: [[Int]] = stages.map { _ in [] }
        for (index, dimension) in dimensions.prefix(global).enumerated() {
            let stage = Int(dimension.name.dropFirst(5).prefix { $0 != "." })! - 1
            positions[stage].append(index)
        }
        for r in resolution.indices where wanted == nil || resolution[r] == wanted {
            for w in width.indices {
                for d in depth.indices {
                    var genotype = [Int](repeating: 0, count: dimensions.count)
                    (genotype[global], genotype[global + 1], genotype[global + 2]) = (r, w, d)
                    guard var network = try? network(for: genotype).resolve(), network.scaledStages.count == target.count else { continue }
                    var matched = true
                    for (stage, places) in positions.enumerated() where network.scaledStages[stage] != target[stage] {
                        // Every combination of the stage's choices, until its blocks are the target's.
                        var found = false
                        var choice = [Int](repeating: 0, count: places.count)
                        while !found {
                            var carry = 0
                            while carry < places.count {
                                choice[carry] += 1
                                if choice[carry] < dimensions[places[carry]].count { break }
                                choice[carry] = 0
                                carry += 1
                            }
                            if carry == places.count { break }
                            for (k, place) in places.enumerated() { genotype[place] = choice[k] }
                            if let candidate = try? self.network(for: genotype).resolve(), candidate.scaledStages[stage] == target[stage] {
                                network = candidate
                                found = true
                            }
                        }
                        if !found {
                            matched = false
                            break
                        }
                    }
                    if matched, let final = try? self.network(for: genotype).resolve(), final.scaledStages == target { return genotype }
                }
            }
        }
        return nil
    }
}

/// A strategy that proposes given genotypes first (those `accept` takes), then whatever `inner` proposes; every
/// observation goes to `inner`, so a model learns from the enqueued candidates too.
public struct EnqueuedFirst: SearchStrategy {
    var queue: [Genotype]
    var inner: any SearchStrategy

    public init(_ genotypes: [Genotype], then inner: any SearchStrategy) {
        queue = genotypes
        self.inner = inner
    }

    public mutating func propose(_ count: Int, accept: (Genotype) -> Bool) -> [Genotype] {
        var result: [Genotype] = []
        while result.count < count, !queue.isEmpty {
            let genotype = queue.removeFirst()
            if accept(genotype) { result.append(genotype) }
        }
        if result.count < count { result += inner.propose(count - result.count, accept: accept) }
        return result
    }

    public mutating func observe(_ observations: [Observation]) { inner.observe(observations) }
}
