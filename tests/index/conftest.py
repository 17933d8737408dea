import pytest


@pytest.fixture
def corpus(tmp_path):
    """A small real folder: English and Korean (CP949) notes, a PDF, junk to skip."""
    from tests.ingest.pdfgen import write_pdf

    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "garden.md").write_text(
        "# Garden\n\n## Tomatoes\n\nTomatoes need six hours of sun and deep watering twice a "
        "week.\n\n## Roses\n\nPrune roses in late winter, just above an outward-facing bud.\n")
    (root / "sub" / "travel.txt").write_text(
        "The night train to Vienna leaves Munich at 23:10 from platform 11.\n")
    (root / "sub" / "korean.txt").write_bytes(
        "경주는 신라의 수도였다. 불국사와 석굴암은 경주에 있다.\n\n"
        "제주도는 한국에서 가장 큰 섬이며 한라산이 있다.\n".encode("cp949"))
    write_pdf(root / "manual.pdf", ["Reset the router by holding the button for ten seconds."])
    (root / "empty.txt").write_text("")
    (root / "blob.txt").write_bytes(b"\x00\xff" * 64)
    return root
