// swift-tools-version:6.1
import PackageDescription

// Hot loops are written with SIMD types; compiled for the baseline x86-64 target they turn
// every fused multiply-add into a libm call (~100x slower). Users build on their own machine,
// so `native` is both fast and portable.
let nativeCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "native"])]

let package = Package(
    name: "vae-faces",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vae-faces", targets: ["vae-faces"]),
        .library(name: "VAEFaces", targets: ["VAEFaces"]),
        .library(name: "NeuralCore", targets: ["NeuralCore"]),
        .library(name: "TensorIO", targets: ["TensorIO"]),
    ],
    // `--traits MPI` builds data-parallel training over MPI (`mpirun -np N vae-faces train …`).
    // Off by default, so the quick start builds on a machine without an MPI library.
    traits: [
        .trait(name: "MPI", description: "Data-parallel training over MPI (needs an MPI library: libopenmpi-dev or libmpich-dev)"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, found with pkg-config.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        // The system's default MPI (Debian's `mpi-c.pc` follows the `mpi` alternative: Open MPI or
        // MPICH); another MPI: put the folder of its .pc file, renamed mpi-c.pc, on PKG_CONFIG_PATH.
        .systemLibrary(name: "CMPI", pkgConfig: "mpi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // The few MPI calls training needs, with plain C types: Swift never sees MPI's handle
        // macros (pointers in Open MPI, integers in MPICH), so one Swift source fits both.
        // `swift build` compiles every target; without the trait this one is empty.
        .target(name: "CMPIShim", dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))],
                cSettings: [.define("VAE_FACES_MPI", .when(traits: ["MPI"]))]),

        // The math: tensors, SGEMM, layers with their gradients, Adam. Knows nothing of faces or files.
        .target(
            name: "NeuralCore",
            dependencies: ["CBLAS"],
            swiftSettings: nativeCPU,
            linkerSettings: [.linkedLibrary("m", .when(platforms: [.linux]))]),

        // Tensors in and out of files: safetensors and NumPy .npy, written atomically; the one
        // error type for a file that cannot be read, written or understood.
        .target(
            name: "TensorIO",
            dependencies: ["NeuralCore"],
            swiftSettings: nativeCPU),

        // Faces: data pipeline, image I/O, the VAE, training, sampling, the artifact score.
        .target(
            name: "VAEFaces",
            dependencies: ["NeuralCore", "TensorIO", "CPNG", "CTurboJPEG",
                           .target(name: "CMPIShim", condition: .when(traits: ["MPI"]))],
            swiftSettings: nativeCPU,
            linkerSettings: [.linkedLibrary("m", .when(platforms: [.linux]))]),

        // The command-line tool: a thin layer over VAEFaces.
        .executableTarget(
            name: "vae-faces",
            dependencies: ["VAEFaces", "NeuralCore", "TensorIO", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: nativeCPU),

        // Naive reference kernels and gradient checking, shared by the test targets.
        .target(name: "TestSupport", dependencies: ["NeuralCore"], path: "Tests/TestSupport"),

        .testTarget(name: "NeuralCoreTests", dependencies: ["NeuralCore", "TensorIO", "TestSupport"],
                    exclude: ["Golden"], swiftSettings: nativeCPU),
        .testTarget(name: "TensorIOTests", dependencies: ["TensorIO", "NeuralCore"],
                    exclude: ["Fixtures"], swiftSettings: nativeCPU),
        .testTarget(name: "VAEFacesTests", dependencies: ["VAEFaces", "NeuralCore", "TensorIO", "TestSupport", "vae-faces"],
                    exclude: ["Golden"], swiftSettings: nativeCPU),
    ]
)
