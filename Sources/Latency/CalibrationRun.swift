import Architecture
import Cost
import Engine
import Foundation
import Statistics

/// Progress of long work: `(done, total, detail)`, in units of the work (networks timed, rounds).
public typealias ProgressReport = (_ done: Double, _ total: Double, _ detail: String) -> Void

/// How `efsearch calibrate` times and fits: the procedure, apart from the command line that sets it.
public struct CalibrationSettings: Sendable {
    public var threads: Int
    public var batch = 1
    /// Time to spend drawing and timing networks.
    public var budgetSeconds = 180.0
    public var seed: UInt64 = 0
    /// Timed passes per network per round, the same to calibrate and to check.
    public var runs = 10
    /// Each series of timed passes lasts at least this long.
    public var seriesSeconds = 0.1
    /// Rounds over all the networks (nil: 3 to calibrate, 10 to check).
    public var rounds: Int?
    /// The share of calibration networks drawn from the built-in families.
    public var familyShare = 0.25
    /// Networks of search spaces (`SearchSpace.calibrationPool`) and the share of calibration networks taken from them.
    public var spaceNetworks: [Network] = []
    public var spaceShare = 0.12
    /// A model made elsewhere to adapt to this machine (`calibrate --from`, `Calibration.transfer`) instead of
    /// fitting every unit anew.
    public var source: LatencyModel?

    public init(threads: Int) { self.threads = threads }

    public init(threads: Int, batch: Int, budgetSeconds: Double, seed: UInt64, runs: Int, seriesSeconds: Double, rounds: Int?, familyShare: Double) {
        (self.threads, self.batch, self.budgetSeconds, self.seed) = (threads, batch, budgetSeconds, seed)
        (self.runs, self.seriesSeconds, self.rounds, self.familyShare) = (runs, seriesSeconds, rounds, familyShare)
    }

    /// Refuses settings out of range, naming the flag that sets each.
    public func validate() throws {
        func fail(_ message: String) -> CalibrationError { CalibrationError(file: nil, message: message) }
        if threads < 1 { throw fail("--threads \(threads) must be at least 1") }
        if batch < 1 { throw fail("--batch \(batch) must be at least 1") }
        if !(budgetSeconds > 0) { throw fail("--budget-seconds \(canonicalNumber(budgetSeconds)) must be greater than 0") }
        if runs < 1 { throw fail("--runs \(runs) must be at least 1") }
        if !(seriesSeconds >= 0 && seriesSeconds <= 60) { throw fail("--series-seconds \(canonicalNumber(seriesSeconds)) must be between 0 and 60") }
        if !(familyShare >= 0 && familyShare <= 1) { throw fail("--family-share \(canonicalNumber(familyShare)) must be between 0 and 1") }
        if !(spaceShare >= 0 && spaceShare <= 1) { throw fail("--space-share \(canonicalNumber(spaceShare)) must be between 0 and 1") }
        if !(familyShare + spaceShare <= 1) {
            throw fail("--family-share \(canonicalNumber(familyShare)) and --space-share \(canonicalNumber(spaceShare)) must add up to at most 1")
        }
        if let rounds, rounds < 1 { throw fail("--rounds \(rounds) must be at least 1") }
    }

    /// These settings with `change` made.
    public func with(_ change: (inout CalibrationSettings) -> Void) -> CalibrationSettings {
        var copy = self
        change(&copy)
        return copy
    }

    /// The engine's settings in effect, with this calibration's threads.
    public var engine: EngineConfiguration { EngineConfiguration.current.with { $0.threads = threads } }
}

/// A calibration's outcome: the model, the timed units and blocks, and each network's whole-pass time.
public struct CalibrationOutcome {
    public var model: LatencyModel
    public var samples: CalibrationSamples
    public var passes: [(network: Network, seconds: Double)]

    /// The samples and the whole passes as CSV (`--samples`): a pass's row holds the network (arch string;
    /// resolution, stem, head, classes and activation) and its time.
    public var samplesCSV: String {
        let passes = passes.map { network, seconds in
            "pass,\"\(network.archString)\",network,resolution=\(network.resolution) stem=\(network.stemChannels) head=\(network.headChannels) "
                + "classes=\(network.classes) activation=\(network.activation.rawValue),\(seconds)"
        }
        return ([CalibrationSamples.csvHeader] + samples.csvLines + passes).joined(separator: "\n") + "\n"
    }
}

extension Calibration {
    /// Times seeded random networks (all four block types, kernels 3-7, 64-384 px; `familyShare` of them members
    /// of the built-in families, `spaceShare` networks of search spaces) block by block beside a reference network, and fits every unit and then whole
    /// passes. The engine runs with `settings.threads` threads.
    public static func run(_ settings: CalibrationSettings, key: CalibrationKey, note: (String) -> Void = { _ in },
                           progress: ProgressReport? = nil) throws -> CalibrationOutcome {
        try settings.engine.apply { try timeAndFit(settings, key: key, note: note, progress: progress) }
    }

    private static func timeAndFit(_ settings: CalibrationSettings, key: CalibrationKey, note: (String) -> Void,
                                   progress: ProgressReport?) throws -> CalibrationOutcome {
        let batch = settings.batch, budget = settings.budgetSeconds
        // The family's share is of the networks not drawn from the spaces.
        let familyShare = settings.spaceShare < 1 ? settings.familyShare / (1 - settings.spaceShare) : 0
        var networks = RandomNetworks(seed: settings.seed, resolutions: 64...384, familyShare: familyShare, pool: settings.spaceNetworks,
                                      poolShare: settings.spaceShare)
        // As many plain passes as a check times (`runs`), so that both time a network alike: with 4 here and 10
        // in the check, the relative times came out 5% lower than the check's.
        let rounds = settings.rounds ?? 3
        let timer = try NetworkTimer(batch: batch, warmup: 2, runs: settings.runs, profiledRuns: 4, rounds: rounds, minimumSeconds: settings.seriesSeconds)
        let fusedExpansions = InferenceKernels.fusesExpansions
        let start = Date()
        // First the networks: drawn and warmed up until their rounds fill the budget, and every unit has
        // enough samples to fit (at most four budgets and 10 s).
        var prepared: [NetworkTimer.Prepared] = []
        var roundSeconds = 0.0
        var counts: [LatencyUnit: Int] = [:]
        let needed = [LatencyUnit.stem, .head, .classifier, .projection, .dense, .depthwise3, .depthwise5, .depthwise7, .squeezeExcite,
                      fusedExpansions ? .expansion : .pointwise]
        func enough() -> Bool {
            prepared.count >= 8 && (settings.source != nil || needed.allSatisfy { counts[$0, default: 0] >= 2 * LatencyFeatures.count })
        }
        while Date().timeIntervalSince(start) + Double(rounds) * roundSeconds < budget || !enough() {
            let network = networks.next()
            // Beyond 10 GMACs a pass takes a second or more, and teaches little more than a mid-sized one.
            guard CostModel.summary(of: network).macs * batch <= 10_000_000_000 else { continue }
            let ready = timer.prepare(network)
            prepared.append(ready)
            roundSeconds += timer.roundSeconds(of: ready)
            CostModel.forEachLayer(of: network) { row in
                if let unit = LatencyPredictor.unit(of: row, fusedExpansions: fusedExpansions) { counts[unit, default: 0] += 1 }
            }
            if Date().timeIntervalSince(start) + Double(rounds) * roundSeconds > 4 * budget + 10 { break }
        }
        // Then rounds over all of them, as a check times its networks: a network's rounds are a third of the
        // calibration apart, not seconds, so that each measures the host over the whole calibration as a check
        // does. (Against groups of six timed a few seconds apart, two calibrations each gave checks alike: 85-90%
        // within 10%; a network's time still differs by 7-9% RMS between calibrations, from 3 rounds.)
        note("timing \(prepared.count) networks in \(rounds) rounds of about \(Int(roundSeconds.rounded())) s")
        let total = Double(prepared.count * rounds)
        let timings = timer.profile(prepared) { done in
            progress?(min(Double(done), total), total, Double(done) <= total ? "round \((done - 1) / prepared.count + 1) of \(rounds)" : "timing again")
        }
        if let line = timer.slowNote { note(line) }
        // The quiet host's times (`NetworkTimer.profile`); the reference's median speed is kept for checks.
        let reference = timer.probeSeconds
        let cacheBytes = MachineBenchmark.level2CacheBytes.map(Double.init)
        var samples = CalibrationSamples()
        var passes: [(network: Network, seconds: Double)] = []
        for (ready, timing) in zip(prepared, timings) {
            let (layers, total) = timing
            let timed = Calibration.samples(ready.network, layers: layers, total: total, batch: batch,
                                            threads: settings.threads, fusedExpansions: fusedExpansions,
                                            lanes: InferenceKernels.vectorLanes, cacheBytes: cacheBytes)
            samples.units += timed.units
            samples.blocks += timed.blocks
            passes.append((ready.network, total))
        }
        let timed = passes.map { ($0.network, $0.seconds) }, lanes = InferenceKernels.vectorLanes
        var model = try settings.source.map { try Calibration.transfer(from: $0, samples: samples, key: key, networks: timed, lanes: lanes, cacheBytes: cacheBytes) }
            ?? Calibration.fit(samples, key: key, networks: timed, lanes: lanes, cacheBytes: cacheBytes)
        model.probeSeconds = reference
        return CalibrationOutcome(model: model, samples: samples, passes: passes)
    }
}

/// A check's figures: predicted against measured milliseconds.
public struct CheckFigures: Sendable {
    public var tau: Double, mape: Double, within5: Double, within10: Double

    public init(predicted: [Double], measured: [Double]) {
        tau = Statistics.kendallTau(predicted, measured)
        mape = Statistics.meanAbsolutePercentageError(predicted: predicted, measured: measured)
        within5 = Statistics.shareWithin(0.05, predicted: predicted, measured: measured)
        within10 = Statistics.shareWithin(0.10, predicted: predicted, measured: measured)
    }

    public func add(to object: inout JSONObjectWriter) {
        object.add("kendall_tau", tau)
        object.add("mape", mape)
        object.add("within_5", within5)
        object.add("within_10", within10)
    }

    public var summary: String {
        "Kendall tau \(Format.fixed(tau, 3)), mean absolute error \(Format.fixed(100 * mape, 1))%, within 5%: \(Format.fixed(100 * within5, 0))%, within 10%: \(Format.fixed(100 * within10, 0))%"
    }
}

/// `calibrate --check`: a model's predictions against timed passes of networks it was never fitted on, and of
/// the presets.
public struct LatencyCheck {
    public struct Row {
        /// "random" (never used in a fit) or "preset".
        public var group: String
        public var name: String
        public var network: Network
        public var predicted: Double
        public var measured: Double
        /// Measured at the reference's speed during the calibration: the measured time times the reference's
        /// median pass during the calibration over its median pass during the check.
        public var corrected: Double?
        /// The drift-corrected time when there is one, else the measured.
        public var best: Double { corrected ?? measured }
    }

    /// The presets every check times beside its networks.
    public static let presets = ["efficientnet-b0", "efficientnet-b1", "efficientnetv2-s", "mobilenetv2-100", "mnasnet-100"]

    public var rows: [Row]
    public var rounds: Int
    /// The reference network's median pass during the check and during the calibration (nil for a model that
    /// does not keep it), in seconds: how much faster or slower the host runs now.
    public var referenceSeconds: (now: Double, calibration: Double?)
    /// Series timed again because the host ran slow around every series of their network, networks still only
    /// slow (`NetworkTimer.retimed`, `stillSlow`), and the timer's line on them (`NetworkTimer.slowNote`).
    public var slow: (retimed: Int, stillSlow: Int, note: String?)

    public var random: [Row] { rows.filter { $0.group == "random" } }
    /// The five networks never used in the fit that the model predicts worst (relative error, drift-corrected
    /// times when the model knows its reference's speed).
    public var worst: [Row] { Array(random.sorted { abs($0.predicted / $0.best - 1) > abs($1.predicted / $1.best - 1) }.prefix(5)) }
    public var presetRows: [Row] { rows.filter { $0.group == "preset" } }
    /// Figures of the plain medians, and of the drift-corrected times when the model knows its reference's speed.
    public var plain: CheckFigures { CheckFigures(predicted: random.map(\.predicted), measured: random.map(\.measured)) }
    public var corrected: CheckFigures? {
        random.allSatisfy { $0.corrected != nil } ? CheckFigures(predicted: random.map(\.predicted), measured: random.map { $0.corrected! }) : nil
    }

    /// The random networks of a check when no space is given: arch strings at 96-256 px, from a seed no
    /// calibration uses.
    public static func randomNetworks(count: Int, seed: UInt64) -> [(name: String, network: Network)] {
        var networks = RandomNetworks(seed: checkSeed(seed), resolutions: 96...256)
        return (0..<count).map { _ in let network = networks.next(); return (network.archString, network) }
    }

    /// A different seed from any calibration's: a check's networks were never used to fit.
    public static func checkSeed(_ seed: UInt64) -> UInt64 { seed &+ 0x5EED_C4EC }

    /// Times `networks` and the presets in `settings.rounds` (default 10) interleaved rounds and compares them
    /// with `model`'s predictions.
    public init(model: LatencyModel, modelFile: String?, networks: [(name: String, network: Network)], settings: CalibrationSettings,
                progress: ProgressReport? = nil) throws {
        let predictor = model.predictor
        var cases = networks.map { (group: "random", name: $0.name, network: $0.network) }
        for preset in LatencyCheck.presets {
            cases.append((group: "preset", name: preset, network: try Presets.named(preset).spec.resolve()))
        }
        var predictions: [Double] = []
        for item in cases {
            guard let predicted = predictor.seconds(of: item.network, batch: settings.batch) else {
                throw CalibrationError(file: modelFile, message: "the model has no fit for a unit of \(item.name)")
            }
            predictions.append(predicted)
        }
        // Ten rounds: two checks of the same networks with five agreed to 4.8-6.2% RMS, with ten to 2.6-3.7%. The
        // host's speed against the reference's decorrelates within a second, so rounds 25 s apart average it out.
        rounds = settings.rounds ?? 10
        let total = Double(cases.count * rounds), rounds = rounds
        let (timings, now, slow) = try settings.engine.apply {
            let timer = try NetworkTimer(batch: settings.batch, warmup: 2, runs: settings.runs, rounds: rounds, minimumSeconds: settings.seriesSeconds)
            return (timer.seconds(cases.map(\.network)) { progress?(min(Double($0), total), total, "") }, timer.probeSeconds, (timer.retimed, timer.stillSlow, timer.slowNote))
        }
        self.slow = slow
        let reference = model.probeSeconds
        referenceSeconds = (now, reference)
        rows = cases.indices.map { index in
            Row(group: cases[index].group, name: cases[index].name, network: cases[index].network, predicted: predictions[index] * 1000,
                measured: timings[index] * 1000, corrected: reference.map { timings[index] * $0 / now * 1000 })
        }
    }

    /// Every network in full (its scaled arch string, stem, head, classes, activation), so that another model can
    /// predict it again (`estimate --arch A --stem S --head H ...`), with its predicted and measured times.
    public var csv: String {
        "group,network,resolution,stem,head,classes,activation,predicted_ms,measured_ms,drift_corrected_ms\n" + rows.map { row in
            let n = row.network
            return "\(row.group),\"\(row.name)\",\(n.resolution),\(n.stemChannels),\(n.headChannels),\(n.classes),\(n.activation.rawValue),"
                + "\(row.predicted),\(row.measured),\(row.corrected.map { "\($0)" } ?? "")"
        }.joined(separator: "\n") + "\n"
    }
}
