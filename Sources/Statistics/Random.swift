import CGSL

/// A seeded random generator (GSL's MT19937). All randomness in efsearch flows from one of these,
/// created from an explicit seed; there is no global random state.
public final class RandomGenerator {
    private let rng: UnsafeMutablePointer<gsl_rng>

    public init(seed: UInt64) {
        cgsl_disable_abort_on_error()
        rng = gsl_rng_alloc(cgsl_rng_mt19937())
        gsl_rng_set(rng, UInt(truncatingIfNeeded: seed))
    }

    deinit { gsl_rng_free(rng) }

    /// A uniform double in [0, 1).
    public func uniform() -> Double { gsl_rng_uniform(rng) }

    /// A uniform integer in [0, n).
    public func uniformInt(_ n: Int) -> Int {
        precondition(n > 0 && n <= Int(UInt32.max), "uniformInt needs 0 < n <= 2^32")
        return Int(gsl_rng_uniform_int(rng, UInt(n)))
    }

    /// A normal sample with mean 0 and standard deviation `sigma`.
    public func gaussian(sigma: Double = 1) -> Double { cgsl_ran_gaussian(rng, sigma) }
}
