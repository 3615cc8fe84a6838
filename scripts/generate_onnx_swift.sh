#!/usr/bin/env bash
# Regenerates Sources/ONNX/onnx.pb.swift from ONNX's onnx.proto with protoc and swift-protobuf's generator.
# Needs: protoc (Debian's protobuf-compiler), `pip install onnx` (for onnx.proto), and protoc-gen-swift built
# from the swift-protobuf version Package.swift names (swift build -c release --product protoc-gen-swift in a
# checkout of it), passed as PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to the protoc-gen-swift binary}"
proto_dir=$(python3 -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')
onnx_version=$(python3 -c 'import onnx; print(onnx.__version__)')
generator_version=$("$PROTOC_GEN_SWIFT" --version)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$proto_dir/onnx.proto" "$work/onnx.proto"
protoc --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" --swift_opt=Visibility=Public --swift_out="$work" -I "$work" "$work/onnx.proto"
{
  echo "// Generated from onnx.proto of ONNX $onnx_version by $generator_version and $(protoc --version)."
  echo "// Regenerate with scripts/generate_onnx_swift.sh; do not edit."
  cat "$work/onnx.pb.swift"
} > Sources/ONNX/onnx.pb.swift
echo "wrote Sources/ONNX/onnx.pb.swift (ONNX $onnx_version, $generator_version)"
