"""Times `chidao import` against reading + NFC of the same file, in the same run.

On every national test text (tests/importer/fixtures/national/, flattened, merged, damaged, from
other provinces and ministries) and on a synthetic 20-page directive. The national map and each
province's patterns are built once per process (cached); that one-time cost is printed apart.

Run: .venv/bin/python bench/import_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from importer.agencies import load_directory_file
from importer.api import import_file, import_text

NATIONAL = Path(__file__).resolve().parents[1] / "tests" / "importer" / "fixtures" / "national"

AGENCIES = (
    "Sở Giáo dục và Đào tạo", "Sở Tài chính", "Sở Y tế", "Sở Nội vụ", "Sở Tư pháp",
    "Hội Khuyến học tỉnh", "Ủy ban nhân dân các huyện, thị xã, thành phố", "Sở Xây dựng",
)
LETTERS = ("a", "b", "c", "d", "đ", "e", "g")
SENTENCE = (
    "Tăng cường công tác tuyên truyền, tổ chức hướng dẫn, theo dõi, đôn đốc các cơ quan, đơn vị, "
    "địa phương triển khai thực hiện hiệu quả các chương trình, kế hoạch của UBND tỉnh về công tác "
    "khuyến học, khuyến tài, xây dựng xã hội học tập trên địa bàn tỉnh theo Kế hoạch số 21/KH-UBND "
    "ngày 07/02/2023. "
)


def synthetic(pages: int = 20) -> str:
    """About 500 words a page: a header, numbered sections with lettered items, a closing."""
    lines = [
        "ỦY BAN NHÂN DÂN TỈNH QUẢNG NGÃI", "", "Số: 2810/UBND-KGVX",
        "Quảng Ngãi, ngày 20 tháng 6 năm 2023", "V/v tăng cường công tác khuyến học", "",
        "Kính gửi:", *[f"- {a};" for a in AGENCIES], "", "Chủ tịch UBND tỉnh có ý kiến như sau:", "",
    ]
    words = 0
    section = 0
    while words < pages * 500:
        section += 1
        agency = AGENCIES[section % len(AGENCIES)]
        lines += [f"{section}. {agency}", ""]
        for k, letter in enumerate(LETTERS):
            coordinate = AGENCIES[(section + k + 1) % len(AGENCIES)]
            text = f"{letter}) Chủ trì, phối hợp với {coordinate} thực hiện. " + SENTENCE * 2
            lines += [text, ""]
            words += len(text.split())
        if section % 3 == 0:
            lines += [str(section // 3), "C:\\vanban\\2810.docx", ""]  # page numbers, file paths
    lines += [
        "Yêu cầu các cơ quan hằng năm báo cáo kết quả thực hiện về Sở Giáo dục và Đào tạo trước "
        "ngày 30/11/2023 để tổng hợp, báo cáo UBND tỉnh trước ngày 15/12/2023./.", "",
        "Nơi nhận:", "- Như trên;", "- Thường trực Tỉnh ủy;", "", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH",
    ]
    return "\n".join(lines)


def _median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    directory = load_directory_file()
    started = time.perf_counter()
    for path in sorted(NATIONAL.glob("*.txt")):  # cold: the national map, each scope's patterns
        import_file(path, directory=directory)
    cold = time.perf_counter() - started

    print(f"first import of each national text, caches cold: {cold * 1000:8.1f} ms in all")
    print(f"{'national text':42} {'read+NFC':>10} {'import':>10} {'ratio':>8}")
    worst = 0.0
    for path in sorted(NATIONAL.glob("*.txt")):
        def baseline(p: Path = path) -> None:
            unicodedata.normalize("NFC", p.read_text(encoding="utf-8"))

        def full(p: Path = path) -> None:
            import_file(p, directory=directory)

        base, imp = _median(baseline, runs * 4), _median(full, runs)
        worst = max(worst, imp)
        print(f"{path.stem:42} {base * 1000:8.3f}ms {imp * 1000:8.1f}ms {imp / base:7.0f}x")
    print(f"slowest national text: {worst * 1000:.1f} ms; well under a second:",
          "yes" if worst < 0.25 else "NO")

    text = synthetic()
    path = Path("/tmp/chidao-import-bench.txt")
    path.write_text(text, encoding="utf-8")
    import_text(text, directory=directory)  # warm caches (regexes, directory index)

    def synthetic_baseline() -> None:
        unicodedata.normalize("NFC", path.read_text(encoding="utf-8"))

    def synthetic_import() -> None:
        import_text(path.read_text(encoding="utf-8"), directory=directory)

    base = _median(synthetic_baseline, runs * 4)
    imp = _median(synthetic_import, runs)
    words = len(text.split())
    print(f"synthetic text: {words} words (~{words // 500} pages), {len(text) // 1024} KiB")
    print(f"baseline (read + NFC): {base * 1000:8.2f} ms")
    print(f"chidao import:         {imp * 1000:8.2f} ms")
    print(f"ratio import/baseline: {imp / base:8.0f}x")
    print("well under a second:  ", "yes" if imp < 1.0 else "NO")


if __name__ == "__main__":
    main()
