import Architecture

/// The search spaces shipped in `searchspaces/`, built in so that a calibration can draw from them wherever the
/// binary runs (`efsearch calibrate`'s default spaces). `ShippedSpacesTests` checks each text against its file.
public enum ShippedSpaces {
    /// File name (in `searchspaces/`) and text, in the order a calibration draws them.
    public static let texts: [(file: String, yaml: String)] = [
        ("tiny.yaml", """
        # A small MBConv space for proxy searches at 32 px: the default run (`make run`) and CI use it.
        name: tiny
        base: efficientnet-b0
        arch: "ds_r1_k3_s1_c16_se0.25; ir_r1_k3_s2_e6_c24_se0.25; ir_r2_k5_s2_e6_c40_se0.25; ir_r2_k3_s2_e6_c80_se0.25"
        stem: 16
        head: 256
        stages:
          - null                                   # stage 1 stays as the base has it
          - {kernel: [3, 5], expansion: [3, 6], se: [0, 0.25]}
          - {kernel: [3, 5], expansion: [3, 6], repeats: [-1, 0, 1]}
          - {type: [ir, er], kernel: [3, 5], channels: [0.75, 1.0, 1.25]}
        resolution: [32]
        width: [0.5, 0.75, 1.0]
        depth: [1.0]
        constraints:
          - macs<=30M
        """ + "\n"),
        ("efficientnet-b0.yaml", """
        # The MnasNet / EfficientNet-B0 space (Tan et al., 2019): per stage a block type, kernel 3 or 5, SE or not,
        # skip or not, filters x0.75 / x1 / x1.25 of the base, layers -1 / 0 / +1, around B0 at 224 px.
        name: efficientnet-b0
        base: efficientnet-b0
        stages:
          - {kernel: [3, 5], se: [0, 0.25], channels: [0.75, 1.0, 1.25]}
          - &mbconv {type: [ir, ds], kernel: [3, 5], expansion: [3, 6], se: [0, 0.25], skip: [true, false], channels: [0.75, 1.0, 1.25], repeats: [-1, 0, 1]}
          - *mbconv
          - *mbconv
          - *mbconv
          - *mbconv
          - {type: [ir], kernel: [3, 5], expansion: [3, 6], se: [0, 0.25], channels: [0.75, 1.0, 1.25]}
        resolution: [224]
        width: [1.0]
        depth: [1.0]
        constraints:
          - macs<=400M
        """ + "\n"),
        ("efficientnetv2.yaml", """
        # An EfficientNetV2-style space: Fused-MBConv (er) or MBConv early, MBConv with SE later, smaller
        # expansion ratios; around EfficientNetV2-S at reduced resolution.
        name: efficientnetv2
        base: efficientnetv2-s
        stages:
          - {kernel: [3], channels: [0.75, 1.0]}
          - {type: [er, ir], expansion: [1, 2, 4], channels: [0.75, 1.0, 1.25], repeats: [-1, 0, 1]}
          - {type: [er, ir], expansion: [2, 4], channels: [0.75, 1.0, 1.25], repeats: [-1, 0, 1]}
          - {kernel: [3, 5], expansion: [3, 4, 6], se: [0, 0.25], repeats: [-2, 0, 2]}
          - {kernel: [3, 5], expansion: [4, 6], se: [0.25], repeats: [-2, 0, 2]}
          - {kernel: [3, 5], expansion: [4, 6], se: [0.25], repeats: [-3, 0, 3]}
        resolution: {min: 128, max: 256, step: 32}
        width: [0.5, 0.75, 1.0]
        depth: [0.5, 0.75, 1.0]
        constraints:
          - macs<=2G
        """ + "\n"),
    ]

    /// The shipped spaces, parsed.
    public static func spaces() throws -> [SearchSpace] {
        try texts.map { try SearchSpace.parse(text: $0.yaml, file: "searchspaces/" + $0.file) }
    }
}

extension SearchSpace {
    /// Networks for a calibration to draw from: `count` random genotypes of each space, taken in turn, passing
    /// over the first `excluded` of each space's sequence from `excludedSeed` (what a check with that seed times,
    /// `sampleNetworks` drawing the same sequence for any count), so that a check never times a fitted network.
    public static func calibrationPool(_ spaces: [SearchSpace], count: Int, seed: UInt64, excludedSeed: UInt64, excluded: Int = 200) -> [Network] {
        let drawn = spaces.map { space in
            let checked = Set(space.sampleNetworks(count: excluded, seed: excludedSeed).map(SearchSpace.key))
            return space.sampleNetworks(count: count, seed: seed).filter { !checked.contains(SearchSpace.key($0)) }
        }
        return (0..<(drawn.map(\.count).max() ?? 0)).flatMap { index in drawn.compactMap { index < $0.count ? $0[index] : nil } }
    }
}
