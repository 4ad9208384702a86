import Foundation
import Testing
@testable import vae_faces
@testable import VAEFaces

@Suite struct PrepareCommandTests {
    @Test func prepareIsASubcommandWithItsOptions() throws {
        #expect(VAEFacesCommand.configuration.subcommands.contains { $0 == PrepareCommand.self })
        let command = try PrepareCommand.parse(["--data", "d", "--cache", "c.vfcache", "--json", "--preview", "p.png", "--threads", "2"])
        #expect(command.data == "d" && command.cache == "c.vfcache" && command.json && command.preview == "p.png")
        #expect(command.threads.threads == 2)
    }

    @Test func runWritesTheCacheAndThePreviewGrid() throws {
        let (root, faces) = try makeFaceFolder(count: 9, seed: 8)
        let folder = (root as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let command = try PrepareCommand.parse(["--data", root, "--cache", folder + "/c.vfcache", "--preview", folder + "/grid.png"])
        try command.run()
        let cache = try PreparedCache.open(path: folder + "/c.vfcache")
        #expect(cache.count == 9)
        let grid = Image8(try PNG.readRGB(folder + "/grid.png"))
        #expect(grid.width == 8 * 66 + 2 && grid.height == 2 * 66 + 2)
        for i in 0..<9 { #expect(Grid.tile(i, of: grid, columns: 8, tileSize: 64) == faces[i]) }
    }
}
