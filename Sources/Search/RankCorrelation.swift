import Foundation
import Statistics

/// Rank correlation of two paired samples, with bootstrap intervals: how well one ranking (a short proxy, a
/// zero-cost score, MACs) predicts another (accuracy after longer training).
public struct RankCorrelation: Sendable, Equatable, Codable {
    public var spearman: Double
    public var kendall: Double
    /// 95% percentile-bootstrap intervals (resampling the pairs with replacement).
    public var spearmanInterval: [Double]
    public var kendallInterval: [Double]
    public var count: Int

    /// Both coefficients (`Statistics.spearman`, `Statistics.kendallTau`) and their intervals from `resamples`
    /// bootstrap samples drawn from `seed` (resamples where a coefficient is undefined are left out of its interval).
    public init(_ x: [Double], _ y: [Double], resamples: Int = 1000, seed: UInt64 = 0) {
        count = x.count
        spearman = Statistics.spearman(x, y)
        kendall = Statistics.kendallTau(x, y)
        let intervals = Statistics.bootstrapIntervals(x, y, resamples: resamples, random: RandomGenerator(seed: seed),
                                                      [Statistics.spearman, Statistics.kendallTau])
        spearmanInterval = intervals[0]
        kendallInterval = intervals[1]
    }
}
