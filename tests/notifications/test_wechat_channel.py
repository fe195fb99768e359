"""The WeChat template-message client speaks the official-account API; unconfigured, it skips."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from ihis.notifications.channels import (
    ChannelRejected,
    ChannelSkipped,
    ChannelUnavailable,
    Link,
    Outgoing,
    Recipient,
    Rendered,
    WeChatConfig,
    WeChatTemplateChannel,
    forget_wechat_tokens,
)
from ihis.settings import Settings

CONFIG = WeChatConfig(api_base="https://mp.example.test", app_id="wx0001", app_secret="s3cret")


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    forget_wechat_tokens()
    yield
    forget_wechat_tokens()


def _outgoing(openid: str | None = "oABC123456", template_id: str | None = "TMPL_1") -> Outgoing:
    return Outgoing(
        event="visit_reminder",
        recipient=Recipient(1, 1, wechat_openid=openid),
        content=Rendered("就诊提醒", "正文", None, template_id, {"thing1": "张三", "time3": "09:00"}),
        link=Link("registration", 12, "/registrations/12"),
        reference="ntf1",
    )


def _server(answers: list[dict[str, object]], seen: list[httpx.Request]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/cgi-bin/token":
            return httpx.Response(200, json={"access_token": f"tok{len(seen)}", "expires_in": 7200})
        return httpx.Response(200, json=answers.pop(0))

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_a_template_message_is_posted_in_the_official_account_shape() -> None:
    seen: list[httpx.Request] = []
    server = _server([{"errcode": 0, "errmsg": "ok", "msgid": 200228332}], seen)
    channel = WeChatTemplateChannel(server, CONFIG, link_base="https://h.example.cn/app")
    sent = channel.send(_outgoing())
    assert sent.provider_ref == "200228332"
    token_call, send_call = seen
    assert token_call.url.params["grant_type"] == "client_credential"
    assert token_call.url.params["appid"] == "wx0001"
    assert send_call.method == "POST" and send_call.url.path == "/cgi-bin/message/template/send"
    assert send_call.url.params["access_token"] == "tok1"
    assert json.loads(send_call.content) == {
        "touser": "oABC123456",
        "template_id": "TMPL_1",
        "url": "https://h.example.cn/app/registrations/12",
        "data": {"thing1": {"value": "张三"}, "time3": {"value": "09:00"}},
    }


def test_a_stale_token_is_refreshed_once() -> None:
    seen: list[httpx.Request] = []
    answers: list[dict[str, object]] = [{"errcode": 40001, "errmsg": "invalid credential"}, {"errcode": 0}]
    WeChatTemplateChannel(_server(answers, seen), CONFIG).send(_outgoing())
    assert [r.url.path for r in seen] == [
        "/cgi-bin/token",
        "/cgi-bin/message/template/send",
        "/cgi-bin/token",
        "/cgi-bin/message/template/send",
    ]


def test_refusals_and_outages_are_told_apart() -> None:
    with pytest.raises(ChannelRejected, match="43004"):
        WeChatTemplateChannel(_server([{"errcode": 43004}], []), CONFIG).send(_outgoing())
    forget_wechat_tokens()
    with pytest.raises(ChannelUnavailable):
        WeChatTemplateChannel(_server([{"errcode": -1}], []), CONFIG).send(_outgoing())


def test_without_configuration_template_or_openid_nothing_is_sent() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(ChannelSkipped, match="wechat_not_configured"):
        WeChatTemplateChannel(_server([], seen), None).send(_outgoing())
    with pytest.raises(ChannelSkipped, match="no_wechat_template"):
        WeChatTemplateChannel(_server([], seen), CONFIG).send(_outgoing(template_id=None))
    with pytest.raises(ChannelSkipped, match="no_wechat_openid"):
        WeChatTemplateChannel(_server([], seen), CONFIG).send(_outgoing(openid=None))
    assert seen == []


def test_the_channel_is_configured_only_with_app_id_and_secret() -> None:
    assert WeChatConfig.from_settings(Settings()) is None
