"""Well-formed test files, generated in code: Word, Excel, PowerPoint, PDF and images."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import docx
import openpyxl
import pypdf
from docx.opc.constants import CONTENT_TYPE as CT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.oxml import parse_xml
from docx.shared import Inches
from openpyxl.utils import get_column_letter
from PIL import Image
from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.enum.chart import XL_CHART_TYPE
from pptx.util import Inches as PptInches
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def png_bytes(size: tuple[int, int] = (40, 30), colour: str = "red", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(size: tuple[int, int] = (40, 30), colour: str = "blue") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


# Word -----------------------------------------------------------------------------------


def word_document(path: Path) -> Path:
    """Title, headings, bold text, lists, a merged table, a PNG and a JPEG, header, footer,
    a footnote and a comment."""
    document = docx.Document()
    document.core_properties.title = "Quarterly report"
    document.core_properties.author = "Ann Analyst"
    document.add_heading("Quarterly report", 0)
    document.add_heading("Summary", 1)
    intro = document.add_paragraph("Sales grew ")
    intro.add_run("strongly").bold = True
    intro.add_run(" this quarter.")
    document.add_paragraph("North region", style="List Bullet")
    document.add_paragraph("South region", style="List Bullet")
    document.add_paragraph("Hire two people", style="List Number")
    table = document.add_table(rows=3, cols=3)
    for row, values in enumerate(
        [("Region", "Q1", "Q2"), ("North", "10", "12"), ("South", "7", "9")]
    ):
        for col, value in enumerate(values):
            table.cell(row, col).text = value
    document.add_heading("Pictures", 2)
    document.add_picture(io.BytesIO(png_bytes()), width=Inches(1))
    document.add_picture(io.BytesIO(jpeg_bytes()), width=Inches(1))
    document.add_picture(io.BytesIO(png_bytes()), width=Inches(1))  # the same image again
    document.sections[0].header.paragraphs[0].text = "ACME confidential"
    document.sections[0].footer.paragraphs[0].text = "Page footer text"
    noted = document.add_paragraph("A claim that needs a source.")
    _add_footnote(document, noted, "Source: the annual survey.")
    document.add_comment(intro.runs[1], text="Is this true?", author="Bob Reviewer")
    document.add_page_break()
    document.add_paragraph("Second page text.")
    document.save(path)
    return path


def _add_footnote(document: docx.document.Document, paragraph, text: str) -> None:
    """python-docx cannot write footnotes, so the part is added by hand."""
    xml = (
        f"<w:footnotes {W_NS}>"
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
        f'<w:footnote w:id="1"><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:footnote>'
        "</w:footnotes>"
    ).encode()
    part = Part(PackURI("/word/footnotes.xml"), CT.WML_FOOTNOTES, xml, document.part.package)
    document.part.relate_to(part, RT.FOOTNOTES)
    paragraph._p.append(parse_xml(f'<w:r {W_NS}><w:footnoteReference w:id="1"/></w:r>'))


# Excel ----------------------------------------------------------------------------------


def excel_workbook(path: Path) -> Path:
    """A 'Sales' sheet with a header, dates, numbers, a formula without a saved result and a
    merged range; a 'Notes' sheet of text."""
    workbook = openpyxl.Workbook()
    sales = workbook.active
    sales.title = "Sales"
    sales.append(["Region", "Date", "Units", "Price"])
    rows = [
        ("North", dt.datetime(2024, 1, 5), 10, 2.5),
        ("South", dt.datetime(2024, 1, 6), 4, 3.0),
        ("North", dt.datetime(2024, 2, 1), 6, 2.5),
        ("East", dt.datetime(2024, 2, 3), 0, 4.0),
    ]
    for row in rows:
        sales.append(row)
    sales["F1"] = "Total"
    sales["F2"] = "=SUM(C2:C5)"
    sales.merge_cells("H1:I2")
    notes = workbook.create_sheet("Notes")
    notes.append(["Note"])
    notes.append(["Prices are in EUR"])
    workbook.save(path)
    return path


def large_workbook(path: Path, rows: int, columns: int = 10) -> Path:
    """A one-sheet workbook of numbers and short text, written row by row."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Data")
    sheet.append([f"col{i}" for i in range(columns)])
    for r in range(rows):
        sheet.append([r, r * 0.5, f"g{r % 5}", *range(columns - 3)])
    workbook.save(path)
    return path


# PowerPoint -----------------------------------------------------------------------------


def presentation(path: Path) -> Path:
    """Three slides: a title slide, bullets with notes, and a table, chart and grouped
    text and picture."""
    deck = Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[0])
    first.shapes.title.text = "Launch plan"
    first.placeholders[1].text = "Spring 2025"
    second = deck.slides.add_slide(deck.slide_layouts[1])
    second.shapes.title.text = "Agenda"
    frame = second.placeholders[1].text_frame
    frame.text = "Goals"
    sub = frame.add_paragraph()
    sub.text = "Grow revenue"
    sub.level = 1
    second.notes_slide.notes_text_frame.text = "Remember to thank the team"
    third = deck.slides.add_slide(deck.slide_layouts[5])
    third.shapes.title.text = "Numbers"
    table = third.shapes.add_table(2, 2, PptInches(1), PptInches(1.5), PptInches(4), PptInches(1))
    table.table.cell(0, 0).text = "Metric"
    table.table.cell(0, 1).text = "Value"
    table.table.cell(1, 0).text = "Users"
    table.table.cell(1, 1).text = "1200"
    group = third.shapes.add_group_shape()
    box = group.shapes.add_textbox(PptInches(1), PptInches(3), PptInches(2), PptInches(1))
    box.text_frame.text = "Grouped note"
    group.shapes.add_picture(io.BytesIO(jpeg_bytes()), PptInches(3), PptInches(3))
    data = CategoryChartData()
    data.categories = ["Q1", "Q2"]
    data.add_series("Revenue", (1.0, 2.0))
    chart = third.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, PptInches(5), PptInches(3), PptInches(3), PptInches(2), data
    ).chart
    chart.has_title = True
    chart.chart_title.text_frame.text = "Revenue"
    deck.save(path)
    return path


# PDF ------------------------------------------------------------------------------------


def pdf_document(path: Path, pages: int = 3, scanned: int = 0, title: str = "Sample") -> Path:
    """`pages` pages of text ('Page N of NAME'), then `scanned` pages holding only an image."""
    drawing = canvas.Canvas(str(path))
    drawing.setTitle(title)
    drawing.setAuthor("Nexus tests")
    for number in range(1, pages + 1):
        drawing.drawString(72, 720, f"Page {number} of {title}")
        drawing.drawString(72, 700, "The quick brown fox jumps over the lazy dog.")
        drawing.showPage()
    for _ in range(scanned):
        picture = Image.new("RGB", (300, 200), "gray")
        drawing.drawImage(ImageReader(picture), 72, 400, 300, 200)
        drawing.showPage()
    drawing.save()
    return path


def encrypted_pdf(path: Path, password: str = "s3cret") -> Path:
    source = io.BytesIO()
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Title": "Locked"})
    writer.encrypt(password, algorithm="AES-256")
    writer.write(source)
    path.write_bytes(source.getvalue())
    return path


# images ---------------------------------------------------------------------------------


def photo_with_exif(path: Path, orientation: int = 6) -> Path:
    """A 400×200 JPEG (left quarter blue) taken 'sideways': EXIF orientation, GPS, comment."""
    picture = Image.new("RGB", (400, 200), "red")
    picture.paste((0, 0, 255), (0, 0, 100, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 22.0, 1.5)
    picture.save(path, exif=exif, comment=b"holiday at home")
    return path


def transparent_png(path: Path, size: tuple[int, int] = (300, 150)) -> Path:
    Image.new("RGBA", size, (0, 255, 0, 0)).save(path)
    return path


def fast_workbook(path: Path, rows: int, columns: int = 10) -> Path:
    """A one-sheet .xlsx written as raw XML: far faster than openpyxl for big test sheets.

    Numbers and inline strings only, which is what exports from databases look like.
    """
    header = "".join(f'<c t="inlineStr"><is><t>col{i}</t></is></c>' for i in range(columns))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _XLSX_TYPES)
        archive.writestr("_rels/.rels", _XLSX_RELS)
        archive.writestr("xl/workbook.xml", _XLSX_WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _XLSX_WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            last = f"{get_column_letter(columns)}{rows + 1}"
            sheet.write(
                f'<worksheet xmlns="{_SML}"><dimension ref="A1:{last}"/>'
                f"<sheetData><row>{header}</row>".encode()
            )
            batch = []
            for r in range(rows):
                cells = [
                    f"<c><v>{r}</v></c>",
                    f"<c><v>{r * 0.5}</v></c>",
                    f'<c t="inlineStr"><is><t>g{r % 5}</t></is></c>',
                ]
                cells += [f"<c><v>{(r * 7 + c) % 1000}</v></c>" for c in range(columns - 3)]
                batch.append(f"<row>{''.join(cells)}</row>")
                if len(batch) == 2000:
                    sheet.write("".join(batch).encode())
                    batch = []
            sheet.write(("".join(batch) + "</sheetData></worksheet>").encode())
    return path


_SML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_XLSX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
_XLSX_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_XLSX_WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_SML}" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_XLSX_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


# scans --------------------------------------------------------------------------------------

PARAGRAPH = (
    "The committee met on Tuesday to review the annual budget. Members agreed that the "
    "library should open longer hours during the winter months, and that the new reading "
    "room will be finished before the spring. The treasurer reported that donations rose "
    "by twelve percent, which pays for two more staff and a delivery van for the villages."
)
SCAN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"


def scanned_page(text: str = PARAGRAPH, skew: float = 3.0, noise: float = 0.01,
                 seed: int = 7) -> Image.Image:
    """A 300 dpi A4 'scan' of `text`: black on white, speckled, turned by `skew` degrees."""
    import random
    import textwrap

    from PIL import ImageDraw, ImageFont

    page = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(SCAN_FONT, 44) if Path(SCAN_FONT).exists() else (
        ImageFont.load_default(size=44)
    )
    for row, line in enumerate(textwrap.wrap(text, 70)):
        draw.text((220, 300 + row * 70), line, fill=0, font=font)
    rng = random.Random(seed)
    pixels = page.load()
    for _ in range(int(page.width * page.height * noise)):
        pixels[rng.randrange(page.width), rng.randrange(page.height)] = rng.choice((0, 110, 200))
    return page.rotate(skew, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)


def scanned_pdf(path: Path, pages: int = 1, text: str = PARAGRAPH) -> Path:
    """A PDF of `pages` scanned pages (images only, no text layer), as a scanner writes."""
    images = [scanned_page(text, seed=7 + n).convert("RGB") for n in range(pages)]
    images[0].save(path, "PDF", resolution=300, save_all=True, append_images=images[1:])
    return path


def scanned_png(path: Path, text: str = PARAGRAPH) -> Path:
    scanned_page(text).save(path, dpi=(300, 300))
    return path


def heic_photo(path: Path, orientation: int = 6) -> Path:
    """A 400×200 HEIC (left quarter blue) taken sideways, as an iPhone stores it.

    pillow-heif moves the EXIF orientation into the container's rotation (`irot`), which is
    how phones write it; the photo is upright with its blue edge on top.
    """
    from pillow_heif import register_heif_opener

    register_heif_opener()
    picture = Image.new("RGB", (400, 200), "red")
    picture.paste((0, 0, 255), (0, 0, 100, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Apple"
    picture.save(path, format="HEIF", exif=exif.tobytes(), quality=90)
    return path


def avif_image(path: Path) -> Path:
    Image.new("RGB", (300, 120), "green").save(path, format="AVIF", quality=80)
    return path
