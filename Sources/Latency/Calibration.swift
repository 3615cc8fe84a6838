import Architecture
import CGSL
import Cost
import Engine
import Foundation
import Search
import Statistics

/// A problem with a calibration: a file that cannot be read or is for another machine, a bad setting.
public struct CalibrationError: UserInputError {
    public var file: String?
    public var message: String

    public init(file: String?, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { file.map { "latency model \($0): \(message)" } ?? message }
}

extension CalibrationKey {
    /// The key of this machine under the engine settings `engine` at `batch`. Its `blas` part names OpenBLAS's
    /// kernels and the engine's inference kernels (AVX-512 or AVX2), which set the units' times.
    public static func current(engine: EngineConfiguration, batch: Int, efsearch: String) -> CalibrationKey {
        CalibrationKey(cpu: MachineBenchmark.cpuModel, threads: engine.threads, batch: batch, efsearch: efsearch,
                       blas: "OpenBLAS \(BLAS.coreName), \(engine.kernelISA.rawValue) kernels")
    }

    /// The key under the engine settings in effect with `threads` threads.
    public static func current(threads: Int, batch: Int, efsearch: String = EfsearchVersion.current) -> CalibrationKey {
        current(engine: EngineConfiguration.current.with { $0.threads = threads }, batch: batch, efsearch: efsearch)
    }
}

extension LatencyModel {
    /// Reads a calibration file; a file that is not one is an error naming it.
    public static func load(_ path: String) throws -> LatencyModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CalibrationError(file: path, message: "cannot read the file")
        }
        do { return try JSONDecoder().decode(LatencyModel.self, from: data) } catch {
            throw CalibrationError(file: path, message: "not an efsearch latency model (\(describe(error)))")
        }
    }

    /// Writes the model as JSON (to a temporary name, then renamed).
    public func save(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try encoder.encode(self).write(to: url, options: .atomic)
        } catch {
            throw CalibrationError(file: path, message: "cannot write the file: \(error.localizedDescription)")
        }
    }

    /// The cache file for a key: `latency-<threads>t-b<batch>.json` in the cache directory (the key inside
    /// the file says for which CPU, efsearch and BLAS it holds).
    public static func cacheFile(in directory: URL, key: CalibrationKey) -> String {
        directory.appendingPathComponent("latency-\(key.threads)t-b\(key.batch).json").path
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): return context.debugDescription
        case DecodingError.keyNotFound(let key, _): return "no \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context): return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case DecodingError.valueNotFound(_, let context): return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}

extension Network {
    /// Whether `other` runs the same layers: the same scaled blocks, resolution, stem, head and activation (the
    /// classifier's size aside).
    func isSameShape(as other: Network) -> Bool {
        archString == other.archString && resolution == other.resolution && stemChannels == other.stemChannels
            && headChannels == other.headChannels && activation == other.activation
    }
}

/// Seeded random networks for calibrating and checking: all four block types, kernels 3-7, strides, expansions,
/// squeeze-excite, channel counts that are and are not multiples of 8, stems, heads and resolutions.
public struct RandomNetworks {
    let random: RandomGenerator
    public var resolutions: ClosedRange<Int>

    /// The share of networks drawn from the built-in families (`familyVariant`) rather than as random arch strings.
    public var familyShare: Double

    /// Networks of search spaces to draw from in turn (`SearchSpace.calibrationPool`), and the share of networks
    /// taken from them: where users search, which random arch strings and family members may not cover (the
    /// tiny space's 32 px networks of 0.03-0.1 ms, whose passes are mostly fixed costs).
    public var pool: [Network]
    public var poolShare: Double
    var poolIndex = 0

    public init(seed: UInt64, resolutions: ClosedRange<Int> = 96...256, familyShare: Double = 0, pool: [Network] = [], poolShare: Double = 0) {
        random = RandomGenerator(seed: seed)
        self.resolutions = resolutions
        self.familyShare = familyShare
        (self.pool, self.poolShare) = (pool, poolShare)
    }

    func pick<T>(_ items: [T]) -> T { items[random.uniformInt(items.count)] }

    /// A resolution in `resolutions`, a multiple of 8 above its lower bound.
    func resolution() -> Int { resolutions.lowerBound + 8 * random.uniformInt((resolutions.upperBound - resolutions.lowerBound) / 8 + 1) }

    /// The next network (always one that resolves).
    public mutating func next() -> Network {
        while true {
            if poolIndex < pool.count && poolShare > 0 && random.uniform() < poolShare {
                poolIndex += 1
                return pool[poolIndex - 1]
            }
            let family = familyShare > 0 && random.uniform() < familyShare
            guard let network = try? (family ? familyVariant() : draw()).resolve() else { continue }
            if family && RandomNetworks.presets.contains(where: { $0.isSameShape(as: network) }) { continue }
            return network
        }
    }

    /// Every preset at its own resolution, resolved.
    static let presets: [Network] = Presets.all.compactMap { try? $0.spec.resolve() }

    /// The families of real networks a calibration also draws from: their blocks repeat the same shape many
    /// times, with expansions of 3-6 from 16-32 channels at half the input's size, which random arch strings
    /// rarely have.
    public static let families = ["efficientnet-b0", "mobilenetv2-100", "mnasnet-100", "efficientnetv2-s"]

    /// A member of a built-in family at another width, depth and resolution (`next()` passes over one that
    /// comes out as a preset at its own resolution, as B0 at depth 1.25 and 240 px is B1: a check's presets stay
    /// networks the fit has not seen).
    func familyVariant() throws -> NetworkSpec {
        var spec = try Presets.named(pick(RandomNetworks.families)).spec
        spec.width = pick([0.5, 0.75, 1.0, 1.0, 1.25, 1.5, 2.0])
        spec.depth = pick([0.75, 1.0, 1.0, 1.25])
        spec.resolution = resolution()
        spec.classes = pick([10, 100, 1000])
        return spec
    }

    func draw() throws -> NetworkSpec {
        let stageCount = 3 + random.uniformInt(5)
        var strides = 0
        var channels = pick([16, 16, 24, 24, 32])
        var stages: [String] = []
        for index in 0..<stageCount {
            let type = index == 0 ? pick(["ds", "cn", "er", "ir"]) : pick(["ir", "ir", "ir", "er", "ds", "cn"])
            let stride = strides < 4 && (index > 0 && random.uniform() < 0.7) ? 2 : 1
            strides += stride == 2 ? 1 : 0
            let growth = pick([1.0, 1.25, 1.5, 1.75, 2.0])
            channels = min(384, Int(Double(channels) * growth))
            let out = random.uniform() < 0.2 ? channels + pick([4, 12, 20]) : (channels + 7) / 8 * 8
            let kernel = pick([3, 3, 5, 5, 7])
            let repeats = 1 + random.uniformInt(type == "cn" ? 2 : 3)
            var block = "\(type)_r\(repeats)_k\(kernel)_s\(stride)"
            if type == "ir" || type == "er" { block += "_e" + pick(["1", "2", "3", "4", "6"]) }
            block += "_c\(out)"
            if type != "cn" && random.uniform() < 0.5 { block += "_se0.25" }
            stages.append(block)
        }
        var spec = try NetworkSpec(arch: stages.joined(separator: ";"))
        spec.stem = pick([16, 24, 32, 40, 48])
        spec.head = pick([0, 640, 1280, 1280, 1536])
        spec.activation = pick([Activation.silu, .silu, .silu, .relu, .relu6])
        spec.resolution = resolution()
        // Classifiers of several sizes, so that their MACs and weight bytes are not the same feature twice.
        spec.classes = pick([10, 100, 1000])
        return spec
    }
}

/// Times networks on the engine in inference, as `efsearch bench` does, in rounds (every network once per
/// round), beside a speed reference. A shared host's speed changes from one pass to the next (B0 at 160 px: p10
/// to p90 of 100 passes spans 3.1 to 4.5 ms) and drifts by tens of percent over seconds. So:
/// - each series of a network's passes is bracketed by two series of the reference network
///   (`LatencyModel.probe`), one right before and one right after it (the one after is the next network's one
///   before): every network runs after the same network, in a calibration as in a check, and the reference's
///   median over all its series is the host's speed that a check compares with the calibration's, and the
///   reference around a series tells whether the host ran slow then: a network timed only while it did is timed
///   again after the rounds (`BracketedRounds`);
/// - every series, the reference's too, has at least `runs` passes and lasts at least `minimumSeconds`: the
///   median of 10 passes of 3.5 ms measures the host over 35 ms and varies by about 6%.
/// Each series runs back to back after an untimed pass, as `bench` does: a pass right after another network's
/// finds its weights out of cache (the reference ran up to 50% slower after a large network, and a small network
/// slower after the reference).
public final class NetworkTimer {
    public let batch: Int
    public let warmup: Int
    /// Plain passes per network (and passes of the reference network) per round, at least.
    public let runs: Int
    /// Profiled passes per network per round (`profile`).
    public let profiledRuns: Int
    public let rounds: Int
    /// The shortest series of plain passes, in seconds: a fast network runs more than `runs` passes.
    public let minimumSeconds: Double
    let probe: Prepared

    /// The reference network (`LatencyModel.probe`): the calibration's speed reference, and the drift check of
    /// `bench` and measured latency (`EngineBench`).
    static func probeNetwork() throws -> Network {
        var spec = try Presets.named(LatencyModel.probe.preset).spec
        spec.resolution = LatencyModel.probe.resolution
        return try spec.resolve()
    }

    /// A network ready to time: its model with seeded weights, a seeded input, its passes per series, and its
    /// fastest warm-up pass in seconds.
    public struct Prepared {
        public let network: Network
        let model: EfficientNetModel
        let input: Tensor
        public let passes: Int
        public let passSeconds: Double
    }

    public init(batch: Int, warmup: Int = 2, runs: Int = 5, profiledRuns: Int? = nil, rounds: Int = 3, minimumSeconds: Double = 0.1) throws {
        self.batch = batch
        self.warmup = max(1, warmup)
        self.runs = runs
        self.profiledRuns = profiledRuns ?? runs
        self.rounds = rounds
        schedule = BracketedRounds(rounds: rounds)
        self.minimumSeconds = minimumSeconds
        let probe = NetworkTimer.prepare(try NetworkTimer.probeNetwork(), batch: batch, warmup: self.warmup, runs: runs, minimumSeconds: minimumSeconds)
        self.probe = probe
        warmupFactor = min(1, max(0.25, Statistics.median(NetworkTimer.series(probe)) / probe.passSeconds))
    }

    /// A pass in a series over the fastest warm-up pass of a network just prepared, as the reference measured
    /// it (0.25-1). Warm-up passes right after a model is built run slower than passes in a series: in a
    /// calibration's rounds, estimated from warm-up passes alone at 41 s, a round took 23 s, and the
    /// calibration stopped drawing networks at 60% of its budget.
    public let warmupFactor: Double

    /// A network's model with seeded weights and a seeded input, warmed up; its series have `runs` passes, or
    /// as many as its fastest warm-up pass takes to fill `minimumSeconds`.
    static func prepare(_ network: Network, batch: Int, warmup: Int, runs: Int, minimumSeconds: Double) -> Prepared {
        let model = EfficientNetModel(network)
        model.initialize(seed: 1)
        let random = RandomGenerator(seed: 2)
        let count = batch * network.resolution * network.resolution * 3
        let x = Tensor(shape: [batch, network.resolution, network.resolution, 3], values: (0..<count).map { _ in Float(random.gaussian()) })
        let fastest = max((0..<warmup).map { _ in PassClock.seconds { _ = model.forward(x, training: false) } }.min() ?? 1, 1e-6)
        return Prepared(network: network, model: model, input: x, passes: max(runs, Int((minimumSeconds / fastest).rounded(.up))),
                        passSeconds: fastest)
    }

    /// `network` ready to time (`profile`).
    public func prepare(_ network: Network) -> Prepared {
        NetworkTimer.prepare(network, batch: batch, warmup: warmup, runs: runs, minimumSeconds: minimumSeconds)
    }

    /// About how long one round of `profile` takes for a prepared network: its series and profiled passes, each
    /// after an untimed pass, and the reference's series after it (at the speed of passes in a series:
    /// `warmupFactor`).
    public func roundSeconds(of network: Prepared) -> Double {
        warmupFactor * (network.passSeconds * Double(network.passes + 1 + profiledRuns) + probe.passSeconds * Double(probe.passes + 1))
    }

    /// A series: one untimed pass, then `passes` timed back to back.
    static func series(_ network: Prepared) -> [Double] {
        _ = network.model.forward(network.input, training: false)
        return (0..<network.passes).map { _ in PassClock.seconds { _ = network.model.forward(network.input, training: false) } }
    }

    /// A series of the reference network; its median pass, recorded.
    func probeSeries() -> Double {
        let median = Statistics.median(NetworkTimer.series(probe))
        probeMedians.append(median)
        return median
    }

    /// The reference's median pass in each series so far.
    public private(set) var probeMedians: [Double] = []

    /// The reference's median pass in a series, the median over all series so far.
    public var probeSeconds: Double { Statistics.median(probeMedians) }

    /// Runs the rounds over `prepared` (`BracketedRounds`), each network's measurements between two series of
    /// the reference: `body(index, network, reference)` times the network, then calls `reference()`, which runs
    /// the reference's series after it. `progress(done)` after each.
    func bracketedRounds(_ prepared: [Prepared], progress: ((Int) -> Void)?, _ body: (Int, Prepared, () -> Void) -> Void) {
        let outcome = schedule.run(
            count: prepared.count, clock: { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }, reference: probeSeries, progress: progress
        ) { index, reference in body(index, prepared[index], reference) }
        (retimed, stillSlow) = (outcome.retimed, outcome.stillSlow)
    }

    /// The rounds, and the ones again over networks timed only while the host was slow.
    public var schedule: BracketedRounds
    /// Series timed again in the last rounds (`bracketedRounds`), and networks whose every series still ran slow.
    public private(set) var retimed = 0
    public private(set) var stillSlow = 0

    /// A line on the series timed again, when there were any: how many, and how many networks still only slow.
    public var slowNote: String? {
        guard retimed > 0 || stillSlow > 0 else { return nil }
        return "timed \(retimed) series again: networks whose every series ran while the host was slow (the reference over \(Format.fixed(schedule.slowFactor, 2)) "
            + "times its quiet speed); \(stillSlow) still only slow"
    }

    /// Times `networks`: each one's quietest round's median pass (what `bench` reports, `RoundTimer`), in
    /// seconds; `progress(done)` after each network's round.
    public func seconds(_ networks: [Network], progress: ((Int) -> Void)? = nil) -> [Double] {
        let prepared = networks.map(prepare)
        var quietest = [Double](repeating: .infinity, count: networks.count)
        bracketedRounds(prepared, progress: progress) { index, network, reference in
            quietest[index] = min(quietest[index], Statistics.median(NetworkTimer.series(network)))
            reference()
        }
        return quietest
    }

    /// Profiles networks, each block timed whole as the engine runs it (`LayerProfiler(wholeBlocks:)`), with the
    /// stem, head and classifier apart. In a round, per network: its plain series (as a check times it), its
    /// `profiledRuns` profiled passes, the reference's series. A network's time is its quietest round's median
    /// pass, and a layer's its fastest profiled pass over all rounds: what `bench` and a check measure (the quietest
    /// round), on a host that is quiet part of the time. This host runs in slow periods of 10-60 s (the engine's
    /// hand-off between its threads at half speed: a 0.1 ms network twice as slow, B0 at 160 px 20%); timings
    /// relative to the reference beside them, the median over rounds, took them in, by another factor for each
    /// network's size. Refitted that way, one calibration put 83-90% of two checks' networks within 10%; with the
    /// quiet times, the calibration made just before it 92-97% in four checks (`docs/latency.md`).
    public func profile(_ prepared: [Prepared], progress: ((Int) -> Void)? = nil) -> [(layers: [String: Double], total: Double)] {
        var layers = [[String: Double]](repeating: [:], count: prepared.count)
        var totals = [Double](repeating: .infinity, count: prepared.count)
        bracketedRounds(prepared, progress: progress) { index, network, reference in
            let plain = NetworkTimer.series(network)
            for _ in 0..<profiledRuns {
                let profiler = LayerProfiler(wholeBlocks: true)
                _ = network.model.forward(network.input, training: false, profiler: profiler)
                for (name, ns) in profiler.nanoseconds { layers[index][name] = min(layers[index][name] ?? .infinity, Double(ns) / 1e9) }
            }
            reference()
            totals[index] = min(totals[index], Statistics.median(plain))
        }
        return prepared.indices.map { (layers[$0], totals[$0]) }
    }
}

/// One timed unit timed on its own (stem, head, classifier, or the per-pass remainder): features and seconds.
public struct TimedUnit: Sendable {
    public var unit: LatencyUnit
    public var features: SIMD8<Double>
    public var seconds: Double
    /// The cost-model row it was timed as (nil for the per-pass remainder).
    public var row: LayerCost?

    public init(unit: LatencyUnit, features: SIMD8<Double>, seconds: Double, row: LayerCost? = nil) {
        self.unit = unit
        self.features = features
        self.seconds = seconds
        self.row = row
    }
}

/// One block timed whole, as the engine runs it: its rows' units and features, its fastest time, and the time
/// of its network's whole pass (which weighs it in the fit: `Calibration.fitBlocks`).
public struct TimedBlock: Sendable {
    public var name: String
    public var type: BlockType
    public var parts: [(unit: LatencyUnit, features: SIMD8<Double>)]
    public var seconds: Double
    public var passSeconds: Double?

    public init(name: String, type: BlockType, parts: [(unit: LatencyUnit, features: SIMD8<Double>)], seconds: Double, passSeconds: Double? = nil) {
        self.name = name
        self.type = type
        self.parts = parts
        self.seconds = seconds
        self.passSeconds = passSeconds
    }
}

/// The timings of calibration networks, for the fit and for `--samples`.
public struct CalibrationSamples: Sendable {
    public var units: [TimedUnit] = []
    public var blocks: [TimedBlock] = []

    public init() {}

    /// Rows of each unit seen so far (stand-alone units and units inside blocks).
    public var rowCounts: [LatencyUnit: Int] {
        var counts = Dictionary(grouping: units, by: \.unit).mapValues(\.count)
        for block in blocks { for part in block.parts { counts[part.unit, default: 0] += 1 } }
        return counts
    }

    public static let csvHeader = "kind,name,type,parts,seconds"

    /// One CSV line per timed unit and block: what it is, its parts (each `unit` and its features, joined by
    /// `:`; parts separated by spaces), and its fastest time.
    public var csvLines: [String] {
        func part(_ unit: LatencyUnit, _ features: SIMD8<Double>) -> String {
            ([unit.rawValue] + (0..<LatencyFeatures.count).map { "\(features[$0])" }).joined(separator: ":")
        }
        return units.map { "unit,\($0.row?.name ?? "network"),\($0.unit.rawValue),\(part($0.unit, $0.features)),\($0.seconds)" }
            + blocks.map { block in
                "block,\(block.name),\(block.type.rawValue),\(block.parts.map { part($0.unit, $0.features) }.joined(separator: " ")),\(block.seconds)"
            }
    }
}

/// Builds latency models: times networks block by block as the engine runs them, fits the units' linear
/// models with GSL's weighted least squares (relative error: weights 1/t^2, or 1/(t * T) for a block in a
/// pass of T seconds), and checks
/// predictions end to end.
public enum Calibration {
    /// The timings of one profiled network: the stem, head and classifier, every block (timed whole), and the
    /// per-pass remainder (the whole pass minus the rest). `fusedExpansions`: the engine that was timed runs
    /// expansions with their depthwise convolutions; `lanes`: its kernels' vector width in floats.
    public static func samples(_ network: Network, layers: [String: Double], total: Double, batch: Int, threads: Int,
                               fusedExpansions: Bool, lanes: Int, cacheBytes: Double?) -> CalibrationSamples {
        var result = CalibrationSamples()
        var poolElements = 0
        var covered = 0.0
        var blockParts: [String: [(unit: LatencyUnit, features: SIMD8<Double>)]] = [:]
        CostModel.forEachLayer(of: network) { row in
            poolElements += row.poolElements
            guard let unit = LatencyPredictor.unit(of: row, fusedExpansions: fusedExpansions) else { return }
            let features = LatencyFeatures.of(row, batch: batch, threads: threads, fusedExpansion: unit == .expansion, lanes: lanes,
                                              cacheBytes: cacheBytes)
            if let block = row.block {
                blockParts["blocks.\(block.stage).\(block.index)", default: []].append((unit, features))
            } else if let seconds = layers[row.name] {
                covered += seconds
                result.units.append(TimedUnit(unit: unit, features: features, seconds: seconds, row: row))
            }
        }
        for block in network.blocks {
            guard let seconds = layers[block.name], let parts = blockParts[block.name] else { continue }
            covered += seconds
            result.blocks.append(TimedBlock(name: block.name, type: block.type, parts: parts, seconds: seconds, passSeconds: total))
        }
        result.units.append(TimedUnit(unit: .network, features: LatencyFeatures.network(poolElements: poolElements, batch: batch, parameters: 0, cacheBytes: nil),
                                      seconds: max(0, total - covered)))
        return result
    }

    /// Weighted least squares of `y` on the columns of `x` (row-major, `columns` wide) with `weights`, by default
    /// 1/y^2 (relative error); each column scaled to [0, 1] first so the normal equations are well conditioned.
    /// Returns the coefficients.
    static func relativeLeastSquares(_ x: [Double], columns: Int, y: [Double], weights given: [Double]? = nil) throws -> [Double] {
        let rows = y.count
        var scales = [Double](repeating: 1e-30, count: columns)
        for row in 0..<rows { for column in 0..<columns { scales[column] = max(scales[column], abs(x[row * columns + column])) } }
        var scaled = x
        for row in 0..<rows { for column in 0..<columns { scaled[row * columns + column] /= scales[column] } }
        let seconds = y.map { max($0, 1e-7) }
        let weights = given ?? seconds.map { 1 / ($0 * $0) }
        var solution = [Double](repeating: 0, count: columns)
        var chisq = 0.0
        let status = cgsl_weighted_least_squares(scaled, seconds, weights, rows, columns, &solution, &chisq)
        guard status == 0 else { throw CalibrationError(file: nil, message: "the least-squares fit failed (GSL status \(status))") }
        return (0..<columns).map { solution[$0] / scales[$0] }
    }

    /// The columns of `x` (row-major, `columns` wide) that are not, or not nearly, linear combinations of the
    /// columns kept before them (modified Gram-Schmidt on the columns scaled to unit length; a column is dropped
    /// when less than `tolerance` of its length is left after taking out the kept ones). All-zero columns are
    /// dropped. Features that move together in every timed sample (a classifier's MACs and weight bytes when
    /// every network has the same classes) cannot be told apart; fitting both gives large coefficients of
    /// opposite sign that cancel on the samples and not on a network outside them.
    public static func independentColumns(_ x: [Double], columns: Int, tolerance: Double = 1e-3) -> [Int] {
        let rows = columns == 0 ? 0 : x.count / columns
        var basis: [[Double]] = []
        var kept: [Int] = []
        for column in 0..<columns {
            var v = (0..<rows).map { x[$0 * columns + column] }
            let length = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard length > 0 else { continue }
            for index in v.indices { v[index] /= length }
            for _ in 0..<2 {
                for q in basis {
                    let dot = zip(v, q).reduce(0) { $0 + $1.0 * $1.1 }
                    for index in v.indices { v[index] -= dot * q[index] }
                }
            }
            let left = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard left > tolerance else { continue }
            basis.append(v.map { $0 / left })
            kept.append(column)
        }
        return kept
    }

    static func rmsRelative(_ pairs: [(predicted: Double, measured: Double)]) -> Double {
        guard !pairs.isEmpty else { return 0 }
        let squares = pairs.map { pair -> Double in let r = pair.predicted / max(pair.measured, 1e-7) - 1; return r * r }
        return (squares.reduce(0, +) / Double(pairs.count)).squareRoot()
    }

    /// Fits one stand-alone unit: weighted least squares over the features that are independent of the
    /// constant and of the features before them on these samples (`independentColumns`).
    public static func fit(_ samples: [TimedUnit]) throws -> LatencyModel.UnitFit {
        let count = LatencyFeatures.count
        let all = samples.flatMap { sample in (0..<count).map { sample.features[$0] } }
        let used = independentColumns(all, columns: count)
        guard samples.count >= used.count + 2 else {
            throw CalibrationError(file: nil, message: "\(samples.count) timed samples of \(samples.first.map { $0.unit.rawValue } ?? "a unit") are too few to fit \(used.count) coefficients")
        }
        let x = samples.flatMap { sample in used.map { sample.features[$0] } }
        let solution = try relativeLeastSquares(x, columns: used.count, y: samples.map(\.seconds))
        var coefficients = [Double](repeating: 0, count: count)
        for (column, feature) in used.enumerated() { coefficients[feature] = solution[column] }
        var vector = SIMD8<Double>.zero
        for (feature, value) in coefficients.enumerated() { vector[feature] = value }
        let rms = rmsRelative(samples.map { (max(0, (vector * $0.features).sum()), $0.seconds) })
        return LatencyModel.UnitFit(coefficients: coefficients, samples: samples.count, rmsRelativeError: rms)
    }

    /// A timed block's weight in the fit: 1/(t * T) for a block of t seconds in a pass of T seconds, the product
    /// of its error relative to itself and relative to its network's pass (1/t^2 without the pass). With 1/t^2
    /// alone, a 5-microsecond block, whose relative timing noise is the largest, weighed as much as the
    /// 2-millisecond block next to it that makes most of the pass. Refitted on eleven calibrations' timings, the
    /// share of random networks within 10% of ten pooled checks went from 82-95% (mean 89.7%) to 80-98% (mean
    /// 91.2%), with EfficientNet-B0, -B1 and MnasNet 1-3 points lower (`scripts/refit_latency_samples.py`).
    static func blockWeight(_ block: TimedBlock) -> Double {
        let seconds = max(block.seconds, 1e-7)
        return 1 / (seconds * max(block.passSeconds ?? seconds, 1e-7))
    }

    /// Fits the units inside blocks together: a block's time is the sum of its rows' linear models, which is
    /// linear in all the units' coefficients at once, so one weighted least squares over the timed blocks
    /// (weights `blockWeight`) gives every unit's coefficients (columns that are zero in every block, or that
    /// other columns explain, are left out: `independentColumns`). A unit's `samples` are its
    /// rows in the timed blocks; its error is the RMS relative error of the blocks it is in.
    public static func fitBlocks(_ blocks: [TimedBlock]) throws -> [LatencyUnit: LatencyModel.UnitFit] {
        let units = LatencyUnit.blockUnits
        let count = LatencyFeatures.count
        func column(_ unit: LatencyUnit, _ feature: Int) -> Int { units.firstIndex(of: unit)! * count + feature }
        var full = [Double](repeating: 0, count: blocks.count * units.count * count)
        for (row, block) in blocks.enumerated() {
            for part in block.parts {
                guard units.contains(part.unit) else { continue }
                for feature in 0..<count { full[row * units.count * count + column(part.unit, feature)] += part.features[feature] }
            }
        }
        let width = units.count * count
        let used = independentColumns(full, columns: width)
        guard blocks.count >= used.count + 2 else {
            throw CalibrationError(file: nil, message: "\(blocks.count) timed blocks are too few to fit \(used.count) coefficients; time more (a larger --budget-seconds)")
        }
        let x = (0..<blocks.count).flatMap { row in used.map { full[row * width + $0] } }
        let solution = try relativeLeastSquares(x, columns: used.count, y: blocks.map(\.seconds), weights: blocks.map(blockWeight))
        var coefficients = [LatencyUnit: SIMD8<Double>]()
        for (index, c) in used.enumerated() { coefficients[units[c / count], default: .zero][c % count] = solution[index] }
        var result: [LatencyUnit: LatencyModel.UnitFit] = [:]
        for (unit, vector) in coefficients {
            let containing = blocks.filter { $0.parts.contains { $0.unit == unit } }
            let pairs = containing.map { block in
                (block.parts.map { part in max(0, ((coefficients[part.unit] ?? .zero) * part.features).sum()) }.reduce(0, +), block.seconds)
            }
            result[unit] = LatencyModel.UnitFit(coefficients: (0..<count).map { vector[$0] },
                                                samples: containing.map { $0.parts.filter { $0.unit == unit }.count }.reduce(0, +),
                                                rmsRelativeError: rmsRelative(pairs))
        }
        return result
    }

    /// Fits the stand-alone units and the blocks' units, then the whole pass: measured time against a power of
    /// the sum of the units' predictions (scale and exponent), a constant and the pooled bytes (the `network`
    /// term), by the same weighted least squares over the timed networks.
    public static func fit(_ samples: CalibrationSamples, key: CalibrationKey, networks: [(Network, Double)], lanes: Int,
                           cacheBytes: Double?) throws -> LatencyModel {
        var units = try fitBlocks(samples.blocks)
        // Kernel sizes without a fit of their own use the largest calibrated one (MACs count the kernel's area).
        if let largest = [LatencyUnit.depthwise7, .depthwise5, .depthwise3].lazy.compactMap({ units[$0] }).first { units[.depthwise] = largest }
        for (unit, group) in Dictionary(grouping: samples.units, by: \.unit) where unit != .network && group.count >= LatencyFeatures.count + 2 {
            units[unit] = try fit(group)
        }
        return try fitPasses(units: units, key: key, networks: networks, lanes: lanes, cacheBytes: cacheBytes)
    }

    /// Few-shot transfer (in the spirit of HELP and LitePred): a model made elsewhere (another machine, thread
    /// count or batch) adapted to this one from a few timed networks. Each unit keeps its coefficients up to two
    /// factors, one on its constant (the fixed cost of a layer: dispatch, threads waking) and one on the rest (the
    /// work, which another thread count divides and the fixed cost does not), fitted by the blocks' weighted
    /// least squares (`blockWeight`) with two columns per unit: the unit's constant and the rest of its time as
    /// `source` predicts them for these blocks. A unit in fewer than `minimumParts` blocks' parts, or whose
    /// factors come out outside 1/8...8 of all blocks' together, takes all blocks' factors. The stem, head and
    /// classifier get factors the same way from their own timings. Whole passes are then fitted as in a full
    /// calibration (`fitPasses`). Linear in about twenty factors instead of about 90 coefficients, it needs tens
    /// of networks rather than a hundred.
    public static func transfer(from source: LatencyModel, samples: CalibrationSamples, key: CalibrationKey, networks: [(Network, Double)],
                                lanes: Int, cacheBytes: Double?, minimumParts: Int = 12) throws -> LatencyModel {
        let coefficients = Dictionary(uniqueKeysWithValues: LatencyUnit.allCases.compactMap { unit in
            source.units[unit].map { fit in (unit, (0..<LatencyFeatures.count).reduce(into: SIMD8<Double>.zero) { $0[$1] = fit.coefficients[$1] }) }
        })
        /// A unit's predicted constant and the rest of its time.
        func parts(_ unit: LatencyUnit, _ features: SIMD8<Double>) -> (fixed: Double, work: Double) {
            let fallback = [.depthwise3, .depthwise5, .depthwise7].contains(unit) ? coefficients[.depthwise] : nil
            guard let c = coefficients[unit] ?? fallback else { return (0, 0) }
            let all = (c * features).sum(), fixed = c[0] * features[0]
            return (fixed, all - fixed)
        }
        let blocks = samples.blocks
        guard blocks.count >= 3 else {
            throw CalibrationError(file: nil, message: "\(blocks.count) timed blocks are too few to transfer the model; time more (a larger --budget-seconds)")
        }
        let seconds = blocks.map(\.seconds), weights = blocks.map(blockWeight)
        /// Factors on the constant and the rest for columns of (constant, rest) pairs; nil unless all are positive.
        func factors(_ x: [Double], columns: Int, y: [Double], weights: [Double]?) -> [Double]? {
            let used = independentColumns(x, columns: columns)
            guard used.count == columns, let solution = try? relativeLeastSquares(x, columns: columns, y: y, weights: weights),
                  solution.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
            return solution
        }
        // All blocks together: a factor on the constants, one on the rest (or one on both).
        let sums = blocks.flatMap { block in
            block.parts.reduce(into: [0.0, 0.0]) { sum, part in let p = parts(part.unit, part.features); sum[0] += p.fixed; sum[1] += p.work }
        }
        let overall: (fixed: Double, work: Double)
        if let pair = factors(sums, columns: 2, y: seconds, weights: weights) {
            overall = (pair[0], pair[1])
        } else if let one = factors(stride(from: 0, to: sums.count, by: 2).map { sums[$0] + sums[$0 + 1] }, columns: 1, y: seconds, weights: weights) {
            overall = (one[0], one[0])
        } else {
            throw CalibrationError(file: nil, message: "the transfer's fit of the blocks failed (no positive factor): the model has no fit for their units")
        }
        func plausible(_ pair: (Double, Double)) -> Bool {
            pair.0 > overall.fixed / 8 && pair.0 < overall.fixed * 8 && pair.1 > overall.work / 8 && pair.1 < overall.work * 8
        }
        // Factors per unit that is in enough blocks' parts; the others enter at all blocks' factors.
        var partCounts: [LatencyUnit: Int] = [:]
        for block in blocks { for part in block.parts { partCounts[part.unit, default: 0] += 1 } }
        let own = LatencyUnit.blockUnits.filter { partCounts[$0, default: 0] >= minimumParts && coefficients[$0] != nil }
        var unitFactors = [LatencyUnit: (fixed: Double, work: Double)]()
        if !own.isEmpty {
            var x: [Double] = [], rest: [Double] = []
            for (block, measured) in zip(blocks, seconds) {
                var row = [Double](repeating: 0, count: 2 * own.count)
                var others = 0.0
                for part in block.parts {
                    let p = parts(part.unit, part.features)
                    if let column = own.firstIndex(of: part.unit) {
                        row[2 * column] += p.fixed
                        row[2 * column + 1] += p.work
                    } else {
                        others += overall.fixed * p.fixed + overall.work * p.work
                    }
                }
                x += row
                rest.append(max(measured - others, 1e-9))
            }
            if let solution = factors(x, columns: 2 * own.count, y: rest, weights: weights) {
                for (index, unit) in own.enumerated() where plausible((solution[2 * index], solution[2 * index + 1])) {
                    unitFactors[unit] = (solution[2 * index], solution[2 * index + 1])
                }
            }
        }
        var units: [LatencyUnit: LatencyModel.UnitFit] = [:]
        for (unit, fit) in source.units where unit != .network {
            var factor = unitFactors[unit] ?? overall
            let timed = samples.units.filter { $0.unit == unit }
            if !LatencyUnit.blockUnits.contains(unit), timed.count >= 6 {
                let x = timed.flatMap { sample -> [Double] in let p = parts(unit, sample.features); return [p.fixed, p.work] }
                if let pair = factors(x, columns: 2, y: timed.map(\.seconds), weights: nil), plausible((pair[0], pair[1])) { factor = (pair[0], pair[1]) }
            }
            let scaled = fit.coefficients.enumerated().map { index, value in value * (index == 0 ? factor.fixed : factor.work) }
            units[unit] = LatencyModel.UnitFit(coefficients: scaled, samples: timed.count + partCounts[unit, default: 0], rmsRelativeError: fit.rmsRelativeError)
        }
        // Each unit's error on this machine: of its own timings, or of the blocks it is in.
        let adapted = LatencyModel(key: key, createdAt: "", networks: 0, fitMAPE: 0, vectorLanes: lanes, units: units).predictor
        for unit in units.keys {
            let pairs: [(predicted: Double, measured: Double)] = LatencyUnit.blockUnits.contains(unit)
                ? blocks.filter { $0.parts.contains { $0.unit == unit } }.map { block in
                    (block.parts.map { adapted.seconds($0.unit, $0.features) ?? 0 }.reduce(0, +), block.seconds)
                }
                : samples.units.filter { $0.unit == unit }.map { (adapted.seconds(unit, $0.features) ?? 0, $0.seconds) }
            if !pairs.isEmpty { units[unit]?.rmsRelativeError = rmsRelative(pairs) }
        }
        var model = try fitPasses(units: units, key: key, networks: networks, lanes: lanes, cacheBytes: cacheBytes)
        model.transferredFrom = source.key.description
        return model
    }

    /// The whole pass, fitted over timed networks on top of fitted units (`fit`).
    static func fitPasses(units: [LatencyUnit: LatencyModel.UnitFit], key: CalibrationKey, networks: [(Network, Double)], lanes: Int,
                          cacheBytes: Double?) throws -> LatencyModel {
        var units = units
        let created = ISO8601DateFormatter().string(from: Date())
        var unitsModel = LatencyModel(key: key, createdAt: created, networks: networks.count, fitMAPE: 0, vectorLanes: lanes, units: units)
        unitsModel.cacheBytes = cacheBytes
        let unitsOnly = unitsModel.predictor
        var rows: [(sum: Double, pool: Double, weights: Double, seconds: Double)] = []
        for (network, seconds) in networks {
            guard let sums = unitsOnly.passInputs(of: network, batch: key.batch) else { continue }
            // Every weight byte (a cache of 0): the search below subtracts each cache size in turn.
            let features = LatencyFeatures.network(poolElements: sums.poolElements, batch: key.batch, parameters: sums.parameters, cacheBytes: 0)
            rows.append((sums.unitSeconds, features[2], features[3], seconds))
        }
        guard rows.count >= 5 else { throw CalibrationError(file: nil, message: "only \(rows.count) networks could be predicted from their units; time more (a larger --budget-seconds)") }
        // The pass: scale * sum^exponent + constant + pooled bytes + weight bytes beyond a cache size. Linear for a
        // given exponent and cache size; the exponent (0.80...1.05, steps of 0.005) and the cache size (none, or
        // 8 to 128 MiB, doubling) are the ones whose fit leaves the least weighted squared relative error. A cache
        // size is kept only with a positive coefficient and at least 5 networks beyond it. (Up to 1.2 before the
        // cache term, the fit chose 1.03 at times and put EfficientNetV2-S 15% high; up to 1.0, it stopped at 1.0
        // with the spill feature, networks under 3 ms came out 2-6% high and those over 30 ms 4-8% low. On one
        // calibration's timings refitted, 1.025 took two checks from 75% and 88% within 10% to 82% and 92%.)
        var best: (error: Double, exponent: Double, cache: Double?, solution: [Double])?
        let caches: [Double?] = [nil] + (3...7).map { Double(1 << (20 + $0)) }
        for cache in caches {
            if let cache, rows.filter({ $0.weights > cache }).count < 5 { continue }
            let columns = cache == nil ? 3 : 4
            for step in 0...50 {
                let exponent = 0.8 + 0.005 * Double(step)
                let x = rows.flatMap { row -> [Double] in
                    [Foundation.pow(row.sum, exponent), 1, row.pool] + (cache.map { [max(0, row.weights - $0)] } ?? [])
                }
                guard let solution = try? relativeLeastSquares(x, columns: columns, y: rows.map(\.seconds)), solution[0] > 0,
                      columns == 3 || solution[3] > 0 else { continue }
                var error = 0.0
                for (index, row) in rows.enumerated() {
                    let predicted = (0..<columns).map { x[columns * index + $0] * solution[$0] }.reduce(0, +)
                    error += (predicted / row.seconds - 1) * (predicted / row.seconds - 1)
                }
                if best == nil || error < best!.error { best = (error, exponent, cache, solution) }
            }
        }
        guard let best else { throw CalibrationError(file: nil, message: "the fit of whole passes failed (no positive scale)") }
        units[.network] = LatencyModel.UnitFit(coefficients: [best.solution[1], 0, best.solution[2], best.cache == nil ? 0 : best.solution[3], 0, 0, 0, 0],
                                               samples: rows.count, rmsRelativeError: 0)
        var model = LatencyModel(key: key, createdAt: created, networks: networks.count, fitMAPE: 0, passScale: best.solution[0],
                                 passExponent: best.exponent, vectorLanes: lanes, units: units)
        model.weightCacheBytes = best.cache
        model.cacheBytes = cacheBytes
        func pairs(_ predictor: LatencyPredictor) -> [(Double, Double)] {
            networks.compactMap { network, seconds in predictor.seconds(of: network, batch: key.batch).map { ($0, seconds) } }
        }
        let uncorrected = pairs(model.predictor)
        model.passCorrection = passCorrection(model.predictor, networks: networks, batch: key.batch)
        if model.passCorrection != nil {
            model.uncorrectedFitMAPE = Statistics.meanAbsolutePercentageError(predicted: uncorrected.map(\.0), measured: uncorrected.map(\.1))
        }
        let pairs = pairs(model.predictor)
        model.fitMAPE = Statistics.meanAbsolutePercentageError(predicted: pairs.map(\.0), measured: pairs.map(\.1))
        model.units[.network]?.rmsRelativeError = rmsRelative(pairs)
        return model
    }

    /// The correction of whole passes (`LatencyModel.PassCorrection`): a Gaussian process fitted to the log of
    /// measured over predicted pass of the timed `networks` under `predictor` (a model without a correction),
    /// over their descriptors scaled to [0, 1]. Nil with fewer than `PassCorrection.minimumNetworks` networks,
    /// or when the process cannot be fitted.
    static func passCorrection(_ predictor: LatencyPredictor, networks: [(Network, Double)], batch: Int) -> LatencyModel.PassCorrection? {
        typealias Correction = LatencyModel.PassCorrection
        var descriptors: [[Double]] = [], ratios: [Double] = []
        for (network, seconds) in networks {
            guard let sums = predictor.passInputs(of: network, batch: batch), seconds > 0,
                  let predicted = predictor.pass(rowSeconds: sums.unitSeconds, poolElements: sums.poolElements, parameters: sums.parameters,
                                                 outputs: sums.outputs, batch: batch), predicted > 0 else { continue }
            let d = Correction.descriptors(parameters: sums.parameters, outputs: sums.outputs, batch: batch, seconds: predicted)
            descriptors.append((0..<Correction.dimensions).map { d[$0] })
            ratios.append(log(seconds / predicted))
        }
        guard descriptors.count >= Correction.minimumNetworks else { return nil }
        let dimensions = 0..<Correction.dimensions
        let lower = dimensions.map { i in descriptors.map { $0[i] }.min()! }, upper = dimensions.map { i in descriptors.map { $0[i] }.max()! }
        guard zip(lower, upper).allSatisfy({ $0 < $1 }) else { return nil }
        let inputs = descriptors.map { row in dimensions.map { (row[$0] - lower[$0]) / (upper[$0] - lower[$0]) } }
        let (targets, offset, scale) = GaussianProcess.standardise(ratios)
        // Largest likelihood from scikit-learn's usual start (length scales 0.5, noise 0.3). With the search's prior
        // (long length scales, small noise) the process came out nearly flat (length scales 8-9 on [0, 1]) on a
        // calibration whose two checks lost 0.5-0.6 points of mean absolute error to the likelihood's fit.
        let start = GaussianProcess.Hyperparameters(lengthscales: [Double](repeating: 0.5, count: Correction.dimensions), signalVariance: 1, noiseVariance: 0.3)
        let hyperparameters = GaussianProcess.fit(inputs: inputs, targets: targets, start: start, prior: false)
        guard let process = try? GaussianProcess(inputs: inputs, targets: targets, hyperparameters: hyperparameters) else { return nil }
        return Correction(lower: lower, upper: upper, inputs: inputs, weights: process.weights, lengthscales: hyperparameters.lengthscales,
                          signalVariance: hyperparameters.signalVariance, targetMean: offset, targetScale: scale)
    }
}
