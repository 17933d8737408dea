"""OCR accuracy of scanned pages by layout and Tesseract page segmentation, and what hostile
PDFs (thousands of blank pages, a giant page) cost to ingest.

    python benchmarks/ocr_accuracy.py [--name NAME] [--font FONT.ttf] [--dpi 150,300]
    python benchmarks/ocr_accuracy.py --hostile --name after
    RAGCHAT_BENCH_CMD="python -P -m ragchat" PYTHONPATH=OLD_CHECKOUT \
        python benchmarks/ocr_accuracy.py --hostile --name before

Prerequisites: Tesseract with Korean and English (`sudo apt-get install tesseract-ocr
tesseract-ocr-kor`) and a font with Hangul: NanumGothic (`sudo apt-get install fonts-nanum`)
or any other given with --font. English-only runs (--languages eng) use Pillow's own font.

Accuracy: the script draws known text with Pillow as scans of A4 pages (image-only PDFs, as
a scanner writes them, at each --dpi) in four layouts, in Korean and in English: a short
memo (four lines at the top of an empty page), a full page of paragraphs, two columns, a
table with ruled cells. Each PDF is read by ragchat's own path (`read_pdf`: pypdfium2
renders the page at 300 dpi, Tesseract reads it) with each order of page segmentation modes
(`ragchat.ingest.ocr.PSM_ORDER`): `3` alone (automatic segmentation: ragchat before),
ragchat's rule (3, then 6 when the first reading is unsure), `6` alone (one block of text)
and `4` alone (one column). Scores, on whitespace-normalized text: character accuracy
(1 - edit distance / length of the known text, at least 0; reading order counts) and word
recall (the share of the known words found anywhere); also the seconds and Tesseract runs.

Hostile (--hostile): `ragchat ingest --json` of a folder holding a small text file and one
PDF of benchmarks/hostile_corpus.py, for each of: 5,000 blank pages; one 19,000 x 19,000 pt
page with a drawn line (6 gigapixels at 300 dpi). Records the wall time, the read stage's time and what the report
says of the PDF. RAGCHAT_BENCH_CMD runs another checkout the same way (`-P`, so that the
command's PYTHONPATH is imported rather than this folder).

Writes benchmarks/results/ocr-accuracy[-NAME].json or ocr-accuracy-hostile-NAME.json.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from common import REPO_DIR, ingest_folder, ragchat_command, save_results, script_parser, shown_path
from tables import markdown_table, number, read_results, run_name, seconds, table_mode

sys.path.insert(0, str(REPO_DIR))

HANGUL_FONT = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"
A4_INCHES = (8.27, 11.69)
MARGIN = 1.0  # inch
VARIANTS: dict[str, tuple[int, ...] | None] = {  # None: ragchat's own PSM_ORDER
    "psm 3 (before)": (3,), "rule (after)": None, "psm 6": (6,), "psm 4": (4,)}

KOREAN = [
    "시립 도서관은 다음 달부터 평일 운영 시간을 오후 열 시까지 연장한다. 연장 시간에는 열람실과 "
    "자료실만 이용할 수 있으며, 대출과 반납은 무인 반납기를 이용하면 된다.",
    "이번 조치는 지난해 실시한 이용자 설문에서 직장인과 학생의 요청이 가장 많았던 항목을 반영한 "
    "것이다. 도서관은 연장 운영에 필요한 인력을 확보하기 위해 자원봉사자를 모집하고 있다.",
    "주말 프로그램도 새로 마련되었다. 토요일 오전에는 어린이를 위한 그림책 읽기 모임이 열리고, "
    "일요일 오후에는 지역 작가와 함께하는 글쓰기 강좌가 진행된다.",
    "주차장은 공사 때문에 당분간 절반만 사용할 수 있다. 방문객은 가급적 대중교통을 이용해 달라고 "
    "도서관 측은 당부했다. 버스는 시청 앞 정류장에서 내려 오 분 정도 걸으면 된다.",
    "도서관은 오래된 자료를 전자 문서로 바꾸는 사업을 올해 안에 마칠 계획이다. 사업이 끝나면 "
    "이용자는 집에서도 옛 신문과 지역 문헌을 검색하고 읽을 수 있게 된다.",
    "문의 사항은 평일 오전 아홉 시부터 오후 여섯 시까지 안내 데스크로 전화하거나 전자 우편으로 "
    "보내면 된다. 답변은 보통 이틀 안에 받을 수 있다.",
    "한편 시는 내년 예산에 작은 도서관 세 곳의 신설 비용을 반영했다. 새 도서관은 주민 센터 "
    "건물 안에 들어서며, 어린이 자료실과 공부방을 함께 갖출 예정이다.",
    "도서관 관계자는 더 많은 시민이 편한 시간에 책을 읽을 수 있도록 운영 방식을 계속 고쳐 "
    "나가겠다고 말했다.",
]
ENGLISH = [
    "The city library will stay open until ten in the evening on weekdays from next month. "
    "During the extra hours only the reading rooms are open, and books are returned at the "
    "self-service machine by the main entrance.",
    "The change follows last year's survey of readers, in which office workers and students "
    "asked for longer hours more than for anything else. The library is looking for "
    "volunteers to help staff the evenings.",
    "New weekend programmes start as well. On Saturday mornings children can join a picture "
    "book reading circle, and on Sunday afternoons a local author leads a writing workshop.",
    "Because of building work, only half of the car park can be used for the time being. "
    "Visitors are asked to come by public transport; the bus stop in front of the town hall "
    "is a five minute walk away.",
    "The library also plans to finish scanning its old newspapers and local records this "
    "year. Readers will then be able to search and read them from home.",
    "Questions can be sent by email or asked at the front desk by telephone between nine in "
    "the morning and six in the evening on weekdays. Answers usually arrive within two days.",
    "The council has also set aside money in next year's budget for three small branch "
    "libraries. Each will sit inside a community centre, with a children's corner and a "
    "quiet study room.",
    "A spokesperson said the library would keep changing how it works so that more people "
    "can read at a time that suits them.",
]
MEMO = {"kor": ["회의 안내", "일시: 삼월 십사일 오후 두 시", "장소: 본관 삼층 대회의실",
                "안건: 신규 장비 구매 예산 검토"],
        "eng": ["Meeting notice", "When: March 14, two in the afternoon",
                "Where: main building, third floor", "Agenda: budget for new equipment"]}
TABLE = {"kor": [["품목", "수량", "단가", "금액"], ["노트북", "3", "1,200,000", "3,600,000"],
                 ["모니터", "5", "250,000", "1,250,000"], ["복합기", "1", "980,000", "980,000"],
                 ["의자", "12", "85,000", "1,020,000"], ["책상", "6", "140,000", "840,000"],
                 ["합계", "27", "", "7,690,000"]],
         "eng": [["Item", "Quantity", "Unit price", "Amount"],
                 ["Laptop", "3", "1,200", "3,600"], ["Monitor", "5", "250", "1,250"],
                 ["Printer", "1", "980", "980"], ["Chair", "12", "85", "1,020"],
                 ["Desk", "6", "140", "840"], ["Total", "27", "", "7,690"]]}


class Page:
    """A blank A4 scan at `dpi` to draw on, in points, and the text drawn, in reading order."""

    def __init__(self, dpi: int, font: Callable) -> None:
        from PIL import Image, ImageDraw

        self.dpi = dpi
        self.image = Image.new("L", (round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi)), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.font = font
        self.lines: list[str] = []

    def px(self, points: float) -> int:
        return round(points / 72 * self.dpi)

    def text(self, x_pt: float, y_pt: float, line: str, size_pt: float) -> None:
        self.draw.text((self.px(x_pt), self.px(y_pt)), line, font=self.font(self.px(size_pt)),
                       fill=0)

    def width(self, line: str, size_pt: float) -> float:
        return self.font(self.px(size_pt)).getlength(line) * 72 / self.dpi


def wrap(page: Page, words: list[str], width_pt: float, size_pt: float) -> list[str]:
    lines, line = [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if line and page.width(candidate, size_pt) > width_pt:
            lines.append(line)
            candidate = word
        line = candidate
    return lines + ([line] if line else [])


def column(page: Page, paragraphs: list[str], box: tuple[float, float, float, float],
           size_pt: float) -> None:
    """Paragraphs wrapped into box (x, y, width, height in points), cycled until it is full."""
    x, y, width, height = box
    step, bottom = size_pt * 1.5, box[1] + height
    for paragraph in paragraphs * 3:
        for line in wrap(page, paragraph.split(), width, size_pt):
            if y + step > bottom:
                return
            page.text(x, y, line, size_pt)
            page.lines.append(line)
            y += step
        y += step / 2


def memo(page: Page, lang: str) -> None:
    for n, line in enumerate(MEMO[lang]):
        page.text(72, 72 + n * 21.6, line, 12)
        page.lines.append(line)


def full_page(page: Page, lang: str) -> None:
    width, height = (A4_INCHES[0] - 2 * MARGIN) * 72, (A4_INCHES[1] - 2 * MARGIN) * 72
    column(page, KOREAN if lang == "kor" else ENGLISH, (72, 72, width, height), 11)


def two_columns(page: Page, lang: str) -> None:
    gutter = 24
    width = ((A4_INCHES[0] - 2 * MARGIN) * 72 - gutter) / 2
    height = (A4_INCHES[1] - 2 * MARGIN) * 72
    paragraphs = KOREAN if lang == "kor" else ENGLISH
    column(page, paragraphs[:4], (72, 72, width, height), 10)
    column(page, paragraphs[4:], (72 + width + gutter, 72, width, height), 10)


def ruled_table(page: Page, lang: str) -> None:
    rows, widths, height = TABLE[lang], [130, 80, 110, 130], 28
    x0, y0 = 72, 90
    for r, row in enumerate(rows):
        x = x0
        for cell, w in zip(row, widths):
            page.draw.rectangle([page.px(x), page.px(y0 + r * height), page.px(x + w),
                                 page.px(y0 + (r + 1) * height)], outline=0, width=2)
            page.text(x + 8, y0 + r * height + 7, cell, 11)
            x += w
        page.lines.append(" ".join(c for c in row if c))


LAYOUTS = {"memo": memo, "full page": full_page, "two columns": two_columns,
           "table": ruled_table}


def font_loader(lang: str, hangul_font: str) -> Callable:
    from PIL import ImageFont

    if lang == "kor":
        return lambda size: ImageFont.truetype(hangul_font, size)
    return lambda size: ImageFont.load_default(size)


def write_scan(path: Path, layout: str, lang: str, dpi: int, hangul_font: str) -> str:
    """Draw the page, save it as an image-only PDF; return the text drawn."""
    page = Page(dpi, font_loader(lang, hangul_font))
    LAYOUTS[layout](page, lang)
    page.image.save(path, "PDF", resolution=dpi)
    return "\n".join(page.lines)


def normalized(text: str) -> str:
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def accuracy(read: str, truth: str) -> float:
    read, truth = normalized(read), normalized(truth)
    return max(0.0, 1 - edit_distance(read, truth) / len(truth))


def word_recall(read: str, truth: str) -> float:
    found, wanted = Counter(read.split()), Counter(truth.split())
    return sum((found & wanted).values()) / sum(wanted.values())


def read_variant(path: Path, order: tuple[int, ...] | None) -> dict:
    """The PDF through ragchat's reader with Tesseract's modes tried in `order`; what it
    read, how long it took and each Tesseract run's mode, characters and confidence."""
    from ragchat.ingest import ocr
    from ragchat.ingest.pdf import read_pdf

    runs: list = []
    saved = ocr.PSM_ORDER, ocr.read_image

    def counted(*args, **kwargs):
        runs.append(saved[1](*args, **kwargs))
        return runs[-1]

    ocr.PSM_ORDER, ocr.read_image = order or saved[0], counted
    try:
        start, cpu = time.perf_counter(), cpu_seconds()
        document = read_pdf(path)
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    finally:
        ocr.PSM_ORDER, ocr.read_image = saved
    return {"text": "\n".join(s.text for s in document.sections), "seconds": round(elapsed, 3),
            "cpu_seconds": round(cpu, 3),
            "problems": list(document.problems),
            "runs": [{"psm": r.psm, "characters": r.characters,
                      "confidence": round(r.confidence, 1),
                      "line_length": round(r.line_length, 1)} for r in runs]}


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (Tesseract): unlike wall time,
    hardly changed by other work on a shared machine."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure_page(path: Path, truth: str) -> dict:
    variants = {}
    for name, order in VARIANTS.items():
        result = read_variant(path, order)
        result["accuracy"] = round(accuracy(result["text"], truth), 4)
        result["word_recall"] = round(word_recall(result["text"], truth), 4)
        variants[name] = result
    return variants


def run_accuracy(args) -> None:
    from ragchat.ingest.ocr import PSM_ORDER, SURE_CHARACTERS, SURE_CONFIDENCE, find_tesseract

    found = find_tesseract()
    if not found.usable or "kor" not in found.languages and "kor" in args.languages:
        raise SystemExit("Tesseract with Korean is needed: sudo apt-get install tesseract-ocr "
                         "tesseract-ocr-kor")
    pages = []
    with tempfile.TemporaryDirectory(prefix="ragchat-ocr-bench-") as folder:
        for layout in args.layouts:
            for lang in args.languages:
                for dpi in args.dpi:
                    path = Path(folder) / f"{layout}-{lang}-{dpi}.pdf".replace(" ", "-")
                    truth = write_scan(path, layout, lang, dpi, args.font)
                    variants = measure_page(path, truth)
                    pages.append({"layout": layout, "language": lang, "scan_dpi": dpi,
                                  "characters": len(normalized(truth)), "truth": truth,
                                  "variants": variants})
                    print(f"{layout:12} {lang} {dpi:3} dpi  " + "  ".join(
                        f"{name}: {v['accuracy']:.3f}" for name, v in variants.items()),
                        flush=True)
    payload = {"tesseract": found.version, "languages": found.lang_arg,
               "font": shown_path(args.font) if "kor" in args.languages else "Pillow default",
               "rule": {"psm_order": list(PSM_ORDER), "sure_characters": SURE_CHARACTERS,
                        "sure_confidence": SURE_CONFIDENCE},
               "summary": summary(pages), "pages": pages}
    name = f"ocr-accuracy-{args.name}" if args.name else "ocr-accuracy"
    print(f"wrote {save_results(name, payload, args.out_dir)}")


def summary(pages: list[dict]) -> dict:
    """Per variant: mean accuracy and word recall, total seconds and Tesseract runs."""
    out = {}
    for name in VARIANTS:
        results = [p["variants"][name] for p in pages]
        out[name] = {"accuracy": round(statistics.fmean(r["accuracy"] for r in results), 4),
                     "word_recall": round(statistics.fmean(r["word_recall"] for r in results), 4),
                     "seconds": round(sum(r["seconds"] for r in results), 2),
                     "cpu_seconds": round(sum(r["cpu_seconds"] for r in results), 2),
                     "tesseract_runs": sum(len(r["runs"]) for r in results)}
    return out


def hostile_files(folder: Path) -> dict[str, Path]:
    """The two PDFs of benchmarks/hostile_corpus.py at full size, each in its own folder
    beside a small text file."""
    from hostile_corpus import build

    files = {"5,000 blank pages": folder / "blank" / "blank.pdf",
             "one 19,000 pt page": folder / "huge" / "huge-page.pdf"}
    for path in files.values():
        build(path.parent, "full", only=path.name)
        (path.parent / "note.txt").write_text("A note so that the folder has text to index.\n")
    return files


def run_hostile(args) -> None:
    cases = {}
    with tempfile.TemporaryDirectory(prefix="ragchat-hostile-") as folder:
        for case, path in hostile_files(Path(folder)).items():
            home = Path(folder) / f"home-{path.stem}"
            run, report = ingest_folder(path.parent, home)
            cases[case] = {"file": path.name, "bytes": path.stat().st_size,
                           "seconds": round(run.seconds, 2),
                           "read_seconds": round(report.get("timings", {}).get("read", 0), 2),
                           "outcome": outcome(report, path.name)}
            print(f"{case}: {cases[case]}", flush=True)
    payload = {"ragchat_command": [shown_arg(a) for a in ragchat_command()], "cases": cases}
    print(f"wrote {save_results(f'ocr-accuracy-hostile-{args.name}', payload, args.out_dir)}")


def outcome(report: dict, name: str) -> dict:
    """What the ingest report says of the file: failed with a reason, or read with problems."""
    for failed in report.get("failed", []):
        if str(failed.get("path", "")).endswith(name):
            return {"failed": failed.get("reason") or failed.get("error") or str(failed)}
    for file in report.get("files", []):
        if str(file.get("path", "")).endswith(name):
            return {"chunks": file.get("chunks"), "problems": file.get("problems", []),
                    "needs_ocr_pages": len(file.get("needs_ocr", []))}
    return {"missing": True}


def shown_arg(arg: str) -> str:
    key, sep, value = arg.rpartition("=")
    return f"{key}{sep}{shown_path(value)}" if value.startswith("/") else arg


def markdown_accuracy(paths: list[Path]) -> str:
    """Character accuracy per page and variant; the last row the means and total seconds."""
    [data] = [read_results(p) for p in paths]
    names = list(VARIANTS)
    rows = [[p["layout"], p["language"], p["scan_dpi"],
             *(number(p["variants"][n]["accuracy"]) for n in names),
             "+".join(str(r["psm"]) for r in p["variants"]["rule (after)"]["runs"])]
            for p in data["pages"]]
    total = data["summary"]
    rows.append(["**mean**", "", "", *(f"**{number(total[n]['accuracy'])}**" for n in names),
                 ""])
    rows.append(["word recall", "", "", *(number(total[n]["word_recall"]) for n in names), ""])
    rows.append(["CPU seconds, all pages", "", "",
                 *(seconds(total[n]["cpu_seconds"]) for n in names), ""])
    return markdown_table(["layout", "language", "scan dpi", *names, "rule ran psm"], rows)


def markdown_hostile(paths: list[Path]) -> str:
    """Per hostile file and run: the code that ran, the ingest's wall time, its read stage,
    what the report said of the file."""
    rows = []
    for path in paths:
        data = read_results(path)
        for case, c in data["cases"].items():
            result = c["outcome"]
            said = (f"failed: {result['failed']}" if "failed" in result else
                    "; ".join(result.get("problems", [])) or "read")
            rows.append([case, run_name(path, "ocr-accuracy-hostile-"), checkout(data),
                         f"{c['bytes']:,}", seconds(c["seconds"]), seconds(c["read_seconds"]),
                         said])
    return markdown_table(["file", "run", "ragchat", "bytes", "ingest s", "read s", "report"],
                          rows)


def checkout(data: dict) -> str:
    """The ragchat that ran: the checkout on RAGCHAT_BENCH_CMD's PYTHONPATH, else this one."""
    for arg in data.get("ragchat_command", []):
        if arg.startswith("PYTHONPATH="):
            return arg.removeprefix("PYTHONPATH=")
    return f"{data['commit']}{' (dirty)' if data.get('dirty') else ''}"


TABLES = {"accuracy": markdown_accuracy, "hostile": markdown_hostile}


def main() -> None:
    parser = script_parser(__doc__, name=None)
    parser.add_argument("--hostile", action="store_true",
                        help="time the ingest of hostile PDFs instead (needs --name)")
    parser.add_argument("--font", default=HANGUL_FONT, help="a TrueType font with Hangul")
    parser.add_argument("--dpi", type=lambda s: [int(x) for x in s.split(",")],
                        default=[150, 300], help="scan resolutions [150,300]")
    parser.add_argument("--languages", type=lambda s: s.split(","), default=["kor", "eng"])
    parser.add_argument("--layouts", type=lambda s: s.split(","), default=list(LAYOUTS),
                        help=f"of {', '.join(LAYOUTS)}")
    args = parser.parse_args()
    if args.hostile:
        if not args.name:
            parser.error("--hostile needs --name (before, after, ...)")
        run_hostile(args)
    else:
        run_accuracy(args)


if __name__ == "__main__" and not table_mode(TABLES):
    main()
