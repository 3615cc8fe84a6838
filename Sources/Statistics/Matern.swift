import Foundation

/// The Matérn-5/2 correlation, shared by the search's Gaussian process (`GaussianProcess`) and the latency
/// model's correction of whole passes (`LatencyModel.PassCorrection`), so that a process fitted by one is
/// evaluated the same way by the other.
public enum Matern52 {
    /// The correlation at a scaled squared distance r² = Σ_d ((a_d - b_d) / l_d)²: (1 + √5 r + 5r²/3) e^{-√5 r}.
    @inline(__always)
    public static func correlation(squaredDistance r2: Double) -> Double {
        let r = (5 * r2).squareRoot()  // √5 r
        return (1 + r + r * r / 3) * exp(-r)
    }
}
