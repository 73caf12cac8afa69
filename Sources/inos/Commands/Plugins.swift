// SPDX-License-Identifier: Apache-2.0
import ArgumentParser

struct Plugins: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Inspect plugins.")
}
