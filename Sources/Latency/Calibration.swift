import Architecture
import CGSL
import Cost
import Engine
import Foundation

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
    /// The key of this machine for `threads` and `batch`. Its `blas` part names OpenBLAS's kernels and the
    /// engine's inference kernels (AVX-512 or AVX2), which set the units' times.
    public static func current(threads: Int, batch: Int, efsearch: String) -> CalibrationKey {
        CalibrationKey(cpu: MachineBenchmark.cpuModel, threads: threads, batch: batch, efsearch: efsearch,
                       blas: "OpenBLAS \(BLAS.coreName), \(InferenceKernels.isa.rawValue) kernels")
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

/// Seeded random networks for calibrating and checking: all four block types, kernels 3-7, strides, expansions,
/// squeeze-excite, channel counts that are and are not multiples of 8, stems, heads and resolutions.
public struct RandomNetworks {
    let random: RandomGenerator
    public var resolutions: ClosedRange<Int>

    public init(seed: UInt64, resolutions: ClosedRange<Int> = 96...256) {
        random = RandomGenerator(seed: seed)
        self.resolutions = resolutions
    }

    func pick<T>(_ items: [T]) -> T { items[random.uniformInt(items.count)] }

    /// The next network (always one that resolves).
    public mutating func next() -> Network {
        while true {
            if let network = try? draw().resolve() { return network }
        }
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
        spec.resolution = resolutions.lowerBound + 8 * random.uniformInt((resolutions.upperBound - resolutions.lowerBound) / 8 + 1)
        spec.classes = 1000
        return spec
    }
}

/// Times networks on the engine in inference, as `efsearch bench` does.
public struct NetworkTimer {
    public var batch: Int
    public var warmup: Int
    public var runs: Int

    public init(batch: Int, warmup: Int = 2, runs: Int = 5) {
        self.batch = batch
        self.warmup = warmup
        self.runs = runs
    }

    func model(_ network: Network) -> (EfficientNetModel, Tensor) {
        let model = EfficientNetModel(network)
        model.initialize(seed: 1)
        let random = RandomGenerator(seed: 2)
        let count = batch * network.resolution * network.resolution * 3
        let x = Tensor(shape: [batch, network.resolution, network.resolution, 3], values: (0..<count).map { _ in Float(random.gaussian()) })
        for _ in 0..<warmup { _ = model.forward(x, training: false) }
        return (model, x)
    }

    /// Median seconds of a forward pass, end to end.
    public func seconds(_ network: Network) -> Double {
        let (model, x) = model(network)
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = model.forward(x, training: false)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Statistics.median(times)
    }

    /// The fastest seconds per profiled layer (timm names, residual adds as `blocks.s.i.residual`) and the
    /// median of the whole pass; the profiled and the unprofiled passes alternate.
    public func profile(_ network: Network) -> (layers: [String: Double], total: Double) {
        let (model, x) = model(network)
        let profiler = LayerProfiler()
        var layers: [String: [Double]] = [:]
        var totals: [Double] = []
        for _ in 0..<runs {
            profiler.reset()
            _ = model.forward(x, training: false, profiler: profiler)
            for (name, ns) in profiler.nanoseconds { layers[name, default: []].append(Double(ns) / 1e9) }
            let start = DispatchTime.now().uptimeNanoseconds
            _ = model.forward(x, training: false)
            totals.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        // A unit's fastest run: timer and interrupt noise only ever adds, and at microseconds it is large. The
        // whole pass keeps its median (what `bench` reports); the fit of whole passes scales the units to it.
        return (layers.mapValues { $0.min()! }, Statistics.median(totals))
    }
}

/// One timed unit: its features and its median time.
public struct TimedUnit: Sendable {
    public var unit: LatencyUnit
    public var features: SIMD8<Double>
    public var seconds: Double
    /// The cost-model row it was timed as (nil for residual adds and the per-pass remainder).
    public var row: LayerCost?

    public init(unit: LatencyUnit, features: SIMD8<Double>, seconds: Double, row: LayerCost? = nil) {
        self.unit = unit
        self.features = features
        self.seconds = seconds
        self.row = row
    }

    public static let csvHeader = "unit,in_channels,out_channels,kernel,stride,input_size,output_size,activation,"
        + LatencyFeatures.names.joined(separator: ",") + ",seconds"

    /// A CSV line: the row's shape, the features and the time (for analysis beside the fit).
    public var csvLine: String {
        let shape = row.map { "\($0.inChannels),\($0.outChannels),\($0.kernel),\($0.stride),\($0.inputSize),\($0.outputSize),\($0.activation?.rawValue ?? "none")" }
            ?? ",,,,,,"
        return "\(unit.rawValue),\(shape)," + (0..<LatencyFeatures.count).map { "\(features[$0])" }.joined(separator: ",") + ",\(seconds)"
    }
}

/// Builds latency models: times networks per unit, fits each unit's linear model with GSL's weighted least
/// squares (weights 1/t^2, so the fit minimises relative error), and checks predictions end to end.
public enum Calibration {
    /// The timed units of one profiled network: every cost-model row the profiler saw, the residual adds,
    /// and the per-pass remainder (the whole pass minus its units).
    public static func timedUnits(_ network: Network, layers: [String: Double], total: Double, batch: Int) -> [TimedUnit] {
        var result: [TimedUnit] = []
        var poolElements = 0
        var covered = 0.0
        CostModel.forEachLayer(of: network) { row in
            poolElements += row.poolElements
            guard let unit = LatencyPredictor.unit(of: row), let seconds = layers[row.name] else { return }
            covered += seconds
            result.append(TimedUnit(unit: unit, features: LatencyFeatures.of(row, batch: batch), seconds: seconds, row: row))
            if row.kind == .depthwise && unit != .depthwise {
                result.append(TimedUnit(unit: .depthwise, features: LatencyFeatures.of(row, batch: batch), seconds: seconds, row: row))
            }
        }
        for block in network.blocks where block.hasResidual {
            guard let seconds = layers[block.name + ".residual"] else { continue }
            covered += seconds
            let elements = block.outChannels * block.outputSize * block.outputSize
            result.append(TimedUnit(unit: .residual, features: LatencyFeatures.residual(elements: elements, batch: batch), seconds: seconds))
        }
        result.append(TimedUnit(unit: .network, features: LatencyFeatures.network(poolElements: poolElements, batch: batch),
                                seconds: max(0, total - covered)))
        return result
    }

    /// Fits one unit: weighted least squares over the features that vary (the constant always stays).
    public static func fit(_ samples: [TimedUnit]) throws -> LatencyModel.UnitFit {
        let count = LatencyFeatures.count
        let used = (0..<count).filter { feature in
            feature == 0 || Set(samples.map { $0.features[feature] }).count > 1
        }
        guard samples.count >= used.count + 2 else {
            throw CalibrationError(file: nil, message: "\(samples.count) timed samples of \(samples.first.map { $0.unit.rawValue } ?? "a unit") are too few to fit \(used.count) coefficients")
        }
        // Scale each feature column to [0, 1] so the normal equations are well conditioned.
        let scales = used.map { feature in max(samples.map { abs($0.features[feature]) }.max() ?? 1, 1e-30) }
        var x: [Double] = [], y: [Double] = [], w: [Double] = []
        for sample in samples {
            for (column, feature) in used.enumerated() { x.append(sample.features[feature] / scales[column]) }
            let seconds = max(sample.seconds, 1e-7)
            y.append(seconds)
            w.append(1 / (seconds * seconds))
        }
        var solution = [Double](repeating: 0, count: used.count)
        var chisq = 0.0
        let status = cgsl_weighted_least_squares(x, y, w, samples.count, used.count, &solution, &chisq)
        guard status == 0 else { throw CalibrationError(file: nil, message: "the least-squares fit failed (GSL status \(status))") }
        var coefficients = [Double](repeating: 0, count: count)
        for (column, feature) in used.enumerated() { coefficients[feature] = solution[column] / scales[column] }
        var vector = SIMD8<Double>.zero
        for (feature, value) in coefficients.enumerated() { vector[feature] = value }
        let relative = samples.map { sample in (max(0, (vector * sample.features).sum()) - sample.seconds) / max(sample.seconds, 1e-7) }
        let rms = (relative.map { $0 * $0 }.reduce(0, +) / Double(relative.count)).squareRoot()
        return LatencyModel.UnitFit(coefficients: coefficients, samples: samples.count, rmsRelativeError: rms)
    }

    /// Fits every unit with samples, then the whole pass: measured time against the sum of the units'
    /// predictions (the scale), a constant and the pooled bytes (the `network` term), by the same weighted
    /// least squares over the timed networks.
    public static func fit(_ samples: [TimedUnit], key: CalibrationKey, networks: [(Network, Double)]) throws -> LatencyModel {
        var units: [LatencyUnit: LatencyModel.UnitFit] = [:]
        for (unit, group) in Dictionary(grouping: samples, by: \.unit) where unit != .network && group.count >= LatencyFeatures.count + 2 {
            units[unit] = try fit(group)
        }
        let created = ISO8601DateFormatter().string(from: Date())
        let unitsOnly = LatencyModel(key: key, createdAt: created, networks: networks.count, fitMAPE: 0, units: units).predictor
        var rows: [(sum: Double, pool: Double, seconds: Double)] = []
        for (network, seconds) in networks {
            guard let sum = unitsOnly.unitSeconds(of: network, batch: key.batch) else { continue }
            var pool = 0
            CostModel.forEachLayer(of: network) { pool += $0.poolElements }
            rows.append((sum, LatencyFeatures.network(poolElements: pool, batch: key.batch)[2], seconds))
        }
        guard rows.count >= 5 else { throw CalibrationError(file: nil, message: "only \(rows.count) networks could be predicted from their units; time more (a larger --budget-seconds)") }
        let scales = [rows.map(\.sum).max()!, 1, max(rows.map(\.pool).max()!, 1e-30)]
        let x: [Double] = rows.flatMap { row -> [Double] in [row.sum / scales[0], 1, row.pool / scales[2]] }
        let y = rows.map(\.seconds), w = rows.map { 1 / ($0.seconds * $0.seconds) }
        var solution = [0.0, 0.0, 0.0], chisq = 0.0
        let status = cgsl_weighted_least_squares(x, y, w, rows.count, 3, &solution, &chisq)
        guard status == 0, solution[0] > 0 else {
            throw CalibrationError(file: nil, message: "the fit of whole passes failed (GSL status \(status), scale \(solution[0] / scales[0]))")
        }
        units[.network] = LatencyModel.UnitFit(coefficients: [solution[1], 0, solution[2] / scales[2], 0, 0], samples: rows.count, rmsRelativeError: 0)
        var model = LatencyModel(key: key, createdAt: created, networks: networks.count, fitMAPE: 0, passScale: solution[0] / scales[0], units: units)
        let predictor = model.predictor
        let pairs = networks.compactMap { network, seconds in predictor.seconds(of: network, batch: key.batch).map { ($0, seconds) } }
        model.fitMAPE = Statistics.meanAbsolutePercentageError(predicted: pairs.map(\.0), measured: pairs.map(\.1))
        let relative = pairs.map { $0.0 / $0.1 - 1 }
        model.units[.network]?.rmsRelativeError = (relative.map { $0 * $0 }.reduce(0, +) / Double(max(1, relative.count))).squareRoot()
        return model
    }
}

/// Figures of a check: predicted against measured.
public enum Statistics {
    public static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Mean of |predicted - measured| / measured, as a fraction.
    public static func meanAbsolutePercentageError(predicted: [Double], measured: [Double]) -> Double {
        guard !predicted.isEmpty else { return .nan }
        return zip(predicted, measured).map { abs($0 - $1) / $1 }.reduce(0, +) / Double(predicted.count)
    }

    /// The share of pairs with |predicted / measured - 1| <= tolerance.
    public static func shareWithin(_ tolerance: Double, predicted: [Double], measured: [Double]) -> Double {
        guard !predicted.isEmpty else { return .nan }
        return Double(zip(predicted, measured).filter { abs($0 / $1 - 1) <= tolerance + 1e-12 }.count) / Double(predicted.count)
    }

    /// Kendall's tau-b (ties in either list reduce the denominator).
    public static func kendallTau(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "two lists of the same length")
        var concordant = 0.0, discordant = 0.0, tiesA = 0.0, tiesB = 0.0
        for i in 0..<a.count {
            for j in (i + 1)..<a.count {
                let da = a[i] - a[j], db = b[i] - b[j]
                if da == 0 && db == 0 { continue }
                if da == 0 { tiesA += 1; continue }
                if db == 0 { tiesB += 1; continue }
                if (da > 0) == (db > 0) { concordant += 1 } else { discordant += 1 }
            }
        }
        let denominator = ((concordant + discordant + tiesA) * (concordant + discordant + tiesB)).squareRoot()
        return denominator == 0 ? .nan : (concordant - discordant) / denominator
    }
}
