import Architecture
import Cost
import Engine
import Foundation
import Latency
import Search
import Store
import Supernet
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
    /// The supernet that scores candidates (`--fidelity supernet:FILE`, `proxy-check --supernet FILE`), read once.
    let supernet: SupernetScorer?

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
        switch configuration.plan {
        case .nas(let plan): supernet = try plan.supernet.map { try SupernetScorer(path: $0) }
        case .proxyCheck(let plan): supernet = try plan.supernet.map { try SupernetScorer(path: $0) }
        case .grid: supernet = nil
        }
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

    /// The candidate's accuracy with the supernet's weights, on the proxy dataset's validation split (nil without a supernet).
    func supernetScore(_ spec: NetworkSpec, name: String) throws -> SupernetScore? {
        guard let supernet else { return nil }
        var spec = spec
        let dataset = try dataset(resolution: spec.resolution)
        spec.classes = dataset.classes
        return try proxy.engine.apply { try supernet.score(spec, name: name, dataset: dataset) }
    }

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
                try session.saveForInference(to: url, dataset: dataset, metadata: [
                    "candidate": "\(id)", "accuracy": "\(validation.accuracy)", "seed": "\(record.seed)", "dataset": proxy.dataset.description,
                    "epochs": "\(endEpoch)",
                ])
                record.checkpoint = url.path
            }
            if latency == .measured && record.latencyMeasuredMs == nil { record.latencyMeasuredMs = measureLatency(session.model) }
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

    /// The median of 11 timed eval-mode forward passes at batch 1 after 3 untimed ones, timed as `efsearch bench`
    /// times (`EngineBench`).
    func measureLatency(_ model: EfficientNetModel) -> Double {
        (try? EngineBench(mode: .inference, batch: 1, warmup: 3, runs: 10, rounds: 3).run(model).median) ?? .nan
    }
}
