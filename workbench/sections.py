"""What every config section shares: unknown keys, booleans given for numbers, infinities and masked secrets are
rejected, and a validation error names each bad field with its value."""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from workbench.redaction import MASK, mask_secrets, mask_urls


def _not_masked(url: str | None) -> str | None:
    if url and MASK in url:
        raise ValueError(
            f"holds a masked secret ({MASK}): it was copied from `config show` or an MLflow run, which never "
            "show secrets. Put the real URL in an environment variable and name it in url_env "
            "(e.g. url_env: SLACK_WEBHOOK_URL)"
        )
    return url


Url = Annotated[str | None, AfterValidator(_not_masked)]


class Section(BaseModel):
    # No infinities: `timeout_s: .inf` would validate, then overflow in every call that uses it.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """`top_k: true` is a typo, not 1: pydantic's lax mode would coerce it."""
        annotation = cls.model_fields[info.field_name].annotation
        numbers = (int, float)
        if get_origin(annotation) is dict:  # e.g. rate_per_s: {reasoner: 5}
            if (
                get_args(annotation)[1] in numbers
                and isinstance(value, dict)
                and any(isinstance(v, bool) for v in value.values())
            ):
                raise ValueError("a boolean is not a number; write numbers")
        elif annotation in numbers and isinstance(value, bool):
            raise ValueError("a boolean is not a number; write a number")
        return value


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} invalid field(s)"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = mask_urls(err["msg"].removeprefix("Value error, "))
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `workbench config show` lists every key)"
        # Masked like `config show`: a misspelt `urll:` is not checked as a URL, but may well hold one with a secret.
        lines.append(f"  {where}: {msg} (got {mask_secrets(err.get('input'))!r})")
    return "\n".join(lines)
