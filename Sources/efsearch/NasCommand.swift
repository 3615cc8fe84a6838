import ArgumentParser
import Search
import SearchRunner
import Store
import Training

extension Efsearch {
    /// `efsearch nas`: architecture search over a search-space file.
    struct Nas: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Search architectures: sample a search space, evaluate candidates, keep all of them and the Pareto frontier in SQLite.",
            discussion: """
            The run stores its whole configuration, the search space's text included: --resume and workers use the
            stored copy from any directory. Settings given again with --resume must equal the stored ones.

            Examples:
              efsearch nas --space searchspaces/tiny.yaml --strategy bo --budget 12 --objectives accuracy,macs --seed 1
              efsearch worker --run NAME          # more processes on the same run (same store)
              efsearch nas --resume NAME          # continue after Ctrl-C or a crash
            """)

        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var proxy: ProxyOptions
        @Option(help: "Search-space file (YAML or JSON); its text is stored with the run.") var space: String?
        @Option(help: "Strategy (default: bo, the best of efsearch-benchmarks strategies at every budget).") var strategy: StrategyKind?
        @Option(help: "Candidates to evaluate (default: 12).") var budget: Int?
        @Option(help: "Objectives, comma-separated: accuracy, macs, params, latency, memory, synflow, naswot, each optionally :min or :max (default: accuracy,macs when training, macs,params on estimates).", transform: ObjectiveList.init(parsing:)) var objectives: ObjectiveList?
        @Option(name: .customLong("constraint"), help: "A constraint such as macs<=400M (repeatable).", transform: Constraint.init(parsing:)) var constraints: [Constraint] = []
        @Option(help: "MnasNet reward ACC * (X / T)^w as METRIC:T:W or METRIC:T:ALPHA:BETA, e.g. macs:400M:-0.07.", transform: Reward.init(parsing:)) var reward: Reward?
        @Option(help: "estimate (cost model only), train (short training on the proxy), sh (successive halving over --rungs), replay (with --replay RUN) or supernet:FILE (weights inherited from a trained supernet) (default: train; sh when a rung flag is given; replay with --replay).", transform: FidelityChoice.init(parsing:)) var fidelity: FidelityChoice?
        @Option(help: "Latency: predicted (the calibrated model), estimate (roofline) or measured (timed forward passes; with --fidelity train) (default: predicted when this machine is calibrated, else estimate).") var latency: LatencySource?
        @OptionGroup var latencyModel: LatencyModelOptions
        @Option(help: "Seed of the search and of every candidate's training (default: 0).") var seed: UInt64?
        @Option(help: "Candidates per round, a successive-halving bracket with --fidelity sh (default: 4 when training, 9 with sh, 1000 when estimating).") var generation: Int?
        @Option(help: "Evolution / NSGA-II population (default: 8).") var population: Int?
        @Option(help: "Evolution sample size (default: 3).") var sample: Int?
        @Option(help: "Per-choice mutation probability (default: 0.1).") var mutation: Double?
        @Option(help: "TPE and BO: uniform random candidates before the model proposes (default: 10).") var startup: Int?
        @Option(help: "Answer each candidate from this earlier run's stored results (implies --fidelity replay): a strategy benchmarked on a finished search.", transform: RunName.init) var replay: RunName?
        @Option(name: .customLong("warm-start"), help: "First show the strategy the finished candidates of this earlier search of the same space.", transform: RunName.init) var warmStart: RunName?
        @Option(help: "A file of candidates to evaluate first, one preset or arch string (as the export's arch column, optionally @RESOLUTION) per line; each must be a candidate of the space.") var enqueue: String?
        @OptionGroup var runOptions: RunOptions
        @Option(help: "Train only the best fraction of each generation by a zero-cost proxy, PROXY:FRACTION (synflow or naswot; e.g. naswot:0.25); the rest are stored as pruned.", transform: Prefilter.init(parsing:)) var prefilter: Prefilter?
        @Flag(name: .customLong("keep-checkpoints"), help: "Write each trained candidate's weights to <store folder>/<run>/<id>.safetensors (path in the store).") var keepCheckpoints = false
        @Flag(help: "Print the frontier as JSON lines at the end.") var json = false

        func validate() throws {
            let resume = runOptions.resume
            if resume == nil && space == nil { throw ValidationError("--space is required (or --resume NAME)") }
            if resume != nil && keepCheckpoints { throw ValidationError("--keep-checkpoints and --resume: a resumed run keeps its stored setting") }
            if resume != nil && latencyModel.latencyModel != nil { throw ValidationError("--latency-model and --resume: a resumed run keeps its stored latency model") }
            do { try flags.validate() } catch { throw ValidationError("\(error)") }
        }

        /// The plan flags as given (`NasFlags`: defaults, checks, resume comparison).
        var flags: NasFlags {
            var flags = NasFlags()
            (flags.space, flags.strategy, flags.budget, flags.objectives, flags.constraints) = (space, strategy, budget, objectives?.list, constraints)
            (flags.reward, flags.fidelity, flags.supernet, flags.latency, flags.seed, flags.generation) = (reward, fidelity?.fidelity, fidelity?.supernet, latency, seed, generation)
            (flags.population, flags.sample, flags.mutation, flags.prefilter, flags.keepCheckpoints) = (population, sample, mutation, prefilter, keepCheckpoints)
            (flags.startup, flags.replay, flags.warmStart, flags.enqueue) = (startup, replay, warmStart, enqueue)
            return flags
        }

        /// The plan of a new run, with the calibration for the workers' thread count at batch 1 stored with it.
        func plan() throws -> NasPlan {
            let model = try latencyModel.load(threads: proxy.flags.task.threads, batch: 1)
            return try flags.plan(fidelity: try proxy.flags.fidelity(given: fidelity?.fidelity, fallback: .train), latencyModel: model, threads: proxy.flags.task.threads) { Console.note($0) }
        }

        func checkResume(_ name: String, store: String, configuration: RunConfiguration) throws {
            try flags.compare(with: configuration, proxy: proxy.flags, run: name, store: store)
        }

        func run() throws {
            let (store, record) = try storeOptions.execute(runOptions, check: checkResume) { _ in
                let plan = try plan()
                return RunConfiguration(seed: seed ?? 0, proxy: try proxy.flags.task(fidelity: plan.fidelity), plan: .nas(plan))
            } announce: { record, configuration, store in
                guard case .nas(let plan) = configuration.plan else { return }
                print("run \(record.name) (store \(store)): \(try plan.summary(halving: configuration.proxy.halving))")
            }
            print()
            try FrontierReport.lines(store: store, run: record, json: json).forEach { print($0) }
        }
    }
}
