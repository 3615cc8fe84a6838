import Architecture
import Cost
import Engine
import Foundation
import Metrics
import Search
import Store
import Training

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
        case .grid(let plan):
            let base = try plan.proxyNetwork()
            space = SearchSpace(name: "grid", base: base, stages: [], resolution: [base.resolution], width: [1], depth: [1], constraints: [])
        case .proxyCheck(let plan):
            space = try plan.space.parse()
        }
        scoring = Scoring(configuration.plan, space: space)
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
        case .tpe:
            return TPEStrategy(dimensions: dimensions, seed: configuration.seed, startup: plan.startup ?? 10, costs: { scoring.costs($0) })
        case .bo:
            let probe = record(space.dimensions.map { _ in 0 }, generation: 0)?.metrics ?? MetricValues()
            let problem = scoring.freeObjectives(measuresLatency: plan.latency == .measured, probe: probe) { [unowned self] genotype in
                self.record(genotype, generation: 0)?.metrics
            }
            return BayesianStrategy(dimensions: dimensions, seed: configuration.seed, startup: plan.startup ?? 10, problem: problem,
                                    costs: { scoring.costs($0) })
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
        if let entries = plan.enqueue {
            strategy = EnqueuedFirst(try Enqueue.genotypes(entries.joined(separator: "\n"), file: "(stored with the run)", space: space), then: strategy)
        }
        if let source = plan.warmStart {
            // An earlier search of the space seeds the strategy: it observes that run's finished candidates first.
            let record = try RunCatalog(store: store) { _ in }.warmStart(source, for: plan)
            let earlier = try store.candidates(runId: record.id!).filter { $0.status == .done || $0.status == .failed }
            strategy.observe(try earlier.map(observation))
            log("warm start: \(earlier.count) candidates of run \(source) observed")
        }
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
        // `--replay RUN`: the earlier run's results, by candidate key.
        let answers = try plan.replay.map { try ReplayAnswers(store: store, run: $0) }
        var missing = 0
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
            if plan.fidelity == .replay {
                missing += answers!.answer(&batch)
            } else {
                try score(&batch)
            }
            if let prefilter = plan.prefilter { applyPrefilter(prefilter, to: &batch, generation: generation) }
            if plan.fidelity == .estimate || plan.fidelity == .supernet {
                for index in batch.indices where batch[index].status != .failed {
                    batch[index].status = .done
                    batch[index].finishedAt = Date()
                }
            }
            let inserted = try store.insert(batch)
            created += batch.count
            switch plan.fidelity {
            case .estimate, .replay, .supernet:
                strategy.observe(try inserted.map(observation))  // already finished: no need to read them back
            case .train, .sh:
                try finish(generation: generation)
                strategy.observe(try observations(generation: generation))
            }
            let counts = try store.counts(runId: run.id!)
            log("generation \(generation + 1): \(created)/\(plan.budget) candidates (\(counts[.done, default: 0]) done, \(counts[.failed, default: 0]) failed\(counts[.pruned].map { ", \($0) pruned" } ?? ""))")
            generation += 1
        }
        if let answers, missing > 0 {
            log("replay: \(missing) candidates were not in run \(answers.source) and are stored as failed")
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

    /// Fills in the candidates' zero-cost scores and supernet scores (in the coordinator, before they are stored).
    /// At `--fidelity supernet:FILE` the supernet's score is the candidate's accuracy, and the candidate is done.
    func score(_ batch: inout [CandidateRecord]) throws {
        let proxies = proxiesToScore
        if !proxies.isEmpty {
            try configuration.proxy.engine.apply {
                for index in batch.indices {
                    let scores = try evaluator.zeroCostScores(try network(of: batch[index]), seed: batch[index].seed, proxies: proxies)
                    batch[index].synflow = scores.synflow
                    batch[index].naswot = scores.naswot
                }
            }
        }
        guard evaluator.supernet != nil else { return }
        for index in batch.indices where !batch[index].key.hasSuffix("/long") && !batch[index].key.hasSuffix("/reseeded") {
            let spec = try network(of: batch[index])
            do {
                guard let score = try evaluator.supernetScore(spec, name: batch[index].arch) else { continue }
                batch[index].supernet = score.evaluation.accuracy
                if configuration.fidelity == .supernet {
                    batch[index].accuracy = score.evaluation.accuracy
                    batch[index].top5 = score.evaluation.top5
                }
            } catch let error as UserInputError where configuration.fidelity == .supernet {
                // A candidate the supernet does not hold fails, with the reason; the run goes on.
                batch[index].status = .failed
                batch[index].reason = "\(error)"
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
                scoring.costs(candidate.metrics).map { (candidate.id!, $0) }
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
                    metrics: candidate.status == .done ? candidate.metrics : nil)
    }

    /// Marks the non-dominated feasible finished candidates.
    func updateFrontier() throws {
        let scored = try store.finishedMetrics(runId: run.id!).compactMap { row in scoring.costs(row.values).map { (row.id, $0) } }
        let indices = Pareto.frontier(scored.map(\.1))
        #if DEBUG
        // Invariant: no frontier member dominates another.
        for i in indices { for j in indices where i != j { assert(!Pareto.dominates(scored[i].1, scored[j].1), "frontier member dominated") } }
        #endif
        try store.setFrontier(runId: run.id!, ids: Set(indices.map { scored[$0].0 }))
    }
}
