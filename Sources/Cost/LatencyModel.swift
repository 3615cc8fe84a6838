import Architecture
import Foundation
import Statistics

/// The units of a latency model: what the engine runs as one step in inference. A unit inside a block is
/// fitted from the timings of whole blocks as the engine runs them (fused), so its coefficients are its share
/// of the blocks' time; the stem, head and classifier are timed on their own.
public enum LatencyUnit: String, Codable, CaseIterable, Sendable {
    /// `conv_stem`: kxk strided dense convolution with batch norm and activation.
    case stem
    /// 1x1 stride-1 convolution with batch norm and activation, on its own pass over memory.
    case pointwise
    /// An inverted-residual block's 1x1 expansion run in one pass with the depthwise convolution after it (the
    /// AVX-512 engine keeps the expanded rows in cache): only its input goes through memory.
    case expansion
    /// 1x1 stride-1 convolution with batch norm and no activation (projections), the residual add in its epilogue.
    case projection
    /// Any other dense convolution: kxk or strided (Fused-MBConv expansions, conv-bn-act blocks).
    case dense
    /// Depthwise kxk with batch norm and activation, one fit per kernel size; `depthwise` is the fit used for
    /// other sizes (the 7x7 one, as MACs already count the kernel's area).
    case depthwise3, depthwise5, depthwise7, depthwise
    /// Squeeze-excite: pooling, two small 1x1 convolutions, sigmoid, and the gate (folded into the projection).
    case squeezeExcite = "squeeze_excite"
    /// `conv_head`: 1x1 convolution to the head channels with batch norm and activation.
    case head
    /// The classifier (linear with bias).
    case classifier
    /// Per forward pass: what the units do not cover (global pooling, the hand-offs between layers).
    case network

    /// The fit for depthwise kernels of size `kernel`, when that size is calibrated on its own.
    public static func depthwise(kernel: Int) -> LatencyUnit? {
        switch kernel {
        case 3: return .depthwise3
        case 5: return .depthwise5
        case 7: return .depthwise7
        default: return nil
        }
    }

    /// The units inside blocks, fitted together from whole blocks' timings.
    public static let blockUnits: [LatencyUnit] = [.pointwise, .expansion, .projection, .dense, .depthwise3, .depthwise5, .depthwise7, .squeezeExcite]
}

/// The features of a unit, for one forward pass of the batch. Every unit's time is modelled as a linear
/// function of these.
public enum LatencyFeatures {
    public static let names = ["constant", "macs", "activation_bytes", "weight_bytes", "silu_elements", "weight_spill_bytes", "tap_outputs",
                               "activation_spill_bytes"]
    public static let count = names.count

    /// Output channels rounded up to the kernels' vector width (`lanes` floats: 16 for the AVX-512 kernels, 8 for
    /// AVX2): the masked lanes of a channel block's last vector cost as much as full ones.
    @inline(__always)
    static func padded(_ channels: Int, lanes: Int) -> Int {
        // Lanes are a power of two (8 or 16): a mask instead of a division, in the estimator's hot path.
        lanes & (lanes - 1) == 0 ? (channels + lanes - 1) & -lanes : (channels + lanes - 1) / lanes * lanes
    }

    /// Input channels as a dense convolution's inner loop runs them: one broadcast per channel in the AVX-512
    /// kernels (`lanes` 16), vectors of 8 in the AVX2 path.
    @inline(__always)
    static func inputs(_ channels: Int, lanes: Int) -> Int { lanes == 16 ? channels : padded(channels, lanes: 8) }

    /// How much longer than an even share the busiest thread works when `rows` rows are split into contiguous
    /// chunks over `threads` threads (the engine splits depthwise and kxk convolutions by output rows, kxk ones
    /// with many weights and few rows by pairs of output blocks: `EngineRules.denseSplitsOverOutputs`).
    @inline(__always)
    static func imbalance(rows: Int, threads: Int) -> Double {
        guard threads > 1, rows > 0 else { return 1 }
        // With at least as many rows as threads, the busiest thread has ceil(rows / threads) of them: no imbalance
        // when they divide evenly (most layers; a mask for the remainder when threads is a power of two).
        guard rows >= threads else { return Double(threads) / Double(rows) }
        let remainder = threads & (threads - 1) == 0 ? rows & (threads - 1) : rows % threads
        return remainder == 0 ? 1 : Double(rows - remainder + threads) / Double(rows)
    }

    /// Features of a cost-model row at `batch` images and `threads` threads, for kernels with vectors of `lanes`
    /// floats. `fusedExpansion`: the row is an expansion the engine runs in one pass with its depthwise
    /// convolution (`LatencyUnit.expansion`). `cacheBytes`: the calibrated machine's per-core L2 cache
    /// (`LatencyModel.cacheBytes`); a tensor larger than it comes from or goes to the shared cache or memory at a
    /// lower bandwidth than one that stays, and its bytes are `weight_spill_bytes` or `activation_spill_bytes` too
    /// (each with a coefficient of its own).
    @inline(__always)
    public static func of(_ row: LayerCost, batch: Int, threads: Int, fusedExpansion: Bool = false, lanes: Int = 8,
                          cacheBytes: Double? = nil) -> SIMD8<Double> {
        let b = Double(batch)
        var macs = Double(row.macs)
        // A dense kxk convolution's inner loop runs once per kernel tap, output pixel and block of outputs, over
        // the input channels: with few input channels, that loop's overhead is what costs.
        var taps = 0.0
        var share = imbalance(rows: batch * row.outputSize, threads: threads)
        // The AVX-512 kxk kernel (lanes 16) splits a layer with many weights and few rows over its outputs.
        if lanes == 16 && row.kind == .conv && (row.kernel > 1 || row.stride > 1)
            && EngineRules.denseSplitsOverOutputs(kernel: row.kernel, inChannels: row.inChannels, outChannels: row.outChannels,
                                                  inputElements: batch * row.inputElements, threads: threads) {
            share = imbalance(rows: EngineRules.outputBlockPairs(row.outChannels), threads: threads)
        }
        let outputTaps = Double(padded(row.outChannels, lanes: lanes) * row.outputSize * row.outputSize * row.kernel * row.kernel)
        switch row.kind {
        case .depthwise:
            macs = outputTaps * share
        case .conv:
            macs = Double(inputs(row.inChannels, lanes: lanes)) * outputTaps
            if row.kernel > 1 || row.stride > 1 || fusedExpansion { macs *= share }
            if row.kernel > 1 { taps = outputTaps * share }
        default:
            break
        }
        // The block's input, added in the epilogue of its last convolution, is read like the rest of its activations.
        let last = row.kind == .conv && row.block != nil && (row.activation == nil || row.part == .conv)
        let residual = last && row.heldElements > 0 && row.heldElements == row.outputElements ? 4 * Double(row.heldElements) * b : 0
        let activationBytes = 4 * Double(row.inputElements + (fusedExpansion ? 0 : row.outputElements)) * b + residual
        let silu = row.activation == .silu ? Double(row.outputElements) * b : 0
        var weightSpill = 0.0, activationSpill = 0.0
        if let cacheBytes {
            let weights = 4 * Double(row.params), input = 4 * Double(row.inputElements) * b, output = 4 * Double(row.outputElements) * b
            if weights > cacheBytes { weightSpill = weights }
            // A depthwise convolution's input is, in most blocks, the expansion the engine has just made row by row.
            if row.kind != .depthwise && input > cacheBytes { activationSpill += input }
            if !fusedExpansion && output > cacheBytes { activationSpill += output }
        }
        return SIMD8(1, macs * b, activationBytes, 4 * Double(row.params), silu, weightSpill, taps * b, activationSpill)
    }

    /// Features of the per-pass remainder: global pooling over `poolElements` per image, and the bytes of the
    /// network's `parameters` beyond `cacheBytes` (`LatencyModel.weightCacheBytes`): a network whose weights do
    /// not stay in the last-level cache from one pass to the next reads them from memory every pass.
    @inline(__always)
    public static func network(poolElements: Int, batch: Int, parameters: Int, cacheBytes: Double?) -> SIMD8<Double> {
        let beyond = cacheBytes.map { max(0, 4 * Double(parameters) - $0) } ?? 0
        return SIMD8(1, 0, 4 * Double(poolElements * batch), beyond, 0, 0, 0, 0)
    }
}

/// What a calibration is valid for: the same CPU model, thread count, batch, efsearch version and BLAS.
public struct CalibrationKey: Codable, Hashable, Sendable, CustomStringConvertible {
    public var cpu: String
    public var threads: Int
    public var batch: Int
    public var efsearch: String
    public var blas: String

    public init(cpu: String, threads: Int, batch: Int, efsearch: String, blas: String) {
        self.cpu = cpu
        self.threads = threads
        self.batch = batch
        self.efsearch = efsearch
        self.blas = blas
    }

    public var description: String { "\(cpu), \(threads) threads, batch \(batch), efsearch \(efsearch), \(blas)" }

    /// The fields that differ from `other`, as `name this (other)`.
    public func differences(from other: CalibrationKey) -> [String] {
        var result: [String] = []
        if cpu != other.cpu { result.append("cpu \"\(cpu)\" (here \"\(other.cpu)\")") }
        if threads != other.threads { result.append("threads \(threads) (here \(other.threads))") }
        if batch != other.batch { result.append("batch \(batch) (here \(other.batch))") }
        if efsearch != other.efsearch { result.append("efsearch \(efsearch) (here \(other.efsearch))") }
        if blas != other.blas { result.append("BLAS \(blas) (here \(other.blas))") }
        return result
    }
}

/// A latency model calibrated on one machine: per unit, coefficients over `LatencyFeatures` (seconds per
/// feature unit). A network's predicted latency is `passScale` times the sum of its units' predictions to the
/// power `passExponent`, plus
/// the per-pass term (`network`); the scale and the per-pass term are fitted on whole passes, so that what the
/// units' timings miss together (cache effects between layers, hand-offs) is accounted for.
public struct LatencyModel: Codable, Sendable {
    public static let currentFormat = 4

    public struct UnitFit: Codable, Sendable, Equatable {
        /// One per feature in `LatencyFeatures.names` order; 0 for features the fit dropped.
        public var coefficients: [Double]
        /// Timed units the fit used.
        public var samples: Int
        /// Root-mean-square relative error of the fit on its samples.
        public var rmsRelativeError: Double

        public init(coefficients: [Double], samples: Int, rmsRelativeError: Double) {
            self.coefficients = coefficients
            self.samples = samples
            self.rmsRelativeError = rmsRelativeError
        }

        enum CodingKeys: String, CodingKey {
            case coefficients, samples
            case rmsRelativeError = "rms_relative_error"
        }
    }

    public var format: Int
    public var key: CalibrationKey
    /// ISO 8601.
    public var createdAt: String
    /// Networks timed for the fit, and the fit's mean absolute percentage error on them (end to end).
    public var networks: Int
    public var fitMAPE: Double
    /// The factor on the sum of the units' predictions.
    public var passScale: Double
    /// The power on the sum of the units (1: proportional). Fitted on whole passes: the units' sum of a large
    /// network overstates its pass a little, of a small one understates it.
    public var passExponent: Double
    public var units: [LatencyUnit: UnitFit]
    /// The speed reference of the calibration (`LatencyModel.probe`): its median pass in a series, the median
    /// over the calibration's series, in seconds. A check compares it with the reference's speed during the check
    /// (and says when they differ by more than 10%), and takes its drift-corrected times at this speed.
    public var probeSeconds: Double?
    /// The vector width of the calibrated engine's kernels in floats (16: AVX-512, 8: AVX2), which sets how
    /// channels are rounded in the features (`LatencyFeatures.of`).
    public var vectorLanes: Int
    /// How many bytes of weights stay in cache between passes, as the whole-pass fit found it; the bytes beyond
    /// are the `network` term's weight bytes. Nil: no such term.
    public var weightCacheBytes: Double?
    /// The calibrated machine's per-core L2 cache in bytes: weights and activations larger than it are
    /// `weight_spill_bytes` and `activation_spill_bytes` (`LatencyFeatures.of`). Nil: no spill features.
    public var cacheBytes: Double?
    /// A transferred model (`calibrate --from`): the key of the model it was adapted from.
    public var transferredFrom: String?
    /// What the units and the pass fit miss, as a smooth factor on the pass (`PassCorrection`). Nil: none (a
    /// model from fewer networks than `PassCorrection.minimumNetworks`).
    public var passCorrection: PassCorrection?
    /// With a correction: the fit's in-sample error without it (`fitMAPE` is with it).
    public var uncorrectedFitMAPE: Double?

    /// The reference network timed beside every timed network, to take out a shared host's speed drift:
    /// EfficientNet-B0 at 160 px.
    public static let probe = (preset: "efficientnet-b0", resolution: 160)

    public init(key: CalibrationKey, createdAt: String, networks: Int, fitMAPE: Double, passScale: Double = 1, passExponent: Double = 1,
                vectorLanes: Int = 8, units: [LatencyUnit: UnitFit]) {
        format = LatencyModel.currentFormat
        self.key = key
        self.createdAt = createdAt
        self.networks = networks
        self.fitMAPE = fitMAPE
        self.passScale = passScale
        self.passExponent = passExponent
        self.vectorLanes = vectorLanes
        self.units = units
    }

    enum CodingKeys: String, CodingKey {
        case format, key, networks, units
        case createdAt = "created_at"
        case fitMAPE = "fit_mape"
        case passScale = "pass_scale"
        case passExponent = "pass_exponent"
        case probeSeconds = "probe_seconds"
        case vectorLanes = "vector_lanes"
        case weightCacheBytes = "weight_cache_bytes"
        case cacheBytes = "l2_cache_bytes"
        case transferredFrom = "transferred_from"
        case passCorrection = "pass_correction"
        case uncorrectedFitMAPE = "fit_mape_uncorrected"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decode(Int.self, forKey: .format)
        guard format == LatencyModel.currentFormat else {
            throw DecodingError.dataCorruptedError(forKey: .format, in: container,
                                                   debugDescription: "format \(format); this efsearch reads format \(LatencyModel.currentFormat) (calibrate again: efsearch calibrate)")
        }
        key = try container.decode(CalibrationKey.self, forKey: .key)
        createdAt = try container.decode(String.self, forKey: .createdAt)
        networks = try container.decode(Int.self, forKey: .networks)
        fitMAPE = try container.decode(Double.self, forKey: .fitMAPE)
        passScale = try container.decode(Double.self, forKey: .passScale)
        passExponent = try container.decode(Double.self, forKey: .passExponent)
        guard passExponent.isFinite && (0.5...1.5).contains(passExponent) else {
            throw DecodingError.dataCorruptedError(forKey: .passExponent, in: container, debugDescription: "pass_exponent \(passExponent) must be between 0.5 and 1.5")
        }
        probeSeconds = try container.decodeIfPresent(Double.self, forKey: .probeSeconds)
        if let probeSeconds, !(probeSeconds.isFinite && probeSeconds > 0) {
            throw DecodingError.dataCorruptedError(forKey: .probeSeconds, in: container, debugDescription: "probe_seconds \(probeSeconds) must be a positive number")
        }
        vectorLanes = try container.decodeIfPresent(Int.self, forKey: .vectorLanes) ?? 8
        weightCacheBytes = try container.decodeIfPresent(Double.self, forKey: .weightCacheBytes)
        if let weightCacheBytes, !(weightCacheBytes.isFinite && weightCacheBytes >= 0) {
            throw DecodingError.dataCorruptedError(forKey: .weightCacheBytes, in: container, debugDescription: "weight_cache_bytes \(weightCacheBytes) must be a number >= 0")
        }
        cacheBytes = try container.decodeIfPresent(Double.self, forKey: .cacheBytes)
        if let cacheBytes, !(cacheBytes.isFinite && cacheBytes > 0) {
            throw DecodingError.dataCorruptedError(forKey: .cacheBytes, in: container, debugDescription: "l2_cache_bytes \(cacheBytes) must be a positive number")
        }
        transferredFrom = try container.decodeIfPresent(String.self, forKey: .transferredFrom)
        passCorrection = try container.decodeIfPresent(PassCorrection.self, forKey: .passCorrection)
        uncorrectedFitMAPE = try container.decodeIfPresent(Double.self, forKey: .uncorrectedFitMAPE)
        if let problem = passCorrection?.problem {
            throw DecodingError.dataCorruptedError(forKey: .passCorrection, in: container, debugDescription: "pass_correction: \(problem)")
        }
        guard vectorLanes == 8 || vectorLanes == 16 else {
            throw DecodingError.dataCorruptedError(forKey: .vectorLanes, in: container, debugDescription: "vector_lanes \(vectorLanes) must be 8 or 16")
        }
        guard passScale.isFinite && passScale > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .passScale, in: container, debugDescription: "pass_scale \(passScale) must be a positive number")
        }
        let named = try container.decode([String: UnitFit].self, forKey: .units)
        var units: [LatencyUnit: UnitFit] = [:]
        for (name, fit) in named {
            guard let unit = LatencyUnit(rawValue: name) else {
                throw DecodingError.dataCorruptedError(forKey: .units, in: container, debugDescription: "unknown unit \"\(name)\"")
            }
            guard fit.coefficients.count == LatencyFeatures.count, fit.coefficients.allSatisfy(\.isFinite) else {
                throw DecodingError.dataCorruptedError(forKey: .units, in: container,
                                                       debugDescription: "unit \(name) has \(fit.coefficients.count) coefficients; expected \(LatencyFeatures.count) finite numbers")
            }
            units[unit] = fit
        }
        self.units = units
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(format, forKey: .format)
        try container.encode(key, forKey: .key)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(networks, forKey: .networks)
        try container.encode(fitMAPE, forKey: .fitMAPE)
        try container.encode(passScale, forKey: .passScale)
        try container.encode(passExponent, forKey: .passExponent)
        try container.encodeIfPresent(probeSeconds, forKey: .probeSeconds)
        try container.encode(vectorLanes, forKey: .vectorLanes)
        try container.encodeIfPresent(weightCacheBytes, forKey: .weightCacheBytes)
        try container.encodeIfPresent(cacheBytes, forKey: .cacheBytes)
        try container.encodeIfPresent(transferredFrom, forKey: .transferredFrom)
        try container.encodeIfPresent(passCorrection, forKey: .passCorrection)
        try container.encodeIfPresent(uncorrectedFitMAPE, forKey: .uncorrectedFitMAPE)
        try container.encode(Dictionary(uniqueKeysWithValues: units.map { ($0.key.rawValue, $0.value) }), forKey: .units)
    }

    /// The model in the form predictions use.
    public var predictor: LatencyPredictor { LatencyPredictor(self) }
}

/// A latency model's coefficients laid out for fast prediction (the estimator calls this for every candidate).
public struct LatencyPredictor: Sendable {
    let coefficients: [SIMD8<Double>]
    let fitted: [Bool]
    /// The factor and the power on the sum of the units (`LatencyModel.passScale`, `passExponent`).
    public let passScale: Double
    public let passExponent: Double
    /// Where the model came from, for messages.
    public let key: CalibrationKey
    public let createdAt: String
    /// The calibrated engine ran expansions in one pass with their depthwise convolutions (it has an
    /// `expansion` fit).
    let fusesExpansions: Bool
    /// The kernels' vector width (`LatencyModel.vectorLanes`).
    let lanes: Int
    /// `LatencyModel.weightCacheBytes`.
    let weightCacheBytes: Double?
    /// `LatencyModel.cacheBytes`.
    let cacheBytes: Double?
    /// `LatencyModel.passCorrection`.
    let correction: LatencyModel.PassCorrection.Evaluator?

    public init(_ model: LatencyModel) {
        var coefficients = [SIMD8<Double>](repeating: .zero, count: LatencyUnit.allCases.count)
        var fitted = [Bool](repeating: false, count: LatencyUnit.allCases.count)
        for unit in LatencyUnit.allCases {
            guard let fit = model.units[unit] else { continue }
            var vector = SIMD8<Double>.zero
            for (feature, value) in fit.coefficients.enumerated() { vector[feature] = value }
            coefficients[LatencyPredictor.index(unit)] = vector
            fitted[LatencyPredictor.index(unit)] = true
        }
        self.coefficients = coefficients
        self.fitted = fitted
        passScale = model.passScale
        passExponent = model.passExponent
        key = model.key
        createdAt = model.createdAt
        fusesExpansions = fitted[LatencyPredictor.index(.expansion)]
        lanes = model.vectorLanes
        weightCacheBytes = model.weightCacheBytes
        cacheBytes = model.cacheBytes
        correction = model.passCorrection.map(LatencyModel.PassCorrection.Evaluator.init)
    }

    @inline(__always)
    static func index(_ unit: LatencyUnit) -> Int {
        switch unit {
        case .stem: return 0
        case .pointwise: return 1
        case .expansion: return 2
        case .projection: return 3
        case .dense: return 4
        case .depthwise3: return 5
        case .depthwise5: return 6
        case .depthwise7: return 7
        case .depthwise: return 8
        case .squeezeExcite: return 9
        case .head: return 10
        case .classifier: return 11
        case .network: return 12
        }
    }

    /// Seconds for features of a unit; nil when the unit was not calibrated. Never negative.
    @inline(__always)
    public func seconds(_ unit: LatencyUnit, _ features: SIMD8<Double>) -> Double? {
        let index = LatencyPredictor.index(unit)
        guard fitted[index] else { return nil }
        return max(0, (coefficients[index] * features).sum())
    }

    /// Whether an engine that fuses expansions runs `row` in one pass with the depthwise convolution after it:
    /// an inverted-residual block's 1x1 expansion (`conv_pw` with an activation) on rows at least
    /// `EngineRules.minimumFusedExpansionWidth` pixels wide (the engine's `ConvUnit.fusesWithDepthwise`).
    @inline(__always)
    public static func isFusedExpansion(_ row: LayerCost) -> Bool {
        row.kind == .conv && row.part == .convPw && row.kernel == 1 && row.stride == 1 && row.activation != nil
            && row.block != nil && row.inputSize >= EngineRules.minimumFusedExpansionWidth
    }

    /// The unit that runs a cost-model row (nil for global pooling, which the per-pass term covers).
    /// `fusedExpansions`: the engine runs expansions with their depthwise convolutions.
    @inline(__always)
    public static func unit(of row: LayerCost, fusedExpansions: Bool) -> LatencyUnit? {
        switch row.kind {
        case .conv:
            if row.block == nil { return row.part == .convStem ? .stem : .head }
            if row.kernel == 1 && row.stride == 1 {
                if row.activation == nil { return .projection }
                return fusedExpansions && isFusedExpansion(row) ? .expansion : .pointwise
            }
            return .dense
        case .depthwise: return LatencyUnit.depthwise(kernel: row.kernel) ?? .depthwise
        case .squeezeExcite: return .squeezeExcite
        case .linear: return .classifier
        case .pool: return nil
        }
    }

    /// The unit and features of a row for this model's engine.
    @inline(__always)
    public func unitAndFeatures(of row: LayerCost, batch: Int) -> (unit: LatencyUnit, features: SIMD8<Double>)? {
        guard let unit = LatencyPredictor.unit(of: row, fusedExpansions: fusesExpansions) else { return nil }
        return (unit, LatencyFeatures.of(row, batch: batch, threads: key.threads, fusedExpansion: unit == .expansion, lanes: lanes,
                                              cacheBytes: cacheBytes))
    }

    /// Predicted seconds of a row at `batch` (0 for global pooling, in the per-pass term; a depthwise row with
    /// a kernel size that was not calibrated uses the `depthwise` fit).
    @inline(__always)
    public func seconds(of row: LayerCost, batch: Int) -> Double? {
        guard let (unit, features) = unitAndFeatures(of: row, batch: batch) else { return 0 }
        if let value = seconds(unit, features) { return value }
        return row.kind == .depthwise ? seconds(.depthwise, features) : nil
    }

    /// Predicted seconds of one forward pass of `network` at `batch`; nil when a unit it needs was not calibrated.
    public func seconds(of network: Network, batch: Int) -> Double? {
        guard let sums = passInputs(of: network, batch: batch) else { return nil }
        return pass(rowSeconds: sums.unitSeconds, poolElements: sums.poolElements, parameters: sums.parameters, outputs: sums.outputs, batch: batch)
    }

    /// In one walk over the rows: the sum of the units' predictions (unscaled; nil when one is missing), and
    /// what the per-pass term and the correction need: the pooled elements per image, the parameters and the
    /// output elements per image.
    public func passInputs(of network: Network, batch: Int) -> (unitSeconds: Double, poolElements: Int, parameters: Int, outputs: Int)? {
        passInputs(of: { body in CostModel.forEachLayer(of: network, body) }, batch: batch)
    }

    /// `passInputs(of:batch:)` over rows given by `rows` (a walk that calls its closure for each row).
    func passInputs(of rows: ((LayerCost) -> Void) -> Void, batch: Int) -> (unitSeconds: Double, poolElements: Int, parameters: Int, outputs: Int)? {
        var units = 0.0, poolElements = 0, parameters = 0, outputs = 0
        var complete = true
        rows { row in
            if let value = seconds(of: row, batch: batch) { units += value } else { complete = false }
            poolElements += row.poolElements
            parameters += row.params
            outputs += row.outputElements
        }
        return complete ? (units, poolElements, parameters, outputs) : nil
    }

    /// A whole pass from the rows' sum: `passScale * sum^passExponent`, and the per-pass term added (the
    /// uncorrected pass, `uncorrectedPass`), times the correction's factor for the network's parameters, output
    /// elements per image and that pass. The term is added as fitted, also when it is negative (its constant
    /// is, when the scaled sum overshoots small networks): clamped at 0 like a unit's, it put a calibration's
    /// 1.5 ms networks 4% above its own fit. A pass is never predicted below half the scaled sum (a network far
    /// smaller than any calibrated one).
    @inline(__always)
    public func pass(rowSeconds: Double, poolElements: Int, parameters: Int, outputs: Int, batch: Int) -> Double? {
        guard let uncorrected = uncorrectedPass(rowSeconds: rowSeconds, poolElements: poolElements, parameters: parameters, batch: batch) else { return nil }
        return uncorrected * correctionFactor(parameters: parameters, outputs: outputs, batch: batch, uncorrected: uncorrected)
    }

    /// The pass without the correction: the scaled sum of the rows and the per-pass term.
    @inline(__always)
    func uncorrectedPass(rowSeconds: Double, poolElements: Int, parameters: Int, batch: Int) -> Double? {
        let index = LatencyPredictor.index(.network)
        guard fitted[index] else { return nil }
        let features = LatencyFeatures.network(poolElements: poolElements, batch: batch, parameters: parameters, cacheBytes: weightCacheBytes)
        let units = passScale * Foundation.pow(rowSeconds, passExponent)
        return max(units + (coefficients[index] * features).sum(), 0.5 * units)
    }

    /// The correction's factor on an uncorrected pass of `uncorrected` seconds (1 without a correction).
    @inline(__always)
    func correctionFactor(parameters: Int, outputs: Int, batch: Int, uncorrected: Double) -> Double {
        guard let correction else { return 1 }
        return correction.factor(LatencyModel.PassCorrection.descriptors(parameters: parameters, outputs: outputs, batch: batch, seconds: uncorrected))
    }

    /// The factor that turns a row's prediction into its share of the pass, for a network's `rows` (what
    /// `--per-layer` shows): the scale and power on the rows' sum, and the correction's factor; the shares add up
    /// to the pass without its per-pass term.
    public func rowScale(of rows: [LayerCost], batch: Int) -> Double {
        guard let sums = passInputs(of: { body in rows.forEach(body) }, batch: batch), sums.unitSeconds > 0 else { return passScale }
        let scale = passScale * Foundation.pow(sums.unitSeconds, passExponent - 1)
        guard let uncorrected = uncorrectedPass(rowSeconds: sums.unitSeconds, poolElements: sums.poolElements, parameters: sums.parameters, batch: batch) else {
            return scale
        }
        return scale * correctionFactor(parameters: sums.parameters, outputs: sums.outputs, batch: batch, uncorrected: uncorrected)
    }
}

extension LatencyModel {
    /// What the units' linear models and the whole-pass fit still miss, as a smooth factor on a network's pass:
    /// the log of measured over predicted pass of the calibration's networks, a Gaussian process over three
    /// descriptors of the network (its weight bytes, its output bytes per pass and its uncorrected predicted
    /// pass, each as a log, scaled to [0, 1] over the calibration's networks), fitted as the search's
    /// (`GaussianProcess`: Matérn-5/2 with a length scale per descriptor and a noise variance). Its mean at a
    /// network is the log of the factor, which stays within `limits`. Families of networks the linear features
    /// fit unevenly (on this host EfficientNetV2-S at 384 px 5-9% high, EfficientNet-B1 at 240 px 4-10% low in
    /// the same calibration) lie in their own parts of that space. Refitted on five calibrations' timings
    /// (`docs/latency.md`), it lowered the mean absolute error of all seven checks of four of them by 0.3-0.7
    /// points; the fifth, made while the host ran 1.14-1.18 times slower than during its checks, lost 0.5-1.9.
    public struct PassCorrection: Codable, Sendable, Equatable {
        /// The descriptors' smallest and largest values over the calibration's networks (the [0, 1] scaling).
        public var lower: [Double]
        public var upper: [Double]
        /// The calibration's networks' scaled descriptors.
        public var inputs: [[Double]]
        /// K⁻¹ y of the process (y: the standardised log ratios).
        public var weights: [Double]
        public var lengthscales: [Double]
        public var signalVariance: Double
        /// The log ratio is `targetMean + targetScale * y`.
        public var targetMean: Double
        public var targetScale: Double

        public init(lower: [Double], upper: [Double], inputs: [[Double]], weights: [Double], lengthscales: [Double], signalVariance: Double,
                    targetMean: Double, targetScale: Double) {
            (self.lower, self.upper, self.inputs, self.weights) = (lower, upper, inputs, weights)
            (self.lengthscales, self.signalVariance, self.targetMean, self.targetScale) = (lengthscales, signalVariance, targetMean, targetScale)
        }

        enum CodingKeys: String, CodingKey {
            case lower, upper, inputs, weights, lengthscales
            case signalVariance = "signal_variance"
            case targetMean = "target_mean"
            case targetScale = "target_scale"
        }

        /// The factor never goes beyond these: the correction mends what the linear model misses by a few
        /// percent, far from the calibration's networks its mean returns to `targetMean`.
        public static let limits = 0.8...1.25
        /// A calibration with fewer timed networks fits no correction (a transfer's few networks).
        public static let minimumNetworks = 60
        public static let dimensions = 3

        /// The descriptors of a network: the logs of its weight bytes, its output bytes per pass at `batch`, and
        /// its uncorrected predicted pass in seconds.
        @inline(__always)
        public static func descriptors(parameters: Int, outputs: Int, batch: Int, seconds: Double) -> SIMD4<Double> {
            SIMD4(log(4 * Double(max(parameters, 1))), log(4 * Double(max(outputs, 1) * batch)), log(max(seconds, 1e-9)), 0)
        }

        /// What is wrong with a decoded correction, or nil.
        var problem: String? {
            let d = PassCorrection.dimensions
            guard lower.count == d, upper.count == d, lengthscales.count == d else { return "lower, upper and lengthscales must have \(d) values each" }
            guard inputs.count == weights.count, !inputs.isEmpty else { return "inputs and weights must have the same number (at least 1) of rows" }
            guard inputs.allSatisfy({ $0.count == d }) else { return "every input must have \(d) values" }
            let numbers = lower + upper + lengthscales + weights + inputs.flatMap { $0 } + [signalVariance, targetMean, targetScale]
            guard numbers.allSatisfy(\.isFinite) else { return "every value must be a finite number" }
            guard zip(lower, upper).allSatisfy({ $0 < $1 }) else { return "each lower value must be below its upper one" }
            guard lengthscales.allSatisfy({ $0 > 0 }), signalVariance > 0, targetScale > 0 else { return "lengthscales, signal_variance and target_scale must be positive" }
            return nil
        }

        /// The correction laid out for fast evaluation (the estimator's, for every candidate).
        struct Evaluator: Sendable {
            let lower: SIMD4<Double>, span: SIMD4<Double>, inverseLengths: SIMD4<Double>
            let inputs: [SIMD4<Double>], weights: [Double]
            let signalVariance: Double, targetMean: Double, targetScale: Double

            init(_ correction: PassCorrection) {
                func vector(_ values: [Double], padding: Double) -> SIMD4<Double> { SIMD4(values[0], values[1], values[2], padding) }
                lower = vector(correction.lower, padding: 0)
                span = vector(zip(correction.upper, correction.lower).map { $0 - $1 }, padding: 1)
                inverseLengths = vector(correction.lengthscales.map { 1 / $0 }, padding: 0)
                inputs = correction.inputs.map { vector($0, padding: 0) }
                weights = correction.weights
                (signalVariance, targetMean, targetScale) = (correction.signalVariance, correction.targetMean, correction.targetScale)
            }

            /// The factor at a network's `descriptors`.
            @inline(__always)
            func factor(_ descriptors: SIMD4<Double>) -> Double {
                let x = (descriptors - lower) / span
                var mean = 0.0
                for index in inputs.indices {
                    let t = (x - inputs[index]) * inverseLengths
                    mean += weights[index] * Matern52.correlation(squaredDistance: (t * t).sum())
                }
                let factor = exp(targetMean + targetScale * signalVariance * mean)
                return min(max(factor, PassCorrection.limits.lowerBound), PassCorrection.limits.upperBound)
            }
        }
    }
}
