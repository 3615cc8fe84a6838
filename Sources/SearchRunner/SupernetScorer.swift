import Architecture
import Foundation
import Supernet
import Training

/// Scores candidates with a supernet's weights (`--fidelity supernet:FILE`, `proxy-check --supernet FILE`): the
/// file is read once, and every candidate is recalibrated and evaluated as `SupernetCheckpoint.score` does, on the
/// run's proxy dataset (whose classes must be the supernet's).
final class SupernetScorer {
    let path: String
    let checkpoint: SupernetCheckpoint
    let scoring = SupernetScoring()

    init(path: String) throws {
        self.path = path
        checkpoint = try SupernetCheckpoint.load(URL(fileURLWithPath: path))
    }

    /// Checks that the file is a supernet of the run's space (the same text).
    static func check(_ path: String, space: StoredSpace) throws {
        let checkpoint = try SupernetCheckpoint.load(URL(fileURLWithPath: path))
        guard checkpoint.spaceText == space.text else {
            throw PlanError(field: "--fidelity supernet:\(path)",
                            message: "the supernet was trained on space \(checkpoint.space.name), not on the run's \(space.path) (a supernet scores the candidates of its own space)")
        }
    }

    /// The candidate's accuracy (and top-5) with inherited weights.
    func score(_ spec: NetworkSpec, name: String, dataset: Dataset) throws -> SupernetScore {
        try checkpoint.score(spec, name: name, dataset: dataset, scoring: scoring)
    }
}

/// `--fidelity`'s value: a fidelity, and for `supernet:FILE` the file.
public struct FidelityChoice: Sendable {
    public var fidelity: Fidelity
    public var supernet: String?

    public init(parsing text: String) throws {
        if text.lowercased().hasPrefix("supernet:") {
            let file = String(text.dropFirst("supernet:".count))
            guard !file.isEmpty else { throw PlanError(field: "--fidelity", message: "\"\(text)\": expected supernet:FILE, the supernet file to score the candidates with") }
            (fidelity, supernet) = (.supernet, file)
        } else if let fidelity = Fidelity(rawValue: text.lowercased()), fidelity != .supernet {
            (self.fidelity, supernet) = (fidelity, nil)
        } else {
            throw PlanError(field: "--fidelity", message: "\"\(text)\": expected estimate, train, sh, replay or supernet:FILE")
        }
    }
}
