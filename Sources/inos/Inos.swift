// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Host

@main
struct Inos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inos",
        abstract: "INOS Mesh: a plugin-based peer-to-peer storage and compute node.",
        subcommands: [Demo.self, Node.self, Id.self, Key.self, Fetch.self, Find.self, Sim.self, Job.self, Put.self, Get.self, Locate.self, Verify.self, Pin.self, Unpin.self, GC.self, Plugins.self, StoreCommand.self])

    static func main() async {
        tuneAllocator()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static func tuneAllocator() { sysTuneAllocatorForChunks() }
}
