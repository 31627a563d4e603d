"""The HTTP API against a live uvicorn, a real worker and the session's Redis: tokens, every
endpoint, isolation, Server-Sent Events, idempotency and the error answers."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from app import audit, quotas, storage, tokens
from app.auth import User
from app.settings import QUEUES
from tests.support.api import ApiServer, start_api, token_for
from tests.support.processes import start_worker
from tests.support.users import ADMIN
from tests.unit.office import samples

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


def person(name: str) -> User:
    return User(f"{name}-{uuid.uuid4().hex[:8]}@example.com", name.title())


@pytest.fixture(scope="module")
def worker(log_dir_module):
    """A worker on every queue the platform has, so /health/ready can answer 200."""
    proc = start_worker(log_dir_module, queues=QUEUES, concurrency=2)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def log_dir_module(session_dir):
    logs = session_dir / "logs"
    logs.mkdir(exist_ok=True)
    return logs


@pytest.fixture(scope="module")
def api(log_dir_module, worker) -> Iterator[ApiServer]:
    server = start_api(log_dir_module, MAX_UPLOAD_MB="1")
    yield server
    server.proc.stop()


def as_user(api: ApiServer, user: User) -> httpx.Client:
    return api.client(token_for(user))


def events(client: httpx.Client, job_id: str) -> list[tuple[str, dict]]:
    """Every event of the job's stream, read until the server closes it."""
    found, name, data = [], "message", []
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events", timeout=60) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if not line and data:
                found.append((name, json.loads("\n".join(data))))
                name, data = "message", []
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
    return found


def finished(client: httpx.Client, job_id: str) -> dict:
    return events(client, job_id)[-1][1]


def image_job(client: httpx.Client, name: str = "pic.png") -> dict:
    answer = client.post("/api/v1/jobs", data={
        "kind": "process_image", "params": json.dumps({"operations": ["thumbnail"]}),
    }, files=[("files", (name, samples.png_bytes(), "image/png"))])
    assert answer.status_code == 201, answer.text
    return answer.json()


# health -----------------------------------------------------------------------------------


def test_health_live_and_ready(api) -> None:
    assert httpx.get(f"{api.url}/health/live").json() == {"status": "ok", "problems": []}
    ready = httpx.get(f"{api.url}/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"


def test_the_docs_page_needs_nothing_from_outside_the_machine(api) -> None:
    page = httpx.get(f"{api.url}/api/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert assets and all(a.startswith("/api/") for a in assets), assets
    for asset in assets:
        assert httpx.get(f"{api.url}{asset}").status_code == 200, asset


def test_ready_says_why_when_redis_is_down(log_dir_module) -> None:
    server = start_api(log_dir_module, REDIS_URL="redis://127.0.0.1:9/0")
    try:
        assert httpx.get(f"{server.url}/health/live").status_code == 200
        ready = httpx.get(f"{server.url}/health/ready", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["problems"][0].startswith("Redis is not reachable")
    finally:
        server.proc.stop()


# tokens -----------------------------------------------------------------------------------


def refused(answer: httpx.Response, sentence: str) -> None:
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert sentence in answer.json()["detail"]


def test_missing_wrong_expired_and_revoked_tokens_are_refused(api) -> None:
    alice = person("alice")
    refused(api.client().get("/api/v1/jobs"), "Send an API token")
    refused(api.client("nexus_" + "x" * 43).get("/api/v1/jobs"), "unknown or was revoked")
    refused(api.client("not-a-token").get("/api/v1/jobs"), "not valid")

    soon = token_for(alice, "short", expires_at=time.time() + 1.5)
    assert api.client(soon).get("/api/v1/jobs").status_code == 200
    time.sleep(1.6)
    refused(api.client(soon).get("/api/v1/jobs"), "expired on")

    secret, token = tokens.create(alice, "to revoke")
    assert api.client(secret).get("/api/v1/jobs").status_code == 200
    assert tokens.revoke(token.id, user=alice)
    refused(api.client(secret).get("/api/v1/jobs"), "unknown or was revoked")


def test_a_token_is_stored_hashed_and_records_its_use(api, redis_client) -> None:
    alice = person("alice")
    secret, _ = tokens.create(alice, "nightly export")
    dumped = {k: redis_client.hgetall(k) for k in redis_client.scan_iter("nexus:apitoken*")
              if redis_client.type(k) == "hash"}
    assert secret not in json.dumps(dumped)  # only its SHA-256 is kept
    assert tokens.list_tokens(user=alice)[0].last_used is None
    assert api.client(secret).get("/api/v1/kinds").status_code == 200
    listed = tokens.list_tokens(user=alice)
    assert [t.name for t in listed] == ["nightly export"] and listed[0].last_used
    entries = audit.search(actor=alice.id, action="token.create", user=ADMIN).entries
    assert entries and secret not in json.dumps([e.__dict__ for e in entries])


# kinds ------------------------------------------------------------------------------------


def test_kinds_come_from_the_task_signatures(api) -> None:
    kinds = {k["name"]: k for k in as_user(api, person("ann")).get("/api/v1/kinds").json()}
    assert "finish_file_batch" not in kinds and "health_check" not in kinds  # internal
    pdf = {p["name"]: p for p in kinds["process_pdf"]["parameters"]}
    assert pdf["files"]["required"] and pdf["files"]["file"]
    assert pdf["operations"]["type"] == "list[str] | None" and not pdf["operations"]["required"]
    assert kinds["process_pdf"]["queue"] == "files"
    sample = {p["name"]: p for p in kinds["sample_job"]["parameters"]}
    assert sample["steps"]["default"] == 5 and sample["steps"]["schema"]["type"] == "integer"
    email = {p["name"]: p for p in kinds["send_bulk_emails"]["parameters"]}
    assert email["csv"]["file"] and email["attachments"]["file"]


# submit, watch, download -------------------------------------------------------------------


def test_json_submit_and_the_event_stream_closing_at_success(api) -> None:
    client = as_user(api, person("ann"))
    answer = client.post("/api/v1/jobs", json={
        "kind": "sample_job", "params": {"steps": 3, "step_seconds": 0.3}, "priority": 3})
    assert answer.status_code == 201
    job = answer.json()
    assert answer.headers["location"] == f"/api/v1/jobs/{job['id']}"
    assert job["kind"] == "sample_job" and job["priority"] == 3
    stream = events(client, job["id"])
    names = [name for name, _ in stream]
    assert names[0] == "state" and "progress" in names
    messages = [data["message"] for name, data in stream if name == "progress"]
    assert "Step 2 of 3" in messages
    last = stream[-1][1]
    assert last["state"] == "SUCCESS" and last["result"]["steps"] == 3
    # The stream of a finished job is one event, at once.
    assert [e[1]["state"] for e in events(client, job["id"])] == ["SUCCESS"]
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "SUCCESS"


def test_submit_and_follow_in_one_request(api) -> None:
    client = as_user(api, person("ann"))
    with client.stream("POST", "/api/v1/jobs", json={"kind": "ping"},
                       headers={"Accept": "text/event-stream"}) as answer:
        assert answer.status_code == 201
        assert answer.headers["content-type"].startswith("text/event-stream")
        location = answer.headers["location"]
        body = answer.read().decode()
    assert body.startswith("id: 1\nevent: state\n")
    last = json.loads(body.strip().rsplit("data: ", 1)[1])
    assert last["state"] == "SUCCESS" and location == f"/api/v1/jobs/{last['id']}"


def test_multipart_submit_outputs_and_streamed_downloads(api) -> None:
    ann = person("ann")
    client = as_user(api, ann)
    job = image_job(client, "holiday.png")
    assert job["params"]["files"][0]["name"] == "holiday.png"
    assert finished(client, job["id"])["state"] == "SUCCESS"
    outputs = client.get(f"/api/v1/jobs/{job['id']}/outputs").json()
    assert outputs and all(o["size"] > 0 for o in outputs)
    first = outputs[0]
    one = client.get(f"/api/v1/jobs/{job['id']}/outputs/{first['name']}")
    assert one.status_code == 200 and len(one.content) == first["size"]
    assert "attachment" in one.headers["content-disposition"]
    bundle = client.get(f"/api/v1/jobs/{job['id']}/outputs.zip")
    assert bundle.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        assert sorted(archive.namelist()) == sorted(o["name"] for o in outputs)
        assert archive.read(first["name"]) == one.content
    targets = [e.target for e in audit.search(actor=ann.id, action="file.download",
                                               user=ADMIN).entries]
    assert f"{job['id']}/out/{first['name']}" in targets and f"{job['id']}/out/*.zip" in targets
    missing = client.get(f"/api/v1/jobs/{job['id']}/outputs/nothing.png")
    assert missing.status_code == 404 and "no output called nothing.png" in missing.json()["detail"]


def test_someone_elses_job_answers_404_everywhere(api) -> None:
    ann, bob = as_user(api, person("ann")), as_user(api, person("bob"))
    job = image_job(ann)
    finished(ann, job["id"])
    for method, path in [
        ("GET", ""), ("GET", "/events"), ("GET", "/outputs"), ("GET", "/outputs.zip"),
        ("POST", "/cancel"), ("POST", "/retry"),
    ]:
        answer = bob.request(method, f"/api/v1/jobs/{job['id']}{path}")
        assert answer.status_code == 404, path
        assert answer.json()["detail"] == "There is no such job."
    ghost = bob.get(f"/api/v1/jobs/{uuid.uuid4()}")
    assert ghost.status_code == 404 and ghost.json() == {**ghost.json(), "status": 404}
    assert job["id"] not in [j["id"] for j in bob.get("/api/v1/jobs").json()["jobs"]]
    admin = as_user(api, ADMIN)
    assert admin.get(f"/api/v1/jobs/{job['id']}").status_code == 200


def test_the_idempotency_key_returns_the_same_job(api) -> None:
    ann, bob = as_user(api, person("ann")), as_user(api, person("bob"))
    body = {"kind": "ping", "params": {}}
    first = ann.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "nightly-1"})
    again = ann.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "nightly-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    other = ann.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "nightly-2"})
    bobs = bob.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "nightly-1"})
    assert len({first.json()["id"], other.json()["id"], bobs.json()["id"]}) == 3
    # A refused submit does not use the key up.
    bad = ann.post("/api/v1/jobs", json={"kind": "ping", "params": {"x": 1}},
                   headers={"Idempotency-Key": "fixed-later"})
    assert bad.status_code == 422
    good = ann.post("/api/v1/jobs", json=body, headers={"Idempotency-Key": "fixed-later"})
    assert good.status_code == 201


# refusals ---------------------------------------------------------------------------------


def test_an_upload_over_the_cap_is_413_and_leaves_nothing(api) -> None:
    client = as_user(api, person("ann"))
    big = b"\0" * (1024 * 1024 + 10)
    answer = client.post("/api/v1/jobs", data={"kind": "process_pdf"},
                         files=[("files", ("big.pdf", big, "application/pdf"))])
    assert answer.status_code == 413 and answer.headers["content-type"] == PROBLEM
    assert answer.json()["detail"] == "big.pdf is larger than the 1 MB upload limit."
    assert client.get("/api/v1/jobs").json()["jobs"] == []
    assert not list((storage.root() / "jobs").glob("*/in/big.pdf"))
    huge = client.post("/api/v1/jobs", content=b"x" * (6 * 1024 * 1024),
                       headers={"content-type": "multipart/form-data; boundary=x"})
    assert huge.status_code == 413 and "at most 5 MB" in huge.json()["detail"]


@pytest.mark.parametrize(("body", "parameter", "sentence"), [
    ({"kind": "nope"}, "kind", "There is no job called 'nope'."),
    ({"kind": "finish_file_batch"}, "kind", "There is no job called 'finish_file_batch'."),
    ({"kind": "sample_job", "params": {"stepz": 2}}, "stepz",
     "sample_job has no parameter called 'stepz'."),
    ({"kind": "sample_job", "params": {"steps": "many"}}, "steps",
     "'steps' must be int, not 'many'."),
    ({"kind": "process_pdf", "params": {}}, "files",
     "process_pdf needs 'files'. Upload at least one file."),
    ({"kind": "ping", "priority": 12}, "priority", "Input should be less than or equal to 9."),
])
def test_bad_parameters_are_422_naming_the_parameter(api, body, parameter, sentence) -> None:
    answer = as_user(api, person("ann")).post("/api/v1/jobs", json=body)
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert {"parameter": parameter, "message": sentence} in problem["errors"]
    assert problem["title"] == "Invalid parameters" and problem["status"] == 422


def test_bad_multipart_fields_are_422(api) -> None:
    client = as_user(api, person("ann"))
    not_json = client.post("/api/v1/jobs", data={"kind": "process_image", "params": "{oops"},
                           files=[("files", ("a.png", samples.png_bytes()))])
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["parameter"] == "params"
    wrong_field = client.post("/api/v1/jobs", data={"kind": "process_image"},
                              files=[("attachments", ("a.png", samples.png_bytes()))])
    assert wrong_field.status_code == 422
    assert wrong_field.json()["detail"] == (
        "process_image takes no files as 'attachments'; its file parameters are: files.")
    bad_json = client.post("/api/v1/jobs", content=b"{",
                           headers={"content-type": "application/json"})
    assert bad_json.status_code == 422
    assert bad_json.json()["detail"] == "The body is not valid JSON."


def test_over_the_jobs_quota_is_429_with_retry_after(api) -> None:
    ann = person("ann")
    quotas.set_override(ann.id, "jobs_per_minute", 1, by=ADMIN)
    client = as_user(api, ann)
    assert client.post("/api/v1/jobs", json={"kind": "ping"}).status_code == 201
    # Three tries: a minute may turn between two of them and open a fresh window.
    answers = [client.post("/api/v1/jobs", json={"kind": "ping"}) for _ in range(2)]
    answer = next(a for a in answers if a.status_code != 201)
    assert answer.status_code == 429 and answer.headers["content-type"] == PROBLEM
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    assert answer.json()["detail"].startswith(
        "You can submit 1 jobs a minute and have reached that; try again in")


# listing, cancel, retry, dead letters ------------------------------------------------------


def test_listing_filters_and_pages_with_a_cursor(api) -> None:
    client = as_user(api, person("ann"))
    ids = [client.post("/api/v1/jobs", json={"kind": "ping"}).json()["id"] for _ in range(3)]
    for job_id in ids:
        finished(client, job_id)
    image = image_job(client)
    finished(client, image["id"])
    first = client.get("/api/v1/jobs", params={"limit": 2}).json()
    assert first["total"] == 4 and len(first["jobs"]) == 2 and first["next_cursor"]
    rest = client.get("/api/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    seen = [j["id"] for j in first["jobs"] + rest["jobs"]]
    assert sorted(seen) == sorted([*ids, image["id"]]) and rest["next_cursor"] is None
    pings = client.get("/api/v1/jobs", params={"kind": "ping", "state": "SUCCESS"}).json()
    assert sorted(j["id"] for j in pings["jobs"]) == sorted(ids)
    files = client.get("/api/v1/jobs", params={"queue": "files"}).json()
    assert [j["id"] for j in files["jobs"]] == [image["id"]]
    bad = client.get("/api/v1/jobs", params={"cursor": "abc"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["parameter"] == "cursor"
    wrong_state = client.get("/api/v1/jobs", params={"state": "DONE"})
    assert wrong_state.status_code == 422 and wrong_state.json()["errors"][0]["parameter"] == \
        "state"


def test_cancel_then_retry(api) -> None:
    client = as_user(api, person("ann"))
    job = client.post("/api/v1/jobs", json={
        "kind": "sample_job", "params": {"steps": 40, "step_seconds": 0.5}}).json()
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "REVOKED"
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "already finished" in again.json()["detail"]
    retried = client.post(f"/api/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 201
    new = retried.json()
    assert new["id"] != job["id"] and new["retry_of"] == job["id"]
    client.post(f"/api/v1/jobs/{new['id']}/cancel")
    ping = client.post("/api/v1/jobs", json={"kind": "ping"}).json()
    finished(client, ping["id"])
    no = client.post(f"/api/v1/jobs/{ping['id']}/retry")
    assert no.status_code == 409
    assert no.json()["detail"] == "Only failed or cancelled jobs can be retried."


def test_dead_letters_are_listed_and_requeued(api) -> None:
    ann, bob = as_user(api, person("ann")), as_user(api, person("bob"))
    job = ann.post("/api/v1/jobs", json={
        "kind": "sample_job", "params": {"steps": 1, "step_seconds": 0, "fail": True}}).json()
    last = finished(ann, job["id"])
    assert last["state"] == "FAILURE" and last["error"] == "The sample job was asked to fail."
    assert job["id"] in [j["id"] for j in ann.get("/api/v1/dead-letters").json()["jobs"]]
    assert job["id"] not in [j["id"] for j in bob.get("/api/v1/dead-letters").json()["jobs"]]
    assert bob.post(f"/api/v1/dead-letters/{job['id']}/requeue").status_code == 404
    requeued = ann.post(f"/api/v1/dead-letters/{job['id']}/requeue")
    assert requeued.status_code == 201 and requeued.json()["retry_of"] == job["id"]
    assert job["id"] not in [j["id"] for j in ann.get("/api/v1/dead-letters").json()["jobs"]]


# files, queues, workers --------------------------------------------------------------------


def test_my_files_list_and_delete(api) -> None:
    ann, bob = as_user(api, person("ann")), as_user(api, person("bob"))
    job = image_job(ann, "keep.png")
    finished(ann, job["id"])
    files = ann.get("/api/v1/files").json()["files"]
    upload = next(f for f in files if f["area"] == "input")
    assert upload["name"] == "keep.png" and upload["id"] == f"{job['id']}/in/keep.png"
    assert bob.get("/api/v1/files").json()["files"] == []
    not_yours = bob.delete(f"/api/v1/files/{upload['id']}")
    assert not_yours.status_code == 404
    assert not_yours.json()["detail"] == "There is no file keep.png of yours."
    assert ann.delete(f"/api/v1/files/{upload['id']}").status_code == 204
    assert upload["id"] not in [f["id"] for f in ann.get("/api/v1/files").json()["files"]]
    assert ann.delete(f"/api/v1/files/{upload['id']}").status_code == 404


def test_queues_and_workers_carry_no_job_data(api) -> None:
    client = as_user(api, person("ann"))
    queues = client.get("/api/v1/queues").json()
    assert [q["name"] for q in queues] == list(QUEUES)
    assert all(q["consumers"] >= 1 for q in queues)
    workers = client.get("/api/v1/workers").json()
    assert workers and workers[0]["online"] and set(QUEUES) <= set(workers[0]["queues"])
    assert "jobs" not in json.dumps(workers)


def test_openapi_and_docs_are_served(api) -> None:
    spec = httpx.get(f"{api.url}/api/openapi.json").json()
    assert "/api/v1/jobs/{job_id}/events" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "swagger" in httpx.get(f"{api.url}/api/docs").text.lower()
    nowhere = httpx.get(f"{api.url}/api/v2/nothing")
    assert nowhere.status_code == 404 and nowhere.headers["content-type"] == PROBLEM
