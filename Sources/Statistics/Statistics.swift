import CGSL
import Foundation

/// The statistics efsearch reports, in one place: medians and quantiles, rank correlations with bootstrap
/// intervals, and a prediction's errors against measurements. GSL computes what it offers (Spearman's rho,
/// quantiles); Kendall's tau-b is counted over all pairs.
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

    /// Spearman's rho: Pearson's correlation of the ranks, ties given their average rank (GSL's gsl_stats_spearman).
    /// NaN when fewer than two pairs or a sample is constant.
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count, "paired samples")
        guard x.count >= 2, Set(x).count > 1, Set(y).count > 1 else { return .nan }
        var work = [Double](repeating: 0, count: 2 * x.count)
        return gsl_stats_spearman(x, 1, y, 1, x.count, &work)
    }

    /// The `p` quantile (0...1) of `values`, interpolated between order statistics (GSL's
    /// gsl_stats_quantile_from_sorted_data; R's type 7); NaN when empty.
    public static func quantile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return gsl_stats_quantile_from_sorted_data(sorted, 1, sorted.count, p)
    }

    /// The `p` quantile (0...1) of `sorted` by nearest rank: always one of the values (a timing that happened).
    public static func nearestRank(_ p: Double, ofSorted sorted: [Double]) -> Double {
        sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    /// 95% percentile-bootstrap intervals of `statistics` over `x` and `y` resampled in pairs with replacement,
    /// `resamples` times from `random`, every statistic on the same resamples (those where a statistic is
    /// undefined are left out of its interval); [NaN, NaN] for a statistic never defined.
    public static func bootstrapIntervals(_ x: [Double], _ y: [Double], resamples: Int, random: RandomGenerator,
                                          _ statistics: [([Double], [Double]) -> Double]) -> [[Double]] {
        var values = [[Double]](repeating: [], count: statistics.count)
        for _ in 0..<(x.count >= 2 ? resamples : 0) {
            let picks = (0..<x.count).map { _ in random.uniformInt(x.count) }
            let (a, b) = (picks.map { x[$0] }, picks.map { y[$0] })
            for (index, statistic) in statistics.enumerated() {
                let value = statistic(a, b)
                if value.isFinite { values[index].append(value) }
            }
        }
        return values.map { $0.isEmpty ? [.nan, .nan] : [quantile($0, 0.025), quantile($0, 0.975)] }
    }
}
