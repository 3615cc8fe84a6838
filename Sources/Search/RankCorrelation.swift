import CGSL
import Engine
import Foundation

/// Rank correlation of two paired samples, with bootstrap intervals: how well one ranking (a short proxy, a
/// zero-cost score, MACs) predicts another (accuracy after longer training).
public struct RankCorrelation: Sendable, Equatable, Codable {
    public var spearman: Double
    public var kendall: Double
    /// 95% percentile-bootstrap intervals (resampling the pairs with replacement).
    public var spearmanInterval: [Double]
    public var kendallInterval: [Double]
    public var count: Int

    /// Spearman's rho: Pearson's correlation of the ranks, ties given their average rank (GSL's gsl_stats_spearman).
    /// NaN when fewer than two pairs or a sample is constant.
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "paired samples")
        guard x.count >= 2, Set(x).count > 1, Set(y).count > 1 else { return .nan }
        var work = [Double](repeating: 0, count: 2 * x.count)
        return gsl_stats_spearman(x, 1, y, 1, x.count, &work)
    }

    /// Kendall's tau-b: (concordant - discordant) / sqrt((n0 - ties in x) (n0 - ties in y)) over all pairs,
    /// n0 = n (n - 1) / 2. NaN when either sample is constant.
    public static func kendall(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "paired samples")
        var concordant = 0, discordant = 0, tiesX = 0, tiesY = 0
        for i in 0..<x.count {
            for j in (i + 1)..<max(i + 1, x.count) {
                let dx = x[i] - x[j], dy = y[i] - y[j]
                if dx == 0 { tiesX += 1 }
                if dy == 0 { tiesY += 1 }
                if dx == 0 || dy == 0 { continue }
                if (dx > 0) == (dy > 0) { concordant += 1 } else { discordant += 1 }
            }
        }
        let pairs = x.count * (x.count - 1) / 2
        let denominator = (Double(pairs - tiesX) * Double(pairs - tiesY)).squareRoot()
        guard denominator > 0 else { return .nan }
        return Double(concordant - discordant) / denominator
    }

    /// Both coefficients and their intervals from `resamples` bootstrap samples drawn from `seed` (resamples
    /// where a coefficient is undefined are left out of its interval).
    public init(_ x: [Double], _ y: [Double], resamples: Int = 1000, seed: UInt64 = 0) {
        count = x.count
        spearman = RankCorrelation.spearman(x, y)
        kendall = RankCorrelation.kendall(x, y)
        let random = RandomGenerator(seed: seed)
        var rhos: [Double] = [], taus: [Double] = []
        for _ in 0..<(x.count >= 2 ? resamples : 0) {
            let picks = (0..<x.count).map { _ in random.uniformInt(x.count) }
            let (a, b) = (picks.map { x[$0] }, picks.map { y[$0] })
            let rho = RankCorrelation.spearman(a, b), tau = RankCorrelation.kendall(a, b)
            if rho.isFinite { rhos.append(rho) }
            if tau.isFinite { taus.append(tau) }
        }
        func interval(_ values: [Double]) -> [Double] {
            guard !values.isEmpty else { return [.nan, .nan] }
            let sorted = values.sorted()
            return [gsl_stats_quantile_from_sorted_data(sorted, 1, sorted.count, 0.025),
                    gsl_stats_quantile_from_sorted_data(sorted, 1, sorted.count, 0.975)]
        }
        spearmanInterval = interval(rhos)
        kendallInterval = interval(taus)
    }
}
