"""Validate input against a pydantic model; refuse with the first bad field named."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from shared.errors import InvalidInput


def parse(model: type[BaseModel], data: object) -> BaseModel:
    """Validate ``data`` against ``model``; refuse with the first bad field named."""
    if not isinstance(data, dict):
        raise InvalidInput("Dữ liệu gửi lên phải là một đối tượng JSON.", "body is not an object", "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "missing":
            message = f"Thiếu trường bắt buộc «{field}»."
        elif error["type"] == "extra_forbidden":
            message = f"Trường «{field}» không được hỗ trợ."
        else:
            message = f"Giá trị của trường «{field}» không hợp lệ."
        raise InvalidInput(message, f"invalid {field}: {error['msg']}", field) from None
