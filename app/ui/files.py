"""The Files page's widget groups: options per file type, and a result drawn for people.

    options = files.options_for("pdf", ["split"])        # widgets for the chosen operations
    files.show_result(record, user)                      # a finished job, metrics and previews

Renderers take an operation's summary and `Where` its outputs live, so one renderer draws a
file of a single job and a file inside a batch alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from app import jobs, myfiles, storage
from app.auth import User
from app.errors import PermanentError
from app.office import ocr, runner
from app.quotas import QuotaExceeded
from app.settings import get_settings
from app.ui import table

IMAGE_PREVIEW_LIMIT = 12
JOB_KEY = "files_job"  # the job the page follows


@dataclass(frozen=True)
class Where:
    """Where one file's outputs are: the job, the folder inside its outputs, the file's type."""

    job_id: str
    user: User
    family: str
    folder: str = ""


def output_bytes(at: Where, name: str) -> bytes:
    """An output shown on the page (not a download, so not audited as one)."""
    return jobs.output_bytes(at.job_id, at.folder + name, user=at.user, audited=False)


# options --------------------------------------------------------------------------------------


def options_for(family: str, operations: list[str]) -> dict[str, Any]:
    """The options the chosen operations of one type take, with sensible defaults."""
    builders = {"pdf": pdf_options, "image": image_options, "xlsx": excel_options}
    if family not in builders:
        return {}
    return builders[family](operations)


def pdf_options(operations: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    left, right = st.columns(2)
    if "thumbnails" in operations:
        options["thumbnail_pages"] = left.text_input(
            "Thumbnail pages", "", help="Like 1-3, 5. Empty: the first ten pages."
        )
        options["thumbnail_size"] = right.slider("Thumbnail size (px)", 64, 1200, 300, step=16)
    if "split" in operations:
        options["ranges"] = left.text_input(
            "Split into ranges", "", help="Like 1-3, 4-6, 7-. Empty: one file per page."
        )
    if "rotate" in operations:
        options["angle"] = right.selectbox("Rotate clockwise by", [90, 180, 270])
        options["pages"] = left.text_input("Pages to rotate", "", help="Empty: every page.")
    return {**options, **pdf_tool_options(operations)}


def pdf_tool_options(operations: list[str]) -> dict[str, Any]:
    """The options of the page and file tools: pages, order, watermark, new password."""
    options: dict[str, Any] = {}
    left, right = st.columns(2)
    if "delete_pages" in operations:
        options["delete_pages"] = left.text_input("Pages to delete", "", help="Like 2, 5-7.")
    if "reorder" in operations:
        options["order"] = right.text_input(
            "New page order", "", help="Like 3, 1-2. Pages not named follow in their order."
        )
    if "compress" in operations:
        options["quality"] = left.slider("Image quality after compressing", 10, 95, 70)
    if "watermark" in operations:
        options["watermark_text"] = right.text_input("Watermark text", "CONFIDENTIAL")
    if "protect" in operations:
        options["new_password"] = left.text_input("New password", "", type="password")
    return options


def image_options(operations: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    left, right = st.columns(2)
    if "thumbnail" in operations:
        options["thumbnail_size"] = left.slider("Thumbnail size (px)", 32, 1024, 256, step=16)
    if "resize" in operations:
        options["mode"] = right.selectbox(
            "Resize mode",
            ["fit", "fill", "exact"],
            format_func={
                "fit": "Fit inside the box (keep aspect ratio)",
                "fill": "Fill the box and crop (keep aspect ratio)",
                "exact": "Exactly this size (stretch)",
            }.get,
        )
        options["width"] = left.number_input("Width (px)", 1, 10_000, 800)
        options["height"] = right.number_input("Height (px)", 1, 10_000, 600)
    if "convert" in operations:
        options["format"] = left.selectbox("Convert to", ["png", "jpeg", "webp"])
        options["quality"] = right.slider("Quality (JPEG, WebP)", 10, 100, 90)
        options["background"] = left.color_picker("Fill transparency with (JPEG)", "#FFFFFF")
    return options


def excel_options(operations: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    left, right = st.columns(2)
    sheets = left.text_input("Sheets", "", help="Comma-separated names. Empty: every sheet.")
    if sheets.strip():
        options["sheets"] = [s.strip() for s in sheets.split(",") if s.strip()]
    if "convert" in operations:
        options["formats"] = right.multiselect("Convert to", ["csv", "json"], ["csv", "json"])
    if "calculate" in operations:
        group_by = right.text_input("Group totals by column", "", help="A header or a letter.")
        if group_by.strip():
            options["group_by"] = group_by.strip()
    return options


# OCR ------------------------------------------------------------------------------------------


def ocr_choices(key: str) -> dict[str, Any]:
    """Languages (default from OCR_LANGUAGES) and PDF/A, the parameters of an OCR job."""
    default = ocr.parse_languages(None, get_settings().ocr_languages)
    offered = ocr.installed_languages() or default
    left, right = st.columns([3, 1])
    clean = right.checkbox("Clean speckles", key=f"{key}-clean",
                           help="unpaper cleans noisy scans before recognition; slower.")
    languages = left.multiselect(
        "Languages on the page", sorted({*offered, *default}),
        default=[lang for lang in default if lang in offered] or offered[:1], key=f"{key}-langs",
        help="Every language the document is written in; more languages are slower.",
    )
    pdfa = right.checkbox("PDF/A", key=f"{key}-pdfa", help="For archiving: an ISO PDF/A-2b.")
    return {"languages": languages, "pdfa": pdfa, "clean": clean}


def ocr_form(scans: list[Any], user: User) -> None:
    """OCR of the uploaded PDFs and images on the ocr queue, as a job of its own."""
    with st.expander(f"Recognise text (OCR) in {len(scans)} PDF or image file(s)"):
        st.caption("Makes scans searchable: a PDF with a text layer, and the text. Pages "
                   "that already have text are kept as they are.")
        params = ocr_choices("ocr-upload")
        if st.button("Run OCR", key="ocr-upload-run"):
            submit_ocr(params, user, files=scans)


def submit_ocr(params: dict[str, Any], user: User, files: list[Any] = ()) -> None:
    """Start an OCR job and follow it on the page; a refusal is said, not raised."""
    try:
        st.session_state[JOB_KEY] = jobs.submit("ocr_documents", params, files=files, user=user)
    except (QuotaExceeded, PermanentError) as exc:
        st.error(str(exc))
        return
    st.rerun()


def ocr_button(at: Where, name: str, label: str) -> None:
    """A button that runs OCR on the uploaded file `name` of the job shown."""
    if not st.button(label, key=f"ocr-{at.job_id}-{at.folder}{name}"):
        return
    ref = input_ref(at, name)
    if ref is None:
        st.error(f"{name} is no longer kept: upload it again to run OCR on it.")
        return
    submit_ocr({"files": [ref]}, at.user)


def input_ref(at: Where, name: str) -> dict[str, Any] | None:
    """The stored-file ref of an upload of the job, for a follow-up job; None once it is gone."""
    record = jobs.get(at.job_id, user=at.user)
    for item in myfiles.files_of(record) if record else []:
        if item.area == "input" and not item.archived and item.name.rsplit("/", 1)[-1] in (
            name, storage.safe_filename(name)
        ):
            return {"path": f"jobs/{at.job_id}/in/{item.name}", "name": name,
                    "type": item.type, "size": item.size}
    return None


def show_ocr(summary: dict[str, Any], at: Where) -> None:
    """An OCR result: pages recognised and kept, the languages, the text's start."""
    cols = st.columns(4)
    cols[0].metric("Pages", summary.get("pages", 0))
    cols[1].metric("Recognised", summary.get("ocr_pages", 0))
    cols[2].metric("Already had text", len(summary.get("skipped_pages") or []))
    cols[3].metric("Languages", "+".join(summary.get("languages") or []) or "—")
    kind = "searchable PDF/A" if summary.get("pdfa") else "searchable PDF"
    st.caption(f"The {kind} is {summary.get('name')}; the text is in {summary.get('text_file')}.")
    st.code(summary.get("preview", ""), wrap_lines=True, height=260)


# results --------------------------------------------------------------------------------------


def show_result(record: dict[str, Any], user: User) -> None:
    """A finished files job: each file's operations, a batch's table, a merge's line."""
    result = record.get("result") or {}
    if record["kind"] == "batch_process_files":
        show_batch(record["id"], result, user)
        return
    for entry in result.get("files", []):
        show_file(entry, Where(record["id"], user, entry.get("type", "")))
    if result.get("merge"):
        merged = result["merge"]["merge"]
        st.success(
            f"Merged {len(merged['files'])} PDFs into {merged['name']} ({merged['pages']} pages)."
        )
    if result.get("images_to_pdf"):
        made = result["images_to_pdf"]["images_to_pdf"]
        st.success(f"Put {made['pages']} image(s) into {made['name']}, one page each.")


def show_batch(job_id: str, result: dict[str, Any], user: User) -> None:
    left, right = st.columns(2)
    left.metric("Files processed", result.get("succeeded", 0))
    right.metric("Files refused", result.get("failed", 0))
    rows = [
        {
            "File": e["file"],
            "Type": e.get("type") or "—",
            "OK": bool(e.get("ok")),
            "Problem": e.get("error") or "",
        }
        for e in result.get("files", [])
    ]
    st.dataframe(
        pd.DataFrame(rows), hide_index=True, width="stretch",
        # The sentence is the point of the row: it gets the room.
        column_config={"Problem": st.column_config.TextColumn(width="large")},
    )
    for entry in result.get("files", []):
        if entry.get("ok"):
            with st.expander(entry["file"]):
                show_file(entry, Where(job_id, user, entry["type"], f"{entry['file']}/"))


def show_file(entry: dict[str, Any], at: Where) -> None:
    st.subheader(entry.get("file", "File"))
    if entry.get("converted_from"):
        st.caption(f"Read from a .{entry['converted_from']} file, converted by LibreOffice.")
    for warning in entry.get("warnings", []):
        st.warning(warning)
    offered = runner.operations_of(at.family) if at.family in runner.MODULE_NAMES else {}
    offered.update(ocr.OPERATIONS)
    operations = entry.get("operations") or {}
    for operation, summary in operations.items():
        st.markdown(f"**{offered.get(operation, operation)}**")
        RENDERERS.get(operation, show_json)(summary, at)
    if at.family == "pdf" and (operations.get("extract_text") or {}).get("scanned_pages"):
        ocr_button(at, entry["file"], "Run OCR on this scanned PDF")
    elif at.family == "image" and "ocr" not in operations:
        ocr_button(at, entry["file"], "Find the text in this image (OCR)")


def show_text(summary: dict[str, Any], at: Where) -> None:
    """Text, Markdown or an outline: its size and the first few thousand characters."""
    shown = [("Characters", f"{summary.get('characters', 0):,}")]
    shown += [(key.capitalize(), summary[key]) for key in ("pages", "slides") if key in summary]
    for col, (label, value) in zip(st.columns(4), shown):
        col.metric(label, value)
    if summary.get("scanned_pages"):
        st.caption(f"Pages without a text layer: {', '.join(map(str, summary['scanned_pages']))}")
    language = "markdown" if summary.get("text_file", "").endswith(".md") else None
    st.code(summary.get("preview", ""), language=language, wrap_lines=True, height=260)
    if summary.get("truncated"):
        st.caption(f"The preview is the start; the full text is in {summary['text_file']}.")


def show_stats(summary: dict[str, Any], at: Where) -> None:
    keys = ["words", "characters", "paragraphs", "tables", "images", "sections", "estimated_pages"]
    cols = st.columns(4)
    for index, key in enumerate(k for k in keys if k in summary):
        cols[index % 4].metric(key.replace("_", " ").capitalize(), f"{summary[key]:,}")


def show_properties(summary: dict[str, Any], at: Where) -> None:
    if at.family == "pdf":
        cols = st.columns(3)
        cols[0].metric("Pages", summary.get("pages", 0))
        cols[1].metric("PDF version", summary.get("version") or "—")
        cols[2].metric("Encrypted", "yes" if summary.get("encrypted") else "no")
        summary = {
            **summary.get("properties", {}),
            **{f"page size {size}": count for size, count in summary.get("page_sizes", {}).items()},
        }
    rows = [{"Property": k.replace("_", " "), "Value": str(v)} for k, v in summary.items()]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption("No properties are set.")


def show_images(summary: dict[str, Any], at: Where) -> None:
    images = summary.get("images") or []
    if not images:
        st.caption("No images.")
        return
    shown = [i for i in images if i.get("format", "png") in ("png", "jpeg", "gif", "webp", "bmp")]
    columns = st.columns(4)
    for index, item in enumerate(shown[:IMAGE_PREVIEW_LIMIT]):
        caption = f"page {item['page']}" if "page" in item else item["name"]
        data = output_bytes(at, item["name"])
        columns[index % 4].image(data, caption=caption)
    if len(images) > IMAGE_PREVIEW_LIMIT:
        st.caption(f"{len(images) - IMAGE_PREVIEW_LIMIT} more in the downloads below.")


def show_one_image(summary: dict[str, Any], at: Where) -> None:
    notes = summary.get("notes") or []
    for note in notes:
        st.info(note)
    name = summary.get("name")
    if name and name.rsplit(".", 1)[-1] in ("png", "jpg", "gif", "webp"):
        size = f"{summary['width']}×{summary['height']}" if "width" in summary else ""
        data = output_bytes(at, name)
        st.image(data, caption=f"{name} {size}".strip())
    if "removed" in summary:
        st.write("Removed: " + (", ".join(summary["removed"]) or "nothing was there"))


def show_image_info(summary: dict[str, Any], at: Where) -> None:
    cols = st.columns(4)
    cols[0].metric("Format", summary.get("format") or "—")
    cols[1].metric("Size", f"{summary.get('width')}×{summary.get('height')}")
    cols[2].metric("Mode", summary.get("mode") or "—")
    cols[3].metric("Frames", summary.get("frames", 1))
    if summary.get("orientation_label"):
        st.caption(f"EXIF orientation: {summary['orientation_label']}")
    exif = summary.get("exif") or {}
    if exif:
        rows = [{"Tag": k, "Value": str(v)} for k, v in exif.items()]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def show_sheets(summary: dict[str, Any], at: Where) -> None:
    for note in summary.get("notes", []):
        st.info(note)
    for sheet in summary.get("sheets", []):
        st.markdown(f"*Sheet {sheet['sheet']}*")
        if "used_range" in sheet:
            cols = st.columns(4)
            cols[0].metric("Used range", sheet["used_range"] or "empty")
            cols[1].metric("Rows", f"{sheet['rows']:,}")
            cols[2].metric("Formulas", sheet["formulas"])
            cols[3].metric("Empty cells", f"{sheet['empty_cells']:,}")
            if sheet["column_stats"]:
                st.dataframe(table(sheet["column_stats"]), hide_index=True)
        if "files" in sheet:
            st.caption(f"{sheet['rows']:,} rows written to {', '.join(sheet['files'])}")
        if sheet.get("totals"):
            st.dataframe(table(sheet["totals"]), hide_index=True)
        if sheet.get("group_rows"):
            st.caption(f"Totals by {sheet['group_by']} ({sheet['groups']:,} groups)")
            st.dataframe(table(sheet["group_rows"], sheet["group_columns"]), hide_index=True)
        for note in sheet.get("notes", []):
            st.info(note)
        preview = sheet.get("preview")
        if preview and preview["rows"]:
            columns = preview["columns"][: len(preview["rows"][0])]
            st.dataframe(table(preview["rows"], columns), hide_index=True)


def show_converted(summary: dict[str, Any], at: Where) -> None:
    """Sheets converted to CSV/JSON, or an image converted to another format."""
    renderer = show_sheets if at.family == "xlsx" else show_one_image
    renderer(summary, at)


def show_structure(summary: dict[str, Any], at: Where) -> None:
    cols = st.columns(4)
    for index, key in enumerate(("slides", "images", "charts", "tables")):
        cols[index].metric(key.capitalize(), summary.get(key, 0))
    left, right = st.columns(2)
    left.dataframe(
        pd.DataFrame(summary.get("layouts", {}).items(), columns=["Layout", "Slides"]),
        hide_index=True,
    )
    right.dataframe(
        pd.DataFrame(summary.get("shapes_by_type", {}).items(), columns=["Shape type", "Count"]),
        hide_index=True,
    )


def show_parts(summary: dict[str, Any], at: Where) -> None:
    if "parts" in summary:
        st.dataframe(pd.DataFrame(summary["parts"]), hide_index=True)
    else:
        st.write(
            f"{summary.get('pages_rotated', 0)} page(s) rotated by {summary.get('angle')}° "
            f"into {summary.get('name')}."
        )


def show_tool(summary: dict[str, Any], at: Where) -> None:
    """A PDF tool's new file and what changed in it."""
    for note in summary.get("notes") or []:
        st.info(note)
    if not summary.get("name"):
        return
    facts = {
        "deleted": lambda v: f"pages {', '.join(map(str, v))} deleted",
        "order": lambda v: "pages now in the order " + ", ".join(map(str, v[:30])),
        "bytes_after": lambda v: f"{summary['bytes_before']:,} → {v:,} bytes",
        "text": lambda v: f"watermark “{v}” on every page",
        "encryption": lambda v: f"opens only with the new password ({v})",
    }
    said = [describe(summary[key]) for key, describe in facts.items() if key in summary]
    st.write(f"{summary['name']}" + (f": {'; '.join(said)}." if said else "."))


def show_pdf_made(summary: dict[str, Any], at: Where) -> None:
    st.write(f"{summary.get('name')}: {summary.get('pages', 0)} page(s), made by LibreOffice.")


def show_json(summary: dict[str, Any], at: Where) -> None:
    st.json(summary, expanded=False)


RENDERERS = {
    "extract_text": show_text,
    "to_markdown": show_text,
    "outline": show_text,
    "count_stats": show_stats,
    "metadata": show_properties,
    "extract_images": show_images,
    "thumbnails": show_images,
    "thumbnail": show_one_image,
    "resize": show_one_image,
    "convert": show_converted,
    "strip_metadata": show_one_image,
    "info": show_image_info,
    "analyze": show_sheets,
    "calculate": show_sheets,
    "structure": show_structure,
    "split": show_parts,
    "rotate": show_parts,
    "ocr": show_ocr,
    "to_pdf": show_pdf_made,
    **dict.fromkeys(
        ("delete_pages", "reorder", "compress", "watermark", "protect", "unlock"), show_tool
    ),
}


