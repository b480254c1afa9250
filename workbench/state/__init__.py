"""Conversation state stores. Both keep one item per user under the same key."""


def pk(user_id: str) -> str:
    """The item key: the same in SQLite and in DynamoDB."""
    return f"user#{user_id}"
