"""The latest run of a benchmark script, written into docs/PERFORMANCE.md between its markers
(`<!-- NAME:begin -->` … `<!-- NAME:end -->`). Shared by the peers scripts' WRITE_DOC=1; they
run from the repository's root and import it with `sys.path.insert(0, "benches/peers")`."""

import os
import platform
import re
import sys


def machine():
    """`2 × <CPU model>, Linux <release>`: where a run was made."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return f"{os.cpu_count()} × {cpu}, Linux {platform.release()}"


def write_block(name, heading, text, doc="docs/PERFORMANCE.md"):
    """Replaces what stands between NAME's markers in `doc` with `text`; when the markers are
    missing, appends a section `heading` holding them and `text`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text}{end}"
    current = open(doc).read()
    if begin in current and end in current:
        current = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, current, flags=re.S)
    else:
        current += f"\n{heading}\n\n{block}\n"
    open(doc, "w").write(current)
    print(f"written into {doc}", file=sys.stderr)
