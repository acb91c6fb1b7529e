"""RPC is not an open door: on the real broker, a council's ``decide`` (and a department's
``detect``) called by someone with broker credentials but no gateway-signed caller is refused
and stores nothing; through the gateway it works and records the token's subject
(shared.callers)."""

import datetime as dt

import psycopg2
import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from conftest import TRUSTED_KEYS_DIR, detect_data, gateway_signer, wait_for
from rpc_helpers import signed_caller
from shared.callers import AUDITOR, OFFICER, SECRETARY, sign_caller
from shared.contracts.nominations import service_name as nominations_service
from shared.errors import Forbidden, Unauthenticated
from shared.signing import load_signer
from test_awards_e2e import DISTRICT, case_for, nominated_exemplar, post

pytestmark = pytest.mark.integration
COUNCIL_SERVICE = "awards_huyen_yen_the"
DECISION = {"decision_number": "77/QĐ-UBND", "signer": "Chủ tịch UBND huyện", "business_date": "2018-10-20"}


def council_log(system):
    """The district council's database and the table its events are in."""
    url = next(s.split("=", 1)[1] for s in system.env["AUDIT_SOURCES"].split(",")
               if s.startswith(f"awards:{COUNCIL_SERVICE}="))
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def stored(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM awards_events")
        return cur.fetchone()[0]


@pytest.fixture(scope="module")
def voted_case(system):
    """A district case appraised and voted on, through the gateway: only the decision is left."""
    exemplar_id = nominated_exemplar(system)
    case = wait_for(lambda: case_for(system, DISTRICT, exemplar_id), what="the district case")
    path = f"/councils/{DISTRICT}/cases/{case['id']}"
    assert post(system, path + "/appraisal", {"passed": True, "appraiser": "Phòng Nội vụ", "note": "Đủ",
                                              "business_date": "2018-10-10"}).status_code == 200
    assert post(system, path + "/sessions", {"session": "Phiên 10/2018", "members": 9, "present": 9,
                                             "in_favour": 9, "against": 0, "business_date": "2018-10-12"}
                ).status_code == 200
    return exemplar_id, case["id"]


def secretary(**claims) -> dict:
    return {"sub": "thu-ky-rpc", "role": SECRETARY, "council": DISTRICT} | claims


def refused_decision(system, voted_case, caller):
    """The refusal ``decide`` with ``caller`` gets straight over the broker; it stored nothing."""
    conn = council_log(system)
    before = stored(conn)
    with ClusterRpcProxy({"AMQP_URI": system.amqp_uri}, timeout=30) as rpc:
        council = getattr(rpc, COUNCIL_SERVICE)
        with pytest.raises((Unauthenticated, Forbidden)) as refusal:
            if caller is None:
                council.change_case(voted_case[1], "decide", DECISION)
            else:
                council.change_case(voted_case[1], "decide", DECISION, caller)
    assert stored(conn) == before
    conn.close()
    return refusal.value


def test_an_unsigned_decide_is_refused_and_stores_nothing(system, voted_case):
    refusal = refused_decision(system, voted_case, None)
    assert isinstance(refusal, Unauthenticated) and refusal.detail == "no-caller"
    forged = refused_decision(system, voted_case, secretary())  # the old plain dict, as anyone could send it
    assert isinstance(forged, Unauthenticated) and forged.detail == "malformed-caller"
    log = system.logs / f"awards-{DISTRICT}.log"  # the council says why, in English
    assert "awards.change_case refused (no-caller): no signed caller assertion" in log.read_text(errors="replace")


def test_a_decide_signed_by_a_trusted_key_that_is_not_a_gateways_is_refused(system, voted_case):
    notifications = load_signer("notifications", keys_dir=TRUSTED_KEYS_DIR)  # the running service's own key
    refusal = refused_decision(system, voted_case, sign_caller(notifications, secretary()))
    assert isinstance(refusal, Unauthenticated) and refusal.detail == "not-a-gateway"
    assert "notifications service" in refusal.log_message


def test_an_expired_or_altered_assertion_is_refused(system, voted_case):
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=90)
    expired = sign_caller(gateway_signer(), secretary(), now=old)
    assert refused_decision(system, voted_case, expired).detail == "expired"
    officer = signed_caller("nominations", "detect")
    altered = officer | {"claims": officer["claims"] | {"role": SECRETARY, "council": DISTRICT}}
    assert refused_decision(system, voted_case, altered).detail == "bad-signature"


def test_a_valid_officers_assertion_cannot_call_a_secretarys_command(system, voted_case):
    refusal = refused_decision(system, voted_case, signed_caller("awards", "change_case", role=OFFICER))
    assert isinstance(refusal, Forbidden) and refusal.detail == "wrong-role"
    assert "không được phép" in refusal.message


def test_an_unsigned_detect_is_refused_and_the_department_stores_nothing(system):
    with ClusterRpcProxy({"AMQP_URI": system.amqp_uri}, timeout=30) as rpc:
        department = getattr(rpc, nominations_service(system.env["NOMINATIONS_INSTANCE_ID"]))
        listed = department.list({})["total"]  # reads stay open
        with pytest.raises(Unauthenticated):
            department.detect(detect_data(), {"sub": "ke-gia-mao", "role": OFFICER})
        assert department.list({})["total"] == listed


def test_through_the_gateway_the_decision_is_taken_and_recorded_as_the_tokens_subject(system, voted_case):
    exemplar_id, case_id = voted_case
    conn = council_log(system)
    before = stored(conn)
    decided = requests.post(system.url(f"/councils/{DISTRICT}/cases/{case_id}/decision"), json=DECISION, timeout=30,
                            headers=system.auth(SECRETARY, sub="thu-ky-huyen", council=DISTRICT))
    assert decided.status_code == 200, decided.text
    assert stored(conn) > before
    conn.close()
    def decisions():
        timeline = requests.get(system.url(f"/audit/timeline/{exemplar_id}"), headers=system.auth(AUDITOR),
                                timeout=60)
        assert timeline.status_code == 200, timeline.text
        return [e for e in timeline.json() if e["type"] == "case.decided"]

    decided = wait_for(decisions, what="the decision on the audit timeline")
    assert [e["recorded_by"] for e in decided] == [{"sub": "thu-ky-huyen", "role": SECRETARY}]
