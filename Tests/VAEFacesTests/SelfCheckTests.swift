import Testing
@testable import VAEFaces

@Test func linkedLibrariesComputeCorrectly() {
    let report = SelfCheck.run()
    for item in report.items {
        #expect(item.ok, "\(item.name): \(item.detail)")
    }
    #expect(report.items.map(\.name) == ["openblas", "libpng", "turbojpeg"])
}
