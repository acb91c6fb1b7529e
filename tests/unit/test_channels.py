"""The registry of delivery channels: names, address checks, senders; an unknown one refused."""

import pytest

from conftest import free_port

from notifications import channels
from notifications.channels import CHANNELS, NAMES, Outgoing, UnknownChannel, Undeliverable
from notifications.channels import email as email_channel
from notifications.rendering import RenderedMessage
from shared.contracts.notifications import CHANNEL_NAMES, Subscribe
from shared.errors import InvalidInput
from shared.validation import parse
from sinks import SmtpSink


def subscribe(*chosen):
    return parse(Subscribe, {"recipient_id": "nguoi-1", "recipient_kind": "person", "name": "Cán bộ 1",
                             "channels": list(chosen)})


def test_an_unknown_channel_is_refused_at_subscribe_naming_the_field_and_the_channels():
    with pytest.raises(InvalidInput) as caught:
        subscribe({"channel": "inbox"}, {"channel": "pigeon", "address": "x"})
    assert caught.value.detail == "channels.1.channel"
    assert "«channels.1.channel»" in caught.value.message and "«pigeon»" in caught.value.message
    assert all(name in caught.value.message for name in NAMES)
    assert "unknown channel 'pigeon'" in caught.value.log_message


def test_an_unknown_channel_met_when_delivering_is_undeliverable():
    with pytest.raises(UnknownChannel) as caught:
        channels.channel("pigeon")
    assert isinstance(caught.value, Undeliverable) and "'pigeon'" in str(caught.value)
    assert channels.channel("email") is CHANNELS["email"]


def test_the_published_schema_lists_the_registry_s_channels():
    schema = Subscribe.model_json_schema()["$defs"]["Channel"]["properties"]["channel"]
    assert schema["enum"] == list(NAMES) == list(CHANNEL_NAMES) == ["inbox", "email", "webhook"]


def test_the_registry_and_the_contract_name_the_same_channels_with_the_same_address_checks():
    from shared.contracts.notifications import ADDRESS_PROBLEMS

    assert set(CHANNELS) == set(CHANNEL_NAMES)  # a channel in one and not the other could not be sent or named
    assert all(CHANNELS[name].address_problem is ADDRESS_PROBLEMS[name] for name in CHANNELS)


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("inbox", [""], ["canbo@yenthe.example.vn"]),
    ("email", ["canbo@yenthe.example.vn", "van.phong+tb@hnd.bac-giang.example.vn"],
     ["", "not-an-address", "a@x.example.vn,b@y.example.vn", "a@x.example.vn; b@y.example.vn",
      "Cán bộ <a@x.example.vn>", "a@x.example.vn\nBcc: b@y.example.vn", "a@localhost"]),
    ("webhook", ["https://bao.example.vn/hook", "http://127.0.0.1:9/hook"],
     ["", "ftp://bao.example.vn/hook", "ftp:/x", "not a url", "https:///no-host"]),
])
def test_each_channel_checks_its_address_and_says_what_is_wrong_in_vietnamese(name, good, bad):
    for address in good:
        assert CHANNELS[name].address_problem(address) is None
        assert subscribe({"channel": name, "address": address}).channels[0].address == address
    for address in bad:
        assert CHANNELS[name].address_problem(address)
        with pytest.raises(InvalidInput) as caught:
            subscribe({"channel": name, "address": address})
        assert caught.value.detail == "channels.0.address" and "«channels.0.address»" in caught.value.message
        assert f"malformed {name} address" in caught.value.log_message


def test_a_channel_at_most_once():
    with pytest.raises(InvalidInput) as caught:
        subscribe({"channel": "email", "address": "a@x.example.vn"}, {"channel": "email", "address": "b@x.example.vn"})
    assert caught.value.detail == "channels" and "một lần" in caught.value.message


def test_what_each_channel_needs():
    assert channels.WITH_SECRET == ("webhook",)
    assert [name for name, c in CHANNELS.items() if c.outbound] == ["webhook"]
    assert [name for name, c in CHANNELS.items() if not c.quiet_hours] == ["inbox"]  # reading it is a choice
    stored = [{"channel": "inbox", "address": ""}, {"channel": "webhook", "address": "u", "secret_sealed": "s"}]
    assert channels.with_secret(stored) == stored[1] and channels.with_secret(stored[:1]) is None


def test_the_inbox_sender_answers_the_row_to_record_with_the_mark():
    send = CHANNELS["inbox"].connect({})
    row = send(Outgoing(delivery_id="d-1", recipient_id="nguoi-1", address="",
                        message=RenderedMessage("Chủ đề", "Nội dung", "vi"), event={}))
    assert {k: row[k] for k in ("delivery_id", "recipient_id", "subject", "body", "read")} == {
        "delivery_id": "d-1", "recipient_id": "nguoi-1", "subject": "Chủ đề", "body": "Nội dung", "read": False}


def test_the_email_sender_goes_to_the_configured_relay_else_the_one_default():
    for unset in ({}, {"SMTP_HOST": "", "SMTP_PORT": None, "EMAIL_FROM": ""}):  # config.yml's empty settings
        sender = CHANNELS["email"].connect(unset)
        assert (sender.host, sender.port, sender.sender) == (email_channel.SMTP_HOST, email_channel.SMTP_PORT,
                                                             email_channel.EMAIL_FROM) == (
            "127.0.0.1", 2525, "thongbao@thidua.example.vn")
    port = free_port()
    send = CHANNELS["email"].connect({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "EMAIL_FROM": "tb@x.example.vn"})
    with SmtpSink(port) as smtp:
        send(Outgoing("d-1", "nguoi-1", "a@x.example.vn", RenderedMessage("Chủ đề", "Nội dung có dấu", "vi"), {}))
        [mail] = smtp.messages
    assert (mail["From"], mail["To"], mail["Subject"], mail["Message-ID"]) == (
        "tb@x.example.vn", "a@x.example.vn", "Chủ đề", "<d-1@exemplars>")
    assert mail.get_content().strip() == "Nội dung có dấu"
