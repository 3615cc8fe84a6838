import Architecture
import Foundation

/// The units a latency model fits separately: what the engine runs as one step in inference.
public enum LatencyUnit: String, Codable, CaseIterable, Sendable {
    /// `conv_stem`: 3x3 stride-2 dense convolution with batch norm and activation (im2col + GEMM).
    case stem
    /// 1x1 stride-1 convolution with batch norm and activation (MBConv expansions): the packed pointwise kernel.
    case pointwise
    /// 1x1 stride-1 convolution with batch norm and no activation (projections).
    case projection
    /// Any other dense convolution: kxk or strided (Fused-MBConv expansions, conv-bn-act blocks).
    case dense
    /// Depthwise kxk with batch norm and activation, one fit per kernel size, and one over all kernels for
    /// sizes that were not calibrated.
    case depthwise3, depthwise5, depthwise7, depthwise
    /// Squeeze-excite: pooling, two small 1x1 convolutions, sigmoid, scaling.
    case squeezeExcite = "squeeze_excite"
    /// A block's residual add (with drop-path off: inference).
    case residual
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
}

/// The features of a timed unit, for one forward pass of the batch. Every unit's time is modelled as a
/// linear function of these (a unit's fit drops the ones that do not vary for it).
public enum LatencyFeatures {
    public static let names = ["constant", "macs", "activation_bytes", "weight_bytes", "silu_elements"]
    public static let count = names.count

    /// Channels rounded up to the engine's vector width (8 floats): kernels work on whole vectors.
    @inline(__always)
    static func padded(_ channels: Int) -> Int { (channels + 7) / 8 * 8 }

    /// Features of a cost-model row at `batch` images.
    @inline(__always)
    public static func of(_ row: LayerCost, batch: Int) -> SIMD8<Double> {
        let b = Double(batch)
        var macs = Double(row.macs)
        switch row.kind {
        case .depthwise:
            macs = Double(padded(row.outChannels) * row.outputSize * row.outputSize * row.kernel * row.kernel)
        case .conv:
            macs = Double(padded(row.inChannels) * padded(row.outChannels) * row.kernel * row.kernel * row.outputSize * row.outputSize)
        default:
            break
        }
        let activationBytes = 4 * Double(row.inputElements + row.outputElements) * b
        let silu = row.activation == .silu ? Double(row.outputElements) * b : 0
        return SIMD8(1, macs * b, activationBytes, 4 * Double(row.params), silu, 0, 0, 0)
    }

    /// Features of a residual add over `elements` per image (two tensors read, one written).
    @inline(__always)
    public static func residual(elements: Int, batch: Int) -> SIMD8<Double> {
        SIMD8(1, 0, 12 * Double(elements * batch), 0, 0, 0, 0, 0)
    }

    /// Features of the per-pass remainder: global pooling over `poolElements` per image.
    @inline(__always)
    public static func network(poolElements: Int, batch: Int) -> SIMD8<Double> {
        SIMD8(1, 0, 4 * Double(poolElements * batch), 0, 0, 0, 0, 0)
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
/// feature unit). A network's predicted latency is `passScale` times the sum of its units' predictions, plus
/// the per-pass term (`network`); the scale and the per-pass term are fitted on whole passes, so that what the
/// units' timings miss together (cache effects between layers, hand-offs) is accounted for.
public struct LatencyModel: Codable, Sendable {
    public static let currentFormat = 1

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
    public var units: [LatencyUnit: UnitFit]

    public init(key: CalibrationKey, createdAt: String, networks: Int, fitMAPE: Double, passScale: Double = 1, units: [LatencyUnit: UnitFit]) {
        format = LatencyModel.currentFormat
        self.key = key
        self.createdAt = createdAt
        self.networks = networks
        self.fitMAPE = fitMAPE
        self.passScale = passScale
        self.units = units
    }

    enum CodingKeys: String, CodingKey {
        case format, key, networks, units
        case createdAt = "created_at"
        case fitMAPE = "fit_mape"
        case passScale = "pass_scale"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        format = try container.decode(Int.self, forKey: .format)
        guard format == LatencyModel.currentFormat else {
            throw DecodingError.dataCorruptedError(forKey: .format, in: container,
                                                   debugDescription: "format \(format); this efsearch reads format \(LatencyModel.currentFormat)")
        }
        key = try container.decode(CalibrationKey.self, forKey: .key)
        createdAt = try container.decode(String.self, forKey: .createdAt)
        networks = try container.decode(Int.self, forKey: .networks)
        fitMAPE = try container.decode(Double.self, forKey: .fitMAPE)
        passScale = try container.decode(Double.self, forKey: .passScale)
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
        try container.encode(Dictionary(uniqueKeysWithValues: units.map { ($0.key.rawValue, $0.value) }), forKey: .units)
    }

    /// The model in the form predictions use.
    public var predictor: LatencyPredictor { LatencyPredictor(self) }
}

/// A latency model's coefficients laid out for fast prediction (the estimator calls this for every candidate).
public struct LatencyPredictor: Sendable {
    let coefficients: [SIMD8<Double>]
    let fitted: [Bool]
    /// The factor on the sum of the units (`LatencyModel.passScale`).
    public let passScale: Double
    /// Where the model came from, for messages.
    public let key: CalibrationKey
    public let createdAt: String

    public init(_ model: LatencyModel) {
        var coefficients = [SIMD8<Double>](repeating: .zero, count: LatencyUnit.allCases.count)
        var fitted = [Bool](repeating: false, count: LatencyUnit.allCases.count)
        for (index, unit) in LatencyUnit.allCases.enumerated() {
            guard let fit = model.units[unit] else { continue }
            var vector = SIMD8<Double>.zero
            for (feature, value) in fit.coefficients.enumerated() { vector[feature] = value }
            coefficients[index] = vector
            fitted[index] = true
        }
        self.coefficients = coefficients
        self.fitted = fitted
        passScale = model.passScale
        key = model.key
        createdAt = model.createdAt
    }

    @inline(__always)
    static func index(_ unit: LatencyUnit) -> Int {
        switch unit {
        case .stem: return 0
        case .pointwise: return 1
        case .projection: return 2
        case .dense: return 3
        case .depthwise3: return 4
        case .depthwise5: return 5
        case .depthwise7: return 6
        case .depthwise: return 7
        case .squeezeExcite: return 8
        case .residual: return 9
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

    /// The unit that runs a cost-model row (nil for global pooling, which the per-pass term covers).
    @inline(__always)
    public static func unit(of row: LayerCost) -> LatencyUnit? {
        switch row.kind {
        case .conv:
            if row.block == nil { return row.part == "conv_stem" ? .stem : .head }
            if row.kernel == 1 && row.stride == 1 { return row.activation == nil ? .projection : .pointwise }
            return .dense
        case .depthwise: return LatencyUnit.depthwise(kernel: row.kernel) ?? .depthwise
        case .squeezeExcite: return .squeezeExcite
        case .linear: return .classifier
        case .pool: return nil
        }
    }

    /// Predicted seconds of a row at `batch` (a depthwise row falls back to the all-kernels fit).
    @inline(__always)
    public func seconds(of row: LayerCost, batch: Int) -> Double? {
        guard let unit = LatencyPredictor.unit(of: row) else { return 0 }
        let features = LatencyFeatures.of(row, batch: batch)
        if let value = seconds(unit, features) { return value }
        if row.kind == .depthwise { return seconds(.depthwise, features) }
        return nil
    }

    /// Predicted seconds of one forward pass of `network` at `batch`; nil when a unit it needs was not calibrated.
    public func seconds(of network: Network, batch: Int) -> Double? {
        var units = 0.0
        var complete = true
        var poolElements = 0
        CostModel.forEachLayer(of: network) { row in
            poolElements += row.poolElements
            if let value = seconds(of: row, batch: batch) { units += value } else { complete = false }
        }
        guard complete else { return nil }
        return pass(network, rowSeconds: units, poolElements: poolElements, batch: batch)
    }

    /// The sum of the units' predictions (rows and residual adds), unscaled; nil when one is missing.
    public func unitSeconds(of network: Network, batch: Int) -> Double? {
        var units = 0.0
        var complete = true
        CostModel.forEachLayer(of: network) { row in
            if let value = seconds(of: row, batch: batch) { units += value } else { complete = false }
        }
        guard complete, let residuals = residualSeconds(network, batch: batch) else { return nil }
        return units + residuals
    }

    /// A whole pass from the rows' sum: the residual adds joined, scaled, and the per-pass term added.
    @inline(__always)
    func pass(_ network: Network, rowSeconds: Double, poolElements: Int, batch: Int) -> Double? {
        guard let residuals = residualSeconds(network, batch: batch),
              let pass = seconds(.network, LatencyFeatures.network(poolElements: poolElements, batch: batch)) else { return nil }
        return passScale * (rowSeconds + residuals) + pass
    }

    /// The residual adds of a network. A calibration of the fused engine has no residual unit (the add runs in
    /// the projection's epilogue and is timed with it): then they cost nothing apart.
    @inline(__always)
    func residualSeconds(_ network: Network, batch: Int) -> Double? {
        guard fitted[LatencyPredictor.index(.residual)] else { return 0 }
        var total = 0.0
        for stage in network.stages {
            for block in stage where block.hasResidual {
                guard let value = seconds(.residual, LatencyFeatures.residual(elements: block.outChannels * block.outputSize * block.outputSize, batch: batch)) else {
                    return nil
                }
                total += value
            }
        }
        return total
    }
}
