"""``python -m benchmarks.partitioned``: the cost of checking a partitioned inventory account by
account (the code itself is :mod:`cloudaudit.partitioned`, part of the installed package)."""

from __future__ import annotations

from cloudaudit.partitioned import check_partition, organization_policy


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.partitioned [--quick] [--accounts N]``: cost of per-account checking.

    Saves the synthetic estate partitioned, then checks the first N accounts one by one in this
    process and prints the time and peak RSS per account next to the whole-inventory figures.
    """
    import argparse
    import tempfile
    import time

    from . import estate
    from ._common import measure, table

    parser = argparse.ArgumentParser(prog="python -m benchmarks.partitioned")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--accounts", type=int, default=20)
    args = parser.parse_args(argv)
    sizes = estate.Sizes().scaled(estate.QUICK_DIVISOR) if args.quick else estate.Sizes()
    inv = estate.generate(sizes)
    with tempfile.TemporaryDirectory(prefix="cloudaudit-partitions-") as tmp:
        start = time.perf_counter()
        inv.save(tmp, partition=True)
        save_s = time.perf_counter() - start
        org_policy, accounts = organization_policy(tmp)
        biggest = inv.resources["account_id"].value_counts()
        del inv
        rows = []
        for provider, account_id in accounts.head(args.accounts).itertuples(index=False):
            with measure() as m:
                found = check_partition(tmp, provider, account_id, org_policy, "bench")
            rows.append([provider, account_id, int(biggest.get(account_id, 0)), len(found), m.wall, m.peak_mb])
    print(f"saved {sizes.resources:,} resources over {sizes.accounts:,} accounts as partitioned Parquet "
          f"in {save_s:.1f} s")
    print(table(rows, ["provider", "account", "resources", "findings", "seconds", "peak RSS (MB)"]))
    mean = sum(r[4] for r in rows) / max(1, len(rows))
    print(f"mean {mean:.2f} s per account -> {mean * sizes.accounts:,.0f} s of CPU for {sizes.accounts:,} accounts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
