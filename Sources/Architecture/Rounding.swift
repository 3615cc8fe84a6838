import Foundation

/// The rounding rules of the official EfficientNet code (TensorFlow and timm agree on them).
public enum Rounding {
    /// Rounds a channel count to a multiple of `divisor`: `max(minimum, int(v + divisor / 2) // divisor * divisor)`,
    /// plus one more `divisor` when that would lose more than `1 - roundLimit` of `v` (the "10% rule" with the
    /// default 0.9; EfficientNetV2 passes 0, which turns the rule off).
    ///
    /// - Parameters:
    ///   - value: the channel count before rounding, e.g. `32 * width`.
    ///   - minimum: the smallest result; defaults to `divisor`.
    public static func makeDivisible(_ value: Double, divisor: Int = 8, minimum: Int? = nil, roundLimit: Double = 0.9) -> Int {
        let floorValue = minimum ?? divisor
        var rounded = max(floorValue, Int(value + Double(divisor) / 2) / divisor * divisor)
        if Double(rounded) < roundLimit * value { rounded += divisor }
        return rounded
    }

    /// Scales the repeats of one stage by `depth`: the stage's total becomes `ceil(total * depth)` and is
    /// shared back over its block strings in reverse order, each getting `max(1, round(r / left * leftScaled))`
    /// (Python's round-half-to-even), exactly as timm's `_scale_stage_depth` does.
    public static func scaleRepeats(_ repeats: [Int], depth: Double) -> [Int] {
        var remaining = repeats.reduce(0, +)
        var remainingScaled = Int((Double(remaining) * depth).rounded(.up))
        var scaled = [Int](repeating: 0, count: repeats.count)
        for index in repeats.indices.reversed() {
            let r = repeats[index]
            let share = (Double(r) / Double(remaining) * Double(remainingScaled)).rounded(.toNearestOrEven)
            let value = max(1, Int(share))
            scaled[index] = value
            remaining -= r
            remainingScaled -= value
        }
        return scaled
    }

    /// Python's `round(x)` for a float: to the nearest integer, ties to even.
    public static func pythonRound(_ value: Double) -> Int {
        Int(value.rounded(.toNearestOrEven))
    }

    /// The resolution rule of compound scaling: `base * factor` rounded to the nearest multiple of
    /// `divisor` (4 by default; every published EfficientNet resolution is a multiple of 4), at least `divisor`.
    public static func scaleResolution(_ base: Int, factor: Double, divisor: Int = 4) -> Int {
        let scaled = (Double(base) * factor / Double(divisor)).rounded(.toNearestOrAwayFromZero)
        return max(divisor, Int(scaled) * divisor)
    }
}
