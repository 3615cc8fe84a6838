import CGSL
import Foundation
import Statistics

/// Gaussian-process regression with a zero mean, a Matérn-5/2 kernel with one length scale per input (ARD), a
/// signal variance and a fitted noise variance:
/// k(a, b) = s² (1 + √5 r + 5r²/3) exp(-√5 r) + σ² [a = b], r² = Σ_d ((a_d - b_d) / l_d)²,
/// as scikit-learn's `ConstantKernel(s²) * Matern(l, nu=2.5) + WhiteKernel(σ²)`. Callers scale inputs to
/// [0, 1] and standardise targets. GSL does the Cholesky factorisation and the hyperparameter search (BFGS).
public struct GaussianProcess: Sendable {
    public struct Hyperparameters: Sendable, Equatable {
        public var lengthscales: [Double]
        public var signalVariance: Double
        public var noiseVariance: Double

        public init(lengthscales: [Double], signalVariance: Double, noiseVariance: Double) {
            self.lengthscales = lengthscales
            self.signalVariance = signalVariance
            self.noiseVariance = noiseVariance
        }

        /// The optimiser's coordinates: log length scales, log s², log σ².
        var logs: [Double] { lengthscales.map { log($0) } + [log(signalVariance), log(noiseVariance)] }

        init(logs: [Double]) {
            lengthscales = logs.dropLast(2).map { exp($0) }
            signalVariance = exp(logs[logs.count - 2])
            noiseVariance = exp(logs[logs.count - 1])
        }
    }

    /// The training inputs, row-major (`count` rows of `dimensions`).
    public let inputs: [Double]
    public let targets: [Double]
    public let dimensions: Int
    public let hyperparameters: Hyperparameters
    /// L of K = L Lᵀ, row-major lower triangle (count x count).
    var factor: [Double]
    /// K⁻¹ y: the posterior mean at x is the signal kernel between x and the inputs, dotted with these.
    public internal(set) var weights: [Double]

    public var count: Int { targets.count }

    /// The posterior given these observations (inputs: one row per target). Throws when K is not positive
    /// definite (a noise variance of zero and repeated inputs).
    public init(inputs: [[Double]], targets: [Double], hyperparameters: Hyperparameters) throws {
        precondition(inputs.count == targets.count && !inputs.isEmpty, "one input row per target")
        dimensions = inputs[0].count
        precondition(hyperparameters.lengthscales.count == dimensions, "one length scale per input")
        self.inputs = inputs.flatMap { $0 }
        self.targets = targets
        self.hyperparameters = hyperparameters
        let n = targets.count
        var k = GaussianProcess.covariance(self.inputs, n: n, dimensions: dimensions, hyperparameters)
        guard cgsl_cholesky_decompose(&k, n) == 0 else { throw GaussianProcessError.notPositiveDefinite }
        factor = k
        weights = []
        weights = solveTransposed(solveLower(targets))
    }

    /// `values` standardised as the process's targets: less their mean, over their deviation (1 when they are all
    /// equal); a target t stands for the value `offset + scale * t`.
    public static func standardise(_ values: [Double]) -> (targets: [Double], offset: Double, scale: Double) {
        let mean = values.reduce(0, +) / Double(values.count)
        let deviation = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        let scale = deviation > 0 ? deviation : 1
        return (values.map { ($0 - mean) / scale }, mean, scale)
    }

    /// The Matérn-5/2 part of the kernel (no noise) between two inputs.
    static func signal(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>, _ h: Hyperparameters) -> Double {
        var r2 = 0.0
        for d in 0..<a.count {
            let t = (a[d] - b[d]) / h.lengthscales[d]
            r2 += t * t
        }
        return h.signalVariance * Matern52.correlation(squaredDistance: r2)
    }

    /// K with the noise on its diagonal, row-major.
    static func covariance(_ x: [Double], n: Int, dimensions: Int, _ h: Hyperparameters) -> [Double] {
        var k = [Double](repeating: 0, count: n * n)
        x.withUnsafeBufferPointer { x in
            for i in 0..<n {
                let a = UnsafeBufferPointer(rebasing: x[(i * dimensions)..<((i + 1) * dimensions)])
                for j in 0...i {
                    let value = signal(a, UnsafeBufferPointer(rebasing: x[(j * dimensions)..<((j + 1) * dimensions)]), h)
                    k[i * n + j] = value
                    k[j * n + i] = value
                }
                k[i * n + i] += h.noiseVariance
            }
        }
        return k
    }

    /// L⁻¹ b.
    func solveLower(_ b: [Double]) -> [Double] { GaussianProcess.solveLower(factor, b) }

    /// L⁻ᵀ b.
    func solveTransposed(_ b: [Double]) -> [Double] { GaussianProcess.solveTransposed(factor, b) }

    /// L⁻¹ b for a row-major lower-triangular factor `l` of b.count rows.
    static func solveLower(_ l: [Double], _ b: [Double]) -> [Double] {
        let n = b.count
        var x = b
        l.withUnsafeBufferPointer { l in
            x.withUnsafeMutableBufferPointer { x in
                for i in 0..<n {
                    var sum = x[i]
                    let row = i * n
                    for j in 0..<i { sum -= l[row + j] * x[j] }
                    x[i] = sum / l[row + i]
                }
            }
        }
        return x
    }

    /// L⁻ᵀ b for a row-major lower-triangular factor `l` of b.count rows.
    static func solveTransposed(_ l: [Double], _ b: [Double]) -> [Double] {
        let n = b.count
        var x = b
        for i in stride(from: n - 1, through: 0, by: -1) {
            var sum = x[i]
            for j in (i + 1)..<max(i + 1, n) { sum -= l[j * n + i] * x[j] }
            x[i] = sum / l[i * n + i]
        }
        return x
    }

    /// The kernel (signal part) between `x` and every training input.
    func crossCovariance(_ x: [Double]) -> [Double] {
        precondition(x.count == dimensions, "input has \(x.count) values, the process \(dimensions)")
        return x.withUnsafeBufferPointer { x in
            inputs.withUnsafeBufferPointer { inputs in
                (0..<count).map { i in
                    GaussianProcess.signal(x, UnsafeBufferPointer(rebasing: inputs[(i * dimensions)..<((i + 1) * dimensions)]), hyperparameters)
                }
            }
        }
    }

    /// The posterior mean and variance of the latent function at `x` (the noise not included).
    public func predict(_ x: [Double]) -> (mean: Double, variance: Double) {
        let k = crossCovariance(x)
        let mean = zip(k, weights).reduce(0) { $0 + $1.0 * $1.1 }
        let v = solveLower(k)
        let variance = hyperparameters.signalVariance - v.reduce(0) { $0 + $1 * $1 }
        return (mean, max(variance, 0))
    }

    /// The posterior at many inputs at once: the means, and V = L⁻¹ K*ᵀ (`count` rows of `inputs.count`), of
    /// which each input's variance is s² less its column's sum of squares (one triangular solve, GSL's BLAS).
    public func posterior(at inputs: [[Double]]) -> (means: [Double], v: [Double]) {
        let m = inputs.count, n = count
        guard m > 0 else { return ([], []) }
        var v = [Double](repeating: 0, count: n * m)
        var means = [Double](repeating: 0, count: m)
        for (column, x) in inputs.enumerated() {
            let k = crossCovariance(x)
            var mean = 0.0
            for i in 0..<n {
                v[i * m + column] = k[i]
                mean += k[i] * weights[i]
            }
            means[column] = mean
        }
        _ = cgsl_solve_lower_many(factor, n, &v, m)
        return (means, v)
    }

    /// The kernel's signal part between two inputs.
    public func covariance(_ a: [Double], _ b: [Double]) -> Double {
        a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in GaussianProcess.signal(a, b, hyperparameters) } }
    }

    /// The log marginal likelihood log p(y | X, θ) and its gradient with respect to the optimiser's coordinates
    /// (log length scales, log s², log σ²); nil when K is not positive definite.
    public static func logMarginalLikelihood(inputs: [[Double]], targets: [Double], hyperparameters h: Hyperparameters) -> (value: Double, gradient: [Double])? {
        let n = targets.count, dimensions = h.lengthscales.count
        let x = inputs.flatMap { $0 }
        // Per pair (i > j): the scaled squared differences, √5 r and e^{-√5 r}, computed once for K and its derivatives.
        var scaled = [Double](repeating: 0, count: n * n * dimensions)
        var k = [Double](repeating: 0, count: n * n), root5r = [Double](repeating: 0, count: n * n), decay = [Double](repeating: 1, count: n * n)
        for i in 0..<n {
            for j in 0..<i {
                var r2 = 0.0
                for d in 0..<dimensions {
                    let t = (x[i * dimensions + d] - x[j * dimensions + d]) / h.lengthscales[d]
                    scaled[(i * n + j) * dimensions + d] = t * t
                    r2 += t * t
                }
                let r = (5 * r2).squareRoot(), e = exp(-r)
                root5r[i * n + j] = r
                decay[i * n + j] = e
                let value = h.signalVariance * (1 + r + r * r / 3) * e
                k[i * n + j] = value
                k[j * n + i] = value
            }
            k[i * n + i] = h.signalVariance + h.noiseVariance
        }
        guard cgsl_cholesky_decompose(&k, n) == 0 else { return nil }
        var alpha = targets
        _ = cgsl_solve_lower_many(k, n, &alpha, 1)
        let fit = alpha.reduce(0) { $0 + $1 * $1 }  // yᵀ K⁻¹ y = |L⁻¹ y|²
        let logDeterminant = (0..<n).reduce(0) { $0 + 2 * log(k[$1 * n + $1]) }
        let value = -0.5 * fit - 0.5 * logDeterminant - 0.5 * Double(n) * log(2 * Double.pi)
        // dL/dθ = ½ tr((α αᵀ - K⁻¹) ∂K/∂θ), α = K⁻¹ y; the off-diagonal pairs count twice.
        alpha = solveTransposed(k, alpha)
        guard cgsl_cholesky_invert(&k, n) == 0 else { return nil }
        var gradient = [Double](repeating: 0, count: dimensions + 2)
        for i in 0..<n {
            for j in 0..<i {
                let w = 2 * (alpha[i] * alpha[j] - k[i * n + j])
                let (r, e) = (root5r[i * n + j], decay[i * n + j])
                // ∂k/∂log l_d = s² (5/3)(1 + √5 r) e^{-√5 r} ((a_d - b_d) / l_d)².
                let common = 0.5 * w * h.signalVariance * 5 / 3 * (1 + r) * e
                for d in 0..<dimensions { gradient[d] += common * scaled[(i * n + j) * dimensions + d] }
                gradient[dimensions] += 0.5 * w * h.signalVariance * (1 + r + r * r / 3) * e
            }
            let w = alpha[i] * alpha[i] - k[i * n + i]
            gradient[dimensions] += 0.5 * w * h.signalVariance
            gradient[dimensions + 1] += 0.5 * w * h.noiseVariance
        }
        return (value, gradient)
    }

    /// The bounds of the optimiser's coordinates (log scale) and the floor of the noise variance.
    static let logBounds = (lengthscale: (-4.0, 6.0), signal: (-6.0, 4.0), noise: (log(1e-6), 1.0))

    /// The log prior density of the hyperparameters (up to a constant) and its gradient: log length scales
    /// normal with mean √2 + ln(D)/2 and deviation √3 (Hvarfner et al., 2024: BoTorch's default for inputs
    /// in [0, 1]^D), log s² normal (0, 1), log σ² normal (ln 0.01, 2²): from nearly noise-free scores to
    /// short trainings whose accuracy moves with the seed.
    static func logPrior(_ logs: [Double]) -> (value: Double, gradient: [Double]) {
        let dimensions = logs.count - 2
        let centre = 2.0.squareRoot() + 0.5 * log(Double(dimensions)), spread = 3.0
        var value = 0.0
        var gradient = [Double](repeating: 0, count: logs.count)
        for d in 0..<dimensions {
            value -= (logs[d] - centre) * (logs[d] - centre) / (2 * spread)
            gradient[d] = -(logs[d] - centre) / spread
        }
        value -= logs[dimensions] * logs[dimensions] / 2
        gradient[dimensions] = -logs[dimensions]
        let noise = logs[dimensions + 1] - log(0.01)
        value -= noise * noise / 8
        gradient[dimensions + 1] = -noise / 4
        return (value, gradient)
    }

    /// The hyperparameters of largest posterior density (log marginal likelihood + log prior), by BFGS from
    /// the prior's centre and from `start` (the previous fit), each coordinate kept within `logBounds`. Without
    /// `prior`, of largest likelihood (scikit-learn's fit): for a process whose signal is weak beside its noise
    /// (a latency model's residuals), where the prior's long length scales and small noise would decide.
    public static func fit(inputs: [[Double]], targets: [Double], start: Hyperparameters? = nil, prior usePrior: Bool = true) -> Hyperparameters {
        let dimensions = inputs[0].count
        let centre = 2.0.squareRoot() + 0.5 * log(Double(dimensions))
        let bounds = (0..<dimensions).map { _ in logBounds.lengthscale } + [logBounds.signal, logBounds.noise]
        let clamp = { (logs: [Double]) in zip(logs, bounds).map { min(max($0, $1.0), $1.1) } }
        final class Problem {
            let evaluate: ([Double]) -> (Double, [Double])
            init(_ evaluate: @escaping ([Double]) -> (Double, [Double])) { self.evaluate = evaluate }
        }
        // The negative log posterior; outside the bounds, its value at the nearest bound plus a quadratic wall.
        let problem = Problem { logs in
            let inside = clamp(logs)
            let wall: Double = zip(logs, inside).reduce(0.0) { sum, pair in sum + 1e3 * (pair.0 - pair.1) * (pair.0 - pair.1) }
            guard let likelihood = logMarginalLikelihood(inputs: inputs, targets: targets, hyperparameters: Hyperparameters(logs: inside)) else {
                return (1e30, [Double](repeating: 0, count: logs.count))
            }
            let prior = usePrior ? logPrior(inside) : (value: 0, gradient: [Double](repeating: 0, count: logs.count))
            var gradient = [Double](repeating: 0, count: logs.count)
            for i in 0..<logs.count {
                let wallSlope: Double = 2e3 * (logs[i] - inside[i])
                gradient[i] = wallSlope - likelihood.gradient[i] - prior.gradient[i]
            }
            return (-(likelihood.value + prior.value) + wall, gradient)
        }
        let context = Unmanaged.passRetained(problem)
        defer { context.release() }
        let objective: cgsl_objective = { x, gradient, n, context in
            let problem = Unmanaged<Problem>.fromOpaque(context!).takeUnretainedValue()
            let (value, slope) = problem.evaluate(Array(UnsafeBufferPointer(start: x, count: n)))
            if let gradient { for i in 0..<n { gradient[i] = slope[i] } }
            return value
        }
        var starts = [[Double](repeating: centre, count: dimensions) + [0, log(0.01)]]
        if let start, start.lengthscales.count == dimensions { starts.append(clamp(start.logs)) }
        var best: (value: Double, logs: [Double])?
        for var x in starts {
            var minimum = 0.0
            _ = cgsl_minimize_bfgs(x.count, &x, objective, context.toOpaque(), 200, 1e-5, &minimum)
            let value = problem.evaluate(x).0
            if value.isFinite, best == nil || value < best!.value { best = (value, clamp(x)) }
        }
        return Hyperparameters(logs: best?.logs ?? starts[0])
    }
}

public enum GaussianProcessError: Error, CustomStringConvertible {
    case notPositiveDefinite
    public var description: String { "the Gaussian process's covariance matrix is not positive definite" }
}
