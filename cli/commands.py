"""The `exemplars` commands: each is one route of the gateway's HTTP API (cli.client).

``ROUTES`` names every route the commands call; tests/unit/test_cli.py checks each against the
published OpenAPI document, so the terminal and the web pages go one path to each capability.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # noise for officers (via audit.cli)

import click  # noqa: E402
from rich.markup import escape  # noqa: E402

from cli.client import AUDITOR, OFFICER, OPERATOR, PUBLIC, ROLES_OF_TOKENS, SECRETARY, Client, Need, errors  # noqa: E402
from cli.render import console, emit, iso_date, narrow, print_history, table, today, vi_dates  # noqa: E402
from shared.contracts.nominations import STAGE_NAMES_VI  # noqa: E402

ROUTES: set[tuple[str, str]] = set()  # (method, OpenAPI path) of every route a command calls

HELP = """Điển hình tiên tiến: phát hiện, bồi dưỡng, khen thưởng, nhân rộng — qua HTTP API.

\b
Địa chỉ: --url hoặc EXEMPLARS_URL (mặc định cổng của `make run`,
  http://127.0.0.1:8000).
Mã truy cập: EXEMPLARS_TOKEN, hoặc tệp --token-file / EXEMPLARS_TOKEN_FILE.
  Trên máy phát triển đọc được khóa ký của cổng (GATEWAY_TOKEN_SECRET_FILE,
  hoặc var/keys/ do `make run` tạo), công cụ tự cấp mã 10 phút cho
  cli.<tên người dùng> với vai trò lệnh cần: cán bộ đơn vị
  (NOMINATIONS_DEPARTMENT), thư ký hội đồng (--council), cán bộ vận hành,
  cán bộ kiểm tra.
Ngày: dd/mm/yyyy hoặc yyyy-mm-dd. Mọi lệnh nhận --json: in nguyên câu trả lời.
Mã thoát: 0 xong, 2 dữ liệu sai, 3 không tìm thấy, 4 bị từ chối,
  5 không kết nối được hệ thống."""


class Main(click.Group):
    """The commands, with the auditors' group (``exemplars audit``) loaded only when asked for:
    the officers' commands start without the toolkit."""

    def get_command(self, ctx, name):
        if name == "audit" and name not in self.commands:
            self.add_command(audit_group(), name="audit")
        return super().get_command(ctx, name)

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | {"audit"})


@click.group(cls=Main, help=HELP)
@click.option("--url", default=None, help="Địa chỉ cổng dịch vụ (mặc định: EXEMPLARS_URL, hoặc cổng của `make run`).")
@click.option("--token-file", default=None, help="Tệp chứa mã truy cập (mặc định: EXEMPLARS_TOKEN_FILE).")
@click.pass_context
def main(ctx: click.Context, url: str | None, token_file: str | None) -> None:
    ctx.obj = Client(url, token_file)


def call(method: str, route: str, need: Need, **kwargs):
    """One request to ``route`` (OpenAPI style, ``{name}`` filled from ``kwargs['path']``)."""
    if (method, route) not in ROUTES:  # every route is declared, so the contract test sees it
        raise RuntimeError(f"{method} {route} is not declared in cli.commands")
    path = route.format(**kwargs.pop("path", {}))
    return click.get_current_context().find_object(Client).call(method, path, need, **kwargs)


def register(method: str, route: str) -> None:
    """A route a command calls, known when the module loads (before any command runs)."""
    ROUTES.add((method, route))


def department_officer() -> Need:
    return Need(OFFICER)


# -- options every command shares ------------------------------------------------------------

def as_date(ctx, param, value):
    return iso_date(value) if isinstance(value, str) else value


JSON = click.option("--json", "as_json", is_flag=True, help="In nguyên câu trả lời JSON của API.")
IDEMPOTENCY = click.option("--idempotency-key", default=None,
                           help="Mã thử lại: chạy lại lệnh với cùng mã thì không tạo thay đổi thứ hai.")
DATE = click.option("--date", "business_date", default=today, show_default="hôm nay", callback=as_date,
                    help="Ngày nghiệp vụ (dd/mm/yyyy hoặc yyyy-mm-dd).")
EXPECTED = click.option("--expected-version", type=int, default=None, help="Từ chối nếu điển hình đã đổi phiên bản.")
# Every list comes a page at a time: {"total": N, "items": [...]} (shared.validation.Page)
PAGE_LIMIT = click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
                          help="Số dòng tối đa một trang.")
PAGE_OFFSET = click.option("--offset", type=click.IntRange(0), default=0, help="Bỏ qua bấy nhiêu dòng đầu.")


def record(answer) -> None:
    """A command's answer (the record it made or changed) is its JSON, --json or not: scripts read it."""
    emit(answer)


def shown(found: dict, offset: int) -> str:
    """'3' or, when the page is not the whole list, '101–200 / 345'."""
    count, total = len(found["items"]), found["total"]
    return str(total) if count == total else f"{offset + 1 if count else offset}–{offset + count} / {total}"


# -- exemplars -----------------------------------------------------------------------------

@main.command(help="Phát hiện một điển hình mới.")
@click.option("--kind", "subject_kind", required=True, type=click.Choice(["individual", "collective", "household"]),
              help="Cá nhân, tập thể hay hộ gia đình.")
@click.option("--name", required=True, help="Tên điển hình.")
@click.option("--field", required=True, help="Mã lĩnh vực (xem `exemplars catalog`).")
@click.option("--movement", required=True, help="Mã phong trào thi đua.")
@click.option("--unit", required=True, help="Đơn vị, địa bàn của điển hình.")
@click.option("--achievement", "achievements", multiple=True, required=True, help="Thành tích (lặp lại được).")
@click.option("--national-id", default=None, help="Số CCCD (12 số) của cá nhân hoặc chủ hộ: một đối tượng ở mọi đơn vị.")
@click.option("--unit-code", default=None, help="Mã đơn vị của tập thể: một đối tượng ở mọi đơn vị.")
@click.option("--subject", "subject_id", default=None, help="Mã đối tượng đã có (khi không có CCCD hay mã đơn vị).")
@DATE
@IDEMPOTENCY
@JSON
def detect(idempotency_key: str | None, as_json: bool, **data) -> None:
    data["achievements"] = list(data["achievements"])
    record(call("POST", "/exemplars", department_officer(), body={k: v for k, v in data.items() if v is not None},
                idempotency_key=idempotency_key))


def declare(group: click.Group, name: str, help_text: str, options: list, argument: str, extra: list, invoke) -> None:
    """Declare `exemplars [GROUP] NAME ID [options]`; ``invoke(id, **values)`` makes the request."""

    @click.argument(argument)
    @DATE
    @IDEMPOTENCY
    @JSON
    def run(as_json: bool, **values) -> None:
        record(invoke(values.pop(argument), **values))

    for option in reversed(extra + options):
        run = option(run)
    group.command(name=name, help=help_text)(run)


def change_command(name: str, action: str, help_text: str, options: list, shape=lambda d: d) -> None:
    """`exemplars NAME EXEMPLAR_ID ...`: POST /exemplars/{id}/<action>."""
    route = f"/exemplars/{{exemplar_id}}/{action}"
    register("POST", route)

    def invoke(exemplar_id: str, expected_version: int | None, idempotency_key: str | None, **data):
        headers = {"If-Match": str(expected_version)} if expected_version is not None else None
        return call("POST", route, department_officer(), path={"exemplar_id": exemplar_id}, body=shape(data),
                    idempotency_key=idempotency_key, headers=headers)

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
    """'Tên mốc@dd/mm/yyyy' (or @YYYY-MM-DD) -> [{"name": ..., "due": "YYYY-MM-DD"}]"""
    parsed = []
    for value in values:
        name, _, due = value.rpartition("@")
        if not name:
            raise click.BadParameter(f"«{value}»: hãy viết dạng 'Tên mốc@dd/mm/yyyy'")
        parsed.append({"name": name, "due": iso_date(due)})
    return parsed


change_command("plan", "nurture-plan", "Lập kế hoạch bồi dưỡng.", [
    click.option("--unit", "responsible_unit", required=True, help="Đơn vị phụ trách."),
    click.option("--milestone", "milestones", multiple=True, required=True,
                 help="Mốc: 'Tên mốc@dd/mm/yyyy' (lặp lại được)."),
], lambda d: d | {"milestones": milestones(d["milestones"])})
change_command("progress", "progress", "Ghi nhận tiến độ bồi dưỡng.", [
    click.option("--note", required=True, help="Tiến độ đạt được."),
    click.option("--milestone", default="", help="Tên mốc của kế hoạch (nếu có)."),
])
change_command("check", "checks", "Ghi nhận kiểm tra, đánh giá định kỳ.", [
    click.option("--by", "checked_by", required=True, help="Đơn vị, người kiểm tra."),
    click.option("--finding", required=True, help="Kết quả kiểm tra."),
    click.option("--on-track/--off-track", "on_track", default=True, help="Đúng hay chậm tiến độ."),
])
change_command("review", "reviews", "Sơ kết / tổng kết theo tiêu chí chung và tiêu chí riêng.", [
    click.option("--kind", "review_kind", type=click.Choice(["interim", "final"]), required=True,
                 help="Sơ kết (interim) hay tổng kết (final)."),
    click.option("--general", "general_criteria", multiple=True, required=True,
                 help="Tiêu chí chung: 'Tiêu chí=yes|no' (lặp lại được)."),
    click.option("--field-criterion", "field_criteria", multiple=True, required=True,
                 help="Tiêu chí riêng của lĩnh vực: 'Tiêu chí=yes|no' (lặp lại được)."),
    click.option("--summary", required=True, help="Nhận xét chung."),
], lambda d: d | {"general_criteria": criteria(d["general_criteria"]), "field_criteria": criteria(d["field_criteria"])})
change_command("endorse", "endorsements", "Ghi kết quả biểu quyết suy tôn của tập thể.", [
    click.option("--meeting", required=True, help="Cuộc họp bình xét."),
    click.option("--members", type=int, required=True, help="Tổng số thành viên."),
    click.option("--present", type=int, required=True, help="Số có mặt."),
    click.option("--for", "in_favour", type=int, required=True, help="Số đồng ý."),
    click.option("--against", type=int, default=0, help="Số không đồng ý."),
    click.option("--abstain", "abstained", type=int, default=0, help="Số không biểu quyết."),
])
change_command("nominate", "nominations", "Đề nghị khen thưởng.", [
    click.option("--form", "award_form", required=True, help="Mã hình thức khen thưởng."),
    click.option("--dossier", "dossier_refs", multiple=True, required=True, help="Tham chiếu hồ sơ (lặp lại được)."),
    click.option("--achievement", required=True, help="Thành tích đề nghị khen thưởng."),
    click.option("--award-year", type=int, default=None, help="Năm tính thành tích (mặc định: năm của ngày đề nghị)."),
], lambda d: {k: v for k, v in d.items() if v is not None} | {"dossier_refs": list(d["dossier_refs"])})
change_command("publicize", "publicity", "Ghi nhận tuyên truyền.", [
    click.option("--channel", required=True, help="Kênh tuyên truyền (báo, đài, hội nghị…)."),
    click.option("--audience", required=True, help="Đối tượng, phạm vi tuyên truyền."),
    click.option("--reference", default="", help="Số bài, đường dẫn (nếu có)."),
])
change_command("adopt", "adoptions", "Ghi nhận đơn vị học tập, nhân rộng mô hình.", [
    click.option("--unit", "adopting_unit", required=True, help="Đơn vị học tập, nhân rộng."),
    click.option("--method", required=True, help="Cách nhân rộng."),
])
change_command("adoption-outcome", "adoption-outcomes", "Ghi kết quả nhân rộng.", [
    click.option("--adoption", "adoption_id", required=True, help="Mã lần nhân rộng."),
    click.option("--outcome", required=True, help="Kết quả."),
    click.option("--successful/--unsuccessful", default=True, help="Thành công hay không."),
])
change_command("evaluate", "evaluations", "Đánh giá hằng năm, so với năm trước.", [
    click.option("--year", type=int, required=True, help="Năm đánh giá."),
    click.option("--rating", type=click.Choice(["excellent", "good", "complete", "incomplete"]), required=True,
                 help="Hoàn thành xuất sắc / tốt / hoàn thành / không hoàn thành nhiệm vụ."),
    click.option("--score", type=int, required=True, help="Điểm."),
    click.option("--note", default="", help="Ghi chú."),
])
change_command("initiative", "initiatives", "Ghi nhận sáng kiến (hoặc đề tài nghiên cứu) của điển hình.", [
    click.option("--title", required=True, help="Tên sáng kiến."),
    click.option("--kind", type=click.Choice(["initiative", "research"]), default="initiative",
                 help="Sáng kiến hay đề tài nghiên cứu."),
    click.option("--year", type=int, required=True, help="Năm áp dụng."),
])
change_command("recognise-initiative", "initiative-recognitions", "Công nhận sáng kiến với phạm vi ảnh hưởng.", [
    click.option("--initiative", "initiative_id", required=True, help="Mã sáng kiến."),
    click.option("--scope", type=click.Choice(["co-so", "tinh", "toan-quoc"]), required=True,
                 help="Phạm vi ảnh hưởng: cơ sở, tỉnh, toàn quốc."),
    click.option("--by", "recognised_by", required=True, help="Cơ quan công nhận."),
    click.option("--reference", required=True, help="Số quyết định công nhận."),
])
change_command("roster", "rosters", "Danh sách thành viên của tập thể trong năm (từ tệp JSON).", [
    click.option("--year", type=int, required=True, help="Năm của danh sách."),
    click.option("--members", "members_file", type=click.File(encoding="utf-8"), required=True,
                 help="Tệp JSON: [{\"name\", \"rating\", \"title\", \"discipline\"}, …]"),
], lambda d: {"year": d["year"], "business_date": d["business_date"], "members": json.load(d["members_file"])})
change_command("hold", "holds", "Tạm dừng xét (kỷ luật, điều tra, khiếu nại).", [
    click.option("--kind", "hold_kind", type=click.Choice(["discipline", "investigation", "complaint"]), required=True,
                 help="Kỷ luật, điều tra hay khiếu nại."),
    click.option("--reason", required=True, help="Lý do."),
])
change_command("release", "hold-releases", "Kết thúc tạm dừng xét.", [
    click.option("--hold", "hold_id", required=True, help="Mã lần tạm dừng."),
    click.option("--resolution", required=True, help="Kết quả giải quyết."),
])
change_command("withdraw", "withdrawal", "Rút điển hình.", [click.option("--reason", required=True, help="Lý do.")])


@main.command(name="list", help="Danh sách điển hình, có lọc.")
@click.option("--department", help="Mã đơn vị (cán bộ đơn vị chỉ xem được đơn vị mình).")
@click.option("--field", help="Mã lĩnh vực.")
@click.option("--movement", help="Mã phong trào.")
@click.option("--stage", help="Giai đoạn: detected, nurturing, reviewed, nominated, awarded, replicating, withdrawn.")
@click.option("--year", type=int, help="Năm phát hiện.")
@PAGE_LIMIT
@PAGE_OFFSET
@JSON
def list_(as_json: bool, **filters) -> None:
    found = call("GET", "/exemplars", department_officer(), params=filters)
    if as_json:
        return emit(found)
    shown_list = table(f"Điển hình tiên tiến ({shown(found, filters['offset'])})")
    shown_list.add_column("mã", no_wrap=True)
    shown_list.add_column("tên", ratio=2)
    shown_list.add_column("lĩnh vực", ratio=1, overflow="fold")
    shown_list.add_column("giai đoạn", ratio=1)
    shown_list.add_column("năm", no_wrap=True)
    if not narrow():
        shown_list.add_column("đơn vị", ratio=1, overflow="fold")
    for item in found["items"]:
        row = [item["id"][:8], escape(item["name"]), item["field"], STAGE_NAMES_VI.get(item["stage"], item["stage"]),
               str(item["year"])]
        shown_list.add_row(*row, *([] if narrow() else [item["department"]]))
    console.print(shown_list)


@main.command(help="Trạng thái hiện tại của một điển hình.")
@click.argument("exemplar_id")
@JSON
def show(exemplar_id: str, as_json: bool) -> None:
    emit(call("GET", "/exemplars/{exemplar_id}", department_officer(), path={"exemplar_id": exemplar_id}))


@main.command(help="Toàn bộ lịch sử của một điển hình, theo thứ tự.")
@click.argument("exemplar_id")
@JSON
def history(exemplar_id: str, as_json: bool) -> None:
    entries = call("GET", "/exemplars/{exemplar_id}/history", department_officer(), path={"exemplar_id": exemplar_id})
    if as_json:
        return emit(entries)
    print_history(entries)


@main.command(help="Danh mục: lĩnh vực, phong trào, loại đối tượng, hình thức khen thưởng.")
@JSON
def catalog(as_json: bool) -> None:
    emit(call("GET", "/catalog", PUBLIC))


# -- councils -----------------------------------------------------------------------------

COUNCIL = click.option("--council", default=lambda: os.environ.get("EXEMPLARS_COUNCIL", "huyen-yen-the"),
                       show_default="huyen-yen-the",
                       help="Mã địa bàn của hội đồng (vd. huyen-yen-the, tinh-bac-giang; mặc định EXEMPLARS_COUNCIL).")
COUNCIL_PREFIX = "Hội đồng Thi đua – Khen thưởng "  # every council's name starts so: the table shows the rest


def secretary(council: str) -> Need:
    return Need(SECRETARY, council)


@main.group(help="Hội đồng thi đua – khen thưởng: hồ sơ, phiên họp, quyết định.")
def council() -> None:
    pass


@council.command(name="queues", help="Sơ đồ hội đồng theo thời gian và hồ sơ đang chờ ở hàng đợi của từng hội đồng.")
@JSON
def council_queues(as_json: bool) -> None:
    """A council with cases waiting and nobody taking them is not running here: the cases are
    kept in its queue until it starts, or until an operator hands them over another way."""
    rows = call("GET", "/operator/councils", Need(OPERATOR))
    if as_json:
        return emit(rows)
    shown_queues = table("Hội đồng thi đua – khen thưởng: hồ sơ đang chờ")
    shown_queues.add_column("mã", overflow="fold", ratio=1)
    shown_queues.add_column("hội đồng", ratio=2)
    shown_queues.add_column("hiệu lực", ratio=1)
    shown_queues.add_column("chờ", justify="right", no_wrap=True)
    shown_queues.add_column("trạng thái", ratio=1)
    for row in rows:
        state = "đang nhận" if row["running"] else ("[bold red]KHÔNG CHẠY[/]" if row["waiting"] else "không chạy")
        shown_queues.add_row(row["council"], escape(row["name"].removeprefix(COUNCIL_PREFIX)),
                             vi_dates(row["in_force"]), str(row["waiting"]), state)
    console.print(shown_queues)


@council.command(name="cases", help="Hồ sơ đang chờ hội đồng xử lý.")
@COUNCIL
@click.option("--status", default=None, help="open, appraised, voted, decided, forwarded, returned, rejected")
@PAGE_LIMIT
@PAGE_OFFSET
@JSON
def council_cases(council: str, status: str | None, limit: int, offset: int, as_json: bool) -> None:
    found = call("GET", "/councils/{council}/cases", secretary(council), path={"council": council},
                 params={"status": status, "limit": limit, "offset": offset})
    if as_json:
        return emit(found)
    shown_cases = table(f"Hồ sơ tại hội đồng {council} ({shown(found, offset)})")
    shown_cases.add_column("hồ sơ", no_wrap=True)
    shown_cases.add_column("đối tượng", ratio=2)
    shown_cases.add_column("hình thức", ratio=1, overflow="fold")
    shown_cases.add_column("trạng thái", ratio=1, overflow="fold")
    shown_cases.add_column("ngày nhận", no_wrap=True)
    shown_cases.add_column("đủ ĐK", no_wrap=True)
    for case in found["items"]:
        shown_cases.add_row(case["id"][:8], escape(case["subject_name"]), case["award_form"], case["status"],
                            vi_dates(case["opened_on"]), "có" if case["eligible"] else "không")
    console.print(shown_cases)


@council.command(name="case", help="Một hồ sơ: điều kiện khen thưởng, trạng thái, lịch sử điển hình.")
@COUNCIL
@click.argument("case_id")
@JSON
def council_case(council: str, case_id: str, as_json: bool) -> None:
    case = call("GET", "/councils/{council}/cases/{case_id}", secretary(council),
                path={"council": council, "case_id": case_id})
    if as_json:
        return emit(case)
    eligibility = case["eligibility"]
    console.print(f"[bold]Hồ sơ {case['id']}[/] — {escape(case['subject']['name'])}: "
                  f"{case['nomination']['award_form']}, trạng thái {case['status']}")
    console.print("Đủ điều kiện." if eligibility["eligible"] else "[red]Chưa đủ điều kiện:[/]")
    for problem in eligibility["problems"]:
        console.print(f"  • {escape(problem['message'])}")
    if case.get("exemplar_history") is not None:  # None: kept by a department this gateway does not serve
        print_history(case["exemplar_history"])


def case_command(name: str, action: str, help_text: str, options: list) -> None:
    """`exemplars council NAME CASE_ID ...`: POST /councils/{council}/cases/{case_id}/<action>."""
    route = f"/councils/{{council}}/cases/{{case_id}}/{action}"
    register("POST", route)

    def invoke(case_id: str, council: str, idempotency_key: str | None, **data):
        return call("POST", route, secretary(council), path={"council": council, "case_id": case_id}, body=data,
                    idempotency_key=idempotency_key)

    declare(council, name, help_text, options, "case_id", [COUNCIL], invoke)


case_command("appraise", "appraisal", "Thẩm định hồ sơ: chuyển hội đồng, hoặc trả lại đơn vị.", [
    click.option("--pass/--return", "passed", required=True, help="Chuyển hội đồng, hay trả lại đơn vị."),
    click.option("--appraiser", required=True, help="Đơn vị, người thẩm định."),
    click.option("--note", required=True, help="Nhận xét, hoặc lý do trả lại."),
])
case_command("session", "sessions", "Ghi kết quả phiên họp hội đồng (bỏ phiếu kín: chỉ ghi số phiếu).", [
    click.option("--session", required=True, help="Tên phiên họp."),
    click.option("--members", type=int, required=True, help="Tổng số thành viên hội đồng."),
    click.option("--present", type=int, required=True, help="Số có mặt."),
    click.option("--for", "in_favour", type=int, required=True, help="Số phiếu đồng ý."),
    click.option("--against", type=int, default=0, help="Số phiếu không đồng ý."),
    click.option("--blank", type=int, default=0, help="Số phiếu trắng."),
])
case_command("consult", "consultation", "Mở lấy ý kiến công khai (thời hạn theo quy định).", [])
case_command("objection", "objections", "Ghi nhận ý kiến phản ánh trong thời gian lấy ý kiến.", [
    click.option("--by", "submitted_by", required=True, help="Người, đơn vị phản ánh."),
    click.option("--content", required=True, help="Nội dung phản ánh."),
])
case_command("resolve", "objection-resolutions", "Giải quyết ý kiến phản ánh.", [
    click.option("--objection", "objection_id", required=True, help="Mã ý kiến phản ánh."),
    click.option("--resolution", required=True, help="Kết quả giải quyết."),
    click.option("--upheld/--dismissed", default=False, help="Phản ánh đúng, hay không có cơ sở."),
])
case_command("decide", "decision", "Ghi quyết định khen thưởng (số như 123/QĐ-UBND).", [
    click.option("--number", "decision_number", required=True, help="Số quyết định."),
    click.option("--signer", required=True, help="Người ký."),
])
case_command("reject", "rejection", "Không khen thưởng, ghi rõ lý do.",
             [click.option("--reason", required=True, help="Lý do.")])


@council.command(name="revoke", help="Hủy bỏ khen thưởng theo căn cứ a–d.")
@COUNCIL
@click.argument("award_id")
@click.option("--ground", type=click.Choice(["a", "b", "c", "d"]), required=True, help="Căn cứ hủy bỏ (a–d).")
@click.option("--reason", required=True, help="Lý do.")
@click.option("--number", "decision_number", required=True, help="Số quyết định hủy bỏ.")
@DATE
@IDEMPOTENCY
@JSON
def council_revoke(council: str, award_id: str, idempotency_key: str | None, as_json: bool, **data) -> None:
    record(call("POST", "/councils/{council}/awards/{award_id}/revocation", secretary(council),
                path={"council": council, "award_id": award_id}, body=data, idempotency_key=idempotency_key))


@council.command(name="awards", help="Danh sách khen thưởng theo năm, đơn vị, lĩnh vực, hình thức.")
@COUNCIL
@click.option("--year", type=int, help="Năm khen thưởng.")
@click.option("--unit", help="Đơn vị, địa bàn.")
@click.option("--field", help="Mã lĩnh vực.")
@click.option("--form", "award_form", help="Mã hình thức khen thưởng.")
@PAGE_LIMIT
@PAGE_OFFSET
@JSON
def council_awards(council: str, as_json: bool, **filters) -> None:
    emit(call("GET", "/councils/{council}/awards", secretary(council), path={"council": council}, params=filters))


# -- notifications ------------------------------------------------------------------------

@main.command(help="Đăng ký nhận thông báo (người hoặc đơn vị).")
@click.option("--recipient", "recipient_id", required=True, help="Mã người nhận.")
@click.option("--kind", "recipient_kind", type=click.Choice(["person", "unit"]), default="person",
              help="Người hay đơn vị.")
@click.option("--name", required=True, help="Tên người nhận.")
@click.option("--locale", type=click.Choice(["vi", "en"]), default="vi", help="Ngôn ngữ thông báo.")
@click.option("--department", "departments", multiple=True, help="Chỉ sự kiện của đơn vị này (lặp lại được).")
@click.option("--field", "fields", multiple=True, help="Mã lĩnh vực (lặp lại được).")
@click.option("--movement", "movements", multiple=True, help="Mã phong trào (lặp lại được).")
@click.option("--event-type", "event_types", multiple=True, help="Loại sự kiện, vd. exemplar.awarded (lặp lại được).")
@click.option("--exemplar", "exemplar_ids", multiple=True, help="Mã điển hình (lặp lại được).")
@click.option("--inbox/--no-inbox", default=True, help="Hộp thư trong ứng dụng.")
@click.option("--email", default=None, help="Địa chỉ thư điện tử.")
@click.option("--webhook", default=None, help="URL nhận thông báo.")
@click.option("--secret", default="", help="Khóa ký webhook dạng whsec_… (Standard Webhooks); bỏ trống: hệ thống "
              "tự tạo và trả về một lần.")
@click.option("--mute", "muted", is_flag=True, help="Tắt tiếng (không gửi).")
@click.option("--digest", is_flag=True, help="Một bản tin mỗi ngày thay vì từng thông báo.")
@click.option("--quiet", default=None, help="Giờ yên lặng, vd. 22:00-06:00.")
@IDEMPOTENCY
@JSON
def subscribe(inbox, email, webhook, secret, muted, digest, quiet, idempotency_key, as_json, **data) -> None:
    channels = ([{"channel": "inbox"}] if inbox else []) + ([{"channel": "email", "address": email}] if email else [])
    channels += [{"channel": "webhook", "address": webhook, "secret": secret}] if webhook else []
    preferences = {"muted": muted, "digest": digest, "quiet_hours": quiet_hours(quiet)}
    data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
    record(call("POST", "/subscriptions", Need(OPERATOR), body=data | {"channels": channels, "preferences": preferences},
                idempotency_key=idempotency_key))


def quiet_hours(value: str | None) -> dict | None:
    """'22:00-06:00' -> {"start": "22:00", "end": "06:00"}; the service checks the times."""
    if not value:
        return None
    start, _, end = value.partition("-")
    return {"start": start, "end": end}


@main.command(help="Đổi tùy chọn nhận thông báo: tắt tiếng, bản tin hằng ngày, giờ yên lặng.")
@click.argument("subscription_id")
@click.option("--mute/--unmute", "muted", default=False, help="Tắt tiếng, hoặc bật lại.")
@click.option("--digest/--each", "digest", default=False, help="Bản tin hằng ngày, hoặc từng thông báo.")
@click.option("--quiet", default=None, help="Giờ yên lặng, vd. 22:00-06:00 (bỏ trống: không có).")
@IDEMPOTENCY
@JSON
def preferences(subscription_id: str, muted: bool, digest: bool, quiet: str | None, idempotency_key: str | None,
                as_json: bool) -> None:
    chosen = {"muted": muted, "digest": digest, "quiet_hours": quiet_hours(quiet)}
    record(call("POST", "/subscriptions/{subscription_id}/preferences", Need(OPERATOR),
                path={"subscription_id": subscription_id}, body=chosen, idempotency_key=idempotency_key))


@main.command(help="Huỷ một đăng ký nhận thông báo.")
@click.argument("subscription_id")
@click.option("--reason", default="", help="Lý do huỷ.")
@IDEMPOTENCY
@JSON
def unsubscribe(subscription_id: str, reason: str, idempotency_key: str | None, as_json: bool) -> None:
    record(call("POST", "/subscriptions/{subscription_id}/cancellation", Need(OPERATOR),
                path={"subscription_id": subscription_id}, body={"reason": reason} if reason else {},
                idempotency_key=idempotency_key))


@main.command(name="rotate-secret", help="Đổi khóa ký webhook của một đăng ký; khóa mới được trả về một lần.")
@click.argument("subscription_id")
@click.option("--secret", default="", help="Khóa mới dạng whsec_…; bỏ trống: hệ thống tự tạo.")
@JSON
def rotate_secret(subscription_id: str, secret: str, as_json: bool) -> None:
    record(call("POST", "/subscriptions/{subscription_id}/secret", Need(OPERATOR),
                path={"subscription_id": subscription_id}, body={"secret": secret} if secret else {}))


@main.command(name="reseal-secrets", help="Niêm phong lại mọi khóa ký webhook bằng khóa mới nhất của dịch vụ "
              "(sau khi thêm khóa mới vào đầu tệp NOTIFICATIONS_SECRETS_KEY_FILE).")
@JSON
def reseal_secrets(as_json: bool) -> None:
    record(call("POST", "/operator/reseal-secrets", Need(OPERATOR), body={}))


@main.command(help="Hộp thư thông báo trong ứng dụng, mới nhất trước.")
@click.argument("recipient_id")
@PAGE_LIMIT
@PAGE_OFFSET
@JSON
def inbox(recipient_id: str, limit: int, offset: int, as_json: bool) -> None:
    # a minted token reads as an auditor: any inbox, never marking anything read
    found = call("GET", "/inbox/{recipient_id}", Need(AUDITOR), path={"recipient_id": recipient_id},
                 params={"limit": limit, "offset": offset})
    if as_json:
        return emit(found)
    console.print(f"[bold]{found['unread']} thông báo chưa đọc[/] ({shown(found, offset)})")
    for item in found["items"]:
        console.print(f"{'•' if not item['read'] else ' '} {vi_dates(item['created_at'][:16])}  "
                      f"{escape(item['subject'])}")


@main.command(help="Trạng thái gửi của một sự kiện (nguồn/số thứ tự).")
@click.argument("event_key")
@PAGE_LIMIT
@PAGE_OFFSET
@JSON
def deliveries(event_key: str, limit: int, offset: int, as_json: bool) -> None:
    emit(call("GET", "/deliveries", Need(OPERATOR), params={"event": event_key, "limit": limit, "offset": offset}))


@main.command(help="Thông báo bị giữ lại (hàng đợi lỗi), kèm lý do.")
@PAGE_LIMIT
@PAGE_OFFSET
@JSON
def parked(limit: int, offset: int, as_json: bool) -> None:
    emit(call("GET", "/operator/parked", Need(OPERATOR), params={"limit": limit, "offset": offset}))


@main.command(help="Gửi lại các thông báo bị giữ lại.")
@click.argument("delivery_ids", nargs=-1, required=True)
@JSON
def replay(delivery_ids, as_json: bool) -> None:
    record(call("POST", "/operator/replay", Need(OPERATOR), body={"delivery_ids": list(delivery_ids)}))


for _method, _route in [("GET", "/exemplars"), ("GET", "/exemplars/{exemplar_id}"), ("POST", "/exemplars"),
                        ("GET", "/exemplars/{exemplar_id}/history"), ("GET", "/catalog"),
                        ("GET", "/operator/councils"), ("GET", "/councils/{council}/cases"),
                        ("GET", "/councils/{council}/cases/{case_id}"),
                        ("POST", "/councils/{council}/awards/{award_id}/revocation"),
                        ("GET", "/councils/{council}/awards"), ("POST", "/subscriptions"),
                        ("POST", "/subscriptions/{subscription_id}/preferences"),
                        ("POST", "/subscriptions/{subscription_id}/cancellation"),
                        ("POST", "/subscriptions/{subscription_id}/secret"), ("POST", "/operator/reseal-secrets"),
                        ("GET", "/inbox/{recipient_id}"), ("GET", "/deliveries"), ("GET", "/operator/parked"),
                        ("POST", "/operator/replay")]:
    register(_method, _route)


# -- access tokens for the HTTP API --------------------------------------------------------

@main.group(help="Mã truy cập (bearer token) cho HTTP API.")
def token() -> None:
    pass


@token.command(name="issue", help="Cấp mã truy cập, ký bằng khóa của cổng HTTP (GATEWAY_TOKEN_SECRET_FILE).")
@click.option("--sub", required=True, help="Mã người (hoặc đơn vị) được cấp; là mã người nhận của hộp thư.")
@click.option("--role", type=click.Choice(ROLES_OF_TOKENS), required=True, help="Vai trò.")
@click.option("--department", default=None, help="Đơn vị của cán bộ (bắt buộc với department_officer).")
@click.option("--council", default=None, help="Hội đồng của thư ký (bắt buộc với council_secretary).")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True, max=90 * 24), default=12.0, show_default=True,
              help="Thời hạn (giờ), tối đa 90 ngày.")
@JSON
def token_issue(sub: str, role: str, department: str | None, council: str | None, hours: float,
                as_json: bool) -> None:
    # Minting needs the gateway's secret and its definition of a token (gateway.access), not the API.
    from gateway import access
    from shared.errors import DomainError

    try:
        secret = access.load_secret(os.environ.get("GATEWAY_TOKEN_SECRET_FILE") or None)
    except (OSError, ValueError) as error:
        errors.print(f"[bold red]Lỗi:[/] Không đọc được khóa ký mã truy cập ({escape(str(error))}).")
        sys.exit(2)
    try:
        issued = access.issue(secret, sub=sub, role=role, department=department, council=council,
                              lifetime=dt.timedelta(hours=hours))
    except DomainError as error:
        errors.print(f"[bold red]Lỗi:[/] {escape(error.message)}")
        sys.exit(2 if error.http_status == 400 else 4)
    if as_json:
        return emit({"token": issued})
    click.echo(issued)


# The auditors' commands live beside their toolkit (audit.cli): they read the databases
# themselves, so auditors with a bundle or read-only credentials work offline. Unless told
# (--source, AUDIT_SOURCES), they read the logs of `make run`, which the launcher knows.
@functools.cache
def audit_group() -> click.Group:
    from audit.cli import audit_group as group

    group.callback = _logs_of_make_run
    return group


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

from cli.accounts import accounts as accounts_group  # noqa: E402 - the administrator's, over HTTP

main.add_command(accounts_group, name="accounts")
