import Architecture
import Cost
import Engine
import Foundation
import Search
import Store
import Training

/// The candidates' shared evaluation: cost model always, short training and timed forward passes on request.
final class CandidateEvaluator {
    let proxy: ProxyTask
    let latency: LatencySource
    /// The proxy dataset (for training, and for NASWOT's batch); image folders are decoded per training
    /// resolution, on first use.
    let datasetSpec: DatasetSpec
    /// Whether candidates are trained (training fidelities), not only estimated.
    let trains: Bool
    private var datasets: [Int: Dataset] = [:]
    /// Zero-cost scorers, one per loaded dataset (NASWOT's batch comes from the run's seed).
    private var scorers: [Int: ZeroCostScorer] = [:]
    let runSeed: UInt64
    let machine: MachineProfile
    let predictor: LatencyPredictor?
    /// The run's folder of files: kept checkpoints (`nas --keep-checkpoints`) and, under successive halving, where
    /// candidates wait between rungs (weights and optimizer state after rung k).
    let files: RunFiles?
    let keepsCheckpoints: Bool
    /// Successive halving's schedule (`--fidelity sh`).
    let halving: SuccessiveHalving?
    /// Rung states that could not be used (missing, unreadable or not the candidate's), each logged: those
    /// candidates were trained again from epoch 0.
    private(set) var restarts = 0
    var log: (String) -> Void = { _ in }
    /// Whether a trained candidate's result is also stored as an observation without successive halving (grid
    /// runs: their ranking reads the validation loss from it).
    let recordsObservations: Bool

    /// `machine` is the roofline for the latency estimates; the proxy dataset is loaded for training fidelity.
    init(configuration: RunConfiguration, machine: MachineProfile, files: RunFiles? = nil, keepsCheckpoints: Bool = false) throws {
        proxy = configuration.proxy
        self.files = files
        self.keepsCheckpoints = keepsCheckpoints && files != nil
        halving = configuration.fidelity == .sh ? configuration.proxy.halving : nil
        if configuration.fidelity == .sh && halving == nil {
            throw PlanError(field: "--fidelity sh", message: "the run's proxy task has no rungs (--rungs or --min-epochs/--max-epochs)")
        }
        if case .grid = configuration.plan { recordsObservations = true } else { recordsObservations = false }
        if case .nas(let plan) = configuration.plan {
            latency = plan.latency
            predictor = plan.latencyModel?.predictor
        } else {
            latency = .estimate
            predictor = nil
        }
        self.machine = machine
        runSeed = configuration.seed
        datasetSpec = try proxy.datasetSpec()
        trains = configuration.fidelity.trains
        // Built-in sets load now when training, so that a bad path stops the run before any candidate.
        if trains && datasetSpec.kind != .folder { datasets[0] = try datasetSpec.load() }
    }

    /// The dataset to train a network of `resolution` on.
    /// `subset` replaces the proxy task's (proxy-check settings).
    func dataset(resolution: Int, subset: Int? = nil) throws -> Dataset {
        let key = datasetKey(resolution: resolution) &+ (subset.map { ($0 &+ 1) << 20 } ?? 0)
        if let dataset = datasets[key] { return dataset }
        var spec = datasetSpec
        if let subset { spec.subset = subset }
        let dataset = try spec.load(resolution: resolution)
        datasets[key] = dataset
        return dataset
    }

    func datasetKey(resolution: Int) -> Int { datasetSpec.kind == .folder ? DatasetSpec.cachedSize(resolution: resolution) : 0 }

    /// Zero-cost scores of a candidate's untrained network (initialised from its training seed).
    func zeroCostScores(_ spec: NetworkSpec, seed: Int64, proxies: Set<ZeroCostProxy>) throws -> ZeroCostScores {
        guard !proxies.isEmpty else { return ZeroCostScores() }
        let dataset = try dataset(resolution: spec.resolution)
        let key = datasetKey(resolution: spec.resolution)
        var scorer = scorers[key] ?? ZeroCostScorer(dataset: dataset, batchSize: min(64, max(2, proxy.batch)), seed: runSeed)
        defer { scorers[key] = scorer }
        return try scorer.scores(spec, networkSeed: UInt64(bitPattern: seed), proxies: proxies)
    }

    /// The candidate's training seed: the run seed mixed with a hash of its key, so it does not depend on
    /// which worker trains it or when.
    static func seed(runSeed: UInt64, key: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash ^ (runSeed &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Fills the cost-model fields of a record.
    func estimate(_ network: Network, into record: inout CandidateRecord) {
        let summary = CostModel.summary(of: network, batch: 1, machine: machine, predictor: predictor)
        record.params = summary.params
        record.macs = summary.macs
        record.latencyEstimateMs = summary.latencySeconds * 1000
        record.latencyPredictedMs = summary.predictedSeconds.map { $0 * 1000 }
        record.memoryBytes = summary.peakMemoryBytes
    }

    /// The file that holds a candidate's weights after `rung` (the optimizer state sits beside it).
    func statePath(candidate id: Int64, rung: Int) throws -> URL? {
        try files?.rungState(candidate: id, rung: rung)
    }

    /// A training session that continues a candidate from the end of `rung - 1`. When the saved state is missing,
    /// unreadable or not this candidate's, says why (logged and counted by the caller, which trains from epoch 0:
    /// the same weights, since every epoch's randomness comes from (seed, epoch), at the cost of the time).
    func resumeState(_ record: CandidateRecord, spec: NetworkSpec, dataset: Dataset, config: TrainingConfig,
                     epoch: Int) throws -> Result<TrainingSession, TrainingStateProblem> {
        guard let id = record.id, let url = try statePath(candidate: id, rung: record.rung - 1) else {
            return .failure(TrainingStateProblem(reason: "the run has no folder for rung states"))
        }
        do {
            return .success(try TrainingSession(resuming: url, epoch: epoch, spec: spec, dataset: dataset, config: config, strict: true))
        } catch let problem as TrainingStateProblem {
            return .failure(problem)
        }
    }

    /// Trains (and times) the candidate when the fidelity asks for it. Under successive halving it trains the
    /// candidate's rung only (continuing from the saved state of the rung before; when that is missing, from the
    /// start, which gives the same weights because every epoch's randomness comes from (seed, epoch)) and returns
    /// the rung's observation.
    /// A dataset that cannot be read (a bad image folder) is thrown: it stops the run rather than failing every candidate.
    func evaluate(_ record: inout CandidateRecord, spec: NetworkSpec, setting: ProxySetting? = nil) throws -> ObservationRecord? {
        guard trains else {
            record.status = .done
            return nil
        }
        return try proxy.engine.apply { try train(&record, spec: spec, setting: setting) }
    }

    /// `evaluate`'s training, with the task's engine settings in effect.
    private func train(_ record: inout CandidateRecord, spec: NetworkSpec, setting: ProxySetting?) throws -> ObservationRecord? {
        record.machine = EngineConfiguration.current.machineDescription
        var spec = spec
        let dataset = try dataset(resolution: spec.resolution, subset: setting?.subset)
        do {
            spec.classes = dataset.classes
            var training = TrainingConfig()
            training.epochs = halving?.maxEpochs ?? setting?.epochs ?? proxy.epochs
            training.batch = proxy.batch
            training.learningRate = proxy.lr
            training.resolution = spec.resolution
            training.seed = UInt64(bitPattern: record.seed)
            let rung = halving == nil ? 0 : record.rung
            let endEpoch = halving?.rungs[rung] ?? training.epochs
            var startEpoch = halving?.startEpoch(rung: rung) ?? 0
            var resumed: TrainingSession?
            if startEpoch > 0 {
                switch try resumeState(record, spec: spec, dataset: dataset, config: training, epoch: startEpoch) {
                case .success(let state): resumed = state
                case .failure(let problem):
                    restarts += 1
                    log("note: candidate \(record.id.map(String.init) ?? "?"), rung \(rung): its saved state of rung \(rung - 1) \(problem.reason); training it again from epoch 0")
                }
            }
            if resumed == nil { startEpoch = 0 }
            let session = try resumed ?? TrainingSession(spec: spec, dataset: dataset, config: training, seed: UInt64(bitPattern: record.seed))
            let outcome = session.trainer.run(startEpoch: startEpoch, endEpoch: endEpoch)
            record.trainSeconds = (rung > 0 ? record.trainSeconds ?? 0 : 0) + outcome.trainSeconds
            guard outcome.status == .done, let validation = outcome.validation else {
                record.status = .failed
                record.reason = outcome.reason ?? "training failed"
                return nil
            }
            record.accuracy = validation.accuracy
            record.top5 = validation.top5
            var observation: ObservationRecord?
            if (halving != nil || recordsObservations), let id = record.id {
                observation = ObservationRecord(runId: record.runId, candidateId: id, rung: rung, epochs: endEpoch, accuracy: validation.accuracy,
                                                top5: validation.top5, loss: validation.loss, trainSeconds: outcome.trainSeconds)
            }
            if let halving, let id = record.id {
                if rung < halving.topRung, let files, let url = try statePath(candidate: id, rung: rung) {
                    try files.prepareFolder(for: url)
                    try session.save(to: url, metadata: ["candidate": "\(id)", "epoch": "\(endEpoch)"], optimizerEpoch: endEpoch)
                }
            }
            if keepsCheckpoints, let files, let id = record.id {
                let url = try files.checkpoint(candidate: id)
                try files.prepareFolder(for: url)
                try session.save(to: url, metadata: [
                    "candidate": "\(id)", "accuracy": "\(validation.accuracy)", "seed": "\(record.seed)", "dataset": proxy.dataset,
                    "epochs": "\(endEpoch)",
                ].merging(try dataset.evaluationPreprocessing(resolution: spec.resolution).metadata()) { _, new in new }, optimizerEpoch: nil)
                record.checkpoint = url.path
            }
            if latency == .measured && record.latencyMeasuredMs == nil { record.latencyMeasuredMs = measureLatency(session.model, resolution: spec.resolution) }
            record.status = .done
            return observation
        } catch {
            record.status = .failed
            record.reason = "\(error)"
            return nil
        }
    }

    /// Removes the saved rung states of finished candidates (they are needed only while a promotion may come);
    /// the folders go when nothing else is in them (kept checkpoints share the run's folder).
    func removeStates(of candidates: [CandidateRecord]) throws {
        guard let halving, let files else { return }
        for candidate in candidates {
            for rung in 0..<halving.topRung {
                guard let id = candidate.id, let url = try statePath(candidate: id, rung: rung) else { continue }
                try files.remove(url)
                try files.remove(URL(fileURLWithPath: OptimizerState.path(beside: url.path)))
            }
        }
        try files.removeEmptyFolders()
    }

    /// Median of timed eval-mode forward passes at batch 1.
    func measureLatency(_ model: EfficientNetModel, resolution: Int) -> Double {
        let x = Tensor(shape: [1, resolution, resolution, 3])
        for _ in 0..<3 { _ = model.forward(x, training: false) }
        var times: [Double] = []
        for _ in 0..<11 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = model.forward(x, training: false)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return times.sorted()[times.count / 2]
    }
}

/// Objectives, constraints and reward of a run, parsed once.
struct Scoring {
    var objectives: [Objective]
    var constraints: [Constraint]
    var reward: Reward?

    init(objectives: [String], constraints: [String], reward: String?, space: SearchSpace) throws {
        self.objectives = try objectives.map(Objective.init(parsing:))
        self.constraints = try constraints.map(Constraint.init(parsing:)) + space.constraints
        self.reward = try reward.map(Reward.init(parsing:))
    }

    func metrics(_ record: CandidateRecord) -> Metrics {
        Metrics(params: Double(record.params), macs: Double(record.macs), latencyEstimate: record.latencyEstimateMs,
                latencyMeasured: record.latencyMeasuredMs, latencyPredicted: record.latencyPredictedMs, memory: Double(record.memoryBytes),
                accuracy: record.accuracy, synflow: record.synflow, naswot: record.naswot)
    }

    /// The zero-cost proxies the objectives, constraints or reward name.
    var proxies: Set<ZeroCostProxy> {
        let metrics = objectives.map(\.metric) + constraints.map(\.metric) + (reward.map { [$0.metric] } ?? [])
        return Set(metrics.compactMap { ZeroCostProxy(rawValue: $0.rawValue) })
    }

    func feasible(_ metrics: Metrics) -> Bool { constraints.allSatisfy { $0.holds(metrics) } }

    /// Costs to minimise (the reward, when there is one, is one more objective to maximise).
    func costs(_ metrics: Metrics) -> [Double]? {
        guard feasible(metrics) else { return nil }
        var result: [Double] = []
        for objective in objectives {
            guard let cost = objective.cost(metrics) else { return nil }
            result.append(cost)
        }
        if let reward {
            guard let value = reward.value(metrics) else { return nil }
            result.append(-value)
        }
        return result
    }

    /// One number, higher is better (evolution): the reward, else the first objective.
    func fitness(_ metrics: Metrics) -> Double? {
        guard feasible(metrics) else { return nil }
        if let reward { return reward.value(metrics) }
        return objectives.first?.cost(metrics).map { -$0 }
    }
}

/// Runs a search: proposes generations with the strategy, stores them, evaluates them (with any workers that
/// join), feeds the results back, and keeps the frontier. Progress goes to a listener.
public final class SearchDriver {
    let store: any Store
    let run: RunRecord
    let configuration: RunConfiguration
    /// The search space (`nas`); for a grid, the proxy base with no choices.
    let space: SearchSpace
    let scoring: Scoring
    let evaluator: CandidateEvaluator
    let worker: String
    let grace: TimeInterval
    public var log: (String) -> Void

    /// Everything comes from the run's stored configuration (never from files that may have changed since).
    public init(store: any Store, run: RunRecord, configuration: RunConfiguration, grace: TimeInterval, machine: MachineProfile,
                log: @escaping (String) -> Void) throws {
        self.store = store
        self.run = run
        self.configuration = configuration
        self.grace = grace
        self.log = log
        switch configuration.plan {
        case .nas(let plan):
            space = try plan.space.parse()
            scoring = try Scoring(objectives: plan.objectives, constraints: plan.constraints, reward: plan.reward, space: space)
        case .grid(let plan):
            let base = try plan.proxyNetwork()
            space = SearchSpace(name: "grid", base: base, stages: [], resolution: [base.resolution], width: [1], depth: [1], constraints: [])
            scoring = try Scoring(objectives: plan.objectives, constraints: [], reward: nil, space: space)
        case .proxyCheck(let plan):
            space = try plan.space.parse()
            scoring = try Scoring(objectives: ["accuracy", "macs"], constraints: [], reward: nil, space: space)
        }
        var keepsCheckpoints = false
        if case .nas(let plan) = configuration.plan, plan.keepCheckpoints == true { keepsCheckpoints = true }
        evaluator = try CandidateEvaluator(configuration: configuration, machine: machine, files: try RunFiles(store: store, run: run),
                                           keepsCheckpoints: keepsCheckpoints)
        evaluator.log = log
        worker = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }

    func makeStrategy(_ plan: NasPlan) throws -> SearchStrategy {
        let dimensions = space.dimensions
        let scoring = self.scoring
        switch plan.strategy {
        case .grid: return GridStrategy(dimensions: dimensions)
        case .random: return RandomStrategy(dimensions: dimensions, seed: configuration.seed)
        case .sobol: return try SobolStrategy(dimensions: dimensions, seed: configuration.seed)
        case .evolution:
            return EvolutionStrategy(dimensions: dimensions, seed: configuration.seed, population: plan.population, sample: plan.sample,
                                     mutationProbability: plan.mutation, fitness: { scoring.fitness($0) })
        case .nsga2:
            return NSGA2Strategy(dimensions: dimensions, seed: configuration.seed, population: plan.population,
                                 mutationProbability: plan.mutation, costs: { scoring.costs($0) })
        }
    }

    /// A new record for a genotype, with its cost-model figures; nil when the genotype makes no valid network.
    func record(_ genotype: Genotype, generation: Int) -> CandidateRecord? {
        let spec = space.network(for: genotype)
        guard let network = try? spec.resolve() else { return nil }
        let key = SearchSpace.key(network)
        var record = CandidateRecord(
            runId: run.id!, key: key, generation: generation, genotype: GenotypeCoding.encode(genotype),
            arch: network.archString, width: spec.width, depth: spec.depth, resolution: spec.resolution,
            stem: network.stemChannels, head: network.headChannels,
            seed: Int64(bitPattern: CandidateEvaluator.seed(runSeed: configuration.seed, key: key)))
        evaluator.estimate(network, into: &record)
        return record
    }

    /// Runs the plan: the whole search or grid, or the rest of it after a resume.
    public func execute() throws {
        try namingTheStore {
            switch configuration.plan {
            case .nas(let plan): try search(plan)
            case .grid(let plan): try gridSearch(plan)
            case .proxyCheck(let plan): try proxyCheck(plan)
            }
        }
    }

    /// A stored value that does not read (a damaged genotype or coordinate column) is reported as the store's
    /// problem, naming it.
    func namingTheStore<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as GenotypeError {
            throw StoreError(location: store.location, message: "run \(run.name): a stored candidate cannot be read (\(error)); the store may be damaged")
        }
    }

    /// The whole search (or the rest of it, after a resume).
    func search(_ plan: NasPlan) throws {
        var strategy = try makeStrategy(plan)
        let existing = try store.candidates(runId: run.id!)
        var keys = Set<String>()
        var created = 0
        var generation = 0
        // Replay the stored generations: the strategy proposes them again from the same observations.
        let generations = Dictionary(grouping: existing, by: \.generation)
        for g in generations.keys.sorted() {
            let stored = generations[g]!.sorted { $0.id! < $1.id! }
            let replayed = strategy.propose(stored.count) { genotype in
                guard let record = record(genotype, generation: g), !keys.contains(record.key) else { return false }
                keys.insert(record.key)
                return true
            }
            if replayed.count != stored.count || Set(stored.map(\.key)).count != stored.count {
                log("note: the strategy did not replay generation \(g) exactly; continuing from the stored candidates")
            }
            for candidate in stored { keys.insert(candidate.key) }
            created += stored.count
            try finish(generation: g)
            strategy.observe(try observations(generation: g))
            generation = g + 1
        }
        while created < plan.budget {
            let count = min(plan.generation, plan.budget - created)
            var batch: [CandidateRecord] = []
            let proposals = strategy.propose(count) { genotype in
                guard let candidate = record(genotype, generation: generation), !keys.contains(candidate.key) else { return false }
                keys.insert(candidate.key)
                batch.append(candidate)
                return true
            }
            if proposals.isEmpty {
                log("the space has no new candidates left after \(created)")
                break
            }
            try score(&batch)
            if let prefilter = try plan.prefilter.map(Prefilter.init(parsing:)) { applyPrefilter(prefilter, to: &batch, generation: generation) }
            if plan.fidelity == .estimate {
                for index in batch.indices {
                    batch[index].status = .done
                    batch[index].finishedAt = Date()
                }
            }
            let inserted = try store.insert(batch)
            created += batch.count
            switch plan.fidelity {
            case .estimate:
                strategy.observe(try inserted.map(observation))  // already finished: no need to read them back
            case .train, .sh:
                try finish(generation: generation)
                strategy.observe(try observations(generation: generation))
            }
            let counts = try store.counts(runId: run.id!)
            log("generation \(generation + 1): \(created)/\(plan.budget) candidates (\(counts[.done, default: 0]) done, \(counts[.failed, default: 0]) failed\(counts[.pruned].map { ", \($0) pruned" } ?? ""))")
            generation += 1
        }
        try updateFrontier()
        try store.setRunStatus(run.id!, .done)
    }

    /// The zero-cost proxies every candidate gets: both when training (cheap beside it, and kept for proxy studies),
    /// else those the objectives, constraints or reward name.
    var proxiesToScore: Set<ZeroCostProxy> {
        var proxies = scoring.proxies
        if configuration.fidelity.trains { proxies.formUnion(ZeroCostProxy.allCases) }
        return proxies
    }

    /// Fills in the candidates' zero-cost scores (in the coordinator, before they are stored).
    func score(_ batch: inout [CandidateRecord]) throws {
        let proxies = proxiesToScore
        guard !proxies.isEmpty else { return }
        try configuration.proxy.engine.apply {
            for index in batch.indices {
                let scores = try evaluator.zeroCostScores(try network(of: batch[index]), seed: batch[index].seed, proxies: proxies)
                batch[index].synflow = scores.synflow
                batch[index].naswot = scores.naswot
            }
        }
    }

    /// Marks all but the generation's best `prefilter.kept(of:)` by the proxy as pruned (missing scores rank last).
    func applyPrefilter(_ prefilter: Prefilter, to batch: inout [CandidateRecord], generation: Int) {
        let value = { (candidate: CandidateRecord) in ZeroCostScores(synflow: candidate.synflow, naswot: candidate.naswot).value(prefilter.proxy) }
        let order = batch.indices.sorted { a, b in
            let (x, y) = (value(batch[a]) ?? -.infinity, value(batch[b]) ?? -.infinity)
            return x != y ? x > y : a < b
        }
        let kept = prefilter.kept(of: batch.count)
        for index in order.dropFirst(kept) {
            batch[index].status = .pruned
            batch[index].finishedAt = Date()
            batch[index].reason = "pre-filter: \(prefilter.proxy.rawValue) \(value(batch[index]).map { String(format: "%.3f", $0) } ?? "missing") is not among the best \(kept) of generation \(generation + 1)'s \(batch.count)"
        }
    }

    /// Works on the generation's pending candidates, then waits for those other workers hold; under successive
    /// halving, rung after rung until nobody is promoted.
    func finish(generation: Int) throws {
        while true {
            while try store.openCount(runId: run.id!, generation: generation) > 0 {
                if try workOne() { continue }
                Thread.sleep(forTimeInterval: 0.2)
            }
            guard let halving = evaluator.halving, try promote(generation: generation, halving: halving) > 0 else { break }
        }
        if evaluator.halving != nil { try evaluator.removeStates(of: try store.candidates(runId: run.id!, generation: generation)) }
    }

    /// Successive halving, rung by rung within a generation: once every candidate at the generation's highest
    /// rung K has finished, the best `halving.promoted(from:)` of those that entered it move on to rung K + 1:
    /// by non-dominated sorting and crowding distance on the run's objectives, over the feasible finished ones;
    /// in a grid, as `GridRanking` ranks them (by the rung's validation loss, then accuracy, fewer MACs, the older):
    /// the grid chooses the best point, and its points have about the same FLOPs by construction (on accuracy and
    /// MACs, the point with the fewest MACs would always be on the first front and always go on).
    /// The decision reads only stored results, so a resumed or repeated run promotes the same candidates.
    /// Returns how many moved.
    func promote(generation: Int, halving: SuccessiveHalving) throws -> Int {
        let members = try store.candidates(runId: run.id!, generation: generation)
        guard let highest = members.map(\.rung).max(), highest < halving.topRung else { return 0 }
        let entered = members.filter { $0.rung == highest }
        let count = halving.promoted(from: entered.count)
        let chosen: [Int64]
        if case .grid(let plan) = configuration.plan {
            let ids = Set(entered.map(\.id!))
            let losses = try plan.rankingLosses {
                GridRanking.losses(try store.observations(runId: run.id!).filter { ids.contains($0.candidateId) && $0.rung == highest })
            }
            var seen = Set<Int64>()  // a candidate with twins comes once per point
            chosen = try GridRanking.ranked(entered.filter { $0.status == .done && $0.accuracy != nil }, losses: losses)
                .map { $0.candidate.id! }.filter { seen.insert($0).inserted }.prefix(count).map { $0 }
        } else {
            let scored = entered.filter { $0.status == .done }.compactMap { candidate in
                scoring.costs(scoring.metrics(candidate)).map { (candidate.id!, $0) }
            }
            chosen = Pareto.ranking(scored.map(\.1)).prefix(count).map { scored[$0.index].0 }
        }
        guard !chosen.isEmpty else { return 0 }
        let moved = try store.promote(runId: run.id!, ids: chosen, from: highest)
        log("generation \(generation + 1): \(chosen.count) of \(entered.count) candidates at rung \(highest) (\(halving.rungs[highest]) epochs) go on to rung \(highest + 1) (\(halving.rungs[highest + 1]) epochs): \(chosen.map(String.init).joined(separator: ", "))")
        return moved
    }

    /// Claims and evaluates one candidate; false when there was none to claim.
    @discardableResult
    public func workOne() throws -> Bool {
        try namingTheStore { try claimAndEvaluate() }
    }

    func claimAndEvaluate() throws -> Bool {
        guard var candidate = try store.claim(runId: run.id!, worker: worker, grace: grace) else { return false }
        let heartbeat = Heartbeat(store: store, candidateId: candidate.id!, worker: worker, log: log)
        heartbeat.start()
        var observation: ObservationRecord?
        do {
            let setting = try CandidateNetworks(plan: configuration.plan, space: space).setting(of: candidate)
            observation = try evaluator.evaluate(&candidate, spec: try network(of: candidate), setting: setting)
        } catch let error as DatasetError {
            heartbeat.stop()
            throw error
        } catch {
            candidate.status = .failed
            candidate.reason = "\(error)"
        }
        heartbeat.stop()
        let figures = "\(String(format: "%.2fM", Double(candidate.macs) / 1e6)) MACs, \(String(format: "%.3fM", Double(candidate.params) / 1e6)) params"
        switch try store.complete(candidate, worker: worker, observation: observation) {
        case .stored:
            let accuracy = candidate.accuracy.map { String(format: "accuracy %.1f%%, ", 100 * $0) } ?? ""
            let rung = evaluator.halving.map { " (rung \(candidate.rung), \($0.rungs[candidate.rung]) epochs)" } ?? ""
            log("candidate \(candidate.id!) \(candidate.status.rawValue)\(rung): \(accuracy)\(figures)\(candidate.reason.map { " (\($0))" } ?? "")")
        case .lostClaim(let holder, let status):
            log("candidate \(candidate.id!): this worker's result was not stored: the candidate is \(status.rawValue)\(holder.map { " with worker \($0)" } ?? "") (this worker's heartbeats stopped for more than --grace \(grace) s, and another took it over)")
        }
        return true
    }

    /// The network a stored candidate describes.
    func network(of candidate: CandidateRecord) throws -> NetworkSpec {
        try CandidateNetworks(plan: configuration.plan, space: space).spec(of: candidate)
    }

    func observations(generation: Int) throws -> [Observation] {
        try store.candidates(runId: run.id!, generation: generation).map(observation)
    }

    func observation(_ candidate: CandidateRecord) throws -> Observation {
        Observation(id: Int(candidate.id!), genotype: try GenotypeCoding.decode(candidate.genotype),
                    metrics: candidate.status == .done ? scoring.metrics(candidate) : nil)
    }

    // MARK: proxy-check

    /// Samples the candidates (seeded random draws of the space) and stores each twice, at the short setting
    /// (generation 0) and the long one (generation 1), both with the same training seed; then trains them all.
    func proxyCheck(_ plan: ProxyCheckPlan) throws {
        if try store.candidates(runId: run.id!).isEmpty {
            var strategy = RandomStrategy(dimensions: space.dimensions, seed: configuration.seed)
            var keys = Set<String>()
            var bases: [CandidateRecord] = []
            _ = strategy.propose(plan.sample) { genotype in
                guard let base = record(genotype, generation: 0), keys.insert(base.key).inserted else { return false }
                bases.append(base)
                return true
            }
            var records: [CandidateRecord] = []
            for (generation, name) in ["short", "long"].enumerated() {
                for base in bases {
                    var record = base
                    record.key = base.key + "/" + name
                    record.generation = generation
                    record.extra = ProxyCheckCoding.encode(setting: name)
                    let spec = try network(of: record)
                    record.resolution = spec.resolution
                    evaluator.estimate(try spec.resolve(), into: &record)
                    records.append(record)
                }
            }
            try score(&records)
            try store.insert(records)
            log("proxy-check: \(bases.count) candidates, each at \(plan.short) and at \(plan.long)")
        }
        try finish(generation: 0)
        try finish(generation: 1)
        try store.setRunStatus(run.id!, .done)
    }

    // MARK: grid --phi

    func gridMember(_ point: GridPoint, plan: GridPlan) -> NetworkSpec {
        CandidateNetworks.gridMember(point, base: space.base, phi: plan.phi)
    }

    /// Every (alpha, beta, gamma) point of the plan, realised, stored and evaluated.
    func gridSearch(_ plan: GridPlan) throws {
        if try store.candidates(runId: run.id!).isEmpty {
            let baseMACs = Double(CostModel.summary(of: try space.base.resolve()).macs)
            var records: [CandidateRecord] = []
            var keys = Set<String>()
            var points: [GridPoint] = []
            var networks: [String: Int] = [:]
            var twins = 0
            for var point in plan.points {
                let spec = gridMember(point, plan: plan)
                guard let network = try? spec.resolve() else {
                    log("grid: alpha \(point.alpha), beta \(point.beta), gamma \(point.gamma) makes no valid network; skipped")
                    continue
                }
                let key = SearchSpace.key(network) + "/a\(point.alpha)b\(point.beta)g\(point.gamma)"
                guard keys.insert(key).inserted else { continue }
                // A point whose proxy network an earlier point already has is trained once, with that point.
                if let index = networks[SearchSpace.key(network)] {
                    point.flopsRatio = points[index].flopsRatio
                    points[index].twins = (points[index].twins ?? []) + [point]
                    twins += 1
                    continue
                }
                networks[SearchSpace.key(network)] = records.count
                // Common random numbers: every point trains with the same seed (batch order, crops, flips), so that
                // the points differ by their networks and not by their draws.
                var record = CandidateRecord(
                    runId: run.id!, key: key, generation: 0, genotype: GenotypeCoding.encode([]), arch: network.archString, width: spec.width,
                    depth: spec.depth, resolution: spec.resolution, stem: network.stemChannels, head: network.headChannels,
                    seed: Int64(bitPattern: CandidateEvaluator.seed(runSeed: configuration.seed, key: "grid")))
                evaluator.estimate(network, into: &record)
                point.flopsRatio = Double(record.macs) / baseMACs
                points.append(point)
                if plan.fidelity == .estimate {
                    record.status = .done
                    record.finishedAt = Date()
                }
                records.append(record)
            }
            for index in records.indices { records[index].extra = try GridPointCoding.encode(points[index]) }
            try score(&records)
            try store.insert(records)
            log("grid: \(records.count + twins) (alpha, beta, gamma) points\(twins > 0 ? ", \(records.count) distinct proxy networks (\(twins) points share one with an earlier point and are trained with it)" : "")")
        }
        try finish(generation: 0)
        try updateFrontier()
        try store.setRunStatus(run.id!, .done)
    }

    /// Marks the non-dominated feasible finished candidates.
    func updateFrontier() throws {
        let scored = try store.finishedMetrics(runId: run.id!).compactMap { row in
            let metrics = Metrics(params: Double(row.params), macs: Double(row.macs), latencyEstimate: row.latencyEstimateMs,
                                  latencyMeasured: row.latencyMeasuredMs, latencyPredicted: row.latencyPredictedMs, memory: Double(row.memoryBytes),
                                  accuracy: row.accuracy, synflow: row.synflow, naswot: row.naswot)
            return scoring.costs(metrics).map { (row.id, $0) }
        }
        let indices = Pareto.frontier(scored.map(\.1))
        #if DEBUG
        // Invariant: no frontier member dominates another.
        for i in indices { for j in indices where i != j { assert(!Pareto.dominates(scored[i].1, scored[j].1), "frontier member dominated") } }
        #endif
        try store.setFrontier(runId: run.id!, ids: Set(indices.map { scored[$0].0 }))
    }
}

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
        guard let setting = plan.setting(name) else { throw GenotypeError(text: name, message: "expected the setting short or long") }
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

/// Sends heartbeats for a candidate from a background thread while it is evaluated. A failed heartbeat is
/// retried on the next beat; failures are reported (the first, then every tenth), and so is a lost claim.
final class Heartbeat: @unchecked Sendable {
    let store: any Store, candidateId: Int64, worker: String
    let log: (String) -> Void
    /// Seconds between beats.
    let interval: Double
    private let stopped = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    init(store: any Store, candidateId: Int64, worker: String, interval: Double = 2, log: @escaping (String) -> Void) {
        self.store = store
        self.candidateId = candidateId
        self.worker = worker
        self.interval = interval
        self.log = log
    }

    func start() {
        Thread {
            var failures = 0
            var claimLost = false
            while self.stopped.wait(timeout: .now() + self.interval) == .timedOut {
                do {
                    let held = try self.store.heartbeat(candidateId: self.candidateId, worker: self.worker)
                    if failures > 0 { self.log("heartbeat for candidate \(self.candidateId) works again after \(failures) failures") }
                    failures = 0
                    if !held && !claimLost {
                        claimLost = true
                        self.log("candidate \(self.candidateId): another worker has taken it over; this worker's result will not be stored")
                    }
                } catch {
                    failures += 1
                    if failures == 1 || failures % 10 == 0 {
                        self.log("heartbeat for candidate \(self.candidateId) failed (\(failures) in a row; retrying every \(self.interval) s): \(error)")
                    }
                }
            }
            self.done.signal()
        }.start()
    }

    func stop() {
        stopped.signal()
        done.wait()
    }
}
