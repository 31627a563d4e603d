"""`nexus`: the command line for the HTTP API. Submit, watch, list, download, cancel, retry.

    export NEXUS_URL=http://127.0.0.1:8000 NEXUS_TOKEN=nexus_...
    nexus submit process_pdf report.pdf --op extract_text --wait
    nexus jobs --state FAILURE
    nexus download JOB_ID -o out/

It is a client, not a part of the platform: it reads NEXUS_URL and NEXUS_TOKEN through its
own options (Typer's envvar=), never app.settings, and it only ever talks HTTP. Exit codes:
0 success, 1 the job failed or was cancelled, 2 a usage, sign-in or refused request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import httpx
import typer

OK, JOB_FAILED, REFUSED = 0, 1, 2
DEFAULT_URL = "http://127.0.0.1:8000"

cli = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Submit, watch and fetch Nexus jobs through the HTTP API.")


class Api:
    """A thin HTTP client: every refusal prints the problem's sentence and exits 2."""

    def __init__(self, url: str, token: str | None) -> None:
        if not token:
            fail("Set NEXUS_TOKEN (or --token) to an API token from the API tokens page.")
        self.http = httpx.Client(base_url=url.rstrip("/"), timeout=httpx.Timeout(60, read=None),
                                 headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            answer = self.http.request(method, path, **options)
        except httpx.HTTPError as exc:
            fail(f"Cannot reach Nexus at {self.http.base_url}: {exc}")
        check(answer)
        return answer

    def stream(self, path: str) -> Any:
        return self.http.stream("GET", path)


def fail(message: str, code: int = REFUSED) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def check(answer: httpx.Response) -> None:
    if answer.is_success:
        return
    try:
        problem = answer.json()
        detail = problem.get("detail") or problem.get("title")
    except ValueError:
        detail = answer.text[:300] or answer.reason_phrase
    fail(f"Nexus refused ({answer.status_code}): {detail}")


def api(ctx: typer.Context) -> Api:
    """The client for this run, made on first use so `--help` needs no token."""
    root = ctx.find_root()
    if not isinstance(root.obj, Api):
        root.obj = Api(*root.obj)
    return root.obj


@cli.callback()
def options(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="NEXUS_URL", help="The API's address.")] = DEFAULT_URL,
    token: Annotated[str | None, typer.Option(
        envvar="NEXUS_TOKEN", show_default=False,
        help="An API token; prefer the NEXUS_TOKEN variable, which ps does not show.")] = None,
) -> None:
    ctx.obj = (url, token)


def parse_param(text: str) -> tuple[str, Any]:
    """k=v with v read as JSON when it is JSON (3, true, ["a"]), else as the text itself."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise typer.BadParameter(f"'{text}' is not NAME=VALUE.")
    try:
        return name.strip(), json.loads(raw)
    except ValueError:
        return name.strip(), raw


def file_parameter(client: Api, kind: str) -> str:
    """The kind's first file parameter (files, attachments or csv), from /api/v1/kinds."""
    for entry in client.call("GET", "/api/v1/kinds").json():
        if entry["name"] == kind:
            fields = [p["name"] for p in entry["parameters"] if p["file"]]
            if not fields:
                fail(f"{kind} takes no files.")
            return fields[0]
    fail(f"There is no job called '{kind}'. See `nexus kinds`.")
    return ""


@cli.command()
def submit(
    ctx: typer.Context,
    kind: str,
    files: Annotated[list[Path] | None, typer.Argument(exists=True, dir_okay=False,
                                                       show_default=False)] = None,
    op: Annotated[list[str] | None, typer.Option(help="An operation; repeat for more.")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="NAME=VALUE; VALUE is JSON when it parses as JSON.")] = None,
    priority: Annotated[int | None, typer.Option(
        min=0, max=9, help="0 is the most urgent; the platform's default when left out.")] = None,
    as_param: Annotated[str | None, typer.Option(
        "--as", help="The file parameter to upload under (default: the kind's first).")] = None,
    key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job to its end.")] = False,
) -> None:
    """Queue a job of KIND with FILES; prints its id, or with --wait follows it."""
    client = api(ctx)
    params = dict(parse_param(p) for p in param or [])
    if op:
        params["operations"] = op
    headers = {"Idempotency-Key": key} if key else {}
    chosen = {} if priority is None else {"priority": priority}
    if files:
        field = as_param or file_parameter(client, kind)
        handles = [(field, (f.name, f.open("rb"))) for f in files]
        try:
            data = {"kind": kind, "params": json.dumps(params),
                    **{k: str(v) for k, v in chosen.items()}}
            answer = client.call("POST", "/api/v1/jobs", data=data, files=handles,
                                 headers=headers)
        finally:
            for _, (_, handle) in handles:
                handle.close()
    else:
        answer = client.call("POST", "/api/v1/jobs", headers=headers,
                             json={"kind": kind, "params": params, **chosen})
    job = answer.json()
    if not wait:
        typer.echo(job["id"])
        return
    typer.echo(job["id"], err=True)
    raise typer.Exit(follow(client, job["id"]))


def events(client: Api, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) from the job's Server-Sent Events, until the stream closes."""
    with client.stream(f"/api/v1/jobs/{job_id}/events") as answer:
        if not answer.is_success:
            answer.read()
            check(answer)
        name, data = "message", []
        for line in answer.iter_lines():
            if not line:
                if data:
                    yield name, json.loads("\n".join(data))
                name, data = "message", []
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())


def follow(client: Api, job_id: str) -> int:
    """Show a progress bar until the job ends; print its result; the exit code it deserves."""
    from rich.console import Console
    from rich.progress import Progress

    final: dict[str, Any] = {}
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("queued", total=None)
        for name, data in events(client, job_id):
            if name == "progress":
                bar.update(task, total=data.get("total") or None, completed=data.get("current"),
                           description=data.get("message") or "working")
            elif name == "state" and "kind" in data:
                final = data
            elif name == "state":
                bar.update(task, description=data["state"].lower())
            elif name == "error":
                fail(data.get("detail", "The job is gone."))
    typer.echo(json.dumps(final.get("result"), indent=2))
    if final.get("state") != "SUCCESS":
        typer.echo(f"{final.get('state')}: {final.get('error') or 'the job did not succeed'}",
                   err=True)
        return JOB_FAILED
    return OK


@cli.command()
def watch(ctx: typer.Context, job_id: str) -> None:
    """Follow a job to its end with a progress bar."""
    raise typer.Exit(follow(api(ctx), job_id))


@cli.command("jobs")
def list_jobs(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="QUEUED, STARTED, SUCCESS, FAILURE, ...")]
    = None,
    kind: str | None = None,
    queue: str | None = None,
    text: str | None = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
) -> None:
    """Your jobs, newest first."""
    query = {k: v for k, v in {"state": state and state.upper(), "kind": kind, "queue": queue,
                               "text": text, "limit": limit}.items() if v}
    page = api(ctx).call("GET", "/api/v1/jobs", params=query).json()
    for job in page["jobs"]:
        progress = job["progress"]
        done = f"{progress['current']}/{progress['total']}" if progress["total"] else ""
        typer.echo(f"{job['id']}  {job['state']:<8}  {job['kind']:<24}  {done}")
    if not page["jobs"]:
        typer.echo("No jobs match.", err=True)


@cli.command()
def get(ctx: typer.Context, job_id: str) -> None:
    """One job's record, as JSON."""
    typer.echo(json.dumps(api(ctx).call("GET", f"/api/v1/jobs/{job_id}").json(), indent=2))


@cli.command()
def kinds(ctx: typer.Context) -> None:
    """Every job kind and its parameters."""
    for kind in api(ctx).call("GET", "/api/v1/kinds").json():
        names = ", ".join(p["name"] + ("" if p["required"] else "?") for p in kind["parameters"])
        typer.echo(f"{kind['name']:<34} {kind['queue']:<12} {names}")


def safe_target(folder: Path, name: str) -> Path:
    """Where an output called `name` goes inside `folder`; never outside it."""
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".", "..", "/")]
    return folder.joinpath(*parts) if parts else folder / "output"


@cli.command()
def download(
    ctx: typer.Context,
    job_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", file_okay=False,
                                         help="The folder to write into.")] = Path("."),
    zip_all: Annotated[bool, typer.Option("--zip", help="One zip of every output.")] = False,
) -> None:
    """Save the job's outputs into a folder (or all of them as one zip)."""
    client = api(ctx)
    output.mkdir(parents=True, exist_ok=True)
    if zip_all:
        names = [("outputs.zip", output / f"{job_id}.zip")]
    else:
        listed = client.call("GET", f"/api/v1/jobs/{job_id}/outputs").json()
        names = [(f"outputs/{o['name']}", safe_target(output, o["name"])) for o in listed]
        if not names:
            typer.echo("The job has no outputs.", err=True)
    for path, target in names:
        target.parent.mkdir(parents=True, exist_ok=True)
        with client.stream(f"/api/v1/jobs/{job_id}/{path}") as answer:
            if not answer.is_success:
                answer.read()
                check(answer)
            with open(target, "wb") as out:
                for chunk in answer.iter_bytes():
                    out.write(chunk)
        typer.echo(str(target))


@cli.command()
def cancel(ctx: typer.Context, job_id: str) -> None:
    """Cancel a queued or running job."""
    job = api(ctx).call("POST", f"/api/v1/jobs/{job_id}/cancel").json()
    typer.echo(f"{job['id']} {job['state']}")


@cli.command()
def retry(ctx: typer.Context, job_id: str,
          wait: Annotated[bool, typer.Option(help="Follow the new job to its end.")] = False
          ) -> None:
    """Run a failed or cancelled job again; prints the new job's id."""
    client = api(ctx)
    job = client.call("POST", f"/api/v1/jobs/{job_id}/retry").json()
    typer.echo(job["id"])
    if wait:
        raise typer.Exit(follow(client, job["id"]))


def main() -> None:
    """The console script's entry point."""
    cli()


if __name__ == "__main__":
    main()
