// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import Host
import Primitives

@main
struct Inos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inos",
        abstract: "INOS Mesh: a plugin-based peer-to-peer storage and compute node.",
        subcommands: [
            Demo.self, Init.self, ConfigCommand.self, Node.self, Status.self, Members.self, Peers.self, Stats.self, Health.self, LogCommand.self,
            Shutdown.self, Id.self, Key.self, Fetch.self, Find.self, Sim.self, Job.self, Put.self, Get.self, Export.self, Import.self, Locate.self, Credits.self, Verify.self, Pin.self, Unpin.self,
            GC.self, Plugins.self, StoreCommand.self,
        ])

    static func main() async {
        tuneAllocator()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as any CodedError {
            report(error)
            exit(withError: ExitCode(failureExitCode))
        } catch {
            // Usage mistakes (ValidationError: exit 64), --help, ExitCode: argument-parser's own handling.
            exit(withError: error)
        }
    }

    /// The exit status of a command that failed with an error (not a usage mistake, which exits 64): always 1,
    /// whatever the error's type or code — scripts tell failures apart by the printed code, not the status.
    static let failureExitCode: Int32 = 1

    /// Prints an error the one way the CLI prints every error (``ErrorReport``): `Error: message`, its code,
    /// then each cause with its code, indented.
    static func report(_ error: any Error) {
        FileHandle.standardError.write(Data((ErrorReport.text(error, includeLocation: false) + "\n").utf8))
    }

    static func tuneAllocator() { sysTuneAllocatorForChunks() }
}
