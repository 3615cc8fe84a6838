import Architecture
import Cost
import Engine
import Foundation
import Search
import Store
import Training

/// Everything that defines a run: stored with it, so that `--resume` and workers use the same settings.
public struct SearchConfig: Codable, Sendable {
    public var kind: String = "nas"
    public var space: String
    public var strategy: String
    public var budget: Int
    public var objectives: [String]
    public var constraints: [String]
    public var reward: String?
    public var fidelity: String
    public var latency: String = "estimate"
    public var seed: UInt64
    public var generation: Int
    public var population: Int
    public var sample: Int
    public var mutation: Double
    // The proxy task for --fidelity train.
    public var dataset: String
    public var subset: Int?
    public var epochs: Int
    public var batch: Int
    public var lr: Float
    public var threads: Int
    /// `grid --phi`: the base (a preset) shrunk to the proxy, and phi.
    public var gridBase: String?
    public var proxyWidth: Double?
    public var proxyDepth: Double?
    public var proxyResolution: Int?
    public var phi: Double?

    public init(kind: String = "nas", space: String, strategy: String, budget: Int, objectives: [String], constraints: [String],
                reward: String?, fidelity: String, latency: String = "estimate", seed: UInt64, generation: Int, population: Int,
                sample: Int, mutation: Double, dataset: String, subset: Int?, epochs: Int, batch: Int, lr: Float, threads: Int,
                gridBase: String? = nil, proxyWidth: Double? = nil, proxyDepth: Double? = nil, proxyResolution: Int? = nil, phi: Double? = nil) {
        self.kind = kind
        self.space = space
        self.strategy = strategy
        self.budget = budget
        self.objectives = objectives
        self.constraints = constraints
        self.reward = reward
        self.fidelity = fidelity
        self.latency = latency
        self.seed = seed
        self.generation = generation
        self.population = population
        self.sample = sample
        self.mutation = mutation
        self.dataset = dataset
        self.subset = subset
        self.epochs = epochs
        self.batch = batch
        self.lr = lr
        self.threads = threads
        self.gridBase = gridBase
        self.proxyWidth = proxyWidth
        self.proxyDepth = proxyDepth
        self.proxyResolution = proxyResolution
        self.phi = phi
    }
}

/// The coordinates of a `grid --phi` candidate, stored in its `extra` column.
public struct GridPoint: Codable, Sendable {
    public var alpha: Double
    public var beta: Double
    public var gamma: Double
    public var flopsRatio: Double?

    public init(alpha: Double, beta: Double, gamma: Double, flopsRatio: Double? = nil) {
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.flopsRatio = flopsRatio
    }
}

/// The candidates' shared evaluation: cost model always, short training and timed forward passes on request.
final class CandidateEvaluator {
    let config: SearchConfig
    let dataset: Dataset?
    let machine: MachineProfile

    /// `machine` is the roofline for the latency estimates.
    init(config: SearchConfig, machine: MachineProfile) throws {
        self.config = config
        self.machine = machine
        if config.fidelity == "train" {
            var spec = try DatasetSpec(parsing: config.dataset)
            spec.subset = config.subset
            dataset = try spec.load()
        } else {
            dataset = nil
        }
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
        let summary = CostModel.summary(of: network, batch: 1, machine: machine)
        record.params = summary.params
        record.macs = summary.macs
        record.latencyEstimateMs = summary.latencySeconds * 1000
        record.memoryBytes = summary.peakMemoryBytes
    }

    /// Trains (and times) the candidate when the fidelity asks for it.
    func evaluate(_ record: inout CandidateRecord, spec: NetworkSpec) {
        guard let dataset else {
            record.status = "done"
            return
        }
        Parallel.setThreads(config.threads)
        var spec = spec
        spec.classes = dataset.classes
        do {
            let network = try spec.resolve()
            let model = EfficientNetModel(network)
            model.initialize(seed: UInt64(bitPattern: record.seed))
            var training = TrainingConfig()
            training.epochs = config.epochs
            training.batch = config.batch
            training.learningRate = config.lr
            training.resolution = spec.resolution
            training.seed = UInt64(bitPattern: record.seed)
            let trainer = Trainer(model: model, spec: spec, dataset: dataset, config: training)
            let outcome = trainer.run()
            record.trainSeconds = outcome.trainSeconds
            guard outcome.status == "done", let validation = outcome.validation else {
                record.status = "failed"
                record.reason = outcome.reason ?? "training failed"
                return
            }
            record.accuracy = validation.accuracy
            record.top5 = validation.top5
            if config.latency == "measured" { record.latencyMeasuredMs = measureLatency(model, resolution: spec.resolution) }
            record.status = "done"
        } catch {
            record.status = "failed"
            record.reason = "\(error)"
        }
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

    init(config: SearchConfig, space: SearchSpace) throws {
        objectives = try config.objectives.map(Objective.init(parsing:))
        constraints = try config.constraints.map(Constraint.init(parsing:)) + space.constraints
        reward = try config.reward.map(Reward.init(parsing:))
    }

    func metrics(_ record: CandidateRecord) -> Metrics {
        Metrics(params: Double(record.params), macs: Double(record.macs), latencyEstimate: record.latencyEstimateMs,
                latencyMeasured: record.latencyMeasuredMs, memory: Double(record.memoryBytes), accuracy: record.accuracy)
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
    let store: Store
    let run: RunRecord
    let config: SearchConfig
    /// The search space (`nas`); grid runs have none.
    let space: SearchSpace
    let scoring: Scoring
    let evaluator: CandidateEvaluator
    let worker: String
    let grace: TimeInterval
    public var log: (String) -> Void

    public init(store: Store, run: RunRecord, grace: TimeInterval, machine: MachineProfile, log: @escaping (String) -> Void) throws {
        self.store = store
        self.run = run
        self.grace = grace
        self.log = log
        config = try JSONDecoder().decode(SearchConfig.self, from: Data(run.config.utf8))
        if config.kind == "grid" {
            space = SearchSpace(name: "grid", base: try SearchDriver.gridProxy(config), stages: [], resolution: [config.proxyResolution ?? 32],
                                width: [1], depth: [1], constraints: [])
        } else {
            space = try SearchSpace.load(path: config.space)
        }
        scoring = try Scoring(config: config, space: space)
        evaluator = try CandidateEvaluator(config: config, machine: machine)
        worker = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }

    func makeStrategy() throws -> SearchStrategy {
        let dimensions = space.dimensions
        switch StrategyKind(rawValue: config.strategy)! {
        case .grid: return GridStrategy(dimensions: dimensions)
        case .random: return RandomStrategy(dimensions: dimensions, seed: config.seed)
        case .sobol: return try SobolStrategy(dimensions: dimensions, seed: config.seed)
        case .evolution:
            let scoring = self.scoring
            return EvolutionStrategy(dimensions: dimensions, seed: config.seed, population: config.population, sample: config.sample,
                                     mutationProbability: config.mutation, fitness: { scoring.fitness($0) })
        case .nsga2:
            let scoring = self.scoring
            return NSGA2Strategy(dimensions: dimensions, seed: config.seed, population: config.population,
                                 mutationProbability: config.mutation, costs: { scoring.costs($0) })
        }
    }

    /// A new record for a genotype, with its cost-model figures.
    func record(_ genotype: Genotype, generation: Int) -> CandidateRecord? {
        let spec = space.network(for: genotype)
        guard let network = try? spec.resolve() else { return nil }
        let key = SearchSpace.key(network)
        var record = CandidateRecord(
            runId: run.id!, key: key, generation: generation, genotype: "[" + genotype.map(String.init).joined(separator: ",") + "]",
            arch: network.archString, width: spec.width, depth: spec.depth, resolution: spec.resolution,
            stem: network.stemChannels, head: network.headChannels,
            seed: Int64(bitPattern: CandidateEvaluator.seed(runSeed: config.seed, key: key)))
        evaluator.estimate(network, into: &record)
        return record
    }

    /// The whole search (or the rest of it, after a resume).
    public func search() throws {
        var strategy = try makeStrategy()
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
        while created < config.budget {
            let count = min(config.generation, config.budget - created)
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
            if config.fidelity == "estimate" {
                for index in batch.indices {
                    batch[index].status = "done"
                    batch[index].finishedAt = Date()
                }
            }
            let inserted = try store.insert(batch)
            created += batch.count
            if config.fidelity == "estimate" {
                strategy.observe(inserted.map(observation))  // already finished: no need to read them back
            } else {
                try finish(generation: generation)
                strategy.observe(try observations(generation: generation))
            }
            let counts = try store.counts(runId: run.id!)
            log("generation \(generation + 1): \(created)/\(config.budget) candidates (\(counts["done", default: 0]) done, \(counts["failed", default: 0]) failed)")
            generation += 1
        }
        try updateFrontier()
        try store.setRunStatus(run.id!, "done")
    }

    /// Works on the generation's pending candidates, then waits for those other workers hold.
    func finish(generation: Int) throws {
        while try store.openCount(runId: run.id!, generation: generation) > 0 {
            if try workOne() { continue }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Claims and evaluates one candidate; false when there was none to claim.
    @discardableResult
    public func workOne() throws -> Bool {
        guard var candidate = try store.claim(runId: run.id!, worker: worker, grace: grace) else { return false }
        let spec: NetworkSpec?
        if config.kind == "grid" {
            spec = candidate.extra.flatMap { try? JSONDecoder().decode(GridPoint.self, from: Data($0.utf8)) }.map(gridMember)
        } else {
            let genotype = SearchDriver.genotype(candidate.genotype)
            spec = genotype.count == space.dimensions.count ? space.network(for: genotype) : nil
        }
        let heartbeat = Heartbeat(store: store, candidateId: candidate.id!, worker: worker)
        heartbeat.start()
        if let spec {
            evaluator.evaluate(&candidate, spec: spec)
        } else {
            candidate.status = "failed"
            candidate.reason = "its genotype does not fit the search space"
        }
        heartbeat.stop()
        try store.complete(candidate, worker: worker)
        let accuracy = candidate.accuracy.map { String(format: "accuracy %.1f%%, ", 100 * $0) } ?? ""
        log("candidate \(candidate.id!) \(candidate.status): \(accuracy)\(String(format: "%.2fM", Double(candidate.macs) / 1e6)) MACs, \(String(format: "%.3fM", Double(candidate.params) / 1e6)) params\(candidate.reason.map { " (\($0))" } ?? "")")
        return true
    }

    func observations(generation: Int) throws -> [Observation] {
        try store.candidates(runId: run.id!, generation: generation).map(observation)
    }

    /// A stored genotype, `[1,0,2]`.
    static func genotype(_ text: String) -> Genotype {
        text.dropFirst().dropLast().split(separator: ",").compactMap { Int($0) }
    }

    func observation(_ candidate: CandidateRecord) -> Observation {
        let genotype = SearchDriver.genotype(candidate.genotype)
        return Observation(id: Int(candidate.id!), genotype: genotype, metrics: candidate.status == "done" ? scoring.metrics(candidate) : nil)
    }

    // MARK: grid --phi

    /// The base network shrunk to the proxy (width, depth and resolution that fit this machine).
    public static func gridProxy(_ config: SearchConfig) throws -> NetworkSpec {
        var base = try Presets.named(config.gridBase ?? "efficientnet-b0").spec
        base.width *= config.proxyWidth ?? 1
        base.depth *= config.proxyDepth ?? 1
        base.resolution = config.proxyResolution ?? base.resolution
        return base
    }

    func gridMember(_ point: GridPoint) -> NetworkSpec {
        CompoundScaling(alpha: point.alpha, beta: point.beta, gamma: point.gamma).member(of: space.base, phi: config.phi ?? 1)
    }

    /// Every (alpha, beta, gamma) on the grid within the tolerance, realised, stored and short-trained.
    public func gridSearch(points: [GridPoint]) throws {
        if try store.candidates(runId: run.id!).isEmpty {
            let baseMACs = Double(CostModel.summary(of: try space.base.resolve()).macs)
            var records: [CandidateRecord] = []
            var keys = Set<String>()
            for var point in points {
                let spec = gridMember(point)
                guard let network = try? spec.resolve() else { continue }
                let key = SearchSpace.key(network) + "/a\(point.alpha)b\(point.beta)g\(point.gamma)"
                guard keys.insert(key).inserted else { continue }
                var record = CandidateRecord(
                    runId: run.id!, key: key, generation: 0, genotype: "[]", arch: network.archString, width: spec.width, depth: spec.depth,
                    resolution: spec.resolution, stem: network.stemChannels, head: network.headChannels,
                    seed: Int64(bitPattern: CandidateEvaluator.seed(runSeed: config.seed, key: key)))
                evaluator.estimate(network, into: &record)
                point.flopsRatio = Double(record.macs) / baseMACs
                record.extra = String(decoding: try JSONEncoder().encode(point), as: UTF8.self)
                if config.fidelity == "estimate" { record.status = "done" }
                records.append(record)
            }
            try store.insert(records)
            log("grid: \(records.count) (alpha, beta, gamma) points")
        }
        try finish(generation: 0)
        try updateFrontier()
        try store.setRunStatus(run.id!, "done")
    }

    /// Marks the non-dominated feasible finished candidates.
    func updateFrontier() throws {
        let scored = try store.finishedMetrics(runId: run.id!).compactMap { row in
            let metrics = Metrics(params: Double(row.params), macs: Double(row.macs), latencyEstimate: row.latencyEstimateMs,
                                  latencyMeasured: row.latencyMeasuredMs, memory: Double(row.memoryBytes), accuracy: row.accuracy)
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

/// Sends heartbeats for a candidate from a background thread while it is evaluated.
final class Heartbeat: @unchecked Sendable {
    let store: Store, candidateId: Int64, worker: String
    private let stopped = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    init(store: Store, candidateId: Int64, worker: String) {
        self.store = store
        self.candidateId = candidateId
        self.worker = worker
    }

    func start() {
        Thread {
            while self.stopped.wait(timeout: .now() + 2) == .timedOut {
                try? self.store.heartbeat(candidateId: self.candidateId, worker: self.worker)
            }
            self.done.signal()
        }.start()
    }

    func stop() {
        stopped.signal()
        done.wait()
    }
}
