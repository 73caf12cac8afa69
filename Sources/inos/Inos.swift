// SPDX-License-Identifier: Apache-2.0
import ArgumentParser

@main
struct Inos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inos",
        abstract: "INOS Mesh: a plugin-based peer-to-peer storage and compute node.",
        subcommands: [Demo.self, Node.self, Id.self, Fetch.self, Find.self, Sim.self, Job.self, Put.self, Get.self, Locate.self, Verify.self, Pin.self, Unpin.self, GC.self, Plugins.self])
}
