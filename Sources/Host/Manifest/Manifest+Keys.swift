// SPDX-License-Identifier: Apache-2.0
import Foundation
import TOMLKit

extension Manifest {
    /// The dotted keys a manifest file sets (`node.name`, `arena.size_mib`, `plugins`, …), so a report can say
    /// which settings come from the file and which are defaults. Tables are named by their keys; the
    /// `[[plugins]]` array counts as one key. Empty when the text does not parse (``load(path:)`` says why).
    public static func keysSet(in text: String) -> Set<String> {
        guard parserHazard(text) == nil, let root = try? TOMLTable(string: text) else { return [] }
        var keys: Set<String> = []
        for key in root.keys {
            guard key != "plugins", let table = root[key]?.table else {
                keys.insert(key)
                continue
            }
            for inner in table.keys { keys.insert("\(key).\(inner)") }
        }
        return keys
    }
}
