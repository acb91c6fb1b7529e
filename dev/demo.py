"""`make demo`: the Yên Thế 2018 plan, played against the running system over HTTP.

A household in the household-economy field (led by Hội Nông dân huyện) is detected in
Q2/2018, nurtured, reviewed, endorsed by its collective, nominated for the district
chairman's Giấy khen, which the district council appraises, votes and decides; it is
then publicized and replicated by three communes in Q4, and its whole history is
printed. A second household, nominated for the province's Bằng khen, is forwarded by
the district council to the province. Subscribers of the household-economy field get
the award announcement by email (an SMTP server the demo starts on SMTP_PORT) and by a
signed webhook (an HTTP receiver the demo starts), both on loopback.

Then 2026, under two-level government: a household nominated for the commune chairman's
Giấy khen is decided by the commune council of xã Yên Thế, and a Bằng khen goes from the
commune to the merged province of Bắc Ninh.

The demo issues itself short-lived tokens with the gateway's secret (as `exemplars token
issue` does): the department's officer, each council's secretary, and an operator who
sets up the subscribers.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from aiosmtpd.controller import Controller
from rich.console import Console

from dev import launcher
from gateway import access
from cli.render import print_history
from notifications.channels import email as email_channel, verify
from shared.catalog import load_catalog

console = Console()


OFFICER = "officer"
DEPARTMENT = os.environ.get("NOMINATIONS_DEPARTMENT", "hoi-nong-dan-yen-the")


def councils_on(day: str) -> tuple[str, str]:
    """The council the department's nomination of ``day`` goes to and the one above it, as the
    topology says (shared/catalogs/councils.yaml): the district and Bắc Giang in 2018; since
    2025-07-01 (two-level government) the commune that took over Yên Thế's area and Bắc Ninh."""
    topology, on = load_catalog(os.environ.get("CATALOG_DIR") or None).topology, dt.date.fromisoformat(day)
    first = topology.nominating_council(DEPARTMENT, on)
    return first.code, topology.parent(first.code, on).code


(DISTRICT_2018, PROVINCE_2018), (COMMUNE_2026, PROVINCE_2026) = councils_on("2018-10-02"), councils_on("2026-03-02")
TOKENS: dict[str, str] = {}  # who -> bearer token, issued in main()


def issue_tokens() -> None:
    """Tokens for the people the demo plays, signed with the secret the gateway reads."""
    secret = access.load_secret(os.environ.get("GATEWAY_TOKEN_SECRET_FILE") or None)
    department = DEPARTMENT
    hour = dt.timedelta(hours=1)
    TOKENS[OFFICER] = access.issue(secret, sub="demo-can-bo-hnd", role=access.OFFICER, department=department,
                                   lifetime=hour)
    TOKENS[access.OPERATOR] = access.issue(secret, sub="demo-van-hanh", role=access.OPERATOR, lifetime=hour)
    for council in launcher.COUNCILS:
        TOKENS[council] = access.issue(secret, sub=f"demo-thu-ky-{council}", role=access.SECRETARY, council=council,
                                       lifetime=hour)


def headers_for(path: str) -> dict:
    """Each path as its owner calls it: a council's secretary, the operator, else the officer."""
    parts = path.strip("/").split("/")
    who = parts[1] if parts[0] == "councils" else access.OPERATOR if parts[0] == "subscriptions" else OFFICER
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def post(path: str, body: dict) -> dict:
    response = requests.post(launcher.gateway_url() + path, json=body, timeout=30, headers=headers_for(path))
    if response.status_code >= 400:
        raise SystemExit(f"{path}: {response.status_code} {response.json().get('title')}")
    return response.json()


def get(path: str, **params):
    response = requests.get(launcher.gateway_url() + path, params=params, timeout=30, headers=headers_for(path))
    response.raise_for_status()
    return response.json()


def wait_for(what: str, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def case_of(council: str, exemplar_id: str, status: str | None = None):
    cases = get(f"/councils/{council}/cases", limit=1000, **({"status": status} if status else {}))
    return next((c for c in cases["items"] if c["exemplar_id"] == exemplar_id), None)


class Receivers:
    """A real SMTP server and webhook receiver on loopback, as a subscriber's would be."""

    def __init__(self):
        self.mails: list = []
        self.hooks: list[dict] = []
        # The newspaper's webhook secret: made by the notifications service when it subscribes
        # and answered once (Standard Webhooks, "whsec_…"); the receiver checks each delivery with it.
        self.webhook_secret = ""
        receivers = self

        class Mail:
            async def handle_DATA(self, server, session, envelope):
                receivers.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = verify(receivers.webhook_secret, self.headers, body)  # refuses a stale timestamp too
                receivers.hooks.append(json.loads(body) | {"signature_ok": signed})
                self.send_response(204 if signed else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.smtp = Controller(Mail(), hostname="127.0.0.1", port=int(os.environ.get("SMTP_PORT") or email_channel.SMTP_PORT))
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.webhook_url = f"http://127.0.0.1:{self.http.server_address[1]}/thong-bao"

    def __enter__(self):
        self.smtp.start()
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.smtp.stop()
        self.http.shutdown()


def step(text: str) -> None:
    console.print(f"[bold green]•[/] {text}")


def main() -> None:
    if not launcher.is_ready():
        console.print("Hệ thống chưa chạy; đang khởi động (make start)…")
        launcher.main(["start"])
    issue_tokens()
    with Receivers() as receivers:
        play(receivers)


def play(receivers: Receivers) -> None:
    step("Hội Nông dân tỉnh và Báo Bắc Giang đăng ký nhận thông báo khen thưởng lĩnh vực kinh tế hộ gia đình")
    run = time.strftime("%H%M%S")
    post("/subscriptions", {
        "recipient_id": f"hoi-nong-dan-tinh-{run}", "recipient_kind": "unit", "name": "Hội Nông dân tỉnh Bắc Giang",
        "fields": ["household-economy"], "event_types": ["exemplar.awarded"],
        "channels": [{"channel": "inbox"}, {"channel": "email", "address": "vanphong@hoinongdan.bacgiang.example.vn"}],
    })
    newspaper = post("/subscriptions", {
        "recipient_id": f"bao-bac-giang-{run}", "recipient_kind": "unit", "name": "Báo Bắc Giang",
        "fields": ["household-economy"], "event_types": ["exemplar.awarded"],
        "channels": [{"channel": "webhook", "address": receivers.webhook_url}],
    })
    receivers.webhook_secret = newspaper["webhook_secret"]

    step("Quý II/2018: Hội Nông dân huyện phát hiện hộ làm kinh tế giỏi")
    exemplar = post("/exemplars", {
        "subject_kind": "household",
        "name": "Hộ ông Hoàng Văn Thắng",
        "field": "household-economy",
        "movement": "farmers-good-business",
        "unit": "Thôn Mỏ Sắt, xã Đồng Tâm, huyện Yên Thế",
        "achievements": [
            "Trang trại gà đồi Yên Thế quy mô 6.000 con/lứa, thu nhập trên 400 triệu đồng/năm",
            "Tạo việc làm thường xuyên cho 8 lao động địa phương",
        ],
        "business_date": "2018-04-16",
    })
    exemplar_id = exemplar["id"]
    path = f"/exemplars/{exemplar_id}"

    step("Lập kế hoạch bồi dưỡng (quý II–III/2018)")
    post(path + "/nurture-plan", {
        "responsible_unit": "Hội Nông dân huyện Yên Thế",
        "milestones": [
            {"name": "Áp dụng quy trình chăn nuôi an toàn sinh học", "due": "2018-06-30"},
            {"name": "Xây dựng nhãn hiệu gà đồi cho trang trại", "due": "2018-09-15"},
        ],
        "business_date": "2018-04-25",
    })
    post(path + "/progress", {"note": "Hoàn thành chuồng trại an toàn sinh học", "milestone": "Áp dụng quy trình chăn nuôi an toàn sinh học", "business_date": "2018-06-28"})
    post(path + "/checks", {"checked_by": "Hội Nông dân huyện", "finding": "Mô hình đạt tiến độ, sổ sách rõ ràng", "on_track": True, "business_date": "2018-07-10"})

    step("Sơ kết quý III/2018 theo tiêu chí chung và tiêu chí riêng")
    post(path + "/reviews", {
        "review_kind": "interim",
        "general_criteria": [
            {"criterion": "Chấp hành tốt chủ trương của Đảng, chính sách, pháp luật của Nhà nước", "met": True},
            {"criterion": "Tích cực tham gia các phong trào thi đua, giúp đỡ cộng đồng", "met": True},
        ],
        "field_criteria": [
            {"criterion": "Thu nhập bình quân đầu người gấp 3 lần mức bình quân của xã", "met": True},
            {"criterion": "Hướng dẫn, giúp đỡ ít nhất 5 hộ cùng phát triển", "met": True},
        ],
        "summary": "Mô hình hiệu quả, có khả năng nhân rộng",
        "business_date": "2018-09-20",
    })

    step("Chi hội nông dân thôn Mỏ Sắt biểu quyết suy tôn")
    post(path + "/endorsements", {"meeting": "Hội nghị chi hội nông dân thôn Mỏ Sắt", "members": 45, "present": 40, "in_favour": 38, "against": 1, "abstained": 1, "business_date": "2018-09-25"})

    step("Đề nghị Giấy khen của Chủ tịch UBND huyện")
    post(path + "/nominations", {"award_form": "giay-khen", "dossier_refs": ["Tờ trình 45/TTr-HND", "Báo cáo thành tích hộ ông Hoàng Văn Thắng"], "achievement": "Hộ gia đình làm kinh tế giỏi năm 2018", "business_date": "2018-10-02"})

    step("Hội đồng Thi đua – Khen thưởng huyện nhận hồ sơ, thẩm định, họp và quyết định")
    case = wait_for("hồ sơ tại hội đồng huyện", lambda: case_of(DISTRICT_2018, exemplar_id))
    case_path = f"/councils/{DISTRICT_2018}/cases/{case['id']}"
    post(case_path + "/appraisal", {"passed": True, "appraiser": "Phòng Nội vụ huyện Yên Thế", "note": "Hồ sơ đầy đủ, thành tích có minh chứng", "business_date": "2018-10-08"})
    post(case_path + "/sessions", {"session": "Phiên họp Hội đồng TĐKT huyện tháng 10/2018", "members": 11, "present": 10, "in_favour": 10, "against": 0, "blank": 0, "business_date": "2018-10-10"})
    post(case_path + "/decision", {"decision_number": "2156/QĐ-UBND", "signer": "Chủ tịch UBND huyện Yên Thế", "business_date": "2018-10-12"})
    wait_for("quyết định trên lịch sử điển hình", lambda: any(h["type"] == "exemplar.awarded" for h in get(path + "/history")))

    step("Tuyên truyền trên Đài Truyền thanh huyện")
    post(path + "/publicity", {"channel": "Đài Truyền thanh – Truyền hình huyện Yên Thế", "audience": "Nhân dân toàn huyện", "reference": "Chuyên mục Nông dân Yên Thế, 15/10/2018", "business_date": "2018-10-15"})

    step("Quý IV/2018: ba xã học tập, nhân rộng mô hình")
    for commune, day in (("xã Tam Tiến", "2018-10-25"), ("xã Xuân Lương", "2018-11-08"), ("xã Đồng Hưu", "2018-11-22")):
        post(path + "/adoptions", {"adopting_unit": f"Hội Nông dân {commune}", "method": "Tham quan, học tập tại trang trại", "business_date": day})
    post(path + "/adoption-outcomes", {"adoption_id": "A1", "outcome": "12 hộ áp dụng quy trình chăn nuôi an toàn sinh học", "successful": True, "business_date": "2018-12-20"})
    post(path + "/evaluations", {"year": 2018, "rating": "excellent", "score": 92, "note": "Đánh giá cuối năm 2018", "business_date": "2018-12-28"})

    step("Thông báo khen thưởng đến người đăng ký: thư điện tử và webhook có chữ ký")
    mail = wait_for("thư điện tử", lambda: receivers.mails[-1] if receivers.mails else None)
    console.print(f"  Thư tới {mail['To']}: [bold]{mail['Subject']}[/]")
    console.print("  " + mail.get_content().strip().replace("\n", "\n  "))
    hook = wait_for("webhook", lambda: receivers.hooks[-1] if receivers.hooks else None)
    console.print(f"  Webhook tới Báo Bắc Giang (chữ ký {'hợp lệ' if hook['signature_ok'] else 'SAI'}): "
                  f"[bold]{hook['subject']}[/]")

    history = get(path + "/history")
    print_history(history)
    console.print(f"Điển hình {exemplar_id}: {len(history)} sự kiện. Xem thêm: .venv/bin/exemplars history {exemplar_id}")

    step("Hộ thứ hai được đề nghị Bằng khen của Chủ tịch UBND tỉnh: vượt thẩm quyền huyện, chuyển lên tỉnh")
    second = post("/exemplars", {
        "subject_kind": "household", "name": "Hộ bà Nguyễn Thị Lan", "field": "household-economy",
        "movement": "farmers-good-business", "unit": "Bản Ven, xã Đồng Hưu, huyện Yên Thế",
        "achievements": ["Mô hình trồng cam, bưởi an toàn, thu nhập trên 1 tỷ đồng/năm"], "business_date": "2018-04-20",
    })["id"]
    second_path = f"/exemplars/{second}"
    post(second_path + "/nurture-plan", {"responsible_unit": "Hội Nông dân huyện Yên Thế", "milestones": [{"name": "Chứng nhận VietGAP", "due": "2018-08-31"}], "business_date": "2018-05-02"})
    post(second_path + "/reviews", {"review_kind": "final", "general_criteria": [{"criterion": "Chấp hành tốt pháp luật", "met": True}], "field_criteria": [{"criterion": "Thu nhập gấp 3 lần bình quân của xã", "met": True}], "summary": "Tiêu biểu cấp huyện", "business_date": "2018-09-21"})
    post(second_path + "/endorsements", {"meeting": "Hội nghị chi hội nông dân bản Ven", "members": 38, "present": 35, "in_favour": 35, "against": 0, "abstained": 0, "business_date": "2018-09-26"})
    post(second_path + "/nominations", {"award_form": "bang-khen-tinh", "dossier_refs": ["Tờ trình 52/TTr-HND"], "achievement": "Hộ nông dân sản xuất kinh doanh giỏi tiêu biểu 2018", "business_date": "2018-10-03"})
    province_case = wait_for("hồ sơ tại hội đồng tỉnh", lambda: case_of(PROVINCE_2018, second))
    console.print(f"Hồ sơ {province_case['id'][:8]} ({province_case['award_form']}) đã ở Hội đồng TĐKT tỉnh Bắc Giang, chuyển từ {province_case['forwarded_from']}.")
    wait_for("bước chuyển trên lịch sử", lambda: sum(h["type"] == "exemplar.council_case_progressed" for h in get(second_path + "/history")) >= 3)
    print_history(get(second_path + "/history")[-4:])
    play_2026()


def lifecycle_2026(name: str, unit: str, achievement: str, day: str) -> str:
    """Detected, nurtured, reviewed and endorsed in 2026: ready to be nominated."""
    exemplar_id = post("/exemplars", {
        "subject_kind": "household", "name": name, "field": "household-economy", "movement": "farmers-good-business",
        "unit": unit, "achievements": [achievement], "business_date": f"2026-01-{day}",
    })["id"]
    path = f"/exemplars/{exemplar_id}"
    post(path + "/nurture-plan", {"responsible_unit": "Hội Nông dân xã Yên Thế", "milestones": [
        {"name": "Mở rộng liên kết tiêu thụ", "due": "2026-02-28"}], "business_date": f"2026-01-{day}"})
    post(path + "/reviews", {"review_kind": "final", "general_criteria": [
        {"criterion": "Chấp hành tốt pháp luật", "met": True}], "field_criteria": [
        {"criterion": "Thu nhập gấp 3 lần bình quân của xã", "met": True}], "summary": "Tiêu biểu năm 2025",
        "business_date": "2026-02-20"})
    post(path + "/endorsements", {"meeting": "Hội nghị chi hội nông dân thôn", "members": 40, "present": 36,
                                  "in_favour": 35, "against": 1, "abstained": 0, "business_date": "2026-02-24"})
    return exemplar_id


def play_2026() -> None:
    """After 2025-07-01: no district. The commune decides the Giấy khen; a Bằng khen goes to Bắc Ninh."""
    step("Năm 2026 (chính quyền hai cấp): Hội Nông dân đề nghị Giấy khen của Chủ tịch UBND xã Yên Thế")
    household = lifecycle_2026("Hộ ông Lương Văn Hải", "Thôn Chản, xã Yên Thế, tỉnh Bắc Ninh",
                               "Chuỗi liên kết gà đồi Yên Thế với 30 hộ thành viên", "12")
    post(f"/exemplars/{household}/nominations", {
        "award_form": "giay-khen", "dossier_refs": ["Tờ trình 08/TTr-HND"],
        "achievement": "Hộ gia đình sản xuất kinh doanh giỏi năm 2025", "business_date": "2026-03-02"})
    case = wait_for("hồ sơ tại hội đồng xã", lambda: case_of(COMMUNE_2026, household))
    case_path = f"/councils/{COMMUNE_2026}/cases/{case['id']}"
    post(case_path + "/appraisal", {"passed": True, "appraiser": "Văn phòng HĐND và UBND xã Yên Thế",
                                    "note": "Hồ sơ đầy đủ", "business_date": "2026-03-05"})
    post(case_path + "/sessions", {"session": "Phiên họp Hội đồng TĐKT xã tháng 3/2026", "members": 9, "present": 9,
                                   "in_favour": 9, "against": 0, "blank": 0, "business_date": "2026-03-06"})
    post(case_path + "/decision", {"decision_number": "45/QĐ-UBND", "signer": "Chủ tịch UBND xã Yên Thế",
                                   "business_date": "2026-03-09"})
    wait_for("quyết định của xã trên lịch sử điển hình",
             lambda: any(h["type"] == "exemplar.awarded" for h in get(f"/exemplars/{household}/history")))
    print_history(get(f"/exemplars/{household}/history")[-3:])

    step("Năm 2026: đề nghị Bằng khen của Chủ tịch UBND tỉnh — xã chuyển lên Hội đồng TĐKT tỉnh Bắc Ninh")
    second = lifecycle_2026("Hộ bà Hoàng Thị Thu", "Thôn Đồng Gianh, xã Yên Thế, tỉnh Bắc Ninh",
                            "Vườn bưởi VietGAP 5 ha, tiêu thụ qua sàn thương mại điện tử", "15")
    post(f"/exemplars/{second}/nominations", {
        "award_form": "bang-khen-tinh", "dossier_refs": ["Tờ trình 11/TTr-HND"],
        "achievement": "Hộ nông dân sản xuất kinh doanh giỏi tiêu biểu năm 2025", "business_date": "2026-03-03"})
    province_case = wait_for("hồ sơ tại hội đồng tỉnh Bắc Ninh", lambda: case_of(PROVINCE_2026, second))
    console.print(f"Hồ sơ {province_case['id'][:8]} đã ở Hội đồng TĐKT tỉnh Bắc Ninh, "
                  f"chuyển từ {province_case['forwarded_from']}.")


if __name__ == "__main__":
    main()
