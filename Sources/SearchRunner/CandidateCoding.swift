import Architecture
import Cost
import Engine
import Foundation
import Search
import Store
import Training

/// The network spec of a stored candidate: its genotype in the run's space, or its grid point scaled from the
/// grid's proxy base.
public struct CandidateNetworks {
    let plan: RunPlan
    /// The run's search space (for a grid: the proxy base with no choices).
    let space: SearchSpace

    init(plan: RunPlan, space: SearchSpace) {
        self.plan = plan
        self.space = space
    }

    public init(configuration: RunConfiguration) throws {
        plan = configuration.plan
        switch configuration.plan {
        case .nas(let plan): space = try plan.space.parse()
        case .proxyCheck(let plan): space = try plan.space.parse()
        case .grid(let plan):
            let base = try plan.proxyNetwork()
            space = SearchSpace(name: "grid", base: base, stages: [], resolution: [base.resolution], width: [1], depth: [1], constraints: [])
        }
    }

    /// The training setting of a proxy-check candidate (nil for other runs).
    public func setting(of candidate: CandidateRecord) throws -> ProxySetting? {
        guard case .proxyCheck(let plan) = plan else { return nil }
        let name = try ProxyCheckCoding.decode(candidate.extra)
        guard let setting = plan.setting(name) else { throw GenotypeError(text: name, message: "expected the setting short, long or reseeded") }
        return setting
    }

    public func spec(of candidate: CandidateRecord) throws -> NetworkSpec {
        switch plan {
        case .nas, .proxyCheck:
            let genotype = try GenotypeCoding.decode(candidate.genotype)
            guard genotype.count == space.dimensions.count,
                  zip(genotype, space.dimensions).allSatisfy({ $0 >= 0 && $0 < $1.count }) else {
                throw GenotypeError(text: candidate.genotype, message: "does not fit the search space's \(space.dimensions.count) dimensions")
            }
            var spec = space.network(for: genotype)
            if let resolution = try setting(of: candidate)?.resolution { spec.resolution = resolution }
            return spec
        case .grid(let plan):
            return CandidateNetworks.gridMember(try GridPointCoding.decode(candidate.extra), base: space.base, phi: plan.phi)
        }
    }

    static func gridMember(_ point: GridPoint, base: NetworkSpec, phi: Double) -> NetworkSpec {
        CompoundScaling(alpha: point.alpha, beta: point.beta, gamma: point.gamma).member(of: base, phi: phi)
    }
}

/// A stored genotype or grid point that cannot be read.
public struct GenotypeError: UserInputError {
    public var text: String
    public var message: String
    public var description: String { "stored genotype \(text): \(message)" }
}

/// A proxy-check candidate's setting, stored as JSON in its `extra` column: `{"setting":"short"}`.
public enum ProxyCheckCoding {
    public static func encode(setting: String) -> String { "{\"setting\":\"\(setting)\"}" }

    public static func decode(_ text: String?) throws -> String {
        guard let text, let object = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)), let name = object["setting"] else {
            throw GenotypeError(text: text ?? "(none)", message: "expected the proxy-check setting {\"setting\": \"short\" or \"long\"}")
        }
        return name
    }
}

/// Genotypes are stored as JSON arrays of choice indices, `[1,0,2]`, and read back strictly.
public enum GenotypeCoding {
    public static func encode(_ genotype: Genotype) -> String {
        "[" + genotype.map(String.init).joined(separator: ",") + "]"
    }

    public static func decode(_ text: String) throws -> Genotype {
        do { return try JSONDecoder().decode([Int].self, from: Data(text.utf8)) } catch {
            throw GenotypeError(text: text, message: "expected a JSON array of whole numbers")
        }
    }
}

/// A grid candidate's coordinates, stored as JSON in its `extra` column.
public enum GridPointCoding {
    public static func encode(_ point: GridPoint) throws -> String {
        String(decoding: try JSONEncoder().encode(point), as: UTF8.self)
    }

    public static func decode(_ text: String?) throws -> GridPoint {
        guard let text, let point = try? JSONDecoder().decode(GridPoint.self, from: Data(text.utf8)) else {
            throw GenotypeError(text: text ?? "(none)", message: "expected the grid coordinates {alpha, beta, gamma}")
        }
        return point
    }
}
