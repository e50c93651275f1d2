"""Times CPython's ast.parse on the file the Rust bench example wrote.

    cargo run --release -p gofast-validate --example bench -- target/bench.py
    python3 validate/bench/ast_parse_bench.py target/bench.py [RUNS]
"""

import ast
import statistics
import sys
import time


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "target/gofast-validate-bench.py"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with open(path, encoding="utf-8") as f:
        source = f.read()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        ast.parse(source, filename=path)
        times.append((time.perf_counter() - start) * 1000)
    print(
        f"CPython {sys.version.split()[0]} ast.parse: {len(source.splitlines())} lines, "
        f"{len(source) // 1024} KiB, {runs} runs: median {statistics.median(times):.2f} ms "
        f"(min {min(times):.2f}, max {max(times):.2f}); file: {path}"
    )


if __name__ == "__main__":
    main()
