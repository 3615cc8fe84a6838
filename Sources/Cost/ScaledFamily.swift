import Architecture
import Foundation

/// A compound-scaled family (`efsearch scale`): each member of a base network at the given phi values, with its
/// costs and its realised FLOPs ratio to the base beside the target 2^phi and the nominal (alpha beta^2 gamma^2)^phi.
public struct ScaledFamily {
    public struct Member {
        public var phi: Double
        public var network: Network
        public var summary: CostSummary
        /// MACs relative to the base's.
        public var realisedRatio: Double
    }

    public var baseName: String
    public var scaling: CompoundScaling
    public var members: [Member]

    /// Scales the preset `base` by `scaling` at each phi.
    public init(base: String, scaling: CompoundScaling, phis: [Double]) throws {
        try scaling.validate()
        let spec = try Presets.named(base).spec
        let baseMACs = Double(CostModel.summary(of: try spec.resolve()).macs)
        members = try phis.map { phi in
            let network = try scaling.member(of: spec, phi: phi).resolve()
            let summary = CostModel.summary(of: network)
            return Member(phi: phi, network: network, summary: summary, realisedRatio: Double(summary.macs) / baseMACs)
        }
        (baseName, self.scaling) = (base, scaling)
    }

    /// One JSON object per member.
    public var jsonLines: [String] {
        members.map { member in
            var out = JSONObjectWriter()
            out.add("phi", member.phi)
            out.add("depth", member.network.spec.depth)
            out.add("width", member.network.spec.width)
            out.add("resolution", member.network.resolution)
            out.add("params", member.summary.params)
            out.add("macs", member.summary.macs)
            out.add("flops_ratio", member.realisedRatio)
            out.add("target_ratio", pow(2, member.phi))
            out.add("nominal_ratio", pow(scaling.flopsFactor, member.phi))
            out.add("arch", member.network.archString)
            return out.finished()
        }
    }

    /// A line on the base and the coefficients, then a table of the members.
    public var text: String {
        let rows = members.map { member in
            [ArchString.formatNumber(member.phi), Format.fixed(member.network.spec.depth, 3), Format.fixed(member.network.spec.width, 3),
             "\(member.network.resolution)", Format.engineering(Double(member.summary.params)), Format.engineering(Double(member.summary.macs)),
             Format.fixed(member.realisedRatio, 2), Format.fixed(pow(2, member.phi), 2), Format.fixed(pow(scaling.flopsFactor, member.phi), 2)]
        }
        return "base \(baseName); alpha \(scaling.alpha), beta \(scaling.beta), gamma \(scaling.gamma); alpha*beta^2*gamma^2 = \(Format.fixed(scaling.flopsFactor, 3))\n"
            + Format.table(["phi", "depth", "width", "px", "params", "MACs", "FLOPs ratio", "2^phi", "nominal"], rows)
    }
}
