import Foundation

/// Compound scaling (Tan & Le, 2019): depth `alpha^phi`, width `beta^phi`, resolution `gamma^phi`, with
/// `alpha * beta^2 * gamma^2 ~= 2` so that FLOPs grow by about `2^phi`.
public struct CompoundScaling: Hashable, Sendable, Codable {
    public var alpha: Double
    public var beta: Double
    public var gamma: Double

    /// The coefficients the paper's grid search found at phi = 1.
    public static let paper = CompoundScaling(alpha: 1.2, beta: 1.1, gamma: 1.15)

    public init(alpha: Double, beta: Double, gamma: Double) {
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
    }

    /// `alpha * beta^2 * gamma^2`: the nominal FLOPs factor per unit of phi.
    public var flopsFactor: Double { alpha * beta * beta * gamma * gamma }

    public func depthMultiplier(phi: Double) -> Double { pow(alpha, phi) }
    public func widthMultiplier(phi: Double) -> Double { pow(beta, phi) }
    public func resolutionMultiplier(phi: Double) -> Double { pow(gamma, phi) }

    /// The family member at `phi`: the base's width and depth multiplied by `beta^phi` and `alpha^phi`,
    /// and its resolution by `gamma^phi`, rounded to a multiple of 4 (`Rounding.scaleResolution`).
    /// Channel and repeat rounding happen when the spec is resolved.
    public func member(of base: NetworkSpec, phi: Double) -> NetworkSpec {
        var spec = base
        spec.width = base.width * widthMultiplier(phi: phi)
        spec.depth = base.depth * depthMultiplier(phi: phi)
        spec.resolution = Rounding.scaleResolution(base.resolution, factor: resolutionMultiplier(phi: phi))
        return spec
    }

    /// Checks that the coefficients can scale a network (each at least 1, as the paper requires).
    public func validate() throws {
        for (name, value) in [("alpha", alpha), ("beta", beta), ("gamma", gamma)] where !(value.isFinite && value >= 1) {
            throw NetworkSpecError(field: name, message: "\(value) must be a number of at least 1")
        }
    }
}

/// The phi values of a family, as `efsearch scale --phi` takes them: `3`, `1.5`, `0-7` (the whole numbers 0 to 7)
/// or `0,2,4`; each 0 or more.
public struct PhiList: Sendable, Equatable, CustomStringConvertible {
    public var values: [Double]
    /// As written: what `--help` shows for the default.
    public var text: String

    public init(parsing text: String) throws {
        self.text = text
        let ends = text.split(separator: "-", omittingEmptySubsequences: false)
        if ends.count == 2, let low = Int(ends[0]), let high = Int(ends[1]), low >= 0, low <= high, high - low <= 100 {
            values = (low...high).map(Double.init)
            return
        }
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil && $0!.isFinite && $0! >= 0 }) else {
            throw NetworkSpecError(field: "phi", message: "\"\(text)\": expected a number such as 1.5, whole numbers LOW-HIGH such as 0-7 (at most 101), or a list such as 0,2,4; each 0 or more")
        }
        values = parts.map { $0! }
    }

    /// The whole numbers of `range` (`0-7`).
    public init(_ range: ClosedRange<Int>) {
        values = range.map(Double.init)
        text = "\(range.lowerBound)-\(range.upperBound)"
    }

    public var description: String { text }
}
