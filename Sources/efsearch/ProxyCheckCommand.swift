import ArgumentParser
import SearchRunner

extension Efsearch {
    /// `efsearch proxy-check`: does a short training setting (or a zero-cost proxy) rank candidates as a long one does?
    struct ProxyCheck: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "proxy-check",
            abstract: "Train sampled candidates of a space at a short and a long setting and report how well the short ranking (and each zero-cost proxy, MACs, params) predicts the long one.",
            discussion: """
            Spearman's rho and Kendall's tau-b against the long setting's accuracy, with 95% bootstrap intervals. The run is
            stored like a search: --resume continues it, and efsearch worker --run NAME adds processes.

            Examples:
              efsearch proxy-check --space searchspaces/tiny.yaml --sample 16 --short epochs=2,subset=1000 --long epochs=8 --json
            """)

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var proxy: ProxyOptions
        @Option(help: "Search-space file; its text is stored with the run.") var space: String?
        @Option(help: "Candidates to sample (seeded; default: 16).") var sample: Int?
        @Option(help: "The short setting, epochs=N[,resolution=PX][,subset=IMAGES] (default: epochs=3); supernet:FILE is --supernet FILE beside the default.") var short: String?
        @Option(help: "The long setting (default: epochs=12).") var long: String?
        @Option(help: "Also score each candidate with this supernet's weights (efsearch supernet train), a predictor beside the short setting.") var supernet: String?
        /// `--short supernet:FILE` as `--supernet FILE`, and the short setting that is left.
        var given: (short: String?, supernet: String?) { short?.hasPrefix("supernet:") == true ? (nil, String(short!.dropFirst(9))) : (short, supernet) }
        @Option(help: "Bootstrap resamples for the 95% intervals (default: 1000).") var bootstrap: Int?
        @Option(help: "Seed of the sample, the trainings and the bootstrap (default: 0).") var seed: UInt64?
        @OptionGroup var runOptions: RunOptions
        @Flag(name: .customLong("noise-floor"), help: "Also train each candidate at --short with another seed: the short setting against itself, the best a predictor can do.") var noiseFloor = false
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            if runOptions.resume == nil && space == nil { throw ValidationError("--space is required (or --resume NAME)") }
            if let sample, sample < 3 { throw ValidationError("--sample \(sample) must be at least 3 (a rank correlation needs pairs to compare)") }
            if let bootstrap, bootstrap < 0 { throw ValidationError("--bootstrap \(bootstrap) must be 0 or more") }
            if proxy.flags.asksForHalving { throw ValidationError("proxy-check trains each candidate at --short and --long; successive-halving flags do not apply") }
            if proxy.epochs != nil { throw ValidationError("--epochs: proxy-check takes the epochs from --short and --long") }
            for (flag, text) in [("--short", given.short), ("--long", long)] {
                if let text { do { _ = try ProxySetting(parsing: text, field: flag) } catch { throw ValidationError("\(error)") } }
            }
        }

        func checkResume(_ name: String, store: String, configuration: RunConfiguration) throws {
            guard case .proxyCheck(let stored) = configuration.plan else { throw configuration.wrongKind(run: name, store: store) }
            var check = ResumeCheck(configuration, proxy: proxy.flags, seed: seed)
            check.compare("--sample", given: sample, stored: stored.sample)
            check.compare("--short", given: try given.short.map { try ProxySetting(parsing: $0, field: "--short") }, stored: stored.short)
            check.compare("--long", given: try long.map { try ProxySetting(parsing: $0, field: "--long") }, stored: stored.long)
            check.compare("--bootstrap", given: bootstrap, stored: stored.bootstrap)
            check.compare("--supernet", given: given.supernet, stored: stored.supernet)
            if noiseFloor { check.compare("--noise-floor", given: true, stored: stored.noiseFloor ?? false) }
            try check.verify(store: store, run: name)
        }

        func run() throws {
            let (store, record) = try storeOptions.execute(runOptions, check: checkResume) { _ in
                let plan = try ProxyCheckPlan(
                    space: try StoredSpace.read(path: space!), sample: sample ?? 16,
                    short: try ProxySetting(parsing: given.short ?? "epochs=3", field: "--short"),
                    long: try ProxySetting(parsing: long ?? "epochs=12", field: "--long"), bootstrap: bootstrap ?? 1000, noiseFloor: noiseFloor, supernet: given.supernet)
                return RunConfiguration(seed: seed ?? 0, proxy: proxy.flags.task, plan: .proxyCheck(plan))
            } announce: { record, configuration, store in
                guard case .proxyCheck(let plan) = configuration.plan else { return }
                Console.note("run \(record.name) (store \(store)): proxy-check of \(plan.sample) candidates, short \(plan.short), long \(plan.long)")
            }
            let configuration = try RunCatalog(store: store) { Console.note($0) }.configuration(of: record)
            guard case .proxyCheck(let plan) = configuration.plan else { return }
            let report = ProxyCheckReport(candidates: try store.candidates(runId: record.id!), resamples: plan.bootstrap, seed: configuration.seed)
            print(json ? try report.json(run: record.name, plan: plan) : report.text(plan: plan))
        }
    }
}
