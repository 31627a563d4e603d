"""Files: upload Word, Excel, PowerPoint, PDF and image files, pick operations, get results.

One type of file runs as one job (PDFs can be merged in that job); several types, or the
parallel option, run as a batch with one child job per file.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import jobs
from app.errors import PermanentError
from app.office import excel, image, pdf, powerpoint, word
from app.office.guard import EXTENSIONS, family_from_name
from app.quotas import QuotaExceeded
from app.settings import get_settings
from app.ui import job_panel, when
from app.ui.signin import current_user

USER = current_user()
TASKS = {
    "docx": "process_word_document",
    "xlsx": "process_excel_file",
    "pptx": "process_powerpoint",
    "pdf": "process_pdf",
    "image": "process_image",
}
MODULES = {"docx": word, "xlsx": excel, "pptx": powerpoint, "pdf": pdf, "image": image}
PLURALS = {
    "docx": "Word documents",
    "xlsx": "Excel workbooks",
    "pptx": "PowerPoint presentations",
    "pdf": "PDFs",
    "image": "Images",
}
IMAGE_PREVIEW_LIMIT = 12


# choosing work ---------------------------------------------------------------------------


def families_of(uploads: list[Any]) -> dict[str, list[Any]]:
    """Uploads grouped by the type their name claims; the worker checks the real bytes."""
    groups: dict[str, list[Any]] = {}
    for upload in uploads:
        groups.setdefault(family_from_name(upload.name) or "other", []).append(upload)
    return groups


def pick_operations(family: str) -> list[str]:
    module = MODULES[family]
    return st.multiselect(
        f"{PLURALS[family]}: operations",
        list(module.OPERATIONS),
        default=list(module.DEFAULT_OPERATIONS),
        format_func=lambda op: module.OPERATIONS[op],
        key=f"ops-{family}",
    )


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


def submit_form(uploads: list[Any]) -> None:
    groups = families_of(uploads)
    if "other" in groups:
        names = ", ".join(u.name for u in groups["other"])
        st.warning(f"Not a supported type, so they will be refused: {names}")
    known = [f for f in groups if f != "other"]
    batch = len(known) > 1 or "other" in groups
    if not batch and len(uploads) > 1:
        batch = st.checkbox(
            "Process each file as its own job, in parallel",
            value=known[0] != "pdf",
            help="Off: one job handles the files in order (needed to merge PDFs).",
        )
    operations: dict[str, list[str]] = {}
    options: dict[str, dict[str, Any]] = {}
    for family in known:
        with st.container(border=True):
            chosen = pick_operations(family)
            if batch and "merge" in chosen:
                st.info("Merging needs the PDFs in one job: untick the parallel option.")
                chosen = [op for op in chosen if op != "merge"]
            operations[family] = chosen
            options[family] = options_for(family, chosen)
    password = ""
    if "pdf" in known:
        password = st.text_input("PDF password (if the PDFs are protected)", type="password")
    if st.button("Process", type="primary", disabled=not uploads):
        params: dict[str, Any] = {"password": password} if password else {}
        if batch:
            params.update(operations=operations, options=options)
            kind = "batch_process_files"
        else:
            params.update(operations=operations[known[0]], options=options[known[0]])
            kind = TASKS[known[0]]
        try:
            st.session_state["files_job"] = jobs.submit(kind, params, files=uploads, user=USER)
        except (QuotaExceeded, PermanentError) as exc:  # e.g. UploadTooLarge: say it, no trace
            st.error(str(exc))


# showing results -----------------------------------------------------------------------------


def show_result(record: dict[str, Any]) -> None:
    result = record.get("result") or {}
    if record["kind"] == "batch_process_files":
        show_batch(record["id"], result)
        return
    for entry in result.get("files", []):
        show_file(record["id"], entry)
    if result.get("merge"):
        merged = result["merge"]["merge"]
        st.success(
            f"Merged {len(merged['files'])} PDFs into {merged['name']} ({merged['pages']} pages)."
        )


def show_batch(job_id: str, result: dict[str, Any]) -> None:
    left, right = st.columns(2)
    left.metric("Files processed", result.get("succeeded", 0))
    right.metric("Files refused", result.get("failed", 0))
    table = [
        {
            "File": e["file"],
            "Type": e.get("type") or "—",
            "OK": bool(e.get("ok")),
            "Problem": e.get("error") or "",
        }
        for e in result.get("files", [])
    ]
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    for entry in result.get("files", []):
        if entry.get("ok"):
            with st.expander(entry["file"]):
                show_file(job_id, entry, folder=f"{entry['file']}/")


def show_file(job_id: str, entry: dict[str, Any], folder: str = "") -> None:
    st.subheader(entry.get("file", "File"))
    for warning in entry.get("warnings", []):
        st.warning(warning)
    for operation, summary in (entry.get("operations") or {}).items():
        st.markdown(f"**{MODULES[entry['type']].OPERATIONS.get(operation, operation)}**")
        RENDERERS.get(operation, show_json)(job_id, summary, folder, entry["type"])


def show_text(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
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


def show_stats(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
    keys = ["words", "characters", "paragraphs", "tables", "images", "sections", "estimated_pages"]
    cols = st.columns(4)
    for index, key in enumerate(k for k in keys if k in summary):
        cols[index % 4].metric(key.replace("_", " ").capitalize(), f"{summary[key]:,}")


def show_properties(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
    if family == "pdf":
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


def show_images(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
    images = summary.get("images") or []
    if not images:
        st.caption("No images.")
        return
    shown = [i for i in images if i.get("format", "png") in ("png", "jpeg", "gif", "webp", "bmp")]
    columns = st.columns(4)
    for index, item in enumerate(shown[:IMAGE_PREVIEW_LIMIT]):
        caption = f"page {item['page']}" if "page" in item else item["name"]
        data = jobs.output_bytes(job_id, folder + item["name"], user=USER, audited=False)
        columns[index % 4].image(data, caption=caption)
    if len(images) > IMAGE_PREVIEW_LIMIT:
        st.caption(f"{len(images) - IMAGE_PREVIEW_LIMIT} more in the downloads below.")


def show_one_image(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
    notes = summary.get("notes") or []
    for note in notes:
        st.info(note)
    name = summary.get("name")
    if name and name.rsplit(".", 1)[-1] in ("png", "jpg", "gif", "webp"):
        size = f"{summary['width']}×{summary['height']}" if "width" in summary else ""
        data = jobs.output_bytes(job_id, folder + name, user=USER, audited=False)
        st.image(data, caption=f"{name} {size}".strip())
    if "removed" in summary:
        st.write("Removed: " + (", ".join(summary["removed"]) or "nothing was there"))


def show_image_info(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
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


def show_sheets(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
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
                st.dataframe(pd.DataFrame(sheet["column_stats"]), hide_index=True)
        if "files" in sheet:
            st.caption(f"{sheet['rows']:,} rows written to {', '.join(sheet['files'])}")
        if sheet.get("totals"):
            st.dataframe(pd.DataFrame(sheet["totals"]), hide_index=True)
        if sheet.get("group_rows"):
            st.caption(f"Totals by {sheet['group_by']} ({sheet['groups']:,} groups)")
            st.dataframe(
                pd.DataFrame(sheet["group_rows"], columns=sheet["group_columns"]), hide_index=True
            )
        for note in sheet.get("notes", []):
            st.info(note)
        preview = sheet.get("preview")
        if preview and preview["rows"]:
            frame = pd.DataFrame(
                preview["rows"], columns=preview["columns"][: len(preview["rows"][0])]
            )
            st.dataframe(frame, hide_index=True)


def show_converted(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
    """Sheets converted to CSV/JSON, or an image converted to another format."""
    renderer = show_sheets if family == "xlsx" else show_one_image
    renderer(job_id, summary, folder, family)


def show_structure(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
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


def show_parts(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
    if "parts" in summary:
        st.dataframe(pd.DataFrame(summary["parts"]), hide_index=True)
    else:
        st.write(
            f"{summary.get('pages_rotated', 0)} page(s) rotated by {summary.get('angle')}° "
            f"into {summary.get('name')}."
        )


def show_json(job_id: str, summary: dict[str, Any], folder: str, family: str) -> None:
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
}


def recent_jobs() -> None:
    page = jobs.list(user=USER, owner=USER.id, queue="files", limit=10)
    mine = [job for job in page.jobs if job["kind"] != "finish_file_batch"]
    if not mine:
        return
    with st.expander("Recent file jobs"):
        picked = st.selectbox(
            "Open a recent job",
            [None, *[job["id"] for job in mine]],
            format_func=lambda j: (
                "—" if j is None else _describe(next(x for x in mine if x["id"] == j))
            ),
        )
        if picked:
            st.session_state["files_job"] = picked


def _describe(job: dict[str, Any]) -> str:
    return f"{job['kind']} · {job['state']} · {when(job['submitted_at'])}"


# the page ------------------------------------------------------------------------------------

settings = get_settings()
st.title("Files")
st.caption(
    "Word (.docx), Excel (.xlsx), PowerPoint (.pptx), PDF and images (PNG, JPEG, GIF, WebP, "
    f"TIFF, BMP), up to {settings.max_upload_mb} MB each. Office files may unpack to at most "
    f"{settings.max_inflated_mb} MB. Every file is checked before it is opened."
)
uploads = (
    st.file_uploader(
        "Files", type=sorted({ext.lstrip(".") for ext in EXTENSIONS}), accept_multiple_files=True
    )
    or []
)
if uploads:
    submit_form(uploads)
recent_jobs()
if st.session_state.get("files_job"):
    job_panel(st.session_state["files_job"], USER, render_result=show_result)
