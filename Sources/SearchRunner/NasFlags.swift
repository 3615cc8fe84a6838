import Architecture
import Cost
import Foundation
import Search
import Store

/// The plan flags of `efsearch nas` as given (nil where left out): a new run's plan with the documented defaults
/// (`plan`), the checks of their ranges (`validate`), and the comparison a `--resume` makes (`compare`).
public struct NasFlags: Sendable {
    public var space: String?
    public var strategy: StrategyKind?
    public var budget: Int?
    public var objectives: [Objective]?
    public var constraints: [Constraint] = []
    public var reward: Reward?
    public var fidelity: Fidelity?
    public var latency: LatencySource?
    public var seed: UInt64?
    public var generation: Int?
    public var population: Int?
    public var sample: Int?
    public var mutation: Double?
    public var prefilter: Prefilter?
    public var keepCheckpoints = false
    /// TPE and BO: random candidates before the model proposes.
    public var startup: Int?
    /// `--replay RUN`: answer the candidates from this run's stored results (implies `--fidelity replay`).
    public var replay: RunName?
    /// `--warm-start RUN`: the strategy first observes this run's finished candidates.
    public var warmStart: RunName?
    /// `--enqueue FILE`: candidates to evaluate first (`Enqueue`).
    public var enqueue: String?
    /// `--fidelity supernet:FILE`: the supernet file.
    public var supernet: String?

    public init() {}

    /// Refuses values out of range.
    public func validate() throws {
        if let budget, budget <= 0 { throw FlagError("--budget \(budget) must be greater than 0") }
        if let generation, generation < 1 { throw FlagError("--generation \(generation) must be at least 1") }
        if let population, population < 2 { throw FlagError("--population \(population) must be at least 2") }
        if let sample, sample < 1 { throw FlagError("--sample \(sample) must be at least 1") }
        if let mutation, !(mutation >= 0 && mutation <= 1) { throw FlagError("--mutation \(mutation) must be in [0, 1]") }
        if let startup, startup < 1 { throw FlagError("--startup \(startup) must be at least 1 (the model needs observations to start from)") }
        if startup != nil, let strategy, !strategy.isModelBased { throw FlagError("--startup goes with --strategy tpe or bo") }
    }

    /// The plan of a new run at `fidelity` (`ProxyFlags.fidelity`), with the space read once from `space` and
    /// `latencyModel` (the calibration that applies to the workers, if any) stored with it: the flags with their
    /// defaults (objectives accuracy,macs when training and macs,params on estimates; 4 candidates a round when
    /// training, 9 with successive halving, 1000 when estimating; latency predicted by the model unless `--latency`
    /// says otherwise, the roofline estimate without one), checked as a whole (`NasPlan.validate`). `note` hears
    /// which latency the run uses.
    public func plan(fidelity: Fidelity, latencyModel: LatencyModel?, threads: Int, note: (String) -> Void) throws -> NasPlan {
        let fidelity = replay != nil && self.fidelity == nil ? Fidelity.replay : fidelity
        let latency = self.latency ?? (latencyModel != nil ? .predicted : .estimate)
        if let latencyModel {
            note("latency: \(latency == .predicted ? "predicted" : latency.rawValue + ", and predicted beside it") by the calibration of \(latencyModel.createdAt.prefix(10)) (\(latencyModel.key))")
        } else if latency == .estimate {
            note("latency: roofline estimate (no calibration for \(threads) threads here; efsearch calibrate makes one)")
        }
        guard let space else { throw FlagError("--space is required (or --resume NAME)") }
        let objectives = self.objectives
            ?? (fidelity.scoresAccuracy ? [Objective(metric: .accuracy), Objective(metric: .macs)] : [Objective(metric: .macs), Objective(metric: .params)])
        var plan = NasPlan(
            space: try StoredSpace.read(path: space), strategy: strategy ?? .bo, budget: budget ?? 12, objectives: objectives,
            constraints: constraints, reward: reward, fidelity: fidelity, latency: latency,
            generation: generation ?? (fidelity == .train ? 4 : fidelity == .sh ? 9 : 1000), population: population ?? 8, sample: sample ?? 3,
            mutation: mutation ?? 0.1, latencyModel: latencyModel, keepCheckpoints: keepCheckpoints)
        plan.prefilter = prefilter
        plan.replay = replay?.text
        plan.warmStart = warmStart?.text
        plan.enqueue = try enqueue.map { try enqueuedEntries(path: $0, space: plan.space) }
        plan.supernet = supernet
        if let supernet { try SupernetScorer.check(supernet, space: plan.space) }
        if plan.strategy.isModelBased { plan.startup = startup ?? 10 } else if startup != nil { throw FlagError("--startup goes with --strategy tpe or bo") }
        try plan.validate()
        return plan
    }

    /// The entries of an `--enqueue` file, each checked to be a candidate of the space.
    func enqueuedEntries(path: String, space: StoredSpace) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw FlagError("--enqueue \(path): cannot read the file") }
        let entries = Enqueue.entries(text)
        guard !entries.isEmpty else { throw FlagError("--enqueue \(path): no candidates in the file (one preset or arch string per line)") }
        _ = try Enqueue.genotypes(text, file: path, space: try space.parse())
        return entries.map(\.text)
    }

    /// Refuses a resume of run `name` whose flags differ from its stored configuration: another kind of run,
    /// another space file (by SHA-256), or any plan value given again that differs from the stored one.
    public func compare(with configuration: RunConfiguration, proxy: ProxyFlags, run name: String, store: String) throws {
        guard case .nas(let stored) = configuration.plan else { throw configuration.wrongKind(run: name, store: store) }
        if let space {
            let given = StoredSpace(path: space, text: try SearchSpace.readText(path: space))
            if given.sha256 != stored.space.sha256 {
                throw RunError(store: store, run: name, message: "--space \(space) (sha256 \(given.shortHash)) differs from the run's stored space \(stored.space.path) (sha256 \(stored.space.shortHash)); a resumed run keeps its stored space (leave --space out, or start a new run)")
            }
        }
        var check = ResumeCheck(configuration, proxy: proxy, seed: seed)
        check.compare("--strategy", given: strategy, stored: stored.strategy)
        check.compare("--budget", given: budget, stored: stored.budget)
        check.compare("--objectives", given: objectives, stored: stored.objectives)
        check.compare("--constraint", given: constraints.isEmpty ? nil : constraints, stored: stored.constraints)
        check.compare("--reward", given: reward, stored: stored.reward)
        check.compare("--fidelity", given: fidelity, stored: stored.fidelity)
        check.compare("--latency", given: latency, stored: stored.latency)
        check.compare("--generation", given: generation, stored: stored.generation)
        check.compare("--population", given: population, stored: stored.population)
        check.compare("--sample", given: sample, stored: stored.sample)
        check.compare("--mutation", given: mutation, stored: stored.mutation)
        check.compare("--prefilter", given: prefilter, stored: stored.prefilter)
        check.compare("--startup", given: startup, stored: stored.startup)
        check.compare("--replay", given: replay?.text, stored: stored.replay)
        check.compare("--warm-start", given: warmStart?.text, stored: stored.warmStart)
        check.compare("--enqueue", given: try enqueue.map { try enqueuedEntries(path: $0, space: stored.space) }, stored: stored.enqueue)
        check.compare("--fidelity supernet:FILE", given: supernet, stored: stored.supernet)
        try check.verify(store: store, run: name)
    }
}
