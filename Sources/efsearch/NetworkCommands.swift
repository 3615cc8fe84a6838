import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import SearchRunner
import Store

// The commands that describe networks: estimate, scale, presets, init.
extension Efsearch {
    /// `efsearch estimate`: parameters, MACs, FLOPs, memory and roofline latency of a network, analytically.
    struct Estimate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count parameters, MACs, FLOPs, memory and roofline latency of a network.",
            discussion: """
            Examples:
              efsearch estimate efficientnet-b3
              efsearch estimate --arch 'ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25' --width 0.5 --resolution 128
              efsearch estimate --jsonl candidates.jsonl   # one JSON object per line in, one result per line out
            """)

        @OptionGroup var network: NetworkOptions
        @OptionGroup var machine: MachineOptions
        @OptionGroup var latency: LatencyModelOptions
        @Option(help: "Batch size for memory and latency.") var batch: Int = 1
        @Flag(help: "Print one JSON object.") var json = false
        @Flag(name: .customLong("per-layer"), help: "Print a table with one row per layer (with --json, a `layers` array).") var perLayer = false
        @Option(help: "Read candidates as JSON lines from FILE ('-' for standard input) and write one result per line.") var jsonl: String?
        @Option(help: "Workers that estimate the lines of a --jsonl file in parallel; the output is the same, in order (default: all cores).") var jobs: Int?

        func validate() throws {
            if batch < 1 { throw ValidationError("--batch \(batch) must be at least 1") }
            if jsonl != nil && perLayer { throw ValidationError("--per-layer cannot be combined with --jsonl") }
            if let jobs, jobs < 1 { throw ValidationError("--jobs \(jobs) must be at least 1") }
            if jobs != nil && jsonl == nil { throw ValidationError("--jobs applies to --jsonl FILE only") }
        }

        func run() throws {
            let profile = machine.profile()
            let predictor = try latency.load(threads: machine.threadCount, batch: batch, quiet: json || jsonl != nil)?.predictor
            if let jsonl {
                return try BatchEstimator(batch: batch, machine: profile, predictor: predictor).run(path: jsonl, jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount)
            }
            print(CostReport.estimate(name: network.displayName, try network.spec().resolve(), batch: batch, machine: profile, predictor: predictor,
                                      json: json, perLayer: perLayer))
        }
    }

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

        @Option(help: "Depth coefficient alpha (>= 1).") var alpha: Double = CompoundScaling.paper.alpha
        @Option(help: "Width coefficient beta (>= 1).") var beta: Double = CompoundScaling.paper.beta
        @Option(help: "Resolution coefficient gamma (>= 1).") var gamma: Double = CompoundScaling.paper.gamma
        @Option(help: "Compound coefficient: one value (1.5), a range of integers (0-7) or a list (0,2,4).", transform: PhiList.init(parsing:)) var phi: PhiList = PhiList(0...7)
        @Option(help: "The base network, a preset (default: efficientnet-b0, or the grid run's base with --from-run).") var base: String?
        @Flag(help: "Print JSON lines, one per family member.") var json = false
        @Option(name: .customLong("from-run"), help: "Take alpha, beta, gamma from the best point of a `grid` run.", transform: RunName.init) var fromRun: RunName?
        @OptionGroup var storeOptions: StoreOptions

        func run() throws {
            var scaling = CompoundScaling(alpha: alpha, beta: beta, gamma: gamma)
            var base = self.base
            if let fromRun {
                let best = try GridRanking.best(of: fromRun.text, in: try storeOptions.catalog(readOnly: true))
                scaling = CompoundScaling(alpha: best.point.alpha, beta: best.point.beta, gamma: best.point.gamma)
                base = self.base ?? best.base
            }
            let family = try ScaledFamily(base: base ?? "efficientnet-b0", scaling: scaling, phis: phi.values)
            print(json ? family.jsonLines.joined(separator: "\n") : family.text)
        }
    }

    /// `efsearch presets`: lists the preset networks.
    struct Presets: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the preset networks.",
            discussion: """
            Examples:
              efsearch presets
              efsearch estimate efficientnetv2-s        # any preset's costs
            """)

        func run() throws {
            for preset in Architecture.Presets.all {
                print(preset.name.padding(toLength: 18, withPad: " ", startingAt: 0) + preset.summary)
            }
        }
    }

    /// `efsearch init`: a freshly initialised, timm-compatible checkpoint.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a freshly initialised checkpoint (safetensors, timm's EfficientNet names and layouts).",
            discussion: """
            Examples:
              efsearch init efficientnet-b0 --out b0.safetensors --seed 1
              efsearch init --arch 'ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25' --classes 10 --out tiny.safetensors
            """)

        @OptionGroup var network: NetworkOptions
        @Option(help: "Seed of the initialisation.") var seed: UInt64 = 0
        @Option(help: "The checkpoint to write (.safetensors).") var out: String

        func run() throws {
            let spec = try network.spec()
            let model = EfficientNetModel(try spec.resolve())
            model.initialize(seed: seed)
            try Checkpoint.save(model, spec: spec, to: URL(fileURLWithPath: out), extraMetadata: ["seed": "\(seed)"])
            print("wrote \(out): \(model.network.archString), \(Format.grouped(model.namedParameters().reduce(0) { $0 + $1.1.value.count })) parameters, seed \(seed)")
        }
    }
}
