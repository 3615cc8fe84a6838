/// Reads and writes timm's `arch_def` block strings.
///
/// Grammar: stages are separated by `;`, block strings inside a stage by `,`; white space around them is
/// ignored. A block string is `TYPE_opt_opt...` with TYPE one of `ds`, `ir`, `er`, `cn` and options
/// `rN` (repeats), `kN` (kernel), `sN` (stride), `eF` (expansion), `cN` (output channels), `seF`
/// (squeeze-excite ratio), `noskip`, `skip`, and an activation `nre` / `nr6` / `nsw` (or `nsi`).
///
/// `format` writes the canonical form: options in the order r, k, s, e, c, se, skip flag, activation;
/// `e` only for `ir` and `er`; `se` only when non-zero; a skip flag only when it differs from the type's
/// default; numbers without trailing zeros; no spaces. Two spellings of one network share one
/// canonical form.
public enum ArchString {
    /// The option keys that take a number, in canonical order.
    public static let numericOptions = ["r", "k", "s", "e", "c", "se"]

    /// Parses a whole arch string into stages.
    public static func parse(_ text: String) throws -> [StageSpec] {
        var text = text
        return try text.withUTF8 { try parse(utf8: $0) }
    }

    /// Parses a whole arch string, given as UTF-8 bytes, into stages.
    public static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>) throws -> [StageSpec] {
        if bytes.allSatisfy(isSpace) {
            throw ArchStringError(message: "the arch string is empty; expected stages of block strings such as \"ds_r1_k3_s1_c16; ir_r2_k3_s2_e6_c24\"")
        }
        var stages: [StageSpec] = []
        var stageNumber = 0
        var stageStart = 0
        while stageStart <= bytes.count {
            let stageEnd = bytes[stageStart...].firstIndex(of: UInt8(ascii: ";")) ?? bytes.count
            stageNumber += 1
            var stage: StageSpec = []
            if trimmed(bytes, stageStart..<stageEnd).isEmpty {
                throw ArchStringError(
                    stage: stageNumber, column: stageStart + 1,
                    message: "stage \(stageNumber) is empty; expected one or more block strings separated by ','")
            }
            var blockNumber = 0
            var blockStart = stageStart
            while blockStart <= stageEnd {
                let blockEnd = bytes[blockStart..<stageEnd].firstIndex(of: UInt8(ascii: ",")) ?? stageEnd
                blockNumber += 1
                let range = trimmed(bytes, blockStart..<blockEnd)
                if range.isEmpty {
                    throw ArchStringError(
                        stage: stageNumber, block: blockNumber, column: blockStart + 1,
                        message: "empty block string; expected a block string such as ir_r1_k3_s1_e6_c16")
                }
                let block = try parseBlock(bytes, range, stage: stageNumber, block: blockNumber)
                if blockNumber > 1 && block.stride != 1 {
                    throw ArchStringError(
                        stage: stageNumber, block: blockNumber, column: range.lowerBound + 1,
                        message: "stride s\(block.stride) on block string \(blockNumber) of stage \(stageNumber): only the first block of a stage has the stage's stride (timm ignores it elsewhere); start a new stage with ';' instead")
                }
                stage.append(block)
                blockStart = blockEnd + 1
            }
            stages.append(stage)
            stageStart = stageEnd + 1
        }
        return stages
    }

    /// Parses a single block string such as `ir_r2_k3_s2_e6_c24_se0.25`.
    public static func parseBlock(_ text: String) throws -> BlockSpec {
        var text = text
        return try text.withUTF8 { bytes in
            let range = trimmed(bytes, 0..<bytes.count)
            if range.isEmpty {
                throw ArchStringError(message: "empty block string; expected a block string such as ir_r1_k3_s1_e6_c16")
            }
            return try parseBlock(bytes, range, stage: nil, block: nil)
        }
    }

    /// The canonical arch string of `stages`.
    public static func format(_ stages: [StageSpec]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(stages.count * 32)
        append(stages, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the canonical arch string of `stages` to a UTF-8 buffer. It is plain ASCII
    /// (letters, digits, `_ . , ;`), so it needs no escaping inside JSON or CSV.
    public static func append(_ stages: [StageSpec], to out: inout [UInt8]) {
        for (stageIndex, stage) in stages.enumerated() {
            if stageIndex > 0 { out.append(UInt8(ascii: ";")) }
            for (blockIndex, block) in stage.enumerated() {
                if blockIndex > 0 { out.append(UInt8(ascii: ",")) }
                append(block, to: &out)
            }
        }
    }

    /// The canonical block string of `block`.
    public static func format(_ block: BlockSpec) -> String {
        var out: [UInt8] = []
        append(block, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func append(_ block: BlockSpec, to out: inout [UInt8]) {
        switch block.type {
        case .ds: out.appendLiteral("ds")
        case .ir: out.appendLiteral("ir")
        case .er: out.appendLiteral("er")
        case .cn: out.appendLiteral("cn")
        }
        appendOption(UInt8(ascii: "r"), block.repeats, to: &out)
        appendOption(UInt8(ascii: "k"), block.kernel, to: &out)
        appendOption(UInt8(ascii: "s"), block.stride, to: &out)
        if block.type.usesExpansion {
            out.appendLiteral("_e")
            appendNumber(block.expansion, to: &out)
        }
        appendOption(UInt8(ascii: "c"), block.outChannels, to: &out)
        if block.seRatio > 0 {
            out.appendLiteral("_se")
            appendNumber(block.seRatio, to: &out)
        }
        if block.skip != block.type.residualByDefault { out.appendLiteral(block.skip ? "_skip" : "_noskip") }
        if let activation = block.activation {
            out.append(UInt8(ascii: "_"))
            out.appendLiteral(activation.blockOption)
        }
    }

    private static func appendOption(_ key: UInt8, _ value: Int, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "_"))
        out.append(key)
        appendInteger(value, to: &out)
    }

    /// Appends the decimal digits of `value` to a UTF-8 buffer.
    public static func appendInteger(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        // Arch strings' numbers are mostly one or two digits: no buffer for those.
        if magnitude < 10 {
            out.append(UInt8(truncatingIfNeeded: 48 + magnitude))
            return
        }
        if magnitude < 100 {
            out.append(UInt8(truncatingIfNeeded: 48 + magnitude / 10))
            out.append(UInt8(truncatingIfNeeded: 48 + magnitude % 10))
            return
        }
        // At most 20 digits, written backwards into a stack buffer, two at a time, then appended at once.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = 20
            while magnitude >= 100 {
                let pair = Int(truncatingIfNeeded: magnitude % 100)
                magnitude /= 100
                start -= 2
                digits[start] = digitPairs[2 * pair]
                digits[start + 1] = digitPairs[2 * pair + 1]
            }
            if magnitude >= 10 {
                start -= 2
                digits[start] = digitPairs[2 * Int(magnitude)]
                digits[start + 1] = digitPairs[2 * Int(magnitude) + 1]
            } else if magnitude > 0 {
                start -= 1
                digits[start] = UInt8(truncatingIfNeeded: 48 + magnitude)
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start..<20]))
        }
    }

    /// "00", "01", ..., "99" as ASCII pairs.
    private static let digitPairs: [UInt8] = (0..<100).flatMap { (pair: Int) -> [UInt8] in
        [UInt8(truncatingIfNeeded: 48 + pair / 10), UInt8(truncatingIfNeeded: 48 + pair % 10)]
    }

    /// Appends the shortest decimal form of `value` that reads back to it (Swift's `description`).
    public static func appendDecimal(_ value: Double, to out: inout [UInt8]) {
        var text = value.description
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    private static func appendNumber(_ value: Double, to out: inout [UInt8]) {
        if value == value.rounded(), abs(value) < 1e15 {
            appendInteger(Int(value), to: &out)
        } else {
            appendDecimal(value, to: &out)
        }
    }

    /// The canonical form of an arch string.
    public static func canonical(_ text: String) throws -> String {
        format(try parse(text))
    }

    /// Writes a number the way arch strings spell it: integers without a decimal point, others in the
    /// shortest form that reads back to the same value (`6`, `2.5`, `0.25`).
    public static func formatNumber(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }

    // MARK: - Parsing helpers

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
    }

    private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, isSpace(bytes[lower]) { lower += 1 }
        while upper > lower, isSpace(bytes[upper - 1]) { upper -= 1 }
        return lower..<upper
    }

    private static func parseBlock(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, stage: Int?, block: Int?) throws -> BlockSpec {
        func failure(_ column: Int, _ message: String) -> ArchStringError {
            ArchStringError(stage: stage, block: block, column: column + 1, message: message)
        }
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        @inline(__always)
        func equals(_ range: Range<Int>, _ word: StaticString) -> Bool {
            guard range.count == word.utf8CodeUnitCount else { return false }
            let pointer = word.utf8Start
            for offset in 0..<range.count where bytes[range.lowerBound + offset] != pointer[offset] { return false }
            return true
        }
        func nextToken(from start: Int) -> Range<Int> {
            var end = start
            while end < range.upperBound, bytes[end] != UInt8(ascii: "_") { end += 1 }
            return start..<end
        }
        let typeRange = nextToken(from: range.lowerBound)
        var typeText: String { text(typeRange) }
        let type: BlockType
        if equals(typeRange, "ir") { type = .ir }
        else if equals(typeRange, "ds") { type = .ds }
        else if equals(typeRange, "er") { type = .er }
        else if equals(typeRange, "cn") { type = .cn }
        else {
            let known = BlockType.allCases.map(\.rawValue).joined(separator: ", ")
            throw failure(typeRange.lowerBound, "unknown block type \"\(typeText)\"; expected one of \(known)")
        }

        var repeats: Int?, kernel: Int?, stride: Int?, outChannels: Int?
        var expansion: Double?, seRatio: Double?
        var skip: Bool?
        var activation: Activation?

        var tokenStart = typeRange.upperBound + 1
        while tokenStart <= range.upperBound {
            let token = nextToken(from: tokenStart)
            tokenStart = token.upperBound + 1
            let column = token.lowerBound
            if token.isEmpty {
                throw failure(column, "empty option (two '_' in a row or a trailing '_') in \"\(typeText)...\"")
            }
            if equals(token, "skip") || equals(token, "noskip") {
                if skip != nil { throw failure(column, "the skip flag is given twice (\"\(text(token))\")") }
                skip = equals(token, "skip")
                continue
            }
            if bytes[token.lowerBound] == UInt8(ascii: "n") {
                let parsed: Activation
                if equals(token, "nsw") || equals(token, "nsi") { parsed = .silu }
                else if equals(token, "nre") { parsed = .relu }
                else if equals(token, "nr6") { parsed = .relu6 }
                else {
                    throw failure(column, "unknown activation option \"\(text(token))\"; expected nre (ReLU), nr6 (ReLU6), nsw or nsi (SiLU)")
                }
                if activation != nil { throw failure(column, "the activation is given twice (\"\(text(token))\")") }
                activation = parsed
                continue
            }
            // A numeric option: letters, then the value.
            var split = token.lowerBound
            while split < token.upperBound, isLetter(bytes[split]) { split += 1 }
            let keyRange = token.lowerBound..<split
            let valueRange = split..<token.upperBound
            let key: NumericOption
            if equals(keyRange, "r") { key = .repeats }
            else if equals(keyRange, "k") { key = .kernel }
            else if equals(keyRange, "s") { key = .stride }
            else if equals(keyRange, "c") { key = .channels }
            else if equals(keyRange, "e") { key = .expansion }
            else if equals(keyRange, "se") { key = .seRatio }
            else {
                throw failure(column, "unknown option \"\(text(token))\"; expected rN, kN, sN, eF, cN, seF, skip, noskip, nre, nr6, nsw or nsi")
            }
            if valueRange.isEmpty {
                throw failure(column, "option \"\(key.rawValue)\" has no value; expected a number right after it, as in \"\(key.rawValue)3\"")
            }
            switch key {
            case .expansion, .seRatio:
                guard let value = parseDecimal(bytes, valueRange), value.isFinite else {
                    throw failure(column, "option \"\(key.rawValue)\" has value \"\(text(valueRange))\"; expected a number")
                }
                if key == .expansion {
                    if expansion != nil { throw failure(column, "option \"e\" is given twice") }
                    expansion = value
                } else {
                    if seRatio != nil { throw failure(column, "option \"se\" is given twice") }
                    seRatio = value
                }
            case .repeats, .kernel, .stride, .channels:
                guard let value = parseWholeNumber(bytes, valueRange) else {
                    throw failure(column, "option \"\(key.rawValue)\" has value \"\(text(valueRange))\"; expected a whole number")
                }
                let alreadySet: Bool
                switch key {
                case .repeats: alreadySet = repeats != nil; repeats = value
                case .kernel: alreadySet = kernel != nil; kernel = value
                case .stride: alreadySet = stride != nil; stride = value
                default: alreadySet = outChannels != nil; outChannels = value
                }
                if alreadySet { throw failure(column, "option \"\(key.rawValue)\" is given twice") }
            }
        }

        let start = range.lowerBound
        func required<T>(_ value: T?, _ key: String, _ meaning: String) throws -> T {
            guard let value else {
                throw failure(start, "block \"\(typeText)\" is missing option \"\(key)\" (\(meaning))")
            }
            return value
        }
        let r = try required(repeats, "r", "repeats, e.g. r2")
        let k = try required(kernel, "k", "kernel size, e.g. k3")
        let s = try required(stride, "s", "stride, e.g. s2")
        let c = try required(outChannels, "c", "output channels, e.g. c24")
        if r < 1 || r > 1000 { throw failure(start, "repeats r\(r) must be between 1 and 1000") }
        if k < 1 || k % 2 == 0 || k > 31 { throw failure(start, "kernel k\(k) must be odd, from 1 to 31 (padding is k // 2 on each side)") }
        if s != 1 && s != 2 { throw failure(start, "stride s\(s) must be 1 or 2") }
        if c < 1 || c > 65536 { throw failure(start, "output channels c\(c) must be between 1 and 65536") }

        let e: Double
        if type.usesExpansion {
            e = try required(expansion, "e", "expansion ratio, e.g. e6")
            if !(e > 0 && e <= 64) { throw failure(start, "expansion e\(formatNumber(e)) must be greater than 0 and at most 64") }
        } else {
            if let expansion, expansion != 1 {
                throw failure(start, "block type \(typeText) has no expansion; e\(formatNumber(expansion)) is not allowed (only e1)")
            }
            e = 1
        }
        let se = seRatio ?? 0
        if !(se >= 0 && se <= 1) { throw failure(start, "squeeze-excite ratio se\(formatNumber(se)) must be between 0 and 1") }
        if se > 0 && !type.supportsSqueezeExcite {
            throw failure(start, "block type \(typeText) has no squeeze-excite; se\(formatNumber(se)) is not allowed")
        }
        return BlockSpec(
            type: type, repeats: r, kernel: k, stride: s, expansion: e, outChannels: c,
            seRatio: se, skip: skip ?? type.residualByDefault, activation: activation)
    }

    /// Digits only, at most 12 of them.
    private static func parseWholeNumber(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 12 else { return nil }
        var value = 0
        for index in range {
            let digit = Int(bytes[index]) - 48
            guard digit >= 0 && digit <= 9 else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    /// A decimal number. Plain `digits[.digits]` with up to 15 significant digits is read as
    /// mantissa / 10^k, which is exact and correctly rounded; anything else goes to `Double(String)`.
    private static func parseDecimal(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Double? {
        var mantissa = 0, digits = 0, fractionDigits = 0
        var seenPoint = false, simple = true
        for index in range {
            let byte = bytes[index]
            if byte == UInt8(ascii: ".") && !seenPoint {
                seenPoint = true
            } else if byte >= 48 && byte <= 57 {
                mantissa = mantissa * 10 + Int(byte - 48)
                digits += 1
                if seenPoint { fractionDigits += 1 }
                if digits > 15 { simple = false; break }
            } else {
                simple = false
                break
            }
        }
        if simple && digits > 0 {
            return Double(mantissa) / powersOfTen[fractionDigits]
        }
        return Double(String(decoding: bytes[range], as: UTF8.self))
    }

    private static let powersOfTen: [Double] = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]

    /// The options of a block string that take a number, as the block string spells them.
    private enum NumericOption: String {
        case repeats = "r", kernel = "k", stride = "s", expansion = "e", channels = "c", seRatio = "se"
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}

extension Array where Element == UInt8 {
    /// Appends the bytes of a literal without going through `String.UTF8View` (the `--jsonl` output path).
    @inlinable
    public mutating func appendLiteral(_ text: StaticString) {
        text.withUTF8Buffer { append(contentsOf: $0) }
    }
}
