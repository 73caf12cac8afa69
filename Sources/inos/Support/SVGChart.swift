// SPDX-License-Identifier: Apache-2.0
import Foundation

/// A small line chart as SVG text: enough for `inos sim` to draw what its CSV holds.
struct SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]

    func render(width: Double = 720, height: Double = 400) -> String {
        let left = 60.0, right = 20.0, top = 40.0, bottom = 50.0
        let all = series.flatMap(\.points)
        let xMax = max(all.map(\.x).max() ?? 1, 1e-9), yMax = max(all.map(\.y).max() ?? 1, 1e-9)
        let xMin = min(all.map(\.x).min() ?? 0, 0), yMin = min(all.map(\.y).min() ?? 0, 0)
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * (width - left - right) }
        func py(_ y: Double) -> Double { height - bottom - (y - yMin) / (yMax - yMin) * (height - top - bottom) }
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Int(width / 2))" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>
            <line x1="\(left)" y1="\(height - bottom)" x2="\(width - right)" y2="\(height - bottom)" stroke="black"/>
            <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(height - bottom)" stroke="black"/>
            <text x="\(Int(width / 2))" y="\(Int(height - 12))" text-anchor="middle">\(escape(xLabel))</text>
            <text x="16" y="\(Int(height / 2))" text-anchor="middle" transform="rotate(-90 16 \(Int(height / 2)))">\(escape(yLabel))</text>

            """
        for i in 0...4 {
            let fraction = Double(i) / 4
            let x = xMin + fraction * (xMax - xMin), y = yMin + fraction * (yMax - yMin)
            svg += "<text x=\"\(px(x))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\">\(label(x))</text>\n"
            svg += "<text x=\"\(left - 6)\" y=\"\(py(y) + 4)\" text-anchor=\"end\">\(label(y))</text>\n"
            svg += "<line x1=\"\(left)\" y1=\"\(py(y))\" x2=\"\(width - right)\" y2=\"\(py(y))\" stroke=\"#ddd\"/>\n"
        }
        for (index, line) in series.enumerated() where !line.points.isEmpty {
            let colour = colours[index % colours.count]
            let path = line.points.map { "\(String(format: "%.1f", px($0.x))),\(String(format: "%.1f", py($0.y)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            svg += "<text x=\"\(width - right - 4)\" y=\"\(top + 16 * Double(index))\" text-anchor=\"end\" fill=\"\(colour)\">\(escape(line.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    private func label(_ value: Double) -> String {
        abs(value) >= 100 || value == value.rounded() ? String(format: "%.0f", value) : String(format: "%.2f", value)
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
