"""`exemplars`: the officers' command-line tool. Talks to the services over RPC.

Exit codes: 0 done, 2 invalid input, 3 not found, 4 refused by a rule or a concurrent
change, 5 the system cannot be reached.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sys
import uuid
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # noise for officers

import click  # noqa: E402
from nameko.exceptions import UnknownService  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import shared.rpc  # noqa: F401,E402 - our errors arrive as themselves
from shared.contracts.nominations import STAGE_NAMES_VI  # noqa: E402
from shared.errors import DomainError, InvalidInput, NotFound  # noqa: E402

console = Console()
errors = Console(stderr=True)
EXIT_CODES = {InvalidInput: 2, NotFound: 3}


def rpc_config() -> dict:
    return {"AMQP_URI": os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")}


def call(service: str, method: str, *args):
    """One RPC call, with domain errors turned into a message and an exit code."""
    try:
        # each call its own request id, as the gateway gives each HTTP request: the service's log names it
        with ClusterRpcProxy(rpc_config(), timeout=30, context_data={"request_id": uuid.uuid4().hex}) as proxy:
            return getattr(getattr(proxy, service), method)(*args)
    except DomainError as error:
        errors.print(f"[bold red]Lỗi:[/] {error.message}")
        sys.exit(EXIT_CODES.get(type(error), 4))
    except UnknownService:
        errors.print(f"[bold red]Lỗi:[/] Không có dịch vụ «{service}» đang hoạt động (kiểm tra mã hội đồng).")
        sys.exit(3)
    except (OSError, ConnectionError) as error:
        errors.print(f"[bold red]Không kết nối được hệ thống[/] ({error}). Hãy chạy `make run`.")
        sys.exit(5)


def nominations_call(method: str, *args):
    """A call to the department this CLI serves (NOMINATIONS_INSTANCE_ID); imported late, starts fast."""
    from shared.contracts.nominations import configured_instance, service_name

    return call(service_name(configured_instance()), method, *args)


def caller(idempotency_key: str | None) -> dict:
    """Who asks from this terminal, and the retry key: one per command, or the one given, so
    running the same command again with ``--idempotency-key`` never changes anything twice.

    Signed, as the gateway signs its callers (shared.callers), with the gateway's instance key
    (SIGNING_KEY_FILE; without one, its development key in TRUSTED_KEYS_DIR or var/keys/):
    the services take commands from nobody else. Until the CLI talks HTTP to the gateway."""
    from shared.callers import CLI, GATEWAY_INSTANCE, sign_caller
    from shared.signing import signer_from_config
    from shared.trust import GATEWAY

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container's user without a name
        user = str(os.getuid())
    signer = signer_from_config({"SIGNING_KEY_FILE": os.environ.get("SIGNING_KEY_FILE"),
                                 "TRUSTED_KEYS_DIR": os.environ.get("TRUSTED_KEYS_DIR")},
                                os.environ.get("GATEWAY_INSTANCE_ID") or GATEWAY_INSTANCE, service=GATEWAY)
    return sign_caller(signer, {"sub": f"cli.{user}"[:100], "role": CLI,
                                "idempotency_key": idempotency_key or uuid.uuid4().hex})


IDEMPOTENCY = click.option("--idempotency-key", default=None,
                           help="Mã thử lại: chạy lại lệnh với cùng mã thì không tạo thay đổi thứ hai.")


def today() -> str:
    return dt.date.today().isoformat()


def emit(result, as_json: bool = True) -> None:
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@click.group(help="Xây dựng và nhân rộng điển hình tiên tiến — công cụ dòng lệnh.")
def main() -> None:
    pass


DATE = click.option("--date", "business_date", default=today, show_default="hôm nay", help="Ngày nghiệp vụ (YYYY-MM-DD).")
EXPECTED = click.option("--expected-version", type=int, default=None, help="Từ chối nếu điển hình đã đổi phiên bản.")
# Every list comes a page at a time: {"total": N, "items": [...]} (shared.validation.Page)
PAGE_LIMIT = click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
                          help="Số dòng tối đa một trang.")
PAGE_OFFSET = click.option("--offset", type=click.IntRange(0), default=0, help="Bỏ qua bấy nhiêu dòng đầu.")


def shown(found: dict, offset: int) -> str:
    """'3' or, when the page is not the whole list, '101–200 / 345'."""
    count, total = len(found["items"]), found["total"]
    return str(total) if count == total else f"{offset + 1 if count else offset}–{offset + count} / {total}"


@main.command(help="Phát hiện một điển hình mới.")
@click.option("--kind", "subject_kind", required=True, type=click.Choice(["individual", "collective", "household"]))
@click.option("--name", required=True)
@click.option("--field", required=True, help="Mã lĩnh vực (xem `exemplars catalog`).")
@click.option("--movement", required=True, help="Mã phong trào thi đua.")
@click.option("--unit", required=True, help="Đơn vị, địa bàn của điển hình.")
@click.option("--achievement", "achievements", multiple=True, required=True, help="Thành tích (lặp lại được).")
@click.option("--national-id", default=None, help="Số CCCD (12 số) của cá nhân hoặc chủ hộ: một đối tượng ở mọi đơn vị.")
@click.option("--unit-code", default=None, help="Mã đơn vị của tập thể: một đối tượng ở mọi đơn vị.")
@click.option("--subject", "subject_id", default=None, help="Mã đối tượng đã có (khi không có CCCD hay mã đơn vị).")
@DATE
@IDEMPOTENCY
def detect(idempotency_key: str | None, **data) -> None:
    data["achievements"] = list(data["achievements"])
    emit(nominations_call("detect", {k: v for k, v in data.items() if v is not None}, caller(idempotency_key)))


def declare(group: click.Group, name: str, help_text: str, options: list, argument: str, extra: list, invoke) -> None:
    """Declare `exemplars [GROUP] NAME ID [options]`; ``invoke(id, **values)`` does the call."""

    @click.argument(argument)
    @DATE
    @IDEMPOTENCY
    def run(**values) -> None:
        emit(invoke(values.pop(argument), **values))

    for option in reversed(extra + options):
        run = option(run)
    group.command(name=name, help=help_text)(run)


def change_command(name: str, command: str, help_text: str, options: list, shape=lambda d: d) -> None:
    """`exemplars NAME EXEMPLAR_ID ...`: one nominations command."""

    def invoke(exemplar_id: str, expected_version: int | None, idempotency_key: str | None, **data):
        return nominations_call("change", exemplar_id, command, shape(data), expected_version,
                                caller(idempotency_key))

    declare(main, name, help_text, options, "exemplar_id", [EXPECTED], invoke)


def criteria(values) -> list[dict]:
    """'Tiêu chí=yes' / 'Tiêu chí=no' -> [{"criterion": ..., "met": ...}]"""
    parsed = []
    for value in values:
        criterion, _, met = value.rpartition("=")
        if not criterion or met.lower() not in ("yes", "no", "co", "có", "khong", "không"):
            raise click.BadParameter(f"«{value}»: hãy viết dạng 'Tiêu chí=yes' hoặc 'Tiêu chí=no'")
        parsed.append({"criterion": criterion, "met": met.lower() in ("yes", "co", "có")})
    return parsed


def milestones(values) -> list[dict]:
    """'Tên mốc@YYYY-MM-DD' -> [{"name": ..., "due": ...}]"""
    parsed = []
    for value in values:
        name, _, due = value.rpartition("@")
        if not name:
            raise click.BadParameter(f"«{value}»: hãy viết dạng 'Tên mốc@YYYY-MM-DD'")
        parsed.append({"name": name, "due": due})
    return parsed


change_command("plan", "plan_nurture", "Lập kế hoạch bồi dưỡng.", [
    click.option("--unit", "responsible_unit", required=True, help="Đơn vị phụ trách."),
    click.option("--milestone", "milestones", multiple=True, required=True, help="'Tên mốc@YYYY-MM-DD'"),
], lambda d: d | {"milestones": milestones(d["milestones"])})
change_command("progress", "record_progress", "Ghi nhận tiến độ bồi dưỡng.", [
    click.option("--note", required=True),
    click.option("--milestone", default=""),
])
change_command("check", "record_check", "Ghi nhận kiểm tra, đánh giá định kỳ.", [
    click.option("--by", "checked_by", required=True),
    click.option("--finding", required=True),
    click.option("--on-track/--off-track", "on_track", default=True),
])
change_command("review", "review", "Sơ kết / tổng kết theo tiêu chí chung và tiêu chí riêng.", [
    click.option("--kind", "review_kind", type=click.Choice(["interim", "final"]), required=True),
    click.option("--general", "general_criteria", multiple=True, required=True, help="'Tiêu chí=yes|no'"),
    click.option("--field-criterion", "field_criteria", multiple=True, required=True, help="'Tiêu chí=yes|no'"),
    click.option("--summary", required=True),
], lambda d: d | {"general_criteria": criteria(d["general_criteria"]), "field_criteria": criteria(d["field_criteria"])})
change_command("endorse", "endorse", "Ghi kết quả biểu quyết suy tôn của tập thể.", [
    click.option("--meeting", required=True),
    click.option("--members", type=int, required=True),
    click.option("--present", type=int, required=True),
    click.option("--for", "in_favour", type=int, required=True),
    click.option("--against", type=int, default=0),
    click.option("--abstain", "abstained", type=int, default=0),
])
change_command("nominate", "nominate", "Đề nghị khen thưởng.", [
    click.option("--form", "award_form", required=True, help="Mã hình thức khen thưởng."),
    click.option("--dossier", "dossier_refs", multiple=True, required=True, help="Tham chiếu hồ sơ (lặp lại được)."),
    click.option("--achievement", required=True),
    click.option("--award-year", type=int, default=None, help="Năm tính thành tích (mặc định: năm của ngày đề nghị)."),
], lambda d: {k: v for k, v in d.items() if v is not None} | {"dossier_refs": list(d["dossier_refs"])})
change_command("publicize", "publicize", "Ghi nhận tuyên truyền.", [
    click.option("--channel", required=True),
    click.option("--audience", required=True),
    click.option("--reference", default=""),
])
change_command("adopt", "start_adoption", "Ghi nhận đơn vị học tập, nhân rộng mô hình.", [
    click.option("--unit", "adopting_unit", required=True),
    click.option("--method", required=True),
])
change_command("adoption-outcome", "record_adoption_outcome", "Ghi kết quả nhân rộng.", [
    click.option("--adoption", "adoption_id", required=True),
    click.option("--outcome", required=True),
    click.option("--successful/--unsuccessful", default=True),
])
change_command("evaluate", "evaluate_year", "Đánh giá hằng năm, so với năm trước.", [
    click.option("--year", type=int, required=True),
    click.option("--rating", type=click.Choice(["excellent", "good", "complete", "incomplete"]), required=True,
                 help="Hoàn thành xuất sắc / tốt / hoàn thành / không hoàn thành nhiệm vụ."),
    click.option("--score", type=int, required=True),
    click.option("--note", default=""),
])
change_command("initiative", "record_initiative", "Ghi nhận sáng kiến (hoặc đề tài nghiên cứu) của điển hình.", [
    click.option("--title", required=True),
    click.option("--kind", type=click.Choice(["initiative", "research"]), default="initiative"),
    click.option("--year", type=int, required=True, help="Năm áp dụng."),
])
change_command("recognise-initiative", "recognise_initiative", "Công nhận sáng kiến với phạm vi ảnh hưởng.", [
    click.option("--initiative", "initiative_id", required=True),
    click.option("--scope", type=click.Choice(["co-so", "tinh", "toan-quoc"]), required=True),
    click.option("--by", "recognised_by", required=True, help="Cơ quan công nhận."),
    click.option("--reference", required=True, help="Số quyết định công nhận."),
])
change_command("roster", "record_roster", "Danh sách thành viên của tập thể trong năm (từ tệp JSON).", [
    click.option("--year", type=int, required=True),
    click.option("--members", "members_file", type=click.File(encoding="utf-8"), required=True,
                 help="Tệp JSON: [{\"name\", \"rating\", \"title\", \"discipline\"}, …]"),
], lambda d: {"year": d["year"], "business_date": d["business_date"], "members": json.load(d["members_file"])})
change_command("hold", "put_on_hold", "Tạm dừng xét (kỷ luật, điều tra, khiếu nại).", [
    click.option("--kind", "hold_kind", type=click.Choice(["discipline", "investigation", "complaint"]), required=True),
    click.option("--reason", required=True),
])
change_command("release", "release_hold", "Kết thúc tạm dừng xét.", [
    click.option("--hold", "hold_id", required=True),
    click.option("--resolution", required=True),
])
change_command("withdraw", "withdraw", "Rút điển hình.", [click.option("--reason", required=True)])


@main.command(name="list", help="Danh sách điển hình, có lọc.")
@click.option("--department")
@click.option("--field")
@click.option("--movement")
@click.option("--stage")
@click.option("--year", type=int)
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool, **filters) -> None:
    found = nominations_call("list", {k: v for k, v in filters.items() if v is not None})
    if as_json:
        return emit(found)
    table = Table(title=f"Điển hình tiên tiến ({found['total']})")
    for column in ("mã", "tên", "lĩnh vực", "giai đoạn", "năm", "đơn vị"):
        table.add_column(column)
    for item in found["items"]:
        stage = STAGE_NAMES_VI.get(item["stage"], item["stage"])
        table.add_row(item["id"][:8], item["name"], item["field"], stage, str(item["year"]), item["department"])
    console.print(table)


@main.command(help="Trạng thái hiện tại của một điển hình.")
@click.argument("exemplar_id")
def show(exemplar_id: str) -> None:
    emit(nominations_call("get", exemplar_id))


@main.command(help="Toàn bộ lịch sử của một điển hình, theo thứ tự.")
@click.argument("exemplar_id")
@click.option("--json", "as_json", is_flag=True)
def history(exemplar_id: str, as_json: bool) -> None:
    entries = nominations_call("history", exemplar_id)
    if as_json:
        return emit(entries)
    print_history(entries)


EVENT_NAMES_VI = {
    "exemplar.detected": "Phát hiện",
    "exemplar.nurture_planned": "Lập kế hoạch bồi dưỡng",
    "exemplar.progress_recorded": "Tiến độ bồi dưỡng",
    "exemplar.check_recorded": "Kiểm tra, đánh giá",
    "exemplar.reviewed": "Sơ kết / tổng kết",
    "exemplar.endorsed": "Tập thể suy tôn",
    "exemplar.nominated": "Đề nghị khen thưởng",
    "exemplar.publicized": "Tuyên truyền",
    "exemplar.adoption_started": "Nhân rộng",
    "exemplar.adoption_outcome_recorded": "Kết quả nhân rộng",
    "exemplar.year_evaluated": "Đánh giá năm",
    "exemplar.put_on_hold": "Tạm dừng xét",
    "exemplar.hold_released": "Hết tạm dừng xét",
    "exemplar.withdrawn": "Rút điển hình",
    "exemplar.council_case_progressed": "Hội đồng thi đua",
    "exemplar.awarded": "Quyết định khen thưởng",
    "exemplar.award_revoked": "Hủy bỏ khen thưởng",
}


LEVELS_VI = {"commune": "cấp xã", "district": "cấp huyện", "province": "cấp tỉnh", "national": "trung ương"}
STEPS_VI = {"opened": "Nhận hồ sơ", "forwarded": "Chuyển lên cấp trên", "returned": "Trả lại hồ sơ",
            "rejected": "Không khen thưởng"}
SUMMARIES = {
    "exemplar.detected": lambda p, c: f"{p['name']}, {p['unit']} — {c.fields[p['field']].name}",
    "exemplar.nurture_planned": lambda p, c: f"{p['responsible_unit']}; {len(p['milestones'])} mốc",
    "exemplar.progress_recorded": lambda p, c: p["note"],
    "exemplar.check_recorded": lambda p, c: f"{p['checked_by']}: {p['finding']}",
    "exemplar.reviewed": lambda p, c: f"{'Đạt' if p['passed'] else 'Không đạt'} — {p['summary']}",
    "exemplar.endorsed": lambda p, c: f"{p['meeting']}: {p['in_favour']}/{p['present']} đồng ý",
    "exemplar.nominated": lambda p, c: f"{c.award_forms[p['award_form']].name} → {council_name(p['jurisdiction'], c)}",
    "exemplar.council_case_progressed": lambda p, c: (
        f"{STEPS_VI.get(p['step'], p['step'])} ({LEVELS_VI.get(p['council_level'], p['council_level'])}, "
        f"{p['jurisdiction']}){': ' + p['reason'] if p['reason'] else ''}"),
    "exemplar.awarded": lambda p, c: f"{c.award_forms[p['award_form']].name}, QĐ số {p['decision_number']}, {p['signer']}",
    "exemplar.award_revoked": lambda p, c: f"Căn cứ {p['ground']}: {p['reason']}",
    "exemplar.publicized": lambda p, c: f"{p['channel']} — {p['audience']}",
    "exemplar.adoption_started": lambda p, c: f"{p['adopting_unit']}: {p['method']}",
    "exemplar.adoption_outcome_recorded": lambda p, c: f"{p['adoption_id']}: {p['outcome']}",
    "exemplar.year_evaluated": lambda p, c: (
        f"Năm {p['year']}: {p['score']} điểm (năm trước: {p['previous_score'] if p['previous_score'] is not None else '—'})"),
    "exemplar.put_on_hold": lambda p, c: f"{p['hold_id']}: {p['reason']}",
    "exemplar.hold_released": lambda p, c: f"{p['hold_id']}: {p['resolution']}",
    "exemplar.withdrawn": lambda p, c: p["reason"],
}


def council_name(code: str, catalog) -> str:
    council = catalog.topology.councils.get(code)
    return council.name if council else code


def summarize(entry: dict, catalog) -> str:
    try:
        return SUMMARIES[entry["type"]](entry["payload"], catalog)
    except KeyError:  # an event type or code this client does not know yet: show the data
        return "; ".join(f"{k}: {v}" for k, v in entry["payload"].items())


def print_history(entries: list[dict]) -> None:
    from shared.catalog import load_catalog

    catalog = load_catalog()
    table = Table(title="Lịch sử điển hình", expand=True)
    table.add_column("#", justify="right")
    table.add_column("Ngày nghiệp vụ", no_wrap=True)
    table.add_column("Ghi nhận lúc (UTC)", no_wrap=True)
    table.add_column("Sự kiện")
    table.add_column("Nội dung", ratio=1)
    for entry in entries:
        table.add_row(
            str(entry["version"]),
            entry["business_date"],
            entry["recorded_at"][:19].replace("T", " "),
            EVENT_NAMES_VI.get(entry["type"], entry["type"]),
            summarize(entry, catalog),
        )
    console.print(table)


# -- councils -----------------------------------------------------------------------------

COUNCIL = click.option("--council", default=lambda: os.environ.get("EXEMPLARS_COUNCIL", "huyen-yen-the"),
                       show_default="huyen-yen-the", help="Mã địa bàn của hội đồng (vd. huyen-yen-the, tinh-bac-giang).")


@main.group(help="Hội đồng thi đua – khen thưởng: hồ sơ, phiên họp, quyết định.")
def council() -> None:
    pass


def council_call(jurisdiction: str, method: str, *args):
    from shared.council_queues import service_name

    return call(service_name(jurisdiction), method, *args)


COUNCIL_PREFIX = "Hội đồng Thi đua – Khen thưởng "  # every council's name starts so: the table shows the rest


@council.command(name="queues", help="Sơ đồ hội đồng theo thời gian và hồ sơ đang chờ ở hàng đợi của từng hội đồng.")
@click.option("--json", "as_json", is_flag=True)
def council_queues(as_json: bool) -> None:
    """A council with cases waiting and nobody taking them is not running here: the cases are
    kept in its queue until it starts, or until an operator hands them over another way."""
    import kombu

    from shared.catalog import load_catalog
    from shared.council_queues import waiting

    topology = load_catalog(os.environ.get("CATALOG_DIR") or None).topology
    try:
        with kombu.Connection(rpc_config()["AMQP_URI"], connect_timeout=5) as connection:
            rows = waiting(connection, topology.councils.values())
    except (OSError, ConnectionError) as error:
        errors.print(f"[bold red]Không kết nối được hệ thống[/] ({error}). Hãy chạy `make run`.")
        sys.exit(5)
    if as_json:
        return emit(rows)
    table = Table(title="Hội đồng thi đua – khen thưởng: hồ sơ đang chờ")
    for column in ("mã", "hội đồng", "hiệu lực", "chờ", "trạng thái"):
        table.add_column(column, overflow="fold")
    for row in rows:
        state = "đang nhận" if row["running"] else ("[bold red]KHÔNG CHẠY[/]" if row["waiting"] else "không chạy")
        table.add_row(row["council"], row["name"].removeprefix(COUNCIL_PREFIX), row["in_force"], str(row["waiting"]),
                      state)
    console.print(table)


@council.command(name="cases", help="Hồ sơ đang chờ hội đồng xử lý.")
@COUNCIL
@click.option("--status", default=None, help="open, appraised, voted, decided, forwarded, returned, rejected")
@PAGE_LIMIT
@PAGE_OFFSET
@click.option("--json", "as_json", is_flag=True)
def council_cases(council: str, status: str | None, limit: int, offset: int, as_json: bool) -> None:
    found = council_call(council, "cases", status, limit, offset)
    if as_json:
        return emit(found)
    table = Table(title=f"Hồ sơ tại hội đồng {council} ({shown(found, offset)})")
    for column in ("hồ sơ", "đối tượng", "hình thức", "trạng thái", "ngày nhận", "đủ điều kiện"):
        table.add_column(column)
    for case in found["items"]:
        table.add_row(case["id"][:8], case["subject_name"], case["award_form"], case["status"], case["opened_on"],
                      "có" if case["eligible"] else "không")
    console.print(table)


@council.command(name="case", help="Một hồ sơ: điều kiện khen thưởng, trạng thái, lịch sử điển hình.")
@COUNCIL
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True)
def council_case(council: str, case_id: str, as_json: bool) -> None:
    case = council_call(council, "case", case_id)
    if as_json:
        return emit(case)
    eligibility = case["eligibility"]
    console.print(f"[bold]Hồ sơ {case['id']}[/] — {case['subject']['name']}: {case['nomination']['award_form']}, "
                  f"trạng thái {case['status']}")
    console.print("Đủ điều kiện." if eligibility["eligible"] else "[red]Chưa đủ điều kiện:[/]")
    for problem in eligibility["problems"]:
        console.print(f"  • {problem['message']}")
    print_history(nominations_call("history", case["exemplar_id"]))


def case_command(name: str, command: str, help_text: str, options: list) -> None:
    """`exemplars council NAME CASE_ID ...`: one command on a council's case."""

    def invoke(case_id: str, council: str, idempotency_key: str | None, **data):
        return council_call(council, "change_case", case_id, command, data, caller(idempotency_key))

    declare(council, name, help_text, options, "case_id", [COUNCIL], invoke)


case_command("appraise", "appraise", "Thẩm định hồ sơ: chuyển hội đồng, hoặc trả lại đơn vị.", [
    click.option("--pass/--return", "passed", required=True),
    click.option("--appraiser", required=True),
    click.option("--note", required=True, help="Nhận xét, hoặc lý do trả lại."),
])
case_command("session", "record_session", "Ghi kết quả phiên họp hội đồng (bỏ phiếu kín: chỉ ghi số phiếu).", [
    click.option("--session", required=True),
    click.option("--members", type=int, required=True),
    click.option("--present", type=int, required=True),
    click.option("--for", "in_favour", type=int, required=True),
    click.option("--against", type=int, default=0),
    click.option("--blank", type=int, default=0),
])
case_command("consult", "open_consultation", "Mở lấy ý kiến công khai (thời hạn theo quy định).", [])
case_command("objection", "record_objection", "Ghi nhận ý kiến phản ánh trong thời gian lấy ý kiến.", [
    click.option("--by", "submitted_by", required=True),
    click.option("--content", required=True),
])
case_command("resolve", "resolve_objection", "Giải quyết ý kiến phản ánh.", [
    click.option("--objection", "objection_id", required=True),
    click.option("--resolution", required=True),
    click.option("--upheld/--dismissed", default=False),
])
case_command("decide", "decide", "Ghi quyết định khen thưởng (số như 123/QĐ-UBND).", [
    click.option("--number", "decision_number", required=True),
    click.option("--signer", required=True),
])
case_command("reject", "reject", "Không khen thưởng, ghi rõ lý do.", [click.option("--reason", required=True)])


@council.command(name="revoke", help="Hủy bỏ khen thưởng theo căn cứ a–d.")
@COUNCIL
@click.argument("award_id")
@click.option("--ground", type=click.Choice(["a", "b", "c", "d"]), required=True)
@click.option("--reason", required=True)
@click.option("--number", "decision_number", required=True)
@DATE
@IDEMPOTENCY
def council_revoke(council: str, award_id: str, idempotency_key: str | None, **data) -> None:
    emit(council_call(council, "revoke_award", award_id, data, caller(idempotency_key)))


@council.command(name="awards", help="Danh sách khen thưởng theo năm, đơn vị, lĩnh vực, hình thức.")
@COUNCIL
@click.option("--year", type=int)
@click.option("--unit")
@click.option("--field")
@click.option("--form", "award_form")
@PAGE_LIMIT
@PAGE_OFFSET
def council_awards(council: str, **filters) -> None:
    emit(council_call(council, "awards", {k: v for k, v in filters.items() if v is not None}))


# -- notifications ------------------------------------------------------------------------

@main.command(help="Đăng ký nhận thông báo (người hoặc đơn vị).")
@click.option("--recipient", "recipient_id", required=True, help="Mã người nhận.")
@click.option("--kind", "recipient_kind", type=click.Choice(["person", "unit"]), default="person")
@click.option("--name", required=True)
@click.option("--locale", type=click.Choice(["vi", "en"]), default="vi")
@click.option("--department", "departments", multiple=True)
@click.option("--field", "fields", multiple=True, help="Mã lĩnh vực (lặp lại được).")
@click.option("--movement", "movements", multiple=True)
@click.option("--event-type", "event_types", multiple=True, help="vd. exemplar.awarded")
@click.option("--exemplar", "exemplar_ids", multiple=True)
@click.option("--inbox/--no-inbox", default=True, help="Hộp thư trong ứng dụng.")
@click.option("--email", default=None)
@click.option("--webhook", default=None, help="URL nhận thông báo.")
@click.option("--secret", default="", help="Khóa ký webhook dạng whsec_… (Standard Webhooks); bỏ trống: hệ thống "
              "tự tạo và trả về một lần.")
@click.option("--mute", "muted", is_flag=True)
@click.option("--digest", is_flag=True, help="Một bản tin mỗi ngày thay vì từng thông báo.")
@click.option("--quiet", default=None, help="Giờ yên lặng, vd. 22:00-06:00.")
@IDEMPOTENCY
def subscribe(inbox, email, webhook, secret, muted, digest, quiet, idempotency_key, **data) -> None:
    channels = ([{"channel": "inbox"}] if inbox else []) + ([{"channel": "email", "address": email}] if email else [])
    channels += [{"channel": "webhook", "address": webhook, "secret": secret}] if webhook else []
    preferences = {"muted": muted, "digest": digest, "quiet_hours": quiet_hours(quiet)}
    data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
    emit(call("notifications", "subscribe", data | {"channels": channels, "preferences": preferences},
              caller(idempotency_key)))


def quiet_hours(value: str | None) -> dict | None:
    """'22:00-06:00' -> {"start": "22:00", "end": "06:00"}; the service checks the times."""
    if not value:
        return None
    start, _, end = value.partition("-")
    return {"start": start, "end": end}


@main.command(help="Đổi tùy chọn nhận thông báo: tắt tiếng, bản tin hằng ngày, giờ yên lặng.")
@click.argument("subscription_id")
@click.option("--mute/--unmute", "muted", default=False)
@click.option("--digest/--each", "digest", default=False, help="Bản tin hằng ngày, hoặc từng thông báo.")
@click.option("--quiet", default=None, help="Giờ yên lặng, vd. 22:00-06:00 (bỏ trống: không có).")
def preferences(subscription_id: str, muted: bool, digest: bool, quiet: str | None) -> None:
    chosen = {"muted": muted, "digest": digest, "quiet_hours": quiet_hours(quiet)}
    emit(call("notifications", "change_preferences", subscription_id, chosen, caller(None)))


@main.command(name="rotate-secret", help="Đổi khóa ký webhook của một đăng ký; khóa mới được trả về một lần.")
@click.argument("subscription_id")
@click.option("--secret", default="", help="Khóa mới dạng whsec_…; bỏ trống: hệ thống tự tạo.")
def rotate_secret(subscription_id: str, secret: str) -> None:
    emit(call("notifications", "rotate_secret", subscription_id, {"secret": secret} if secret else {}, caller(None)))


@main.command(name="reseal-secrets", help="Niêm phong lại mọi khóa ký webhook bằng khóa mới nhất của dịch vụ "
              "(sau khi thêm khóa mới vào đầu tệp NOTIFICATIONS_SECRETS_KEY_FILE).")
def reseal_secrets() -> None:
    emit(call("notifications", "reseal_secrets", caller(None)))


@main.command(help="Hộp thư thông báo trong ứng dụng, mới nhất trước.")
@click.argument("recipient_id")
@PAGE_LIMIT
@PAGE_OFFSET
@click.option("--json", "as_json", is_flag=True)
def inbox(recipient_id: str, limit: int, offset: int, as_json: bool) -> None:
    found = call("notifications", "inbox", recipient_id, limit, offset)
    if as_json:
        return emit(found)
    console.print(f"[bold]{found['unread']} thông báo chưa đọc[/] ({shown(found, offset)})")
    for item in found["items"]:
        console.print(f"{'•' if not item['read'] else ' '} {item['created_at'][:16]}  {item['subject']}")


@main.command(help="Trạng thái gửi của một sự kiện (nguồn/số thứ tự).")
@click.argument("event_key")
@PAGE_LIMIT
@PAGE_OFFSET
def deliveries(event_key: str, limit: int, offset: int) -> None:
    emit(call("notifications", "deliveries", event_key, limit, offset))


@main.command(help="Thông báo bị giữ lại (hàng đợi lỗi), kèm lý do.")
@PAGE_LIMIT
@PAGE_OFFSET
def parked(limit: int, offset: int) -> None:
    emit(call("notifications", "parked", limit, offset))


@main.command(help="Gửi lại các thông báo bị giữ lại.")
@click.argument("delivery_ids", nargs=-1, required=True)
def replay(delivery_ids) -> None:
    emit(call("notifications", "replay", list(delivery_ids), caller(None)))


@main.command(help="Danh mục: lĩnh vực, phong trào, loại đối tượng, hình thức khen thưởng.")
def catalog() -> None:
    emit(nominations_call("catalog"))


# -- access tokens for the HTTP API --------------------------------------------------------

from gateway import access  # noqa: E402


@main.group(help="Mã truy cập (bearer token) cho HTTP API.")
def token() -> None:
    pass


@token.command(name="issue", help="Cấp mã truy cập, ký bằng khóa của cổng HTTP (GATEWAY_TOKEN_SECRET_FILE).")
@click.option("--sub", required=True, help="Mã người (hoặc đơn vị) được cấp; là mã người nhận của hộp thư.")
@click.option("--role", type=click.Choice(access.ROLES), required=True)
@click.option("--department", default=None, help="Đơn vị của cán bộ (bắt buộc với department_officer).")
@click.option("--council", default=None, help="Hội đồng của thư ký (bắt buộc với council_secretary).")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True, max=access.MAX_LIFETIME.total_seconds() / 3600),
              default=access.DEFAULT_LIFETIME.total_seconds() / 3600, show_default=True, help="Thời hạn (giờ).")
def token_issue(sub: str, role: str, department: str | None, council: str | None, hours: float) -> None:
    # The same secret the gateway reads: the file it is configured with, or the development one.
    try:
        secret = access.load_secret(os.environ.get("GATEWAY_TOKEN_SECRET_FILE") or None)
    except (OSError, ValueError) as error:
        errors.print(f"[bold red]Lỗi:[/] Không đọc được khóa ký mã truy cập ({error}).")
        sys.exit(2)
    try:
        issued = access.issue(secret, sub=sub, role=role, department=department, council=council,
                              lifetime=dt.timedelta(hours=hours))
    except DomainError as error:
        errors.print(f"[bold red]Lỗi:[/] {error.message}")
        sys.exit(EXIT_CODES.get(type(error), 4))
    click.echo(issued)


# The auditors' commands live beside their toolkit (audit.cli): they read the databases
# themselves, so auditors with a bundle or read-only credentials work offline. Unless told
# (--source, AUDIT_SOURCES), they read the logs of `make run`, which the launcher knows.
from audit.cli import audit_group  # noqa: E402


def _logs_of_make_run() -> None:
    if os.environ.get("AUDIT_SOURCES"):
        return
    from shared.persistence import PROJECT_ROOT

    if not (PROJECT_ROOT / "dev" / "launcher.py").exists():
        return  # an install without a checkout: --source or AUDIT_SOURCES names the logs
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.append(str(PROJECT_ROOT))
    from dev import launcher  # a checkout: the logs `make run` writes

    os.environ["AUDIT_SOURCES"] = launcher.audit_sources()


audit_group.callback = _logs_of_make_run
main.add_command(audit_group, name="audit")
from gateway.accounts_cli import accounts as accounts_group  # noqa: E402 - the administrator's, over HTTP
main.add_command(accounts_group, name="accounts")
