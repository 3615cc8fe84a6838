import Architecture
import ArgumentParser
import Cost
import Foundation
import SearchRunner
import Store

/// A list of phi values: `3`, `1.5`, `0-7` (integers from 0 to 7) or `0,2,4`.
struct PhiList: ExpressibleByArgument {
    var values: [Double]
    /// As the user wrote it: what `--help` shows for the default.
    var text: String

    init?(argument: String) {
        text = argument
        if let range = PhiList.range(argument) {
            values = range
        } else {
            let parts = argument.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil && $0!.isFinite && $0! >= 0 }) else { return nil }
            values = parts.map { $0! }
        }
    }

    private static func range(_ text: String) -> [Double]? {
        let ends = text.split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count == 2, let low = Int(ends[0]), let high = Int(ends[1]), low >= 0, low <= high, high - low <= 100 else { return nil }
        return (low...high).map(Double.init)
    }

    var defaultValueDescription: String { text }
}

extension Efsearch {
    /// `efsearch scale`: a compound-scaled family from a base network.
    struct Scale: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a compound-scaled family: depth alpha^phi, width beta^phi, resolution gamma^phi.",
            discussion: """
            Resolution is base x gamma^phi rounded to the nearest multiple of 4. Channel and repeat rounding
            follow the official rules, so the realised FLOPs ratio drifts from the target 2^phi: the table shows both.

            Examples:
              efsearch scale --phi 0-7                           # EfficientNet-B0..B7 from the paper's coefficients
              efsearch scale --base mobilenetv2-100 --alpha 1.2 --beta 1.1 --gamma 1.15 --phi 1.5
              efsearch scale --from-run b0-grid --phi 0,2,4 --json
            """)

        @Option(help: "Depth coefficient alpha (>= 1).")
        var alpha: Double = CompoundScaling.paper.alpha
        @Option(help: "Width coefficient beta (>= 1).")
        var beta: Double = CompoundScaling.paper.beta
        @Option(help: "Resolution coefficient gamma (>= 1).")
        var gamma: Double = CompoundScaling.paper.gamma
        @Option(help: "Compound coefficient: one value (1.5), a range of integers (0-7) or a list (0,2,4).")
        var phi: PhiList = PhiList(argument: "0-7")!
        @Option(help: "The base network, a preset (default: efficientnet-b0, or the grid run's base with --from-run).")
        var base: String?
        @Flag(help: "Print JSON lines, one per family member.")
        var json = false
        @Option(name: .customLong("from-run"), help: "Take alpha, beta, gamma from the best point of a `grid` run.")
        var fromRun: String?
        @OptionGroup var storeOptions: StoreOptions

        func run() throws {
            var (alpha, beta, gamma) = (self.alpha, self.beta, self.gamma)
            var base = self.base
            if let fromRun {
                let catalog = try storeOptions.catalog(readOnly: true)
                let (record, configuration) = try catalog.open(fromRun)
                guard case .grid(let plan) = configuration.plan else {
                    throw RunError(store: catalog.store.location, run: fromRun, message: "is a \(configuration.plan.kind) run; --from-run takes a grid run")
                }
                guard let best = try GridRanking.ranked(store: catalog.store, runId: record.id!, plan: plan).first else {
                    throw RunError(store: catalog.store.location, run: fromRun, message: "has no grid points")
                }
                (alpha, beta, gamma) = (best.point.alpha, best.point.beta, best.point.gamma)
                base = self.base ?? plan.base
            }
            let scaling = CompoundScaling(alpha: alpha, beta: beta, gamma: gamma)
            try scaling.validate()
            let baseSpec = try Architecture.Presets.named(base ?? "efficientnet-b0").spec
            let baseMACs = Double(CostModel.summary(of: try baseSpec.resolve()).macs)
            var rows: [[String]] = []
            for phi in phi.values {
                let member = try scaling.member(of: baseSpec, phi: phi).resolve()
                let summary = CostModel.summary(of: member)
                let realised = Double(summary.macs) / baseMACs
                if json {
                    var out = JSONObjectWriter()
                    out.add("phi", phi)
                    out.add("depth", member.spec.depth)
                    out.add("width", member.spec.width)
                    out.add("resolution", member.resolution)
                    out.add("params", summary.params)
                    out.add("macs", summary.macs)
                    out.add("flops_ratio", realised)
                    out.add("target_ratio", pow(2, phi))
                    out.add("nominal_ratio", pow(scaling.flopsFactor, phi))
                    out.add("arch", member.archString)
                    print(out.finished())
                } else {
                    rows.append([
                        ArchString.formatNumber(phi), Format.fixed(member.spec.depth, 3), Format.fixed(member.spec.width, 3),
                        "\(member.resolution)", Format.engineering(Double(summary.params)), Format.engineering(Double(summary.macs)),
                        Format.fixed(realised, 2), Format.fixed(pow(2, phi), 2), Format.fixed(pow(scaling.flopsFactor, phi), 2),
                    ])
                }
            }
            if !json {
                print("base \(base ?? "efficientnet-b0"); alpha \(alpha), beta \(beta), gamma \(gamma); alpha*beta^2*gamma^2 = \(Format.fixed(scaling.flopsFactor, 3))")
                print(Format.table(["phi", "depth", "width", "px", "params", "MACs", "FLOPs ratio", "2^phi", "nominal"], rows))
            }
        }
    }
}
