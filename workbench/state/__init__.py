"""Conversation state stores. Both keep one item per (tenant, item) under the same key.

An item is a user's conversation (`user#<id>`) or a shared CRDT (`crdt#<name>`). Tenants cannot contain
`#`, so the key `<tenant>#<item>` of one tenant can never equal another tenant's.
"""

from workbench.errors import DataError


def pk(tenant: str, item: str) -> str:
    """The item key: the same in SQLite and in DynamoDB."""
    if not tenant or "#" in tenant:
        raise DataError(f"tenant {tenant!r}: must be non-empty and free of '#'")
    return f"{tenant}#{item}"


def user_item(user_id: str) -> str:
    return f"user#{user_id}"
