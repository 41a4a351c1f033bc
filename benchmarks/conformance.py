"""ONNX operator conformance of the converter: every node case of every claimed op, through TF.

    python benchmarks/conformance.py [--ops Conv Relu ...] [--failures] [--json PATH]

Prints pass / fail / rejected per op type and the pass rate. "rejected" counts cases whose inputs
are float16, bfloat16, float8, int4 or strings, which the converter refuses with a typed error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

from onnx_direct import conformance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", nargs="*", help="only these op types")
    parser.add_argument("--failures", action="store_true", help="print every failing case with its reason")
    parser.add_argument("--json", metavar="PATH", help="write the per-case results as JSON")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = conformance.claimed_cases(args.ops)
        results = [conformance.run_case(case) for case in cases]
    elapsed = time.perf_counter() - started

    table = conformance.summary_by_op(results)
    print(f"{'op type':<28}{'pass':>6}{'fail':>6}{'rejected':>10}{'random':>8}")
    for op_type, row in table.items():
        print(f"{op_type:<28}{row['pass']:>6}{row['fail']:>6}{row['rejected']:>10}{row['random']:>8}")
    passed = sum(r.status == "pass" for r in results)
    rejected = [r for r in results if r.status == "rejected"]
    random = [r for r in results if r.status == "random"]
    failed = [r for r in results if r.status == "fail"]
    considered = len(results) - len(rejected) - len(random)
    rate = 100.0 * passed / considered if considered else 0.0
    print(
        f"\n{len(table)} op types, {len(results)} cases: {passed} pass, {len(failed)} fail, "
        f"{len(rejected)} rejected (unsupported data types), {len(random)} with random expected outputs; "
        f"pass rate {rate:.1f}% of the rest ({elapsed:.1f} s)"
    )
    for title, group in (("rejected", rejected), ("random expected outputs", random)):
        if group:
            print(f"{title}: " + ", ".join(r.name for r in group))
    if args.failures or failed:
        for r in failed:
            print(f"FAIL {r.name} [{r.op_type}]: {r.message}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "pass_rate": rate,
                    "passed": passed,
                    "failed": len(failed),
                    "rejected": len(rejected),
                    "by_op": table,
                    "cases": [r.__dict__ for r in results],
                },
                handle,
                indent=1,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
