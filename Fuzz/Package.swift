// swift-tools-version:6.0
import Foundation
import PackageDescription

// libFuzzer targets for every parser of vae-faces, kept out of the normal build. Build and run
// them with `Fuzz/fuzz`, which compiles this package and the main one with
// `--sanitize=fuzzer --sanitize=address`: the parsers themselves must be instrumented for
// coverage, so the flags go to every target, not only to these.
//
// Each target is one file defining `LLVMFuzzerTestOneInput` (libFuzzer supplies `main`): it
// hands the input bytes to the function the tool calls and treats a thrown error as fine.

// A path dependency's identity is the name of its folder, whatever the clone is called.
let mainPackage = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent

func fuzzTarget(_ name: String, _ products: [String]) -> Target {
    .executableTarget(name: "fuzz-\(name)",
                      dependencies: products.map { .product(name: $0, package: mainPackage) },
                      path: "Sources/\(name)")
}

let package = Package(
    name: "vae-faces-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        fuzzTarget("safetensors", ["TensorIO"]),
        fuzzTarget("npy", ["TensorIO"]),
        fuzzTarget("cache", ["VAEFaces"]),
        fuzzTarget("partition", ["VAEFaces"]),
        fuzzTarget("attributes", ["VAEFaces"]),
        fuzzTarget("png", ["VAEFaces"]),
        fuzzTarget("jpeg", ["VAEFaces"]),
        // Writes the seed corpora (Fuzz/Corpus) with the tool's own writers.
        .executableTarget(name: "make-seeds",
                          dependencies: [.product(name: "TensorIO", package: mainPackage),
                                         .product(name: "VAEFaces", package: mainPackage)],
                          path: "Sources/seeds"),
    ]
)
