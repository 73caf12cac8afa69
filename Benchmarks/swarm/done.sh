#!/bin/sh
# aria2's --on-bt-download-complete hook: mark this leecher's directory finished (arguments: gid, files, path).
touch "$(dirname "$3")/done"
